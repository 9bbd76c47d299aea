"""Every count the clients saw, checked against the server's own count of the same thing.

- 201s per table against the rows added (a 201 without its row is a lost write);
- 503s per reason against the API's `board_overload_rejections_total{reason}` (the clients learn the reason
  from the 503's text), and 503s that were no overload against the rest of the API's 503s;
- 401, 422, 429 and 503 against the API's `board_http_requests_total{status}`.

The server's side is the difference of two direct scrapes of the API (`api_counts`), exact. Pure functions:
`collect` and the drills feed them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from board import errors
from board.metrics import OVERLOAD_REASONS
from loadlab.api_counts import OTHER_503, Delta
from loadlab.result import REASON_503, ROWS, STATUS, Consistency, CountCheck, Counts, Endpoint, RunResult
from loadlab.stack import CREATED_BY

#: Statuses the API counts that only the load's clients cause (probes of a drill add theirs to the clients').
STATUSES_CHECKED = ("401", "422", "429", "503")


def _overload_texts() -> dict[str, str]:
    found, todo = {}, [errors.Overloaded]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.reason in OVERLOAD_REASONS:
            found[cls.detail] = cls.reason
    return found


#: The API's 503 texts (`{"detail": ...}`) and their overload reasons: the exceptions' own texts from
#: `board.errors`, plus the two sent with a text of their own. tests/lab/test_consistency.py checks that
#: every "server busy" text in the API's source is here.
SHED_TEXTS = {
    **_overload_texts(),
    "server busy: too many requests in flight": "in_flight_full",
    "server busy: password hashing queue too slow": "executor_full",
}
_STATUS = re.compile(r"got (\d+)")


def reason_of(message: str) -> str:
    """The overload reason a 503's text names, or OTHER_503 (the database unavailable, or a text we do not know)."""
    return next((reason for text, reason in SHED_TEXTS.items() if text in message), OTHER_503)


def status_in(message: str) -> str | None:
    """The status a load-suite failure message names ("expected 200, got 503: ..."); None when none."""
    match = _STATUS.search(message)
    return match.group(1) if match else None


# -- each side's counts ------------------------------------------------------------------------------------------
def client_counts(endpoints: list[Endpoint], failures: dict[str, int]) -> Counts:
    """What the load's clients saw: statuses per endpoint summed, 503s by the reason their text names, 201s by
    the table they create a row in."""
    counts = Counts()
    for endpoint in endpoints:
        for status, n in endpoint.statuses.items():
            counts.statuses[status] = counts.statuses.get(status, 0) + n
        if endpoint.key in CREATED_BY:
            table = CREATED_BY[endpoint.key]
            counts.rows[table] = counts.rows.get(table, 0) + endpoint.statuses.get("201", 0)
    reasons: Counter[str] = Counter()
    for key, n in failures.items():
        if status_in(key) == "503" and (reason := reason_of(key)) != OTHER_503:
            reasons[reason] += n
    counts.reasons_503 = dict(reasons)
    counts.reasons_503[OTHER_503] = max(0, counts.statuses.get("503", 0) - sum(reasons.values()))
    return counts


def partial_client_counts(endpoints: list[Endpoint]) -> Counts:
    """Without the verdict (a master that died): the 201s from Locust's last CSV, a lower bound (a successful
    create is a 201); statuses and reasons unknown."""
    rows: dict[str, int] = {}
    for endpoint in endpoints:
        if endpoint.key in CREATED_BY:
            table = CREATED_BY[endpoint.key]
            rows[table] = rows.get(table, 0) + endpoint.requests - endpoint.failures
    return Counts(
        rows=rows,
        unknown="no verdict: the clients' statuses are unknown, their 201s are a lower bound from Locust's last CSV",
    )


def response_counts(responses: Iterable[tuple[str, int, str]]) -> Counts:
    """Counts of requests sent besides the load suite's (a drill's or the bench's probe), from
    `(endpoint "METHOD /path", status, the response's text)`, to add to the clients' side."""
    counts = Counts(reasons_503={OTHER_503: 0})
    for endpoint, status, text in responses:
        counts.statuses[str(status)] = counts.statuses.get(str(status), 0) + 1
        if status == 503:
            reason = reason_of(text)
            counts.reasons_503[reason] = counts.reasons_503.get(reason, 0) + 1
        if status == 201 and endpoint in CREATED_BY:
            counts.rows[CREATED_BY[endpoint]] = counts.rows.get(CREATED_BY[endpoint], 0) + 1
    return counts


def server_counts(
    api: Delta | None, rows_before: dict[str, int], rows_after: dict[str, int], why_unknown: str = ""
) -> Counts:
    """What the server counted: the API's counters between the two scrapes, rows added per table."""
    rows = {table: rows_after.get(table, 0) - rows_before.get(table, 0) for table in CREATED_BY.values()}
    if api is None or api.reset or why_unknown:
        reason = why_unknown or (f"the API's counters started again during the run ({api.reset})" if api else "")
        return Counts(rows=rows, unknown=reason or "the API's metrics were not read")
    return Counts(dict(api.statuses), dict(api.reasons_503), rows)


# -- the comparison ----------------------------------------------------------------------------------------------
def check(clients: Counts | None, server: Counts | None) -> Consistency:
    if clients is None:
        return Consistency(problem="no verdict file: what the clients saw is unknown")
    if server is None:
        return Consistency(problem="the server's counts were not read")
    checks = [
        CountCheck(ROWS, table, clients.rows.get(table, 0), server.rows.get(table))
        for table in dict.fromkeys(CREATED_BY.values())
    ]
    if clients.unknown:  # only a lower bound of the 201s: enough to tell that no write was lost
        return Consistency(checks, problem=clients.unknown)
    unknown = server.unknown

    def counted(found: dict[str, int], key: str) -> int | None:
        return None if unknown else found.get(key, 0)

    checks += [
        CountCheck(REASON_503, reason, clients.reasons_503.get(reason, 0), counted(server.reasons_503, reason), unknown)
        for reason in (*OVERLOAD_REASONS, OTHER_503)
    ]
    checks += [
        CountCheck(STATUS, status, clients.statuses.get(status, 0), counted(server.statuses, status), unknown)
        for status in STATUSES_CHECKED
    ]
    return Consistency(checks)


def recheck(result: RunResult, more_clients: Counts) -> None:
    """Requests sent besides the load suite's (a drill's spike or probe) are clients too: add them, check again."""
    if result.client_counts is None:
        return
    result.client_counts = result.client_counts.plus(more_clients)
    result.consistency = check(result.client_counts, result.server_counts)


# -- the verdict's cause -------------------------------------------------------------------------------------------
def dominant_cause(result: RunResult) -> str:
    """What weighed most in a failed run: the commonest failure (endpoint and status, or 503 reason), else the
    latency limit broken by the widest margin. Empty when nothing failed."""
    groups: Counter[tuple[str, str]] = Counter()
    for key, n in result.failures.items():
        endpoint, _, message = key.partition(": ")
        status = status_in(message)
        if status == "503":
            # The text the client got: one reason has two (a full queue, a queue too slow), and they differ in cause.
            what = f"503 {reason_of(message)}" + next((f" ({t})" for t in SHED_TEXTS if t in message), "")
        elif status == "0":
            what = "no response"
        else:
            what = f"status {status}" if status else message[:80]
        groups[(endpoint, what)] += n
    if groups:
        (endpoint, what), n = groups.most_common(1)[0]
        return f"{n} of {sum(groups.values())} failures are {what} on {endpoint}"
    worst: tuple[float, str] | None = None
    for entry in result.verdict.get("endpoints", []):
        for c in entry.get("thresholds", []):
            if not c.get("passed", True) and c.get("metric", "").endswith("_ms") and c.get("limit"):
                margin = float(c["actual"]) / float(c["limit"])
                text = f"{entry['method']} {entry['name']}: {c['metric']} {c['actual']:g} ms, {margin:.1f}x its limit"
                worst = max(worst or (margin, text), (margin, text))
    return worst[1] if worst else ""
