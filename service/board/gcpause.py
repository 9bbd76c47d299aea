"""The garbage collector of the API process: kept out of the event loop's way, and its pauses measured.

A CPython collection stops the event loop, so every request in flight waits for it. With CPython's defaults
the full (generation 2) collections walked the whole heap FastAPI, SQLAlchemy and pydantic built at import and
found almost nothing there, yet each one stalled every request in flight: they set the API's p99 and tripped
the overload bounds. `freeze_startup_heap()` takes that heap out of the collector's sight and collects the
young generation less often (the seed test's figures before and after: docs/performance.md).
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
