"""The garbage collector of the API process: kept out of the event loop's way, and its pauses measured.

A CPython collection stops the event loop, so every request in flight waits for it. Measured with the seed
test (1000 users, tuned preset, 2 cores): with CPython's defaults the process ran about 20 full (generation
2) collections per 100 s of 90-130 ms each that found almost nothing, because they walked the whole heap
FastAPI, SQLAlchemy and pydantic built at import; that was the API's p99 and the stalls that tripped the
overload bounds. `freeze_startup_heap()` takes that heap out of the collector's sight and collects the young
generation less often: 4 collections over 10 ms in the same test, non-login p95 54-88 ms -> 24-33 ms.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

#: CPython's default is 700 allocations; a request makes thousands, so the young generation was collected
#: hundreds of times a second. Ten times fewer, larger collections cost less in all.
GEN0_THRESHOLD = 7000


def freeze_startup_heap() -> None:
    """Call once the app is built: what exists now lives as long as the process, so never scan it again."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


class GcPauseObserver:
    """Times each collection into `histogram` (label: generation) through `gc.callbacks`.

    Wall time, so a collection the OS preempted counts in full: the event loop waited that long either way.
    """

    def __init__(self, histogram: Histogram) -> None:
        self._children = [histogram.labels(str(generation)) for generation in range(3)]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started:
            self._children[info["generation"]].observe(time.perf_counter() - self._started)
            self._started = 0.0

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)
