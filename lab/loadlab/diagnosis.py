"""Which resource saturated first in a run, with the figures that show it and the rule that decided it (issue 19).

Each saturation signal (`SIGNALS`) is one figure over time with a threshold: an API event loop's CPU near a core,
the DB pool's checkout wait, clients waiting in PgBouncer, the bcrypt queue's wait, Redis' latency, Postgres'
CPU, its backends waiting for a lock (the exporter's custom query) and the writes' commit latency, the load
generator's CPU... The lab samples each over the run (`sample`: Prometheus range queries every `STEP` seconds over
`WINDOW`, and the CPU meter's readings for Postgres). A signal *crosses* at the first sample
that starts `SUSTAIN` samples in a row at or above its threshold. The resource whose signal crossed earliest
saturated first. Signals that crossed within `TIE_SECONDS` of the earliest are put in cause order (`SIGNALS`'
order): a CPU that is full slows every wait measured on it, and a quantile over the window rises on its first slow
samples while a CPU rate needs the whole window, so a latency that crossed a moment before the CPU is its effect.

`diagnose` is a pure function of the traces, so a stored `summary.json` is diagnosed again the same way; the same
signals are Prometheus recording rules (`saturation_rules.py` writes grafana/rules/saturation.rules.yaml), which
the Grafana overview's "Saturation now" panel shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadlab import charts, demand
from loadlab.cpumeter import LOAD_GENERATOR
from loadlab.result import Diagnosis, Finding, RunResult

#: Seconds between two samples of a signal, and the window each rate or quantile covers (the lab scrapes every s).
STEP = 2.0
WINDOW = 6
#: Samples in a row a signal must hold at or above its threshold to count as crossed: longer than one window, so
#: one burst (the logins of a spawn, a slow first connection) that fills a single window is not saturation.
SUSTAIN = 4
#: A quantile over fewer events than this in its window says nothing (one slow request is its p95).
MIN_EVENTS = 10
#: Crossings this close to the earliest are ordered by cause rather than by time (see the module's docstring).
TIE_SECONDS = 6.0

#: A part using this share of the CPU it may use is CPU-bound: the kernel's quota accounting and a shared machine
#: keep a flat-out process a little under 100 % (one API process under a quarter-core quota reached 88 %).
CPU_FULL = 0.8

GENERATOR = "load generator CPU"
API_CPU = "API CPU"
POSTGRES_CPU = "Postgres CPU"
POSTGRES_LOCKS = "Postgres locks"
COMMITS = "Postgres commits"
PGBOUNCER = "PgBouncer pool"
EXECUTOR = "bcrypt executor"
REDIS = "Redis"
DB_POOL = "DB pool (API)"
EVENT_LOOP = "API event loop"

PROMETHEUS = "prometheus"
CPU_METER = "cpu meter"
DEMAND = "demand"  # loadlab.demand: /proc/PID/schedstat of the API's and the generator's loops
#: A loop that ran or waited to run this share of the time had more work than CPU.
DEMAND_FULL = 0.9


@dataclass(frozen=True)
class Signal:
    key: str
    resource: str
    figure: str  # what the value is
    unit: str  # "cores", "s", "ratio", "clients", "/s"
    expr: str  # PromQL with `{w}` for the window; the highest series counts (process, pool, worker)
    threshold: float
    rule: str  # the rule in words
    source: str = PROMETHEUS


def _p95_of(histogram: str) -> str:
    """PromQL: a histogram's p95 over the window, only when it saw enough events (`{n}`) to have one."""
    return (
        f"histogram_quantile(0.95, sum by (le) (rate({histogram}_bucket[{{w}}])))"
        f" and on () sum(increase({histogram}_count[{{w}}])) >= {{n}}"
    )


#: In cause order: a resource earlier in the list explains waits on the ones after it (see TIE_SECONDS).
SIGNALS: tuple[Signal, ...] = (
    Signal("generator_cpu", GENERATOR, "busiest Locust worker's CPU", "ratio",
           "max(avg_over_time(locust_worker_cpu_usage_ratio[{w}]))", 0.9,
           "a load-generator worker at >= 90 % of a CPU cannot send more: the verdict is suspect"),
    Signal("generator_demand", GENERATOR, "busiest Locust process's CPU demand (ran or waited to run)", "ratio", "",
           DEMAND_FULL, "a load-generator process ran or waited for a CPU >= 90 % of the time: it could not send "
           "more, whatever CPU it got", source=DEMAND),
    Signal("api_loop_cpu", API_CPU, "busiest event loop's CPU", "cores",
           "max(rate(board_event_loop_cpu_seconds_total[{w}]))", CPU_FULL,
           "an API process's event-loop thread at >= 80 % of a core (one thread uses at most one) or of its quota"),
    Signal("api_process_cpu", API_CPU, "busiest API process's CPU", "cores",
           "max(rate(board_process_cpu_seconds_total[{w}]))", CPU_FULL,
           "an API process at >= 80 % of the CPU it may use (its share of the CPU quota, or of the machine)"),
    Signal("api_loop_demand", API_CPU, "busiest API event loop's CPU demand (ran or waited to run)", "ratio", "",
           DEMAND_FULL, "an API event loop ran or waited for a CPU >= 90 % of the time: more work than CPU, whatever "
           "CPU it got", source=DEMAND),
    Signal("postgres_cpu", POSTGRES_CPU, "Postgres CPU (all backends)", "cores", "", CPU_FULL,
           "Postgres at >= 80 % of the CPUs it may use", source=CPU_METER),
    Signal("lock_waits", POSTGRES_LOCKS, "Postgres backends waiting for a lock (mean)", "backends",
           "sum(avg_over_time(pg_lock_waits_backends[{w}]))", 1.0,
           "on average >= 1 Postgres backend waiting for a lock another transaction holds (statements queue behind "
           "it, whatever the pools)"),
    Signal("pgbouncer_wait", PGBOUNCER, "clients waiting in PgBouncer (mean)", "clients",
           "sum(avg_over_time(pgbouncer_pools_client_waiting_connections[{w}]))", 1.0,
           "on average >= 1 client waiting for one of PgBouncer's server connections (all in use)"),
    Signal("executor_queue", EXECUTOR, "bcrypt tasks queued per thread (mean)", "tasks",
           "sum(avg_over_time(board_executor_queue_depth[{w}])) / sum(board_executor_workers)", 1.0,
           "on average >= 1 hash/verify task queued per bcrypt thread (every thread busy, more waiting)"),
    Signal("executor_wait", EXECUTOR, "bcrypt task queue wait p95", "s",
           _p95_of("board_executor_wait_seconds"), 0.25,
           "hash/verify tasks waited >= 0.25 s (p95) for a bcrypt thread"),
    Signal("redis_latency", REDIS, "Redis command p95", "s",
           _p95_of("board_cache_redis_duration_seconds"), 0.025,
           "a Redis command took >= 25 ms (p95; a loopback round trip is ~0.1 ms)"),
    Signal("redis_errors", REDIS, "Redis errors", "/s", "sum(rate(board_cache_redis_errors_total[{w}]))", 0.2,
           ">= 0.2 Redis errors a second (each one opens the cache's breaker)"),
    Signal("commit_latency", COMMITS, "write (commit) round trip p95", "s",
           _p95_of("board_db_write_duration_seconds"), 0.1,
           "a write statement (autocommit: its commit included) took >= 0.1 s (p95) once it had a connection; a "
           "lock or PgBouncer's queue explains that first, else the WAL flush or the network to Postgres"),
    Signal("db_pool_wait", DB_POOL, "DB pool checkout wait p95", "s",
           _p95_of("board_db_pool_checkout_wait_seconds"), 0.1,
           "requests waited >= 0.1 s (p95) for a connection of the API's pool"),
    Signal("loop_lag", EVENT_LOOP, "event-loop lag p90", "s",
           "max(histogram_quantile(0.9, sum by (process, le) (rate(board_event_loop_lag_seconds_bucket[{w}]))))",
           0.1, "an event loop ran one in ten of its 0.1 s timers >= 0.1 s late (p90): something holds the loop"),
)  # fmt: skip  # a table: one signal a row (key, resource, figure, unit, query, threshold, rule)
BY_KEY = {s.key: s for s in SIGNALS}

#: Figures shown beside a finding (not signals): what the resource had, at the moment its signal crossed.
CONTEXT = {
    "api_processes": ("API processes", "max(board_api_processes)"),
    "pool_in_use": ("API pool connections in use", "sum(max_over_time(board_db_pool_connections_in_use[{w}]))"),
    "pool_capacity": ("API pool size + overflow", "sum(board_db_pool_size) + sum(board_db_pool_max_overflow)"),
    "pgbouncer_server_active": (
        "PgBouncer server connections in use",
        "sum(max_over_time(pgbouncer_pools_server_active_connections[{w}]))",
    ),
    "executor_workers": ("bcrypt threads", "sum(board_executor_workers)"),
}
CONTEXT_FOR = {
    "db_pool_wait": ("pool_in_use", "pool_capacity", "pgbouncer_server_active"),
    "pgbouncer_wait": ("pgbouncer_server_active", "pool_in_use"),
    "executor_wait": ("executor_workers",),
    "executor_queue": ("executor_workers",),
    "api_loop_cpu": ("api_processes",),
    "api_process_cpu": ("api_processes",),
    "api_loop_demand": ("api_loop_cpu", "api_processes"),
    "generator_demand": ("generator_cpu",),
    "lock_waits": ("commit_latency",),
    "commit_latency": ("lock_waits", "pgbouncer_wait", "postgres_cpu"),
}

Trace = list[list[float]]  # [[seconds since the run started, value], ...]


# -- sampling (the only part that talks to a live process) -------------------------------------------------------
CpuTimeline = Sequence[tuple[float, dict[str, float]]]  # CpuMeter.timeline: (wall-clock time, CPU-s per part)
DemandTimeline = Sequence[tuple[float, dict[str, dict[int, tuple[float, float]]]]]  # DemandMeter.timeline


def sample(
    prometheus_url: str,
    started_at: float,
    ended_at: float,
    cpu_timeline: CpuTimeline = (),
    demand_timeline: DemandTimeline = (),
) -> tuple[dict[str, Trace], list[str]]:
    """Every signal and context figure over [started_at, ended_at]: traces by key, and the queries that failed."""
    traces: dict[str, Trace] = {}
    problems: list[str] = []
    window = f"{WINDOW}s"
    queries = {s.key: s.expr for s in SIGNALS if s.source == PROMETHEUS}
    queries |= {key: expr for key, (_, expr) in CONTEXT.items()}
    for key, expr in queries.items():
        try:
            found = charts.query_range(prometheus_url, expr.format(w=window, n=MIN_EVENTS), started_at, ended_at, STEP)
        except (OSError, RuntimeError, ValueError) as exc:
            problems.append(f"diagnosis: {key} not sampled: {exc}")
            continue
        traces[key] = highest(found, started_at)
    traces["postgres_cpu"] = meter_rate(cpu_timeline, "postgres", started_at)
    traces["api_loop_demand"] = every_step(demand.busiest(list(demand_timeline), "api", started_at, WINDOW))
    traces["generator_demand"] = every_step(demand.busiest(list(demand_timeline), LOAD_GENERATOR, started_at, WINDOW))
    return {k: v for k, v in traces.items() if v}, problems


def highest(series: list[dict[str, Any]], started_at: float) -> Trace:
    """The highest of several Prometheus series at each time (NaN, a quantile with no samples, is no point)."""
    best: dict[float, float] = {}
    for s in series:
        for t, v in s["values"]:
            value = float(v)
            if math.isfinite(value):
                at = round(float(t) - started_at, 3)
                best[at] = max(value, best.get(at, value))
    return [[t, v] for t, v in sorted(best.items())]


def meter_rate(timeline: CpuTimeline, part: str, started_at: float) -> Trace:
    """A part's CPU per second (cores) over the last `WINDOW` seconds at each CPU-meter reading."""
    points: Trace = []
    for t, used, t0, used0 in demand.windows(timeline, WINDOW, started_at):
        points.append([round(t - started_at, 3), max(0.0, used.get(part, 0.0) - used0.get(part, 0.0)) / (t - t0)])
    return every_step(points)


def every_step(points: Trace) -> Trace:
    """The points at least about `STEP` apart (the meters read every second, Prometheus is sampled every STEP), so
    `SUSTAIN` points in a row span the same time whatever the source."""
    kept: Trace = []
    for point in points:
        if not kept or point[0] - kept[-1][0] >= 0.9 * STEP:
            kept.append(point)
    return kept


# -- the rules (pure) ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """What a next step refers to: the knobs and sizes the run had."""

    env: dict[str, str]
    pgbouncer: bool
    pgbouncer_pool: int
    redis: bool
    processes: int
    api_cpus: float  # the CPUs the API may use: its quota, the stack's, or the machine's
    postgres_cpus: float
    generator_workers: int


def setup_of(result: RunResult, traces: dict[str, Trace] | None = None) -> Setup:
    preset, machine = result.preset, result.machine
    # Under a quota the fingerprint is taken inside the API's cgroup (its usable CPUs are the API's): the
    # machine's own CPUs are its cores, and each part's are its quota (or the stack's) when there is one.
    quotas = (result.cpu_limit or {}).get("cpus") or {}
    cores = float(machine.cores) if machine else 2.0
    usable = cores if quotas else (machine.usable_cpus if machine else cores)
    processes_seen = max((v for _, v in (traces or {}).get("api_processes", [])), default=0.0)
    api_cpus = min(usable, quotas.get("api", quotas.get("stack", usable)))
    processes = int(processes_seen) or int(preset.get("workers") or 0) or max(1, int(api_cpus))
    return Setup(
        env=dict(preset.get("env") or {}),
        pgbouncer=bool(preset.get("pgbouncer", True)),
        pgbouncer_pool=int(preset.get("pgbouncer_pool_size") or 20),
        redis=bool(preset.get("redis", True)),
        processes=processes,
        api_cpus=api_cpus,
        postgres_cpus=min(usable, quotas.get("postgres", quotas.get("stack", usable))),
        generator_workers=int(result.options.get("workers") or 1),
    )


def thresholds_for(setup: Setup) -> dict[str, float]:
    """Each signal's threshold in this run: the CPU ones scaled to the CPUs the part may use."""
    found = {s.key: s.threshold for s in SIGNALS}
    share = setup.api_cpus / max(1, setup.processes)
    found["api_process_cpu"] = round(CPU_FULL * share, 3)
    found["api_loop_cpu"] = round(CPU_FULL * min(1.0, share), 3)  # one thread: one core at most
    found["postgres_cpu"] = round(CPU_FULL * setup.postgres_cpus, 3)
    return found


def crossing(points: Trace, threshold: float, sustain: int = SUSTAIN) -> int | None:
    """Index of the first point that starts `sustain` points in a row at or above `threshold`, none more than a
    `WINDOW` after the one before (each covers the window before it, so the row covers the time between; a longer
    gap, windows with too few events to say anything, breaks the row); None if none does."""
    for i in range(len(points) - sustain + 1):
        row = points[i : i + sustain]
        in_step = all(b[0] - a[0] <= WINDOW for a, b in zip(row, row[1:], strict=False))
        if in_step and all(v >= threshold for _, v in row):
            return i
    return None


def diagnose(traces: dict[str, Trace], thresholds: dict[str, float], setup: Setup) -> Diagnosis:
    """The resources whose signal crossed its threshold, the first to saturate first, each with a next step."""
    crossed: list[Finding] = []
    quiet: list[Finding] = []
    unmeasured: list[str] = []
    for signal in SIGNALS:
        points = traces.get(signal.key) or []
        threshold = thresholds.get(signal.key, signal.threshold)
        if not points:
            unmeasured.append(signal.key)
            continue
        peak = max(v for _, v in points)
        at = crossing(points, threshold)
        finding = Finding(signal.resource, signal.rule, signal=signal.key, peak=peak, threshold=threshold)
        if at is None:
            finding.evidence = {f"{signal.figure} peak ({signal.unit})": _round(peak)}
            quiet.append(finding)
            continue
        t, value = points[at]
        finding.crossed_at = t
        finding.evidence = {f"{signal.figure} ({signal.unit})": _round(value), f"peak ({signal.unit})": _round(peak)}
        for key in CONTEXT_FOR.get(signal.key, ()):
            if key in traces and (near := value_at(traces[key], t)) is not None:
                finding.evidence[CONTEXT[key][0] if key in CONTEXT else BY_KEY[key].figure] = _round(near)
        crossed.append(finding)
    # A next step may send the reader to another saturated signal first (one that explains this one's figure).
    saturated = {f.signal for f in crossed}
    for finding in crossed:
        finding.next_step = next_step(BY_KEY[finding.signal], finding, setup, saturated)
    findings = order(crossed)
    # A resource's later signals are no finding of their own, but the table of every signal shows when they crossed.
    quiet = [f for f in crossed if f not in findings] + quiet
    return Diagnosis(headline(findings, quiet), findings, quiet, unmeasured, traces, thresholds)


def order(crossed: list[Finding]) -> list[Finding]:
    """One finding per resource (its earliest signal), the first to saturate first (see TIE_SECONDS)."""
    rank = {s.key: i for i, s in enumerate(SIGNALS)}
    per_resource: dict[str, Finding] = {}
    for f in sorted(crossed, key=lambda f: (f.crossed_at or 0.0, rank[f.signal])):
        per_resource.setdefault(f.resource, f)
    findings = sorted(per_resource.values(), key=lambda f: (f.crossed_at or 0.0, rank[f.signal]))
    if not findings:
        return []
    earliest = findings[0].crossed_at or 0.0
    first = min((f for f in findings if (f.crossed_at or 0.0) <= earliest + TIE_SECONDS), key=lambda f: rank[f.signal])
    return [first, *(f for f in findings if f is not first)]


def headline(findings: list[Finding], quiet: list[Finding]) -> str:
    if not findings:
        if not quiet:
            return "no saturation signal was measured (no Prometheus data for the run)"
        nearest = max(quiet, key=lambda f: (f.peak or 0.0) / (f.threshold or 1.0))
        share = (nearest.peak or 0.0) / (nearest.threshold or 1.0)
        peaked = f"{BY_KEY[nearest.signal].figure} peaked at {share:.0%} of its threshold"
        if share >= 1:  # a burst (a restart, a spawn) above the threshold, too short to count as saturation
            return (
                f"nothing saturated: no signal held above its threshold for {SUSTAIN} readings in a row "
                f"(the highest: {peaked}, briefly)"
            )
        return f"nothing saturated: every signal stayed under its threshold (the nearest: {peaked})"
    first = findings[0]
    signal = BY_KEY[first.signal]
    text = (
        f"{first.resource} saturated first, {first.crossed_at:.0f} s into the run: {signal.figure} "
        f"{_show(first.evidence[f'{signal.figure} ({signal.unit})'], signal.unit)} "
        f"(threshold {_show(first.threshold or 0.0, signal.unit)})"
    )
    if first.resource == GENERATOR:
        text += "; the verdict is suspect: the load generator, not the system, was the limit"
    return text


def value_at(points: Trace, t: float) -> float | None:
    """The trace's value at the sample nearest `t`."""
    return min(points, key=lambda p: abs(p[0] - t))[1] if points else None


#: The API times Redis commands and writes on its event loop: a loop that ran late (busy, or waiting for a CPU)
#: is in those figures, so these findings name it first.
LOOP_TIMERS = ("loop_lag", "api_loop_demand")


def _figures(keys: Sequence[str], saturated: set[str]) -> list[str]:
    """The figures of the signals among `keys` that saturated in the run."""
    return [BY_KEY[k].figure for k in keys if k in saturated]


def next_step(signal: Signal, finding: Finding, setup: Setup, saturated: set[str]) -> str:
    """The knob, preset key or scaling action that addresses this resource, with the figure that justifies it."""
    env = setup.env
    peak = _show(finding.peak or 0.0, signal.unit)
    key = signal.key
    if key == "generator_demand":
        used = finding.evidence.get(BY_KEY["generator_cpu"].figure)
        got = (
            f" while it got only {used:.0%} of one"
            if used is not None and used < BY_KEY["generator_cpu"].threshold
            else ""
        )
        return (
            f"more load-generator workers (`loadlab run -w {setup.generator_workers + 1}`, the chart's "
            f"`locust.workers.replicas`), or a generator with CPUs of its own: a process wanted a CPU {peak} of "
            f"the time{got}; rerun before trusting the verdict"
        )
    if key == "generator_cpu":
        return (
            f"more load-generator workers (`loadlab run -w {setup.generator_workers + 1}`, the chart's "
            f"`locust.workers.replicas`): a worker at {peak} of a CPU cannot send more; rerun before trusting "
            "the verdict"
        )
    if key == "api_loop_demand":
        used = finding.evidence.get(BY_KEY["api_loop_cpu"].figure)
        if used is not None and used < 0.5 * min(1.0, setup.api_cpus / max(1, setup.processes)):
            return (
                f"CPUs of the API's own (`api.resources.requests.cpu`, a node or machine not shared with the "
                f"data tier or the generator): an event loop wanted a CPU {peak} of the time but used "
                f"{used:.2f} cores; the rest it waited for a CPU others held"
            )
    if key in ("api_loop_cpu", "api_process_cpu", "api_loop_demand"):
        if env.get("BOARD_HASH_IN_EXECUTOR", "true") == "false":
            return (
                f"hash in the executor (BOARD_HASH_IN_EXECUTOR=true, now false): bcrypt at cost "
                f"{env.get('BOARD_BCRYPT_ROUNDS', '12')} runs on the event loop, which peaked at {peak}, and every "
                "other request waits for it"
            )
        spare = setup.api_cpus - setup.processes
        if spare >= 1:
            return (
                f"more API processes (`api.workers` / BOARD_WORKERS, now {setup.processes}): the API may use "
                f"{setup.api_cpus:g} CPUs and a process peaked at {peak}"
            )
        return (
            f"more API replicas (`api.replicas`, `api.hpa`) or more CPU for each (`api.resources.limits"
            f".cpu`; the lab's --cpus): {setup.processes} process(es) on {setup.api_cpus:g} CPU(s), the busiest "
            f"at {peak}"
        )
    if key == "postgres_cpu":
        cache = (
            "" if env.get("BOARD_CACHE_ENABLED", "true") == "true" else "cache the list (BOARD_CACHE_ENABLED=true), "
        )
        return (
            f"{cache}fewer statements per request, or more CPU for Postgres (`postgresql.resources.limits.cpu`): "
            f"it used {peak} of {setup.postgres_cpus:g} CPUs"
        )
    if key == "lock_waits":
        return (
            f"find the transaction that holds the lock (`SELECT pid, pg_blocking_pids(pid), query FROM "
            f"pg_stat_activity WHERE wait_event_type = 'Lock'`): a migration (the chart's `migrate` Job), a "
            f"batch job or a long transaction; shorten it or run it off-peak. More connections "
            f"(BOARD_DB_POOL_SIZE, `pgbouncer.poolSize`) only queue more statements behind it: {peak} waited "
            f"(mean, at the peak)"
        )
    late_loop = _figures(LOOP_TIMERS, saturated)
    if key == "commit_latency":
        # Their own signals saturated in the run: a write waited for them before it could commit.
        blocked = _figures(("lock_waits", "pgbouncer_wait"), saturated) + late_loop
        if blocked:
            return f"see {' and '.join(blocked)} first: a write waits for them before it commits (p95 {peak})"
        return (
            f"a faster disk for Postgres' WAL (`postgresql.persistence.storageClass`) or a shorter network path to "
            f"it, else fewer commits (batch writes): writes took {peak} (p95) with no lock or PgBouncer queue "
            f"to explain it"
        )
    if key == "pgbouncer_wait":
        active = finding.evidence.get("PgBouncer server connections in use")
        held = f"{active:g} of {setup.pgbouncer_pool}" if active is not None else f"all {setup.pgbouncer_pool}"
        return (
            f"a larger PgBouncer pool (`pgbouncer.poolSize`, now {setup.pgbouncer_pool}) if Postgres has CPU to "
            f"spare: {held} server connections were in use with {peak} clients waiting"
        )
    if key in ("executor_wait", "executor_queue"):
        rounds = env.get("BOARD_BCRYPT_ROUNDS", "12")
        threads = finding.evidence.get("bcrypt threads")
        now = f"{threads:g}" if threads is not None else env.get("BOARD_EXECUTOR_WORKERS", "the CPUs")
        return (
            f"more bcrypt threads (BOARD_EXECUTOR_WORKERS, now {now}) while CPUs are idle, else a lower cost "
            f"(BOARD_BCRYPT_ROUNDS, now {rounds}) or more API replicas: tasks waited {peak} (p95) for a thread"
        )
    if key == "redis_latency" and late_loop:
        return (
            f"see {' and '.join(late_loop)} first: the API times each Redis command on its event loop, so a late "
            f"loop makes Redis look slow (p95 {peak})"
        )
    if key in ("redis_latency", "redis_errors"):
        return (
            f"look at Redis (its host, the network to it, `redis.resources`): {signal.figure} {peak}; the cache "
            "fails open, so the list goes to Postgres meanwhile (BOARD_CACHE_TTL_SECONDS bounds staleness)"
        )
    if key == "db_pool_wait":
        size, overflow = env.get("BOARD_DB_POOL_SIZE", "10"), env.get("BOARD_DB_MAX_OVERFLOW", "10")
        used = finding.evidence.get("API pool connections in use")
        held = f"{used:g} of {int(size) + int(overflow)}" if used is not None else "every"
        behind = (
            f", PgBouncer has {setup.pgbouncer_pool} server connections behind it"
            if setup.pgbouncer
            else "; Postgres' max_connections must allow it"
        )
        return (
            f"a larger API pool (BOARD_DB_POOL_SIZE {size} + BOARD_DB_MAX_OVERFLOW {overflow} per instance)"
            f"{behind}: {held} connections were in use and checkouts waited {peak} (p95)"
        )
    if key == "loop_lag":
        if env.get("BOARD_HASH_IN_EXECUTOR", "true") == "false":
            return (
                f"hash in the executor (BOARD_HASH_IN_EXECUTOR=true): bcrypt on the event loop stops every other "
                f"request; the loop ran {peak} late"
            )
        return (
            f"find what holds the loop (long synchronous work; the GC panel), or spread the load over more "
            f"processes (`api.workers`, now {setup.processes}): the loop ran {peak} late (p90)"
        )
    return ""


# -- a run, a stored result, a comparison ----------------------------------------------------------------------
def diagnose_run(
    result: RunResult, prometheus_url: str, cpu_timeline: CpuTimeline = (), demand_timeline: DemandTimeline = ()
) -> None:
    """Sample every signal of the run from the live stack and store its diagnosis in `result`."""
    traces, problems = sample(prometheus_url, result.started_at, result.ended_at, cpu_timeline, demand_timeline)
    result.problems += problems
    setup = setup_of(result, traces)
    result.diagnosis = diagnose(traces, thresholds_for(setup), setup)


def rediagnose(result: RunResult) -> Diagnosis | None:
    """The diagnosis of a stored result again, from its traces (what a changed rule would now say)."""
    if result.diagnosis is None:
        return None
    setup = setup_of(result, result.diagnosis.traces)
    return diagnose(result.diagnosis.traces, result.diagnosis.thresholds or thresholds_for(setup), setup)


def how_it_looked(diagnosis: Diagnosis | None, signal: str) -> str:
    """One signal in one run, in words: crossed when, or its peak against its threshold, or not measured."""
    if diagnosis is None:
        return "no diagnosis"
    unit = BY_KEY[signal].unit
    for f in diagnosis.findings:
        if f.signal == signal:
            return (
                f"saturated at {f.crossed_at:.0f} s, peak {_show(f.peak or 0.0, unit)} "
                f"(threshold {_show(f.threshold or 0.0, unit)})"
            )
    points = diagnosis.traces.get(signal)
    if not points:
        return "not measured"
    threshold = diagnosis.thresholds.get(signal, BY_KEY[signal].threshold)
    at = crossing(points, threshold)
    peak = max(v for _, v in points)
    state = f"crossed at {points[at][0]:.0f} s" if at is not None else "stayed under"
    return f"{state}: peak {_show(peak, unit)} (threshold {_show(threshold, unit)})"


def compare(diagnoses: dict[str, Diagnosis | None]) -> None:
    """Fill each finding's `elsewhere`: how its signal looked in each other run of the comparison."""
    for name, diagnosis in diagnoses.items():
        if diagnosis is None:
            continue
        for finding in (f for f in diagnosis.findings if f.signal in BY_KEY):
            finding.elsewhere = {
                other: how_it_looked(d, finding.signal) for other, d in diagnoses.items() if other != name
            }


def first_resource(diagnosis: Diagnosis | None) -> str:
    """The resource named first, or "" when nothing saturated."""
    return diagnosis.findings[0].resource if diagnosis and diagnosis.findings else ""


def _round(value: float) -> float:
    return float(f"{value:.3g}")


def _show(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "ratio":
        return f"{value:.0%}"
    if unit == "cores":
        return f"{value:.2f} cores"
    if unit == "/s":
        return f"{value:.2g}/s"
    return f"{value:.3g} {unit}"


def as_rows(diagnosis: Diagnosis) -> list[list[str]]:
    """Every signal of a run as a table: resource, figure, peak, threshold, crossed at (or not)."""
    rows = [["Resource", "Signal", "Peak", "Threshold", "Crossed at"]]
    for f in [*diagnosis.findings, *diagnosis.quiet]:
        signal = BY_KEY.get(f.signal)
        if signal is None:  # a finding from elsewhere (an older result): its rule is its figure
            rows.append([f.resource, f.rule, "-", "-", "-" if f.crossed_at is None else f"{f.crossed_at:.0f} s"])
            continue
        at = "-" if f.crossed_at is None else f"{f.crossed_at:.0f} s"
        rows.append(
            [f.resource, signal.figure, _show(f.peak or 0.0, signal.unit), _show(f.threshold or 0.0, signal.unit), at]
        )
    rows += [[BY_KEY[k].resource, BY_KEY[k].figure, "n/a", "-", "not measured"] for k in diagnosis.unmeasured]
    return rows
