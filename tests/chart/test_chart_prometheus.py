"""The rendered Prometheus config run by a real Prometheus, with Kubernetes pod discovery emulated.

Debian's Prometheus is built without Kubernetes discovery, so each `kubernetes_sd_configs` becomes static
targets that carry the `__meta_kubernetes_*` labels pod discovery would attach, for three pods per job: one
Running with the right container port, one Running on another port, one Pending. The job's own relabel
rules, as rendered, must then keep exactly the first, named after its pod, and the job names must be the
contract's. Scrape intervals, rule files and everything else run as rendered.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadlab.process import Process, free_port
from loadlab.services import PROMETHEUS
from tests.chart.conftest import NAMESPACE, get, require_tool, scenario
from tests.stub_exporter import stub_exporter

pytestmark = [pytest.mark.chart, pytest.mark.integration]

CONTRACT_JOBS = {"api", "locust", "postgres", "pgbouncer", "redis", "prometheus"}


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with stub_exporter(lambda _: "# TYPE stand_in gauge\nstand_in 1\n") as address:
        yield address


def _emulated(config: dict[str, Any], address: str, prom_port: int) -> dict[str, Any]:
    out = json.loads(json.dumps(config))
    for job in out["scrape_configs"]:
        sd = job.pop("kubernetes_sd_configs", None)
        if sd is None:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{prom_port}"]}]
            continue
        port_name = next(r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep")
        pods = [
            ("good", port_name, "Running"),
            ("other-port", "zmq-or-web", "Running"),
            ("pending", port_name, "Pending"),
        ]
        job["static_configs"] = [
            {
                "targets": [address],
                "labels": {
                    "__meta_kubernetes_pod_name": f"{job['job_name']}-{name}",
                    "__meta_kubernetes_pod_container_port_name": port,
                    "__meta_kubernetes_pod_phase": phase,
                    "__meta_kubernetes_namespace": NAMESPACE,
                },
            }
            for name, port, phase in pods
        ]
    return out


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return json.load(response)


def test_relabel_rules_keep_the_right_pod_port_per_job(target, tmp_workdir):
    require_tool(Path(PROMETHEUS).name, "apt-get install prometheus (scripts/bootstrap.sh does)")
    data = get(scenario("default"), "ConfigMap", "loadlab-prometheus")["data"]
    config = yaml.safe_load(data["prometheus.yml"])
    home = tmp_workdir / "chart-prometheus"
    (home / "rules").mkdir(parents=True)
    for key, text in data.items():
        if key.startswith("rules-"):
            (home / "rules" / key).write_text(text)
    port = free_port()
    config = _emulated(config, target, port)
    config["rule_files"] = [str(home / "rules" / Path(p).name) for p in config["rule_files"]]
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    argv = [
        PROMETHEUS,
        f"--config.file={home / 'prometheus.yml'}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    process = Process("chart-prometheus", argv, tmp_workdir / "logs" / "chart-prometheus.log").start()
    try:
        process.wait_ready(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1).status == 200, 60
        )
        deadline = time.monotonic() + 30
        while True:
            targets = _get(f"http://127.0.0.1:{port}/api/v1/targets")["data"]
            active = targets["activeTargets"]
            if {t["labels"]["job"] for t in active} == CONTRACT_JOBS or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        by_job: dict[str, list[dict[str, Any]]] = {}
        for t in active:
            by_job.setdefault(t["labels"]["job"], []).append(t)
        assert set(by_job) == CONTRACT_JOBS
        for job, found in by_job.items():
            assert len(found) == 1, f"{job}: {len(found)} targets kept"
            if job == "prometheus":
                continue
            labels = found[0]["labels"]
            assert labels["instance"] == labels["pod"] == f"{job}-good", labels
            assert labels["namespace"] == NAMESPACE
        dropped = len(targets["droppedTargets"])
        assert dropped == 2 * (len(CONTRACT_JOBS) - 1), "the other port and the Pending pod of every job"
        rules = _get(f"http://127.0.0.1:{port}/api/v1/rules")["data"]["groups"]
        assert rules, "the rendered rule files loaded"
    finally:
        process.stop()
