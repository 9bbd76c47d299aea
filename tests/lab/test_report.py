"""The report pipeline one way: a stored result (no stack) loads back equal and renders every part."""

from __future__ import annotations

import json
from pathlib import Path

from loadlab import report
from loadlab.result import ROWS, Consistency, CountCheck, RunResult
from tests.lab.sample_result import sample_result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_result_survives_json(tmp_path: Path) -> None:
    result = sample_result(tmp_path)
    path = tmp_path / "summary.json"
    result.save(path)
    assert json.loads(path.read_text())["passed"] is True
    loaded = RunResult.load(path)
    assert loaded == result
    assert loaded.endpoints[1].statuses == {"201": 177, "503": 3}
    assert loaded.charts[0].series[1].points[1] == [10.0, 0.05]
    assert loaded.diagnosis is not None and loaded.diagnosis.findings[0].resource == "bcrypt executor"


def test_a_stored_result_renders_every_file(tmp_path: Path) -> None:
    stored = tmp_path / "stored.json"
    sample_result(tmp_path / "report").save(stored)
    page_path = report.write(RunResult.load(stored))
    assert page_path == tmp_path / "report" / "index.html"
    md = (tmp_path / "report" / "summary.md").read_text()
    assert (tmp_path / "report" / "locust-p95-by-endpoint.png").read_bytes().startswith(PNG_MAGIC)
    assert not (tmp_path / "report" / "pool-connections.png").exists()  # no series: nothing to draw
    assert "![Locust p95 by endpoint](locust-p95-by-endpoint.png)" in md
    assert "pool-connections.png" not in md
    assert "| POST /posts/ | 180 | 3 | 20 | 48 | 90 | 9.0 | 201:177 503:3 |" in md
    assert "| 201s vs rows | posts | 177 | 177 | ok |" in md
    assert "| ... | 1 more (every reason and status checked) | 0 | 0 | ok |" in md  # comments: 0 on both sides
    assert RunResult.load(tmp_path / "report" / "summary.json") == RunResult.load(stored)


def test_the_diagnosis_comes_first_then_the_machine(tmp_path: Path) -> None:
    result = sample_result(tmp_path)
    md = report.markdown(result)
    assert md.index("## Diagnosis") < md.index("**Machine**") < md.index("## Requests")
    text = report.summary_text(result)
    assert text.startswith("diagnosis: the bcrypt executor saturated first")
    assert text.splitlines()[2].startswith("machine: Test CPU @ 2.0GHz, 2 cores")


def test_a_failed_verdict_and_a_mismatch_are_shown(tmp_path: Path) -> None:
    result = sample_result(tmp_path, passed=False)
    result.consistency = Consistency([CountCheck(ROWS, "posts", 177, 176)])
    assert not result.passed
    text = report.summary_text(result)
    assert "verdict: FAIL; broken: GET /posts/: p95_ms 1800 (limit <= 1000)" in text
    assert "consistency: BROKEN (posts rows: clients 177, server 176)" in text
    assert "| 201s vs rows | posts | 177 | 176 | MISMATCH |" in report.markdown(result)


def test_a_count_the_server_does_not_know_is_never_ok() -> None:
    unknown = CountCheck(ROWS, "posts", 0, None, "no database")
    assert not unknown.ok
    assert not Consistency([unknown]).ok
    assert not Consistency().ok  # no check at all proves nothing
