"""A run against a service that is not the lab's (`loadlab run --host URL`): Locust and Prometheus only.

The board stack is not started. The master (with the plugin: status counts, health guard, exporter, verdict)
and its workers send the load to URL, Prometheus scrapes the master, and the report shows what the clients saw
with the verdict and the load-test charts. Nothing server-side exists to check (no rows, no API counters), so
the verdict alone passes or fails the run.
"""

from __future__ import annotations

import secrets
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from loadlab import collect, demand, diagnosis, fingerprint, report
from loadlab.cpumeter import LOAD_GENERATOR
from loadlab.loadtest import LoadOptions, LocustRun, announcer, describe, progress_printer, raise_interrupt
from loadlab.process import free_port, tail
from loadlab.result import RunResult
from loadlab.services import Prometheus
from loadlab.stack import rule_files


def run_elsewhere(
    root: Path, url: str, options: LoadOptions, *, run_id: str | None = None, quiet: bool = False
) -> RunResult:
    """Run one distributed test against `url` and return its result (its report written); leaves nothing running."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--host {url!r}: give a URL, http://... or https://...")
    run_id = run_id or f"{datetime.now(UTC):%Y%m%d-%H%M%S}-elsewhere-{secrets.token_hex(2)}"
    workdir = root / run_id
    workdir.mkdir(parents=True, exist_ok=False)
    outdir = workdir / "report"
    say = announcer(quiet)
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    say("measuring the machine (bcrypt cost 10, a Python loop)")
    machine = fingerprint.measure()
    started = time.time()
    load = options.to_json()
    result = RunResult(
        run_id,
        str(outdir),
        {"name": "none (not the lab's API)", "path": ""},
        load,
        started,
        started,
        machine=machine,
        versions=collect.versions(),
        target=url,
    )
    exporter_port = free_port()
    prometheus = Prometheus(workdir, {"locust": [f"127.0.0.1:{exporter_port}"]}, rule_files=rule_files())
    try:
        say("starting prometheus")
        prometheus.start()
        run = LocustRun(workdir, outdir, url, options, exporter_port=exporter_port, run_id=run_id)
        say(
            f"load: {options.users} users, {options.workers} workers, {options.duration} s, {describe(options)}, "
            f"to {url}"
        )
        demands = demand.DemandMeter()

        def tick(_elapsed: float) -> None:
            demands.read({LOAD_GENERATOR: [p.pid for p in (run.master, *run.workers) if p is not None and p.pid]})

        run.start()
        locust = run.wait(progress_printer(options, quiet), tick)
        result.started_at, result.ended_at = locust.started_at, locust.ended_at
        result.locust_exit_code, result.interrupted = locust.exit_code, locust.interrupted
        collect.locust_outcome(result, run.files)
        if not run.files["csv_stats"].exists() and run.master is not None:
            result.problems.append(
                f"the Locust master wrote no stats (exit {result.locust_exit_code}); its log "
                f"ends:\n{tail(run.master.log_path, 15)}"
            )
        collect.chart_data(result, prometheus.url)
        # Only the load generator's side can be judged here: the service's signals are left unmeasured.
        diagnosis.diagnose_run(result, prometheus.url, (), demands.timeline)
        # The API's and the data tier's charts have nothing to show here.
        result.charts = [c for c in result.charts if c.series]
    except KeyboardInterrupt:
        result.interrupted = True
        result.ended_at = time.time()
        say("interrupted: stopping everything")
    finally:
        prometheus.stop()
        prometheus.cleanup()
        signal.signal(signal.SIGTERM, previous)
        report.write(result)
    return result
