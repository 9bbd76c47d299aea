"""The load suite against the real API: distributed run, exporter consistency, verdict exit codes, capacity knee.

Locust runs only as subprocesses (master + workers, or standalone), bounded in time, on loopback.
"""

from __future__ import annotations

import csv
import http.server
import json
import math
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from locust_helpers import LocustProcesses, scrape, wait_for
from prometheus_client.parser import text_string_to_metric_families

from loadlab.process import free_port
from loadlab.services import Api, PgBouncer
from loadsuite.histogram import BUCKET_BOUNDS_MS, bucket_index, histogram_quantile
from tests.conftest import api_env

pytestmark = pytest.mark.integration

RUN_SECONDS = 20
USERS = 10
# Every account the session's `live_api` fixture creates (user1..user10).
ACCOUNTS = "10"


def parse_metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """`{sample name: {sorted label pairs: value}}` from Prometheus text."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return out


def endpoint_buckets(metrics: dict, method: str, name: str) -> list[tuple[float, float]]:
    return sorted(
        (float(dict(labels)["le"]), value)
        for labels, value in metrics["locust_response_time_seconds_bucket"].items()
        if dict(labels)["method"] == method and dict(labels)["name"] == name
    )


def test_distributed_seed_run_exporter_and_verdict(
    live_api: Api, tmp_path: Path, locust_procs: LocustProcesses
) -> None:
    """Master + 2 workers, 20 s of the seed scenario: no failures, both workers loaded, exporter == Locust."""
    master_port, exporter_port = free_port(), free_port()
    metrics_url = f"http://127.0.0.1:{exporter_port}/metrics"
    verdict_path = tmp_path / "verdict.json"
    generous = tmp_path / "generous.yaml"
    generous.write_text('"*":\n  p95_ms: 20000\n  max_failure_ratio: 0\n')
    master = locust_procs.start(
        "master",
        *["--master", "--headless", "-u", str(USERS), "-r", str(USERS), "-t", f"{RUN_SECONDS}s"],
        *["-H", live_api.url, "--expect-workers", "2", "--master-bind-host", "127.0.0.1"],
        *["--master-bind-port", str(master_port), "--exporter-port", str(exporter_port), "--exporter-linger", "6"],
        *["--verdict-file", str(verdict_path), "--csv", str(tmp_path / "run"), "--thresholds", str(generous)],
        *["--account-count", ACCOUNTS, "--run-id", "it-seed", "--stop-timeout", "2", "--only-summary"],
    )
    for i in range(2):
        locust_procs.start(f"worker{i}", "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port))

    def all_users_running() -> dict | None:
        m = parse_metrics(scrape(metrics_url))
        return m if m["locust_users"].get((), 0) == USERS else None

    during = wait_for(all_users_running, 30, what=f"{USERS} users running\n{locust_procs.logs()}")
    per_worker = {dict(k)["worker"]: v for k, v in during["locust_worker_users"].items()}
    assert len(per_worker) == 2 and all(v > 0 for v in per_worker.values()), per_worker
    assert during["locust_workers"][(("state", "running"),)] == 2
    assert during["locust_run_info"][(("run_id", "it-seed"), ("scenario", "seed"), ("shape", "constant"))] == 1

    # The verdict is written before the exporter lingers: this scrape sees the final stats.
    wait_for(verdict_path.exists, RUN_SECONDS + 30, what=f"the verdict file\n{locust_procs.logs()}")
    after = parse_metrics(scrape(metrics_url))
    assert master.wait(30) == 0, locust_procs.logs()
    assert "Final reports received from 2 of 2 workers" in locust_procs.log("master")

    verdict = json.loads(verdict_path.read_text())
    assert verdict["status"] == "pass" and not verdict["suspect"], verdict
    rows = {(r["Type"], r["Name"]): r for r in csv.DictReader((tmp_path / "run_stats.csv").read_text().splitlines())}
    assert int(rows[("", "Aggregated")]["Failure Count"]) == 0
    assert all(w["max_users"] > 0 for w in verdict["health"]["workers"].values()), verdict["health"]

    requests = after["locust_requests_total"]
    assert not [labels for series in after.values() for labels in series if "Aggregated" in dict(labels).values()]
    endpoints = {(r["Type"], r["Name"]) for r in rows.values() if r["Name"] != "Aggregated"}
    assert {(dict(k)["method"], dict(k)["name"]) for k in requests} == endpoints
    assert sum(requests.values()) == int(rows[("", "Aggregated")]["Request Count"])
    for (method, name), row in ((k, rows[k]) for k in endpoints):
        key = (("method", method), ("name", name))
        assert requests[key] == int(row["Request Count"]), (method, name)
        assert after["locust_request_failures_total"][key] == int(row["Failure Count"]) == 0
        buckets = endpoint_buckets(after, method, name)
        assert buckets[-1] == (math.inf, requests[key])
        exported_p95 = histogram_quantile(0.95, buckets)
        locust_p95 = float(row["95%"]) / 1000.0
        assert abs(bucket_index(exported_p95) - bucket_index(locust_p95)) <= 1, (method, name, exported_p95, locust_p95)
    created = {(e["method"], e["name"]): e["created"] for e in verdict["endpoints"]}
    assert created[("POST", "/posts/")] == int(rows[("POST", "/posts/")]["Request Count"]) > 0
    # Every request's status was counted on a worker and merged on the master, the last report included.
    for e in verdict["endpoints"]:
        assert sum(e["statuses"].values()) == int(rows[(e["method"], e["name"])]["Request Count"]), e
    assert verdict["total"]["statuses"]["201"] == sum(created.values())
    assert sum(verdict["total"]["statuses"].values()) == int(rows[("", "Aggregated")]["Request Count"])
    # A CPU ratio is of one process: never more cores than the machine has (it once read 19.3).
    assert all(0 <= w["peak_cpu_ratio"] <= os.cpu_count() for w in verdict["health"]["workers"].values())
    assert len(BUCKET_BOUNDS_MS) + 1 == len(endpoint_buckets(after, "GET", "/posts/"))


def test_impossible_threshold_fails_and_names_the_endpoint(
    live_api: Api, tmp_path: Path, locust_procs: LocustProcesses
) -> None:
    """A p95 bound of 0.01 ms cannot hold: exit code 1, each endpoint named in the verdict and the table."""
    verdict_path = tmp_path / "verdict.json"
    proc = locust_procs.start(
        "standalone",
        *["--headless", "-u", "3", "-r", "3", "-t", "5s", "-H", live_api.url],
        *["--thresholds", '{"*": {"p95_ms": 0.01}}', "--verdict-file", str(verdict_path)],
        *["--account-count", ACCOUNTS, "--only-summary"],
    )
    assert proc.wait(60) == 1, locust_procs.logs()
    verdict = json.loads(verdict_path.read_text())
    assert verdict["status"] == "fail"
    assert any(b.startswith("GET /posts/: p95_ms") for b in verdict["broken"]), verdict["broken"]
    assert "broken: GET /posts/: p95_ms" in locust_procs.log("standalone")


def test_invalid_thresholds_stop_the_run_before_it_starts(tmp_path: Path, locust_procs: LocustProcesses) -> None:
    bad = '{"*": {"p95": 1}}'
    proc = locust_procs.start(
        "standalone", "--headless", "-u", "1", "-t", "5s", "-H", "http://127.0.0.1:9", "--thresholds", bad
    )
    assert proc.wait(60) == 2
    assert "unknown field 'p95'" in locust_procs.log("standalone")


@pytest.fixture(scope="module")
def tiny_pool_api(tmp_path_factory: pytest.TempPathFactory, live_api: Api, pgbouncer: PgBouncer) -> Iterator[Api]:
    """The API with one DB connection, no overflow, a 0.2 s checkout timeout and no cache: it saturates early, by
    pool timeouts (no standing-queue refusals: on a loaded machine they broke the first step already)."""
    workdir = tmp_path_factory.mktemp("tiny-api")
    workdir.chmod(0o755)
    knobs = {
        "BOARD_DB_POOL_SIZE": "1",
        "BOARD_DB_MAX_OVERFLOW": "0",
        "BOARD_DB_POOL_TIMEOUT": "0.2",
        "BOARD_DB_POOL_STANDING_QUEUE_SECONDS": "0",
    }
    api = Api(workdir, api_env(pgbouncer.url, "", BOARD_CACHE_ENABLED="false", **knobs), name="tiny-api").start()
    yield api
    api.stop()


def test_capacity_finder_stops_and_names_a_knee(
    tiny_pool_api: Api, tmp_path: Path, locust_procs: LocustProcesses
) -> None:
    """Steps of 6 no-wait users every 4 s against the tiny pool: the SLO breaks, the last held step is the knee."""
    master_port = free_port()
    verdict_path = tmp_path / "verdict.json"
    master = locust_procs.start(
        "master",
        *["--master", "--headless", "-u", "90", "-t", "60s", "-H", tiny_pool_api.url],
        *["--expect-workers", "1", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port)],
        *["--scenario", "cached-list", "--shape", "capacity", "--step-users", "6", "--step-interval", "4"],
        *["--thresholds", '{"*": {"p95_ms": 400, "max_failure_ratio": 0.01}}', "--verdict-file", str(verdict_path)],
        *["--stop-timeout", "1", "--only-summary"],
    )
    locust_procs.start("worker", "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port))
    assert master.wait(90) == 0, locust_procs.logs()
    capacity = json.loads(verdict_path.read_text())["capacity"]
    assert capacity["knee_found"], capacity
    steps = capacity["steps"]
    assert [s["users"] for s in steps] == [6 * (i + 1) for i in range(len(steps))]
    assert all(s["held"] for s in steps[:-1]) and not steps[-1]["held"]
    assert capacity["knee"]["users"] == steps[-2]["users"] and capacity["knee"]["rps"] > 0
    assert "capacity: knee" in locust_procs.log("master")


def test_requests_without_a_response_count_as_status_zero(tmp_path: Path, locust_procs: LocustProcesses) -> None:
    """Nothing listens on the host's port: every request is a connection error, counted as status 0."""
    with socket.socket() as closed:  # a port that was free a moment ago: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    verdict_path = tmp_path / "verdict.json"
    proc = locust_procs.start(
        "standalone",
        *["--headless", "-u", "2", "-r", "2", "-t", "8s", "-H", f"http://127.0.0.1:{port}"],
        *["--scenario", "bare", "--verdict-file", str(verdict_path), "--only-summary"],
    )
    assert proc.wait(60) == 1, locust_procs.logs()
    verdict = json.loads(verdict_path.read_text())
    [healthz] = verdict["endpoints"]
    assert healthz["requests"] == healthz["failures"] > 0
    assert healthz["statuses"] == {"0": healthz["requests"]}


def test_busy_exporter_port_stops_the_run(tmp_path: Path, locust_procs: LocustProcesses) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        load = ["--headless", "-u", "1", "-t", "5s", "-H", "http://127.0.0.1:9"]
        proc = locust_procs.start("standalone", *load, "--exporter-port", str(port))
        assert proc.wait(60) == 2
    assert f"--exporter-port {port}" in locust_procs.log("standalone")


class _SlowHealthz(http.server.BaseHTTPRequestHandler):
    """Answers GET /healthz after SLOW_SECONDS and counts what it served."""

    served = 0
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        time.sleep(SLOW_SECONDS)
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        with self.lock:
            type(self).served += 1

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


SLOW_SECONDS = 2.0


@pytest.fixture
def slow_server() -> Iterator[tuple[str, type[_SlowHealthz]]]:
    """A local HTTP server whose every answer takes 2 s: requests are always in flight when a test stops."""
    handler = type("Handler", (_SlowHealthz,), {"served": 0, "lock": threading.Lock()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
    thread.join()


def test_requests_in_flight_at_the_end_are_counted(
    slow_server: tuple[str, type[_SlowHealthz]], tmp_path: Path, locust_procs: LocustProcesses
) -> None:
    """Users are mid-request when -t ends; with --stop-timeout they finish, and the master still counts them."""
    url, handler = slow_server
    master_port = free_port()
    verdict_path = tmp_path / "verdict.json"
    master = locust_procs.start(
        "master",
        *["--master", "--headless", "-u", "4", "-r", "4", "-t", "5s", "-H", url, "--scenario", "bare"],
        *["--expect-workers", "1", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port)],
        *["--stop-timeout", "5", "--verdict-file", str(verdict_path), "--thresholds", '{"*": {"p95_ms": 60000}}'],
    )
    locust_procs.start("worker", "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port))
    assert master.wait(60) == 0, locust_procs.logs()
    total = json.loads(verdict_path.read_text())["total"]
    assert total["failures"] == 0
    assert total["requests"] == handler.served > 0, locust_procs.logs()
