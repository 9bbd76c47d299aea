"""Rendered container command lines run for real, with Debian's builds of the same programs.

Redis (cache-only flags), redis_exporter and postgres-exporter (flags and environment as rendered, the Secret's
value filled in) run on loopback: only ports, hosts and folders are rewritten, each rewrite asserted to hit.
The images pin newer exporter releases than Debian ships; the flags and variables used here exist in both.
pgbouncer-exporter has no Debian package: its flags are checked statically only (test_chart_wiring).
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from loadlab.process import Process, free_port, port_is_open
from loadlab.services import POSTGRES_EXPORTER, REDIS_EXPORTER, REDIS_SERVER
from tests.chart.conftest import DB_OWNER_PASSWORD, container, env_map, get, require_tool, scenario

pytestmark = [pytest.mark.chart, pytest.mark.integration]


def _swap(args: list[str], old: str, new: str) -> list[str]:
    hits = [a for a in args if old in a]
    assert len(hits) == 1, f"expected one {old!r} in {args}"
    return [a.replace(old, new) for a in args]


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:  # noqa: S310 - loopback
        return response.read().decode()


def _start(name: str, argv: list[str], workdir: Path, port: int, env: dict[str, str] | None = None) -> Process:
    process = Process(name, argv, workdir / "logs" / f"{name}.log", env=env).start()
    process.wait_ready(lambda: port_is_open(port), 30)
    return process


@pytest.fixture(scope="module")
def objs() -> list[dict[str, Any]]:
    return scenario("default")


def test_rendered_redis_runs_as_a_cache_only_server(objs, tmp_workdir):
    require_tool(Path(REDIS_SERVER).name, "apt-get install redis-server (scripts/bootstrap.sh does)")
    c = container(get(objs, "Deployment", "loadlab-redis"), "redis")
    argv = [REDIS_SERVER, *c["command"][1:]]
    port = free_port()
    argv = _swap(argv, "6379", str(port))
    data = tmp_workdir / "chart-redis-rendered"
    data.mkdir()
    argv = _swap(argv, "/data", str(data))
    argv += ["--bind", "127.0.0.1"]  # loopback only here; in the pod the NetworkPolicy guards it
    process = _start("chart-redis-rendered", argv, tmp_workdir, port)
    try:

        def config(key: str) -> str:
            out = subprocess.run(["redis-cli", "-p", str(port), "config", "get", key], capture_output=True, text=True,
                                 check=True, timeout=10).stdout.split()  # fmt: skip
            return out[1] if len(out) > 1 else ""

        assert config("save") == "" and config("appendonly") == "no"
        assert config("maxmemory-policy") == "allkeys-lru" and config("maxmemory") == str(256 * 1024 * 1024)
        assert config("protected-mode") == "no"
    finally:
        process.stop()


def test_rendered_redis_exporter_scrapes_redis(objs, tmp_workdir, chart_redis):
    require_tool(Path(REDIS_EXPORTER).name, "apt-get install prometheus-redis-exporter (scripts/bootstrap.sh does)")
    c = container(get(objs, "Deployment", "loadlab-redis"), "exporter")
    port = free_port()
    argv = _swap(list(c["args"]), "redis://127.0.0.1:6379", chart_redis.url.removesuffix("/0"))
    argv = _swap(argv, "-web.listen-address=:9121", f"-web.listen-address=127.0.0.1:{port}")
    process = _start("chart-redis-exporter", [REDIS_EXPORTER, *argv], tmp_workdir, port)
    try:
        assert "\nredis_up 1" in _metrics(port)
    finally:
        process.stop()


def test_rendered_postgres_exporter_scrapes_postgres(objs, tmp_workdir, chart_postgres):
    require_tool(Path(POSTGRES_EXPORTER).name, "apt-get install prometheus-postgres-exporter (bootstrap does)")
    c = container(get(objs, "StatefulSet", "loadlab-postgresql"), "exporter")
    env = {}
    for name, value in env_map(c).items():
        if isinstance(value, dict):
            assert value["secretKeyRef"]["key"] == "database-owner-password"  # the owner, granted pg_monitor
            value = DB_OWNER_PASSWORD
        env[name] = value
    assert env["DATA_SOURCE_URI"] == "127.0.0.1:5432/board?sslmode=disable"  # the sidecar talks to its pod's Postgres
    env["DATA_SOURCE_URI"] = env["DATA_SOURCE_URI"].replace(":5432/", f":{chart_postgres.port}/")
    port = free_port()
    argv = _swap(list(c["args"]), "--web.listen-address=:9187", f"--web.listen-address=127.0.0.1:{port}")
    process = _start("chart-postgres-exporter", [POSTGRES_EXPORTER, *argv], tmp_workdir, port,
                     env={**os.environ, **env})  # fmt: skip
    try:
        text = _metrics(port)
        assert "\npg_up 1" in text
        assert 'pg_stat_database_numbackends{datid="' in text  # a dashboard's metric, read as the owner
    finally:
        process.stop()
