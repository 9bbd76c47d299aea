"""The bottleneck diagnosis' rules (pure: hand-made traces, no stack) and its place first in every rendering."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml

from loadlab import dashboards, demand, diagnosis, planted, presets, report, saturation_rules
from loadlab.diagnosis import STEP, Setup, diagnose, thresholds_for
from loadlab.result import Diagnosis, RunResult
from tests.dashboards.test_dash_contracts import BUILTIN, CONTRACTS, contract_metrics
from tests.lab.sample_result import sample_result
from tests.lab.test_planted import SUITE_CASES

REPO = Path(__file__).resolve().parents[2]
SETUP = Setup(
    env={"BOARD_BCRYPT_ROUNDS": "8", "BOARD_DB_POOL_SIZE": "5", "BOARD_DB_MAX_OVERFLOW": "0"},
    pgbouncer=True,
    pgbouncer_pool=20,
    redis=True,
    processes=2,
    api_cpus=2.0,
    postgres_cpus=2.0,
    generator_workers=2,
)


def trace(values: list[float], start: float = 0.0) -> list[list[float]]:
    """One sample every STEP seconds from `start`."""
    return [[start + i * STEP, v] for i, v in enumerate(values)]


def low(n: int = 15) -> list[list[float]]:
    return trace([0.0] * n)


def quiet_traces() -> dict[str, list[list[float]]]:
    return {s.key: low() for s in diagnosis.SIGNALS}


def run(traces: dict[str, list[list[float]]]) -> Diagnosis:
    return diagnose(traces, thresholds_for(SETUP), SETUP)


def test_the_resource_that_crossed_earliest_is_named_first() -> None:
    traces = quiet_traces()
    traces["executor_queue"] = trace([0, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3])  # from 4 s
    traces["db_pool_wait"] = trace([0] * 7 + [0.5] * 8)  # from 14 s
    found = run(traces)
    assert [f.resource for f in found.findings] == [diagnosis.EXECUTOR, diagnosis.DB_POOL]
    assert found.findings[0].crossed_at == 4.0 and found.findings[1].crossed_at == 14.0
    assert found.headline.startswith("bcrypt executor saturated first, 4 s into the run")
    assert "BOARD_EXECUTOR_WORKERS" in found.findings[0].next_step
    assert "BOARD_DB_POOL_SIZE 5" in found.findings[1].next_step


def test_a_crossing_within_the_tie_window_goes_to_the_cause() -> None:
    """A lag quantile rises on the first slow ticks, the CPU rate only once the window is full: the CPU is named."""
    traces = quiet_traces()
    traces["loop_lag"] = trace([0, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3])  # from 2 s
    traces["api_loop_cpu"] = trace([0, 0, 0, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95])  # from 6 s
    assert [f.resource for f in run(traces).findings] == [diagnosis.API_CPU, diagnosis.EVENT_LOOP]
    traces["api_loop_cpu"] = trace([0] * 6 + [0.95] * 6)  # from 12 s: well after the lag, not its cause
    assert [f.resource for f in run(traces).findings] == [diagnosis.EVENT_LOOP, diagnosis.API_CPU]


def test_a_burst_or_a_gap_is_not_saturation() -> None:
    threshold = 1.0
    assert diagnosis.crossing(trace([0, 5, 5, 5, 0, 0]), threshold) is None  # 3 samples: one burst in one window
    assert diagnosis.crossing(trace([0, 5, 5, 5, 5, 0]), threshold) == 1
    gapped = [[2.0, 5.0], [4.0, 5.0], [12.0, 5.0], [14.0, 5.0]]  # windows with too few events left out
    assert diagnosis.crossing([[2.0, 5.0], [4.0, 5.0], [8.0, 5.0], [10.0, 5.0]], threshold) == 0  # one sample missing
    assert diagnosis.crossing(gapped, threshold) is None
    assert diagnosis.crossing([[0.0, 5.0], [2.0, 5.0]], threshold) is None  # the run ended before it held


def test_nothing_saturated_says_which_came_nearest() -> None:
    traces = quiet_traces()
    traces["db_pool_wait"] = trace([0.08] * 10)
    found = run(traces)
    assert found.findings == [] and diagnosis.first_resource(found) == ""
    assert found.headline.startswith("nothing saturated")
    assert "DB pool checkout wait p95 peaked at 80% of its threshold" in found.headline


def test_a_burst_over_the_threshold_is_not_called_under_it() -> None:
    traces = quiet_traces()
    traces["db_pool_wait"] = trace([0.0, 2.0, 2.0, 0.0, 0.0, 0.0])  # 20x the threshold, for one window
    found = run(traces)
    assert found.findings == []
    assert "stayed under" not in found.headline
    assert "DB pool checkout wait p95 peaked at 2000% of its threshold, briefly" in found.headline


def test_signals_with_no_data_are_listed_as_unmeasured() -> None:
    traces = quiet_traces()
    del traces["pgbouncer_wait"], traces["redis_latency"]
    found = run(traces)
    assert set(found.unmeasured) == {"pgbouncer_wait", "redis_latency"}
    rows = diagnosis.as_rows(found)
    assert sum(row[-1] == "not measured" for row in rows) == 2


def test_cpu_thresholds_follow_the_quota_and_the_processes() -> None:
    result = sample_result(Path("/nonexistent"))
    result.preset = {"name": "x", "env": {}, "workers": 1}
    result.cpu_limit = {"cpus": {"api": 0.25, "postgres": 1.0}}
    thresholds = thresholds_for(diagnosis.setup_of(result))
    assert thresholds["api_process_cpu"] == 0.2 and thresholds["api_loop_cpu"] == 0.2  # 80 % of a quarter core
    assert thresholds["postgres_cpu"] == 0.8
    result.cpu_limit = {}
    processes = {"api_processes": trace([2, 2, 2])}
    thresholds = thresholds_for(diagnosis.setup_of(result, processes))  # 2 processes seen, 2 usable CPUs
    assert thresholds["api_process_cpu"] == 0.8 and thresholds["api_loop_cpu"] == 0.8


def test_postgres_cpu_comes_from_the_cpu_meter_readings() -> None:
    timeline = [(1000.0 + i, {"postgres": 0.5 * i, "api": 0.1 * i}) for i in range(20)]
    rates = diagnosis.meter_rate(timeline, "postgres", started_at=1000.0)
    assert rates and all(abs(v - 0.5) < 1e-9 for _, v in rates)
    assert rates[0][0] >= diagnosis.WINDOW / 2


def test_a_compare_says_how_the_same_signal_looked_in_the_other_presets() -> None:
    saturated = quiet_traces()
    saturated["db_pool_wait"] = trace([0.4] * 10)
    calm = quiet_traces()
    calm["db_pool_wait"] = trace([0.01] * 10)
    runs = {"seed-baseline": run(saturated), "tuned": run(calm), "other": None}
    diagnosis.compare(runs)
    baseline = runs["seed-baseline"]
    assert baseline is not None
    elsewhere = baseline.findings[0].elsewhere
    assert elsewhere["tuned"] == "stayed under: peak 10 ms (threshold 100 ms)"
    assert elsewhere["other"] == "no diagnosis"


def test_every_next_step_names_a_real_knob_or_chart_value() -> None:
    contracts = CONTRACTS.read_text()
    values = yaml.safe_load((REPO / "helm" / "loadlab" / "values.yaml").read_text())
    for signal in diagnosis.SIGNALS:
        traces = quiet_traces()
        traces[signal.key] = trace([signal.threshold * 3 + 3] * 10)
        found = run(traces)
        assert found.findings and found.findings[0].signal == signal.key, signal.key
        step = found.findings[0].next_step
        assert step, signal.key
        for knob in re.findall(r"BOARD_[A-Z_]+", step):
            assert f"| {knob} |" in contracts, f"{signal.key}: {knob} is no knob of docs/contracts.md"
        for key in re.findall(r"`([a-z]+(?:\.[a-zA-Z]+)+)`", step):
            node = values
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"{signal.key}: {key} is no chart value"
                node = node[part]


def test_every_metric_the_diagnosis_reads_is_in_the_contract() -> None:
    allowed = contract_metrics(CONTRACTS.read_text()) | BUILTIN
    exprs = [s.expr for s in diagnosis.SIGNALS if s.expr] + [e for _, e in diagnosis.CONTEXT.values()]
    for expr in exprs:
        unknown = dashboards.metric_names(expr) - allowed
        assert not unknown, f"{expr} reads {unknown}, not in docs/contracts.md"


def test_the_saturation_rules_file_is_generated_from_the_signals(tmp_path: Path) -> None:
    assert saturation_rules.main(["--check"]) == 0
    stale = tmp_path / "stale.yaml"
    stale.write_text(saturation_rules.render().replace("/ 0.25", "/ 0.3"))
    assert saturation_rules.main(["--check", "--out", str(stale)]) == 1
    groups = yaml.safe_load(saturation_rules.render())["groups"]
    recorded = {r["record"].removeprefix(saturation_rules.PREFIX) for r in groups[0]["rules"]}
    assert recorded == {s.key for s in diagnosis.SIGNALS if s.source == diagnosis.PROMETHEUS}


def test_a_stored_result_renders_its_diagnosis_first_everywhere(tmp_path: Path) -> None:
    traces = quiet_traces()
    traces["pgbouncer_wait"] = trace([0, 0, 6, 6, 6, 6, 6, 6])
    traces["pgbouncer_server_active"] = trace([2] * 8)
    traces["db_pool_wait"] = trace([0] * 5 + [0.3] * 6)
    result = sample_result(tmp_path / "report")
    result.diagnosis = run(traces)
    result.save(tmp_path / "stored.json")
    stored = RunResult.load(tmp_path / "stored.json")
    assert stored.diagnosis is not None and stored.diagnosis.headline == result.diagnosis.headline
    again = diagnosis.rediagnose(stored)
    assert again is not None and [f.resource for f in again.findings] == [diagnosis.PGBOUNCER, diagnosis.DB_POOL]

    report.write(stored)
    out = Path(stored.report_dir)
    text = report.summary_text(stored).splitlines()
    assert text[0].startswith("diagnosis: PgBouncer pool saturated first, 4 s into the run")
    assert text[1].startswith("  1. PgBouncer pool at 4 s:") and "`pgbouncer.poolSize`, now 20" in text[1]
    md = (out / "summary.md").read_text()
    sections = re.findall(r"^## (.+)$", md, flags=re.M)
    assert sections[0] == "Diagnosis"
    assert md.index("PgBouncer pool saturated first") < md.index("**Machine**") < md.index("## Verdict")
    assert next(iter(json.loads((out / "summary.json").read_text()))) == "diagnosis"
    html = (out / "index.html").read_text()
    assert html.index('id="diagnosis"') < html.index('id="machine"') < html.index('id="verdict"')
    assert "PgBouncer pool saturated first" in html and "every saturation signal" in html


def test_a_loop_that_waited_for_a_cpu_counts_as_busy() -> None:
    """Demand = ran + waited to run: a loop that got half a core and waited the other half wanted a whole one."""
    timeline = [(1000.0 + i, {"api": {7: (0.5 * i, 0.45 * i), 8: (0.1 * i, 0.0)}}) for i in range(12)]
    points = demand.busiest(timeline, "api", started_at=1000.0, window=diagnosis.WINDOW)
    assert points and all(abs(v - 0.95) < 1e-9 for _, v in points)
    # A light loop on a crowded machine waits at every wake-up: its wait counts only up to 4 times what it ran.
    crowded = [(1000.0 + i, {"api": {7: (0.05 * i, 0.9 * i)}}) for i in range(12)]
    assert all(abs(v - 0.25) < 1e-9 for _, v in demand.busiest(crowded, "api", 1000.0, diagnosis.WINDOW))
    # A CPU-bound loop that got 25 % of a CPU and waited the rest wanted a whole one.
    starved = [(1000.0 + i, {"api": {7: (0.25 * i, 0.75 * i)}}) for i in range(12)]
    assert all(abs(v - 1.0) < 1e-9 for _, v in demand.busiest(starved, "api", 1000.0, diagnosis.WINDOW))
    assert demand.busiest(timeline, "load generator", started_at=1000.0, window=diagnosis.WINDOW) == []
    run_s, wait_s = demand.schedstat(os.getpid()) or (-1.0, -1.0)
    assert run_s > 0 and wait_s >= 0
    assert demand.schedstat(2**22 + 12345) is None  # no such process


def test_contracts_names_every_recorded_signal() -> None:
    text = " ".join(CONTRACTS.read_text().split())
    section = text[text.index("## Saturation signals") : text.index("## Load-generator metrics")]
    listed = set(re.findall(r"`([a-z_]+)`", section.split("Signals:")[1].split("(the lab")[0]))
    assert listed == {s.key for s in diagnosis.SIGNALS if s.source == diagnosis.PROMETHEUS}


def test_every_planted_file_is_a_valid_values_file_with_a_case() -> None:
    files = {p.stem for p in planted.PLANTED_DIR.glob("*.yaml")}
    assert files == set(planted.BY_NAME)
    for case in planted.CASES:
        assert presets.load(str(case.values)).name == case.name
        assert case.expected in {s.resource for s in diagnosis.SIGNALS}
    assert set(SUITE_CASES) <= set(planted.BY_NAME)


def test_an_event_loop_full_of_bcrypt_points_at_the_executor_knob() -> None:
    """The seed's baseline: hashing on the loop fills it; the next step is to move hashing off it, not more CPU."""
    baseline = Setup(**{**SETUP.__dict__, "env": {"BOARD_HASH_IN_EXECUTOR": "false", "BOARD_BCRYPT_ROUNDS": "12"}})
    traces = quiet_traces()
    traces["api_loop_cpu"] = trace([0.98] * 10)
    found = diagnose(traces, thresholds_for(baseline), baseline)
    assert found.findings[0].resource == diagnosis.API_CPU
    assert found.findings[0].next_step.startswith("hash in the executor (BOARD_HASH_IN_EXECUTOR=true, now false)")
    assert run(traces).findings[0].next_step.startswith("more API replicas")  # hashing off the loop, every CPU used


def test_a_held_lock_is_named_before_the_slow_commits_and_pool_waits_it_causes() -> None:
    """Writers queue behind a lock: their round trips (commits) and then the pool's checkouts slow down with it."""
    traces = quiet_traces()
    traces["lock_waits"] = trace([0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4])  # from 6 s
    traces["commit_latency"] = trace([0, 0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])  # a moment before: a quantile
    traces["db_pool_wait"] = trace([0] * 5 + [0.5] * 6)  # from 10 s
    found = run(traces)
    assert [f.resource for f in found.findings] == [diagnosis.POSTGRES_LOCKS, diagnosis.COMMITS, diagnosis.DB_POOL]
    assert found.headline.startswith("Postgres locks saturated first, 6 s into the run")
    assert "pg_blocking_pids" in found.findings[0].next_step
    assert found.findings[0].evidence[diagnosis.BY_KEY["commit_latency"].figure] == 0.9
    # The commits' own next step sends the reader to the lock, not to the disk.
    assert found.findings[1].next_step.startswith("see Postgres backends waiting for a lock (mean) first")


def test_slow_commits_with_no_lock_or_queue_point_at_the_wal_disk() -> None:
    traces = quiet_traces()
    traces["commit_latency"] = trace([0, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3])
    traces["lock_waits"] = trace([0.2] * 8)  # a lock now and then is not saturation
    found = run(traces)
    assert [f.resource for f in found.findings] == [diagnosis.COMMITS]
    assert "`postgresql.persistence.storageClass`" in found.findings[0].next_step
    assert "300 ms (p95)" in found.findings[0].next_step
    # Writes waiting in PgBouncer's queue are PgBouncer's finding; the commits' step says so.
    traces["pgbouncer_wait"] = trace([0, 5, 5, 5, 5, 5, 5, 5])
    found = run(traces)
    assert [f.resource for f in found.findings] == [diagnosis.PGBOUNCER, diagnosis.COMMITS]
    assert found.findings[1].next_step.startswith("see clients waiting in PgBouncer (mean) first")


def test_slow_commits_and_redis_under_a_late_loop_point_at_the_loop() -> None:
    """Both are timed on the API's event loop: with the loop late, the loop is the finding to act on, not the disk."""
    traces = quiet_traces()
    traces["loop_lag"] = trace([0, 1.2, 1.2, 1.2, 1.2, 1.2, 1.2, 1.2, 1.2])
    traces["commit_latency"] = trace([0, 0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    traces["redis_latency"] = trace([0, 0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2])
    steps = {f.resource: f.next_step for f in run(traces).findings}
    assert steps[diagnosis.COMMITS].startswith("see event-loop lag p90 first"), steps
    assert steps[diagnosis.REDIS].startswith("see event-loop lag p90 first: the API times each Redis command"), steps
    traces["loop_lag"] = low()
    steps = {f.resource: f.next_step for f in run(traces).findings}
    assert "`postgresql.persistence.storageClass`" in steps[diagnosis.COMMITS]
    assert steps[diagnosis.REDIS].startswith("look at Redis")
