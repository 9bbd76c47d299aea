"""files/db-roles.sql after upgrades: the rendered post-upgrade Job (templates/postgresql/db-roles-job.yaml) run for
real with Debian's psql 15 against a real Postgres, twice, on an install with the roles (drifted) and on one from
before them (the API's role `board` is the cluster's bootstrap superuser and owns the tables)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from loadlab.services import DB_NAME, DB_OWNER, DB_USER, PG_BIN, Postgres
from tests.chart.conftest import container, env_map, get, render, require_tool, scenario

pytestmark = [pytest.mark.chart, pytest.mark.integration]

JOB = "loadlab-postgresql-roles"
NEW_SUPERUSER_PASSWORD = "chart-test-superuser-" + "s" * 12


def _hook(obj: dict[str, Any]) -> tuple[str, int]:
    annotations = obj["metadata"]["annotations"]
    return annotations["helm.sh/hook"], int(annotations["helm.sh/hook-weight"])


def test_the_roles_job_runs_after_upgrades_before_the_migrations_and_alone_has_the_superuser():
    objs = scenario("default")
    job = get(objs, "Job", JOB)
    assert _hook(job) == ("post-upgrade", -1)
    migrate_hook, migrate_weight = _hook(get(objs, "Job", "loadlab-migrate"))
    assert "post-upgrade" in migrate_hook and migrate_weight > -1  # roles first, then the owner's migrations
    script = get(objs, "ConfigMap", "loadlab-postgresql-initdb")["data"]["10-db-roles.sql"]
    assert script == (Path(__file__).resolve().parents[2] / "helm/loadlab/files/db-roles.sql").read_text()
    holders = set()
    for obj in objs:
        for c in (obj.get("spec", {}).get("template", {}).get("spec", {}) or {}).get("containers", []):
            for value in env_map(c).values():
                if isinstance(value, dict) and value.get("secretKeyRef", {}).get("key") == "postgres-password":
                    holders.add((obj["metadata"]["name"], c["name"]))
    assert holders == {("loadlab-postgresql", "postgresql"), (JOB, "roles")}
    assert not [o for o in render("--set", "postgresql.rolesOnUpgrade=false") if o["metadata"]["name"] == JOB]


def _run_job(pg: Postgres, workdir: Path, superuser_password: str) -> subprocess.CompletedProcess[str]:
    """The Job's container as rendered: its script with the ConfigMap's file, the Secret's values filled in."""
    require_tool("psql", "apt-get install postgresql-client-15 (scripts/bootstrap.sh does)")
    objs = scenario("default")
    c = container(get(objs, "Job", JOB), "roles")
    roles = workdir / "roles"
    roles.mkdir(exist_ok=True)
    sql = get(objs, "ConfigMap", "loadlab-postgresql-initdb")["data"]["10-db-roles.sql"]
    (roles / "10-db-roles.sql").write_text(sql)
    secrets = {
        "postgres-password": superuser_password,
        "database-password": pg.password,
        "database-owner-password": pg.owner_password,
    }
    env = {"PATH": f"{PG_BIN}:{os.environ['PATH']}"}
    for name, value in env_map(c).items():
        env[name] = secrets[value["secretKeyRef"]["key"]] if isinstance(value, dict) else value
    assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"]) == ("loadlab-postgresql", "5432", DB_NAME)
    env.update(PGHOST="127.0.0.1", PGPORT=str(pg.port))
    assert c["command"][:2] == ["sh", "-c"] and c["command"][2].count("/roles/") == 1
    script = c["command"][2].replace("/roles/", f"{roles}/")
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False)


def _connect(pg: Postgres, user: str, password: str) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1",
        port=pg.port,
        user=user,
        password=password,
        dbname=DB_NAME,
        autocommit=True,
        connect_timeout=10,
    )


def _check_least_privilege(pg: Postgres, superuser_password: str, rows: int) -> None:
    with _connect(pg, "postgres", superuser_password) as admin:
        powers = "SELECT rolname, rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles"
        roles: dict[str, bool] = dict(admin.execute(powers).fetchall())
        assert roles["postgres"] is True and roles[DB_USER] is False and roles[DB_OWNER] is False
        member_of = admin.execute(
            "SELECT count(*) FROM pg_auth_members WHERE member = (SELECT oid FROM pg_roles WHERE rolname = %s)",
            (DB_USER,),
        ).fetchone()
        assert member_of == (0,)
        owners = admin.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = relnamespace "
            "WHERE nspname = 'public' AND relkind IN ('r', 'S', 'i')"
        ).fetchall()
        assert owners == [(DB_OWNER,)]
    with _connect(pg, DB_USER, pg.password) as api:
        assert api.execute("SELECT count(*) FROM posts").fetchone() == (rows,)
        api.execute("INSERT INTO posts (title) VALUES ('after the roles job')")
        for ddl in ("CREATE TABLE sneaky (id int)", "DROP TABLE posts", "SELECT * FROM pg_authid"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                api.execute(ddl)


def test_on_an_install_with_the_roles_the_job_resets_drift_and_runs_twice(tmp_workdir):
    pg = Postgres(tmp_workdir / "roles-upgrade").start()  # the script ran once, at initdb
    try:
        pg.psql("CREATE TABLE posts (id serial PRIMARY KEY, title text)")  # a table the superuser made, say by hand
        pg.psql("INSERT INTO posts (title) VALUES ('before')")
        pg.psql(f"ALTER ROLE {DB_USER} CREATEDB")
        pg.psql(f"GRANT {DB_OWNER} TO {DB_USER}")
        for _ in range(2):
            done = _run_job(pg, tmp_workdir / "roles-upgrade", pg.superuser_password)
            assert done.returncode == 0, done.stderr
            assert "converting" not in done.stdout and "roles of board in place" in done.stdout
        _check_least_privilege(pg, pg.superuser_password, rows=1)
    finally:
        pg.stop()
        pg.cleanup()


class PreRolesPostgres(Postgres):
    """The chart's Postgres before the roles: the image's POSTGRES_USER was `board`, so the API's role is the
    cluster's bootstrap superuser, owns the database and made the tables."""

    superuser = DB_USER
    roles_sql = None

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.superuser_password = self.password  # one role, one password (the Secret's database-password)


def test_on_an_install_from_before_the_roles_the_job_converts_it(tmp_workdir):
    pg = PreRolesPostgres(tmp_workdir / "pre-roles-upgrade").start()
    try:
        pg.psql("CREATE TABLE posts (id serial PRIMARY KEY, title text)")
        pg.psql("INSERT INTO posts (title) VALUES ('before'), ('the upgrade')")
        held = _connect(pg, DB_USER, pg.password)  # the old API's pooled session, a superuser's
        assert held.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (True,)
        done = _run_job(pg, tmp_workdir / "pre-roles-upgrade", NEW_SUPERUSER_PASSWORD)
        assert done.returncode == 0, done.stderr
        assert "converting" in done.stdout
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")  # the superuser's sessions ended: PgBouncer logs in again as the new role
        held.close()
        _check_least_privilege(pg, NEW_SUPERUSER_PASSWORD, rows=2)
        with _connect(pg, "postgres", NEW_SUPERUSER_PASSWORD) as admin:
            bootstrap = admin.execute("SELECT rolname, rolcanlogin FROM pg_roles WHERE oid = 10").fetchone()
            assert bootstrap == ("loadlab_bootstrap", False)
        again = _run_job(pg, tmp_workdir / "pre-roles-upgrade", NEW_SUPERUSER_PASSWORD)
        assert again.returncode == 0, again.stderr
        assert "converting" not in again.stdout
    finally:
        pg.stop()
        pg.cleanup()
