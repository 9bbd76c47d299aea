"""The harness itself: each real service answers on its port, and Postgres is reachable through PgBouncer."""

from __future__ import annotations

import asyncpg
import pytest
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
