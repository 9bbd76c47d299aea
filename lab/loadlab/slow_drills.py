"""Slow-dependency drills: Postgres or Redis still up but slow, through a delay proxy the stack puts in front.

- `db-slow`: every Postgres round trip 50 ms slower for 20 s (the proxy sits between PgBouncer and Postgres):
  the pools fill up, whatever is refused is a fast 503, no request waits past the pool timeout + 1 s, and the
  clients recover after.
- `redis-slow`: Redis answers 600 ms late for 15 s, past the API's Redis timeout: the breaker opens, lists are
  served from Postgres and stay 200, and the cache serves hits again after.
"""

from __future__ import annotations

from board.config import Settings
from board.metrics import LATENCY_BUCKETS
from loadlab.drill import Action, Drill, DrillOutcome
from loadlab.drill_checks import (
    api_sends_no_5xx_but_503,
    cache_errors_counted_then_hits_return,
    cache_figures,
    no_failures_on,
    nothing_lost,
    recovered_within,
    scalar,
)
from loadlab.loadtest import LocustRun
from loadlab.stack import Stack

DB_DELAY_SECONDS = 0.05
DB_FAULT_SECONDS = 20
#: Enough writers that connections held 50 ms longer per round trip fill the pools of the tuned preset.
DB_USERS = 60
REDIS_DELAY_SECONDS = 0.6
REDIS_FAULT_SECONDS = 15
#: The pool figures compare the fault with this many seconds before it.
BEFORE_SECONDS = 6
#: Requests that started during the fault may end this long after it.
AFTER_SECONDS = 3


def _delay(name: str, seconds: float) -> Action:
    def act(stack: Stack, run: LocustRun) -> None:
        stack.proxies[name].delay = seconds

    return act


def pool_figures(outcome: DrillOutcome, prometheus: str) -> None:
    """Connections in use and clients waiting, at most, before the fault and during it."""
    window = outcome.window
    if not window.injected_at:
        return
    during = f"{max(1, int(window.recovered_at - window.injected_at))}s"
    for label, expr in (
        ("pool_in_use", "sum(board_db_pool_connections_in_use)"),
        ("pgbouncer_waiting", "sum(pgbouncer_pools_client_waiting_connections)"),
    ):
        outcome.extra[f"{label}_max_before"] = scalar(
            prometheus, f"max_over_time(({expr})[{BEFORE_SECONDS}s:1s])", window.injected_at
        )
        outcome.extra[f"{label}_max_during"] = scalar(
            prometheus, f"max_over_time(({expr})[{during}:1s])", window.recovered_at
        )


def pools_fill_up(outcome: DrillOutcome) -> str | None:
    """The slowness reached the API: more connections held, or clients queued in PgBouncer."""
    x = outcome.extra
    if x.get("pool_in_use_max_during", 0) > x.get("pool_in_use_max_before", 0):
        return None
    if x.get("pgbouncer_waiting_max_during", 0) > x.get("pgbouncer_waiting_max_before", 0):
        return None
    return (
        f"the pools did not fill up: in use {x.get('pool_in_use_max_before')} -> "
        f"{x.get('pool_in_use_max_during')}, PgBouncer waiting {x.get('pgbouncer_waiting_max_before')} -> "
        f"{x.get('pgbouncer_waiting_max_during')}"
    )


def pool_timeout(outcome: DrillOutcome) -> float:
    """The preset's `BOARD_DB_POOL_TIMEOUT`, else the API's default."""
    env = outcome.result.preset.get("env", {})
    return float(env.get("BOARD_DB_POOL_TIMEOUT", Settings.model_fields["db_pool_timeout"].default))


def slow_bound(outcome: DrillOutcome) -> float:
    """Pool timeout + 1 s, read on the API's latency histogram: its first bucket bound at or above that."""
    wanted = pool_timeout(outcome) + 1
    return next((b for b in LATENCY_BUCKETS if b >= wanted), LATENCY_BUCKETS[-1])


def requests_over_bound(outcome: DrillOutcome, prometheus: str) -> None:
    """Requests the API answered in more than `slow_bound` while the fault lasted (and a few seconds after)."""
    window = outcome.window
    if not window.injected_at:
        return
    span = f"{max(1, int(window.recovered_at - window.injected_at) + AFTER_SECONDS)}s"
    bound = slow_bound(outcome)
    outcome.extra["slow_bound_s"] = bound
    outcome.extra["api_over_bound_during"] = scalar(
        prometheus,
        f"sum(increase(board_http_request_duration_seconds_count[{span}]))"
        f' - sum(increase(board_http_request_duration_seconds_bucket{{le="{bound}"}}[{span}]))',
        window.recovered_at + AFTER_SECONDS,
    )


def nothing_waits_past_the_pool_timeout(outcome: DrillOutcome) -> str | None:
    """Judged inside the API during the fault: the clients' own slowest includes the login burst at spawn."""
    over = outcome.extra.get("api_over_bound_during")
    if over is None:
        return "the API's request durations during the fault were not in Prometheus"
    bound = outcome.extra["slow_bound_s"]
    if over > 0:
        return f"the API took over {bound:g} s (pool timeout + 1 s, to its histogram's bucket) for {over:.0f} requests"
    return None


def db_figures(outcome: DrillOutcome, prometheus: str) -> None:
    pool_figures(outcome, prometheus)
    requests_over_bound(outcome, prometheus)


def db_slow() -> Drill:
    return Drill(
        "db-slow",
        f"every Postgres round trip {DB_DELAY_SECONDS * 1000:.0f} ms slower for {DB_FAULT_SECONDS} s",
        _delay("postgres", DB_DELAY_SECONDS),
        _delay("postgres", 0.0),
        fault_seconds=DB_FAULT_SECONDS,
        duration=45,
        users=DB_USERS,
        scenario="write-heavy",
        stack_options={"delayed": ("postgres",)},
        checks=(
            pools_fill_up,
            api_sends_no_5xx_but_503,
            nothing_waits_past_the_pool_timeout,
            recovered_within(10),
            nothing_lost,
        ),
        analyse_more=db_figures,
    )


def redis_slow() -> Drill:
    return Drill(
        "redis-slow",
        f"Redis answers {REDIS_DELAY_SECONDS * 1000:.0f} ms late for {REDIS_FAULT_SECONDS} s",
        _delay("redis", REDIS_DELAY_SECONDS),
        _delay("redis", 0.0),
        fault_seconds=REDIS_FAULT_SECONDS,
        stack_options={"delayed": ("redis",)},
        checks=(no_failures_on("/posts/"), cache_errors_counted_then_hits_return, nothing_lost),
        analyse_more=cache_figures,
    )
