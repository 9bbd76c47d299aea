"""CPU-seconds per part of a run, from real processes: a busy child counts, a child that ends keeps its share."""

from __future__ import annotations

import subprocess
import sys
import time

from loadlab.cpumeter import CpuMeter, part_of

BUSY = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def _spin(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=seconds)])


def test_a_part_is_charged_what_its_process_tree_burned_since_the_first_reading() -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BUSY.format(seconds=0.6)!r}])",
        ]
    )
    idle = subprocess.Popen(["sleep", "30"])
    meter = CpuMeter()
    try:
        meter.read({"api": [parent.pid], "redis": [idle.pid]})
        deadline = time.monotonic() + 30
        while parent.poll() is None and time.monotonic() < deadline:
            meter.read({"api": [parent.pid], "redis": [idle.pid]})
            time.sleep(0.05)
        used = meter.used()
    finally:
        idle.kill()
        idle.wait()
    # The child's 0.6 s were read before it ended (a reading every 50 ms); the sleeper used next to nothing.
    assert 0.45 <= used["api"] <= 2.0, used
    assert used["redis"] < 0.1, used


def test_a_process_started_after_the_first_reading_counts_from_zero() -> None:
    meter = CpuMeter()
    meter.read({"load generator": []})
    late = _spin(0.4)
    deadline = time.monotonic() + 30
    while late.poll() is None and time.monotonic() < deadline:
        meter.read({"load generator": [late.pid]})
        time.sleep(0.05)
    assert 0.25 <= meter.used()["load generator"] <= 1.5


def test_services_fall_into_parts() -> None:
    services = ("api", "postgres", "pgbouncer", "redis", "prometheus", "redis-exporter")
    assert [part_of(s) for s in services] == ["api", "postgres", "pgbouncer", "redis", "monitoring", "monitoring"]
