"""lab/loadlab/dashboards.py: reading panels and substituting Grafana's variables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from loadlab import dashboards as d

TINY = {
    "uid": "tiny",
    "title": "Tiny",
    "templating": {
        "list": [
            {"name": "job", "type": "query", "includeAll": True, "allValue": ".+", "current": {"value": ["$__all"]}},
            {"name": "route", "type": "query", "includeAll": True, "current": {"value": "$__all"}},
            {"name": "env", "type": "custom", "includeAll": False, "current": {"value": "lab"}},
        ]
    },
    "annotations": {"list": [{"name": "runs", "expr": 'up{job=~"$job"}'}]},
    "panels": [
        {"id": 1, "type": "timeseries", "title": "open", "targets": [{"refId": "A", "expr": "up"}]},
        {
            "id": 2,
            "type": "row",
            "title": "folded",
            "collapsed": True,
            "panels": [
                {
                    "id": 3,
                    "type": "timeseries",
                    "title": "inside",
                    "fieldConfig": {"defaults": {"unit": "s"}},
                    "loadlab_requires": "pgbouncer_exporter",
                    "loadlab_requires_reason": "not in Debian",
                    "targets": [
                        {"refId": "A", "expr": 'rate(x{job=~"$job",route=~"${route}",env="[[env]]"}[$__rate_interval])'}
                    ],
                }
            ],
        },
    ],
}


def test_substitute_builtins_and_all_forms() -> None:
    expr = 'rate(x{a=~"$job", b=~"${route}", c="[[env]]", d=~"${job:regex}"}[$__rate_interval]) offset $__interval'
    out = d.substitute(expr, {"job": ".+", "env": "lab"}, window="30s", interval="15s")
    assert out == 'rate(x{a=~".+", b=~".+", c="lab", d=~".+"}[30s]) offset 15s'


def test_substitute_range_variables() -> None:
    assert d.substitute("increase(x[$__range])", range_="2h") == "increase(x[2h])"
    assert d.substitute("$__interval_ms", window="1m") == "60000"


def test_default_variables_use_all_value_or_current() -> None:
    assert d.default_variables(TINY) == {"job": ".+", "route": ".+", "env": "lab"}


def test_panels_inside_collapsed_rows_are_found(tmp_path: Path) -> None:
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    panels = d.panel_queries(tmp_path, window="2m")
    assert [(p.panel_id, p.row) for p in panels] == [(1, None), (3, "folded")]
    inside = panels[1]
    assert inside.targets[0].expr == 'rate(x{job=~".+",route=~".+",env="lab"}[2m])'
    assert inside.unit == "s" and inside.key == "tiny/3"
    assert inside.requires == "pgbouncer_exporter" and inside.requires_reason == "not in Debian"


def test_overrides_pin_a_variable(tmp_path: Path) -> None:
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    panel = d.panel_queries(tmp_path, overrides={"route": "/posts/"})[1]
    assert 'route=~"/posts/"' in panel.targets[0].expr


def test_annotation_queries_are_substituted(tmp_path: Path) -> None:
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    assert d.annotation_queries(tmp_path) == [("tiny", "runs", 'up{job=~".+"}')]


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        d.load_dashboards(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no \\*.json"):
        d.load_dashboards(tmp_path)


def test_repository_dashboards_are_found_without_a_path() -> None:
    uids = {dash["uid"] for dash in d.load_dashboards()}
    assert uids == {"loadlab-overview", "loadlab-api", "loadlab-loadtest", "loadlab-datatier"}
    assert all(p.targets for p in d.panel_queries())


def test_missing_exporter_names_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    panel = d.PanelQueries("u", "U", 1, "t", "s", "timeseries", None, (), "pgbouncer_exporter", "not in Debian")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(d, "_module_exists", lambda name: False)
    reason = d.missing_exporter(panel)
    assert reason is not None and "pgbouncer_exporter" in reason and "not in Debian" in reason
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    assert d.missing_exporter(panel) is None


def test_missing_exporter_trusts_the_callers_list() -> None:
    panel = d.PanelQueries("u", "U", 1, "t", "s", "timeseries", None, (), "pgbouncer_exporter", "not in Debian")
    assert d.missing_exporter(panel, available={"pgbouncer_exporter"}) is None
    assert d.missing_exporter(panel, available=set()) is not None
    plain = d.PanelQueries("u", "U", 2, "t", "s", "timeseries", None, ())
    assert d.missing_exporter(plain, available=set()) is None


def test_the_labs_pgbouncer_stand_in_counts_as_the_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab ships loadlab.pgbouncer_exporter with the prometheus-community names."""
    panel = d.PanelQueries("u", "U", 1, "t", "s", "timeseries", None, (), "pgbouncer_exporter", "not in Debian")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert d.missing_exporter(panel) is None


def test_report_charts_come_from_existing_panels() -> None:
    pytest.importorskip("matplotlib", reason="needs matplotlib (loadlab.charts draws with it)")
    specs = d.report_charts()
    assert [s.title for s in specs] == [title for _uid, title in d.REPORT_PANELS]
    for spec in specs:
        assert spec.exprs and spec.unit and spec.source.startswith("Board Loadlab / ")
        assert all("$" not in e for e in spec.exprs), spec.title
        assert all(f"[{d.REPORT_WINDOW}]" in e for e in spec.exprs if "rate(" in e), spec.title


def test_find_panel_names_what_is_missing() -> None:
    with pytest.raises(KeyError, match="'Nope' on dashboard 'loadlab-api'"):
        d.find_panel("loadlab-api", "Nope", d.panel_queries())


def test_metric_names_ignores_labels_functions_and_keywords() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, name) (rate(a_bucket{name=~"x|y", le!="1"}[5m]))) '
        "/ on (job) group_left (c) b offset 5m > bool 1e3 or vector(0) * c:recorded:rule"
    )
    assert d.metric_names(expr) == {"a_bucket", "b", "c:recorded:rule"}
