"""Every dashboard query, run against a real Prometheus that scrapes a fake exporter with the
contract's metrics: it must parse, evaluate, and return at least one series."""

from __future__ import annotations

import time

import pytest

from loadlab import dashboards as d

PANELS = d.panel_queries(window="1m")
TARGETS = [(p, t) for p in PANELS for t in p.targets]


@pytest.mark.parametrize(("panel", "target"), TARGETS, ids=[f"{p.key}-{t.ref_id}" for p, t in TARGETS])
def test_panel_query_returns_series(prometheus, panel: d.PanelQueries, target: d.Query) -> None:
    body = prometheus.query(target.expr)
    assert body["status"] == "success", f"{panel.dashboard_title} / {panel.title}: {body.get('error')}"
    result = body["data"]["result"]
    assert result, f"{panel.dashboard_title} / {panel.title}: no series for {target.expr}"
    # NaN everywhere means a broken ratio or quantile, not data.
    values = [s["value"][1] for s in result] if body["data"]["resultType"] == "vector" else []
    assert any(v not in ("NaN", "+Inf", "-Inf") for v in values), f"{panel.title}: {values}"


@pytest.mark.parametrize("ann", d.annotation_queries(), ids=lambda a: f"{a[0]}-{a[1]}")
def test_run_annotation_marks_a_running_test(prometheus, ann: tuple[str, str, str]) -> None:
    body = prometheus.query(ann[2])
    assert body["status"] == "success", body.get("error")
    [series] = body["data"]["result"]
    assert series["metric"] == {"run_id": "test-run", "scenario": "seed", "shape": "constant"}


@pytest.mark.parametrize("var", d.variable_queries(), ids=lambda v: f"{v[0]}-{v[1]}")
def test_variable_query_lists_values(prometheus, var: tuple[str, str, str, str]) -> None:
    _uid, _name, label, selector = var
    body = prometheus.get(f"/api/v1/label/{label}/values", **{"match[]": selector})
    assert body["status"] == "success", body.get("error")
    assert body["data"], f"no values of {label} for {selector}"


def test_a_broken_query_is_reported(prometheus) -> None:
    """The check above can fail: Prometheus rejects a bad expression with status error."""
    body = prometheus.query("sum(rate(board_http_requests_total[$__rate_interval]))")
    assert body["status"] == "error"


def test_recording_rules_load_and_evaluate(prometheus) -> None:
    body = prometheus.get("/api/v1/rules")
    assert body["status"] == "success"
    groups = {g["name"]: g for g in body["data"]["groups"]}
    assert set(groups) == {"loadlab.recording", "loadlab.alerts", "loadlab.saturation"}
    for group in groups.values():
        for rule in group["rules"]:
            assert rule["health"] in ("ok", "unknown"), (rule["name"], rule.get("lastError"))


def test_live_problems_is_empty_when_every_metric_exists(prometheus) -> None:
    now = time.time()
    problems, skipped = d.live_problems(
        prometheus.base, now - 30, now, step=1, window="10s", available={"pgbouncer_exporter"}
    )
    assert problems == [] and skipped == []


def test_live_problems_reports_empty_panels_and_skips_missing_exporters(prometheus) -> None:
    """Over a window before any data, every panel is a problem, except the PgBouncer ones,
    which are skipped with their reason when the exporter is not available."""
    long_ago = time.time() - 86400
    problems, skipped = d.live_problems(prometheus.base, long_ago - 60, long_ago, available=set())
    assert problems and all("no series" in p for p in problems)
    assert skipped and all("pgbouncer_exporter" in s for s in skipped)
