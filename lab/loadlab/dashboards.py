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

import importlib.util
import json
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
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
# The lab's own stand-ins, exporting the same metric names (Debian has no pgbouncer_exporter).
EXPORTER_MODULES: dict[str, str] = {"pgbouncer_exporter": "loadlab.pgbouncer_exporter"}

# The panels the lab's report draws as PNGs, in report order: (dashboard uid, panel title).
# Client effect first, then the server's causes, then the generator's health.
REPORT_PANELS: tuple[tuple[str, str], ...] = (
    ("loadlab-loadtest", "Locust p95 by endpoint"),
    ("loadlab-loadtest", "Locust requests per second"),
    ("loadlab-loadtest", "Failure ratio"),
    ("loadlab-loadtest", "Users (current vs target)"),
    ("loadlab-api", "Latency p95 by route"),
    ("loadlab-api", "Pool checkout wait p50 / p95 / p99"),
    ("loadlab-api", "Pool connections"),
    ("loadlab-api", "Executor threads (capacity vs busy)"),
    ("loadlab-api", "Executor queue depth"),
    ("loadlab-api", "Cache lookups per second by result"),
    ("loadlab-api", "503s sent per second by reason"),
    ("loadlab-datatier", "Client connections (active / waiting)"),
    ("loadlab-loadtest", "Worker CPU"),
)
# The lab scrapes every second; 10 s spans enough samples for a rate yet shows short spikes.
REPORT_WINDOW = "10s"


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


def missing_exporter(panel: PanelQueries, available: Iterable[str] | None = None) -> str | None:
    """Why `panel` cannot show data here (its exporter is missing), or None.

    `available`: the exporters the caller knows it runs (e.g. the lab's stack); without it, an
    exporter counts as available when its executable is on PATH or the lab ships a stand-in.
    """
    if not panel.requires:
        return None
    names = EXPORTER_EXECUTABLES.get(panel.requires, (panel.requires,))
    if available is not None:
        if panel.requires in set(available):
            return None
    elif any(shutil.which(name) for name in names) or _module_exists(EXPORTER_MODULES.get(panel.requires)):
        return None
    reason = panel.requires_reason or "not installed"
    return f"needs {panel.requires} ({', '.join(names)} not running here): {reason}"


def _module_exists(name: str | None) -> bool:
    try:
        return name is not None and importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def find_panel(uid: str, title: str, panels: Iterable[PanelQueries]) -> PanelQueries:
    """The panel titled `title` on dashboard `uid`; KeyError names both when there is none."""
    for panel in panels:
        if panel.dashboard_uid == uid and panel.title == title:
            return panel
    raise KeyError(f"no panel {title!r} on dashboard {uid!r}")


def report_charts(
    panels: Iterable[tuple[str, str]] = REPORT_PANELS, window: str = REPORT_WINDOW, path: str | Path | None = None
) -> list[Any]:
    """The report's chart specs (`loadlab.charts.ChartSpec`), built from the dashboards' panels.

    Imported lazily: `loadlab.charts` needs matplotlib, this module does not.
    """
    from loadlab.charts import ChartSpec

    every = panel_queries(path, window=window)
    specs = []
    for uid, title in panels:
        panel = find_panel(uid, title, every)
        specs.append(
            ChartSpec(
                title=panel.title,
                unit=panel.unit,
                exprs=tuple(t.expr for t in panel.targets),
                legends=tuple("" if t.legend == "__auto" else t.legend for t in panel.targets),
                source=f"{panel.dashboard_title} / {panel.title}",
            )
        )
    return specs


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


# PromQL words that look like identifiers but are not metric names: its keywords and operators, then its numbers.
_PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless", "atan2"}
    | {"inf", "nan"}
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


LIVE_QUERY_TIMEOUT = 10.0  # seconds per Prometheus query


def live_problems(
    prometheus_url: str,
    start: float,
    end: float,
    step: float = 2.0,
    window: str = REPORT_WINDOW,
    available: Iterable[str] | None = None,
    path: str | Path | None = None,
) -> tuple[list[str], list[str]]:
    """Ask a live Prometheus for every panel over [start, end]: (problems, skipped).

    A problem is a target whose query fails or returns no series; a panel whose exporter is
    missing (see `missing_exporter`) is skipped, with the reason, instead. The live test of a
    lab run is `problems, skipped = live_problems(url, t0, t1); assert not problems`.
    """
    problems: list[str] = []
    skipped: list[str] = []
    for panel in panel_queries(path, window=window):
        reason = missing_exporter(panel, available)
        if reason:
            skipped.append(f"{panel.dashboard_title} / {panel.title}: {reason}")
            continue
        for target in panel.targets:
            name = f"{panel.dashboard_title} / {panel.title} [{target.ref_id}]"
            params = {"query": target.expr, "start": start, "end": end, "step": step}
            url = f"{prometheus_url.rstrip('/')}/api/v1/query_range?{urllib.parse.urlencode(params)}"
            try:
                with urllib.request.urlopen(url, timeout=LIVE_QUERY_TIMEOUT) as resp:
                    body = json.loads(resp.read())
            except urllib.error.HTTPError as err:
                with err:
                    body = json.loads(err.read() or b"{}")
            except OSError as err:
                problems.append(f"{name}: {err}")
                continue
            if body.get("status") != "success":
                problems.append(f"{name}: {body.get('error', body)} in {target.expr}")
            elif not body["data"]["result"]:
                problems.append(f"{name}: no series for {target.expr}")
    return problems, skipped
