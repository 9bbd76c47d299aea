"""One drill and what it measured: the types the drill catalogue (`drills.py`) and the overload drill
(`overload.py`) share."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadlab.loadtest import LocustRun
from loadlab.result import RunResult
from loadlab.stack import Stack


@dataclass
class Window:
    injected_at: float = 0.0
    recovered_at: float = 0.0


Action = Callable[[Stack, LocustRun], None]


@dataclass
class Drill:
    name: str
    what: str
    inject: Action
    recover: Action | None = None
    inject_after: float = 8.0
    fault_seconds: float = 15.0
    duration: int = 35
    checks: tuple[Callable[[DrillOutcome], str | None], ...] = ()
    #: Users and scenario of the base run when the drill needs its own (overload: the knee), else the command line's.
    users: int | None = None
    scenario: str | None = None
    #: More `Stack` arguments for this drill: `delayed` (behind a delay proxy), `data_disk_mb`.
    stack_options: dict[str, Any] = field(default_factory=dict)
    #: Drill-specific figures, called with the outcome and Prometheus' URL before recovery is measured.
    analyse_more: Callable[[DrillOutcome, str], None] | None = None
    #: Stops whatever the drill started itself: once the base load has ended (before the server's counts are
    #: read, so they cover the drill's own requests), and again however the run ended.
    cleanup: Callable[[], None] | None = None


@dataclass
class DrillOutcome:
    drill: Drill
    result: RunResult
    window: Window
    errors_by_status: dict[str, float] = field(default_factory=dict)
    client_errors: dict[str, int] = field(default_factory=dict)
    recovery_seconds: float | None = None
    slowest_ms: float = 0.0
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "diagnosis": self.result.diagnosis.headline if self.result.diagnosis else None,
            "drill": self.drill.name,
            "passed": self.passed,
            "failed": self.failed,
            "errors_by_status": self.errors_by_status,
            "client_errors": self.client_errors,
            "recovery_seconds": self.recovery_seconds,
            "slowest_ms": self.slowest_ms,
            "extra": self.extra,
            "injected_at": self.window.injected_at,
            "recovered_at": self.window.recovered_at,
            "consistency": dataclasses.asdict(self.result.consistency) if self.result.consistency else None,
            "verdict": {k: self.result.verdict.get(k) for k in ("passed", "suspect", "suspect_reasons")},
        }
