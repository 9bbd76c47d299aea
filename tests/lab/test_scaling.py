"""Worker scaling in the lab: a third worker that joins mid-run gets a share of the users."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadlab import charts, presets
from loadlab.lab import run_lab
from loadlab.loadtest import LoadOptions, LocustRun
from loadlab.report import summary_text
from loadlab.result import RunResult
from loadlab.stack import Stack

pytestmark = pytest.mark.e2e

JOIN_AT = 6.0


def test_a_worker_that_joins_mid_run_receives_users(tmp_path: Path) -> None:
    joined: list[float] = []
    busy_workers: list[float] = []

    def during(stack: Stack, run: LocustRun, elapsed: float) -> None:
        if not joined and elapsed >= JOIN_AT:
            run.add_worker()
            joined.append(elapsed)

    def after(stack: Stack, result: RunResult) -> None:
        assert stack.prometheus is not None
        expr = "max_over_time(count(locust_worker_users > 0)[1m:1s])"
        found = charts.query_instant(stack.prometheus.url, expr, result.ended_at)
        busy_workers.append(float(found[0]["value"][1]) if found else 0.0)

    options = LoadOptions(users=30, spawn_rate=15, duration=25, workers=2, accounts=10)
    result = run_lab(tmp_path, presets.load("tuned"), options, during=during, after=after, quiet=True)
    assert joined, "the third worker was never started"
    assert busy_workers == [3.0], summary_text(result)
    assert sum(r.failures for r in result.endpoints) == 0
