"""Collect one run's result from the live stack: Locust's files, the database, the API's metrics, Prometheus.

Everything a report shows is gathered here into a `RunResult` while the stack is still up; `report.py` renders
the result and never asks a live process anything.
"""

from __future__ import annotations

import contextlib
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from loadlab import charts, consistency, dashboards, locust_files
from loadlab.api_counts import Delta
from loadlab.result import RunResult

#: How long to wait, after the load, for a scrape of the API that carries the run's final counters.
SETTLE_TIMEOUT = 30.0

#: Figures the API's metrics give over the whole run window (`{w}`), the causes next to Locust's effects.
SERVER_FIGURES = {
    "pool wait p95 (s)": "histogram_quantile(0.95, sum by (le) "
    "(increase(board_db_pool_checkout_wait_seconds_bucket[{w}])))",
    "pool wait mean (s)": "sum(increase(board_db_pool_checkout_wait_seconds_sum[{w}]))"
    " / clamp_min(sum(increase(board_db_pool_checkout_wait_seconds_count[{w}])), 1)",
    "pool timeouts": "sum(increase(board_db_pool_checkout_timeouts_total[{w}]))",
    "executor wait p95 (s)": "histogram_quantile(0.95, sum by (le) "
    "(increase(board_executor_wait_seconds_bucket[{w}])))",
    "api /metrics answered (ratio)": 'avg_over_time(up{{job="api"}}[{w}])',
    "cache hit ratio": 'sum(increase(board_cache_lookups_total{{result="hit"}}[{w}]))'
    " / clamp_min(sum(increase(board_cache_lookups_total[{w}])), 1)",
}


def locust_outcome(result: RunResult, files: dict[str, Path]) -> None:
    """Endpoints (with every status the clients saw), the verdict and the failure reasons from the master's files."""
    result.verdict = locust_files.read_verdict(files["verdict"])
    result.endpoints = locust_files.read_endpoints(files["csv_stats"], result.verdict)
    result.failures = locust_files.read_failures(files["csv_failures"])


def counts(
    result: RunResult, api: Delta | None, rows_before: dict[str, int], rows_after: dict[str, int], why_unknown: str = ""
) -> None:
    """Both sides' counts, their comparison, and (for a failed verdict) its dominant cause."""
    if result.verdict:
        result.client_counts = consistency.client_counts(result.endpoints, result.failures)
    elif result.endpoints:
        result.client_counts = consistency.partial_client_counts(result.endpoints)
    result.server_counts = consistency.server_counts(api, rows_before, rows_after, why_unknown)
    result.consistency = consistency.check(result.client_counts, result.server_counts)
    if result.verdict and not result.verdict_passed:
        result.dominant_cause = consistency.dominant_cause(result)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("locust", "fastapi", "uvicorn", "sqlalchemy", "psycopg", "redis", "prometheus-client"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    for name, argv in {
        "postgres": ["/usr/lib/postgresql/15/bin/postgres", "--version"],
        "pgbouncer": ["pgbouncer", "--version"],
        "redis": ["redis-server", "--version"],
        "prometheus": ["prometheus", "--version"],
    }.items():
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
            found[name] = (out.stdout or out.stderr).splitlines()[0].strip()
        except (OSError, IndexError, subprocess.SubprocessError):
            pass
    return found


def api_scraped_after(prometheus_url: str, after: float, timeout: float = SETTLE_TIMEOUT) -> float:
    """When Prometheus first scraped the API after `after` (or `after` itself if it never did in time).

    An API whose event loop is blocked (the seed's baseline) answers no scrape during the load, but its
    counters are cumulative: one scrape once the load is gone gives the totals over the whole run.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = charts.query_instant(prometheus_url, 'timestamp(up{job="api"} == 1)', time.time())
            if result and float(result[0]["value"][1]) > after:
                return float(result[0]["value"][1])
        except (OSError, RuntimeError, ValueError):
            pass
        time.sleep(0.5)
    return after


def server_figures(result: RunResult, prometheus_url: str) -> None:
    """Evaluate `SERVER_FIGURES` over the whole run, at the API's first scrape after it."""
    at = api_scraped_after(prometheus_url, result.ended_at)
    window = f"{max(1, int(at - result.started_at))}s"
    for label, template in SERVER_FIGURES.items():
        try:
            found = charts.query_instant(prometheus_url, template.format(w=window), at)
            value = float(found[0]["value"][1]) if found else None
            result.server[label] = None if value is None or value != value else value  # NaN: no samples
        except (OSError, RuntimeError, ValueError):
            result.server[label] = None


def chart_data(result: RunResult, prometheus_url: str) -> None:
    """The data of every chart the report draws (the dashboards' panels in `dashboards.REPORT_PANELS`)."""
    for spec in dashboards.report_charts():
        try:
            result.charts.append(charts.fetch(spec, prometheus_url, result.started_at, result.ended_at))
        except (OSError, RuntimeError, ValueError) as exc:
            result.problems.append(f"chart {spec.title!r} not drawn: {exc}")
