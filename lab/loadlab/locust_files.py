"""Readers of the files a Locust master writes: `<prefix>_stats.csv`, `<prefix>_failures.csv`, the verdict."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from loadlab.result import Endpoint


def read_stats(csv_path: Path) -> list[Endpoint]:
    """Per-endpoint rows from Locust's `_stats.csv` (its own percentiles); the Aggregated row stays out."""
    if not csv_path.exists():
        return []
    rows = []
    with csv_path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                continue
            rows.append(
                Endpoint(
                    method=row["Type"],
                    name=row["Name"],
                    requests=int(row["Request Count"]),
                    failures=int(row["Failure Count"]),
                    p50_ms=_num(row["50%"]),
                    p95_ms=_num(row["95%"]),
                    p99_ms=_num(row["99%"]),
                    rps=_num(row["Requests/s"]),
                    max_ms=_num(row["Max Response Time"]),
                )
            )
    return rows


def _num(text: str) -> float:
    """Locust writes "N/A" for a percentile of an endpoint with no successful request."""
    try:
        return float(text)
    except ValueError:
        return 0.0


def read_failures(path: Path) -> dict[str, int]:
    """`{"METHOD name: error message": occurrences}` from Locust's `_failures.csv`."""
    if not path.exists():
        return {}
    errors: dict[str, int] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            key = f"{row['Method']} {row['Name']}: {row['Error']}"
            errors[key] = errors.get(key, 0) + int(row["Occurrences"])
    return errors


def read_verdict(path: Path) -> dict[str, Any]:
    """The load suite's verdict JSON, or {} when the master wrote none."""
    return json.loads(path.read_text()) if path.exists() else {}


def read_endpoints(stats_csv: Path, verdict: dict[str, Any]) -> list[Endpoint]:
    """Locust's per-endpoint figures, each with every status the clients saw (from the verdict)."""
    endpoints = read_stats(stats_csv)
    statuses = statuses_by_endpoint(verdict)
    for endpoint in endpoints:
        endpoint.statuses = statuses.get(endpoint.key, {})
    return endpoints


def statuses_by_endpoint(verdict: dict[str, Any]) -> dict[str, dict[str, int]]:
    """`{"POST /posts/": {"201": n, "503": n}}` from the verdict's per-endpoint status counts."""
    out: dict[str, dict[str, int]] = {}
    for entry in verdict.get("endpoints", []):
        counts = out.setdefault(f"{entry.get('method')} {entry.get('name')}", {})
        for status, count in (entry.get("statuses") or {}).items():
            counts[status] = counts.get(status, 0) + int(count)
    return out


def created_seen(verdict: dict[str, Any]) -> dict[str, int]:
    """`{"POST /posts/": 201s seen, ...}` from the verdict's per-endpoint `created` counts."""
    seen: dict[str, int] = {}
    for entry in verdict.get("endpoints", []):
        key = f"{entry.get('method')} {entry.get('name')}"
        seen[key] = seen.get(key, 0) + int(entry.get("created", 0) or 0)
    return seen
