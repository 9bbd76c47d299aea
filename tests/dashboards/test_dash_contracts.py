"""Every metric name the dashboards and rules read is named in docs/contracts.md, so renaming
a metric there (or here) breaks this test instead of leaving an empty panel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loadlab import dashboards as d

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = REPO_ROOT / "docs" / "contracts.md"
RULES = sorted((REPO_ROOT / "grafana" / "rules").glob("*.rules.yaml"))
PREFIXES = ("board_", "locust_", "pg_", "pgbouncer_", "redis_")
BUILTIN = {"up"}  # set by Prometheus for every target


def contract_metrics(text: str) -> set[str]:
    """Backticked metric names of contracts.md; a histogram (a line saying so) also brings its
    `_bucket`, `_sum` and `_count` series."""
    names: set[str] = set()
    for line in text.splitlines():
        for token in re.findall(r"`([a-z_:][a-z0-9_:]*)(?:\{[^`]*\})?`", line):
            if token.startswith(PREFIXES):
                names.add(token)
                if "histogram" in line:
                    names.update(f"{token}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
    return names


def contract_jobs(text: str) -> set[str]:
    line = next(ln for ln in text.splitlines() if ln.startswith("Prometheus job names"))
    return set(re.findall(r"`(\w+)`", line))


def rule_exprs() -> list[tuple[str, str]]:
    yaml = pytest.importorskip("yaml", reason="needs pyyaml (the test extra)")
    groups = [g for path in RULES for g in yaml.safe_load(path.read_text())["groups"]]
    return [(r.get("record") or r["alert"], r["expr"]) for g in groups for r in g["rules"]]


def recorded_names() -> set[str]:
    return {name for name, _expr in rule_exprs() if ":" in name}


def test_contract_list_is_parsed() -> None:
    names = contract_metrics(CONTRACTS.read_text())
    for expected in (
        "board_http_requests_total",
        "board_http_request_duration_seconds_bucket",
        "locust_response_time_seconds_bucket",
        "board_db_pool_connections_idle",
        "pgbouncer_pools_client_maxwait_seconds",
        "pg_locks_count",
        "redis_memory_used_bytes",
    ):
        assert expected in names
    assert "board_db_pool_size_bucket" not in names  # gauges get no histogram suffixes
    assert contract_jobs(CONTRACTS.read_text()) == {"api", "locust", "postgres", "pgbouncer", "redis", "prometheus"}


def test_dashboard_metrics_are_in_the_contract() -> None:
    allowed = contract_metrics(CONTRACTS.read_text()) | BUILTIN
    for panel in d.panel_queries():
        for target in panel.targets:
            unknown = d.metric_names(target.expr) - allowed
            assert not unknown, f"{panel.dashboard_title} / {panel.title} reads {unknown}, not in contracts.md"
    for uid, name, expr in d.annotation_queries():
        assert d.metric_names(expr) <= allowed, (uid, name)


def test_rule_metrics_are_in_the_contract() -> None:
    allowed = contract_metrics(CONTRACTS.read_text()) | BUILTIN | recorded_names()
    for name, expr in rule_exprs():
        unknown = d.metric_names(expr) - allowed
        assert not unknown, f"rule {name} reads {unknown}, not in contracts.md"


def test_job_names_are_the_contract_jobs() -> None:
    jobs = contract_jobs(CONTRACTS.read_text())
    texts = [t.expr for p in d.panel_queries() for t in p.targets] + [e for _n, e in rule_exprs()]
    for text in texts:
        for job in re.findall(r'\bjob="([^"]*)"', text):
            assert job in jobs, text


def test_a_renamed_metric_is_caught() -> None:
    text = CONTRACTS.read_text().replace("`board_executor_queue_depth`", "`board_executor_queue_length`")
    allowed = contract_metrics(text) | BUILTIN
    used = {n for p in d.panel_queries() for t in p.targets for n in d.metric_names(t.expr)}
    assert "board_executor_queue_depth" in used - allowed
