"""A bounded thread pool for bcrypt: full queue -> `ExecutorFull` at once instead of an unbounded wait."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from board.errors import ExecutorFull
from board.metrics import Metrics

T = TypeVar("T")
#: Weight of the newest task in the moving average of task run time (about the last 10 tasks count).
TASK_PACE_WEIGHT = 0.1


class _Ticket:
    """A place in the queue promised to one request at its admission, for its one task."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = False


#: The current request's ticket: one task per request, so a context (a request's task) holds at most one.
_ticket: ContextVar[_Ticket | None] = ContextVar("bcrypt_ticket", default=None)


def _unused_ticket() -> _Ticket | None:
    """The current request's ticket if it has one and its task has not been submitted yet."""
    ticket = _ticket.get()
    return ticket if ticket is not None and not ticket.used else None


def lower_priority(nice: int) -> None:
    """Make the calling thread yield the CPU to the event loop (and to Postgres, on a shared machine).

    Linux keeps a nice value per thread, so this touches the bcrypt workers only: hashing then takes the CPU
    nobody else wants, and a login storm no longer starves every other request of the loop thread.
    """
    if nice and hasattr(os, "setpriority"):
        # Not permitted here: hashing still works, only without the preference.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


class BoundedExecutor:
    """At most `workers` tasks run and `queue_limit` wait; the next one is refused. A task that waited more than
    `max_wait` seconds when a worker takes it is refused then (0: no bound), as a pool checkout times out: when
    the workers are starved of CPU (a loaded machine, nice threads) the queue's length no longer bounds its wait.

    A request can be admitted at the door (`admitted()`): its task then has a place in the queue and is not
    refused later, neither when the work before it (form parsing, the user lookup) is done nor when a worker
    takes it late. Refused then, its 503 would come only after the work or the wait it had already done: those
    were the overload drill's slowest 503s (figures in docs/performance.md).

    bcrypt releases the GIL while hashing, so threads give real parallelism. With `inline=True`
    tasks run on the calling (event loop) thread: the seed's blocking baseline, kept measurable.
    """

    def __init__(
        self,
        workers: int,
        queue_limit: int,
        metrics: Metrics,
        *,
        inline: bool = False,
        nice: int = 0,
        max_wait: float = 0.0,
    ) -> None:
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
        self._reserved = 0  # admitted requests whose task is not submitted yet (loop thread only)
        self._busy = 0  # running in a worker (touched under the lock)
        metrics.live("board_executor_workers", "bcrypt executor worker threads", lambda: self.workers)
        metrics.live("board_executor_queue_limit", "Tasks allowed to wait for a worker", lambda: self.queue_limit)
        metrics.live("board_executor_queue_depth", "Tasks waiting for a worker", lambda: self.queue_depth)
        metrics.live("board_executor_busy_workers", "Workers running a task", lambda: self.busy)

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def queue_depth(self) -> int:
        return max(0, self._pending - self._busy)

    def has_idle_worker(self) -> bool:
        """A task submitted now would start at once (always true inline): work that can wait asks first."""
        return self.inline or self._pending + self._reserved < self.workers

    def expected_wait(self) -> float:
        """Seconds a task submitted now would wait: the tasks ahead of it beyond the workers, at the recent pace."""
        ahead = self._pending + self._reserved - self.workers + 1
        return max(0, ahead) * self._task_seconds / self.workers

    def refusal(self) -> ExecutorFull | None:
        """The `ExecutorFull` a task submitted now would get (counted as a rejection), or None.

        None for a request admitted at the door with its ticket unused. A task that would wait past `max_wait`
        at the recent pace is refused too, so it does not get its 503 only after waiting.
        """
        if self.inline:
            return None
        if _unused_ticket() is not None:
            return None
        if self._pending + self._reserved >= self.workers + self.queue_limit:
            refused = ExecutorFull()
        elif self.max_wait and self.expected_wait() > self.max_wait:
            refused = ExecutorFull("server busy: password hashing queue too slow")
        else:
            return None
        self._metrics.executor_rejections.inc()
        return refused

    @contextmanager
    def admitted(self) -> Iterator[ExecutorFull | None]:
        """Admit the current request for one task: yields the refusal, or None with a place kept for its task.

        Asked before the request is routed (`HashingShedMiddleware`): a refused login costs no form parsing and
        no DB connection. An admitted one keeps its place until its task is submitted or the request ends.
        """
        refused = self.refusal()
        if refused is not None:
            yield refused
            return
        ticket = _Ticket()
        token = _ticket.set(ticket)
        self._reserved += 1
        try:
            yield None
        finally:
            if not ticket.used:
                self._reserved -= 1
            _ticket.reset(token)

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
        ticket = _unused_ticket()
        admitted = ticket is not None
        if ticket is None:
            self.refuse_if_full()
        else:
            ticket.used = True
            self._reserved -= 1
        self._pending += 1
        submitted = time.perf_counter()

        def call() -> T:
            started = time.perf_counter()
            self._metrics.executor_wait.observe(started - submitted)
            # An admitted task is served even if late: refused now, its 503 would come after the whole wait.
            if self.max_wait and not admitted and started - submitted > self.max_wait:
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
