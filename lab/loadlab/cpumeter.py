"""CPU-seconds each part of a run used: the API, Postgres, PgBouncer, Redis, the monitoring, and the load generator.

Divided by the requests served, this says what a request costs each part (the bench's "CPU-s per request"), and
a part near its cores' worth of CPU per second is saturated (the diagnosis reads it). Read from /proc through
psutil, every process of a part summed with its children (Postgres backends, the API's worker processes), so
a process that ends mid-run keeps what it used up to its last reading.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import psutil

#: The parts a run's processes are grouped into, by lab service name (anything else: "monitoring").
PARTS = {"api": "api", "postgres": "postgres", "pgbouncer": "pgbouncer", "redis": "redis", "prometheus": "monitoring"}
LOAD_GENERATOR = "load generator"


def _tree_times(pid: int) -> dict[int, float]:
    """CPU-seconds (user + system) of `pid` and each of its descendants, by pid."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return {}
    times: dict[int, float] = {}
    for process in family:
        try:
            cpu = process.cpu_times()
        except psutil.Error:
            continue
        times[process.pid] = cpu.user + cpu.system
    return times


@dataclass
class CpuMeter:
    """Call `read()` with the parts' root pids as often as you like (once a second); `used()` is the total since
    the first reading, per part; `timeline` holds `used()` at each reading (wall-clock time, totals), from which
    the diagnosis reads each part's CPU per second over the run."""

    _first: dict[tuple[str, int], float] = field(default_factory=dict)
    _last: dict[tuple[str, int], float] = field(default_factory=dict)
    started: bool = False
    timeline: list[tuple[float, dict[str, float]]] = field(default_factory=list)

    def read(self, roots: Mapping[str, Iterable[int]]) -> None:
        """`roots`: part -> pids whose process trees belong to it."""
        for part, pids in roots.items():
            for pid in pids:
                for child, seconds in _tree_times(pid).items():
                    key = (part, child)
                    # A process first seen after the first reading started in the run: it counts from zero.
                    self._first.setdefault(key, seconds if not self.started else 0.0)
                    self._last[key] = seconds
        self.started = True
        self.timeline.append((time.time(), self.used()))

    def used(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for (part, pid), last in self._last.items():
            totals[part] = totals.get(part, 0.0) + max(0.0, last - self._first.get((part, pid), last))
        return dict(sorted(totals.items()))


def part_of(service: str) -> str:
    return PARTS.get(service, "monitoring")
