"""Structure of the generated dashboards: what Grafana's file provisioning and our conventions
(STYLE.md "Dashboards") need, checked on the committed JSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadlab import dashboards as dash_mod

REPO_ROOT = Path(__file__).resolve().parents[2]
GRAFANA = REPO_ROOT / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
# uids are part of every link and bookmark to a dashboard: renaming one is a breaking change.
EXPECTED_UIDS = {
    "api.json": "loadlab-api",
    "datatier.json": "loadlab-datatier",
    "loadtest.json": "loadlab-loadtest",
    "overview.json": "loadlab-overview",
}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows, their children (collapsed rows), and top-level panels."""
    out: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


@pytest.fixture(params=DASHBOARD_FILES, ids=lambda p: p.name)
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def test_the_four_dashboards_exist_with_stable_uids() -> None:
    assert {p.name: load(p)["uid"] for p in DASHBOARD_FILES} == EXPECTED_UIDS


def test_build_check_passes() -> None:
    """The committed JSON is what grafana/build.py generates (nobody hand-edited it)."""
    result = subprocess.run(
        [sys.executable, str(GRAFANA / "build.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_build_check_detects_a_hand_edit(tmp_path: Path) -> None:
    build = [sys.executable, str(GRAFANA / "build.py"), "--out", str(tmp_path)]
    subprocess.run(build, check=True, capture_output=True)
    victim = tmp_path / "api.json"
    victim.write_text(victim.read_text().replace('"unit": "s"', '"unit": "ms"', 1))
    result = subprocess.run([*build, "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "api.json" in result.stderr


def test_titles_are_hierarchical_and_tagged(dashboard: dict[str, Any]) -> None:
    assert dashboard["title"].startswith("Board Loadlab / ")
    assert "loadlab" in dashboard["tags"]
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["id"] is None  # provisioning assigns ids; a fixed one clashes across Grafanas


def test_panel_ids_are_unique_ints(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in all_panels(dashboard)]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids))


def test_every_panel_and_target_uses_the_prometheus_uid(dashboard: dict[str, Any]) -> None:
    for panel in all_panels(dashboard):
        assert panel.get("datasource") == DATASOURCE, panel["title"]
        for target in panel.get("targets", []):
            assert target.get("datasource") == DATASOURCE, (panel["title"], target["refId"])
    for var in dashboard["templating"]["list"]:
        assert var["datasource"] == DATASOURCE, var["name"]
    for ann in dashboard["annotations"]["list"]:
        if not ann.get("builtIn"):
            assert ann["datasource"] == DATASOURCE, ann["name"]


def test_no_ds_placeholders_anywhere() -> None:
    for path in DASHBOARD_FILES:
        assert "${DS_" not in path.read_text(), path.name
        assert '"__inputs"' not in path.read_text(), path.name  # export-for-sharing leftovers


def test_every_panel_has_unit_description_and_queries(dashboard: dict[str, Any]) -> None:
    for _row, panel in dash_mod.iter_panels(dashboard):
        title = panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), title
        description = panel.get("description", "")
        # A question first, then what healthy looks like.
        assert "?" in description and "Healthy" in description, title
        assert panel["targets"], title
        for target in panel["targets"]:
            assert target["expr"].strip(), title


def test_rates_use_rate_interval(dashboard: dict[str, Any]) -> None:
    """`$__rate_interval` keeps rates correct at every zoom level; a fixed window does not."""
    for _row, panel in dash_mod.iter_panels(dashboard):
        for target in panel["targets"]:
            for window in re.findall(r"\b(?:rate|increase|irate)\([^\[]*\[([^\]]+)\]", target["expr"]):
                assert window == "$__rate_interval", (panel["title"], target["expr"])


def test_panels_fit_the_grid(dashboard: dict[str, Any]) -> None:
    for panel in all_panels(dashboard):
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        assert pos["h"] > 0, panel["title"]


def test_variables_default_to_all_with_a_regex(dashboard: dict[str, Any]) -> None:
    for var in dashboard["templating"]["list"]:
        assert var["includeAll"] and var["allValue"] == ".+", var["name"]
        assert var["current"]["value"] == ["$__all"], var["name"]


def test_every_dashboard_marks_locust_runs(dashboard: dict[str, Any]) -> None:
    names = [a["name"] for a in dashboard["annotations"]["list"]]
    assert "Locust runs" in names
    run = next(a for a in dashboard["annotations"]["list"] if a["name"] == "Locust runs")
    assert "locust_run_info" in run["expr"] and "locust_runner_state" in run["expr"]
    assert run["enable"] is True


def test_generator_cpu_panel_has_a_90_percent_threshold() -> None:
    loadtest = load(GRAFANA / "dashboards" / "loadtest.json")
    panel = next(p for _r, p in dash_mod.iter_panels(loadtest) if p["title"] == "Worker CPU")
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert {"color": "red", "value": 0.9} in steps
    assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"


def test_overview_puts_client_and_server_side_by_side() -> None:
    overview = load(GRAFANA / "dashboards" / "overview.json")
    titles = {p["title"] for _r, p in dash_mod.iter_panels(overview)}
    for wanted in (
        "Locust p95 by endpoint",
        "Locust requests per second",
        "Locust failures per second",
        "Users (current vs target)",
        "API p95 by route",
        "DB pool checkout wait p95",
        "Executor queue depth",
        "Cache hit ratio",
        "PgBouncer waiting clients",
    ):
        assert wanted in titles
    assert overview["graphTooltip"] == 1  # shared crosshair: one time axis


def test_pgbouncer_panels_say_they_need_the_exporter() -> None:
    for panel in dash_mod.panel_queries():
        reads_pgbouncer = any("pgbouncer_" in t.expr for t in panel.targets)
        assert (panel.requires == "pgbouncer_exporter") == reads_pgbouncer, panel.key
        if panel.requires:
            assert panel.requires_reason


def test_provisioning_files() -> None:
    datasource = (GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    assert re.search(r"^\s+uid: prometheus\b", datasource, re.M)
    assert "url: ${PROMETHEUS_URL}" in datasource
    # Grafana expands only $VAR and ${VAR} in provisioning files; a shell default would be
    # looked up as a variable named "PROMETHEUS_URL:-..." and come out empty.
    assert ":-" not in datasource
    provider = (GRAFANA / "provisioning" / "dashboards" / "loadlab.yaml").read_text()
    assert "type: file" in provider
    assert "path: /var/lib/grafana/dashboards/loadlab" in provider


def test_readme_panel_counts_match_the_dashboards() -> None:
    """grafana/README.md lists each dashboard with its panel count; keep it honest."""
    readme = (GRAFANA / "README.md").read_text()
    for path in DASHBOARD_FILES:
        dashboard = load(path)
        count = sum(1 for _row in dash_mod.iter_panels(dashboard))
        assert re.search(rf"\| `{dashboard['uid']}` \| [^|]+ \| {count} \|", readme), (dashboard["uid"], count)
