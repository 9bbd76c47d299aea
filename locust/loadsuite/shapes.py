"""Load shapes: step and capacity finder. Constant load needs no shape (Locust's -u/-r/-t).

Locust instantiates every non-abstract ``LoadTestShape`` it finds in the locustfile's
namespace and uses the first, so these classes live here and the locustfile imports this
module, never the classes: the ``init`` hook builds the one ``--shape`` names and sets it as
``environment.shape_class`` (master or standalone only; workers never run shapes).
"""

from __future__ import annotations

import locust  # noqa: F401  (first: gevent monkey-patching)
from locust import LoadTestShape
from locust.stats import RequestStats

import logging
import time
from collections.abc import Callable

from .knee import CapacityReport, EntrySnapshot, Snapshot, evaluate_step, window_samples
from .knee import step_users as users_at
from .thresholds import Thresholds

logger = logging.getLogger(__name__)


def snapshot(stats: RequestStats) -> Snapshot:
    """Copy the counters of every stats entry (cheap: dicts of a few hundred keys at most)."""
    return {
        key: EntrySnapshot(e.num_requests, e.num_failures, {ms: n for ms, n in e.response_times.items()})
        for key, e in stats.entries.items()
    }


class StepShape(LoadTestShape):
    """Users up by ``step_users`` every ``step_interval`` seconds until ``max_users``; stops after ``run_time``."""

    use_common_options = True

    def __init__(
        self, step_users: int, step_interval: float, max_users: int, spawn_rate: float, run_time: float | None
    ) -> None:
        super().__init__()
        if max_users < 1:
            raise ValueError(f"--shape step/capacity needs -u/--users >= 1 as the ceiling, got {max_users}")
        users_at(0, step_users, step_interval, max_users)  # fails early on a zero step or interval
        self.step_users = step_users
        self.step_interval = step_interval
        self.max_users = max_users
        # spawn fast enough to finish a step within a fraction of its interval
        self.spawn_rate = spawn_rate or max(1.0, step_users / max(1.0, step_interval / 4))
        self.run_time = run_time

    def target(self, elapsed: float) -> int:
        return users_at(elapsed, self.step_users, self.step_interval, self.max_users)

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        if self.run_time and elapsed >= self.run_time:
            return None
        return self.target(elapsed), self.spawn_rate


class CapacityShape(StepShape):
    """Steps up like ``StepShape``; after each step checks the SLO on that step's window and stops when it breaks.

    The report (steps, knee, why it stopped) is in ``self.report`` for the verdict.
    """

    def __init__(
        self,
        step_users: int,
        step_interval: float,
        max_users: int,
        spawn_rate: float,
        run_time: float | None,
        thresholds: Thresholds,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(step_users, step_interval, max_users, spawn_rate, run_time)
        self.thresholds = thresholds
        self.report = CapacityReport()
        self._clock = clock
        self._step = -1
        self._step_started = 0.0
        self._before: Snapshot = {}

    def reset_time(self) -> None:
        super().reset_time()
        self._step = -1
        self.report = CapacityReport(stopped_because="running")

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        step = int(elapsed // self.step_interval)
        assert self.runner is not None, "Locust sets the runner before it ticks the shape"
        stats = self.runner.stats
        if step != self._step:
            if self._step >= 0 and not self._close_step(stats):
                return None
            if self._step >= 0 and self.target(self._step * self.step_interval) >= self.max_users:
                self.report.stopped_because = f"reached the user ceiling (-u {self.max_users}) with the SLO held"
                logger.info(self.report.summary())
                return None
            self._step, self._step_started, self._before = step, self._clock(), snapshot(stats)
        if self.run_time and elapsed >= self.run_time:
            self.report.stopped_because = f"run time ({self.run_time:g} s) reached"
            logger.info(self.report.summary())
            return None
        return self.target(elapsed), self.spawn_rate

    def _close_step(self, stats: RequestStats) -> bool:
        """Evaluate the step that just ended; False when it broke the SLO (the search is over)."""
        seconds = self._clock() - self._step_started
        users = self.target(self._step * self.step_interval)
        samples = window_samples(self._before, snapshot(stats), seconds)
        result = evaluate_step(self._step, users, samples, seconds, self.thresholds)
        self.report.steps.append(result)
        if result.held:
            logger.info(
                f"capacity step {result.index}: {users} users, {result.rps:.1f} rps, p95 {result.p95_ms:g} ms: held"
            )
            return True
        self.report.stopped_because = f"SLO broke at {users} users: {'; '.join(result.broken)}"
        logger.info(f"capacity step {result.index}: {users} users: broke ({'; '.join(result.broken)})")
        logger.info(self.report.summary())
        return False
