"""Charts of a run: their data fetched from Prometheus (`query_range` over the run window), then drawn as PNGs.

The queries are the Grafana dashboards' own (`loadlab.dashboards`), so a picture in the report shows exactly
what the dashboard panel of the same title showed during the run. Fetching and drawing are apart: the data
lives in the run's result (`loadlab.result.Chart`), and a stored result draws the same PNGs again.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

from loadlab.result import Chart, Series  # noqa: E402

QUERY_TIMEOUT = 10.0
MAX_POINTS = 300


@dataclass(frozen=True)
class ChartSpec:
    title: str
    unit: str
    exprs: tuple[str, ...]
    legends: tuple[str, ...] = ()
    source: str = ""


def query_range(prometheus_url: str, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    return _query(prometheus_url, "query_range", {"query": expr, "start": start, "end": end, "step": step})


def query_instant(prometheus_url: str, expr: str, at: float) -> list[dict[str, Any]]:
    return _query(prometheus_url, "query", {"query": expr, "time": at})


def _query(prometheus_url: str, endpoint: str, params: dict[str, str | float]) -> list[dict[str, Any]]:
    """The `result` list of Prometheus's HTTP API answer (series with their labels and values)."""
    url = f"{prometheus_url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=QUERY_TIMEOUT) as r:  # noqa: S310
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"query failed: {params['query']}: {body}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def legend_for(metric: dict[str, str], template: str) -> str:
    if template:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), template)
    labels = {k: v for k, v in metric.items() if k not in ("__name__", "job", "instance")}
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or metric.get("__name__", "value")


def scale_for(unit: str) -> tuple[float, str]:
    """Seconds are drawn in milliseconds: latencies in this lab are mostly well under a second."""
    if unit == "s":
        return 1000.0, "ms"
    if unit == "percentunit":
        return 100.0, "%"
    return 1.0, unit


def fetch(spec: ChartSpec, prometheus_url: str, start: float, end: float) -> Chart:
    """Every series of the panel's queries over [start, end], times in seconds since `start`."""
    step = max(1.0, (end - start) / MAX_POINTS)
    chart = Chart(spec.title, spec.unit, f"{slug(spec.title)}.png", spec.source)
    for i, expr in enumerate(spec.exprs):
        legend = spec.legends[i] if i < len(spec.legends) else ""
        for series in query_range(prometheus_url, expr, start, end, step):
            # NaN (a quantile with no samples) is a gap, not a point: strict JSON has no NaN.
            points = [[round(float(t) - start, 3), float(v)] for t, v in series["values"] if math.isfinite(float(v))]
            chart.series.append(Series(legend_for(series["metric"], legend)[:60], points))
    return chart


def draw(chart: Chart, path: Path) -> bool:
    """Draw one chart as a PNG; False (and no file) when it has no series to show."""
    if not chart.series:
        return False
    factor, unit = scale_for(chart.unit)
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    for series in chart.series:
        ax.plot(
            [t for t, _ in series.points], [v * factor for _, v in series.points], linewidth=1.2, label=series.label
        )
    ax.set_title(chart.title, fontsize=10)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(unit)
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0)
    if len(chart.series) <= 8:
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]
