"""`loadlab soak`: the seed mix at 70 % of the preset's measured knee for a long while, judged window by window.

Every window (5 minutes; a quarter of a shorter run) records: failures, p95/p99, the API's RSS and open file
descriptors (its whole process tree), Postgres / PgBouncer / Redis connections and table sizes. The soak passes
when nothing failed, p95 stayed within 20 % of the first window, RSS grew at most 10 % after the first window
(the warm-up) and descriptors and connections stayed flat. Drift is what a short run cannot show.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from loadlab import charts
from loadlab.formats import markdown_table, text_table
from loadlab.lab import run_lab
from loadlab.loadtest import LoadOptions, LocustRun
from loadlab.presets import Preset
from loadlab.result import RunResult
from loadlab.stack import CREATED_BY, Stack

KNEE_SHARE = 0.70
WINDOW_SECONDS = 300
#: A run shorter than this many windows gets windows of a quarter of it (`--minutes 2`: 30 s windows).
MIN_WINDOWS = 4
P95_DRIFT = 0.20
RSS_GROWTH = 0.10
#: "Flat": at most this much above the first window (a share, or a few, whichever is larger).
FLAT_SHARE, FLAT_SLACK = 0.10, 2
#: Users start over this many seconds, at most `MAX_SPAWN_RATE` a second. Every user starts with a login (a bcrypt
#: verify, in threads niced below the event loops): at 70 % of a 1100-user knee, 77 logins/s on top of the mix is
#: more bcrypt than two vCPUs have beside the traffic, and even 20/s had 3 of 770 logins refused (503) at the end
#: of the ramp in one 30-minute soak. A soak measures drift, not the ramp (the seed test and the bench do).
RAMP_SECONDS = 10
MAX_SPAWN_RATE = 10.0


@dataclass
class Window:
    """One window of the soak (`at`: seconds since the load started, at the window's end)."""

    at: float
    requests: float = 0.0
    failures: float = 0.0
    p95_ms: float | None = None
    p99_ms: float | None = None
    api_rss_mb: float = 0.0
    api_fds: int = 0
    postgres_connections: int = 0
    pgbouncer_clients: float | None = None
    pgbouncer_servers: float | None = None
    redis_clients: float | None = None
    table_mb: dict[str, float] = field(default_factory=dict)


@dataclass
class Soak:
    users: int
    knee: int
    knee_source: str
    window_seconds: int
    windows: list[Window] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    run_report: str = ""

    @property
    def passed(self) -> bool:
        return not self.failed


def window_length(minutes: float, window: int = WINDOW_SECONDS) -> int:
    return max(1, min(window, int(minutes * 60 / MIN_WINDOWS)))


# -- sampling one window -------------------------------------------------------------------------------------------
def sample(stack: Stack, at: float, seconds: int) -> Window:
    assert stack.prometheus is not None and stack.postgres is not None and stack.api is not None
    prom = stack.prometheus.url
    now = time.time()

    def value(expr: str) -> float | None:
        found = charts.query_instant(prom, expr, now)
        number = float(found[0]["value"][1]) if found else None
        return None if number is None or math.isnan(number) else number

    w = f"{seconds}s"
    window = Window(at=round(at, 1))
    window.requests = value(f"sum(increase(locust_requests_total[{w}]))") or 0.0
    window.failures = value(f"sum(increase(locust_request_failures_total[{w}]))") or 0.0
    for q, name in ((0.95, "p95_ms"), (0.99, "p99_ms")):
        seconds_value = value(
            f"histogram_quantile({q}, sum by (le) (increase(locust_response_time_seconds_bucket[{w}])))"
        )
        setattr(window, name, None if seconds_value is None else round(seconds_value * 1000, 1))
    window.api_rss_mb, window.api_fds = api_process_tree(stack)
    window.postgres_connections = int(
        stack.postgres.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'board' AND pid <> pg_backend_pid()", db="board"
        )
    )
    if stack.pgbouncer is not None:
        window.pgbouncer_clients = value(
            "sum(pgbouncer_pools_client_active_connections) + sum(pgbouncer_pools_client_waiting_connections)"
        )
        window.pgbouncer_servers = value(
            "sum(pgbouncer_pools_server_active_connections) + sum(pgbouncer_pools_server_idle_connections)"
        )
    if stack.redis is not None:
        window.redis_clients = value("sum(redis_connected_clients)")
    sizes = stack.postgres.psql(
        " UNION ALL ".join(f"SELECT '{t}', pg_total_relation_size('{t}')" for t in dict.fromkeys(CREATED_BY.values()))
    )
    window.table_mb = {t: round(int(n) / 2**20, 2) for t, n in (line.split("|") for line in sizes.splitlines())}
    return window


def api_process_tree(stack: Stack) -> tuple[float, int]:
    """RSS (MB) and open descriptors of the API's processes (a supervisor's workers included)."""
    assert stack.api is not None and stack.api.process is not None and stack.api.process.pid is not None
    rss, fds = 0, 0
    try:
        root = psutil.Process(stack.api.process.pid)
        for proc in (root, *root.children(recursive=True)):
            with proc.oneshot():
                rss += proc.memory_info().rss
                fds += proc.num_fds()
    except psutil.Error:
        pass
    return round(rss / 2**20, 1), fds


# -- judging ------------------------------------------------------------------------------------------------------
def judge(windows: list[Window]) -> list[str]:
    """What broke over the soak; the first window is the warm-up every later one is compared with."""
    if len(windows) < 2:
        return [f"only {len(windows)} window(s): nothing to compare"]
    first, later = windows[0], windows[1:]
    failed = []
    if failures := sum(w.failures for w in windows):
        failed.append(f"{failures:.0f} failures")
    if first.p95_ms:
        drifted = [w for w in later if w.p95_ms is not None and w.p95_ms > first.p95_ms * (1 + P95_DRIFT)]
        failed += [
            f"p95 {w.p95_ms:g} ms at {w.at:.0f} s, over {P95_DRIFT:.0%} above the first window's {first.p95_ms:g} ms"
            for w in drifted
        ]
    if (last := later[-1]).api_rss_mb > first.api_rss_mb * (1 + RSS_GROWTH):
        failed.append(f"API RSS grew {first.api_rss_mb:g} -> {last.api_rss_mb:g} MB (> {RSS_GROWTH:.0%})")
    for name in ("api_fds", "postgres_connections", "pgbouncer_clients", "pgbouncer_servers", "redis_clients"):
        base = getattr(first, name)
        if base is None:
            continue
        bound = base + max(FLAT_SLACK, base * FLAT_SHARE)
        grown = [w for w in later if (getattr(w, name) or 0) > bound]
        # A leak accumulates: it shows in the last window and in most of them. Pooled connections also follow
        # the instant's concurrency (a 30-min soak here saw PgBouncer's servers 8, 9, 8, 12, 7, 6 within its pool
        # of 20), so one high sample that returns is not one.
        if grown and (grown[-1] is later[-1] or len(grown) * 2 > len(later)):
            failed.append(
                f"{name} not flat: {base:g} in the first window, {getattr(grown[-1], name):g} at {grown[-1].at:.0f} s"
            )
    return failed


def table(soak: Soak) -> list[list[str]]:
    head = "At s|Requests|Failures|p95 ms|p99 ms|API RSS MB|API fds|PG conns|PgB clients/servers|Redis clients|Table MB"
    rows = [head.split("|")]
    for w in soak.windows:
        pgb = "-" if w.pgbouncer_clients is None else f"{w.pgbouncer_clients:g}/{w.pgbouncer_servers or 0:g}"
        rows.append(
            [
                f"{w.at:.0f}",
                f"{w.requests:.0f}",
                f"{w.failures:.0f}",
                _ms(w.p95_ms),
                _ms(w.p99_ms),
                f"{w.api_rss_mb:g}",
                str(w.api_fds),
                str(w.postgres_connections),
                pgb,
                "-" if w.redis_clients is None else f"{w.redis_clients:g}",
                " ".join(f"{t} {mb:g}" for t, mb in w.table_mb.items()),
            ]
        )
    return rows


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def spawn_rate(users: int) -> float:
    """Users started per second: the whole ramp within `RAMP_SECONDS`, never more than `MAX_SPAWN_RATE`."""
    return min(MAX_SPAWN_RATE, max(1.0, users / RAMP_SECONDS))


# -- running one --------------------------------------------------------------------------------------------------
def run_soak(
    root: Path,
    preset: Preset,
    knee: int,
    knee_source: str,
    minutes: float,
    workers: int = 2,
    window: int = WINDOW_SECONDS,
    quiet: bool = False,
) -> Soak:
    seconds = window_length(minutes, window)
    users = max(1, round(knee * KNEE_SHARE))
    soak = Soak(users, knee, knee_source, seconds)
    options = LoadOptions(
        users=users,
        spawn_rate=spawn_rate(users),
        duration=max(1, int(minutes * 60)),
        workers=workers,
        scenario="seed",
        accounts=min(users, 100),
    )
    next_at = [float(seconds)]

    def during(stack: Stack, run: LocustRun, elapsed: float) -> None:
        if elapsed >= next_at[0]:
            next_at[0] += seconds
            soak.windows.append(sample(stack, elapsed, seconds))

    def after(stack: Stack, result: RunResult) -> None:
        soak.failed = judge(soak.windows)
        soak.run_report = str(result.outdir)
        write(soak, result.outdir)

    result = run_lab(root, preset, options, during=during, after=after, quiet=quiet)
    if result.interrupted:
        soak.failed.append("interrupted")
    if not soak.run_report:
        soak.failed.append("the run did not finish")
    return soak


def write(soak: Soak, outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "soak.json").write_text(json.dumps({**asdict(soak), "passed": soak.passed}, indent=2) + "\n")
    md = [
        f"# Soak: {soak.users} users (70 % of the knee, {soak.knee} users from {soak.knee_source}), windows of "
        f"{soak.window_seconds} s",
        "",
        markdown_table(table(soak)),
        "",
        "**PASS**" if soak.passed else "**FAIL**: " + "; ".join(soak.failed),
        "",
    ]
    (outdir / "soak.md").write_text("\n".join(md))


def summary(soak: Soak) -> str:
    lines = [
        f"soak: {soak.users} users (70 % of the knee {soak.knee} from {soak.knee_source}), "
        f"windows of {soak.window_seconds} s",
        text_table(table(soak)),
    ]
    lines.append("soak: PASS" if soak.passed else "soak: FAIL: " + "; ".join(soak.failed))
    if soak.run_report:
        lines.append(f"report: {Path(soak.run_report) / 'soak.md'}")
    return "\n".join(lines)
