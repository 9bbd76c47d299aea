"""Prometheus exporter for the Locust master (or a standalone run), built at scrape time.

Nothing is counted here: every scrape reads the master's merged stats (``runner.stats.entries``),
which Locust already merges from the workers' deltas, and renders fresh metric families, as
``prometheus_client``'s ``gc_collector`` does for state it does not own. ``stats.total`` (the
"Aggregated" row) is never exported as an endpoint: ``sum()`` over the per-endpoint series
gives it without double counting. The runner is duck-typed so this module never imports
``locust`` and can be tested with plain objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from .health import GeneratorHealth
from .histogram import BUCKET_BOUNDS_MS, cumulative_buckets

# Pre-created so every series exists (at 0) from the first scrape; other states Locust may
# report (cleanup, stopping) are added when seen.
WORKER_STATES = ("ready", "spawning", "running", "stopped", "missing")
RUNNER_STATES = ("ready", "spawning", "running", "cleanup", "stopping", "stopped", "missing")


class ResetCounter:
    """How many times Locust's stats were reset (web UI button, ``--reset-stats``, a new test)."""

    def __init__(self) -> None:
        self.count = 0

    def wrap(self, stats: Any) -> None:
        """Count calls of ``stats.reset_all``/``clear_all`` that drop data, so counter drops are explained."""
        for method in ("reset_all", "clear_all"):
            original = getattr(stats, method)

            def wrapped(_original: Any = original) -> None:
                if stats.total.num_requests or stats.total.num_failures:
                    self.count += 1
                _original()

            setattr(stats, method, wrapped)


class LocustCollector(Collector):
    """Renders the ``locust_*`` metrics of docs/contracts.md from a Locust environment."""

    def __init__(
        self,
        environment: Any,
        run_info: dict[str, str],
        resets: ResetCounter,
        health: GeneratorHealth | None = None,
    ) -> None:
        self.environment = environment
        self.run_info = run_info
        self.resets = resets
        self.health = health

    def collect(self) -> Iterator[Metric]:
        runner = self.environment.runner
        requests = CounterMetricFamily(
            "locust_requests", "Requests per endpoint (master's merged stats).", labels=["method", "name"]
        )
        failures = CounterMetricFamily(
            "locust_request_failures", "Failed requests per endpoint.", labels=["method", "name"]
        )
        latency = HistogramMetricFamily(
            "locust_response_time_seconds",
            "Response time per endpoint, from Locust's own response-time buckets.",
            labels=["method", "name"],
        )
        for (name, method), entry in sorted(runner.stats.entries.items()):
            labels = [method, name]
            requests.add_metric(labels, entry.num_requests)
            failures.add_metric(labels, entry.num_failures)
            buckets = [
                (floatToGoString(le), float(n)) for le, n in cumulative_buckets(entry.response_times, BUCKET_BOUNDS_MS)
            ]
            # _count comes from the +Inf bucket: requests with a response time (Locust leaves
            # requests without one, e.g. async with no time, out of its buckets too).
            latency.add_metric(labels, buckets, entry.total_response_time / 1000.0)
        yield requests
        yield failures
        yield latency

        yield GaugeMetricFamily("locust_users", "Simulated users running now.", value=runner.user_count)
        yield GaugeMetricFamily(
            "locust_target_users", "Users the current test or step asks for.", value=runner.target_user_count or 0
        )

        state = GaugeMetricFamily("locust_runner_state", "1 for the runner's current state.", labels=["state"])
        for s in dict.fromkeys((*RUNNER_STATES, runner.state)):
            state.add_metric([s], 1.0 if s == runner.state else 0.0)
        yield state

        workers = GaugeMetricFamily("locust_workers", "Workers by state (master only).", labels=["state"])
        cpu = GaugeMetricFamily(
            "locust_worker_cpu_usage_ratio", "Worker process CPU, 0-1 of one core.", labels=["worker"]
        )
        worker_users = GaugeMetricFamily("locust_worker_users", "Users running on each worker.", labels=["worker"])
        counts: dict[str, int] = dict.fromkeys(WORKER_STATES, 0)
        clients = getattr(runner, "clients", None)
        if clients is not None:
            for node in clients.all:
                counts[node.state] = counts.get(node.state, 0) + 1
                cpu.add_metric([node.id], self._cpu_ratio(node.id, node.cpu_usage))
                worker_users.add_metric([node.id], node.user_count)
        else:  # standalone: the local process is the only generator
            cpu.add_metric(["local"], getattr(runner, "current_cpu_usage", 0.0) / 100.0)
            worker_users.add_metric(["local"], runner.user_count)
        for s, n in counts.items():
            workers.add_metric([s], n)
        yield workers
        yield cpu
        yield worker_users

        info = GaugeMetricFamily("locust_run_info", "Run identity; always 1.", labels=sorted(self.run_info))
        info.add_metric([self.run_info[k] for k in sorted(self.run_info)], 1.0)
        yield info
        yield CounterMetricFamily("locust_stats_resets", "Times Locust's stats were reset.", value=self.resets.count)

    def _cpu_ratio(self, worker: str, locust_percent: float) -> float:
        """Prefer the worker's own per-report reading (fresh every 3 s) over Locust's (every 10 s)."""
        if self.health is not None and (track := self.health.workers.get(worker)) and track.last_cpu is not None:
            return track.last_cpu
        return locust_percent / 100.0


def make_registry(collector: LocustCollector) -> CollectorRegistry:
    """A registry of our own: the process's default one would add python_* metrics of the master."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def serve(registry: CollectorRegistry, host: str, port: int) -> Any:
    """Serve ``/metrics`` on a gevent WSGI server, non-blocking (Locust's own web UI runs the same way).

    ``start_http_server`` would start a thread-per-request server; under Locust's gevent
    monkey-patching a plain greenlet server is the simpler, predictable choice.
    """
    from gevent.pywsgi import WSGIServer
    from prometheus_client import make_wsgi_app

    server = WSGIServer((host, port), make_wsgi_app(registry), log=None)
    server.start()
    return server
