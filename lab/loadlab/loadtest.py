"""A distributed Locust run: one master (headless, with our exporter) and N worker processes on loopback.

The master decides when the test ends (`--run-time` or the load shape); the lab only watches it through the
master's own Prometheus exporter (the same numbers Prometheus stores) to draw a progress line.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from prometheus_client.parser import text_string_to_metric_families

from loadlab import commands
from loadlab.cpulimit import CHART_CPUS, parse_cpus
from loadlab.process import Process, ServiceError, free_port, tail

PROGRESS_INTERVAL = 1.0
#: Without a terminal the progress is a line each time, so fewer of them.
NON_TTY_PROGRESS_EVERY = 5.0
#: Progress samples the shown rate spans (Locust workers report every 3 s).
RPS_WINDOW = 7
#: Locust needs a moment after --run-time to stop users and write its reports.
END_GRACE = 60.0
SCRAPE_TIMEOUT = 2.0
#: The master keeps serving its final numbers this long, so Prometheus (scraping every second) gets them.
EXPORTER_LINGER = 3.0
#: A worker that has not joined the master this long after the start never will (a wrong master port, a crash at
#: import): the run stops with an error naming it instead of waiting for it (Locust's master waits forever).
#: Generous: a worker's imports took over 20 s on a crowded 2-core machine.
JOIN_TIMEOUT = 90.0


@dataclass(frozen=True)
class LoadOptions:
    """What the Locust master and workers do. A suite option left None is not passed on: Locust then takes its
    LOADLAB_* environment variable or its default (loadsuite.options), so the lab reads none of them."""

    users: int = 200
    spawn_rate: float = 50.0
    duration: int = 60
    workers: int = 2
    scenario: str | None = None
    shape: str | None = None
    step_users: int | None = None
    step_interval: float | None = None
    thresholds: Path | str | None = None
    accounts: int = 100
    #: The stack's CPU quota (`--cpus`): CPUs for the whole stack ("1.4"), "chart" (each component its chart
    #: limit), or None (unlimited). The load generator is never limited.
    cpus: str | None = None
    #: Your own locustfile, run beside the plugin (None: the load suite's).
    locustfile: Path | None = None

    def __post_init__(self) -> None:
        for name in ("users", "duration", "workers", "accounts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.spawn_rate <= 0:
            raise ValueError(f"spawn_rate must be positive, got {self.spawn_rate}")
        if self.cpus not in (None, CHART_CPUS):
            parse_cpus(self.cpus)  # a ValueError names what is wrong
        if self.locustfile is not None:
            if not Path(self.locustfile).is_file():
                raise FileNotFoundError(f"--locustfile {self.locustfile}: no such file")
            suite_only = [f"--{n.replace('_', '-')}" for n in SUITE_ONLY if getattr(self, n) is not None]
            if suite_only:
                raise ValueError(f"{', '.join(suite_only)}: the load suite's options, not your locustfile's")

    def to_json(self) -> dict[str, Any]:
        """These options as JSON values, for a run's result (paths as strings)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def describe(options: LoadOptions) -> str:
    """The test in a few words, for progress lines: your locustfile, or the suite's scenario and shape."""
    if options.locustfile is not None:
        return f"locustfile {options.locustfile}"
    return f"scenario {options.scenario or 'default'}, shape {options.shape or 'default'}"


#: LoadOptions fields that are the load suite's own options (its users, scenarios, shapes).
SUITE_ONLY = ("scenario", "shape", "step_users", "step_interval")


@dataclass
class Progress:
    elapsed: float
    users: int = 0
    target_users: int = 0
    requests: float = 0.0
    failures: float = 0.0
    rps: float = 0.0
    workers: dict[str, int] = field(default_factory=dict)


@dataclass
class LocustResult:
    exit_code: int | None
    started_at: float
    ended_at: float
    interrupted: bool
    files: dict[str, Path]


class LocustRun:
    """Master + workers. Files land in `outdir`: CSVs, HTML report, JSON stats, the verdict."""

    def __init__(
        self,
        workdir: Path,
        outdir: Path,
        host: str,
        options: LoadOptions,
        *,
        exporter_port: int,
        run_id: str,
        join_timeout: float = JOIN_TIMEOUT,
    ) -> None:
        self.workdir = workdir
        self.join_timeout = join_timeout
        self.outdir = outdir
        self.host = host
        self.options = options
        self.exporter_port = exporter_port
        self.master_port = free_port()
        self.run_id = run_id
        self.master: Process | None = None
        self.workers: list[Process] = []
        outdir.mkdir(parents=True, exist_ok=True)

    @property
    def files(self) -> dict[str, Path]:
        return {
            "csv_stats": self.outdir / "locust_stats.csv",
            "csv_failures": self.outdir / "locust_failures.csv",
            "html": self.outdir / "locust.html",
            "json": self.outdir / "locust.json",
            "verdict": self.outdir / "verdict.json",
        }

    def scenario_options(self) -> dict[str, object]:
        """Options that shape the suite's users, so workers get them too (not only the master); none for your
        own locustfile."""
        o = self.options
        if o.locustfile is not None:
            return {}
        return {"scenario": o.scenario, "account_count": o.accounts}

    def master_options(self) -> dict[str, object]:
        o = self.options
        suite = {"shape": o.shape, "step_users": o.step_users, "step_interval": o.step_interval}
        return {
            "headless": True,
            "host": self.host,
            "users": o.users,
            "spawn_rate": o.spawn_rate,
            "run_time": f"{o.duration}s",
            "expect_workers": o.workers,
            # Workers that join (or die) mid-run get (or give back) their share of users.
            "enable_rebalancing": True,
            "master_bind_host": "127.0.0.1",
            "master_bind_port": self.master_port,
            "csv": self.outdir / "locust",
            "html": self.files["html"],
            "json_file": self.outdir / "locust",
            "only_summary": True,
            "stop_timeout": 5,
            # the plugin's, for any locustfile
            "exporter_port": self.exporter_port,
            "verdict_file": self.files["verdict"],
            "exporter_linger": EXPORTER_LINGER,
            "run_id": self.run_id,
            "thresholds": o.thresholds,
            **({} if o.locustfile is not None else suite),
            **self.scenario_options(),
        }

    @property
    def locustfile(self) -> str:
        return commands.locustfile_arg(self.options.locustfile)

    def start(self) -> LocustRun:
        argv = commands.locust_master(self.master_options(), self.locustfile)
        self.master = Process("locust-master", argv, self.workdir / "logs" / "locust-master.log").start()
        for _ in range(self.options.workers):
            self.add_worker()
        return self

    def add_worker(self) -> Process:
        """Start one more worker; the master (with --rebalance semantics of Locust) hands it users."""
        index = len(self.workers) + 1
        argv = commands.locust_worker(self.master_port, self.scenario_options(), self.locustfile)
        worker = Process(f"locust-worker-{index}", argv, self.workdir / "logs" / f"locust-worker-{index}.log")
        self.workers.append(worker.start())
        return worker

    def progress(self, started_at: float) -> Progress:
        snapshot = Progress(elapsed=time.monotonic() - started_at)
        try:
            url = f"http://127.0.0.1:{self.exporter_port}/metrics"
            with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT) as response:  # noqa: S310 - loopback
                text = response.read().decode()
        except OSError:
            return snapshot
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "locust_users":
                    snapshot.users = int(sample.value)
                elif sample.name == "locust_target_users":
                    snapshot.target_users = int(sample.value)
                elif sample.name == "locust_requests_total":
                    snapshot.requests += sample.value
                elif sample.name == "locust_request_failures_total":
                    snapshot.failures += sample.value
                elif sample.name == "locust_workers":
                    snapshot.workers[sample.labels.get("state", "?")] = int(sample.value)
        return snapshot

    def wait(
        self, on_progress: Callable[[Progress], None] | None = None, on_tick: Callable[[float], None] | None = None
    ) -> LocustResult:
        """Block until the master exits; Ctrl-C stops the test gracefully and marks the result interrupted."""
        assert self.master is not None, "start() first"
        started = time.monotonic()
        wall_start = time.time()
        deadline = started + self.options.duration + END_GRACE + 120
        interrupted = False
        # Workers report every 3 s, so the rate is taken over a few reports, not between two scrapes.
        recent: deque[Progress] = deque(maxlen=RPS_WINDOW)
        joined = False
        try:
            while self.master.alive and time.monotonic() < deadline:
                time.sleep(PROGRESS_INTERVAL)
                now = self.progress(started)
                joined = joined or self.joined(now) >= len(self.workers)
                if not joined and now.elapsed > self.join_timeout:
                    raise ServiceError(self.not_joined(now))
                if recent and now.elapsed > recent[0].elapsed:
                    now.rps = max(0.0, (now.requests - recent[0].requests) / (now.elapsed - recent[0].elapsed))
                recent.append(now)
                if on_progress:
                    on_progress(now)
                if on_tick:
                    on_tick(now.elapsed)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            code = self.stop()
        return LocustResult(code, wall_start, time.time(), interrupted or code is None, self.files)

    @staticmethod
    def joined(progress: Progress) -> int:
        """Workers the master knows (every state but missing); none while its exporter does not answer."""
        return sum(n for state, n in progress.workers.items() if state != "missing")

    def not_joined(self, progress: Progress) -> str:
        names = ", ".join(w.name for w in self.workers)
        first = self.workers[0] if self.workers else None
        log = f"; the end of {first.name}'s log:\n{tail(first.log_path, 10)}" if first is not None else ""
        return (
            f"Locust workers did not join the master (127.0.0.1:{self.master_port}) within "
            f"{self.join_timeout:.0f} s: {self.joined(progress)} of {len(self.workers)} joined ({names}); "
            f"the run stopped{log}"
        )

    def stop(self) -> int | None:
        """Stop the master first (it quits its workers and writes its reports), then any worker left."""
        code = None
        if self.master is not None:
            code = self.master.stop(timeout=END_GRACE)
        for worker in self.workers:
            worker.stop(timeout=10)
        return code


def print_progress(progress: Progress, total: int, stream: TextIO = sys.stderr) -> None:
    ratio = min(1.0, progress.elapsed / max(total, 1))
    bar = "#" * int(ratio * 20)
    failures = progress.failures / progress.requests * 100 if progress.requests else 0.0
    workers = progress.workers.get("running", 0) + progress.workers.get("spawning", 0)
    line = (
        f"[{bar:<20}] {progress.elapsed:4.0f}/{total}s  users {progress.users}/{progress.target_users}  "
        f"workers {workers}  rps {progress.rps:6.1f}  requests {progress.requests:.0f}  "
        f"failures {progress.failures:.0f} ({failures:.1f}%)"
    )
    if stream.isatty():
        stream.write("\r" + line)
    else:
        stream.write(line + "\n")
    stream.flush()


def progress_printer(options: LoadOptions, quiet: bool) -> Callable[[Progress], None] | None:
    """The progress line for `LocustRun.wait`: redrawn in place on a terminal, every few seconds in a log."""
    if quiet:
        return None
    last_print = [0.0]

    def show(progress: Progress) -> None:
        if sys.stderr.isatty() or progress.elapsed - last_print[0] >= NON_TTY_PROGRESS_EVERY:
            print_progress(progress, options.duration)
            last_print[0] = progress.elapsed

    return show


def announcer(quiet: bool) -> Callable[[str], None]:
    """How a run tells what it is doing: a `loadlab:` line on stderr, or nothing when `quiet`."""

    def say(message: str) -> None:
        if not quiet:
            print(f"loadlab: {message}", file=sys.stderr, flush=True)

    return say


def raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    """A SIGTERM handler: stop the run as Ctrl-C does, so it cleans up and writes its report."""
    raise KeyboardInterrupt(f"signal {signum}")
