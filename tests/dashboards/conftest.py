"""Fixtures for the dashboard and rule tests: a real Prometheus on loopback that scrapes a fake
exporter serving every contract metric, so each panel query is parsed, evaluated AND shown to
return data, without the lab."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadlab.process import free_port
from tests.stub_exporter import stub_exporter
from tests.tools import missing_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_FILES = sorted((REPO_ROOT / "grafana" / "rules").glob("*.rules.yaml"))
READY_TIMEOUT = 30.0  # seconds for Prometheus to start and report /-/ready
DATA_TIMEOUT = 30.0  # seconds until rates over the fake exporter's counters exist
SCRAPE_INTERVAL = "1s"  # short, so a rate has two samples within a few seconds


def fake_exposition(n: int) -> str:
    """Every metric of docs/contracts.md, with the label values the panels select on.

    Counters grow with `n` (the scrape number) so rates are non-zero; histograms put counts in
    more than one bucket so quantiles are finite.
    """
    lines: list[str] = []

    def add(name: str, value: float, /, **labels: str) -> None:  # `/`: a label may be called name
        body = ",".join(f'{k}="{v}"' for k, v in labels.items())
        lines.append(f"{name}{{{body}}} {value}" if body else f"{name} {value}")

    def hist(name: str, per_scrape: float, /, **labels: str) -> None:
        cum = 0.0
        for le, share in (("0.005", 0.2), ("0.05", 0.5), ("0.5", 0.2), ("5.0", 0.1), ("+Inf", 0.0)):
            cum += share
            add(f"{name}_bucket", round(cum * per_scrape * n, 6), le=le, **labels)
        add(f"{name}_count", per_scrape * n, **labels)
        add(f"{name}_sum", per_scrape * n * 0.05, **labels)

    routes = ("/posts/", "/auth/login")
    for route in routes:
        add("board_http_requests_total", 10 * n, method="GET", route=route, status="200")
        hist("board_http_request_duration_seconds", 10, method="GET", route=route)
    add("board_http_requests_total", n, method="POST", route="/auth/login", status="503")
    add("board_http_requests_in_flight", 3)
    hist("board_db_pool_checkout_wait_seconds", 20)
    for name, value in (
        ("board_db_pool_connections_in_use", 4),
        ("board_db_pool_connections_idle", 6),
        ("board_db_pool_overflow", 1),
        ("board_db_pool_size", 10),
        ("board_db_pool_max_overflow", 10),
        ("board_executor_workers", 4),
        ("board_executor_queue_limit", 64),
        ("board_executor_queue_depth", 2),
        ("board_executor_busy_workers", 3),
    ):
        add(name, value)
    add("board_db_pool_checkout_timeouts_total", n)
    hist("board_executor_wait_seconds", 5)
    hist("board_db_write_duration_seconds", 10)
    for task in ("hash", "verify"):
        hist("board_executor_task_duration_seconds", 5, task=task)
    add("board_executor_rejections_total", n)
    for generation in ("0", "1", "2"):
        hist("board_gc_pause_seconds", 3, generation=generation)
    for result, k in (("hit", 8), ("miss", 2), ("error", 0), ("bypass", 0)):
        add("board_cache_lookups_total", k * n, result=result)
    for reason in ("pool_timeout", "pool_queue_full", "pool_queue_standing", "executor_full", "in_flight_full"):
        add("board_overload_rejections_total", n, reason=reason)
    add("board_info", 1, version="0.1.0", bcrypt_rounds="12", hash_in_executor="true", cache_enabled="true")
    for process in ("0", "1"):
        hist("board_event_loop_lag_seconds", 10, process=process)
        add("board_event_loop_cpu_seconds_total", 0.3 * n, process=process)
        add("board_process_cpu_seconds_total", 0.5 * n, process=process)
    add("board_api_processes", 2)
    for operation in ("lookup", "write"):
        hist("board_cache_redis_duration_seconds", 10, operation=operation)
        add("board_cache_redis_errors_total", 0, operation=operation)

    for name in ("/posts/", "/auth/login"):
        add("locust_requests_total", 10 * n, method="GET", name=name)
        add("locust_request_failures_total", n, method="GET", name=name)
        hist("locust_response_time_seconds", 10, method="GET", name=name)
    add("locust_users", 50)
    add("locust_target_users", 50)
    for state, count in (("ready", 0), ("spawning", 0), ("running", 2), ("stopped", 0), ("missing", 0)):
        add("locust_workers", count, state=state)
    add("locust_worker_cpu_usage_ratio", 0.4, worker="w1")
    add("locust_worker_cpu_usage_ratio", 0.5, worker="w2")
    for state in ("ready", "spawning", "running", "stopping", "stopped"):
        add("locust_runner_state", 1 if state == "running" else 0, state=state)
    add("locust_run_info", 1, run_id="test-run", scenario="seed", shape="constant")
    add("locust_stats_resets_total", 0)

    add("pg_up", 1)
    add("pg_stat_database_numbackends", 5, datid="5", datname="board")
    add("pg_stat_database_xact_commit", 100 * n, datid="5", datname="board")
    add("pg_stat_database_xact_rollback", n, datid="5", datname="board")
    add("pg_locks_count", 3, datname="board", mode="accesssharelock")
    add("pg_lock_waits_backends", 0)
    add("redis_up", 1)
    add("redis_commands_processed_total", 50 * n)
    add("redis_keyspace_hits_total", 40 * n)
    add("redis_keyspace_misses_total", 10 * n)
    add("redis_memory_used_bytes", 1_000_000)
    add("redis_connected_clients", 5)
    add("pgbouncer_up", 1)
    for name, figure in (
        ("pgbouncer_pools_client_active_connections", 10),
        ("pgbouncer_pools_client_waiting_connections", 1),
        ("pgbouncer_pools_server_active_connections", 8),
        ("pgbouncer_pools_server_idle_connections", 2),
        ("pgbouncer_pools_client_maxwait_seconds", 0.2),
    ):
        add(name, figure, database="board", user="board")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def fake_exporter() -> Iterator[str]:
    """Fake contract metrics on a stub endpoint; why: no lab is needed to prove every panel's query returns
    series when the metrics exist under their contract names."""
    with stub_exporter(fake_exposition) as address:
        yield address


class PromClient:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, **params: str | list[str]) -> dict[str, Any]:
        """GET an /api/v1 endpoint; returns the JSON body (also on 4xx, which carries the error)."""
        query = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.base}{path}?{query}", timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return json.loads(err.read())

    def query(self, expr: str) -> dict[str, Any]:
        return self.get("/api/v1/query", query=expr)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory, fake_exporter: str) -> Iterator[PromClient]:
    """A real Prometheus (the version the lab runs) on a free loopback port, loading our rules
    and scraping the fake exporter every second; terminated after the session."""
    binary = shutil.which("prometheus")
    if binary is None:
        missing_tool("prometheus", "apt-get install prometheus (scripts/bootstrap.sh does)")
    assert binary is not None
    tmp = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML: no pyyaml needed here
            {
                "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
                "rule_files": [str(path) for path in _fast_rules(tmp)],
                "scrape_configs": [
                    {"job_name": "api", "static_configs": [{"targets": [fake_exporter]}]},
                    {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
                ],
            }
        )
    )
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base, tmp / "prometheus.log")
        client = PromClient(base)
        _wait_for_rates(client)
        yield client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"prometheus exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"prometheus not ready after {READY_TIMEOUT} s:\n{log.read_text()[-2000:]}")


def _fast_rules(folder: Path) -> list[Path]:
    """Copies of our rule files whose groups evaluate every second instead of every 15 s: the recorded series a
    panel reads (the overview's saturation) exist a second after the rates do, not up to 15 s later."""
    copies = []
    for path in RULES_FILES:
        copy = folder / path.name
        copy.write_text(path.read_text().replace("interval: 15s", f"interval: {SCRAPE_INTERVAL}"))
        copies.append(copy)
    return copies


def _wait_for_rates(client: PromClient) -> None:
    """Rates need two scrapes of a counter, recorded series a rule evaluation after that; wait until both exist."""
    deadline = time.monotonic() + DATA_TIMEOUT
    while time.monotonic() < deadline:
        body = client.query("rate(board_http_requests_total[1m]) > 0")
        recorded = client.query('count({__name__=~"loadlab:saturation:.+"})')
        if all(b.get("status") == "success" and b["data"]["result"] for b in (body, recorded)):
            return
        time.sleep(0.5)
    pytest.fail(f"no rate over the fake exporter's counters after {DATA_TIMEOUT} s")
