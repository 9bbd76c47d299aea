"""Read the Grafana dashboards as a list of Prometheus queries.

The lab's report draws its PNG charts with the dashboards' own queries, and the live test asks
the lab's Prometheus for every panel; both need the panel queries with Grafana's variables
replaced by something the plain HTTP API understands. Stdlib only: the report and the tests
import it without Grafana.

    for panel in panel_queries(window="30s"):
        for target in panel.targets:
            ...  # GET /api/v1/query_range?query=target.expr
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# grafana/dashboards relative to the repository root (this file is lab/loadlab/dashboards.py).
REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = REPO_ROOT / "grafana" / "dashboards"

# What "All" stands for when a variable has no allValue: any non-empty label value.
ALL_REGEX = ".+"

# Executables that provide each exporter named in a panel's `loadlab_requires`.
EXPORTER_EXECUTABLES: dict[str, tuple[str, ...]] = {
    "pgbouncer_exporter": ("pgbouncer_exporter", "prometheus-pgbouncer-exporter"),
    "postgres_exporter": ("prometheus-postgres-exporter", "postgres_exporter"),
    "redis_exporter": ("prometheus-redis-exporter", "redis_exporter"),
}


@dataclass(frozen=True)
class Query:
    """One panel target, ready for /api/v1/query or /api/v1/query_range."""

    ref_id: str
    expr: str  # variables substituted
    raw_expr: str  # as written in the dashboard
    legend: str
    instant: bool


@dataclass(frozen=True)
class PanelQueries:
    dashboard_uid: str
    dashboard_title: str
    panel_id: int
    title: str
    unit: str
    type: str
    row: str | None
    targets: tuple[Query, ...]
    requires: str | None = None  # exporter this panel needs, e.g. "pgbouncer_exporter"
    requires_reason: str | None = None

    @property
    def key(self) -> str:
        """Stable name for files and test ids: `<dashboard uid>/<panel id>`."""
        return f"{self.dashboard_uid}/{self.panel_id}"


def dashboards_dir(path: str | Path | None = None) -> Path:
    """The folder holding the dashboard JSON files: `path` if given, else the repository's."""
    folder = Path(path) if path is not None else DASHBOARDS_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"dashboards folder {str(folder)!r} does not exist")
    return folder


def load_dashboards(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Every dashboard JSON in the folder, sorted by file name for a stable order."""
    files = sorted(dashboards_dir(path).glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no *.json dashboards in {str(dashboards_dir(path))!r}")
    return [json.loads(f.read_text()) for f in files]


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(row title, panel) for every non-row panel, including panels inside collapsed rows."""
    row: str | None = None
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            row = panel.get("title")
            for child in panel.get("panels", []):  # a collapsed row keeps its panels inside
                yield row, child
            continue
        yield row, panel


def default_variables(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """Each template variable's value as Grafana would use it with the dashboard's defaults.

    A query variable with "All" (or includeAll and no explicit choice) becomes its allValue,
    else `.+`: the dashboards use them only inside `=~` matchers. Custom/constant/textbox
    variables take their current value.
    """
    values: dict[str, str] = {}
    for var in dashboard.get("templating", {}).get("list", []):
        current = var.get("current") or {}
        value = current.get("value")
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else "|".join(value) if value else None
        if value in (None, "", "$__all") and var.get("includeAll"):
            values[var["name"]] = var.get("allValue") or ALL_REGEX
        elif value not in (None, ""):
            values[var["name"]] = str(value)
        else:
            values[var["name"]] = str(var.get("query", "")) if var.get("type") in ("constant", "textbox") else ALL_REGEX
    return values


_VAR_FORMS = (
    re.compile(r"\$\{(\w+)(?::\w+)?\}"),  # ${var} and ${var:format}
    re.compile(r"\[\[(\w+)(?::\w+)?\]\]"),  # [[var]] (deprecated form)
    re.compile(r"\$(\w+)"),  # $var, last so that ${...} is handled first
)


def substitute(
    expr: str,
    variables: Mapping[str, str] | None = None,
    window: str = "1m",
    interval: str | None = None,
    range_: str = "1h",
) -> str:
    """Replace Grafana's variables so Prometheus can run `expr` directly.

    `$__rate_interval` and `$__interval` become `window` (`interval` if given for the latter),
    `$__range` becomes `range_`; dashboard variables come from `variables`; an unknown variable
    becomes `.+` so an `=~` matcher matches everything, as Grafana's "All" does.
    """
    variables = dict(variables or {})
    builtins = {
        "__rate_interval": window,
        "__interval": interval or window,
        "__range": range_,
        "__interval_ms": str(_duration_ms(interval or window)),
        "__range_ms": str(_duration_ms(range_)),
        "__range_s": str(_duration_ms(range_) // 1000),
    }

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in builtins:
            return builtins[name]
        return variables.get(name, ALL_REGEX)

    for form in _VAR_FORMS:
        expr = form.sub(repl, expr)
    return expr


def _duration_ms(text: str) -> int:
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}
    total = 0
    for number, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text):
        total += int(number) * units[unit]
    if total == 0:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return total


def panel_queries(
    path: str | Path | None = None,
    window: str = "1m",
    overrides: Mapping[str, str] | None = None,
    dashboards: list[dict[str, Any]] | None = None,
) -> list[PanelQueries]:
    """Every panel of every dashboard with its substituted queries.

    `window` replaces `$__rate_interval` (use at least 4 scrape intervals); `overrides` pins
    variables (e.g. {"name": "/posts/"}) instead of their "All" default.
    """
    result: list[PanelQueries] = []
    for dash in dashboards if dashboards is not None else load_dashboards(path):
        variables = {**default_variables(dash), **(overrides or {})}
        for row, panel in iter_panels(dash):
            targets = tuple(
                Query(
                    ref_id=tg.get("refId", ""),
                    expr=substitute(tg["expr"], variables, window=window),
                    raw_expr=tg["expr"],
                    legend=tg.get("legendFormat", ""),
                    instant=bool(tg.get("instant", False)),
                )
                for tg in panel.get("targets", [])
                if tg.get("expr")
            )
            result.append(
                PanelQueries(
                    dashboard_uid=dash["uid"],
                    dashboard_title=dash.get("title", dash["uid"]),
                    panel_id=int(panel["id"]),
                    title=panel.get("title", ""),
                    unit=panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""),
                    type=panel.get("type", ""),
                    row=row,
                    targets=targets,
                    requires=panel.get("loadlab_requires"),
                    requires_reason=panel.get("loadlab_requires_reason"),
                )
            )
    return result


def annotation_queries(
    path: str | Path | None = None, window: str = "1m", dashboards: list[dict[str, Any]] | None = None
) -> list[tuple[str, str, str]]:
    """(dashboard uid, annotation name, substituted expr) for every Prometheus annotation."""
    out: list[tuple[str, str, str]] = []
    for dash in dashboards if dashboards is not None else load_dashboards(path):
        variables = default_variables(dash)
        for ann in dash.get("annotations", {}).get("list", []):
            if ann.get("expr"):
                out.append((dash["uid"], ann.get("name", ""), substitute(ann["expr"], variables, window=window)))
    return out


def missing_exporter(panel: PanelQueries) -> str | None:
    """Why `panel` cannot show data on this machine (its exporter is not installed), or None."""
    if not panel.requires:
        return None
    names = EXPORTER_EXECUTABLES.get(panel.requires, (panel.requires,))
    if any(shutil.which(name) for name in names):
        return None
    reason = panel.requires_reason or "not installed"
    return f"needs {panel.requires} ({', '.join(names)} not on PATH): {reason}"


def variable_queries(
    path: str | Path | None = None, dashboards: list[dict[str, Any]] | None = None
) -> list[tuple[str, str, str, str]]:
    """(dashboard uid, variable name, label, series selector) for every `label_values(...)`
    variable: the Prometheus call is GET /api/v1/label/<label>/values?match[]=<selector>."""
    out: list[tuple[str, str, str, str]] = []
    for dash in dashboards if dashboards is not None else load_dashboards(path):
        variables = default_variables(dash)
        for var in dash.get("templating", {}).get("list", []):
            query = var.get("query")
            text = query.get("query", "") if isinstance(query, dict) else str(query or "")
            match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", text)
            if match:
                out.append((dash["uid"], var["name"], match.group(2), substitute(match.group(1), variables)))
    return out


# PromQL words that look like identifiers but are not metric names.
_PROMQL_KEYWORDS = frozenset(
    "by without on ignoring group_left group_right offset bool and or unless atan2 inf nan".split()
)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (a lexical scan, good enough for our queries).

    Drops string literals, label matchers `{...}`, ranges `[...]`, grouping clauses
    `by (...)`, function calls (`name(`) and keywords; what is left are metric names.
    """
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names: set[str] = set()
    for match in re.finditer(r"(?<![\w.:])([a-zA-Z_:][\w:]*)\b(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names
