"""The harness itself: each real service answers on its port, and Postgres is reachable through PgBouncer."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
import redis as redis_sync
import redis.asyncio as aioredis

from loadlab.process import port_is_open
from loadlab.services import PgBouncer, Postgres, Redis

pytestmark = pytest.mark.integration


def test_postgres_has_the_board_database(postgres: Postgres) -> None:
    assert postgres.psql("SELECT datname FROM pg_database WHERE datname = 'board'") == "board"


async def test_pgbouncer_forwards_to_postgres_in_transaction_mode(pgbouncer: PgBouncer) -> None:
    conn = await asyncpg.connect(pgbouncer.url.replace("+psycopg", ""), statement_cache_size=0)
    try:
        assert await conn.fetchval("SELECT current_database()") == "board"
    finally:
        await conn.close()
    admin = await asyncpg.connect(pgbouncer.admin_dsn, statement_cache_size=0)
    try:
        # The admin console speaks only the simple protocol; `execute` uses it and fails on a bad command.
        await admin.execute("SHOW POOLS")
    finally:
        await admin.close()


async def test_redis_answers_and_can_be_restarted(redis_server: Redis) -> None:
    client = aioredis.from_url(redis_server.url)
    assert await client.ping()
    redis_server.stop()
    assert not port_is_open(redis_server.port)
    await client.aclose()
    redis_server.start()
    fresh = aioredis.from_url(redis_server.url)
    assert await fresh.ping()
    await fresh.aclose()


def test_redis_wants_its_password(redis_server: Redis) -> None:
    """Protected mode on and a password: a client without it gets NOAUTH (the lab's URL carries it)."""
    anonymous = redis_sync.Redis(host="127.0.0.1", port=redis_server.port)
    with anonymous, pytest.raises(redis_sync.exceptions.AuthenticationError):
        anonymous.ping()
    with redis_sync.Redis.from_url(redis_server.admin_url) as client:
        assert client.ping()
        assert client.config_get("protected-mode") == {"protected-mode": "yes"}


def test_files_holding_passwords_are_their_owners_alone(
    postgres: Postgres, pgbouncer: PgBouncer, redis_server: Redis, tmp_workdir: Path
) -> None:
    assert pgbouncer.home is not None
    for path in (pgbouncer.home / "userlist.txt", tmp_workdir / "redis" / "auth.conf"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    # A password on a command line is readable by every local user (/proc/<pid>/cmdline).
    for service in (postgres, pgbouncer, redis_server):
        assert service.process is not None and service.process.pid is not None
        cmdline = Path(f"/proc/{service.process.pid}/cmdline").read_bytes().decode()
        for secret in (
            postgres.password,
            postgres.owner_password,
            postgres.superuser_password,
            redis_server.password,
            redis_server.exporter_password,
            redis_server.admin_password,
        ):
            assert secret not in cmdline, service.name
