#!/usr/bin/env python3
"""Generate the Grafana dashboards in grafana/dashboards/ from one compact spec.

Why a generator: four dashboards share a datasource, variables, annotations, layout rules and
panel conventions (unit, description, thresholds). Writing that by hand drifts; here each panel
is one call and the boilerplate lives in one place. The JSON is committed so Grafana, Helm and
the lab read plain files; `python grafana/build.py --check` fails when they differ from the spec.

Stdlib only, so the chart, CI and a fresh checkout can run it without the virtualenv.
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SCHEMA_VERSION = 39
GRID_WIDTH = 24
TAGS = ["loadlab"]

# Run annotation. Why this query: locust_runner_state{state} is 1 for the master's current state,
# so "spawning or running" is true exactly while a test runs; multiplying by locust_run_info
# (always 1) attaches the run id, scenario and shape. Grafana turns consecutive non-zero points
# into one region, so each run is drawn as a band whose left edge is the start and right edge the
# stop. `changes(locust_run_info[1m])` would not work: the gauge is constant 1, a new run is a new
# series, not a changed value. `== 1` keeps it correct whether or not the exporter also exports
# the non-current states as 0.
RUN_ANNOTATION_EXPR = (
    "max by (run_id, scenario, shape) (locust_run_info) "
    '* on () group_left () (max(locust_runner_state{state=~"spawning|running"}) == 1)'
)
RUN_ANNOTATION_STEP = "15s"

# Grafana's expression for "this window, but never shorter than 4 scrapes"; kept in one place.
RI = "$__rate_interval"

# Panels that read an exporter some machines lack (Debian has no pgbouncer_exporter package).
PGBOUNCER = ("pgbouncer_exporter", "PgBouncer's prometheus-community exporter is not packaged in Debian 12")


@dataclass
class Target:
    expr: str
    legend: str = "__auto"
    instant: bool = False


@dataclass
class Panel:
    title: str
    unit: str
    description: str
    targets: list[Target]
    kind: str = "timeseries"  # or "stat"
    width: int = 8
    height: int = 8
    # Threshold steps [(value, colour), ...]; the first value is None (the base colour).
    thresholds: list[tuple[float | None, str]] | None = None
    min: float | None = 0
    max: float | None = None
    stack: bool = False
    requires: tuple[str, str] | None = None  # (exporter, why it may be missing)
    text_mode: str | None = None  # stat panels: "name" shows the legend (e.g. a run id)


@dataclass
class Row:
    title: str
    panels: list[Panel]
    collapsed: bool = False


@dataclass
class Variable:
    name: str
    label: str
    query: str  # label_values(...) for Prometheus
    multi: bool = True


@dataclass
class Dashboard:
    uid: str
    title: str
    file: str
    description: str
    rows: list[Row]
    variables: list[Variable] = field(default_factory=list)


def t(expr: str, legend: str = "__auto", instant: bool = False) -> Target:
    return Target(expr, legend, instant)


def q(quantile: float, metric: str, by: str = "", selector: str = "") -> str:
    """histogram_quantile over a rate of `metric`_bucket, aggregated by `le` plus `by`."""
    labels = "le" + (f", {by}" if by else "")
    return f"histogram_quantile({quantile}, sum by ({labels}) (rate({metric}_bucket{selector}[{RI}])))"


def wait_percentiles(title: str, metric: str, description: str, width: int = 8) -> Panel:
    """A queue-wait histogram's p50, p95 and p99 over the API's processes: waits should stay in milliseconds."""
    targets = [
        t(q(quantile, metric, "", API), label) for quantile, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))
    ]
    thresholds: list[tuple[float | None, str]] = [(None, "green"), (0.1, "yellow"), (0.5, "red")]
    return Panel(f"{title} p50 / p95 / p99", "s", description, targets, thresholds=thresholds, width=width)


def refusals(title: str, metric: str, legend: str, description: str) -> Panel:
    """A counter of refused work per second over the API's processes: red from the first refusal."""
    target = t(f"sum(rate({metric}{API}[{RI}]))", legend)
    return Panel(title, "ops", description, [target], thresholds=[(None, "green"), (0.01, "red")])


def name_stat(title: str, expr: str, legend: str, description: str) -> Panel:
    """A half-width stat showing the legend of the series (a name, not a number)."""
    target = t(expr, legend, instant=True)
    return Panel(title, "none", description, [target], kind="stat", width=12, height=4, text_mode="name")


def zero_if_absent(expr: str, fallback: str) -> str:
    """`expr or fallback * 0`: series that only exist after the first error (a 5xx status, a
    failure) would leave a healthy run's panel empty; the fallback draws a flat zero instead."""
    return f"({expr}) or ({fallback}) * 0"


LAT_THRESHOLDS = [(None, "green"), (0.5, "yellow"), (1.0, "red")]
RATIO_BAD_THRESHOLDS = [(None, "green"), (0.01, "yellow"), (0.05, "red")]

# --- selectors ------------------------------------------------------------------------------
API = '{job=~"$job", instance=~"$instance"}'
API_ROUTE = '{job=~"$job", instance=~"$instance", route=~"$route"}'
API5XX = '{job=~"$job", instance=~"$instance", route=~"$route", status=~"5.."}'
LOC = '{name=~"$name"}'
LOC_FAIL = LOC

API_VARS = [
    Variable("job", "API job", "label_values(board_http_requests_total, job)"),
    Variable("instance", "API instance", 'label_values(board_http_requests_total{job=~"$job"}, instance)'),
    Variable("route", "Route", 'label_values(board_http_requests_total{job=~"$job"}, route)'),
]
NAME_VAR = Variable("name", "Endpoint", "label_values(locust_requests_total, name)")


# --- shared panels ----------------------------------------------------------------------------
def locust_latency(quantile: float, width: int = 8) -> Panel:
    pct = int(quantile * 100)
    return Panel(
        f"Locust p{pct} by endpoint",
        "s",
        f"What p{pct} latency do the clients see per endpoint (from the master's merged histogram)? "
        "Healthy: flat and under the SLO; a rise here is the symptom the server panels explain.",
        [t(q(quantile, "locust_response_time_seconds", "method, name", LOC), "{{method}} {{name}}")],
        thresholds=LAT_THRESHOLDS,
        width=width,
    )


LOCUST_RPS = Panel(
    "Locust requests per second",
    "reqps",
    "How much load is the generator actually sending, per endpoint? Healthy: it follows the user "
    "count; a plateau while users grow means the API (or the generator) is saturated.",
    [t(f"sum by (method, name) (rate(locust_requests_total{LOC}[{RI}]))", "{{method}} {{name}}")],
    stack=True,
)

LOCUST_FAILURES = Panel(
    "Locust failures per second",
    "reqps",
    "Which endpoints fail on the client side (errors, timeouts, 5xx, 503)? Healthy: zero.",
    [
        t(
            zero_if_absent(
                f"sum by (method, name) (rate(locust_request_failures_total{LOC_FAIL}[{RI}]))",
                f"sum by (method, name) (rate(locust_requests_total{LOC}[{RI}]))",
            ),
            "{{method}} {{name}}",
        )
    ],
    thresholds=[(None, "green"), (0.1, "red")],
)

LOCUST_USERS = Panel(
    "Users (current vs target)",
    "short",
    "How many simulated users run now, and how many the load shape asks for? Healthy: current "
    "reaches target within the spawn time; a gap means workers cannot keep up.",
    [t("sum(locust_users)", "current"), t("sum(locust_target_users)", "target")],
)

API_P95 = Panel(
    "API p95 by route",
    "s",
    "How long does the server take per route (from request start to response, p95)? Healthy: well "
    "under the client's p95; if the client's p95 is much higher, time is lost before the server.",
    [t(q(0.95, "board_http_request_duration_seconds", "method, route", API), "{{method}} {{route}}")],
    thresholds=LAT_THRESHOLDS,
)

POOL_WAIT_P95 = Panel(
    "DB pool checkout wait p95",
    "s",
    "How long do requests wait for a database connection from the SQLAlchemy pool? Healthy: "
    "milliseconds; seconds mean the pool (or PgBouncer behind it) is the bottleneck.",
    [t(q(0.95, "board_db_pool_checkout_wait_seconds", "", API), "p95")],
    thresholds=[(None, "green"), (0.1, "yellow"), (0.5, "red")],
)

EXECUTOR_QUEUE = Panel(
    "Executor queue depth",
    "short",
    "How many bcrypt hash/verify tasks wait for a thread? Healthy: near zero; at the limit, new logins get a fast 503.",
    [
        t(f"sum(board_executor_queue_depth{API})", "queued"),
        t(f"sum(board_executor_queue_limit{API})", "limit"),
    ],
)

CACHE_HIT_RATIO = Panel(
    "Cache hit ratio",
    "percentunit",
    "What share of post-list cache lookups are hits? Healthy: high (most reads served from Redis); "
    "low means short TTL or frequent writes invalidating it; no line means the cache is off.",
    [
        t(
            f'sum(rate(board_cache_lookups_total{{job=~"$job", instance=~"$instance", result="hit"}}[{RI}])) '
            f'/ sum(rate(board_cache_lookups_total{{job=~"$job", instance=~"$instance", result=~"hit|miss"}}[{RI}]))',
            "hit ratio",
        )
    ],
    min=0,
    max=1,
    thresholds=[(None, "red"), (0.5, "yellow"), (0.8, "green")],
)

PGB_WAITING = Panel(
    "PgBouncer waiting clients",
    "short",
    "How many client connections wait for a Postgres server connection in PgBouncer? Healthy: "
    "zero; sustained waiting means default_pool_size is too small for the load.",
    [t("sum by (database) (pgbouncer_pools_client_waiting_connections)", "{{database}}")],
    thresholds=[(None, "green"), (1, "red")],
    requires=PGBOUNCER,
)


# The bottleneck diagnosis' signals, recorded by grafana/rules/saturation.rules.yaml (generated from
# lab/loadlab/diagnosis.py): each is its figure divided by its threshold, so 1 = saturated on every one.
SATURATION = 'max by (resource) ({__name__=~"loadlab:saturation:.+"})'
SATURATION_THRESHOLDS = [(None, "green"), (0.8, "yellow"), (1.0, "red")]

SATURATION_NOW = Panel(
    "Saturation now",
    "none",
    "Which resource is at its limit right now? Each tile is a saturation signal of the bottleneck diagnosis "
    "(API CPU, event loop, DB pool, PgBouncer, Postgres locks and commits, bcrypt executor, Redis, load generator) "
    "as a share of its "
    "threshold: 1 (red) = saturated. Healthy: all green; the first to turn red is the bottleneck, and "
    "the load generator in red means the run measures the generator, not the system.",
    [t(SATURATION, "{{resource}}", instant=True)],
    kind="stat",
    width=10,
    height=6,
    thresholds=SATURATION_THRESHOLDS,
    text_mode="value_and_name",
)

SATURATION_OVER_TIME = Panel(
    "Saturation over time",
    "none",
    "When did each resource reach its limit (1 = its threshold)? The first line to cross 1 saturated first; "
    "the lab's report names it with its figures (loadlab run, Diagnosis). Healthy: every line under 1.",
    [t(SATURATION, "{{resource}}")],
    width=14,
    height=6,
    thresholds=SATURATION_THRESHOLDS,
)


# --- dashboards -----------------------------------------------------------------------------
OVERVIEW = Dashboard(
    uid="loadlab-overview",
    title="Board Loadlab / Overview",
    file="overview.json",
    description="Why did p95 rise? The client's view (left/top) next to the server's causes on one time axis.",
    variables=[*API_VARS[:2], NAME_VAR],
    rows=[
        # Four client panels a quarter wide each, so the whole client view is one line.
        Row(
            "Client (Locust)",
            [locust_latency(0.95, width=6), *(replace(p, width=6) for p in (LOCUST_RPS, LOCUST_FAILURES))]
            + [replace(LOCUST_USERS, width=6)],
        ),
        Row("Server (causes)", [API_P95, POOL_WAIT_P95, EXECUTOR_QUEUE, CACHE_HIT_RATIO, PGB_WAITING]),
        Row("Saturation (which resource is the bottleneck?)", [SATURATION_NOW, SATURATION_OVER_TIME]),
    ],
)

API_DASH = Dashboard(
    uid="loadlab-api",
    title="Board Loadlab / API",
    file="api.json",
    description="The board API from the inside: HTTP, DB pool, bcrypt executor, cache, overload 503s.",
    variables=API_VARS,
    rows=[
        Row(
            "HTTP",
            [
                Panel(
                    "Requests per second by route",
                    "reqps",
                    "How much traffic does each route serve? Healthy: matches the Locust rate per endpoint.",
                    [
                        t(
                            f"sum by (method, route) (rate(board_http_requests_total{API_ROUTE}[{RI}]))",
                            "{{method}} {{route}}",
                        )
                    ],
                    stack=True,
                ),
                Panel(
                    "5xx per second by route and status",
                    "reqps",
                    "Which routes return server errors, and which status (503 = shed load)? Healthy: zero.",
                    [
                        t(
                            zero_if_absent(
                                f"sum by (method, route, status) (rate(board_http_requests_total{API5XX}[{RI}]))",
                                f"sum by (method, route) (rate(board_http_requests_total{API_ROUTE}[{RI}]))",
                            ),
                            "{{method}} {{route}} {{status}}",
                        )
                    ],
                    thresholds=[(None, "green"), (0.1, "red")],
                ),
                Panel(
                    "5xx error ratio",
                    "percentunit",
                    "What share of all responses are 5xx? Healthy: 0 %; over 1 % the run is failing.",
                    [
                        t(
                            zero_if_absent(
                                f"sum(rate(board_http_requests_total{API5XX}[{RI}]))",
                                f"sum(rate(board_http_requests_total{API_ROUTE}[{RI}]))",
                            )
                            + f" / sum(rate(board_http_requests_total{API_ROUTE}[{RI}]))",
                            "5xx ratio",
                        )
                    ],
                    thresholds=RATIO_BAD_THRESHOLDS,
                    max=1,
                ),
                Panel(
                    "Latency p95 by route",
                    "s",
                    "How long does each route take at p95? Healthy: flat as load grows; a knee shows saturation.",
                    [
                        t(
                            q(0.95, "board_http_request_duration_seconds", "method, route", API_ROUTE),
                            "{{method}} {{route}}",
                        )
                    ],
                    thresholds=LAT_THRESHOLDS,
                ),
                Panel(
                    "Latency p50 / p99 (all routes)",
                    "s",
                    "How wide is the latency spread? Healthy: p99 within a few times p50; a wide gap means queueing.",
                    [
                        t(q(0.5, "board_http_request_duration_seconds", "", API_ROUTE), "p50"),
                        t(q(0.99, "board_http_request_duration_seconds", "", API_ROUTE), "p99"),
                    ],
                    thresholds=LAT_THRESHOLDS,
                ),
                Panel(
                    "Requests in flight",
                    "short",
                    "How many requests is the API working on right now? Healthy: small and stable; "
                    "growth means requests arrive faster than they finish.",
                    [t(f"sum(board_http_requests_in_flight{API})", "in flight")],
                ),
                Panel(
                    "Event loop stopped by garbage collection",
                    "percentunit",
                    "What share of the time is the event loop frozen by CPython's garbage collector, by generation? "
                    "Every request in flight waits for a collection. Healthy: well under 1 %; full (generation 2) "
                    "collections of a big heap show up as latency p99 spikes at the same moments.",
                    [t(f"sum by (generation) (rate(board_gc_pause_seconds_sum{API}[{RI}]))", "gen {{generation}}")],
                    thresholds=[(None, "green"), (0.01, "yellow"), (0.05, "red")],
                ),
            ],
        ),
        Row(
            "DB pool",
            [
                Panel(
                    "Pool connections",
                    "short",
                    "How full is the SQLAlchemy pool (in use and idle vs size and size + overflow)? "
                    "Healthy: in use below size; at size + overflow, requests queue for a connection.",
                    [
                        t(f"sum(board_db_pool_connections_in_use{API})", "in use"),
                        t(f"sum(board_db_pool_connections_idle{API})", "idle"),
                        t(f"sum(board_db_pool_size{API})", "size"),
                        t(
                            f"sum(board_db_pool_size{API}) + sum(board_db_pool_max_overflow{API})",
                            "size + max overflow",
                        ),
                    ],
                ),
                Panel(
                    "Pool overflow connections",
                    "short",
                    "How many connections beyond pool_size are open? Healthy: zero most of the time.",
                    [
                        t(f"sum(board_db_pool_overflow{API})", "overflow"),
                        t(f"sum(board_db_pool_max_overflow{API})", "max overflow"),
                    ],
                ),
                refusals(
                    "Pool checkout timeouts per second",
                    "board_db_pool_checkout_timeouts_total",
                    "timeouts",
                    "How often does a request give up waiting for a connection (and get a 503)? Healthy: zero.",
                ),
                wait_percentiles(
                    "Pool checkout wait",
                    "board_db_pool_checkout_wait_seconds",
                    "How long do requests wait for a connection? Healthy: milliseconds at every percentile.",
                    width=16,
                ),
            ],
        ),
        Row(
            "Executor",
            [
                Panel(
                    "Executor threads (capacity vs busy)",
                    "short",
                    "How many bcrypt threads exist and how many are busy? Healthy: busy below capacity; "
                    "busy = capacity for long means hashing is the bottleneck.",
                    [
                        t(f"sum(board_executor_workers{API})", "capacity"),
                        t(f"sum(board_executor_busy_workers{API})", "busy"),
                    ],
                ),
                EXECUTOR_QUEUE,
                refusals(
                    "Executor rejections per second",
                    "board_executor_rejections_total",
                    "rejections",
                    "How often is a hash/verify refused because the queue is full (a fast 503)? Healthy: zero.",
                ),
                wait_percentiles(
                    "Executor wait",
                    "board_executor_wait_seconds",
                    "How long does a task wait in the queue before a thread starts it? Healthy: near zero.",
                ),
                Panel(
                    "Task duration p95 by task",
                    "s",
                    "How long does one bcrypt hash / verify take? Healthy: stable (set by the cost factor); "
                    "growth under load means the CPU is oversubscribed.",
                    [t(q(0.95, "board_executor_task_duration_seconds", "task", API), "{{task}}")],
                ),
            ],
        ),
        Row(
            "Cache",
            [
                Panel(
                    "Cache lookups per second by result",
                    "ops",
                    "How are post-list lookups answered (hit, miss, error, bypass)? Healthy: mostly hits, "
                    "no errors (errors mean Redis is down and the API fails open to the database).",
                    [t(f"sum by (result) (rate(board_cache_lookups_total{API}[{RI}]))", "{{result}}")],
                    stack=True,
                ),
                CACHE_HIT_RATIO,
            ],
        ),
        Row(
            "Overload",
            [
                Panel(
                    "503s sent per second by reason",
                    "reqps",
                    "Why is the API shedding load: pool checkout timeout or executor queue full? Healthy: zero; "
                    "the reason names the resource to grow.",
                    [t(f"sum by (reason) (rate(board_overload_rejections_total{API}[{RI}]))", "{{reason}}")],
                    thresholds=[(None, "green"), (0.1, "red")],
                    width=24,
                ),
            ],
        ),
    ],
)

LOADTEST = Dashboard(
    uid="loadlab-loadtest",
    title="Board Loadlab / Load test",
    file="loadtest.json",
    description="The load generator: users, rate, failures, percentiles per endpoint, and its own health.",
    variables=[NAME_VAR],
    rows=[
        Row(
            "Run",
            [
                name_stat(
                    "Run id",
                    "locust_run_info",
                    "{{run_id}} ({{scenario}}, {{shape}})",
                    "Which run is this (id, scenario, load shape)? Healthy: one value while a test runs.",
                ),
                name_stat(
                    "Runner state",
                    "locust_runner_state == 1",
                    "{{state}}",
                    "What is the master doing (spawning, running, stopped...)? Healthy: running during a test.",
                ),
            ],
        ),
        Row(
            "Load",
            [
                LOCUST_USERS,
                LOCUST_RPS,
                Panel(
                    "Failure ratio",
                    "percentunit",
                    "What share of requests fail, overall? Healthy: 0 %; above the SLO's ratio the verdict fails.",
                    [
                        t(
                            zero_if_absent(
                                f"sum(rate(locust_request_failures_total{LOC}[{RI}]))",
                                f"sum(rate(locust_requests_total{LOC}[{RI}]))",
                            )
                            + f" / sum(rate(locust_requests_total{LOC}[{RI}]))",
                            "failure ratio",
                        )
                    ],
                    thresholds=RATIO_BAD_THRESHOLDS,
                    max=1,
                ),
            ],
        ),
        Row("Latency per endpoint", [locust_latency(0.5), locust_latency(0.95), locust_latency(0.99)]),
        Row(
            "Generator health",
            [
                Panel(
                    "Workers by state",
                    "short",
                    "How many Locust workers are connected, per state? Healthy: all expected workers "
                    "running; any 'missing' means a worker stopped reporting and load is lower than asked.",
                    [t("sum by (state) (locust_workers)", "{{state}}")],
                    stack=True,
                ),
                Panel(
                    "Worker CPU",
                    "percentunit",
                    "Is the load generator itself the bottleneck? Healthy: every worker under 90 % CPU; "
                    "above it, Locust's own latency inflates the numbers: add workers before trusting them.",
                    [t("max by (worker) (locust_worker_cpu_usage_ratio)", "{{worker}}")],
                    thresholds=[(None, "green"), (0.75, "yellow"), (0.9, "red")],
                    max=1,
                    width=16,
                ),
            ],
        ),
    ],
)

DATATIER = Dashboard(
    uid="loadlab-datatier",
    title="Board Loadlab / Data tier",
    file="datatier.json",
    description="PgBouncer pools, Postgres and Redis, from their exporters.",
    rows=[
        Row(
            "PgBouncer",
            [
                Panel(
                    "Client connections (active / waiting)",
                    "short",
                    "How many API connections are served vs waiting in PgBouncer? Healthy: waiting at zero.",
                    [
                        t("sum by (database) (pgbouncer_pools_client_active_connections)", "active {{database}}"),
                        t("sum by (database) (pgbouncer_pools_client_waiting_connections)", "waiting {{database}}"),
                    ],
                    requires=PGBOUNCER,
                ),
                Panel(
                    "Server connections (active / idle)",
                    "short",
                    "How many Postgres connections does PgBouncer hold, busy vs idle? Healthy: some idle; "
                    "all active with clients waiting means default_pool_size is the limit.",
                    [
                        t("sum by (database) (pgbouncer_pools_server_active_connections)", "active {{database}}"),
                        t("sum by (database) (pgbouncer_pools_server_idle_connections)", "idle {{database}}"),
                    ],
                    requires=PGBOUNCER,
                ),
                Panel(
                    "Longest client wait",
                    "s",
                    "How long has the oldest waiting client waited for a server connection? Healthy: 0 s.",
                    [t("max by (database) (pgbouncer_pools_client_maxwait_seconds)", "{{database}}")],
                    thresholds=[(None, "green"), (0.1, "yellow"), (1, "red")],
                    requires=PGBOUNCER,
                ),
            ],
        ),
        Row(
            "Postgres",
            [
                Panel(
                    "Connections by database",
                    "short",
                    "How many backends are connected per database? Healthy: below max_connections; "
                    "behind PgBouncer, close to its pool size.",
                    [t('sum by (datname) (pg_stat_database_numbackends{datname!=""})', "{{datname}}")],
                ),
                Panel(
                    "Commits and rollbacks per second",
                    "ops",
                    "How many transactions commit vs roll back? Healthy: commits follow the write load, "
                    "rollbacks near zero.",
                    [
                        t(f'sum(rate(pg_stat_database_xact_commit{{datname!=""}}[{RI}]))', "commits"),
                        t(f'sum(rate(pg_stat_database_xact_rollback{{datname!=""}}[{RI}]))', "rollbacks"),
                    ],
                ),
                Panel(
                    "Locks by mode",
                    "short",
                    "Which locks are held? Healthy: mostly AccessShare/RowExclusive; growing exclusive "
                    "locks point at contention.",
                    [t("sum by (mode) (pg_locks_count)", "{{mode}}")],
                ),
            ],
        ),
        Row(
            "Redis",
            [
                Panel(
                    "Commands per second",
                    "ops",
                    "How busy is Redis? Healthy: follows the post-list read rate.",
                    [t(f"sum(rate(redis_commands_processed_total[{RI}]))", "commands")],
                    width=6,
                ),
                Panel(
                    "Keyspace hits / misses per second",
                    "ops",
                    "How often does a GET find its key? Healthy: hits well above misses.",
                    [
                        t(f"sum(rate(redis_keyspace_hits_total[{RI}]))", "hits"),
                        t(f"sum(rate(redis_keyspace_misses_total[{RI}]))", "misses"),
                    ],
                    width=6,
                ),
                Panel(
                    "Memory used",
                    "bytes",
                    "How much memory does Redis use? Healthy: small and flat (one cached page per key).",
                    [t("sum(redis_memory_used_bytes)", "used")],
                    width=6,
                ),
                Panel(
                    "Connected clients",
                    "short",
                    "How many clients hold a Redis connection? Healthy: stable (the API's pool), not growing.",
                    [t("sum(redis_connected_clients)", "clients")],
                    width=6,
                ),
            ],
        ),
        Row(
            "Targets",
            [
                Panel(
                    "Scrape targets up",
                    "none",
                    "Is Prometheus reaching every part of the lab? Healthy: every job shows 1.",
                    [t("up", "{{job}} {{instance}}", instant=True)],
                    kind="stat",
                    width=24,
                    height=4,
                    thresholds=[(None, "red"), (1, "green")],
                ),
            ],
        ),
    ],
)

DASHBOARDS = [OVERVIEW, API_DASH, LOADTEST, DATATIER]


# --- rendering ------------------------------------------------------------------------------
def panel_id(dash: Dashboard, key: str) -> int:
    """Ids derived from the title, not the position: inserting a panel does not renumber the
    others, so links and the lab's report keep pointing at the same panel."""
    return zlib.crc32(f"{dash.uid}/{key}".encode()) % 90000 + 10000


def render_thresholds(steps: list[tuple[float | None, str]] | None) -> dict[str, Any]:
    steps = steps or [(None, "green")]
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def render_target(tg: Target, ref: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": tg.expr,
        "legendFormat": tg.legend,
        "range": not tg.instant,
        "instant": tg.instant,
        "refId": ref,
    }
    return out


def render_panel(dash: Dashboard, p: Panel, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "unit": p.unit,
        "color": {"mode": "thresholds" if p.kind == "stat" else "palette-classic"},
        "thresholds": render_thresholds(p.thresholds),
    }
    if p.min is not None:
        defaults["min"] = p.min
    if p.max is not None:
        defaults["max"] = p.max
    if p.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 20 if p.stack else 0,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if p.stack else "none"},
            # A dashed line at each threshold: the healthy limit is visible on the graph.
            "thresholdsStyle": {"mode": "dashed" if p.thresholds else "off"},
        }
        options: dict[str, Any] = {
            "legend": {"calcs": ["mean", "max"], "displayMode": "table", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    else:
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value" if p.thresholds else "none",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": p.text_mode or "auto",
        }
    panel: dict[str, Any] = {
        "id": panel_id(dash, p.title),
        "type": p.kind,
        "title": p.title,
        "description": p.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": p.height, "w": p.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": [render_target(tg, chr(ord("A") + i)) for i, tg in enumerate(p.targets)],
    }
    if p.requires:
        # Read by lab/loadlab/dashboards.py: the live test skips these panels, with the reason,
        # on machines without the exporter. Grafana ignores unknown panel keys.
        panel["loadlab_requires"] = p.requires[0]
        panel["loadlab_requires_reason"] = p.requires[1]
    return panel


def render_variable(v: Variable) -> dict[str, Any]:
    # includeAll with allValue ".+": "All" is the default, and the query works unmodified even
    # before any series exist (Grafana's default All would expand to an empty alternation).
    return {
        "name": v.name,
        "label": v.label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": v.query,
        "query": {"query": v.query, "refId": f"{v.name}-variable"},
        "refresh": 2,  # on time range change: new runs bring new endpoints / instances
        "includeAll": True,
        "allValue": ".+",
        "multi": v.multi,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "sort": 1,
        "hide": 0,
        "regex": "",
        "skipUrlSync": False,
    }


def render_annotations() -> dict[str, Any]:
    return {
        "list": [
            {
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True,
                "hide": True,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            },
            {
                "datasource": DATASOURCE,
                "enable": True,
                "hide": False,
                "iconColor": "rgba(255, 152, 48, 0.6)",
                "name": "Locust runs",
                "expr": RUN_ANNOTATION_EXPR,
                "step": RUN_ANNOTATION_STEP,
                "titleFormat": "Locust run {{run_id}}",
                "textFormat": "scenario {{scenario}}, shape {{shape}}",
                "tagKeys": "scenario,shape",
                "useValueForTime": False,
            },
        ]
    }


def render(dash: Dashboard) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for row in dash.rows:
        row_panel: dict[str, Any] = {
            "id": panel_id(dash, f"row:{row.title}"),
            "type": "row",
            "title": row.title,
            "collapsed": row.collapsed,
            "datasource": DATASOURCE,
            "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
            "panels": [],
        }
        panels.append(row_panel)
        y += 1
        # Left to right, wrapping at 24 columns; a line is as tall as its tallest panel.
        x, line_h = 0, 0
        children: list[dict[str, Any]] = []
        for p in row.panels:
            if x + p.width > GRID_WIDTH:
                x, y, line_h = 0, y + line_h, 0
            children.append(render_panel(dash, p, x, y))
            x += p.width
            line_h = max(line_h, p.height)
        y += line_h
        # A collapsed row keeps its panels inside it; an open row is followed by them.
        if row.collapsed:
            row_panel["panels"] = children
        else:
            panels.extend(children)
    ids = [p["id"] for p in panels] + [c["id"] for p in panels for c in p.get("panels", [])]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"{dash.uid}: panel id collision; rename a panel")
    return {
        "annotations": render_annotations(),
        "description": dash.description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,  # shared crosshair: cause and effect line up on one time axis
        "id": None,
        "links": [
            {
                "asDropdown": True,
                "icon": "external link",
                "includeVars": False,
                "keepTime": True,
                "tags": TAGS,
                "targetBlank": False,
                "title": "Loadlab dashboards",
                "type": "dashboards",
            }
        ],
        "panels": panels,
        "refresh": "10s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": TAGS,
        "templating": {"list": [render_variable(v) for v in dash.variables]},
        "time": {"from": "now-30m", "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": dash.title,
        "uid": dash.uid,
        "version": 1,
    }


def dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON differs from the spec")
    parser.add_argument("--out", type=Path, default=OUT_DIR, metavar="DIR", help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    stale: list[str] = []
    wanted = {d.file for d in DASHBOARDS}
    for dash in DASHBOARDS:
        path = args.out / dash.file
        text = dump(render(dash))
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    extra = sorted(p.name for p in args.out.glob("*.json") if p.name not in wanted) if args.out.exists() else []
    if args.check:
        stale += [str(args.out / name) + " (not generated by build.py)" for name in extra]
        if stale:
            print("out of date, run `python grafana/build.py`:\n  " + "\n  ".join(stale), file=sys.stderr)
            return 1
        print(f"{len(DASHBOARDS)} dashboards up to date")
    else:
        print(f"wrote {len(DASHBOARDS)} dashboards to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
