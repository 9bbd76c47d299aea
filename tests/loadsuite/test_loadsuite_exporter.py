"""The master's exporter, rendered from plain objects shaped like Locust's runner and stats."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from loadsuite.exporter import WORKER_STATES, LocustCollector, ResetCounter, make_registry
from loadsuite.health import GeneratorHealth
from loadsuite.histogram import histogram_quantile, percentile


@dataclass
class Entry:
    num_requests: int
    num_failures: int
    response_times: dict[int | float, int]
    total_response_time: float


@dataclass
class Stats:
    entries: dict[tuple[str, str], Entry]
    total: Entry

    def reset_all(self) -> None:
        for e in [*self.entries.values(), self.total]:
            e.num_requests = e.num_failures = 0
            e.response_times = {}

    def clear_all(self) -> None:
        self.entries = {}
        self.total = Entry(0, 0, {}, 0)


@dataclass
class Node:
    id: str
    state: str
    cpu_usage: float
    user_count: int


@dataclass
class Clients:
    nodes: list[Node]

    @property
    def all(self) -> list[Node]:
        return self.nodes


@dataclass
class Runner:
    stats: Stats
    state: str = "running"
    user_count: int = 8
    target_user_count: int | None = 10
    clients: Clients | None = None


@dataclass
class Env:
    runner: Any
    extra: dict[str, Any] = field(default_factory=dict)


def _stats() -> Stats:
    entries = {
        ("/posts/", "GET"): Entry(100, 2, {4: 60, 12: 30, 150: 9, 2100: 1}, 4321.0),
        ("/posts/", "POST"): Entry(10, 0, {30: 10}, 300.0),
    }
    return Stats(entries, Entry(110, 2, {4: 60, 12: 30, 30: 10, 150: 9, 2100: 1}, 4621.0))


def scrape(runner: Runner, resets: ResetCounter | None = None, health: GeneratorHealth | None = None) -> dict:
    collector = LocustCollector(
        Env(runner), {"run_id": "r1", "scenario": "seed", "shape": "constant"}, resets or ResetCounter(), health
    )
    text = generate_latest(make_registry(collector)).decode()
    samples: dict[str, dict[tuple, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[s.name][tuple(sorted(s.labels.items()))] = s.value
    return samples


def test_counters_per_endpoint_and_no_aggregated_series() -> None:
    m = scrape(Runner(_stats()))
    assert m["locust_requests_total"] == {
        (("method", "GET"), ("name", "/posts/")): 100.0,
        (("method", "POST"), ("name", "/posts/")): 10.0,
    }
    assert m["locust_request_failures_total"][(("method", "GET"), ("name", "/posts/"))] == 2.0
    everything = [dict(labels) for series in m.values() for labels in series]
    assert not any("Aggregated" in labels.values() for labels in everything)


def test_histogram_from_locust_buckets() -> None:
    m = scrape(Runner(_stats()))
    get = (("method", "GET"), ("name", "/posts/"))
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for labels, v in m["locust_response_time_seconds_bucket"].items()
        if ("method", "GET") in labels
    )
    assert buckets[-1] == (math.inf, 100.0)
    assert m["locust_response_time_seconds_count"][get] == 100.0
    assert m["locust_response_time_seconds_sum"][get] == 4.321
    le_005 = next(v for le, v in buckets if le == 0.005)
    assert le_005 == 60.0
    p95 = histogram_quantile(0.95, buckets)
    assert 0.1 <= p95 <= 0.15 and percentile(_stats().entries[("/posts/", "GET")].response_times, 0.95) == 150


def test_users_state_and_run_info() -> None:
    m = scrape(Runner(_stats(), state="spawning"))
    assert m["locust_users"][()] == 8.0
    assert m["locust_target_users"][()] == 10.0
    assert m["locust_runner_state"][(("state", "spawning"),)] == 1.0
    assert m["locust_runner_state"][(("state", "running"),)] == 0.0
    assert m["locust_run_info"][(("run_id", "r1"), ("scenario", "seed"), ("shape", "constant"))] == 1.0


def test_workers_by_state_are_precreated_and_cpu_per_worker() -> None:
    nodes = [Node("w1", "running", 40.0, 5), Node("w2", "missing", 10.0, 0)]
    health = GeneratorHealth()
    health.record_cpu("w1", 0.55)  # the worker's own reading wins over Locust's 10-second one
    m = scrape(Runner(_stats(), clients=Clients(nodes)), health=health)
    workers = {dict(k)["state"]: v for k, v in m["locust_workers"].items()}
    assert set(WORKER_STATES) <= set(workers)
    assert workers["running"] == 1.0 and workers["missing"] == 1.0 and workers["ready"] == 0.0
    assert m["locust_worker_cpu_usage_ratio"] == {(("worker", "w1"),): 0.55, (("worker", "w2"),): 0.1}
    assert m["locust_worker_users"][(("worker", "w1"),)] == 5.0


def test_standalone_has_a_local_worker_series_and_zero_workers() -> None:
    runner = Runner(_stats())
    runner.current_cpu_usage = 25.0  # type: ignore[attr-defined]
    m = scrape(runner)
    assert m["locust_worker_cpu_usage_ratio"] == {(("worker", "local"),): 0.25}
    assert sum(m["locust_workers"].values()) == 0.0


def test_stats_reset_is_counted_and_counters_drop() -> None:
    runner, resets = Runner(_stats()), ResetCounter()
    resets.wrap(runner.stats)
    runner.stats.reset_all()
    runner.stats.reset_all()  # nothing left to drop: not a visible reset
    m = scrape(runner, resets)
    assert m["locust_stats_resets_total"][()] == 1.0
    assert m["locust_requests_total"][(("method", "GET"), ("name", "/posts/"))] == 0.0
