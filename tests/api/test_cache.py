"""The Redis cache of the first page: hits, single-flight refill, fail-open when Redis dies, recovery."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from loadlab.services import Redis

from .helpers import login, metric, scrape

pytestmark = pytest.mark.integration

RECOVERY_TIMEOUT = 20.0  # the breaker retries after ~1 s; slack for a loaded machine


async def _lookups(client: httpx.AsyncClient, result: str) -> float:
    return metric(await scrape(client), "board_cache_lookups_total", f'result="{result}"')


async def test_second_read_is_a_hit(live_client: httpx.AsyncClient) -> None:
    await live_client.get("/posts/")
    hits = await _lookups(live_client, "hit")
    first, second = await live_client.get("/posts/"), await live_client.get("/posts/")
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert await _lookups(live_client, "hit") >= hits + 2


async def test_other_pages_bypass_the_cache(live_client: httpx.AsyncClient) -> None:
    bypass = await _lookups(live_client, "bypass")
    assert (await live_client.get("/posts/?limit=3")).status_code == 200
    assert await _lookups(live_client, "bypass") == bypass + 1


async def test_a_new_post_is_on_the_next_read(live_client: httpx.AsyncClient) -> None:
    headers = await login(live_client)
    await live_client.get("/posts/")  # make sure a cached page exists
    created = (await live_client.post("/posts/", json={"title": "fresh", "content": "x"}, headers=headers)).json()
    assert (await live_client.get("/posts/")).json()[0]["id"] == created["id"]


async def test_concurrent_misses_load_the_page_once(live_client: httpx.AsyncClient) -> None:
    headers = await login(live_client)
    await live_client.post("/posts/", json={"title": "invalidate", "content": "x"}, headers=headers)
    checkouts = metric(await scrape(live_client), "board_db_pool_checkout_wait_seconds_count")
    responses = await asyncio.gather(*(live_client.get("/posts/") for _ in range(20)))
    assert {r.status_code for r in responses} == {200} and len({r.content for r in responses}) == 1
    # One refill for twenty readers: the others awaited it or hit what it stored.
    assert metric(await scrape(live_client), "board_db_pool_checkout_wait_seconds_count") == checkouts + 1


async def test_redis_down_is_served_from_postgres_then_the_cache_comes_back(
    live_client: httpx.AsyncClient, redis_server: Redis
) -> None:
    headers = await login(live_client)
    errors = await _lookups(live_client, "error")
    redis_server.stop()
    try:
        for _ in range(3):
            listed = await live_client.get("/posts/")
            assert listed.status_code == 200 and isinstance(listed.json(), list)
        created = await live_client.post("/posts/", json={"title": "while down", "content": "x"}, headers=headers)
        assert created.status_code == 201
        assert (await live_client.get("/posts/")).json()[0]["id"] == created.json()["id"]
        assert await _lookups(live_client, "error") >= errors + 4
        assert (await live_client.get("/readyz")).json() == {"database": "ok", "redis": "down"}
    finally:
        redis_server.start()
    hits = await _lookups(live_client, "hit")
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while await _lookups(live_client, "hit") == hits:
        assert time.monotonic() < deadline, "the cache did not come back after Redis restarted"
        assert (await live_client.get("/posts/")).status_code == 200
        await asyncio.sleep(0.2)
    # The page written during the outage is still the first one after recovery.
    assert (await live_client.get("/posts/")).json()[0]["id"] == created.json()["id"]
