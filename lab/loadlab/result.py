"""The result of one lab run as plain data: dataclasses that go to JSON and come back from it.

`collect.py` fills a `RunResult` from the live stack; `report.py` renders it (text, Markdown, JSON, HTML, PNGs)
and nothing else. Nothing here talks to a process, so a stored `summary.json` renders the same report again:
`report.write(RunResult.load(path))`.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULT_VERSION = 1


@dataclass
class Endpoint:
    """One endpoint as the clients saw it: Locust's own counts and percentiles, and every status it got."""

    method: str
    name: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float
    max_ms: float = 0.0
    #: `{"200": n, "503": n, "0": n}` (0 = no response), from the load suite's verdict.
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.method} {self.name}"


@dataclass
class Series:
    label: str
    #: `[seconds since the run started, value in the chart's unit]`
    points: list[list[float]] = field(default_factory=list)


@dataclass
class Chart:
    """One chart's data: the dashboard panel it copies, and every series Prometheus returned for the run."""

    title: str
    unit: str
    file: str  # the PNG's name in the report folder
    source: str = ""  # "<dashboard> / <panel>"
    series: list[Series] = field(default_factory=list)


@dataclass
class CountCheck:
    """One count the clients saw against the server's own count of the same thing.

    `server` is None when the server's count is unknown (the note says why): that is never ok.
    """

    kind: str  # ROWS, REASON_503 or STATUS
    subject: str  # a table, a 503 reason, a status code
    clients: int
    server: int | None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.server is not None and self.clients == self.server


ROWS = "201s vs rows"
REASON_503 = "503s by reason"
STATUS = "responses by status"


@dataclass
class Counts:
    """What one side counted over the run: the clients (the load suite, plus any probe of a drill) or the server.

    `statuses`: responses by HTTP status (`"503"`; the clients' `"0"` is no response). `reasons_503`: 503s by the
    API's `board_overload_rejections_total` reason, `"other"` for a 503 that is no overload (database
    unavailable). `rows`: the clients' 201s, or the rows added, per table. `unknown`: why this side's statuses
    and reasons could not be counted (the API restarted, its metrics did not answer), empty when they were.
    """

    statuses: dict[str, int] = field(default_factory=dict)
    reasons_503: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    unknown: str = ""

    def plus(self, other: Counts) -> Counts:
        def add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
            return {k: a.get(k, 0) + b.get(k, 0) for k in {**a, **b}}

        unknown = "; ".join(u for u in (self.unknown, other.unknown) if u)
        return Counts(
            add(self.statuses, other.statuses),
            add(self.reasons_503, other.reasons_503),
            add(self.rows, other.rows),
            unknown,
        )


@dataclass
class Consistency:
    """Every count the clients saw, checked against the server (see `CountCheck`).

    `ok` is the strict check of a normal run: every count equal. Under a fault a write can commit while its 201
    never reaches the client (a cut connection, a killed load-generator worker that had not reported yet): that
    is an *unacknowledged* write, not a lost one. A *lost* write (a 201 with no row) is never acceptable.
    """

    checks: list[CountCheck] = field(default_factory=list)
    problem: str = ""  # why the check could not be made at all

    @property
    def ok(self) -> bool:
        return not self.problem and bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def mismatches(self) -> list[CountCheck]:
        return [c for c in self.checks if not c.ok]

    @property
    def rows(self) -> list[CountCheck]:
        return [c for c in self.checks if c.kind == ROWS]

    @property
    def nothing_lost(self) -> bool:
        rows = self.rows
        return bool(rows) and all(c.server is not None and c.clients <= c.server for c in rows)

    @property
    def unacknowledged(self) -> int:
        return sum(max(0, (c.server or 0) - c.clients) for c in self.rows)


@dataclass
class Machine:
    """What the figures were measured on, so runs from two machines can be compared."""

    cores: int
    usable_cpus: float  # affinity, capped by a CPU quota
    cpu_model: str
    cpu_quota: str  # "none", or the quota and where it was read
    bcrypt_cost10_ms: float  # one bcrypt verify at cost 10 (median)
    python_loop_ms: float  # a fixed pure-Python loop (see fingerprint.py)
    load_average: float = 0.0  # 1-minute load average when measured: was the machine quiet?
    python: str = ""
    kernel: str = ""


@dataclass
class Finding:
    """One saturated resource: the figures that show it, the rule that decided it, what to change.

    `signal` names the saturation signal (`loadlab.diagnosis.SIGNALS`) that decided it; `crossed_at` is when it
    first held at or above `threshold` (seconds since the run started), `peak` its highest value. `elsewhere`:
    in a compare, how the same signal looked in each other preset.
    """

    resource: str
    rule: str
    evidence: dict[str, float] = field(default_factory=dict)
    next_step: str = ""
    signal: str = ""
    crossed_at: float | None = None
    peak: float | None = None
    threshold: float | None = None
    elsewhere: dict[str, str] = field(default_factory=dict)


@dataclass
class Diagnosis:
    """Which resource saturated first (issue 19); every rendering shows it first.

    `findings`: the resources whose signal crossed its threshold, the first one first. `quiet`: the signals that
    were measured and stayed under (their peak and threshold). `unmeasured`: signals with no data in this run
    (no PgBouncer, the cache off, ...). `traces`: every signal over the run (`[seconds since start, value]`), so a
    stored result can be diagnosed again and compared.
    """

    headline: str
    findings: list[Finding] = field(default_factory=list)
    quiet: list[Finding] = field(default_factory=list)
    unmeasured: list[str] = field(default_factory=list)
    traces: dict[str, list[list[float]]] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None


@dataclass
class RunResult:
    run_id: str
    report_dir: str
    preset: dict[str, Any]
    options: dict[str, Any]
    started_at: float
    ended_at: float
    interrupted: bool = False
    locust_exit_code: int | None = None
    diagnosis: Diagnosis | None = None
    machine: Machine | None = None
    #: The load suite's verdict JSON as the master wrote it (see docs/contracts.md).
    verdict: dict[str, Any] = field(default_factory=dict)
    #: When the verdict failed: what weighed most (which endpoint, which status or 503 reason, which limit).
    dominant_cause: str = ""
    endpoints: list[Endpoint] = field(default_factory=list)
    #: Why requests failed, as the clients saw it: "METHOD name: message" -> occurrences.
    failures: dict[str, int] = field(default_factory=dict)
    #: What the clients and the server each counted; `consistency` is their comparison.
    client_counts: Counts | None = None
    server_counts: Counts | None = None
    consistency: Consistency | None = None
    #: What the API's metrics said over the run (pool wait, executor wait, cache hit ratio...), None = no data.
    server: dict[str, float | None] = field(default_factory=dict)
    charts: list[Chart] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    #: Services left running by `--keep`: name -> URL.
    urls: dict[str, str] = field(default_factory=dict)
    #: The CPU quota the stack ran under (`--cpus`; `loadlab.cpulimit`): its cgroup, the CPUs of each group, and
    #: what each group used and how often the quota stopped it. Empty: no quota.
    cpu_limit: dict[str, Any] = field(default_factory=dict)
    #: The URL the load went to when it was not the lab's own API (`loadlab run --host`): nothing server-side
    #: (rows, the API's counters) can be checked then, so the verdict alone decides.
    target: str = ""
    #: CPU-seconds each part used over the run (api, postgres, pgbouncer, redis, monitoring, load generator).
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    version: int = RESULT_VERSION

    @property
    def requests(self) -> int:
        return sum(e.requests for e in self.endpoints)

    def cpu_ms_per_request(self) -> dict[str, float]:
        """Each part's CPU per request the clients made, in ms (what a request costs it)."""
        requests = self.requests
        return {part: 1000 * seconds / requests for part, seconds in self.cpu_seconds.items()} if requests else {}

    @property
    def outdir(self) -> Path:
        return Path(self.report_dir)

    @property
    def verdict_passed(self) -> bool:
        return bool(self.verdict.get("passed", False))

    @property
    def passed(self) -> bool:
        consistent = bool(self.target) or (self.consistency is not None and self.consistency.ok)
        return self.verdict_passed and consistent and not self.interrupted

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON values; the diagnosis first (every rendering shows it first), then the outcome."""
        data = dataclasses.asdict(self)
        return {"diagnosis": data.pop("diagnosis"), "passed": self.passed, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        result: RunResult = _build(cls, data)
        return result

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> RunResult:
        return cls.from_dict(json.loads(path.read_text()))


def _build(kind: Any, data: Any) -> Any:
    """`data` (parsed JSON) as an instance of the type `kind`: dataclasses, lists, dicts and optionals nest."""
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        hints = typing.get_type_hints(kind)
        init = {f.name for f in dataclasses.fields(kind) if f.init}
        return kind(**{name: _build(hints[name], value) for name, value in data.items() if name in init})
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        if data is None:
            return None
        return _build(next(a for a in args if a is not type(None)), data)
    if origin is list:
        return [_build(args[0], item) for item in data]
    if origin is dict:
        return {key: _build(args[1], value) for key, value in data.items()}
    return data
