"""`loadlab run --locustfile FILE --host URL`: your own locustfile, distributed, against a service the lab did not
start, with the plugin's verdict, Prometheus and the report (the seed's own locustfile against a running API)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from loadlab.result import RunResult
from loadlab.services import Api
from tests.lab.helpers import lab_env, loadlab_argv, processes_under

pytestmark = pytest.mark.integration

SEED_LOCUSTFILE = Path(__file__).resolve().parents[1] / "fixtures" / "seed_locustfile.py"


def test_the_seeds_locustfile_against_a_running_api_writes_a_report_with_a_verdict(
    live_api: Api, tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    argv = loadlab_argv(
        *["run", "--locustfile", str(SEED_LOCUSTFILE), "--host", live_api.url, "-u", "6", "-r", "6", "-t", "8"],
        *["-w", "2", "--root", str(root), "--run-id", "seed-elsewhere"],
    )
    done = subprocess.run(argv, capture_output=True, text=True, env=lab_env(), timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = root / "seed-elsewhere"
    result = RunResult.load(run / "report" / "summary.json")
    assert result.target == live_api.url and result.passed
    assert result.verdict["status"] == "pass" and result.verdict["run"]["scenario"] == "seed_locustfile"
    endpoints = {e.key: e for e in result.endpoints}
    assert endpoints["POST /auth/login"].statuses == {"200": 6}, "each of the 6 users logged in once"
    assert endpoints["GET /posts/"].requests > 0 and endpoints["GET /posts/"].statuses.get("200")
    assert json.loads((run / "report" / "verdict.json").read_text()) == result.verdict
    for name in ("index.html", "locust.html", "locust_stats.csv", "locust.json"):
        assert (run / "report" / name).exists(), name
    assert any(c.title and c.series for c in result.charts), "the load-test charts from the plugin's exporter"
    assert f"target: {live_api.url}" in done.stdout and done.stdout.strip().endswith("index.html")
    assert not (run / "postgres").exists() and not (run / "state.json").exists(), "no board stack was started"
    # The diagnosis judges the load generator only: the service's signals are unmeasured, not "fine".
    assert result.diagnosis is not None and done.stdout.lstrip().startswith("diagnosis: ")
    measured = {f.signal for f in result.diagnosis.findings + result.diagnosis.quiet}
    assert measured == {"generator_cpu", "generator_demand"}, result.diagnosis
    assert {"api_loop_cpu", "db_pool_wait", "postgres_cpu"} <= set(result.diagnosis.unmeasured)
    assert not processes_under(run), "nothing left running"


def test_suite_options_with_your_own_locustfile_are_refused(tmp_path: Path) -> None:
    own = ["--locustfile", str(SEED_LOCUSTFILE), "--host", "http://127.0.0.1:9"]
    argv = loadlab_argv("run", *own, "--scenario", "bare", "--root", str(tmp_path / "runs"))
    done = subprocess.run(argv, capture_output=True, text=True, env=lab_env(), timeout=60, check=False)
    assert done.returncode == 2 and "--scenario: the load suite's options" in done.stderr
    assert not (tmp_path / "runs").exists()
