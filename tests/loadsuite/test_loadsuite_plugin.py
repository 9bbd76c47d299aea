"""The plugin beside a locustfile that is not the suite's: it starts whatever options that locustfile has, counts
every status, serves the exporter and writes the verdict, distributed, against the real API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from locust_helpers import LOCUST_DIR, LocustProcesses, scrape, wait_for

from loadlab.process import free_port
from loadlab.services import Api

pytestmark = pytest.mark.integration

#: Someone else's test: its own user class and its own --run-id (an int, meaning something else than ours).
FOREIGN = """
from locust import HttpUser, constant, events, task


@events.init_command_line_parser.add_listener
def _(parser, **kwargs):
    parser.add_argument("--run-id", type=int, default=0, help="the foreign test's own run number")


class Reader(HttpUser):
    wait_time = constant(0.2)

    @task(3)
    def posts(self):
        self.client.get("/posts/")

    @task
    def missing(self):
        self.client.get("/posts/999999999", name="/posts/[missing]")

    def on_stop(self):
        print(f"FOREIGN RUN ID {self.environment.parsed_options.run_id}", flush=True)
"""


def test_the_plugin_serves_any_locustfile_distributed(
    live_api: Api, tmp_path: Path, locust_procs: LocustProcesses
) -> None:
    foreign = tmp_path / "foreign_locustfile.py"
    foreign.write_text(FOREIGN)
    files = f"{LOCUST_DIR / 'loadlab_plugin.py'},{foreign}"
    master_port, exporter_port = free_port(), free_port()
    verdict_path = tmp_path / "verdict.json"
    thresholds = '{"*": {"p95_ms": 20000, "max_failure_ratio": 1}}'
    master = locust_procs.start(
        "master",
        *["--master", "--headless", "-u", "4", "-r", "4", "-t", "6s", "-H", live_api.url],
        *["--expect-workers", "1", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port)],
        *["--exporter-port", str(exporter_port), "--exporter-linger", "3", "--verdict-file", str(verdict_path)],
        *["--thresholds", thresholds, "--run-id", "7", "--stop-timeout", "2", "--only-summary"],
        locustfile=files,
    )
    master_at = ["--master-host", "127.0.0.1", "--master-port", str(master_port)]
    worker = locust_procs.start("worker", "--worker", *master_at, locustfile=files)

    def exported() -> str | None:
        text = scrape(f"http://127.0.0.1:{exporter_port}/metrics")
        return text if "locust_run_info" in text else None

    metrics = wait_for(exported, 30, what=f"the plugin's exporter\n{locust_procs.logs()}")
    assert 'scenario="foreign_locustfile"' in metrics, "the run is named after the locustfile"
    assert master.wait(90) == 0, locust_procs.logs()
    assert worker.wait(30) == 0, "the worker ends with the master"
    verdict = json.loads(verdict_path.read_text())
    assert verdict["status"] == "pass" and verdict["run"]["scenario"] == "foreign_locustfile"
    by_name = {e["name"]: e for e in verdict["endpoints"]}
    assert by_name["/posts/"]["statuses"].get("200", 0) > 0
    assert set(by_name["/posts/[missing]"]["statuses"]) == {"404"}, "every status counted, not only 201s"
    assert verdict["run"]["run_id"] != "7", "--run-id is the locustfile's own option here, not the plugin's"
    assert "FOREIGN RUN ID 7" in locust_procs.log("worker"), "the locustfile got its own option"


def test_the_suites_options_are_not_there_for_another_locustfile(tmp_path: Path, locust_procs: LocustProcesses) -> None:
    foreign = tmp_path / "foreign_locustfile.py"
    foreign.write_text(FOREIGN)
    both = f"{LOCUST_DIR / 'loadlab_plugin.py'},{foreign}"
    proc = locust_procs.start("master", "--headless", "--scenario", "seed", "-H", "http://127.0.0.1:9", locustfile=both)
    assert proc.wait(60) == 2
    assert "unrecognized arguments: --scenario" in locust_procs.log("master")
