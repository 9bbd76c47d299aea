"""The Prometheus rules: promtool's own checks and unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.tools import missing_tool

RULES_DIR = Path(__file__).resolve().parents[2] / "grafana" / "rules"
RULES = RULES_DIR / "loadlab.rules.yaml"
ALERTS = {
    "LoadlabDbPoolWaitHigh",
    "LoadlabExecutorQueueSaturated",
    "LoadlabExecutorRejecting",
    "LoadlabApiErrorRatioHigh",
    "LoadlabLocustFailureRatioHigh",
    "LoadlabGeneratorCpuHigh",
    "LoadlabTargetDown",
}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        missing_tool("promtool", "apt-get install prometheus (scripts/bootstrap.sh does)")
    assert path is not None
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, check=False, cwd=RULES_DIR)


def test_promtool_check_rules() -> None:
    result = run("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    tests = sorted(str(p) for p in (RULES_DIR / "tests").glob("*.yaml"))
    assert tests
    result = run("test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_for_severity_and_annotations() -> None:
    yaml = pytest.importorskip("yaml", reason="needs pyyaml (the test extra)")
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    assert set(alerts) == ALERTS
    for name, rule in alerts.items():
        assert rule.get("for"), name
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    yaml = pytest.importorskip("yaml", reason="needs pyyaml (the test extra)")
    firing: set[str] = set()
    silent: set[str] = set()
    for path in (RULES_DIR / "tests").glob("*.yaml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check["exp_alerts"] else silent).add(check["alertname"])
    assert firing == ALERTS
    assert silent == ALERTS


def test_a_broken_rule_fails_the_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rules.yaml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(rate(up[1m])\n")
    assert run("check", "rules", str(bad)).returncode != 0
