"""Capacity finder logic: per-step windows of the master's stats, SLO per step, the knee.

The finder raises users step by step. At the end of each step it diffs two snapshots of the
master's merged stats (the step's window), checks latency and failure limits on that window
only, and stops at the first step that breaks them. The knee is the last step that held.
Workers report every 3 s, so a window edge is fuzzy by up to one report; steps of 10 s or
more keep that error small.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .histogram import diff_response_times
from .thresholds import Thresholds
from .verdict import EndpointSample, check_limits, total_sample


@dataclass(frozen=True)
class EntrySnapshot:
    """Counters of one (name, method) stats entry at one moment."""

    requests: int
    failures: int
    response_times: Mapping[int | float, int]


Snapshot = Mapping[tuple[str, str], EntrySnapshot]  # (name, method) -> counters, as Locust keys its entries


def window_samples(before: Snapshot, after: Snapshot, seconds: float) -> list[EndpointSample]:
    """Per-endpoint samples of what happened between two snapshots (endpoints with no traffic are left out)."""
    out: list[EndpointSample] = []
    empty = EntrySnapshot(0, 0, {})
    for (name, method), now in after.items():
        then = before.get((name, method), empty)
        if now.requests < then.requests:  # stats were reset in between: the window is what is left
            then = empty
        requests = now.requests - then.requests
        failures = now.failures - then.failures
        if requests <= 0 and failures <= 0:
            continue
        rts = diff_response_times(now.response_times, then.response_times)
        out.append(EndpointSample(method, name, requests, failures, rts, requests / seconds if seconds > 0 else 0.0))
    return out


@dataclass
class StepResult:
    index: int
    users: int
    seconds: float
    rps: float
    requests: int
    failures: int
    held: bool
    broken: list[str] = field(default_factory=list)
    p95_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.index,
            "users": self.users,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 3),
            "requests": self.requests,
            "failures": self.failures,
            "p95_ms": self.p95_ms,
            "held": self.held,
            "broken": self.broken,
        }


# A window with fewer requests than this says nothing about the SLO: the step is judged
# "held" only on evidence, otherwise it fails with that reason.
MIN_WINDOW_REQUESTS = 5


def evaluate_step(
    index: int, users: int, samples: list[EndpointSample], seconds: float, thresholds: Thresholds
) -> StepResult:
    """Check latency and failure limits (not min_rps: it is the quantity being searched) on one step's window."""
    total = total_sample(samples, 0.0)
    rps = total.requests / seconds if seconds > 0 else 0.0
    broken: list[str] = []
    for s in samples:
        limits = thresholds.for_endpoint(s.method, s.name)
        broken += [c.describe(s.key) for c in check_limits(s, limits, with_rps=False) if not c.passed]
    broken += [c.describe(total.key) for c in check_limits(total, thresholds.total, with_rps=False) if not c.passed]
    if total.requests < MIN_WINDOW_REQUESTS:
        broken.append(f"only {total.requests} requests in the step window (< {MIN_WINDOW_REQUESTS})")
    return StepResult(index, users, seconds, rps, total.requests, total.failures, not broken, broken, total.p(0.95))


@dataclass
class CapacityReport:
    """What the finder saw: every step, why it stopped, and the knee."""

    steps: list[StepResult] = field(default_factory=list)
    stopped_because: str = "not started"

    @property
    def knee(self) -> StepResult | None:
        return find_knee(self.steps)

    @property
    def slo_broke(self) -> bool:
        return any(not s.held for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        knee = self.knee
        return {
            "knee": knee.to_dict() if knee else None,
            "knee_found": knee is not None and self.slo_broke,
            "slo_broke": self.slo_broke,
            "stopped_because": self.stopped_because,
            "steps": [s.to_dict() for s in self.steps],
        }

    def summary(self) -> str:
        knee = self.knee
        if knee is None:
            return f"capacity: no step held the SLO ({self.stopped_because})"
        prefix = "knee" if self.slo_broke else "no knee yet: SLO held up to"
        return f"capacity: {prefix} {knee.users} users, {knee.rps:.1f} rps (step {knee.index}; {self.stopped_because})"


def find_knee(steps: list[StepResult]) -> StepResult | None:
    """The last step that held before the first step that broke (or the last step, if none broke)."""
    knee: StepResult | None = None
    for step in steps:
        if not step.held:
            break
        knee = step
    return knee


def step_users(elapsed: float, step_users: int, step_interval: float, max_users: int) -> int:
    """Users wanted at ``elapsed`` seconds: one more step every interval, capped at ``max_users``."""
    if step_users <= 0 or step_interval <= 0:
        raise ValueError(f"step users and interval must be > 0, got {step_users} and {step_interval}")
    return min(max_users, step_users * (int(elapsed // step_interval) + 1))
