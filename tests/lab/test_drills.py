"""Fault drills under live load (each about 45 s): the behaviour the issue asks for, and nothing lost."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loadlab import drills, presets
from loadlab.drill import DrillOutcome
from loadlab.loadtest import LoadOptions
from tests.lab.helpers import processes_under
from tests.tools import missing_tool

pytestmark = pytest.mark.e2e

LOAD = LoadOptions(users=20, spawn_rate=10, duration=35, workers=2, accounts=20)


def run(tmp_path: Path, name: str) -> DrillOutcome:
    outcome = drills.run_drill(tmp_path, presets.load("tuned"), drills.DRILLS[name], LOAD, quiet=True)
    assert processes_under(outcome.result.outdir.parent) == []
    return outcome


def test_redis_down_serves_lists_from_postgres_and_the_cache_comes_back(tmp_path: Path) -> None:
    outcome = run(tmp_path, "redis-down")
    assert outcome.failed == []
    lists = [r for r in outcome.result.endpoints if r.name == "/posts/" and r.method == "GET"]
    assert lists and lists[0].requests > 0 and lists[0].failures == 0
    assert outcome.extra["cache_errors"] >= 1
    assert outcome.extra["cache_hits_after"] >= 1
    assert (outcome.result.outdir / "drill-redis-down.png").stat().st_size > 1000


def test_pgbouncer_restart_recovers_fast_with_only_503s(tmp_path: Path) -> None:
    outcome = run(tmp_path, "pgbouncer-restart")
    assert outcome.failed == []
    assert outcome.recovery_seconds is not None and outcome.recovery_seconds <= 10
    assert not {s for s in outcome.errors_by_status if s.startswith("5") and s != "503"}
    assert outcome.result.consistency is not None and outcome.result.consistency.nothing_lost


def test_worker_loss_goes_on_and_marks_the_verdict_suspect(tmp_path: Path) -> None:
    outcome = run(tmp_path, "worker-loss")
    assert outcome.failed == []
    assert outcome.result.verdict["suspect"] is True
    assert any("missing" in reason for reason in outcome.result.verdict["suspect_reasons"])
    assert not outcome.result.interrupted


def test_redis_slow_opens_the_breaker_and_lists_stay_200(tmp_path: Path) -> None:
    outcome = run(tmp_path, "redis-slow")
    assert outcome.failed == []
    lists = [r for r in outcome.result.endpoints if r.key == "GET /posts/"]
    assert lists and lists[0].failures == 0 and lists[0].statuses == {"200": lists[0].requests}
    assert outcome.extra["cache_errors"] >= 1 and outcome.extra["cache_hits_after"] >= 1


def test_db_slow_fills_the_pools_and_nothing_waits_past_the_timeout(tmp_path: Path) -> None:
    outcome = run(tmp_path, "db-slow")
    assert outcome.failed == []
    x = outcome.extra
    assert x["pool_in_use_max_during"] > x["pool_in_use_max_before"] or (
        x["pgbouncer_waiting_max_during"] > x["pgbouncer_waiting_max_before"]
    )
    assert x["api_over_bound_during"] == 0
    assert outcome.result.consistency is not None and outcome.result.consistency.nothing_lost


def test_master_loss_is_reported_with_partial_results_and_no_worker_left(tmp_path: Path) -> None:
    outcome = run(tmp_path, "master-loss")
    assert outcome.failed == []
    result = outcome.result
    assert any("master was killed (signal 9)" in p for p in result.problems), result.problems
    assert sum(e.requests for e in result.endpoints) > 0 and not result.verdict
    assert result.consistency is not None and result.consistency.nothing_lost and not result.passed
    assert (result.outdir / "index.html").exists()


def test_disk_full_writes_get_503_then_work_again(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        missing_tool("root", "the tests as root: the drill mounts a tmpfs for Postgres's data")
    outcome = run(tmp_path, "disk-full")
    assert outcome.failed == []
    refused = {k: n for k, n in outcome.result.failures.items() if k.startswith(("POST /posts/", "POST /comments/"))}
    assert refused and all("got 503" in k for k in refused), refused
    assert outcome.extra["created_after"] > 0
    assert outcome.result.consistency is not None and outcome.result.consistency.nothing_lost


def test_recovery_is_measured_from_the_failure_series() -> None:
    """Pure: failures at 10-12 s after a fault ending at 9 s, quiet from 13 s: recovered 4 s after."""
    series = [(float(t), 1.0 if 10 <= t <= 12 else 0.0) for t in range(0, 30)]
    assert drills.recovery(series, since=9.0) == 4.0
    assert drills.recovery([(float(t), 1.0) for t in range(30)], since=0.0) is None


def test_an_unacknowledged_row_is_not_a_lost_write() -> None:
    """Pure: more rows than 201s (a cut response, a dead worker's unreported 201s) is allowed; fewer never is."""
    from loadlab.consistency import check
    from loadlab.result import Counts

    clients = Counts(rows={"posts": 5})
    extra_row = check(clients, Counts(rows={"posts": 6, "comments": 0, "users": 0}))
    assert not extra_row.ok and extra_row.nothing_lost and extra_row.unacknowledged == 1
    missing_row = check(clients, Counts(rows={"posts": 4, "comments": 0, "users": 0}))
    assert not missing_row.ok and not missing_row.nothing_lost
