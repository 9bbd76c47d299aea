"""The overload drill's pure helpers: probe figures, Locust failure kinds, the checks. The drill itself is too
heavy for CI (10x the knee for 30 s); `loadlab drill overload` runs it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from loadlab import drills, overload
from loadlab.locust_files import read_failures
from loadlab.probe import PROBE_INTERVAL, PROBE_TIMEOUT, Sample, p99


def samples(start: float, statuses: list[int], ms: float = 10.0, step: float = 0.1) -> list[Sample]:
    return [Sample(start + i * step, "GET /posts/?limit=5", status, ms) for i, status in enumerate(statuses)]


def test_probe_figures_split_the_spike_from_what_follows_it() -> None:
    """Spike 100-110 s: 503s timed inside it, anything other than 2xx after it (past the drain) counted."""
    before = samples(95.0, [200] * 10)
    during = samples(100.0, [503] * 50 + [200] * 40 + [0, 500], ms=20.0)
    during[0] = Sample(during[0].at, during[0].name, 503, 90.0)
    draining = samples(110.2, [503])  # within DRAIN_SECONDS of the end: a spike user's last call
    after = samples(112.0, [200] * 20 + [503])
    figures = overload.probe_figures(before + during + draining + after, 100.0, 110.0)
    assert figures["probe_requests"] == 92
    assert figures["probe_503"] == 50
    assert figures["probe_other_errors"] == 2
    assert 20.0 < figures["probe_503_p99_ms"] <= 90.0
    assert figures["probe_after"] == 21 and figures["probe_after_not_served"] == 1
    assert figures["probe_max_ms"] == 90.0


def test_probe_figures_without_503s_have_no_p99() -> None:
    figures = overload.probe_figures(samples(0.0, [200] * 10), 0.0, 5.0)
    assert figures["probe_503"] == 0 and "probe_503_p99_ms" not in figures


def test_p99_never_exceeds_the_largest_value() -> None:
    assert p99([1.0]) is None
    two = p99([1.0, 2.0])
    assert two is not None and two <= 2.0
    assert p99([float(v) for v in range(1, 1001)]) == 990.01


def test_failure_kinds_separate_503s_from_everything_else(tmp_path: Path) -> None:
    path = tmp_path / "locust_failures.csv"
    path.write_text(
        "Method,Name,Error,Occurrences\n"
        "POST,/auth/login,\"CatchResponseError('expected 200, got 503: ...')\",40\n"
        "GET,/posts/,\"CatchResponseError('expected 200, got 503: ...')\",7\n"
        "GET,/posts/,ConnectionResetError(104),2\n"
    )
    shed, other = overload.failure_kinds(read_failures(path))
    assert shed == 47
    assert other == {"GET /posts/: ConnectionResetError(104)": 2}
    assert overload.failure_kinds(read_failures(tmp_path / "missing.csv")) == (0, {})


def test_the_spike_ends_when_its_users_are_gone_not_when_its_master_exits(tmp_path: Path) -> None:
    history = tmp_path / "locust_stats_history.csv"
    rows = [(100, 0), (101, 500), (130, 3250), (135, 3250), (136, 0), (139, 0)]
    history.write_text(
        "Timestamp,User Count,Type,Name,Requests/s\n" + "".join(f"{t},{n},,Aggregated,1.0\n" for t, n in rows)
    )
    assert overload.users_gone_at(history) == 136.0
    assert overload.users_gone_at(tmp_path / "missing.csv") is None


def outcome(**extra: float) -> Any:
    return SimpleNamespace(extra=extra)


def reason(check: Callable[[Any], str | None], outcome: Any) -> str:
    """What a failed check says (it must say something)."""
    said = check(outcome)
    assert said is not None, f"{check.__name__} passed"
    return said


def test_the_checks_name_what_broke() -> None:
    good = dict(spike_503=500.0, probe_503=150.0, probe_503_p99_ms=30.0, probe_after=20.0, probe_after_not_served=0.0)
    assert overload.excess_shed_fast(outcome(**good)) is None
    assert "nothing was shed" in reason(overload.excess_shed_fast, outcome())
    assert "too few" in reason(overload.excess_shed_fast, outcome(spike_503=5.0, probe_503=1.0))
    # 99 values: their "p99" would be the largest one, so it is not taken as one
    assert "(99 < 100)" in reason(overload.excess_shed_fast, outcome(**{**good, "probe_503": 99.0}))
    assert "p99 150 ms" in reason(overload.excess_shed_fast, outcome(**{**good, "probe_503_p99_ms": 150.0}))
    assert overload.excess_gets_503_only(outcome(**good)) is None
    assert "3 spike failures" in reason(
        overload.excess_gets_503_only, outcome(spike_other_failures=2.0, probe_other_errors=1)
    )
    assert overload.nothing_over_5s(outcome(api_over_5s=0.0, probe_max_ms=900.0)) is None
    assert "not in Prometheus" in reason(overload.nothing_over_5s, outcome())
    assert "answer 3 requests" in reason(overload.nothing_over_5s, outcome(api_over_5s=3.0))
    assert "6000 ms" in reason(overload.nothing_over_5s, outcome(api_over_5s=0.0, probe_max_ms=6000.0))
    assert overload.served_at_once_after(outcome(**good)) is None
    assert "2 probe requests" in reason(
        overload.served_at_once_after, outcome(probe_after=5.0, probe_after_not_served=2.0)
    )


def test_the_overload_drill_runs_at_the_knee_and_is_in_all() -> None:
    assert "overload" in drills.DRILLS
    drill = drills.get("overload", knee=40)
    assert drill.users == 40 and "400 users" in drill.what
    assert drill.cleanup is not None  # the spike's own Locust run is stopped however the drill ends
    assert drills.get("redis-down", knee=40) is drills.DRILLS["redis-down"]


@pytest.mark.parametrize("name", [*drills.DRILLS])
def test_every_drill_recovers_while_its_base_load_still_runs(name: str) -> None:
    """Recovery is measured on the base run's failures: the fault must end with at least 10 s of base load left,
    the longest `recovered_within` any drill checks."""
    drill = drills.get(name, knee=40)
    fault_ends = drill.inject_after + drill.fault_seconds
    assert fault_ends + 10 <= drill.duration, f"{name}: fault ends at {fault_ends} s of a {drill.duration} s run"


def test_drill_command_takes_the_knee(monkeypatch: pytest.MonkeyPatch) -> None:
    from loadlab.cli import build_parser

    monkeypatch.delenv("LOADLAB_KNEE", raising=False)
    assert build_parser().parse_args(["drill", "overload", "--knee", "40"]).knee == 40
    assert build_parser().parse_args(["drill", "overload"]).knee is None  # loadlab.knee.resolve finds one then


def test_the_overload_drill_has_no_knee_of_its_own() -> None:
    """A knee from another machine overloads a slower one before the drill starts: the caller must give one."""
    for knee in (None, 0):
        with pytest.raises(ValueError, match="knee"):
            drills.get("overload", knee=knee)
    assert "measured first" in drills.DRILLS["overload"].what


@pytest.mark.integration
def test_the_probe_times_logins_and_uncached_pages_against_a_real_api(live_api: Any) -> None:
    probe = overload.ShedProbe(live_api.url, accounts=3, clients=2).start()
    time.sleep(1.0)
    probe.stop()
    names = {s.name for s in probe.samples}
    assert names == {"POST /auth/login", "GET /posts/?limit=5"}
    assert all(s.status == 200 and 0 < s.ms < PROBE_TIMEOUT * 1000 for s in probe.samples)
    count = len(probe.samples)
    time.sleep(3 * PROBE_INTERVAL)
    assert len(probe.samples) == count  # stopped means stopped


@pytest.mark.integration
def test_the_bench_probe_times_lists_and_comments_apart_from_its_own_login_and_post(live_api: Any) -> None:
    from loadlab.bench import OthersProbe

    probe = OthersProbe(live_api.url).start()
    time.sleep(1.0)
    probe.stop()
    kinds = [(s.name, s.status) for s in probe.samples]
    assert kinds[:2] == [("POST /auth/login", 200), ("POST /posts/", 201)]
    assert set(kinds[2:]) == {("GET /posts/", 200), ("POST /comments/", 201)}
    assert probe.others_ms() == [s.ms for s in probe.samples[2:]]
    # Everything it sent is in the counts the consistency check adds to the clients' side.
    assert [status for _, status, _ in probe.responses()] == [status for _, status in kinds]
