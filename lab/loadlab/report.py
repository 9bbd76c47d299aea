"""The report of a run: a summary table (terminal + Markdown), Locust's own files, PNG charts, the verdict,
the consistency check (every 201 the clients saw is a row in Postgres), the preset and the versions used."""

from __future__ import annotations

import csv
import json
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from loadlab import charts
from loadlab.stack import CREATED_BY

RATE_WINDOW = "10s"
#: How long to wait, after the load, for a scrape of the API that carries the run's final counters.
SETTLE_TIMEOUT = 30.0

BUILTIN_CHARTS = (
    charts.ChartSpec("Locust p95 by endpoint", "s", (
        f"histogram_quantile(0.95, sum by (le, name) (rate(locust_response_time_seconds_bucket[{RATE_WINDOW}])))",),
        ("{{name}}",)),
    charts.ChartSpec("Locust requests per second", "reqps", (
        f"sum by (name) (rate(locust_requests_total[{RATE_WINDOW}]))",
        f"sum(rate(locust_request_failures_total[{RATE_WINDOW}]))"), ("{{name}}", "failures")),
    charts.ChartSpec("Users", "short", ("locust_users", "locust_target_users"), ("users", "target")),
    charts.ChartSpec("API p95 by route", "s", (
        "histogram_quantile(0.95, sum by (le, route) "
        f"(rate(board_http_request_duration_seconds_bucket[{RATE_WINDOW}])))",),
        ("{{route}}",)),
    charts.ChartSpec("DB pool checkout wait p95", "s", (
        f"histogram_quantile(0.95, sum by (le) (rate(board_db_pool_checkout_wait_seconds_bucket[{RATE_WINDOW}])))",),
        ("p95 wait",)),
    charts.ChartSpec("DB pool occupancy", "short", (
        "board_db_pool_connections_in_use", "board_db_pool_size + board_db_pool_max_overflow"),
        ("in use", "size + overflow")),
    charts.ChartSpec("bcrypt executor queue", "short", ("board_executor_queue_depth", "board_executor_busy_workers"),
                     ("queued", "busy workers")),
    charts.ChartSpec("Cache lookups by result", "ops", (
        f"sum by (result) (rate(board_cache_lookups_total[{RATE_WINDOW}]))",), ("{{result}}",)),
)  # fmt: skip


#: Figures the API's metrics give over the whole run window (`{w}`), the causes next to Locust's effects.
SERVER_FIGURES = {
    "pool wait p95 (s)": "histogram_quantile(0.95, sum by (le) "
    "(increase(board_db_pool_checkout_wait_seconds_bucket[{w}])))",
    "pool wait mean (s)": "sum(increase(board_db_pool_checkout_wait_seconds_sum[{w}]))"
    " / clamp_min(sum(increase(board_db_pool_checkout_wait_seconds_count[{w}])), 1)",
    "pool timeouts": "sum(increase(board_db_pool_checkout_timeouts_total[{w}]))",
    "503s sent": "sum(increase(board_overload_rejections_total[{w}]))",
    "executor wait p95 (s)": "histogram_quantile(0.95, sum by (le) "
    "(increase(board_executor_wait_seconds_bucket[{w}])))",
    "api /metrics answered (ratio)": 'avg_over_time(up{{job="api"}}[{w}])',
    "cache hit ratio": 'sum(increase(board_cache_lookups_total{{result="hit"}}[{w}]))'
    " / clamp_min(sum(increase(board_cache_lookups_total[{w}])), 1)",
}


@dataclass
class EndpointRow:
    method: str
    name: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float
    max_ms: float = 0.0


@dataclass
class Consistency:
    """201s the clients saw against rows added, per table.

    `ok` is the strict check of a normal run: equal counts. Under a fault a write can commit while its 201 never
    reaches the client (a cut connection, a killed load-generator worker that had not reported yet): that is an
    *unacknowledged* write, not a lost one. A *lost* write (a 201 with no row) is never acceptable.
    """

    ok: bool
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    note: str = ""

    @property
    def nothing_lost(self) -> bool:
        return bool(self.tables) and all(t["acknowledged_201"] <= t["rows_added"] for t in self.tables.values())

    @property
    def unacknowledged(self) -> int:
        return sum(max(0, t["rows_added"] - t["acknowledged_201"]) for t in self.tables.values())


def read_stats(csv_path: Path) -> list[EndpointRow]:
    """Per-endpoint rows from Locust's `_stats.csv` (its own percentiles); the Aggregated row stays out."""
    if not csv_path.exists():
        return []
    rows = []
    with csv_path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                continue
            rows.append(EndpointRow(
                method=row["Type"], name=row["Name"], requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]), p50_ms=_num(row["50%"]), p95_ms=_num(row["95%"]),
                p99_ms=_num(row["99%"]), rps=_num(row["Requests/s"]), max_ms=_num(row["Max Response Time"]),
            ))  # fmt: skip
    return rows


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def created_seen(verdict: dict[str, Any]) -> dict[str, int]:
    """`{"POST /posts/": 201s seen, ...}` from the verdict's per-endpoint `created` counts."""
    seen: dict[str, int] = {}
    for entry in verdict.get("endpoints", []):
        key = f"{entry.get('method')} {entry.get('name')}"
        seen[key] = seen.get(key, 0) + int(entry.get("created", 0) or 0)
    return seen


def check_consistency(verdict: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Consistency:
    """Every 201 a client saw must be a new row, per table; more rows than 201s only if a response was lost."""
    if not verdict:
        return Consistency(False, note="no verdict file: the 201s the clients saw are unknown")
    seen = created_seen(verdict)
    result = Consistency(True)
    for endpoint, table in CREATED_BY.items():
        added = after.get(table, 0) - before.get(table, 0)
        acknowledged = seen.get(endpoint, 0)
        result.tables[table] = {"acknowledged_201": acknowledged, "rows_added": added}
        if acknowledged != added:
            result.ok = False
    if not result.ok:
        result.note = "rows added differ from the 201s the clients saw (a lost write, or a 201 never delivered)"
    return result


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("locust", "fastapi", "uvicorn", "sqlalchemy", "asyncpg", "redis", "prometheus-client"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    for name, argv in {
        "postgres": ["/usr/lib/postgresql/15/bin/postgres", "--version"],
        "pgbouncer": ["pgbouncer", "--version"],
        "redis": ["redis-server", "--version"],
        "prometheus": ["prometheus", "--version"],
    }.items():
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
            found[name] = (out.stdout or out.stderr).splitlines()[0].strip()
        except (OSError, IndexError, subprocess.SubprocessError):
            pass
    return found


def table(rows: list[EndpointRow]) -> list[list[str]]:
    head = ["Endpoint", "Requests", "Failures", "p50 ms", "p95 ms", "p99 ms", "rps"]
    body = [[f"{r.method} {r.name}", str(r.requests), str(r.failures), f"{r.p50_ms:.0f}", f"{r.p95_ms:.0f}",
             f"{r.p99_ms:.0f}", f"{r.rps:.1f}"] for r in rows]  # fmt: skip
    if rows:
        total = sum(r.requests for r in rows)
        body.append(["Total", str(total), str(sum(r.failures for r in rows)), "", "", "",
                     f"{sum(r.rps for r in rows):.1f}"])  # fmt: skip
    return [head, *body]


def text_table(cells: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in cells]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(cells: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    return "\n".join(lines)


@dataclass
class Report:
    run_id: str
    outdir: Path
    preset: dict[str, Any]
    options: dict[str, Any]
    started_at: float
    ended_at: float
    interrupted: bool
    exit_code: int | None
    rows: list[EndpointRow] = field(default_factory=list)
    verdict: dict[str, Any] = field(default_factory=dict)
    consistency: Consistency | None = None
    charts: list[str] = field(default_factory=list)
    server: dict[str, float | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        verdict_ok = self.verdict.get("passed", False) if self.verdict else False
        consistent = self.consistency.ok if self.consistency else False
        return verdict_ok and consistent and not self.interrupted

    def summary_text(self) -> str:
        lines = [f"run {self.run_id}  preset {self.preset.get('name')}  " + ("INTERRUPTED" if self.interrupted else "")]
        lines.append(text_table(table(self.rows)) if self.rows else "(no requests recorded)")
        lines.append(f"verdict: {self._verdict_line()}")
        if self.consistency:
            detail = ", ".join(f"{t} {v['acknowledged_201']} 201s / {v['rows_added']} rows"
                               for t, v in self.consistency.tables.items())  # fmt: skip
            lines.append(f"consistency: {'ok' if self.consistency.ok else 'BROKEN'} ({detail}) {self.consistency.note}")
        lines += [f"problem: {p}" for p in self.problems]
        lines.append(f"report: {self.outdir / 'summary.md'}")
        return "\n".join(lines)

    def _verdict_line(self) -> str:
        if not self.verdict:
            return "missing"
        state = "PASS" if self.verdict.get("passed") else "FAIL"
        if self.verdict.get("suspect"):
            state += " (suspect: " + "; ".join(self.verdict.get("suspect_reasons", [])) + ")"
        broken = [b if isinstance(b, str) else json.dumps(b) for b in self.verdict.get("broken", [])]
        return state + ("; " + "; ".join(broken[:5]) if broken else "")

    def write(self) -> Path:
        self.outdir.mkdir(parents=True, exist_ok=True)
        (self.outdir / "summary.json").write_text(json.dumps(self.as_dict(), indent=2, default=str))
        md = [f"# Load test {self.run_id}", ""]
        if self.interrupted:
            md += ["**Interrupted**: the run was stopped before its planned end; figures cover what ran.", ""]
        md += [f"**Problem**: {p}" for p in self.problems]
        md += [f"- preset: `{self.preset.get('name')}` ({self.preset.get('path')})",
               f"- load: {json.dumps(self.options, default=str)}",
               f"- window: {self.ended_at - self.started_at:.0f} s", "",
               "## Requests", "", markdown_table(table(self.rows)) if self.rows else "(no requests recorded)", "",
               "## Verdict", "", self._verdict_line(), ""]  # fmt: skip
        if self.consistency:
            md += ["## Consistency (201s seen by clients vs rows added)", "",
                   "| table | 201s | rows added |", "|---|---|---|"]  # fmt: skip
            md += [f"| {t} | {v['acknowledged_201']} | {v['rows_added']} |" for t, v in self.consistency.tables.items()]
            md += ["", "**ok**" if self.consistency.ok else f"**BROKEN**: {self.consistency.note}", ""]
        if self.server:
            md += ["## Inside the API over the run", "", "| figure | value |", "|---|---|"]
            md += [f"| {k} | {'n/a' if v is None else f'{v:.4g}'} |" for k, v in self.server.items()]
            md += [""]
        md += ["## Charts", ""] + [f"![{c}]({c})" for c in self.charts]
        md += ["", "## Files", "", "- `locust.html`: Locust's own report", "- `locust_stats.csv` and friends",
               "- `verdict.json`, `summary.json`", "", "## Versions", ""]  # fmt: skip
        md += [f"- {k}: {v}" for k, v in versions().items()]
        path = self.outdir / "summary.md"
        path.write_text("\n".join(md) + "\n")
        return path

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "preset": self.preset, "options": self.options, "started_at": self.started_at,
            "ended_at": self.ended_at, "interrupted": self.interrupted, "locust_exit_code": self.exit_code,
            "passed": self.passed, "endpoints": [r.__dict__ for r in self.rows], "verdict": self.verdict,
            "consistency": self.consistency.__dict__ if self.consistency else None, "charts": self.charts,
            "server": self.server, "problems": self.problems,
        }  # fmt: skip


def chart_specs() -> list[charts.ChartSpec]:
    """The dashboards' panels picked for the report, else the built-in set (before grafana/ has dashboards)."""
    try:
        from loadlab.dashboards import report_charts
    except ImportError:
        return list(BUILTIN_CHARTS)
    specs = report_charts()
    return list(specs) or list(BUILTIN_CHARTS)


def api_scraped_after(prometheus_url: str, after: float, timeout: float = SETTLE_TIMEOUT) -> float:
    """When Prometheus first scraped the API after `after` (or `after` itself if it never did in time).

    An API whose event loop is blocked (the seed's baseline) answers no scrape during the load, but its
    counters are cumulative: one scrape once the load is gone gives the totals over the whole run.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = charts.query_instant(prometheus_url, 'timestamp(up{job="api"} == 1)', time.time())
            if result and float(result[0]["value"][1]) > after:
                return float(result[0]["value"][1])
        except (OSError, RuntimeError, ValueError):
            pass
        time.sleep(0.5)
    return after


def read_server_figures(report: Report, prometheus_url: str) -> None:
    """Evaluate `SERVER_FIGURES` over the whole run, at the API's first scrape after it."""
    at = api_scraped_after(prometheus_url, report.ended_at)
    window = f"{max(1, int(at - report.started_at))}s"
    for label, template in SERVER_FIGURES.items():
        try:
            result = charts.query_instant(prometheus_url, template.format(w=window), at)
            value = float(result[0]["value"][1]) if result else None
            report.server[label] = None if value is None or value != value else value  # NaN: no samples
        except (OSError, RuntimeError, ValueError):
            report.server[label] = None


def draw_charts(report: Report, prometheus_url: str) -> None:
    for spec in chart_specs():
        name = f"{charts.slug(spec.title)}.png"
        try:
            if charts.draw(spec, prometheus_url, report.started_at, report.ended_at, report.outdir / name):
                report.charts.append(name)
        except (OSError, RuntimeError, ValueError) as exc:
            print(f"loadlab: chart {spec.title!r} skipped: {exc}")


def collect_locust_files(src: dict[str, Path], outdir: Path) -> None:
    for path in src.values():
        if path.exists() and path.parent != outdir:
            shutil.copy2(path, outdir / path.name)
