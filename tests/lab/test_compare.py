"""The comparison's failure reasons: Locust's error text reduced to status and the API's detail."""

from __future__ import annotations

import re
from collections.abc import Callable, Set
from pathlib import Path

import pytest

from loadlab import compare
from loadlab.cli import main
from loadlab.compare import short_reason
from loadlab.loadtest import LoadOptions
from loadlab.presets import Preset
from loadlab.result import RunResult
from tests.lab.sample_result import sample_result


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            "CatchResponseError('expected 200, got 503: \\'{\"detail\":"
            "\"server busy: no database connection available\"}\\'')",
            "503 server busy: no database connection available",
        ),
        ("CatchResponseError(\"expected 200, got 0: ''\")", "0 (no response)"),
        (
            "CatchResponseError('expected 201, got 0: \"ConnectionResetError(104, \\'Connection reset by peer\\')\"')",
            "0 (no response: ConnectionResetError)",
        ),
        ("CatchResponseError('expected 201, got 401')", "401"),
        ("ConnectionRefusedError(111, 'Connection refused')", "ConnectionRefusedError(111, 'Connection refused')"),
    ],
)
def test_short_reason(error: str, reason: str) -> None:
    assert short_reason(error) == reason


def _fake_lab(ran: list[tuple[str, LoadOptions]], interrupted: Set[str] = frozenset()) -> Callable[..., RunResult]:
    """Stands in for `run_lab` (the whole stack, tested by the lab's own e2e tests): the sample result, its
    GET p95 the preset's index x 100 ms so each preset's row is its own."""

    def run_lab(root: Path, preset: Preset, options: LoadOptions, **_: object) -> RunResult:
        ran.append((preset.name, options))
        result = sample_result(root / preset.name / "report")
        result.endpoints[0].p95_ms = 100.0 * len(ran)
        result.interrupted = preset.name in interrupted
        return result

    return run_lab


def test_compare_command_runs_each_preset_under_the_same_load_and_writes_one_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[tuple[str, LoadOptions]] = []
    monkeypatch.setattr(compare, "run_lab", _fake_lab(ran))
    code = main(["compare", "seed-baseline", "tuned", "-u", "7", "-t", "5", "-w", "1", "--root", str(tmp_path)])
    assert code == 0
    assert [name for name, _ in ran] == ["seed-baseline", "tuned"]
    assert ran[0][1] == ran[1][1] and (ran[0][1].users, ran[0][1].duration, ran[0][1].workers) == (7, 5, 1)
    (out,) = tmp_path.glob("compare-*")
    md = (out / "compare.md").read_text()
    assert "| seed-baseline | GET /posts/ | 900 | 0 | 0.0 | 12 | 100 | 60 | 45.0 |" in md
    assert "| tuned | GET /posts/ | 900 | 0 | 0.0 | 12 | 200 | 60 | 45.0 |" in md
    assert "| tuned | Total | 1080 | 3 | 0.3 |" in md
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    # The API's figures and the clients' failure reasons, per preset (the sample's 3 POSTs got 503).
    assert "pool wait p95 (s)" in printed and "0.004" in printed
    assert re.search(r"tuned\s+3\s+503\s*$", printed, re.MULTILINE)
    assert f"comparison: {out / 'compare.md'}" in printed


def test_compare_stops_after_an_interrupted_run_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str, LoadOptions]] = []
    monkeypatch.setattr(compare, "run_lab", _fake_lab(ran, interrupted={"seed-baseline"}))
    assert main(["compare", "seed-baseline", "tuned", "-t", "5", "--root", str(tmp_path)]) == 130
    assert [name for name, _ in ran] == ["seed-baseline"]


def test_compare_checks_every_preset_before_running_any(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str, LoadOptions]] = []
    monkeypatch.setattr(compare, "run_lab", _fake_lab(ran))
    assert main(["compare", "tuned", "no-such-preset", "--root", str(tmp_path)]) == 2
    assert ran == [] and not list(tmp_path.glob("compare-*"))
