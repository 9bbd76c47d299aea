"""The chart's rendered Locust command lines run for real: the seed's own locustfile, given to the chart inline,
through the run mode's master Job and worker Job against the API, with the plugin's verdict and saved results.

What is rewritten (each asserted to hit exactly once, so a template change cannot slip past): `python` (this
interpreter), the image paths (/app/locust -> the repo's locust/, /mnt/locust -> a folder holding the rendered
ConfigMap's file), /results -> a temporary folder, the API Service URL, the master's Service name and ports
(free loopback ports), and the exporter's 0.0.0.0 (loopback here). Everything else runs as rendered.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from loadlab.process import free_port
from loadlab.services import Api
from tests.chart.conftest import ROOT, container, get, render, sets

pytestmark = [pytest.mark.chart, pytest.mark.integration]

SEED_LOCUSTFILE = ROOT / "tests" / "fixtures" / "seed_locustfile.py"
RUN_ID = "seed-chart"
ARGS = (
    *("--set-file", f"locust.locustfile={SEED_LOCUSTFILE}"),
    *sets("locust.master.mode=run", f"locust.runId={RUN_ID}", "locust.workers.replicas=1", "locust.users=4"),
    *sets("locust.spawnRate=4", "locust.runTime=8s", "locust.run.exporterLinger=1", "locust.stopTimeout=2"),
)
#: A Locust-only install: no API, no data tier, the target given as locust.host (the test's API here).
LOCUST_ONLY = sets("api.enabled=false", "postgresql.enabled=false", "pgbouncer.enabled=false", "redis.enabled=false")


def _swap(argv: list[str], old: str, new: str) -> list[str]:
    hits = [a for a in argv if old in a]
    assert len(hits) == 1, f"expected one {old!r} in {argv}"
    return [a.replace(old, new) for a in argv]


def _localise(c: dict[str, Any], mounted: Path, results: Path, api: str) -> list[str]:
    argv = [*c["command"], *c.get("args", [])]
    assert argv[0] == "python"
    argv = [sys.executable, *argv[1:]]
    argv = _swap(argv, "/app/locust/", f"{ROOT / 'locust'}/")
    argv = _swap(argv, "/mnt/locust/", f"{mounted}/")
    for old, new in (("/results/", f"{results}/"), ("http://loadlab-api:8000", api)):
        if any(old in a for a in argv):
            argv = [a.replace(old, new) for a in argv]
    return argv


@pytest.mark.parametrize("install", ["with-the-board", "locust-only"])
def test_the_seeds_locustfile_runs_through_the_rendered_run_jobs(install: str, live_api: Api, tmp_path: Path) -> None:
    if install == "locust-only":
        objs = render(*ARGS, *LOCUST_ONLY, "--set", f"locust.host={live_api.url}")
        assert not [o for o in objs if o["metadata"]["name"] in ("loadlab-api", "loadlab-postgresql")]
    else:
        objs = render(*ARGS)
    mounted = tmp_path / "mnt-locust"
    mounted.mkdir()
    configmap = get(objs, "ConfigMap", "loadlab-locustfile")["data"]
    (mounted / "locustfile.py").write_text(configmap["locustfile.py"])  # what the pods mount, not the fixture
    results = tmp_path / "results"
    (results / RUN_ID).mkdir(parents=True)  # the results-dir init container's `mkdir -p`
    master_c = container(get(objs, "Job", f"loadlab-locust-run-{RUN_ID}"), "master")
    worker_c = container(get(objs, "Job", f"loadlab-locust-worker-{RUN_ID}"), "worker")
    assert master_c["workingDir"] == worker_c["workingDir"] == "/mnt/locust"
    zmq, exporter = free_port(), free_port()
    master = _localise(master_c, mounted, results, live_api.url)
    master[master.index("--master-bind-port") + 1] = str(zmq)
    master[master.index("--exporter-port") + 1] = str(exporter)
    master[master.index("--exporter-host") + 1] = "127.0.0.1"
    master += ["--master-bind-host", "127.0.0.1"]
    worker = _localise(worker_c, mounted, results, live_api.url)
    worker = _swap(worker, "loadlab-locust-master", "127.0.0.1")
    worker[worker.index("--master-port") + 1] = str(zmq)
    logs = tmp_path / "logs"
    logs.mkdir()
    with (logs / "master.log").open("w") as m_log, (logs / "worker.log").open("w") as w_log:
        procs = [
            subprocess.Popen(master, cwd=mounted, stdout=m_log, stderr=subprocess.STDOUT),
            subprocess.Popen(worker, cwd=mounted, stdout=w_log, stderr=subprocess.STDOUT),
        ]
        try:
            master_code = procs[0].wait(120)
            worker_code = procs[1].wait(30)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    output = (logs / "master.log").read_text()[-3000:] + (logs / "worker.log").read_text()[-2000:]
    assert master_code == 0, output
    assert worker_code == 0, "the worker Job's pod ends (and succeeds) with the master\n" + output
    saved = results / RUN_ID
    for name in ("locust_stats.csv", "locust.html", "locust.json", "verdict.json"):
        assert (saved / name).exists(), f"{name} not saved\n{output}"
    verdict = json.loads((saved / "verdict.json").read_text())
    assert verdict["status"] == "pass" and verdict["run"]["run_id"] == RUN_ID
    assert verdict["run"]["scenario"] == "locustfile" and verdict["run"]["host"] == live_api.url
    statuses = {f"{e['method']} {e['name']}": e["statuses"] for e in verdict["endpoints"]}
    assert statuses["POST /auth/login"] == {"200": 4}, statuses
    assert statuses["GET /posts/"].get("200", 0) >= 4


def test_rendered_run_waits_for_the_master_like_the_pods_do() -> None:
    """The worker Job's init container script, as rendered, against a port that opens late (the master's)."""
    objs = render(*ARGS)
    init = container(get(objs, "Job", f"loadlab-locust-worker-{RUN_ID}"), "wait-for-master")
    port = free_port()
    env = {"MASTER_HOST": "127.0.0.1", "MASTER_PORT": str(port), "WAIT_SECONDS": "20", "PATH": "/usr/bin:/bin"}
    with subprocess.Popen([sys.executable, *init["command"][1:]], env=env, stdout=subprocess.PIPE, text=True) as waiter:
        time.sleep(3)
        assert waiter.poll() is None, "still waiting: nothing listens yet"
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
            server.listen()
            out, _ = waiter.communicate(timeout=15)
        assert waiter.returncode == 0 and "the master listens" in out
