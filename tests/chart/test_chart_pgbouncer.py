"""The chart's PgBouncer config, run for real: rendered pgbouncer.ini + the userlist script, pointed at loopback,
in front of a real Postgres; then the API, configured with the chart's rendered env, works through it.

What is rewritten (and asserted to exist exactly once, so a template change cannot slip past): the Postgres
host/port in [databases], listen_addr/listen_port, and the auth_file folder. Everything else (auth_type, pool
mode, pool size, stats user, ignore_startup_parameters, ...) runs as rendered.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loadlab.process import Process, free_port, give_to, port_is_open, service_user
from loadlab.services import PG_BIN, PGBOUNCER, Api, Postgres
from tests.chart.conftest import (
    CHART,
    DB_OWNER_PASSWORD,
    DB_PASSWORD,
    JWT_SECRET,
    REDIS_EXPORTER_PASSWORD,
    REDIS_PASSWORD,
    container,
    env_map,
    get,
    render,
)

pytestmark = [pytest.mark.chart, pytest.mark.integration]

#: tuned preset (PgBouncer + Redis on) with a small account pool, so seeding stays quick.
ARGS = ("-f", str(CHART / "presets" / "tuned.yaml"), "--set", "accounts.count=3")


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected exactly one {old!r} in the rendered config:\n{text}"
    return text.replace(old, new)


@dataclass
class Bouncer:
    port: int
    process: Process
    ini: str


@pytest.fixture(scope="module")
def chart_objects() -> list[dict[str, Any]]:
    return render(*ARGS)


@pytest.fixture(scope="module")
def bouncer(chart_objects, chart_postgres: Postgres, tmp_workdir: Path) -> Iterator[Bouncer]:
    data = get(chart_objects, "ConfigMap", "loadlab-pgbouncer")["data"]
    user = service_user()
    home = tmp_workdir / "chart-pgbouncer"
    (home / "auth").mkdir(parents=True)
    home.chmod(0o755)

    # The init container's script, as rendered, writing into our folder instead of the emptyDir.
    script = _replace_once(data["write-userlist.sh"], "/etc/pgbouncer/auth/", f"{home}/auth/")
    env = {"PATH": os.environ["PATH"], "PGBOUNCER_USER": "board", "PGBOUNCER_PASSWORD": DB_PASSWORD}
    subprocess.run(["sh", "-c", script], env=env, check=True, timeout=30)
    userlist = home / "auth" / "userlist.txt"
    assert userlist.read_text() == f'"board" "{DB_PASSWORD}"\n'
    assert stat.S_IMODE(userlist.stat().st_mode) == 0o600, "umask 077: only PgBouncer's user reads it"

    port = free_port()
    ini = data["pgbouncer.ini"]
    ini = _replace_once(ini, "host=loadlab-postgresql port=5432", f"host=127.0.0.1 port={chart_postgres.port}")
    ini = _replace_once(ini, "listen_addr = 0.0.0.0", "listen_addr = 127.0.0.1")
    ini = _replace_once(ini, "listen_port = 6432", f"listen_port = {port}")
    ini = _replace_once(ini, "auth_file = /etc/pgbouncer/auth/userlist.txt", f"auth_file = {userlist}")
    (home / "pgbouncer.ini").write_text(ini)
    give_to(home, user)
    log = tmp_workdir / "logs" / "chart-pgbouncer.log"
    process = Process("chart-pgbouncer", [PGBOUNCER, str(home / "pgbouncer.ini")], log, user=user, cwd=home).start()
    try:
        process.wait_ready(lambda: port_is_open(port), 30)
        yield Bouncer(port, process, ini)
    finally:
        process.stop()


def _psql(port: int, db: str, sql: str) -> str:
    env = {**os.environ, "PGPASSWORD": DB_PASSWORD}
    result = subprocess.run(
        [PG_BIN / "psql", "-h", "127.0.0.1", "-p", str(port), "-U", "board", "-d", db, "-X", "-A", "-t", "-c", sql],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _settings(ini: str) -> dict[str, str]:
    """The [pgbouncer] section as key -> value (comments and other sections left out)."""
    section, out = "", {}
    for line in ini.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[pgbouncer]" and "=" in line and not line.startswith(";"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


#: Where a pod and the lab must differ: addresses, files, sizes the values choose.
PLACE_DEPENDENT = {"listen_addr", "listen_port", "auth_file", "default_pool_size", "max_client_conn"}


def test_lab_and_chart_run_pgbouncer_with_the_same_settings(chart_objects, tmp_workdir: Path):
    """One behaviour in both places: transaction mode, auth, login retry, stats user... (not a copy left behind)."""
    from loadlab.services import PgBouncer

    chart = _settings(get(chart_objects, "ConfigMap", "loadlab-pgbouncer")["data"]["pgbouncer.ini"])
    lab = _settings(PgBouncer(tmp_workdir, Postgres(tmp_workdir)).config())
    assert {k: v for k, v in chart.items() if k not in PLACE_DEPENDENT} == {
        k: v for k, v in lab.items() if k not in PLACE_DEPENDENT
    }


def test_rendered_pgbouncer_runs_in_transaction_mode(bouncer):
    assert "pool_mode = transaction" in bouncer.ini and "auth_type = scram-sha-256" in bouncer.ini
    assert _psql(bouncer.port, "board", "SELECT 40 + 2") == "42"


def test_the_exporters_stats_user_reads_the_admin_console(bouncer):
    """pgbouncer-exporter logs in as the board user to the `pgbouncer` database (stats_users)."""
    _psql(bouncer.port, "board", "SELECT 1")
    pools = _psql(bouncer.port, "pgbouncer", "SHOW POOLS")
    assert any(line.startswith("board|board|") for line in pools.splitlines()), pools


def test_migrate_waits_for_postgres(chart_objects, chart_postgres):
    """The hook Job's wait-for-postgres init container, as rendered: passes on an open port, fails on a closed one."""
    init = container(get(chart_objects, "Job", "loadlab-migrate"), "wait-for-postgres")
    assert init["command"][:2] == ["python", "-c"]
    env = {**os.environ, **env_map(init)}
    assert (env["DB_HOST"], env["DB_PORT"]) == ("loadlab-postgresql", "5432")
    env.update(DB_HOST="127.0.0.1", DB_PORT=str(chart_postgres.port))
    ok = subprocess.run([sys.executable, "-c", init["command"][2]], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    env.update(DB_PORT=str(free_port()), WAIT_SECONDS="0")
    bad = subprocess.run(
        [sys.executable, "-c", init["command"][2]], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode != 0 and "still closed" in bad.stderr


def test_wrong_password_is_refused(bouncer):
    env = {**os.environ, "PGPASSWORD": "wrong"}
    result = subprocess.run(
        [PG_BIN / "psql", "-h", "127.0.0.1", "-p", str(bouncer.port), "-U", "board", "-d", "board", "-c", "SELECT 1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0


def _chart_env(c: dict[str, Any], replacements: dict[str, str]) -> dict[str, str]:
    """A container's rendered env with Secret references resolved and cluster hosts swapped for loopback."""
    env: dict[str, str] = {}
    for name, value in env_map(c).items():
        if isinstance(value, dict):
            key = value["secretKeyRef"]["key"]
            value = {
                "database-password": DB_PASSWORD,
                "database-owner-password": DB_OWNER_PASSWORD,
                "redis-password": REDIS_PASSWORD,
                "redis-exporter-password": REDIS_EXPORTER_PASSWORD,
                "jwt-secret": JWT_SECRET,
            }[key]
        value = value.replace("$(LOADLAB_DB_PASSWORD)", DB_PASSWORD)
        value = value.replace("$(LOADLAB_DB_OWNER_PASSWORD)", DB_OWNER_PASSWORD)
        value = value.replace("$(LOADLAB_REDIS_PASSWORD)", REDIS_PASSWORD)
        for old, new in replacements.items():
            value = value.replace(old, new)
        env[name] = value
    return env


def test_api_flow_through_the_rendered_pgbouncer(chart_objects, chart_postgres, bouncer, chart_redis, tmp_workdir):
    """Migrate + seed with the hook Job's env (straight to Postgres), then serve with the API Deployment's env
    (through PgBouncer, Redis cache on): log in, post, comment, list, read one, all through the pooler."""
    hosts = {
        "@loadlab-postgresql:5432/": f"@127.0.0.1:{chart_postgres.port}/",
        "@loadlab-pgbouncer:6432/": f"@127.0.0.1:{bouncer.port}/",
        "@loadlab-redis:6379/": f"@127.0.0.1:{chart_redis.port}/",
    }
    job = get(chart_objects, "Job", "loadlab-migrate")
    migrate_env = _chart_env(container(job, "migrate"), hosts)
    assert migrate_env["BOARD_DATABASE_URL"].endswith(f"@127.0.0.1:{chart_postgres.port}/board")
    assert migrate_env["BOARD_DATABASE_URL"].startswith("postgresql+psycopg://board_owner:")  # the owner migrates
    tool = Api(tmp_workdir, migrate_env, name="chart-migrate")
    # the image's `python` is this interpreter here (the board package is installed in it)
    for name in ("migrate", "seed-users"):
        command = container(job, name)["command"]
        assert command[0] == "python"
        tool.run([sys.executable, *command[1:]])

    deployment = get(chart_objects, "Deployment", "loadlab-api")
    api_env = _chart_env(container(deployment, "api"), hosts)
    assert api_env["BOARD_DATABASE_URL"].endswith(f"@127.0.0.1:{bouncer.port}/board")
    assert api_env["BOARD_DATABASE_URL"].startswith("postgresql+psycopg://board:")  # the API's rows-only role
    assert api_env["BOARD_DB_STATEMENT_CACHE"] == "false"
    before = _xacts(bouncer.port)
    api = Api(tmp_workdir, api_env, name="chart-api").start()
    try:
        form = urllib.parse.urlencode({"username": "user3", "password": "pass3"}).encode()
        token = _json(api.url + "/auth/login", data=form)["access_token"]
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        post = _json(api.url + "/posts/", data=b'{"title": "through pgbouncer", "content": "chart test"}', headers=auth)
        comment = f'{{"post_id": {post["id"]}, "content": "hi"}}'.encode()
        _json(api.url + "/comments/", data=comment, headers=auth)
        assert any(p["id"] == post["id"] for p in _json(api.url + "/posts/"))
        assert _json(f"{api.url}/posts/{post['id']}")["id"] == post["id"]
        _check_the_run_waits_for_the_account_pool(api.url)
        _check_the_helm_test_pod_passes(chart_objects, api.url)
    finally:
        api.stop()
    assert _xacts(bouncer.port) > before, "the API's transactions went through PgBouncer"


def _check_the_helm_test_pod_passes(objs: list[dict[str, Any]], api_url: str) -> None:
    """`helm test`'s pod, as rendered, against the live API (health, readiness, user1's login, the post list)."""
    pod = get(objs, "Pod", "loadlab-test")
    (c,) = pod["spec"]["containers"]
    assert c["command"][:2] == ["python", "-c"] and env_map(c)["API_URL"] == "http://loadlab-api:8000"
    env = {**os.environ, "API_URL": api_url}
    result = subprocess.run(
        [sys.executable, "-c", c["command"][2]], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/auth/login 200" in result.stdout


def _check_the_run_waits_for_the_account_pool(api_url: str) -> None:
    """The run Job's init container, as rendered, against the live API: user3 (the pool's last) logs in, so
    it passes; user4 was never seeded, so with no time to wait it fails."""
    job = next(
        o
        for o in render(*ARGS, "--set", "locust.master.mode=run")
        if o["kind"] == "Job" and "locust-run" in o["metadata"]["name"]
    )
    init = container(job, "wait-for-accounts")
    assert init["command"][:2] == ["python", "-c"]
    env = {**os.environ, **{k: v for k, v in env_map(init).items()}, "API_URL": api_url}
    assert env["ACCOUNT_COUNT"] == "3"
    ok = subprocess.run([sys.executable, "-c", init["command"][2]], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    env.update(ACCOUNT_COUNT="4", WAIT_SECONDS="0")
    bad = subprocess.run(
        [sys.executable, "-c", init["command"][2]], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode != 0 and "user4 still cannot log in" in bad.stderr


def _xacts(port: int) -> int:
    """PgBouncer's transaction count for the board database (SHOW STATS)."""
    rows = _psql(port, "pgbouncer", "SHOW STATS").splitlines()
    return sum(int(r.split("|")[1]) for r in rows if r.startswith("board|"))


def _json(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    import json

    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        assert response.status in (200, 201), response.status
        return json.load(response)
