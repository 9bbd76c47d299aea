"""A bounded thread pool for bcrypt: full queue -> `ExecutorFull` at once instead of an unbounded wait."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from board.errors import ExecutorFull
from board.metrics import GaugeCollector, Metrics

T = TypeVar("T")
#: Weight of the newest task in the moving average of task run time (about the last 10 tasks count).
TASK_PACE_WEIGHT = 0.1


def lower_priority(nice: int) -> None:
    """Make the calling thread yield the CPU to the event loop (and to Postgres, on a shared machine).

    Linux keeps a nice value per thread, so this touches the bcrypt workers only: hashing then takes the CPU
    nobody else wants, and a login storm no longer starves every other request of the loop thread.
    """
    if nice and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError:  # not permitted here: hashing still works, only without the preference
            pass


class BoundedExecutor:
    """At most `workers` tasks run and `queue_limit` wait; the next one is refused. A task that waited more than
    `max_wait` seconds when a worker takes it is refused then (0: no bound), as a pool checkout times out: when
    the workers are starved of CPU (a loaded machine, nice threads) the queue's length no longer bounds its wait.

    bcrypt releases the GIL while hashing, so threads give real parallelism. With `inline=True`
    tasks run on the calling (event loop) thread: the seed's blocking baseline, kept measurable.
    """

    def __init__(
        self, workers: int, queue_limit: int, metrics: Metrics, *, inline: bool = False, nice: int = 0,
        max_wait: float = 0.0,
    ) -> None:  # fmt: skip
        assert workers >= 1, "workers must be >= 1"
        assert queue_limit >= 0, "queue_limit must be >= 0"
        assert max_wait >= 0, "max_wait must be >= 0 (0 = no bound)"
        self.max_wait = max_wait
        self._task_seconds = 0.0  # moving average of a task's run time (wall clock: starvation included)
        self.workers = workers
        self.queue_limit = queue_limit
        self.inline = inline
        self._metrics = metrics
        self.nice = nice
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="bcrypt", initializer=lower_priority, initargs=(nice,)
        )
        self._lock = threading.Lock()
        self._pending = 0  # submitted, not finished (touched on the loop thread only)
        self._busy = 0  # running in a worker (touched under the lock)
        metrics.add_collector(
            GaugeCollector(
                {
                    "board_executor_workers": ("bcrypt executor worker threads", lambda: self.workers),
                    "board_executor_queue_limit": ("Tasks allowed to wait for a worker", lambda: self.queue_limit),
                    "board_executor_queue_depth": ("Tasks waiting for a worker", lambda: self.queue_depth),
                    "board_executor_busy_workers": ("Workers running a task", lambda: self.busy),
                }
            )
        )

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def queue_depth(self) -> int:
        return max(0, self._pending - self._busy)

    def expected_wait(self) -> float:
        """Seconds a task submitted now would wait: the tasks ahead of it beyond the workers, at the recent pace."""
        ahead = self._pending - self.workers + 1
        return max(0, ahead) * self._task_seconds / self.workers

    def refusal(self) -> ExecutorFull | None:
        """The `ExecutorFull` a task submitted now would get (counted as a rejection), or None.

        Asked before the request is even routed (`HashingShedMiddleware`): a login refused there costs no form
        parsing, no DB connection and no round trip. `run()` still checks, as the queue may fill meanwhile. A
        task that would wait past `max_wait` at the recent pace is refused here too, so it does not get its 503
        only after waiting.
        """
        if self.inline:
            return None
        if self._pending >= self.workers + self.queue_limit:
            refused = ExecutorFull()
        elif self.max_wait and self.expected_wait() > self.max_wait:
            refused = ExecutorFull("server busy: password hashing queue too slow")
        else:
            return None
        self._metrics.executor_rejections.inc()
        return refused

    def refuse_if_full(self) -> None:
        refused = self.refusal()
        if refused is not None:
            raise refused

    async def run(self, task: str, fn: Callable[..., T], *args: object) -> T:
        if self.inline:
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self._metrics.executor_task.labels(task).observe(time.perf_counter() - start)
        self.refuse_if_full()
        self._pending += 1
        submitted = time.perf_counter()

        def call() -> T:
            started = time.perf_counter()
            self._metrics.executor_wait.observe(started - submitted)
            if self.max_wait and started - submitted > self.max_wait:
                self._metrics.executor_rejections.inc()
                raise ExecutorFull("server busy: password hashing queue too slow")
            with self._lock:
                self._busy += 1
            try:
                return fn(*args)
            finally:
                took = time.perf_counter() - started
                with self._lock:
                    self._busy -= 1
                    pace = self._task_seconds
                    self._task_seconds = pace + TASK_PACE_WEIGHT * (took - pace) if pace else took
                self._metrics.executor_task.labels(task).observe(took)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, call)
        finally:
            self._pending -= 1

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
