"""Planted bottlenecks: runs that each saturate ONE known resource, to check the diagnosis against the answer.

Each case is a values file of `lab/planted/` (the system) plus the load it runs with here (users, scenario,
Locust workers, a CPU quota, a delay in front of Postgres or Redis). `loadlab diagnose-matrix` runs them and
prints what was planted against what the diagnosis named first; tests/lab/test_planted.py asserts they agree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loadlab import diagnosis, fingerprint, presets
from loadlab.commands import REPO_ROOT
from loadlab.formats import text_table
from loadlab.lab import run_lab
from loadlab.loadtest import LoadOptions, LocustRun
from loadlab.process import ServiceError
from loadlab.result import Machine, RunResult
from loadlab.services import Postgres
from loadlab.stack import Stack

PLANTED_DIR = REPO_ROOT / "lab" / "planted"
#: Seconds of load per case: the workers connect and the users spawn in the first few, then a signal must hold
#: `diagnosis.SUSTAIN` samples in a row.
DURATION = 20
#: The planted lock: held this long, then released this long, over and over (a batch job's short transactions).
LOCK_HOLD = 1.5
LOCK_PAUSE = 0.5


@dataclass(frozen=True)
class Case:
    name: str
    expected: str  # the resource the diagnosis must name first
    scenario: str | None
    users: int
    workers: int = 1
    cpus: str | None = None
    #: Delay proxies in the data path: what they slow -> seconds added to each answer, from the load's start.
    delays: dict[str, float] = field(default_factory=dict)
    #: A locustfile of lab/planted/ instead of the load suite (then `scenario` is None).
    locustfile: str | None = None
    #: A table another session locks in SHARE mode (writes wait, reads do not) while the load runs (`LockHolder`).
    lock: str | None = None

    @property
    def values(self) -> Path:
        return PLANTED_DIR / f"{self.name}.yaml"

    def options(self, duration: int = DURATION) -> LoadOptions:
        locustfile = PLANTED_DIR / self.locustfile if self.locustfile else None
        return LoadOptions(
            users=self.users,
            spawn_rate=self.users,
            duration=duration,
            workers=self.workers,
            scenario=self.scenario,
            accounts=min(self.users, 20),
            cpus=self.cpus,
            locustfile=locustfile,
        )


CASES: tuple[Case, ...] = (
    Case("db-pool", diagnosis.DB_POOL, "read-heavy", users=40, delays={"postgres": 0.05}),
    Case("pgbouncer-pool", diagnosis.PGBOUNCER, "read-heavy", users=40, delays={"postgres": 0.05}),
    Case("executor", diagnosis.EXECUTOR, "login-storm", users=10),
    Case("api-cpu", diagnosis.API_CPU, "bare", users=20, workers=2, cpus="chart"),
    Case("postgres-cpu", diagnosis.POSTGRES_CPU, "cached-list", users=15, workers=2, cpus="chart"),
    Case("generator", diagnosis.GENERATOR, None, users=20, workers=1, locustfile="generator_locustfile.py"),
    Case("redis-slow", diagnosis.REDIS, "cached-list", users=10, delays={"redis": 0.05}),
    Case("postgres-locks", diagnosis.POSTGRES_LOCKS, "write-heavy", users=15, lock="posts"),
)
BY_NAME = {c.name: c for c in CASES}


class LockHolder(threading.Thread):
    """Another session's short transactions that each lock `table` in SHARE mode for `LOCK_HOLD` seconds, then
    let go for `LOCK_PAUSE`, until stopped: every INSERT into the table waits for the lock meanwhile."""

    def __init__(self, postgres: Postgres, table: str) -> None:
        super().__init__(name=f"lock-{table}", daemon=True)
        self.postgres = postgres
        self.table = table
        self.stopped = threading.Event()
        self.problem = ""

    def run(self) -> None:
        sql = f"BEGIN; LOCK TABLE {self.table} IN SHARE MODE; SELECT pg_sleep({LOCK_HOLD}); COMMIT"
        while not self.stopped.is_set():
            try:
                self.postgres.psql(sql)
            except ServiceError as exc:  # the run reports it; the lock is the case's, not the run's, concern
                self.problem = str(exc)
                return
            self.stopped.wait(LOCK_PAUSE)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=LOCK_HOLD + 10)


def run_case(
    root: Path, case: Case, *, machine: Machine | None = None, duration: int = DURATION, quiet: bool = True
) -> RunResult:
    """One planted case, start to finish (its report written like any run's)."""
    holders: list[LockHolder] = []

    def during(stack: Stack, run: LocustRun, elapsed: float) -> None:
        for part, seconds in case.delays.items():
            stack.proxies[part].delay = seconds
        if case.lock and not holders and stack.postgres is not None:
            holders.append(LockHolder(stack.postgres, case.lock))
            holders[0].start()

    def ended(stack: Stack) -> None:
        for holder in holders:
            holder.stop()

    def after(stack: Stack, result: RunResult) -> None:
        result.problems += [f"the planted lock stopped early: {h.problem}" for h in holders if h.problem]

    try:
        return run_lab(
            root,
            presets.load(str(case.values)),
            case.options(duration),
            machine=machine,
            quiet=quiet,
            during=during if case.delays or case.lock else None,
            ended=ended,
            after=after,
            stack_options={"delayed": tuple(case.delays)} if case.delays else None,
        )
    finally:
        for holder in holders:
            holder.stop()


def matrix_rows(outcomes: Sequence[tuple[Case, RunResult]]) -> list[list[str]]:
    rows = [["Case", "Planted", "Named first", "Agree", "Also saturated", "Headline"]]
    for case, result in outcomes:
        named = diagnosis.first_resource(result.diagnosis)
        others = [f.resource for f in (result.diagnosis.findings[1:] if result.diagnosis else [])]
        rows.append(
            [
                case.name,
                case.expected,
                named or "(nothing)",
                "yes" if named == case.expected else "NO",
                ", ".join(others) or "-",
                result.diagnosis.headline if result.diagnosis else "-",
            ]
        )
    return rows


def run_matrix(
    root: Path, names: Sequence[str] = (), *, duration: int = DURATION, say: Callable[[str], None] = print
) -> list[tuple[Case, RunResult]]:
    """Every case (or those named), one after the other, with one machine fingerprint for all."""
    cases = [BY_NAME[n] for n in names] if names else list(CASES)
    machine = fingerprint.measure()
    outcomes = []
    for case in cases:
        say(
            f"planted: {case.name} (expect {case.expected}; {case.users} users, {case.locustfile or case.scenario}, "
            f"{case.workers} worker(s){', --cpus ' + case.cpus if case.cpus else ''})"
        )
        try:
            result = run_case(root, case, machine=machine if case.cpus is None else None, duration=duration)
        except Exception as exc:  # noqa: BLE001 - one case that could not run is a row of the table, not the end
            say(f"planted: {case.name}: could not run: {exc}")
            failed = RunResult(
                f"{case.name}-failed", str(root), {"name": case.name}, {}, 0.0, 0.0, problems=[f"could not run: {exc}"]
            )
            outcomes.append((case, failed))
            continue
        outcomes.append((case, result))
        say(
            f"planted: {case.name}: named {diagnosis.first_resource(result.diagnosis) or '(nothing)'}; "
            f"report {result.outdir}"
        )
        if result.interrupted:
            break
    return outcomes


def print_matrix(outcomes: Sequence[tuple[Case, RunResult]]) -> int:
    """The planted-vs-named table; 0 when every case named its planted resource first."""
    rows = matrix_rows(outcomes)
    print(text_table([row[:5] for row in rows]))
    for case, result in outcomes:
        print(f"{case.name}: {result.diagnosis.headline if result.diagnosis else 'no diagnosis'}")
    return 0 if all(row[3] == "yes" for row in rows[1:]) else 1
