"""Generator-health guard: was the load generator itself the bottleneck?

A run whose workers were CPU-bound, lost a worker, or never reached the target user count
measured the generator, not the API. The verdict marks such a run "suspect" with the
reasons this tracker collects. Timestamps are passed in, so the logic is testable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A worker is "saturated" when its CPU stayed above this ratio for this many consecutive
# reports (a worker reports every 3 s, so 3 reports ~ 9 s), not on one spike.
CPU_SUSTAINED_RATIO = 0.90
CPU_SUSTAINED_REPORTS = 3
# A target user count must have stood this long before a shortfall counts: a step that
# starts just before the run ends is still spawning, which is not a generator problem.
USERS_SHORTFALL_GRACE = 5.0
#: A CPU ratio is taken over at least this many seconds. The kernel counts CPU time in ticks of
#: 10 ms, so over a near-zero interval (two reports back to back, as at the end of a test) one
#: tick reads as many cores: psutil's cpu_percent(None) once gave a worker 1930 %.
CPU_MIN_INTERVAL = 1.0


@dataclass
class CpuMeter:
    """One process's CPU as a ratio of one core, from cumulative CPU seconds and a monotonic clock.

    ``sample`` returns a ratio only once ``CPU_MIN_INTERVAL`` has passed since the last ratio it
    gave; before that it returns None and keeps its baseline, so a short interval is folded into
    the next one instead of being measured on its own.
    """

    min_interval: float = CPU_MIN_INTERVAL
    _cpu: float | None = None
    _at: float = 0.0

    def sample(self, cpu_seconds: float, now: float) -> float | None:
        if self._cpu is None or cpu_seconds < self._cpu:
            self._cpu, self._at = cpu_seconds, now
            return None
        elapsed = now - self._at
        if elapsed < self.min_interval:
            return None
        ratio = (cpu_seconds - self._cpu) / elapsed
        self._cpu, self._at = cpu_seconds, now
        return ratio


@dataclass
class _WorkerTrack:
    streak: int = 0
    longest_streak: int = 0
    peak_cpu: float = 0.0
    last_cpu: float | None = None
    max_users: int = 0
    missing: bool = False
    left: bool = False  # quit (or was removed) while the test was still running


@dataclass
class GeneratorHealth:
    """Collects per-worker CPU, missing workers and users-vs-target samples during a run."""

    workers: dict[str, _WorkerTrack] = field(default_factory=dict)
    _target: int | None = None
    _target_since: float = 0.0
    _target_reached: bool = True
    shortfalls: list[tuple[int, int]] = field(default_factory=list)  # (target, best users seen)
    _best_users: int = 0
    max_users: int = 0
    max_target: int = 0

    def _worker(self, worker: str) -> _WorkerTrack:
        return self.workers.setdefault(worker, _WorkerTrack())

    def record_cpu(self, worker: str, ratio: float) -> None:
        """One CPU reading (0-1 of one core) from one worker report."""
        track = self._worker(worker)
        track.last_cpu = ratio
        track.peak_cpu = max(track.peak_cpu, ratio)
        track.streak = track.streak + 1 if ratio > CPU_SUSTAINED_RATIO else 0
        track.longest_streak = max(track.longest_streak, track.streak)

    def record_worker_users(self, worker: str, users: int) -> None:
        track = self._worker(worker)
        track.max_users = max(track.max_users, users)

    def record_missing(self, worker: str) -> None:
        self._worker(worker).missing = True

    def record_present(self, workers: set[str]) -> None:
        """The workers connected now, sampled while a test runs; one that was there before and is gone left."""
        for worker, track in self.workers.items():
            if worker not in workers and track.max_users > 0 and not track.missing:
                track.left = True
        for worker in workers:
            self._worker(worker)

    def record_users(self, users: int, target: int | None, now: float) -> None:
        """A sample of (users running, target users); a target not reached within the grace is a shortfall."""
        self.max_users = max(self.max_users, users)
        if target is None:
            return
        self.max_target = max(self.max_target, target)
        if target != self._target:
            self._close_target(now)
            self._target, self._target_since, self._target_reached, self._best_users = target, now, False, 0
        self._best_users = max(self._best_users, users)
        if users >= target:
            self._target_reached = True

    def finish(self, now: float) -> None:
        """Close the last target at the end of the run."""
        self._close_target(now)
        self._target = None

    def _close_target(self, now: float) -> None:
        if self._target is None or self._target_reached:
            return
        if now - self._target_since >= USERS_SHORTFALL_GRACE:
            self.shortfalls.append((self._target, self._best_users))
        self._target_reached = True  # report each target once

    def reasons(self) -> list[str]:
        """Human-readable reasons the run is suspect; empty when the generator looked healthy."""
        out: list[str] = []
        for worker, track in sorted(self.workers.items()):
            if track.longest_streak >= CPU_SUSTAINED_REPORTS:
                out.append(
                    f"worker {worker} CPU stayed above {CPU_SUSTAINED_RATIO:.0%} for "
                    f"{track.longest_streak} consecutive reports (peak {track.peak_cpu:.0%})"
                )
            if track.missing:
                out.append(f"worker {worker} went missing during the run")
            elif track.left:
                out.append(f"worker {worker} left during the run")
        for target, best in self.shortfalls:
            out.append(f"users reached {best} < target {target}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_users": self.max_users,
            "max_target_users": self.max_target,
            "workers": {
                w: {
                    "max_users": t.max_users,
                    "peak_cpu_ratio": round(t.peak_cpu, 3),
                    "longest_high_cpu_streak": t.longest_streak,
                    "missing": t.missing,
                    "left": t.left,
                }
                for w, t in sorted(self.workers.items())
            },
        }
