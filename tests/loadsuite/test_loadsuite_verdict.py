"""Verdict evaluation: thresholds per endpoint, the whole run, suspect reasons, JSON and table."""

from __future__ import annotations

import json
from pathlib import Path

from loadsuite.thresholds import parse_thresholds
from loadsuite.verdict import EndpointSample, evaluate, total_sample

LIST = EndpointSample("GET", "/posts/", 100, 0, {10: 95, 40: 5}, 10.0, {200: 100})
CREATE = EndpointSample("POST", "/posts/", 20, 1, {30: 19, 900: 1}, 2.0, {201: 19, 503: 1})


def _total() -> EndpointSample:
    return total_sample([LIST, CREATE], rps=12.0)


def test_generous_thresholds_pass() -> None:
    v = evaluate([LIST, CREATE], _total(), parse_thresholds({"*": {"p95_ms": 5000, "max_failure_ratio": 0.1}}))
    assert v.passed
    assert v.exit_code == 0
    assert v.to_dict()["status"] == "pass"


def test_impossible_p95_fails_and_names_each_endpoint() -> None:
    v = evaluate([LIST, CREATE], _total(), parse_thresholds({"*": {"p95_ms": 0.01}}))
    assert v.exit_code == 1
    assert any(b.startswith("GET /posts/: p95_ms 40") for b in v.broken)
    assert any(b.startswith("POST /posts/: p95_ms") for b in v.broken)
    assert "BROKEN" in v.render_table()


def test_endpoint_entry_overrides_default() -> None:
    t = parse_thresholds({"*": {"p95_ms": 0.01}, "GET /posts/": {"p95_ms": 100}, "POST /posts/": {"p95_ms": 1000}})
    assert evaluate([LIST, CREATE], _total(), t).passed


def test_failure_ratio_and_min_rps() -> None:
    t = parse_thresholds({"POST /posts/": {"max_failure_ratio": 0.01}, "Aggregated": {"min_rps": 50}})
    broken = evaluate([LIST, CREATE], _total(), t).broken
    assert "POST /posts/: max_failure_ratio 0.05 (limit <= 0.01)" in broken
    assert "Aggregated: min_rps 12 (limit >= 50)" in broken


def test_no_requests_is_a_failure() -> None:
    v = evaluate([], total_sample([], 0.0), parse_thresholds({}))
    assert not v.passed
    assert "no requests were made" in v.broken


def test_suspect_reasons_are_reported_but_keep_the_exit_code() -> None:
    v = evaluate([LIST], total_sample([LIST], 10.0), parse_thresholds({}), ["worker w1 went missing during the run"])
    assert v.suspect
    assert v.exit_code == 0
    assert v.to_dict()["suspect_reasons"] == ["worker w1 went missing during the run"]
    assert "SUSPECT" in v.render_table()


def test_unenforced_thresholds_only_fail_on_problems() -> None:
    v = evaluate([LIST], total_sample([LIST], 10.0), parse_thresholds({"*": {"p95_ms": 0.01}}))
    v.enforce_thresholds = False
    assert v.passed
    assert v.threshold_breaks
    v.problems.append("capacity: no step held the SLO")
    assert v.exit_code == 1


def test_thresholds_naming_unseen_endpoint_leave_a_note() -> None:
    v = evaluate([LIST], total_sample([LIST], 10.0), parse_thresholds({"GET /healthz": {"p95_ms": 5}}))
    assert v.passed
    assert any("GET /healthz" in n for n in v.notes)


def test_json_has_per_endpoint_numbers_and_201s(tmp_path: Path) -> None:
    v = evaluate([LIST, CREATE], _total(), parse_thresholds({"*": {"p95_ms": 1000}}))
    path = tmp_path / "out" / "verdict.json"
    v.write(str(path))
    doc = json.loads(path.read_text())
    create = next(e for e in doc["endpoints"] if e["method"] == "POST")
    assert create["created"] == 19
    assert create["statuses"] == {"201": 19, "503": 1}
    assert doc["total"]["statuses"] == {"200": 100, "201": 19, "503": 1}
    assert doc["total"]["created"] == 19
    assert create["requests"] == 20 and create["failures"] == 1
    assert (create["p50_ms"], create["p95_ms"], create["p99_ms"]) == (
        30,
        900,
        900,
    )  # Locust's walk: 1 of 20 above leaves 19 = int(0.95 * 20)
    assert create["thresholds"] == [{"metric": "p95_ms", "limit": 1000.0, "actual": 900, "passed": True}]
    assert doc["total"]["requests"] == 120
