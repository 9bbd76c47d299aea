"""Collecting a run from the Locust master's files: endpoints with every status, failures, the 201 row check."""

from __future__ import annotations

import json
from pathlib import Path

from loadlab import collect
from tests.lab.sample_result import sample_result

STATS = """Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,\
Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
GET,/posts/,40,1,12,14,3,80,900,2.0,0.05,12,13,14,15,20,30,50,70,80,80,80
POST,/posts/,10,0,20,22,9,60,150,0.5,0.0,20,21,22,23,30,40,50,60,60,60,60
,Aggregated,50,1,13,15,3,80,750,2.5,0.05,13,14,15,16,22,32,50,70,80,80,80
"""
FAILURES = """Method,Name,Error,Occurrences
GET,/posts/,"CatchResponseError('expected 200, got 503: \\'{""detail"":""server busy""}\\'')",1
"""


def files(tmp_path: Path, verdict: dict | None) -> dict[str, Path]:
    (tmp_path / "locust_stats.csv").write_text(STATS)
    (tmp_path / "locust_failures.csv").write_text(FAILURES)
    if verdict is not None:
        (tmp_path / "verdict.json").write_text(json.dumps(verdict))
    return {
        "csv_stats": tmp_path / "locust_stats.csv",
        "csv_failures": tmp_path / "locust_failures.csv",
        "verdict": tmp_path / "verdict.json",
    }


def test_endpoints_get_their_statuses_from_the_verdict(tmp_path: Path) -> None:
    verdict = {
        "passed": True,
        "endpoints": [
            {"method": "GET", "name": "/posts/", "created": 0, "statuses": {"200": 39, "503": 1}},
            {"method": "POST", "name": "/posts/", "created": 10, "statuses": {"201": 10}},
        ],
    }
    result = sample_result(tmp_path)
    collect.locust_outcome(result, files(tmp_path, verdict))
    assert [(e.key, e.requests, e.failures, e.p95_ms, e.statuses) for e in result.endpoints] == [
        ("GET /posts/", 40, 1, 30.0, {"200": 39, "503": 1}),
        ("POST /posts/", 10, 0, 40.0, {"201": 10}),
    ]
    assert result.verdict == verdict
    [(key, count)] = result.failures.items()
    assert key.startswith("GET /posts/: CatchResponseError('expected 200, got 503") and count == 1


def test_without_a_verdict_what_the_clients_saw_is_unknown(tmp_path: Path) -> None:
    result = sample_result(tmp_path)
    collect.locust_outcome(result, files(tmp_path, None))
    assert result.verdict == {} and all(e.statuses == {} for e in result.endpoints)
    collect.counts(result, None, {"posts": 0}, {"posts": 10})
    assert result.client_counts is not None and result.client_counts.rows == {"posts": 10}  # from the CSV
    assert result.consistency is not None and not result.consistency.ok
    assert "no verdict" in result.consistency.problem
    assert result.consistency.nothing_lost  # 10 successful creates, 10 rows: a lower bound is enough for that


def test_without_a_verdict_a_lost_write_still_shows(tmp_path: Path) -> None:
    """A master that died: its CSV said 10 posts created; 9 rows is a lost write whatever the clients saw after."""
    result = sample_result(tmp_path)
    collect.locust_outcome(result, files(tmp_path, None))
    collect.counts(result, None, {"posts": 0}, {"posts": 9})
    assert result.consistency is not None and not result.consistency.nothing_lost


def test_a_failed_verdict_names_its_dominant_cause(tmp_path: Path) -> None:
    verdict = {
        "passed": False,
        "endpoints": [
            {"method": "GET", "name": "/posts/", "created": 0, "statuses": {"200": 39, "503": 1}},
            {"method": "POST", "name": "/posts/", "created": 10, "statuses": {"201": 10}},
        ],
    }
    result = sample_result(tmp_path)
    collect.locust_outcome(result, files(tmp_path, verdict))
    collect.counts(result, None, {}, {"posts": 10})
    assert result.dominant_cause == "1 of 1 failures are 503 other on GET /posts/"
