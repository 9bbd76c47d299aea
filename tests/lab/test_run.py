"""End to end: `loadlab run` starts the whole stack, runs a distributed test and writes the report.

These are the slowest tests of the suite (about half a minute each): the lab with 2 workers, 50 users, 20 s.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadlab.dashboards import live_problems
from loadlab.formats import consistency_line
from loadlab.result import REASON_503, STATUS, RunResult
from tests.lab.helpers import as_from_a_terminal, lab_env, listening_ports, loadlab_argv, look_at, processes_under

pytestmark = pytest.mark.e2e

RUN_TIMEOUT = 300


@dataclass
class KeptRun:
    result: subprocess.CompletedProcess[str]
    run_dir: Path
    live_problems: list[str]
    live_skipped: list[str]
    alive_before_down: list[str]
    down: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One complete lab run (kept up for the live dashboard check, then `loadlab down`), shared below."""
    kept = kept_run(tmp_path_factory)
    return kept.result, kept.run_dir


_kept: list[KeptRun] = []


def kept_run(tmp_path_factory: pytest.TempPathFactory) -> KeptRun:
    if _kept:
        return _kept[0]
    root = tmp_path_factory.mktemp("lab")
    result = subprocess.run(
        loadlab_argv(
            *["run", "--root", str(root), "--run-id", "e2e", "--workers", "2", "--users", "50"],
            *["--spawn-rate", "10", "--duration", "20", "--keep"],
        ),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=lab_env(),
        check=False,
    )
    run_dir = root / "e2e"
    summary = json.loads((run_dir / "report" / "summary.json").read_text())
    state = json.loads((run_dir / "state.json").read_text())
    problems: list[str] = ["no prometheus kept"]
    skipped: list[str] = []
    if "prometheus" in state["urls"]:
        problems, skipped = live_problems(state["urls"]["prometheus"], summary["started_at"], summary["ended_at"])
    alive = processes_under(run_dir)
    down_argv = loadlab_argv("down", str(run_dir))
    down = subprocess.run(down_argv, capture_output=True, text=True, timeout=120, env=lab_env(), check=False)
    _kept.append(KeptRun(result, run_dir, problems, skipped, alive, down))
    return _kept[0]


def test_every_dashboard_panel_shows_data_during_a_real_run(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Grafana cannot run here, so its dashboards are proved by their queries against the run's Prometheus."""
    kept = kept_run(tmp_path_factory)
    assert kept.live_problems == []
    # Only panels whose exporter this machine lacks may be skipped, each with its reason.
    assert all("exporter" in reason for reason in kept.live_skipped), kept.live_skipped


def test_keep_leaves_the_stack_up_until_down(tmp_path_factory: pytest.TempPathFactory) -> None:
    kept = kept_run(tmp_path_factory)
    assert kept.alive_before_down, "--keep should leave the stack running"
    assert kept.down.returncode == 0, kept.down.stderr


def test_run_exits_zero_with_a_summary(finished_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, run_dir = finished_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "kept running" in result.stdout
    assert "verdict: PASS" in result.stdout
    assert re.search(r"GET /posts/\s+\d+\s+0\s", result.stdout), result.stdout


def test_report_has_every_part(finished_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, run_dir = finished_run
    report = run_dir / "report"
    for name in ("summary.md", "summary.json", "locust.html", "locust_stats.csv", "verdict.json"):
        assert (report / name).stat().st_size > 0, name
    pngs = [p for p in report.glob("*.png") if p.stat().st_size > 1000]
    assert len(pngs) >= 4, sorted(p.name for p in report.iterdir())
    summary = json.loads((report / "summary.json").read_text())
    assert summary["verdict"]["passed"] is True
    assert summary["interrupted"] is False
    # Every status the clients saw is in the result: per endpoint, they add up to Locust's request count.
    result = RunResult.load(report / "summary.json")
    assert all(sum(e.statuses.values()) == e.requests > 0 for e in result.endpoints), result.endpoints
    assert {c.file for c in result.charts if c.series} == {p.name for p in pngs}


def test_every_acknowledged_write_is_a_row(finished_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, run_dir = finished_run
    result = RunResult.load(run_dir / "report" / "summary.json")
    assert result.consistency is not None
    assert result.consistency.ok, consistency_line(result.consistency)
    [posts] = [c for c in result.consistency.rows if c.subject == "posts"]
    assert posts.clients > 0
    assert posts.clients == posts.server
    # 503s by reason and 401/422/429/503 by status, each against the API's own counters, exactly.
    kinds = {(c.kind, c.subject) for c in result.consistency.checks}
    assert {(REASON_503, "executor_full"), (STATUS, "401"), (STATUS, "422"), (STATUS, "429")} <= kinds
    assert result.server_counts is not None and result.server_counts.unknown == ""
    assert result.server_counts.statuses.get("200", 0) >= sum(e.statuses.get("200", 0) for e in result.endpoints)


def test_the_report_page_opens_in_a_browser(
    finished_run: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    """The last line of `loadlab run` is the page; in Chromium every chart loads from it and the verdict shows."""
    result, run_dir = finished_run
    page = run_dir / "report" / "index.html"
    assert result.stdout.rstrip().splitlines()[-1] == f"report: {page.resolve()}"
    seen = look_at(page, tmp_path / "index.png")
    pngs = sorted(p.name for p in (run_dir / "report").glob("*.png"))
    assert len(seen["images"]) == len(pngs) >= 4
    assert all(i["loaded"] and i["scheme"] == "data:image/png;base64" for i in seen["images"]), seen["images"]
    # PASS or FAIL is the run's (timing on a shared machine): the page must show the result's own.
    passed = RunResult.load(run_dir / "report" / "summary.json").passed
    assert seen["verdict"].startswith("PASS" if passed else "FAIL") and seen["verdictVisible"], seen
    assert seen["fetched"] == []
    assert {"locust.html", "locust_stats.csv", "locust_failures.csv", "verdict.json"} <= set(seen["links"])


def test_the_report_starts_with_the_diagnosis_then_the_machine(
    finished_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, run_dir = finished_run
    summary = RunResult.load(run_dir / "report" / "summary.json")
    assert summary.machine is not None
    assert summary.machine.bcrypt_cost10_ms > 0 and summary.machine.python_loop_ms > 0
    md = (run_dir / "report" / "summary.md").read_text()
    assert md.splitlines()[2] == "## Diagnosis"
    assert md.index("## Diagnosis") < md.index("**Machine**: ") < md.index("## Requests")
    assert "\nmachine: " in result.stdout
    # The diagnosis sampled the run: the API's, Locust's and Postgres' signals all had data.
    assert summary.diagnosis is not None and summary.diagnosis.headline
    measured = {f.signal for f in summary.diagnosis.findings + summary.diagnosis.quiet}
    expected = {"generator_cpu", "api_loop_cpu", "api_process_cpu", "postgres_cpu", "api_loop_demand", "loop_lag"}
    assert expected <= measured, summary.diagnosis.unmeasured
    assert result.stdout.index("diagnosis: ") < result.stdout.index("\nmachine: ")


def test_nothing_is_left_running(finished_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, run_dir = finished_run
    assert processes_under(run_dir) == []
    state = json.loads((run_dir / "state.json").read_text())
    assert state["pids"] == []
    ports = {int(url.rsplit(":", 1)[1]) for url in state["urls"].values()}
    assert ports and not ports & listening_ports()


def test_ctrl_c_half_way_stops_everything_and_says_so(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    root = tmp_path / "runs"
    proc = subprocess.Popen(
        loadlab_argv(
            "run", "--root", str(root), "--run-id", "intr", "--workers", "1", "--users", "10", "--duration", "120"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=lab_env(),
        preexec_fn=as_from_a_terminal,
    )
    run_dir = root / "intr"
    deadline = time.monotonic() + 120
    # Wait until the load test itself runs (the master's log exists and has been written to for a while).
    master_log = run_dir / "logs" / "locust-master.log"
    while time.monotonic() < deadline and not (master_log.exists() and master_log.stat().st_size > 0):
        time.sleep(0.5)
    time.sleep(5)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output[-3000:]
    summary = (run_dir / "report" / "summary.md").read_text()
    assert "Interrupted" in summary
    assert processes_under(run_dir) == []
