"""One lab run, start to finish: stack up, accounts in, distributed test, report, stack down.

`run_lab` is shared by `loadlab run`, `compare`, `bench` and `drill`: they differ only in the load they ask
for and in what they do while it runs (`during`).
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from loadlab import report as reporting
from loadlab.loadtest import LoadOptions, LocustRun, Progress, print_progress
from loadlab.presets import Preset
from loadlab.process import tail
from loadlab.stack import Stack

#: Called once a second while the test runs, with the stack, the Locust run and the seconds elapsed.
During = Callable[[Stack, LocustRun, float], None]
#: Called once the report is drawn, while Prometheus and the database are still up.
After = Callable[[Stack, "reporting.Report"], None]
NON_TTY_PROGRESS_EVERY = 5.0


def new_run_id(preset: Preset) -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{preset.name}-{secrets.token_hex(2)}"


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_lab(
    root: Path, preset: Preset, options: LoadOptions, *, run_id: str | None = None, keep: bool = False,
    during: During | None = None, after: After | None = None, quiet: bool = False,
) -> reporting.Report:  # fmt: skip
    """Run one complete lab test and return its (written) report; never leaves a process behind unless `keep`."""
    run_id = run_id or new_run_id(preset)
    workdir = root / run_id
    workdir.mkdir(parents=True, exist_ok=False)
    workdir.chmod(0o755)
    outdir = workdir / "report"
    say = (lambda *_: None) if quiet else (lambda msg: print(f"loadlab: {msg}", file=sys.stderr, flush=True))
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.time()
    report = reporting.Report(run_id, outdir, preset.describe(), asdict(options), started, started, False, None)
    stack = Stack(workdir, preset, accounts=options.accounts, jwt_secret=secrets.token_urlsafe(48))
    try:
        with stack:
            try:
                stack.start(say)
                before = stack.row_counts()
                assert stack.api is not None
                run = LocustRun(workdir, outdir, stack.api.url, options, exporter_port=stack.locust_exporter_port,
                                run_id=run_id)  # fmt: skip
                say(f"load: {options.users} users, {options.workers} workers, {options.duration} s, "
                    f"scenario {options.scenario}, shape {options.shape}")  # fmt: skip
                run.start()
                result = run.wait(_progress_printer(options, quiet), _ticker(during, stack, run))
                report.started_at, report.ended_at = result.started_at, result.ended_at
                report.exit_code, report.interrupted = result.exit_code, result.interrupted
                _finish(report, run, before, stack.row_counts(), stack)
                if after is not None:
                    after(stack, report)
            except KeyboardInterrupt:
                report.interrupted = True
                report.ended_at = time.time()
                say("interrupted: stopping everything")
            if keep and not report.interrupted:
                stack.keep()
                report.urls = stack.urls()
    finally:
        signal.signal(signal.SIGTERM, previous)
        report.write()
    return report


def _finish(report: reporting.Report, run: LocustRun, before: dict, after: dict, stack: Stack) -> None:
    report.rows = reporting.read_stats(run.files["csv_stats"])
    if not run.files["csv_stats"].exists() and run.master is not None:
        report.problems.append(f"the Locust master wrote no stats (exit {report.exit_code}); its log ends:\n"
                               + tail(run.master.log_path, 15))  # fmt: skip
    if run.files["verdict"].exists():
        report.verdict = json.loads(run.files["verdict"].read_text())
    report.consistency = reporting.check_consistency(report.verdict, before, after)
    if stack.prometheus is not None:
        reporting.read_server_figures(report, stack.prometheus.url)
        reporting.draw_charts(report, stack.prometheus.url)


def _progress_printer(options: LoadOptions, quiet: bool) -> Callable[[Progress], None] | None:
    if quiet:
        return None
    last_print = [0.0]

    def show(progress: Progress) -> None:
        if sys.stderr.isatty() or progress.elapsed - last_print[0] >= NON_TTY_PROGRESS_EVERY:
            print_progress(progress, options.duration)
            last_print[0] = progress.elapsed

    return show


def _ticker(during: During | None, stack: Stack, run: LocustRun) -> Callable[[float], None] | None:
    if during is None:
        return None
    return lambda elapsed: during(stack, run, elapsed)
