"""Each API process's own pulse, taken on its event loop every tick: how late the loop ran the tick (its lag),
the CPU its loop thread and the whole process used, and the live gauges (pool, executor) for the supervisor's
scrape.

Lag is the first sign of a saturated process: a loop that runs a due timer 50 ms late makes every request in
flight 50 ms slower, whatever the pool or the database do. A loop thread using ~1 CPU-second per second has no
time left to give: more processes (or replicas) are the fix, not bigger pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from board.metrics import Metrics

#: Often enough to catch a stall of a few tens of milliseconds, rare enough to cost nothing (~10 µs a tick).
TICK_SECONDS = 0.1


class ProcessSampler:
    def __init__(self, metrics: Metrics, tick: float = TICK_SECONDS) -> None:
        assert tick > 0, "tick must be positive"
        self.metrics = metrics
        self.tick = tick
        self._task: asyncio.Task[None] | None = None

    def sample_cpu(self, thread_before: float, process_before: float) -> tuple[float, float]:
        thread_now, process_now = time.thread_time(), time.process_time()
        self.metrics.loop_cpu.inc(max(0.0, thread_now - thread_before))
        self.metrics.process_cpu.inc(max(0.0, process_now - process_before))
        return thread_now, process_now

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # thread_time() is the calling thread's CPU: called on the loop, it is the loop's own share.
        thread_cpu, process_cpu = time.thread_time(), time.process_time()
        while True:
            due = loop.time() + self.tick
            await asyncio.sleep(self.tick)
            self.metrics.loop_lag.observe(max(0.0, loop.time() - due))
            thread_cpu, process_cpu = self.sample_cpu(thread_cpu, process_cpu)
            self.metrics.refresh_live()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="board-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
