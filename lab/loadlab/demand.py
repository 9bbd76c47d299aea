"""CPU demand of single-threaded loops: the share of the time a process's main thread ran OR waited to run.

An event loop (the API's, a Locust worker's gevent hub) that always has work is CPU-bound whether it got a whole
core or, on a busy machine or under a CPU quota, only part of one: what it used then says little, what it
*wanted* says it all. Linux keeps both per thread in /proc/PID/schedstat (nanoseconds on a CPU, nanoseconds
runnable but waiting for one, throttled time included); their sum over the wall-clock time is the demand: 1 = the
thread never waited for work. The diagnosis reads it for the API's and the load generator's processes.

Waiting counts at most four times as long as the thread ran (`WAIT_PER_RUN`): on a crowded machine (a load average
of 15 on 2 cores) even a light loop waits for a CPU at every wake-up and would look busy, while a CPU-bound loop that
gets a fifth of a CPU or more still reaches 1. (A shared 2-core machine gave a CPU-bound Locust worker at nice 10
25-50 % of a CPU.) Under a CPU quota far below that, the diagnosis' quota-aware CPU rule decides.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")

PROC = Path("/proc")
#: Seconds of waiting for a CPU that count per second run (see the module's docstring).
WAIT_PER_RUN = 4.0


def schedstat(pid: int, proc: Path = PROC) -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable and waiting) of `pid`'s main thread, None when unreadable."""
    try:
        run_ns, wait_ns, _ = (proc / str(pid) / "schedstat").read_text().split()
        return int(run_ns) / 1e9, int(wait_ns) / 1e9
    except (OSError, ValueError):
        return None


def family(pid: int) -> list[int]:
    """`pid` and its descendants (the API's supervisor and its worker processes)."""
    try:
        root = psutil.Process(pid)
        return [pid, *(p.pid for p in root.children(recursive=True))]
    except psutil.Error:
        return []


@dataclass
class DemandMeter:
    """`read()` once a second with the processes of each part; `timeline` keeps every reading: (wall-clock time,
    part -> pid -> (run s, wait s))."""

    timeline: list[tuple[float, dict[str, dict[int, tuple[float, float]]]]] = field(default_factory=list)

    def read(self, parts: Mapping[str, Iterable[int]]) -> None:
        reading: dict[str, dict[int, tuple[float, float]]] = {}
        for part, pids in parts.items():
            stats = {pid: found for pid in pids if (found := schedstat(pid)) is not None}
            if stats:
                reading[part] = stats
        self.timeline.append((time.time(), reading))


def demand_of(ran: float, waited: float, seconds: float) -> float:
    """Share of `seconds` a thread ran or waited to run, the wait counted up to `WAIT_PER_RUN` times the run."""
    return min(1.0, (ran + min(waited, WAIT_PER_RUN * ran)) / seconds) if seconds > 0 else 0.0


def windows(
    timeline: Sequence[tuple[float, T]], window: float, started_at: float
) -> Iterator[tuple[float, T, float, T]]:
    """Each reading from `started_at` on with the latest one at least `window` seconds before it (or the
    earliest, if that spans at least half a window): `(t, reading, t0, earlier)`."""
    j = 0
    for i, (t, reading) in enumerate(timeline):
        while j + 1 < i and t - timeline[j + 1][0] >= window:
            j += 1
        t0, earlier = timeline[j]
        if i != j and t - t0 >= window / 2 and t >= started_at:
            yield t, reading, t0, earlier


def busiest(
    timeline: list[tuple[float, dict[str, dict[int, tuple[float, float]]]]], part: str, started_at: float, window: float
) -> list[list[float]]:
    """The highest demand of any of the part's processes over the last `window` seconds, at each reading:
    `[seconds since started_at, demand]`."""
    points: list[list[float]] = []
    for t, reading, t0, earlier in windows(timeline, window, started_at):
        now, before = reading.get(part, {}), earlier.get(part, {})
        demands = [
            demand_of(run - before[pid][0], wait - before[pid][1], t - t0)
            for pid, (run, wait) in now.items()
            if pid in before
        ]
        if demands:
            points.append([round(t - started_at, 3), min(1.0, max(demands))])
    return points
