"""Prometheus metrics of one API process (names fixed by docs/contracts.md).

One uvicorn process per API instance: scale by running more instances (pods), never by forking
workers. That is why this module uses a plain per-app `CollectorRegistry` and live collectors
(pool, executor) instead of prometheus_client's multiprocess mode, which cannot run collectors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from board import __version__

# The seed's clients waited the full 30 s pool timeout; DEFAULT_BUCKETS stop at 10 s and would hide that.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0)
# A collection stops the event loop: from a fraction of a millisecond (young objects) to the whole heap.
GC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
CACHE_RESULTS = ("hit", "miss", "error", "bypass")
EXECUTOR_TASKS = ("hash", "verify")
OVERLOAD_REASONS = ("pool_timeout", "pool_queue_full", "pool_queue_standing", "executor_full", "in_flight_full")
UNMATCHED_ROUTE = "<unmatched>"


class Metrics:
    """Every metric the API exports, registered on its own registry."""

    def __init__(self, *, bcrypt_rounds: int, hash_in_executor: bool, cache_enabled: bool) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "board_http_requests_total", "HTTP requests by method, route template and status",
            ["method", "route", "status"], registry=r,
        )  # fmt: skip
        self.http_duration = Histogram(
            "board_http_request_duration_seconds", "HTTP request duration by route template",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.http_in_flight = Gauge("board_http_requests_in_flight", "HTTP requests being served", registry=r)
        self.pool_wait = Histogram(
            "board_db_pool_checkout_wait_seconds", "Time spent waiting for a DB pool checkout",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.pool_timeouts = Counter("board_db_pool_checkout_timeouts", "DB pool checkouts that timed out", registry=r)
        self.executor_wait = Histogram(
            "board_executor_wait_seconds", "Time a bcrypt task waited in the queue before a worker took it",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.executor_task = Histogram(
            "board_executor_task_duration_seconds", "bcrypt task run time by task",
            ["task"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.executor_rejections = Counter(
            "board_executor_rejections", "bcrypt tasks refused because the queue was full", registry=r
        )
        self.gc_pause = Histogram(
            "board_gc_pause_seconds", "Garbage collections (each stops the event loop) by generation",
            ["generation"], buckets=GC_BUCKETS, registry=r,
        )  # fmt: skip
        self.cache_lookups = Counter("board_cache_lookups", "Post-list cache lookups by result", ["result"], registry=r)
        self.overload = Counter(
            "board_overload_rejections", "503 responses sent because of overload, by reason", ["reason"], registry=r
        )
        self.info = Gauge(
            "board_info", "Build and configuration of this API process",
            ["version", "bcrypt_rounds", "hash_in_executor", "cache_enabled"], registry=r,
        )  # fmt: skip
        self.info.labels(
            __version__, str(bcrypt_rounds), str(hash_in_executor).lower(), str(cache_enabled).lower()
        ).set(1)
        # Known label values start at 0 so rate() and ratios work from the first scrape.
        for result in CACHE_RESULTS:
            self.cache_lookups.labels(result)
        for task in EXECUTOR_TASKS:
            self.executor_task.labels(task)
        for reason in OVERLOAD_REASONS:
            self.overload.labels(reason)

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)


class GaugeCollector(Collector):
    """Gauges read from a live object on every scrape (pool occupancy, executor state)."""

    def __init__(self, gauges: dict[str, tuple[str, Callable[[], float]]]) -> None:
        self._gauges = gauges

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [GaugeMetricFamily(name, doc) for name, (doc, _) in self._gauges.items()]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, (doc, read) in self._gauges.items():
            yield GaugeMetricFamily(name, doc, value=read())
