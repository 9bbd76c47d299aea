"""Rendered container command lines run for real, with Debian's builds of the same programs.

Redis (cache-only flags), redis_exporter and postgres-exporter (flags and environment as rendered, the Secret's
value filled in) run on loopback: only ports, hosts and folders are rewritten, each rewrite asserted to hit.
The images pin newer exporter releases than Debian ships; the flags and variables used here exist in both.
pgbouncer-exporter has no Debian package: its flags are checked statically only (test_chart_wiring).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync

from loadlab.process import Process, free_port, port_is_open
from loadlab.services import POSTGRES_EXPORTER, REDIS_EXPORTER, REDIS_SERVER
from tests.chart.conftest import (
    CHART,
    DB_OWNER_PASSWORD,
    REDIS_EXPORTER_PASSWORD,
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
    assert env_map(c)["LOADLAB_REDIS_PASSWORD"] == {"secretKeyRef": {"name": "loadlab-auth", "key": "redis-password"}}
    assert env_map(c)["REDISCLI_AUTH"] == {"secretKeyRef": {"name": "loadlab-auth", "key": "redis-exporter-password"}}
    users = get(objs, "ConfigMap", "loadlab-redis-users")["data"]["users.conf"]
    assert users == (CHART / "files" / "redis-users.conf").read_text()  # the lab's users too
    auth, users_dir = tmp_workdir / "chart-redis-auth", tmp_workdir / "chart-redis-users"
    auth.mkdir()
    users_dir.mkdir()
    (users_dir / "users.conf").write_text(users)
    script = _swap([c["command"][2]], "/run/redis-auth", str(auth))[0]
    script = _swap([script], "/etc/redis-users", str(users_dir))[0].replace("exec redis-server", f"exec {REDIS_SERVER}")
    port = free_port()
    flags = _swap(c["command"][4:], "6379", str(port))
    data = tmp_workdir / "chart-redis-rendered"
    data.mkdir()
    flags = _swap(flags, "/data", str(data))
    flags += ["--bind", "127.0.0.1"]  # loopback only here; in the pod the NetworkPolicy guards it
    env = {**os.environ, "LOADLAB_REDIS_PASSWORD": REDIS_PASSWORD, "REDISCLI_AUTH": REDIS_EXPORTER_PASSWORD}
    process = _start("chart-redis-rendered", ["sh", "-c", script, "redis-server", *flags], tmp_workdir, port, env=env)
    try:
        probe = _swap(list(c["readinessProbe"]["exec"]["command"]), "6379", str(port))
        assert subprocess.run(probe, capture_output=True, text=True, timeout=10, env=env).stdout.strip() == "PONG"

        def config(key: str) -> str:  # as the probe's (the exporter's) read-only user
            out = subprocess.run(
                [*probe[:-1], "config", "get", key], capture_output=True, text=True, check=True, timeout=10, env=env
            ).stdout.split()
            return out[1] if len(out) > 1 else ""

        assert config("save") == "" and config("appendonly") == "no"
        assert config("maxmemory-policy") == "allkeys-lru" and config("maxmemory") == str(256 * 1024 * 1024)
        assert config("protected-mode") == "yes"
        api_url = f"redis://board:{REDIS_PASSWORD}@127.0.0.1:{port}/0"  # the API's user, as rendered in its URL
        with redis_sync.Redis.from_url(api_url) as api:
            api.set("board:{posts}:version", 1)
            with pytest.raises(redis_sync.exceptions.NoPermissionError):
                api.flushall()
        with redis_sync.Redis(port=port) as anonymous, pytest.raises(redis_sync.exceptions.AuthenticationError):
            anonymous.ping()  # the default user is off: no name, no service
        written = (auth / "auth.conf").read_text()
        assert (auth / "auth.conf").stat().st_mode & 0o777 == 0o600  # the users' file, its owner's alone
        assert hashlib.sha256(REDIS_PASSWORD.encode()).hexdigest() in written and REDIS_PASSWORD not in written
        assert "@BOARD_PASSWORD_SHA256@" not in written and "@EXPORTER_PASSWORD_SHA256@" not in written
        assert REDIS_PASSWORD not in " ".join(c["command"])  # never on the command line
    finally:
        process.stop()


def test_rendered_redis_exporter_scrapes_redis(objs, tmp_workdir, chart_redis):
    require_tool(Path(REDIS_EXPORTER).name, "apt-get install prometheus-redis-exporter (scripts/bootstrap.sh does)")
    c = container(get(objs, "Deployment", "loadlab-redis"), "exporter")
    assert env_map(c)["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "loadlab-auth", "key": "redis-exporter-password"}}
    assert "-redis.user=loadlab-exporter" in c["args"]  # its read-only user (files/redis-users.conf)
    port = free_port()
    argv = _swap(list(c["args"]), "redis://127.0.0.1:6379", chart_redis.address)
    argv = _swap(argv, "-web.listen-address=:9121", f"-web.listen-address=127.0.0.1:{port}")
    env = {**os.environ, "REDIS_PASSWORD": REDIS_EXPORTER_PASSWORD}
    process = _start("chart-redis-exporter", [REDIS_EXPORTER, *argv], tmp_workdir, port, env=env)
    try:
        text = _metrics(port)
        assert "\nredis_up 1" in text
        assert "\nredis_memory_max_bytes " in text  # from CONFIG GET, which its user may run
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
    process = _start(
        "chart-postgres-exporter", [POSTGRES_EXPORTER, *argv], tmp_workdir, port, env={**os.environ, **env}
    )
    try:
        text = _metrics(port)
        assert "\npg_up 1" in text
        assert 'pg_stat_database_numbackends{datid="' in text  # a dashboard's metric, read as the owner
    finally:
        process.stop()
