"""One lab run, start to finish: stack up, accounts in, distributed test, report, stack down.

`run_lab` is shared by `loadlab run`, `compare`, `bench` and `drill`: they differ only in the load they ask
for and in what they do while it runs (`during`).
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadlab import api_counts, collect, cpulimit, demand, diagnosis, fingerprint, presets, report
from loadlab.cpumeter import LOAD_GENERATOR, CpuMeter, part_of
from loadlab.loadtest import LoadOptions, LocustRun, announcer, describe, progress_printer, raise_interrupt
from loadlab.presets import Preset
from loadlab.process import tail
from loadlab.result import Machine, RunResult
from loadlab.stack import Stack

#: Called once a second while the test runs, with the stack, the Locust run and the seconds elapsed.
During = Callable[[Stack, LocustRun, float], None]
#: Called once the load has ended, before the server's counts are read: stop any load of your own (a probe).
Ended = Callable[[Stack], None]
#: Called once the result is collected, while Prometheus and the database are still up.
After = Callable[[Stack, RunResult], None]


def new_run_id(preset: Preset) -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{preset.name}-{secrets.token_hex(2)}"


def run_lab(
    root: Path,
    preset: Preset,
    options: LoadOptions,
    *,
    run_id: str | None = None,
    keep: bool = False,
    during: During | None = None,
    ended: Ended | None = None,
    after: After | None = None,
    quiet: bool = False,
    machine: Machine | None = None,
    stack_options: Mapping[str, Any] | None = None,
) -> RunResult:
    """Run one complete lab test and return its result (its report written); never leaves a process behind
    unless `keep`. `machine`: the fingerprint, when the caller took it already (else it is taken first).
    `stack_options`: more `Stack` arguments (a drill's delay proxies or small data disk)."""
    run_id = run_id or new_run_id(preset)
    workdir = root / run_id
    workdir.mkdir(parents=True, exist_ok=False)
    workdir.chmod(0o755)
    outdir = workdir / "report"
    say = announcer(quiet)
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    cpu_limit = cpulimit.for_run(run_id, options.cpus, lambda: presets.cpu_limits(preset))
    if machine is None or cpu_limit is not None:
        say(
            "measuring the machine (bcrypt cost 10, a Python loop)"
            + (" under the API's CPU quota" if cpu_limit else "")
        )
        try:
            machine = fingerprint.measure() if cpu_limit is None else fingerprint.measure_in(cpu_limit)
        except BaseException:
            if cpu_limit is not None:
                cpu_limit.close()
            raise
    started = time.time()
    result = RunResult(
        run_id,
        str(outdir),
        preset.describe(),
        options.to_json(),
        started,
        started,
        machine=machine,
        versions=collect.versions(),
    )
    if cpu_limit is not None:
        result.cpu_limit = cpu_limit.describe()
        say(f"stack CPU quota: {result.cpu_limit['cpus']} CPUs (cgroup v{result.cpu_limit['version']})")
    stack = Stack(
        workdir,
        preset,
        accounts=options.accounts,
        jwt_secret=secrets.token_urlsafe(48),
        cpu_limit=cpu_limit,
        **(stack_options or {}),
    )
    try:
        with stack:
            try:
                stack.start(say)
                assert stack.api is not None and stack.api.process is not None
                before = stack.row_counts()
                api_before, api_pid = api_counts.scrape(stack.api.metrics_url), stack.api.process.pid
                run = LocustRun(
                    workdir, outdir, stack.api.url, options, exporter_port=stack.locust_exporter_port, run_id=run_id
                )
                say(
                    f"load: {options.users} users, {options.workers} workers, {options.duration} s, {describe(options)}"
                )
                meter, demands = CpuMeter(), demand.DemandMeter()
                meter.read(_cpu_roots(stack))
                run.start()
                locust = run.wait(progress_printer(options, quiet), _ticker(during, stack, run, meter, demands))
                meter.read(_cpu_roots(stack))
                result.cpu_seconds = meter.used()
                result.started_at, result.ended_at = locust.started_at, locust.ended_at
                result.locust_exit_code, result.interrupted = locust.exit_code, locust.interrupted
                if locust.exit_code is not None and locust.exit_code < 0:
                    result.problems.append(
                        f"the Locust master was killed (signal {-locust.exit_code}) before the "
                        "end: the figures are partial (its last CSV write, every 10 s)"
                    )
                if ended is not None:
                    ended(stack)
                api_delta, why_unknown = _api_delta(stack, api_before, api_pid)
                _collect(result, run, stack)
                if stack.prometheus is not None:
                    diagnosis.diagnose_run(result, stack.prometheus.url, meter.timeline, demands.timeline)
                collect.counts(result, api_delta, before, stack.row_counts(), why_unknown)
                if after is not None:
                    after(stack, result)
            except KeyboardInterrupt:
                result.interrupted = True
                result.ended_at = time.time()
                say("interrupted: stopping everything")
            if keep and not result.interrupted:
                stack.keep()
                result.urls = stack.urls()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if cpu_limit is not None:
            result.cpu_limit["usage"] = cpu_limit.stats()
            if not (keep and not result.interrupted):
                cpu_limit.close()
        report.write(result)
    return result


def _api_delta(stack: Stack, before: api_counts.Snapshot, pid: int | None) -> tuple[api_counts.Delta | None, str]:
    """What the API counted since `before`, or why that is unknown (restarted, or its metrics do not answer)."""
    assert stack.api is not None
    if stack.api.process is None or stack.api.process.pid != pid:
        return None, "the API was restarted during the run: its counters started again"
    try:
        return api_counts.delta(before, api_counts.scrape(stack.api.metrics_url)), ""
    except OSError as exc:
        return None, f"the API's metrics did not answer after the run: {exc}"


def _collect(result: RunResult, run: LocustRun, stack: Stack) -> None:
    collect.locust_outcome(result, run.files)
    if not run.files["csv_stats"].exists() and run.master is not None:
        result.problems.append(
            f"the Locust master wrote no stats (exit {result.locust_exit_code}); its log ends:\n"
            + tail(run.master.log_path, 15)
        )
    if stack.prometheus is not None:
        collect.server_figures(result, stack.prometheus.url)
        collect.chart_data(result, stack.prometheus.url)


def _ticker(
    during: During | None, stack: Stack, run: LocustRun, meter: CpuMeter, demands: demand.DemandMeter
) -> Callable[[float], None]:
    def tick(elapsed: float) -> None:
        meter.read(_cpu_roots(stack, run))
        demands.read(_loops(stack, run))
        if during is not None:
            during(stack, run, elapsed)

    return tick


def _loops(stack: Stack, run: LocustRun) -> dict[str, list[int]]:
    """The processes whose main thread is an event loop, for `DemandMeter`: the API's, the load generator's."""
    api = stack.api.process.pid if stack.api is not None and stack.api.process is not None else None
    locust = [p.pid for p in (run.master, *run.workers) if p is not None and p.pid is not None]
    return {"api": demand.family(api) if api is not None else [], LOAD_GENERATOR: locust}


def _cpu_roots(stack: Stack, run: LocustRun | None = None) -> dict[str, list[int]]:
    """The pids whose process trees make up each part of the run, for `CpuMeter`."""
    roots: dict[str, list[int]] = {}
    for service in stack.services:
        if service.process is not None and service.process.pid is not None:
            roots.setdefault(part_of(service.name), []).append(service.process.pid)
    if run is not None:
        locust = [p.pid for p in (run.master, *run.workers) if p is not None and p.pid is not None]
        roots[LOAD_GENERATOR] = locust
    return roots
