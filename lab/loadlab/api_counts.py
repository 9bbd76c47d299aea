"""The API's own counts, read straight from its metrics endpoint just before the load and just after it.

Exact, where Prometheus' `increase()` is not: Prometheus samples a counter once a scrape and extrapolates
between samples, and it had no sample at all of a run's first seconds (see `Prometheus.wait_scraped`). The
counters are cumulative, so the difference of two scrapes is what the API sent in between.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

SCRAPE_TIMEOUT = 10.0
REQUESTS = "board_http_requests_total"
REJECTIONS = "board_overload_rejections_total"
#: A 503 the API sent that no overload rejection counted (the database unavailable).
OTHER_503 = "other"


@dataclass
class Snapshot:
    """Counter values at one scrape: requests by (method, route, status), 503s by overload reason."""

    requests: dict[tuple[str, str, str], float] = field(default_factory=dict)
    rejections: dict[str, float] = field(default_factory=dict)


def parse(text: str) -> Snapshot:
    snapshot = Snapshot()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == REQUESTS:
                key = (sample.labels["method"], sample.labels["route"], sample.labels["status"])
                snapshot.requests[key] = snapshot.requests.get(key, 0.0) + sample.value
            elif sample.name == REJECTIONS:
                reason = sample.labels["reason"]
                snapshot.rejections[reason] = snapshot.rejections.get(reason, 0.0) + sample.value
    return snapshot


def scrape(metrics_url: str) -> Snapshot:
    with urllib.request.urlopen(metrics_url, timeout=SCRAPE_TIMEOUT) as response:  # noqa: S310 - loopback
        return parse(response.read().decode())


@dataclass
class Delta:
    """What the API counted between two scrapes; `reset` names a counter that went down (a restarted API)."""

    statuses: dict[str, int]
    by_route: dict[str, dict[str, int]]  # "POST /auth/login" -> {"503": n}
    reasons_503: dict[str, int]
    reset: str = ""


def delta(before: Snapshot, after: Snapshot) -> Delta:
    statuses: dict[str, int] = {}
    by_route: dict[str, dict[str, int]] = {}
    reset = ""
    for (method, route, status), value in after.requests.items():
        n = int(round(value - before.requests.get((method, route, status), 0.0)))
        if n < 0:
            reset = f"{REQUESTS}{{method={method!r},route={route!r},status={status!r}}} went down"
        if n > 0:
            statuses[status] = statuses.get(status, 0) + n
            per_route = by_route.setdefault(f"{method} {route}", {})
            per_route[status] = per_route.get(status, 0) + n
    reasons: dict[str, int] = {}
    for reason, value in after.rejections.items():
        n = int(round(value - before.rejections.get(reason, 0.0)))
        if n < 0:
            reset = f"{REJECTIONS}{{reason={reason!r}}} went down"
        reasons[reason] = max(0, n)
    missing = set(before.requests) - set(after.requests)
    if missing and not reset:
        reset = f"{len(missing)} series of {REQUESTS} vanished"
    reasons[OTHER_503] = max(0, statuses.get("503", 0) - sum(reasons.values()))
    return Delta(statuses, by_route, reasons, reset)
