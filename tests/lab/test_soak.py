"""`loadlab soak`: each way a soak fails, where its knee comes from, and (CI's `--minutes 2`) a real one."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from loadlab import soak
from loadlab.soak import Window
from tests.lab.helpers import lab_env, loadlab_argv, processes_under

STEADY = Window(
    at=300,
    requests=9000,
    failures=0,
    p95_ms=40,
    p99_ms=90,
    api_rss_mb=100,
    api_fds=40,
    postgres_connections=20,
    pgbouncer_clients=30,
    pgbouncer_servers=20,
    redis_clients=4,
)


def windows(**last: Any) -> list[Window]:
    """Four steady windows, the last one changed as given."""
    steady = [replace(STEADY, at=300.0 * (i + 1)) for i in range(3)]
    return [*steady, replace(STEADY, at=1200, **last)]


def test_a_steady_soak_passes() -> None:
    assert soak.judge(windows()) == []
    assert soak.judge(windows(p95_ms=47.9, api_rss_mb=109, api_fds=44, postgres_connections=22)) == []


@pytest.mark.parametrize(
    ("change", "broken"),
    [
        ({"failures": 3}, "3 failures"),
        ({"p95_ms": 48.5}, "p95 48.5 ms at 1200 s, over 20% above the first window's 40 ms"),
        ({"api_rss_mb": 111}, "API RSS grew 100 -> 111 MB (> 10%)"),
        ({"api_fds": 45}, "api_fds not flat: 40 in the first window, 45 at 1200 s"),
        ({"postgres_connections": 23}, "postgres_connections not flat: 20 in the first window, 23 at 1200 s"),
        ({"pgbouncer_servers": 23}, "pgbouncer_servers not flat: 20 in the first window, 23 at 1200 s"),
        ({"redis_clients": 7}, "redis_clients not flat: 4 in the first window, 7 at 1200 s"),
    ],
)
def test_each_drift_fails_the_soak(change: dict[str, float], broken: str) -> None:
    assert soak.judge(windows(**change)) == [broken]


def test_a_count_that_grows_and_stays_fails_but_one_peak_that_returns_does_not() -> None:
    def soak_of(servers: list[float]) -> list[Window]:
        return [replace(STEADY, at=300.0 * (i + 1), pgbouncer_servers=n) for i, n in enumerate(servers)]

    assert soak.judge(soak_of([8, 9, 8, 12, 7, 6])) == []  # one busy instant, within the pool
    assert soak.judge(soak_of([8, 11, 12, 12, 9])) == [
        "pgbouncer_servers not flat: 8 in the first window, 12 at 1200 s"
    ]
    assert soak.judge(soak_of([8, 8, 8, 9, 11])) == ["pgbouncer_servers not flat: 8 in the first window, 11 at 1500 s"]


def test_one_window_proves_nothing() -> None:
    assert soak.judge([STEADY]) == ["only 1 window(s): nothing to compare"]


def test_windows_are_five_minutes_or_a_quarter_of_a_short_run() -> None:
    assert soak.window_length(30) == 300
    assert soak.window_length(2) == 30


@pytest.mark.e2e
def test_users_start_within_ten_seconds_but_never_faster_than_logins_allow() -> None:
    assert soak.spawn_rate(50) == 5.0  # 50 users over 10 s
    assert soak.spawn_rate(3) == 1.0  # at least one a second
    assert soak.spawn_rate(770) == 10.0  # 70 % of a 1100-user knee: 77 s of ramp, not 77 logins/s


def test_a_two_minute_soak(tmp_path: Path) -> None:
    """What CI runs: `loadlab soak --minutes 2` (at 70 % of a small knee: the figures, not the capacity).

    Every criterion must hold but the latency drift: a 30 s window's p95 at 14 users is tens of milliseconds, and
    a machine shared with other work moves it by more than 20 % (timings are for benchmarks, not tests)."""
    result = subprocess.run(
        loadlab_argv("soak", "--minutes", "2", "--knee", "20", "--root", str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=600,
        env=lab_env(),
        check=False,
    )
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    data = json.loads((run_dir / "report" / "soak.json").read_text())
    assert data["users"] == 14 and data["window_seconds"] == 30 and len(data["windows"]) >= 3
    for w in data["windows"]:
        assert w["requests"] > 0 and w["api_rss_mb"] > 0 and w["api_fds"] > 0 and w["postgres_connections"] > 0
        assert w["p95_ms"] is not None and set(w["table_mb"]) == {"posts", "comments", "users"}
    # Whether it passed depends on this machine's other load (its p95 is timing): the verdict must only be the
    # judgement of its own windows, said the same way in the exit code, the file and the output.
    windows = [soak.Window(**{**w, "table_mb": w["table_mb"]}) for w in data["windows"]]
    assert data["failed"] == soak.judge(windows)
    untimed = [f for f in data["failed"] if not f.startswith("p95 ")]  # failures, RSS, descriptors: never timing
    assert untimed == [], result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == (0 if data["passed"] else 1), result.stdout[-3000:] + result.stderr[-3000:]
    assert ("soak: PASS" if data["passed"] else "soak: FAIL") in result.stdout
    assert processes_under(run_dir) == []
