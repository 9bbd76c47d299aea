"""Generator-health guard: sustained worker CPU, missing workers, users short of the target."""

from __future__ import annotations

from loadsuite.health import CPU_SUSTAINED_REPORTS, USERS_SHORTFALL_GRACE, CpuMeter, GeneratorHealth


def test_sustained_cpu_is_suspect() -> None:
    h = GeneratorHealth()
    for _ in range(CPU_SUSTAINED_REPORTS):
        h.record_cpu("w1", 0.97)
    assert h.reasons() == [f"worker w1 CPU stayed above 90% for {CPU_SUSTAINED_REPORTS} consecutive reports (peak 97%)"]


def test_cpu_spikes_are_not_suspect() -> None:
    h = GeneratorHealth()
    for ratio in [0.95, 0.95, 0.5] * 3:
        h.record_cpu("w1", ratio)
    assert h.reasons() == []


def test_missing_worker_is_suspect() -> None:
    h = GeneratorHealth()
    h.record_missing("w2")
    assert h.reasons() == ["worker w2 went missing during the run"]


def test_target_never_reached_is_suspect() -> None:
    h = GeneratorHealth()
    for t in range(10):
        h.record_users(min(t, 4), 10, float(t))
    h.finish(10.0)
    assert h.reasons() == ["users reached 4 < target 10"]


def test_target_reached_is_healthy() -> None:
    h = GeneratorHealth()
    for t in range(10):
        h.record_users(min(t * 3, 10), 10, float(t))
    h.finish(10.0)
    assert h.reasons() == []
    assert h.max_users == 10


def test_last_step_still_spawning_within_grace_is_not_suspect() -> None:
    h = GeneratorHealth()
    h.record_users(10, 10, 0.0)
    h.record_users(12, 20, 1.0)  # a new step begins just before the run ends
    h.finish(1.0 + USERS_SHORTFALL_GRACE / 2)
    assert h.reasons() == []


def test_to_dict_lists_workers() -> None:
    h = GeneratorHealth()
    h.record_worker_users("w1", 5)
    h.record_cpu("w1", 0.25)
    assert h.to_dict()["workers"]["w1"]["max_users"] == 5


def test_worker_that_quits_mid_run_is_suspect() -> None:
    h = GeneratorHealth()
    h.record_worker_users("w1", 5)
    h.record_worker_users("w2", 5)
    h.record_present({"w1", "w2"})
    h.record_present({"w1"})
    assert h.reasons() == ["worker w2 left during the run"]


def test_worker_that_never_ran_users_is_not_counted_as_left() -> None:
    h = GeneratorHealth()
    h.record_present({"w1"})
    h.record_present(set())
    assert h.reasons() == []


def test_cpu_is_measured_over_a_sane_interval() -> None:
    """Two reports back to back (a test's end): one 10 ms kernel tick over 0.5 ms is not 20 cores.

    psutil's cpu_percent(None), used before, divides by whatever interval passed since its last call:
    these readings gave 0.5, then 20.0 (the 1930 % seen on a worker), then 0.5.
    """
    meter = CpuMeter()
    readings = [(0.0, 100.0), (1.5, 103.0), (1.51, 103.0005), (3.0, 106.0)]  # (CPU seconds, monotonic clock)
    ratios = [meter.sample(cpu, at) for cpu, at in readings]
    assert ratios[0] is None  # no interval yet
    assert ratios[1] == 0.5
    assert ratios[2] is None  # too short: folded into the next interval
    assert ratios[3] == 0.5  # (3.0 - 1.5) / (106 - 103)
    assert all(r is None or r <= 1.0 for r in ratios)


def test_cpu_meter_restarts_when_the_counter_goes_back() -> None:
    meter = CpuMeter()
    meter.sample(5.0, 0.0)
    assert meter.sample(1.0, 2.0) is None  # another process's counter: a new baseline, not a negative ratio
    assert meter.sample(2.0, 4.0) == 0.5
