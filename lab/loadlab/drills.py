"""Fault drills: one fault injected at a known time into a live lab run, with the load kept on.

Each drill says what it breaks, when, and what must hold: the report gives errors by status and over time,
the time the clients took to see no more failures after the fault ended, the slowest request, the
consistency check (no acknowledged write lost) and a PNG of the window with the fault marked on it.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

from loadlab import charts, disk_drill, overload, slow_drills  # noqa: E402
from loadlab.drill import Drill, DrillOutcome, Window  # noqa: E402
from loadlab.drill_checks import (  # noqa: E402
    cache_errors_counted_then_hits_return,
    cache_figures,
    no_cut_off_requests,
    no_failures_on,
    nothing_lost,
    only_fast_503s,
    recovered_within,
    suspect_for_missing_worker,
)
from loadlab.formats import text_table  # noqa: E402
from loadlab.lab import run_lab  # noqa: E402
from loadlab.loadtest import LoadOptions, LocustRun  # noqa: E402
from loadlab.presets import Preset  # noqa: E402
from loadlab.result import RunResult  # noqa: E402
from loadlab.stack import Stack  # noqa: E402

#: Failures must stay at zero this long before the clients count as recovered.
QUIET_SECONDS = 3


# -- the faults ------------------------------------------------------------------------------------------------
def _kill_redis(stack: Stack, run: LocustRun) -> None:
    assert stack.redis is not None, "redis-down needs a preset with redis enabled"
    stack.redis.kill()


def _start_redis(stack: Stack, run: LocustRun) -> None:
    assert stack.redis is not None
    stack.redis.start()


def _restart_pgbouncer(stack: Stack, run: LocustRun) -> None:
    assert stack.pgbouncer is not None, "pgbouncer-restart needs a preset with pgbouncer enabled"
    stack.pgbouncer.restart()


def _restart_postgres(stack: Stack, run: LocustRun) -> None:
    assert stack.postgres is not None
    stack.postgres.restart()


def _kill_worker(stack: Stack, run: LocustRun) -> None:
    run.workers[0].stop(sig=signal.SIGKILL)


def _kill_master(stack: Stack, run: LocustRun) -> None:
    assert run.master is not None
    run.master.stop(sig=signal.SIGKILL)


def master_loss_reported(outcome: DrillOutcome) -> str | None:
    if not any("master" in p for p in outcome.result.problems):
        return f"the report does not say the master died: {outcome.result.problems}"
    return None


def partial_results_saved(outcome: DrillOutcome) -> str | None:
    requests = sum(e.requests for e in outcome.result.endpoints)
    return None if requests else "no partial results: Locust's CSV held no request"


def no_worker_left(outcome: DrillOutcome) -> str | None:
    left = outcome.extra.get("workers_left", -1)
    return None if left == 0 else f"{left:.0f} Locust workers still running after the run"


def _restart_api(stack: Stack, run: LocustRun) -> None:
    assert stack.api is not None
    stack.api.stop()  # SIGTERM: uvicorn stops accepting, lets in-flight requests finish
    stack.api.start()


def overload_drill(knee: int = 0) -> Drill:
    """A normal run at the knee, then 10x the knee's users for 30 s from a second Locust run (knee 0: unknown
    yet, for the list of drills; `get` needs the real one)."""
    spike = overload.Spike(knee)
    size = f"{spike.users} users" if knee else "the knee: the last bench's, else measured first"
    return Drill(
        "overload",
        f"{overload.SPIKE_FACTOR}x the knee ({size}) for {overload.SPIKE_SECONDS} s",
        spike.inject,
        spike.recover,
        fault_seconds=overload.SPIKE_RAMP_SECONDS + overload.SPIKE_SECONDS + 5,
        duration=85,
        users=knee,
        checks=(
            overload.excess_shed_fast,
            overload.excess_gets_503_only,
            overload.api_sends_no_other_5xx,
            overload.nothing_over_5s,
            overload.served_at_once_after,
            recovered_within(5),
            nothing_lost,
        ),
        analyse_more=spike.analyse,
        cleanup=spike.stop,
    )


DRILLS: dict[str, Drill] = {
    d.name: d
    for d in (
        Drill(
            "redis-down",
            "Redis killed for 15 s, then started again",
            _kill_redis,
            _start_redis,
            checks=(no_failures_on("/posts/"), cache_errors_counted_then_hits_return, nothing_lost),
            analyse_more=cache_figures,
        ),
        slow_drills.db_slow(),
        slow_drills.redis_slow(),
        disk_drill.disk_full(),
        Drill(
            "pgbouncer-restart",
            "PgBouncer restarted",
            _restart_pgbouncer,
            fault_seconds=0,
            checks=(only_fast_503s, recovered_within(10), nothing_lost),
        ),
        Drill(
            "postgres-restart",
            "Postgres restarted (fast shutdown)",
            _restart_postgres,
            fault_seconds=0,
            checks=(only_fast_503s, recovered_within(10), nothing_lost),
        ),
        Drill(
            "worker-loss",
            "one Locust worker killed with SIGKILL",
            _kill_worker,
            fault_seconds=0,
            checks=(suspect_for_missing_worker, nothing_lost),
        ),
        Drill(
            "api-sigterm",
            "the API gets SIGTERM under load and is started again",
            _restart_api,
            fault_seconds=0,
            checks=(no_cut_off_requests, recovered_within(10), nothing_lost),
        ),
        # Killed after two of the master's CSV writes (every 10 s), so there are partial figures to save.
        Drill(
            "master-loss",
            "the Locust master killed with SIGKILL mid-run",
            _kill_master,
            fault_seconds=0,
            inject_after=22,
            duration=35,
            checks=(master_loss_reported, partial_results_saved, no_worker_left, nothing_lost),
        ),
        overload_drill(),
    )
}


def get(name: str, *, knee: int | None = None) -> Drill:
    """The drill by name; `knee` (users, this machine's: `loadlab.knee`) sets the overload drill's base users and
    spike size, and the overload drill needs it."""
    if name == "overload":
        if knee is None or knee < 1:
            raise ValueError(f"the overload drill needs this machine's knee (at least 1 user), got {knee}")
        return overload_drill(knee)
    return DRILLS[name]


# -- running one -----------------------------------------------------------------------------------------------
def run_drill(root: Path, preset: Preset, drill: Drill, options: LoadOptions, quiet: bool = False) -> DrillOutcome:
    window = Window()
    done = {"injected": False, "recovered": drill.recover is None}
    options = LoadOptions(
        **{
            **options.__dict__,
            "duration": max(options.duration, drill.duration),
            "users": drill.users or options.users,
            "scenario": drill.scenario or options.scenario,
        }
    )
    runs: list[LocustRun] = []

    def during(stack: Stack, run: LocustRun, elapsed: float) -> None:
        runs[:] = [run]
        if not done["injected"] and elapsed >= drill.inject_after:
            done["injected"] = True
            window.injected_at = time.time()
            drill.inject(stack, run)
            window.recovered_at = time.time()
        if done["injected"] and not done["recovered"] and elapsed >= drill.inject_after + drill.fault_seconds:
            done["recovered"] = True
            assert drill.recover is not None
            drill.recover(stack, run)
            window.recovered_at = time.time()

    outcome_box: list[DrillOutcome] = []

    def stop_own_load() -> None:
        if drill.cleanup is not None:
            drill.cleanup()

    def after(stack: Stack, result: RunResult) -> None:
        assert stack.prometheus is not None
        outcome_box.append(analyse(drill, result, window, stack.prometheus.url))

    try:
        result = run_lab(
            root,
            preset,
            options,
            during=during,
            ended=lambda _: stop_own_load(),
            after=after,
            quiet=quiet,
            run_id=None,
            stack_options=drill.stack_options,
        )
    finally:
        stop_own_load()
    outcome = outcome_box[0] if outcome_box else DrillOutcome(drill, result, window, failed=["the run did not finish"])
    outcome.extra["workers_left"] = float(sum(w.alive for run in runs for w in run.workers))
    if not window.injected_at:
        outcome.failed.append("the fault was never injected (the run ended early)")
    for check in drill.checks:
        problem = check(outcome)
        if problem:
            outcome.failed.append(problem)
    (result.outdir / "drill.json").write_text(json.dumps(outcome.as_dict(), indent=2, default=str))
    return outcome


def analyse(drill: Drill, result: RunResult, window: Window, prometheus: str) -> DrillOutcome:
    outcome = DrillOutcome(drill, result, window)
    end = result.ended_at
    outcome.errors_by_status = api_errors_by_status(result, prometheus)
    outcome.client_errors = dict(result.failures)
    outcome.slowest_ms = max((r.max_ms for r in result.endpoints), default=0.0)
    step = 1.0
    failures = charts.query_range(
        prometheus, "sum(rate(locust_request_failures_total[2s]))", result.started_at, end, step
    )
    rps = charts.query_range(prometheus, "sum(rate(locust_requests_total[2s]))", result.started_at, end, step)
    outcome.series["failures/s"] = _points(failures)
    outcome.series["requests/s"] = _points(rps)
    if drill.analyse_more is not None:
        drill.analyse_more(outcome, prometheus)
    outcome.recovery_seconds = recovery(outcome.series["failures/s"], window.recovered_at or window.injected_at)
    draw_window(outcome, result.outdir / f"drill-{drill.name}.png")
    return outcome


def api_errors_by_status(result: RunResult, prometheus: str) -> dict[str, float]:
    """The API's non-2xx answers by status: its exact counts when known, else (the API restarted and its
    counters started again) Prometheus' estimate over the run."""
    server = result.server_counts
    if server is not None and not server.unknown:
        return {status: float(n) for status, n in server.statuses.items() if not status.startswith("2") and n}
    span = f"{max(1, int(result.ended_at - result.started_at) + 5)}s"
    expr = f'sum by (status) (increase(board_http_requests_total{{status!~"2.."}}[{span}]))'
    return {
        row["metric"].get("status", "?"): round(float(row["value"][1]), 1)
        for row in charts.query_instant(prometheus, expr, result.ended_at)
    }


def _points(result: list[dict[str, Any]]) -> list[tuple[float, float]]:
    return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []


def recovery(failures: list[tuple[float, float]], since: float) -> float | None:
    """Seconds from `since` until failures/s dropped to zero and stayed there for `QUIET_SECONDS`."""
    quiet_from: float | None = None
    for t, value in failures:
        if t < since:
            continue
        if value > 0:
            quiet_from = None
        elif quiet_from is None:
            quiet_from = t
        if quiet_from is not None and t - quiet_from >= QUIET_SECONDS:
            return max(0.0, quiet_from - since)
    return None


def draw_window(outcome: DrillOutcome, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    start = outcome.result.started_at
    for label, points in outcome.series.items():
        ax.plot([t - start for t, _ in points], [v for _, v in points], label=label, linewidth=1.2)
    w = outcome.window
    if w.injected_at:
        ax.axvline(w.injected_at - start, color="red", linestyle="--", label="fault")
    if w.recovered_at and w.recovered_at != w.injected_at:
        ax.axvline(w.recovered_at - start, color="green", linestyle="--", label="fault ends")
    ax.set_title(f"drill {outcome.drill.name}: {outcome.drill.what}", fontsize=10)
    ax.set_xlabel("seconds since start")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def summary_table(outcomes: list[DrillOutcome]) -> str:
    head = ["Drill", "Result", "Failures", "API non-2xx", "Recovery s", "Slowest ms", "201s lost", "unacked rows"]
    rows = [head]
    for o in outcomes:
        failures = sum(r.failures for r in o.result.endpoints)
        statuses = ", ".join(f"{s}:{n:.0f}" for s, n in sorted(o.errors_by_status.items())) or "-"
        rec = "-" if o.recovery_seconds is None else f"{o.recovery_seconds:.1f}"
        c = o.result.consistency
        lost = "0" if c and c.nothing_lost else "YES"
        unacked = str(c.unacknowledged) if c else "?"
        rows.append(
            [
                o.drill.name,
                "PASS" if o.passed else "FAIL",
                str(failures),
                statuses,
                rec,
                f"{o.slowest_ms:.0f}",
                lost,
                unacked,
            ]
        )
    lines = [
        f"diagnosis, {o.drill.name}: {o.result.diagnosis.headline if o.result.diagnosis else 'not made'}"
        for o in outcomes
    ]
    lines += [text_table(rows)]
    lines += [f"  {o.drill.name}: {p}" for o in outcomes for p in o.failed]
    lines += [f"  {o.drill.name}: " + ", ".join(f"{k} {v:g}" for k, v in o.extra.items()) for o in outcomes if o.extra]
    return "\n".join(lines)
