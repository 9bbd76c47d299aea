"""The API's database role reads and writes rows and nothing else; migrations run as the database's owner."""

from __future__ import annotations

import psycopg
import pytest

from loadlab.services import DB_OWNER, DB_USER, Api, Postgres

pytestmark = pytest.mark.integration


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE intruder (id int)",
        "SELECT rolpassword FROM pg_authid",
        "DROP TABLE comments",
        "ALTER TABLE users ADD COLUMN is_admin boolean",
        "CREATE SCHEMA elsewhere",
        "CREATE ROLE accomplice LOGIN",
    ],
)
def test_the_api_role_cannot_change_the_schema_or_read_secrets(
    live_api: Api, postgres: Postgres, statement: str
) -> None:
    with _connect(postgres.url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_the_api_role_reads_and_writes_rows_and_is_no_superuser(live_api: Api, postgres: Postgres) -> None:
    with _connect(postgres.url) as conn:
        assert conn.execute("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user").fetchone() == (
            DB_USER,
            False,
        )
        count = conn.execute("SELECT count(*) FROM users").fetchone()
        assert count is not None and count[0] >= 1
        conn.execute("UPDATE users SET password_hash = password_hash WHERE id = 0")
    tables = postgres.psql("SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'")
    assert tables == DB_OWNER  # migrations ran as the owner
