"""The Redis cache of the first page: write-through, read-your-writes, single-flight refill, fail-open, recovery.

The first tests drive `FirstPage` itself against the session's real Redis (the rows come from a list, not
Postgres); the rest go through the real API instance (two processes, PgBouncer, Redis).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx
import orjson
import pytest
import redis as redis_sync

from board.cache import KEYS, FirstPage
from board.metrics import Metrics
from loadlab.services import Api, Redis

from .helpers import login, metric, scrape

pytestmark = pytest.mark.integration

RECOVERY_TIMEOUT = 20.0  # the breaker retries after ~1 s; slack for a loaded machine
PAGE = 3


def _row(post_id: int) -> dict[str, Any]:
    return {"id": post_id, "title": f"t{post_id}", "content": "c", "author_id": 1, "created_at": "2026-12-01T00:00:00"}


class Table:
    """Committed posts, as Postgres would list them: the loader of these tests."""

    def __init__(self, ids: Sequence[int] = ()) -> None:
        self.rows = {i: _row(i) for i in ids}
        self.loads = 0

    async def newest(self, count: int) -> list[dict[str, Any]]:
        self.loads += 1
        return [self.rows[i] for i in sorted(self.rows, reverse=True)[:count]]

    def page(self) -> tuple[list[dict[str, Any]], int | None]:
        ids = sorted(self.rows, reverse=True)
        return [self.rows[i] for i in ids[:PAGE]], (ids[PAGE - 1] if len(ids) > PAGE else None)


@pytest.fixture
async def first_page(redis_server: Redis) -> AsyncIterator[FirstPage]:
    """A `FirstPage` of 3 posts on the real Redis, its keys cleared before and after."""
    with redis_sync.Redis.from_url(redis_server.url) as r:
        r.delete(*KEYS)
    cache = FirstPage(redis_server.url, 60, Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=True), PAGE)
    yield cache
    await cache.close()
    with redis_sync.Redis.from_url(redis_server.url) as r:
        r.delete(*KEYS)


async def _cached(cache: FirstPage, table: Table) -> tuple[list[dict[str, Any]], int | None, bool]:
    """The page a reader gets now, and whether it came from Redis."""
    found = await cache.lookup()
    page = await cache.get(table.newest, found)
    return orjson.loads(page.body), page.next_before, found.page is not None


async def test_writes_update_the_cached_page_in_id_order_whatever_the_commit_order(first_page: FirstPage) -> None:
    table = Table(range(1, 6))
    assert (await _cached(first_page, table))[2] is False  # a miss: loaded and stored
    # Commits arrive out of id order (two writers), one below the window, one already listed.
    rng = random.Random(7)
    new_ids = [9, 7, 8, 6, 12, 10, 11]
    rng.shuffle(new_ids)
    for post_id in [*new_ids, 2, 12]:
        table.rows[post_id] = _row(post_id)
        await first_page.add(post_id, orjson.dumps(_row(post_id)))
        rows, next_before, hit = await _cached(first_page, table)
        assert hit, f"the page was dropped by the write of {post_id}"
        assert (rows, next_before) == table.page()
    assert table.loads == 1


async def test_a_small_table_grows_into_a_page_with_a_next_link(first_page: FirstPage) -> None:
    table = Table([])
    assert await _cached(first_page, table) == ([], None, False)
    for post_id in (1, 2, 3, 4):
        table.rows[post_id] = _row(post_id)
        await first_page.add(post_id, orjson.dumps(_row(post_id)))
        rows, next_before, hit = await _cached(first_page, table)
        assert hit and (rows, next_before) == table.page()
    assert next_before == 2
    cached = (await first_page.lookup()).page
    assert cached is not None
    assert (b"link", b'</posts/?limit=3&before=2>; rel="next"') in first_page.headers(cached)


async def test_a_refill_that_raced_a_write_is_not_stored(first_page: FirstPage) -> None:
    table = Table([1, 2])
    found = await first_page.lookup()  # a miss: the reader is about to load
    table.rows[3] = _row(3)  # ... a post commits meanwhile; its page is absent, so only the version moves
    await first_page.add(3, orjson.dumps(_row(3)))

    async def stale(count: int) -> list[dict[str, Any]]:
        return [_row(2), _row(1)]  # read before the commit

    assert [r["id"] for r in orjson.loads((await first_page.get(stale, found)).body)] == [2, 1]
    rows, _, hit = await _cached(first_page, table)
    assert not hit and [r["id"] for r in rows] == [3, 2, 1]  # the stale page was refused; this load stored


async def test_concurrent_misses_load_once(first_page: FirstPage) -> None:
    table = Table(range(1, 10))
    release = asyncio.Event()

    async def slow(count: int) -> list[dict[str, Any]]:
        await release.wait()
        return await table.newest(count)

    readers = [asyncio.create_task(first_page.get(slow)) for _ in range(20)]
    await asyncio.sleep(0.05)
    release.set()
    pages = await asyncio.gather(*readers)
    assert len({p.body for p in pages}) == 1 and table.loads == 1


async def _api_lookups(api: Api, result: str) -> float:
    return metric(await scrape(api), "board_cache_lookups_total", f'result="{result}"')


async def test_second_read_is_a_hit(live_api: Api, live_client: httpx.AsyncClient) -> None:
    await live_client.get("/posts/")
    await live_client.get("/posts/")  # each of the two processes may have had to look once
    hits = await _api_lookups(live_api, "hit")
    first, second = await live_client.get("/posts/"), await live_client.get("/posts/")
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert await _api_lookups(live_api, "hit") == hits + 2


async def test_other_pages_bypass_the_cache(live_api: Api, live_client: httpx.AsyncClient) -> None:
    bypass = await _api_lookups(live_api, "bypass")
    assert (await live_client.get("/posts/?limit=3")).status_code == 200
    assert (await live_client.get("/posts/?limit=20")).status_code == 200  # any query is another page
    assert await _api_lookups(live_api, "bypass") == bypass + 2


async def test_a_new_post_is_written_into_the_cached_page(live_api: Api, live_client: httpx.AsyncClient) -> None:
    headers = await login(live_client)
    await live_client.get("/posts/")  # make sure a cached page exists
    misses = await _api_lookups(live_api, "miss")
    created = (await live_client.post("/posts/", json={"title": "fresh", "content": "x"}, headers=headers)).json()
    listed = await live_client.get("/posts/")
    assert listed.json()[0] == created
    assert await _api_lookups(live_api, "miss") == misses  # served from the page the write updated


async def test_read_your_writes_with_concurrent_writers_on_two_processes(
    live_api: Api, live_client: httpx.AsyncClient
) -> None:
    """Each writer reads right after its 201, on its own connection (so either process): its post is listed,
    unless 20 newer posts already fill the page. The cached page equals a fresh read from Postgres."""
    headers = await login(live_client)
    await live_client.get("/posts/")

    async def write_then_read(n: int) -> tuple[int, list[int]]:
        async with httpx.AsyncClient(base_url=live_api.url, timeout=60) as own:
            created = await own.post("/posts/", json={"title": f"w{n}", "content": "x"}, headers=headers)
            assert created.status_code == 201, created.text
            listed = await own.get("/posts/")
            assert listed.status_code == 200
            return created.json()["id"], [p["id"] for p in listed.json()]

    for post_id, ids in await asyncio.gather(*(write_then_read(n) for n in range(30))):
        assert post_id in ids or (len(ids) == 20 and min(ids) > post_id), (post_id, ids)
    cached, fresh = await live_client.get("/posts/"), await live_client.get("/posts/?limit=20")
    assert cached.content == fresh.content and cached.headers.get("link") == fresh.headers.get("link")


async def test_concurrent_misses_load_the_page_once_per_process(
    live_api: Api, live_client: httpx.AsyncClient, redis_server: Redis
) -> None:
    await live_client.get("/posts/")
    with redis_sync.Redis.from_url(redis_server.url) as r:
        r.delete(*KEYS)  # the page expired
    checkouts = metric(await scrape(live_api), "board_db_pool_checkout_wait_seconds_count")
    responses = await asyncio.gather(*(live_client.get("/posts/") for _ in range(20)))
    assert {r.status_code for r in responses} == {200} and len({r.content for r in responses}) == 1
    # Two processes: at most one load each; the other readers awaited it or hit what it stored.
    loads = metric(await scrape(live_api), "board_db_pool_checkout_wait_seconds_count") - checkouts
    assert 1 <= loads <= 2


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def test_redis_down_is_served_from_postgres_then_the_cache_comes_back(
    live_api: Api, live_client: httpx.AsyncClient, redis_server: Redis
) -> None:
    headers = await login(live_client)
    await live_client.get("/posts/")
    errors = await _api_lookups(live_api, "error")
    redis_server.stop()
    try:
        for _ in range(4):
            listed = await live_client.get("/posts/")
            assert listed.status_code == 200 and isinstance(listed.json(), list)
        created = await live_client.post("/posts/", json={"title": "while down", "content": "x"}, headers=headers)
        assert created.status_code == 201
        assert (await live_client.get("/posts/")).json()[0]["id"] == created.json()["id"]
        assert await _api_lookups(live_api, "error") >= errors + 4

        async def redis_reported_down() -> bool:  # a readiness answer is reused for a second
            return (await live_client.get("/readyz")).json() == {"database": "ok", "redis": "down"}

        await _until(redis_reported_down, "/readyz did not report Redis down")
    finally:
        redis_server.start()
    hits = await _api_lookups(live_api, "hit")

    async def hit_again() -> bool:
        assert (await live_client.get("/posts/")).status_code == 200
        return await _api_lookups(live_api, "hit") > hits

    await _until(hit_again, "the cache did not come back after Redis restarted")
    # The post written during the outage is on the first page after recovery.
    assert (await live_client.get("/posts/")).json()[0]["id"] == created.json()["id"]


async def test_redis_errors_and_latency_are_measured(live_api: Api) -> None:
    text = await scrape(live_api)
    assert metric(text, "board_cache_redis_duration_seconds_count", 'operation="lookup"') >= 1
    for operation in ("lookup", "refill", "write", "reset", "ping"):
        metric(text, "board_cache_redis_errors_total", f'operation="{operation}"')  # exported from the start
