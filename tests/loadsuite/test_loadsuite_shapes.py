"""Step and capacity shapes driven tick by tick with a fake clock and fake stats.

`loadsuite.shapes` imports `locust`, so the driver runs in a subprocess and prints JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from locust_helpers import LOCUST_DIR

DRIVER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from loadsuite import shapes
from loadsuite.thresholds import parse_thresholds

class Entry:
    def __init__(self):
        self.num_requests, self.num_failures, self.response_times = 0, 0, {}

class Stats:
    def __init__(self):
        self.entries = {("/posts/", "GET"): Entry()}

class Runner:
    def __init__(self):
        self.stats = Stats()

now = [0.0]
def drive(shape, per_step_latency):
    shape.runner = Runner()
    shape.get_run_time = lambda: now[0]
    shape._clock = lambda: now[0]
    shape.reset_time()
    ticks = []
    for second in range(200):
        now[0] = float(second)
        tick = shape.tick()
        ticks.append(tick)
        if tick is None:
            break
        e = shape.runner.stats.entries[("/posts/", "GET")]
        latency = per_step_latency(tick[0])
        e.num_requests += 10
        e.response_times[latency] = e.response_times.get(latency, 0) + 10
    return ticks

slo = parse_thresholds({"*": {"p95_ms": 100}})
cap = shapes.CapacityShape(5, 10.0, 100, 0, 600, slo)
cap_ticks = drive(cap, lambda users: 20 if users <= 15 else 500)
step = shapes.StepShape(5, 10.0, 12, 2.0, 35)
step_ticks = drive(step, lambda users: 20)
ceiling = shapes.CapacityShape(5, 10.0, 10, 0, 600, slo)
ceiling_ticks = drive(ceiling, lambda users: 20)
print(json.dumps({"capacity": cap.report.to_dict(), "cap_ticks": cap_ticks, "step_ticks": step_ticks,
                  "ceiling": ceiling.report.to_dict()}))
"""


@pytest.fixture(scope="module")
def result() -> dict:
    """One subprocess drives all three shapes (importing locust costs about a second)."""
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, str(LOCUST_DIR)], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_capacity_stops_at_the_first_broken_step_and_names_the_knee(result: dict) -> None:
    cap = result["capacity"]
    assert [s["users"] for s in cap["steps"]] == [5, 10, 15, 20]
    assert [s["held"] for s in cap["steps"]] == [True, True, True, False]
    assert cap["knee"]["users"] == 15 and cap["knee_found"]
    assert cap["stopped_because"].startswith("SLO broke at 20 users")
    assert result["cap_ticks"][-1] is None and len(result["cap_ticks"]) == 41


def test_capacity_at_the_ceiling_reports_no_knee_yet(result: dict) -> None:
    ceiling = result["ceiling"]
    assert [s["users"] for s in ceiling["steps"]] == [5, 10]
    assert ceiling["knee_found"] is False and ceiling["knee"]["users"] == 10
    assert "ceiling" in ceiling["stopped_because"]


def test_step_shape_steps_up_to_the_cap_and_stops_at_run_time(result: dict) -> None:
    ticks = result["step_ticks"]
    users = [t[0] for t in ticks if t is not None]
    assert users[:10] == [5] * 10 and users[10:20] == [10] * 10 and set(users[20:]) == {12}
    assert ticks[-1] is None and len(users) == 35
    assert {t[1] for t in ticks if t is not None} == {2.0}
