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
from tests.chart.conftest import (
    DB_OWNER_PASSWORD,
    REDIS_PASSWORD,
    container,
    env_map,
    get,
    require_tool,
    scenario,
)

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
    assert c["command"][:2] == ["sh", "-c"] and c["command"][3] == "redis-server"
    assert env_map(c)["REDISCLI_AUTH"] == {"secretKeyRef": {"name": "loadlab-auth", "key": "redis-password"}}
    auth = tmp_workdir / "chart-redis-auth"
    auth.mkdir()
    script = _swap([c["command"][2]], "/run/redis-auth", str(auth))[0].replace(
        "exec redis-server", f"exec {REDIS_SERVER}"
    )
    port = free_port()
    flags = _swap(c["command"][4:], "6379", str(port))
    data = tmp_workdir / "chart-redis-rendered"
    data.mkdir()
    flags = _swap(flags, "/data", str(data))
    flags += ["--bind", "127.0.0.1"]  # loopback only here; in the pod the NetworkPolicy guards it
    env = {**os.environ, "REDISCLI_AUTH": REDIS_PASSWORD}
    process = _start("chart-redis-rendered", ["sh", "-c", script, "redis-server", *flags], tmp_workdir, port, env=env)
    try:

        def cli(*args: str, password: bool = True) -> str:
            cli_env = env if password else {k: v for k, v in env.items() if k != "REDISCLI_AUTH"}
            return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, check=True,
                                  timeout=10, env=cli_env).stdout  # fmt: skip

        def config(key: str) -> str:
            out = cli("config", "get", key).split()
            return out[1] if len(out) > 1 else ""

        assert config("save") == "" and config("appendonly") == "no"
        assert config("maxmemory-policy") == "allkeys-lru" and config("maxmemory") == str(256 * 1024 * 1024)
        assert config("protected-mode") == "yes" and config("requirepass") == REDIS_PASSWORD
        assert "NOAUTH" in cli("ping", password=False)  # no password, no service
        assert (auth / "auth.conf").stat().st_mode & 0o777 == 0o600  # the password's file, its owner's alone
        assert REDIS_PASSWORD not in " ".join(c["command"])  # never on the command line
    finally:
        process.stop()


def test_rendered_redis_exporter_scrapes_redis(objs, tmp_workdir, chart_redis):
    require_tool(Path(REDIS_EXPORTER).name, "apt-get install prometheus-redis-exporter (scripts/bootstrap.sh does)")
    c = container(get(objs, "Deployment", "loadlab-redis"), "exporter")
    assert env_map(c)["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "loadlab-auth", "key": "redis-password"}}
    port = free_port()
    argv = _swap(list(c["args"]), "redis://127.0.0.1:6379", chart_redis.address)
    argv = _swap(argv, "-web.listen-address=:9121", f"-web.listen-address=127.0.0.1:{port}")
    env = {**os.environ, "REDIS_PASSWORD": REDIS_PASSWORD}
    process = _start("chart-redis-exporter", [REDIS_EXPORTER, *argv], tmp_workdir, port, env=env)
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
