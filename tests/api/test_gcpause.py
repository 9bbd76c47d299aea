"""board.gcpause: the start-up heap frozen out of the collector's sight, and every collection's pause timed."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

from prometheus_client import CollectorRegistry, Histogram

from board.gcpause import GEN0_THRESHOLD, GcPauseObserver


def _pauses() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    return registry, Histogram("pause_seconds", "test", ["generation"], registry=registry)


def _count(registry: CollectorRegistry, generation: int) -> float:
    return registry.get_sample_value("pause_seconds_count", {"generation": str(generation)}) or 0.0


def test_each_collection_is_timed_once_under_its_generation() -> None:
    registry, histogram = _pauses()
    observer = GcPauseObserver(histogram)
    observer.install()
    observer.install()  # twice: still one callback, so one observation per collection
    try:
        assert gc.callbacks.count(observer) == 1
        old = _count(registry, 2)
        gc.collect(2)
        assert _count(registry, 2) == old + 1
    finally:
        observer.remove()
    assert observer not in gc.callbacks
    total = sum(_count(registry, g) for g in range(3))
    gc.collect()
    assert sum(_count(registry, g) for g in range(3)) == total  # removed: nothing more observed
    observer.remove()  # and removing again is harmless


def test_a_collection_seen_only_from_its_end_is_not_timed() -> None:
    """Installed half-way through a collection: its "stop" has no "start", so no made-up pause is observed."""
    registry, histogram = _pauses()
    observer = GcPauseObserver(histogram)
    observer("stop", {"generation": 1})
    assert _count(registry, 1) == 0
    observer("start", {"generation": 1})
    observer("stop", {"generation": 1})
    assert _count(registry, 1) == 1


def test_freezing_hides_the_startup_heap_from_the_collector_and_collects_the_young_less_often() -> None:
    """In a child process: freezing is process-wide and would change every later test's collections."""
    script = textwrap.dedent(
        """
        import gc
        from board.gcpause import freeze_startup_heap
        before = [object() for _ in range(3)], []
        default_gen0 = gc.get_threshold()[0]
        freeze_startup_heap()
        after = []
        seen = {id(o) for o in gc.get_objects()}
        print(id(before[1]) in seen, id(after) in seen, gc.get_freeze_count() > 0, default_gen0, gc.get_threshold()[0])
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    startup_seen, new_seen, frozen, default_gen0, gen0 = out.stdout.split()
    assert (startup_seen, new_seen, frozen) == ("False", "True", "True")
    assert int(gen0) == GEN0_THRESHOLD > int(default_gen0)
