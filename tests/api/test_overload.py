"""Overload answers fast with 503 + Retry-After: a busy pool, a full pool queue, a full bcrypt queue. SIGTERM drains."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest

from board.security import password_context
from loadlab.services import Api, Postgres

from .conftest import HTTP_TIMEOUT
from .helpers import login, metric, scrape

pytestmark = pytest.mark.integration


@asynccontextmanager
async def only_connection_held(client: httpx.AsyncClient, api: Api, postgres: Postgres) -> AsyncIterator[asyncio.Task]:
    """A lock from outside the API stalls a `GET /posts/` that then holds the pool's only connection; the lock
    (and so the connection) is released when the block ends. Yields that request's task."""
    locker = await asyncpg.connect(postgres.url.replace("+psycopg", ""))
    lock = locker.transaction()
    await lock.start()
    try:
        await locker.execute("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE")
        holder = asyncio.create_task(client.get("/posts/?limit=5"))  # a query string: never the cache's fast path
        deadline = time.monotonic() + 10
        while metric(await scrape(api), "board_db_pool_connections_in_use") < 1:
            assert time.monotonic() < deadline, "the first request never took the connection"
            await asyncio.sleep(0.05)
        yield holder
    finally:
        await lock.rollback()
        await locker.close()


POOL_TIMEOUT = 0.5
# Behaviour, not performance: the 503 must come from the pool timeout, not from a 30 s hang.
SLACK = 5.0


async def test_pool_of_one_held_busy_gets_503_within_the_timeout(
    start_api: Callable[..., Api], postgres: Postgres
) -> None:
    api = start_api(
        "pool-of-one",
        BOARD_DB_POOL_SIZE="1",
        BOARD_DB_MAX_OVERFLOW="0",
        BOARD_DB_POOL_TIMEOUT=str(POOL_TIMEOUT),
        BOARD_RETRY_AFTER_SECONDS="3",
    )
    async with httpx.AsyncClient(base_url=api.url, timeout=HTTP_TIMEOUT) as client:
        async with only_connection_held(client, api, postgres) as holder:
            start = time.monotonic()
            rejected = await client.get("/posts/1")
            elapsed = time.monotonic() - start
        assert rejected.status_code == 503, rejected.text
        assert rejected.headers["retry-after"] == "3" and rejected.json()["detail"]
        assert POOL_TIMEOUT * 0.9 <= elapsed < POOL_TIMEOUT + SLACK
        assert (await holder).status_code == 200  # the held request finishes once the lock goes
        text = await scrape(api)
        assert metric(text, "board_overload_rejections_total", 'reason="pool_timeout"') >= 1
        assert metric(text, "board_db_pool_checkout_timeouts_total") >= 1
        assert (await client.get("/posts/1")).status_code in (200, 404)  # and the pool recovers


#: Long on purpose: a 503 that arrives before it cannot come from the pool timeout.
LONG_POOL_TIMEOUT = 20.0
REFUSED = 8


async def test_pool_queue_limit_refuses_the_excess_at_once_and_the_rest_is_served(
    start_api: Callable[..., Api], postgres: Postgres
) -> None:
    api = start_api(
        "pool-queue-1",
        BOARD_DB_POOL_SIZE="1",
        BOARD_DB_MAX_OVERFLOW="0",
        BOARD_DB_POOL_TIMEOUT=str(LONG_POOL_TIMEOUT),
        BOARD_DB_POOL_QUEUE_LIMIT="1",
        BOARD_RETRY_AFTER_SECONDS="2",
    )
    async with httpx.AsyncClient(base_url=api.url, timeout=HTTP_TIMEOUT) as client:
        async with only_connection_held(client, api, postgres) as holder:
            start = time.monotonic()
            others = [asyncio.create_task(client.get("/posts/1")) for _ in range(REFUSED + 1)]
            refused: set[asyncio.Task[httpx.Response]] = set()
            while len(refused) < REFUSED and time.monotonic() - start < LONG_POOL_TIMEOUT / 2:
                done, _ = await asyncio.wait(
                    set(others) - refused, timeout=LONG_POOL_TIMEOUT / 2, return_when=asyncio.FIRST_COMPLETED
                )
                refused |= done
            # One waits in the queue (limit 1) while the lock holds; every other one was answered meanwhile.
            assert len(refused) == REFUSED and not holder.done(), [t.result().status_code for t in refused]
        for task in refused:
            response = task.result()
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "2" and "waiting" in response.json()["detail"]
        assert (await holder).status_code == 200
        (queued,) = set(others) - refused
        assert (await queued).status_code in (200, 404)
        text = await scrape(api)
        assert metric(text, "board_overload_rejections_total", 'reason="pool_queue_full"') == REFUSED
        assert metric(text, "board_overload_rejections_total", 'reason="pool_timeout"') == 0
        assert metric(text, "board_db_pool_checkout_timeouts_total") == 0


async def test_in_flight_limit_refuses_at_once_while_health_and_metrics_answer(
    start_api: Callable[..., Api], postgres: Postgres
) -> None:
    api = start_api(
        "in-flight-2",
        BOARD_DB_POOL_SIZE="1",
        BOARD_DB_MAX_OVERFLOW="0",
        BOARD_DB_POOL_TIMEOUT=str(LONG_POOL_TIMEOUT),
        BOARD_MAX_REQUESTS_IN_FLIGHT="2",
    )
    locker = await asyncpg.connect(postgres.url.replace("+psycopg", ""))
    lock = locker.transaction()
    await lock.start()
    async with httpx.AsyncClient(base_url=api.url, timeout=HTTP_TIMEOUT) as client:
        try:
            await locker.execute("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE")
            # Two requests in flight: one holds the connection (stalled on the lock), one waits for it.
            held = [asyncio.create_task(client.get(f"/posts/{n}")) for n in (1, 2)]
            deadline = time.monotonic() + 10
            while metric(await scrape(api), "board_http_requests_in_flight") < 2:
                assert time.monotonic() < deadline, "the two requests never got in flight"
                await asyncio.sleep(0.05)
            refused = await asyncio.gather(*(client.get("/posts/") for _ in range(REFUSED)))
            assert (await client.get("/healthz")).status_code == 200
            assert not any(task.done() for task in held)
        finally:
            await lock.rollback()
            await locker.close()
        for response in refused:
            assert response.status_code == 503 and response.headers["retry-after"] == "1"
            assert response.json()["detail"] == "server busy: too many requests in flight"
        assert {(await task).status_code for task in held} <= {200, 404}
        text = await scrape(api)
        assert metric(text, "board_overload_rejections_total", 'reason="in_flight_full"') == REFUSED
        assert metric(text, "board_http_requests_total", 'method="GET",route="/posts/",status="503"') == REFUSED


async def test_full_bcrypt_queue_gets_503_at_once(start_api: Callable[..., Api], postgres: Postgres) -> None:
    # An account hashed at the API's cost 12: each verify takes a while, and no login rehashes (a cost-4 user1
    # would be rehashed at 12 and slow every later test's logins).
    api = start_api(
        "executor-1-1", BOARD_EXECUTOR_WORKERS="1", BOARD_EXECUTOR_QUEUE_LIMIT="1", BOARD_BCRYPT_ROUNDS="12"
    )
    hashed = password_context(12).hash("slow-pw")
    postgres.psql(
        f"INSERT INTO users (username, password_hash) VALUES ('cost12', '{hashed}') "
        "ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash"
    )
    async with httpx.AsyncClient(base_url=api.url, timeout=HTTP_TIMEOUT) as client:
        responses = await asyncio.gather(
            *(client.post("/auth/login", data={"username": "cost12", "password": "slow-pw"}) for _ in range(12))
        )
        codes = sorted(r.status_code for r in responses)
        assert set(codes) == {200, 503} and codes.count(200) >= 2, codes
        for r in responses:
            if r.status_code == 503:
                assert r.headers["retry-after"] == "1" and r.json()["detail"]
        text = await scrape(api)
        rejected = codes.count(503)
        assert metric(text, "board_overload_rejections_total", 'reason="executor_full"') == rejected
        assert metric(text, "board_executor_rejections_total") == rejected
        assert metric(text, "board_executor_workers") == 1 and metric(text, "board_executor_queue_limit") == 1


async def test_hashing_on_the_event_loop_still_works(start_api: Callable[..., Api]) -> None:
    """BOARD_HASH_IN_EXECUTOR=false is the seed's baseline: slower under load, but correct."""
    api = start_api("hash-on-loop", BOARD_HASH_IN_EXECUTOR="false")
    async with httpx.AsyncClient(base_url=api.url, timeout=HTTP_TIMEOUT) as client:
        await login(client)
        text = await scrape(api)
        assert 'hash_in_executor="false"' in text
        assert metric(text, "board_executor_task_duration_seconds_count", 'task="verify"') == 1
        assert metric(text, "board_executor_wait_seconds_count") == 0


async def test_sigterm_lets_in_flight_requests_finish(start_api: Callable[..., Api]) -> None:
    # Cost 14 makes a registration take about a second: long enough to be in flight at SIGTERM.
    api = start_api("graceful", BOARD_BCRYPT_ROUNDS="14")
    async with httpx.AsyncClient(base_url=api.url, timeout=HTTP_TIMEOUT) as client:
        register = asyncio.create_task(
            client.post("/auth/register", json={"username": "late-registrant", "password": "password-1"})
        )
        deadline = time.monotonic() + 10
        while metric(await scrape(api), "board_executor_busy_workers") < 1:
            assert time.monotonic() < deadline, "the registration never reached the executor"
            await asyncio.sleep(0.02)
        assert api.process is not None
        api.process.signal(signal.SIGTERM)
        response = await register
        assert response.status_code == 201, response.text
    # uvicorn re-raises the signal after its graceful shutdown, so the exit status names SIGTERM.
    assert api.process.wait(30) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in api.log_path.read_text()
