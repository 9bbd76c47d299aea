"""What the clients saw against what the server counted: one test per kind of mismatch, the 503 texts, the cause."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from board.metrics import OVERLOAD_REASONS
from loadlab import consistency
from loadlab.api_counts import OTHER_503, Snapshot, delta
from loadlab.result import REASON_503, ROWS, STATUS, Counts, Endpoint
from tests.lab.sample_result import sample_result

SERVICE = Path(__file__).resolve().parents[2] / "service" / "board"
FULL = "server busy: password hashing queue full"
LOGIN_503 = f"""POST /auth/login: CatchResponseError('expected 200, got 503: \\'{{"detail":"{FULL}"}}\\'')"""


def login_run(seen_503: int, seen_401: int = 0) -> Counts:
    """The clients' counts of a run whose logins got `seen_503` 503s (bcrypt queue full) and `seen_401` 401s."""
    logins = {"200": 100 - seen_503 - seen_401, "503": seen_503, "401": seen_401}
    endpoints = [
        Endpoint("POST", "/auth/login", 100, seen_503 + seen_401, 1, 2, 3, 4, statuses=logins),
        Endpoint("POST", "/posts/", 10, 0, 1, 2, 3, 4, statuses={"201": 10}),
    ]
    failures = {LOGIN_503: seen_503} if seen_503 else {}
    return consistency.client_counts(endpoints, failures)


def server(reasons: dict[str, int], statuses: dict[str, int], posts: int = 10) -> Counts:
    return Counts(
        statuses,
        {**reasons, OTHER_503: statuses.get("503", 0) - sum(reasons.values())},
        {"posts": posts, "comments": 0, "users": 0},
    )


def test_everything_counted_alike_is_consistent() -> None:
    result = consistency.check(login_run(11, 2), server({"executor_full": 11}, {"503": 11, "401": 2}))
    assert result.ok, result.mismatches
    assert {(c.kind, c.subject): c.clients for c in result.checks if c.clients} == {
        (ROWS, "posts"): 10,
        (REASON_503, "executor_full"): 11,
        (STATUS, "503"): 11,
        (STATUS, "401"): 2,
    }


def test_a_201_without_its_row_is_a_mismatch() -> None:
    result = consistency.check(login_run(0), server({}, {}, posts=9))
    assert [(c.kind, c.subject, c.clients, c.server) for c in result.mismatches] == [(ROWS, "posts", 10, 9)]
    assert not result.nothing_lost


def test_503s_the_api_did_not_count_by_reason_are_a_mismatch() -> None:
    """The report's old "503s sent" missed the bcrypt queue's refusals: 11 seen by clients, 0 reported."""
    result = consistency.check(login_run(11), server({"executor_full": 0}, {"503": 11}))
    assert [(c.kind, c.subject, c.clients, c.server) for c in result.mismatches] == [
        (REASON_503, "executor_full", 11, 0),
        (REASON_503, OTHER_503, 0, 11),
    ]


def test_503s_of_another_reason_are_a_mismatch() -> None:
    result = consistency.check(login_run(11), server({"in_flight_full": 11}, {"503": 11}))
    assert {c.subject for c in result.mismatches} == {"executor_full", "in_flight_full"}


@pytest.mark.parametrize("status", ["401", "422", "429"])
def test_a_status_the_api_counted_differently_is_a_mismatch(status: str) -> None:
    clients = login_run(0)
    clients.statuses[status] = 3
    result = consistency.check(clients, server({}, {status: 4}))
    assert [(c.kind, c.subject, c.clients, c.server) for c in result.mismatches] == [(STATUS, status, 3, 4)]


def test_counts_of_a_restarted_api_are_unknown_not_equal() -> None:
    before = Snapshot({("POST", "/auth/login", "503"): 11.0}, {"executor_full": 11.0})
    after = Snapshot({("POST", "/auth/login", "503"): 2.0}, {"executor_full": 2.0})
    server_side = consistency.server_counts(delta(before, after), {}, {"posts": 10})
    assert "went down" in server_side.unknown
    result = consistency.check(login_run(11), server_side)
    assert not result.ok and all(c.server is None for c in result.checks if c.kind != ROWS)
    assert result.nothing_lost  # the rows are still known


def test_a_drills_probe_adds_its_own_requests_to_the_clients() -> None:
    result = sample_result(Path("/nowhere"))
    result.client_counts = login_run(11)
    result.server_counts = server({"executor_full": 12}, {"503": 12})
    consistency.recheck(result, Counts({"503": 1}, {"executor_full": 1, OTHER_503: 0}))
    assert result.consistency is not None
    assert result.consistency.ok, result.consistency.mismatches


def test_the_server_side_is_the_difference_of_two_scrapes() -> None:
    before = Snapshot({("POST", "/auth/login", "503"): 5.0, ("GET", "/posts/", "200"): 7.0}, {"executor_full": 4.0})
    after = Snapshot(
        {("POST", "/auth/login", "503"): 9.0, ("GET", "/posts/", "200"): 10.0, ("POST", "/posts/", "401"): 1.0},
        {"executor_full": 7.0, "pool_timeout": 0.0},
    )
    d = delta(before, after)
    assert d.statuses == {"503": 4, "200": 3, "401": 1} and not d.reset
    assert d.by_route["POST /auth/login"] == {"503": 4}
    assert d.reasons_503 == {"executor_full": 3, "pool_timeout": 0, OTHER_503: 1}  # a 503 that is no overload


def test_every_503_text_the_api_sends_has_its_reason() -> None:
    """The clients learn a 503's reason from its text: every "server busy" text in the API's source is known."""
    texts = {
        node.value
        for path in SERVICE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("server busy")
    }
    assert len(texts) >= 6, texts
    assert {t: consistency.reason_of(t) for t in texts} == {t: consistency.SHED_TEXTS.get(t) for t in texts}
    assert consistency.reason_of('{"detail":"database unavailable"}') == OTHER_503
    assert set(consistency.SHED_TEXTS.values()) == set(OVERLOAD_REASONS)


def test_the_dominant_cause_names_the_reason_and_the_endpoint() -> None:
    result = sample_result(Path("/nowhere"), passed=False)
    result.failures = {LOGIN_503: 56, "GET /posts/: CatchResponseError('expected 200, got 0: ...')": 3}
    assert consistency.dominant_cause(result) == f"56 of 59 failures are 503 executor_full ({FULL}) on POST /auth/login"


def test_the_dominant_cause_quotes_the_text_the_clients_got() -> None:
    """The bcrypt queue refuses with two texts under one reason: the cause names the one that was sent."""
    slow = "server busy: password hashing queue too slow"
    result = sample_result(Path("/nowhere"), passed=False)
    result.failures = {
        f"POST /auth/login: CatchResponseError('expected 200, got 503: \\'{{\"detail\":\"{slow}\"}}\\'')": 7
    }
    assert consistency.dominant_cause(result) == f"7 of 7 failures are 503 executor_full ({slow}) on POST /auth/login"


def test_without_failures_the_cause_is_the_widest_latency_break() -> None:
    result = sample_result(Path("/nowhere"), passed=False)
    result.failures = {}
    result.verdict["endpoints"] = [
        {
            "method": "GET",
            "name": "/posts/",
            "thresholds": [{"metric": "p95_ms", "limit": 1000.0, "actual": 1800, "passed": False}],
        },
        {
            "method": "POST",
            "name": "/auth/login",
            "thresholds": [
                {"metric": "p95_ms", "limit": 3000.0, "actual": 9000, "passed": False},
                {"metric": "max_failure_ratio", "limit": 0.01, "actual": 0.0, "passed": True},
            ],
        },
    ]
    assert consistency.dominant_cause(result) == "POST /auth/login: p95_ms 9000 ms, 3.0x its limit"
