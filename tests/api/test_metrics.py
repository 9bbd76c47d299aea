"""`/metrics` after real traffic: every name of docs/contracts.md's API list, with sane values."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest

from board.cpus import available_cpus
from loadlab.services import Api

from .helpers import counted, login, metric, scrape

pytestmark = pytest.mark.integration

CONTRACT_METRICS = [
    "board_http_requests_total",
    "board_http_request_duration_seconds",
    "board_http_requests_in_flight",
    "board_db_pool_checkout_wait_seconds",
    "board_db_write_duration_seconds",
    "board_db_pool_connections_in_use",
    "board_db_pool_connections_idle",
    "board_db_pool_overflow",
    "board_db_pool_size",
    "board_db_pool_max_overflow",
    "board_db_pool_checkout_timeouts_total",
    "board_executor_workers",
    "board_executor_queue_limit",
    "board_executor_queue_depth",
    "board_executor_busy_workers",
    "board_executor_wait_seconds",
    "board_executor_task_duration_seconds",
    "board_executor_rejections_total",
    "board_gc_pause_seconds",
    "board_cache_lookups_total",
    "board_overload_rejections_total",
    "board_info",
    "board_event_loop_lag_seconds",
    "board_event_loop_cpu_seconds_total",
    "board_process_cpu_seconds_total",
    "board_cache_redis_duration_seconds",
    "board_cache_redis_errors_total",
    "board_api_processes",
    "board_api_processes_alive",
    "board_api_process_restarts_total",
]


async def _settled(api: Api) -> str:
    """A scrape taken once no request is in flight and the processes' samplers have copied the idle pool."""
    deadline = time.monotonic() + 10
    while True:
        text = await scrape(api)
        if metric(text, "board_db_pool_connections_in_use") == 0 or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.1)


async def _young_collections_seen(live_api: Api, client: httpx.AsyncClient, batches: int = 40) -> float:
    """Young-generation collections the API has observed, once one is, or after `batches` x 25 requests."""
    young = 'generation="0"'
    for _ in range(batches):
        if seen := metric(await _settled(live_api), "board_gc_pause_seconds_count", young):
            return seen
        replies = await asyncio.gather(*(client.get("/posts/?limit=5") for _ in range(25)))
        assert {r.status_code for r in replies} == {200}
    return metric(await _settled(live_api), "board_gc_pause_seconds_count", young)


async def test_every_contract_metric_is_exported_with_sane_values(
    live_api: Api, live_client: httpx.AsyncClient
) -> None:
    headers = await login(live_client)
    post = (await live_client.post("/posts/", json={"title": "m", "content": "m"}, headers=headers)).json()
    before = await _settled(live_api)
    assert (await live_client.get(f"/posts/{post['id']}")).status_code == 200
    assert (await live_client.get("/posts/?limit=5")).status_code == 200
    text = await _settled(live_api)

    series = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", text, re.MULTILINE))
    missing = [n for n in CONTRACT_METRICS if n not in series and f"{n}_count" not in series]
    assert missing == []

    # Two DB-backed requests, two more checkouts (the bypass read goes to Postgres too).
    wait = "board_db_pool_checkout_wait_seconds_count"
    assert metric(text, wait) == metric(before, wait) + 2
    # The post was a write (its commit timed); reads are not.
    writes = "board_db_write_duration_seconds_count"
    assert metric(before, writes) >= 1 and metric(text, writes) == metric(before, writes)
    # Configured figures are the instance's: two processes' shares of the pool (5 + 5) and queue (32 + 32).
    assert metric(text, "board_db_pool_size") == 10 and metric(text, "board_db_pool_max_overflow") == 10
    assert metric(text, "board_executor_queue_limit") == 64
    # The default bcrypt threads: the usable CPUs, at least one per process.
    assert metric(text, "board_executor_workers") == max(2, available_cpus())
    assert metric(text, "board_api_processes") == 2 and metric(text, "board_api_processes_alive") == 2
    # Nothing in flight now (the scrape goes to the supervisor, not to a process), nothing borrowed, no burst.
    assert metric(text, "board_http_requests_in_flight") == 0
    assert metric(text, "board_db_pool_connections_in_use") == 0 and metric(text, "board_db_pool_overflow") == 0
    assert metric(text, "board_db_pool_connections_idle") >= 1
    assert metric(text, "board_executor_queue_depth") == 0 and metric(text, "board_executor_busy_workers") == 0
    assert metric(text, "board_executor_task_duration_seconds_count", 'task="verify"') >= 1
    assert metric(text, "board_info", 'bcrypt_rounds="4",cache_enabled="true",hash_in_executor="true",version="0.1.0"')

    # The route label is the template, never the raw id.
    route = 'method="GET",route="/posts/{post_id}",status="200"'
    assert metric(text, "board_http_requests_total", route) == counted(before, "board_http_requests_total", route) + 1
    assert metric(text, "board_http_requests_total", 'method="POST",route="/posts/",status="201"') >= 1
    assert f"/posts/{post['id']}" not in text
    bypass = 'result="bypass"'
    assert metric(text, "board_cache_lookups_total", bypass) == metric(before, "board_cache_lookups_total", bypass) + 1
    assert 'le="60.0"' in text  # buckets reach the seed's 30 s waits and beyond
    # Serving requests leaves garbage in cycles: within some hundred requests each process collects its young
    # generation, and the collection is observed (none is, were the observer not installed).
    assert await _young_collections_seen(live_api, live_client) >= 1
    for generation in ("0", "1", "2"):
        count = metric(text, "board_gc_pause_seconds_count", f'generation="{generation}"')
        assert metric(text, "board_gc_pause_seconds_bucket", f'generation="{generation}",le="+Inf"') == count


REQUESTS = 60


async def test_counts_summed_over_the_processes_equal_what_clients_sent(
    live_api: Api, live_client: httpx.AsyncClient
) -> None:
    """Each request on its own connection, so the kernel spreads them over both processes (SO_REUSEPORT)."""
    headers = await login(live_client)
    post = (await live_client.post("/posts/", json={"title": "sum", "content": "s"}, headers=headers)).json()
    route = 'method="GET",route="/posts/{post_id}"'
    before = await scrape(live_api)

    async def one() -> int:
        async with httpx.AsyncClient(base_url=live_api.url, timeout=60) as own:
            return (await own.get(f"/posts/{post['id']}")).status_code

    assert await asyncio.gather(*(one() for _ in range(REQUESTS))) == [200] * REQUESTS
    after = await scrape(live_api)

    def grew(name: str, labels: str) -> float:
        return metric(after, name, labels) - counted(before, name, labels)

    assert grew("board_http_requests_total", route + ',status="200"') == REQUESTS
    assert grew("board_http_request_duration_seconds_count", route) == REQUESTS
    assert grew("board_http_request_duration_seconds_bucket", route + ',le="+Inf"') == REQUESTS
    # Both processes were there and busy: each one's loop used CPU and ran its timer.
    for process in ("0", "1"):
        assert grew("board_event_loop_cpu_seconds_total", f'process="{process}"') > 0
        assert grew("board_event_loop_lag_seconds_count", f'process="{process}"') > 0
