"""Prometheus metrics of the API (names fixed by docs/contracts.md).

An instance runs several processes (`board serve --workers N`), so every metric is written through
prometheus_client's multiprocess mode (the supervisor sets PROMETHEUS_MULTIPROC_DIR before it starts them) and
the supervisor serves their sum on the metrics port (`board.supervisor`). Multiprocess mode cannot run
collectors that read live objects at scrape time, so state owned by others (pool occupancy, executor queue) is
copied into `livesum` gauges by each process's sampler (`board.sampler`) several times a second; a dead
process's live gauges leave the sum with it. Without PROMETHEUS_MULTIPROC_DIR (tests, one process) the same
metrics live in memory and `exposition()` renders them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from board import __version__

# The seed's clients waited the full 30 s pool timeout; DEFAULT_BUCKETS stop at 10 s and would hide that.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0)
# A collection stops the event loop: from a fraction of a millisecond (young objects) to the whole heap.
GC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# How late the loop runs a timer: under a millisecond when idle, the length of a blocking call when not.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# A Redis round trip on loopback is ~0.1 ms; the client's timeout is 0.5 s.
REDIS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
CACHE_RESULTS = ("hit", "miss", "error", "bypass")
REDIS_OPERATIONS = ("lookup", "refill", "write", "reset", "ping")
EXECUTOR_TASKS = ("hash", "verify")
OVERLOAD_REASONS = ("pool_timeout", "pool_queue_full", "pool_queue_standing", "executor_full", "in_flight_full")
LOGIN_THROTTLE_OUTCOMES = ("account", "address", "redis_error")
UNMATCHED_ROUTE = "<unmatched>"
#: Summed over the processes of an instance; a dead process's value leaves the sum.
LIVE_SUM: Final = "livesum"


class Metrics:
    """Every metric one API process exports; `process` (0..N-1) labels the per-process series."""

    def __init__(self, *, bcrypt_rounds: int, hash_in_executor: bool, cache_enabled: bool, process: str = "0") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.process = process
        self._live: list[tuple[Gauge, Callable[[], float]]] = []
        r = self.registry
        self.http_requests = Counter(
            "board_http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "board_http_request_duration_seconds",
            "HTTP request duration by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_in_flight = Gauge(
            "board_http_requests_in_flight", "HTTP requests being served", registry=r, multiprocess_mode=LIVE_SUM
        )
        self.pool_wait = Histogram(
            "board_db_pool_checkout_wait_seconds",
            "Time spent waiting for a DB pool checkout",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.db_write = Histogram(
            "board_db_write_duration_seconds",
            "Round trip of each write statement, its commit included (autocommit), from after the pool checkout",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.pool_timeouts = Counter("board_db_pool_checkout_timeouts", "DB pool checkouts that timed out", registry=r)
        self.executor_wait = Histogram(
            "board_executor_wait_seconds",
            "Time a bcrypt task waited in the queue before a worker took it",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.executor_task = Histogram(
            "board_executor_task_duration_seconds",
            "bcrypt task run time by task",
            ["task"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.executor_rejections = Counter(
            "board_executor_rejections", "bcrypt tasks refused because the queue was full", registry=r
        )
        self.gc_pause = Histogram(
            "board_gc_pause_seconds",
            "Garbage collections (each stops the event loop) by generation",
            ["generation"],
            buckets=GC_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "board_event_loop_lag_seconds",
            "How late the event loop ran a timer due every tick, by process",
            ["process"],
            buckets=LAG_BUCKETS,
            registry=r,
        ).labels(process)
        self.loop_cpu = Counter(
            "board_event_loop_cpu_seconds",
            "CPU time of the event loop's thread, by process (1 s/s = a full core)",
            ["process"],
            registry=r,
        ).labels(process)
        self.process_cpu = Counter(
            "board_process_cpu_seconds",
            "CPU time of the whole process (bcrypt threads included), by process",
            ["process"],
            registry=r,
        ).labels(process)
        self.cache_lookups = Counter("board_cache_lookups", "Post-list cache lookups by result", ["result"], registry=r)
        self.redis_duration = Histogram(
            "board_cache_redis_duration_seconds",
            "Redis round trips of the cache by operation",
            ["operation"],
            buckets=REDIS_BUCKETS,
            registry=r,
        )
        self.redis_errors = Counter(
            "board_cache_redis_errors",
            "Redis operations of the cache that failed (the cache then fails open)",
            ["operation"],
            registry=r,
        )
        self.overload = Counter(
            "board_overload_rejections", "503 responses sent because of overload, by reason", ["reason"], registry=r
        )
        self.login_throttle = Counter(
            "board_login_throttle",
            "Logins refused with 429 (by the limit they hit) and throttle checks that failed "
            "open because Redis did not answer",
            ["outcome"],
            registry=r,
        )
        self.info = Gauge(
            "board_info",
            "Build and configuration of this API instance",
            ["version", "bcrypt_rounds", "hash_in_executor", "cache_enabled"],
            registry=r,
            multiprocess_mode="max",
        )
        self.info.labels(
            __version__, str(bcrypt_rounds), str(hash_in_executor).lower(), str(cache_enabled).lower()
        ).set(1)
        # Known label values start at 0 so rate() and ratios work from the first scrape.
        for result in CACHE_RESULTS:
            self.cache_lookups.labels(result)
        for operation in REDIS_OPERATIONS:
            self.redis_duration.labels(operation)
            self.redis_errors.labels(operation)
        for task in EXECUTOR_TASKS:
            self.executor_task.labels(task)
        for reason in OVERLOAD_REASONS:
            self.overload.labels(reason)
        for outcome in LOGIN_THROTTLE_OUTCOMES:
            self.login_throttle.labels(outcome)

    def live(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge copied from a live object (`read()`) at every sample, summed over the instance's processes."""
        gauge = Gauge(name, documentation, registry=self.registry, multiprocess_mode=LIVE_SUM)
        gauge.set(read())
        self._live.append((gauge, read))

    def refresh_live(self) -> None:
        for gauge, read in self._live:
            gauge.set(read())

    def exposition(self) -> bytes:
        """This process's metrics in the text format, live gauges fresh (one process; tests)."""
        self.refresh_live()
        return generate_latest(self.registry)
