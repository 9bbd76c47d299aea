"""The `disk-full` drill: Postgres's data on a small disk of its own (a tmpfs) that fills up under load.

Writes must get 503 (never a 500, never a 201 without its row), and work again once space returns. The WAL stays
on the normal disk: with a full WAL disk Postgres stops altogether, which is the `postgres-restart` drill's case.
"""

from __future__ import annotations

from loadlab.consistency import status_in
from loadlab.drill import Drill, DrillOutcome
from loadlab.drill_checks import api_sends_no_5xx_but_503, nothing_lost, recovered_within, scalar
from loadlab.loadtest import LocustRun
from loadlab.stack import CREATED_BY, Stack

#: Room for a fresh cluster's data (about 40 MB) and the run's rows; the fault takes whatever is left.
DATA_DISK_MB = 96
FULL_SECONDS = 15
USERS = 30


def _fill(stack: Stack, run: LocustRun) -> None:
    assert stack.postgres is not None
    stack.postgres.fill_disk()


def _free(stack: Stack, run: LocustRun) -> None:
    assert stack.postgres is not None
    stack.postgres.free_disk()


def writes_after(outcome: DrillOutcome, prometheus: str) -> None:
    """201s the API sent once space returned."""
    window, end = outcome.window, outcome.result.ended_at
    if window.recovered_at:
        span = f"{max(1, int(end - window.recovered_at))}s"
        outcome.extra["created_after"] = scalar(
            prometheus, f'sum(increase(board_http_requests_total{{status="201"}}[{span}]))', end
        )


def writes_get_503(outcome: DrillOutcome) -> str | None:
    """The disk did fill (some write was refused), and every refused write was a 503."""
    refused: dict[str, int] = {}
    for key, n in outcome.result.failures.items():
        endpoint = key.partition(": ")[0]
        if endpoint in CREATED_BY:
            status = status_in(key) or "?"
            refused[status] = refused.get(status, 0) + n
    if not refused:
        return "no write was refused: the disk never filled"
    other = {s: n for s, n in refused.items() if s != "503"}
    return f"writes refused with other than 503: {other}" if other else None


def writes_work_again(outcome: DrillOutcome) -> str | None:
    return None if outcome.extra.get("created_after", 0) > 0 else "no 201 after space returned"


def disk_full() -> Drill:
    return Drill(
        "disk-full",
        f"Postgres's data disk ({DATA_DISK_MB} MB tmpfs) full for {FULL_SECONDS} s",
        _fill,
        _free,
        fault_seconds=FULL_SECONDS,
        duration=40,
        users=USERS,
        scenario="write-heavy",
        stack_options={"data_disk_mb": DATA_DISK_MB},
        checks=(writes_get_503, api_sends_no_5xx_but_503, writes_work_again, recovered_within(10), nothing_lost),
        analyse_more=writes_after,
    )
