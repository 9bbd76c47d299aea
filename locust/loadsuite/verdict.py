"""The SLO verdict: thresholds checked against per-endpoint results, as JSON and a table.

Inputs are plain numbers (``EndpointSample``), so the same evaluation serves the whole run
(the verdict) and one step's window (the capacity finder).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .histogram import ResponseTimes, percentile
from .thresholds import TOTAL_KEY, Limits, Thresholds, endpoint_key

VERDICT_VERSION = 1


@dataclass(frozen=True)
class EndpointSample:
    """One endpoint's (or the whole run's) numbers over some window."""

    method: str
    name: str
    requests: int
    failures: int
    response_times: ResponseTimes
    rps: float
    #: Every response status the clients saw, `{status: count}`; 0 = no response (a connection error).
    statuses: Mapping[int, int] = field(default_factory=dict)

    @property
    def created(self) -> int:
        """201 responses the clients saw."""
        return self.statuses.get(201, 0)

    @property
    def key(self) -> str:
        return endpoint_key(self.method, self.name) if self.method else self.name

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def p(self, q: float) -> float:
        return percentile(self.response_times, q)


@dataclass(frozen=True)
class Check:
    metric: str
    limit: float
    actual: float
    passed: bool

    def describe(self, key: str) -> str:
        op = ">=" if self.metric == "min_rps" else "<="
        return f"{key}: {self.metric} {self.actual:g} (limit {op} {self.limit:g})"


def check_limits(sample: EndpointSample, limits: Limits, *, with_rps: bool = True) -> list[Check]:
    """Every limit that is set, checked against the sample; rps is skipped for step windows."""
    checks: list[Check] = []
    for metric, q in (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        limit = getattr(limits, metric)
        if limit is not None:
            actual = sample.p(q)
            checks.append(Check(metric, limit, actual, actual <= limit))
    if limits.max_failure_ratio is not None:
        ratio = sample.failure_ratio
        checks.append(
            Check("max_failure_ratio", limits.max_failure_ratio, round(ratio, 6), ratio <= limits.max_failure_ratio)
        )
    if with_rps and limits.min_rps is not None:
        checks.append(Check("min_rps", limits.min_rps, round(sample.rps, 3), sample.rps >= limits.min_rps))
    return checks


@dataclass
class EndpointResult:
    sample: EndpointSample
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        s = self.sample
        return {
            "method": s.method,
            "name": s.name,
            "requests": s.requests,
            "failures": s.failures,
            "failure_ratio": round(s.failure_ratio, 6),
            "p50_ms": s.p(0.50),
            "p95_ms": s.p(0.95),
            "p99_ms": s.p(0.99),
            "rps": round(s.rps, 3),
            "created": s.created,  # 201s the clients saw (kept for readers of verdict version 1)
            # Every status the clients saw; the lab checks these against the API's own counters.
            "statuses": {str(k): v for k, v in sorted(s.statuses.items())},
            "thresholds": [c.__dict__ for c in self.checks],
            "passed": self.passed,
        }


@dataclass
class Verdict:
    endpoints: list[EndpointResult]
    total: EndpointResult
    thresholds_source: str
    suspect_reasons: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # breaks not tied to one threshold
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # run info, health, capacity report
    # False for the capacity finder: it breaks the SLO on purpose, so only `problems` fail it.
    enforce_thresholds: bool = True

    @property
    def threshold_breaks(self) -> list[str]:
        out: list[str] = []
        for r in [*self.endpoints, self.total]:
            out += [c.describe(r.sample.key) for c in r.checks if not c.passed]
        return out

    @property
    def broken(self) -> list[str]:
        return self.problems + (self.threshold_breaks if self.enforce_thresholds else [])

    @property
    def passed(self) -> bool:
        return not self.broken

    @property
    def suspect(self) -> bool:
        return bool(self.suspect_reasons)

    @property
    def exit_code(self) -> int:
        """1 when any threshold broke; a suspect run keeps its code (its reasons are in the report)."""
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERDICT_VERSION,
            "status": "pass" if self.passed else "fail",
            "passed": self.passed,
            "suspect": self.suspect,
            "suspect_reasons": self.suspect_reasons,
            "broken": self.broken,
            "threshold_breaks": self.threshold_breaks,
            "thresholds_enforced": self.enforce_thresholds,
            "notes": self.notes,
            "thresholds_source": self.thresholds_source,
            "endpoints": [r.to_dict() for r in self.endpoints],
            "total": self.total.to_dict(),
            **self.extra,
        }

    def write(self, path: str) -> None:
        """Write the JSON atomically, so a reader never sees half a verdict."""
        if d := os.path.dirname(path):
            os.makedirs(d, exist_ok=True)
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, path)

    def render_table(self) -> str:
        rows = [("endpoint", "reqs", "fails", "p50", "p95", "p99", "rps", "201s", "result")]
        for r in [*self.endpoints, self.total]:
            s = r.sample
            rows.append(
                (
                    s.key,
                    str(s.requests),
                    str(s.failures),
                    f"{s.p(0.50):g}",
                    f"{s.p(0.95):g}",
                    f"{s.p(0.99):g}",
                    f"{s.rps:.1f}",
                    str(s.created),
                    "ok" if r.passed else "BROKEN",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
            for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        status = "PASS" if self.passed else "FAIL"
        if self.suspect:
            status += " (SUSPECT)"
        lines.insert(0, f"Verdict: {status}   (latency in ms, thresholds from {self.thresholds_source})")
        lines += [f"  broken: {b}" for b in self.broken]
        if not self.enforce_thresholds:
            lines += [f"  over threshold (not enforced): {b}" for b in self.threshold_breaks]
        lines += [f"  suspect: {s}" for s in self.suspect_reasons]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def evaluate(
    endpoints: Iterable[EndpointSample],
    total: EndpointSample,
    thresholds: Thresholds,
    suspect_reasons: Iterable[str] = (),
) -> Verdict:
    """Check each endpoint against its limits (``*`` merged with its own entry), the total against ``Aggregated``."""
    samples = sorted(endpoints, key=lambda s: (s.name, s.method))
    results = [EndpointResult(s, check_limits(s, thresholds.for_endpoint(s.method, s.name))) for s in samples]
    total_result = EndpointResult(total, check_limits(total, thresholds.total))
    verdict = Verdict(results, total_result, thresholds.source, suspect_reasons=list(suspect_reasons))
    if total.requests == 0:
        verdict.problems.append("no requests were made")
    seen = {s.key for s in samples}
    for key in thresholds.endpoints:
        if key not in seen:
            verdict.notes.append(f"thresholds name {key!r}, which got no requests in this run")
    return verdict


def total_sample(samples: Iterable[EndpointSample], rps: float) -> EndpointSample:
    """Sum endpoint samples into an ``Aggregated`` one (used for step windows; the run uses Locust's total)."""
    requests = failures = 0
    merged: dict[int | float, int] = {}
    statuses: Counter[int] = Counter()
    for s in samples:
        requests += s.requests
        failures += s.failures
        statuses.update(s.statuses)
        for rt, n in s.response_times.items():
            merged[rt] = merged.get(rt, 0) + n
    return EndpointSample("", TOTAL_KEY, requests, failures, merged, rps, dict(statuses))
