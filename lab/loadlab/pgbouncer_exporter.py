"""A small PgBouncer exporter for the lab, with the metric names of prometheus-community's pgbouncer_exporter.

Debian ships no PgBouncer exporter, and the chart runs the real one (`prometheuscommunity/pgbouncer-exporter`).
So that the same dashboards work in both places, this one exports the same names and labels for the pool
and stats series they use. PgBouncer's admin console speaks only the simple query protocol (asyncpg's
extended protocol is refused), so each scrape asks `psql`, which is installed with Postgres anyway.

Run: ``python -m loadlab.pgbouncer_exporter --port 9127`` with PGHOST/PGPORT/PGUSER/PGPASSWORD set.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import start_http_server
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from loadlab.services import Exporter, PgBouncer

PSQL_TIMEOUT = 5.0
#: SHOW POOLS column -> (metric suffix, help), as pgbouncer_exporter's `pools` collector names them.
POOL_GAUGES = {
    "cl_active": ("client_active_connections", "Client connections linked to a server connection"),
    "cl_waiting": ("client_waiting_connections", "Client connections waiting for a server connection"),
    "sv_active": ("server_active_connections", "Server connections linked to a client"),
    "sv_idle": ("server_idle_connections", "Server connections idle and ready for a client query"),
    "sv_used": ("server_used_connections", "Server connections idle more than server_check_delay"),
    "sv_login": ("server_login_connections", "Server connections currently in the process of logging in"),
}
#: SHOW STATS column -> (metric name, help, scale to base units).
STATS_COUNTERS = {
    "total_xact_count": ("pgbouncer_stats_sql_transactions_pooled_total", "Total SQL transactions pooled", 1.0),
    "total_query_count": ("pgbouncer_stats_queries_pooled_total", "Total SQL queries pooled", 1.0),
    "total_wait_time": ("pgbouncer_stats_client_wait_seconds_total", "Time clients waited for a server", 1e-6),
    "total_query_time": ("pgbouncer_stats_queries_duration_seconds_total", "Time spent on pooled queries", 1e-6),
}


def show(command: str) -> list[dict[str, str]]:
    """Run an admin-console SHOW command through psql and return its rows as dicts."""
    argv = ["psql", "-d", "pgbouncer", "-X", "-A", "-F", "\t", "-P", "footer=off", "-c", command]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=PSQL_TIMEOUT, check=True)
    lines = result.stdout.splitlines()
    if not lines:
        return []
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:]]


class PgBouncerCollector(Collector):
    """Builds fresh families on every scrape from `SHOW POOLS` and `SHOW STATS`."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        up = GaugeMetricFamily("pgbouncer_up", "Whether the last scrape of PgBouncer succeeded")
        try:
            pools, stats = show("SHOW POOLS"), show("SHOW STATS")
        except (subprocess.SubprocessError, OSError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        labels = ["database", "user"]
        for column, (suffix, help_text) in POOL_GAUGES.items():
            family = GaugeMetricFamily(f"pgbouncer_pools_{suffix}", help_text, labels=labels)
            for row in pools:
                family.add_metric([row["database"], row["user"]], float(row.get(column) or 0))
            yield family
        maxwait = GaugeMetricFamily(
            "pgbouncer_pools_client_maxwait_seconds", "Age of the oldest unserved client connection", labels=labels
        )
        for row in pools:
            seconds = float(row.get("maxwait") or 0) + float(row.get("maxwait_us") or 0) / 1e6
            maxwait.add_metric([row["database"], row["user"]], seconds)
        yield maxwait
        for column, (name, help_text, scale) in STATS_COUNTERS.items():
            counter = CounterMetricFamily(name.removesuffix("_total"), help_text, labels=["database"])
            for row in stats:
                counter.add_metric([row["database"]], float(row.get(column) or 0) * scale)
            yield counter


def pgbouncer_exporter(workdir: Path, pgbouncer: PgBouncer) -> Exporter:
    """This exporter as a lab service, pointed at `pgbouncer`'s admin console."""
    from loadlab.services import DB_USER, Exporter

    env = {
        "PGHOST": "127.0.0.1",
        "PGPORT": str(pgbouncer.port),
        "PGUSER": DB_USER,
        "PGPASSWORD": pgbouncer.postgres.password,
    }
    return Exporter(
        workdir, "pgbouncer-exporter", [sys.executable, "-m", "loadlab.pgbouncer_exporter", "--port", "{port}"], env
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9127, metavar="PORT", help="port to serve /metrics on")
    parser.add_argument("--host", default="127.0.0.1", metavar="HOST", help="address to listen on")
    args = parser.parse_args(argv)
    os.environ.setdefault("PGCONNECT_TIMEOUT", "3")
    REGISTRY.register(PgBouncerCollector())
    start_http_server(args.port, addr=args.host)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
