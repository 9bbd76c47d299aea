"""Capacity finder logic: step windows, per-step SLO, the knee."""

from __future__ import annotations

import pytest

from loadsuite.knee import (
    MIN_WINDOW_REQUESTS,
    CapacityReport,
    EntrySnapshot,
    StepResult,
    evaluate_step,
    find_knee,
    step_users,
    window_samples,
)
from loadsuite.thresholds import parse_thresholds

SLO = parse_thresholds({"*": {"p95_ms": 100, "max_failure_ratio": 0.01}})


def _step(i: int, users: int, held: bool) -> StepResult:
    return StepResult(i, users, 10.0, users * 2.0, users * 20, 0, held)


def test_window_is_the_difference_of_two_snapshots() -> None:
    before = {("/posts/", "GET"): EntrySnapshot(10, 0, {10: 10})}
    after = {
        ("/posts/", "GET"): EntrySnapshot(30, 2, {10: 25, 400: 5}),
        ("/healthz", "GET"): EntrySnapshot(0, 0, {}),
    }
    (s,) = window_samples(before, after, 10.0)
    assert (s.method, s.name, s.requests, s.failures) == ("GET", "/posts/", 20, 2)
    assert s.response_times == {10: 15, 400: 5}
    assert s.rps == pytest.approx(2.0)


def test_window_after_a_stats_reset_uses_what_is_left() -> None:
    before = {("/posts/", "GET"): EntrySnapshot(100, 0, {10: 100})}
    after = {("/posts/", "GET"): EntrySnapshot(7, 0, {10: 7})}
    (s,) = window_samples(before, after, 1.0)
    assert s.requests == 7


def test_step_holds_within_slo() -> None:
    samples = window_samples({}, {("/posts/", "GET"): EntrySnapshot(50, 0, {20: 50})}, 10.0)
    result = evaluate_step(0, 5, samples, 10.0, SLO)
    assert result.held and result.rps == pytest.approx(5.0)


def test_step_breaks_on_latency_or_failures() -> None:
    slow = window_samples({}, {("/posts/", "GET"): EntrySnapshot(50, 0, {20: 40, 900: 10})}, 10.0)
    assert not evaluate_step(1, 10, slow, 10.0, SLO).held
    failing = window_samples({}, {("/posts/", "GET"): EntrySnapshot(50, 5, {20: 50})}, 10.0)
    result = evaluate_step(1, 10, failing, 10.0, SLO)
    assert not result.held
    assert any("max_failure_ratio" in b for b in result.broken)


def test_step_without_traffic_does_not_hold() -> None:
    samples = window_samples({}, {("/posts/", "GET"): EntrySnapshot(MIN_WINDOW_REQUESTS - 1, 0, {20: 4})}, 10.0)
    assert not evaluate_step(0, 1, samples, 10.0, SLO).held


def test_min_rps_is_not_checked_per_step() -> None:
    t = parse_thresholds({"Aggregated": {"min_rps": 10000}})
    samples = window_samples({}, {("/posts/", "GET"): EntrySnapshot(50, 0, {20: 50})}, 10.0)
    assert evaluate_step(0, 5, samples, 10.0, t).held


def test_knee_is_the_last_step_before_the_break() -> None:
    steps = [_step(0, 5, True), _step(1, 10, True), _step(2, 15, False), _step(3, 20, True)]
    knee = find_knee(steps)
    assert knee is not None and knee.users == 10


def test_no_knee_when_the_first_step_breaks() -> None:
    report = CapacityReport([_step(0, 5, False)], "SLO broke at 5 users")
    assert report.knee is None
    assert report.to_dict()["knee"] is None
    assert "no step held" in report.summary()


def test_report_without_a_break_says_so() -> None:
    report = CapacityReport([_step(0, 5, True), _step(1, 10, True)], "reached the user ceiling")
    doc = report.to_dict()
    assert doc["knee"]["users"] == 10 and doc["knee_found"] is False
    assert report.summary().startswith("capacity: no knee yet")


def test_report_with_a_break_names_the_knee() -> None:
    report = CapacityReport([_step(0, 5, True), _step(1, 10, False)], "SLO broke at 10 users")
    assert report.to_dict()["knee_found"] is True
    assert report.summary().startswith("capacity: knee 5 users, 10.0 rps")


def test_step_users_schedule() -> None:
    assert [step_users(t, 5, 10.0, 12) for t in (0, 9.9, 10, 25, 100)] == [5, 5, 10, 12, 12]
    with pytest.raises(ValueError, match="must be > 0"):
        step_users(0, 0, 10.0, 5)
