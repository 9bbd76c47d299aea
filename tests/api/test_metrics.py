"""`/metrics` after real traffic: every name of docs/contracts.md's API list, with sane values."""

from __future__ import annotations

import re

import httpx
import pytest

from .helpers import login, metric, scrape

pytestmark = pytest.mark.integration

CONTRACT_METRICS = [
    "board_http_requests_total",
    "board_http_request_duration_seconds",
    "board_http_requests_in_flight",
    "board_db_pool_checkout_wait_seconds",
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
]


async def test_every_contract_metric_is_exported_with_sane_values(live_client: httpx.AsyncClient) -> None:
    headers = await login(live_client)
    post = (await live_client.post("/posts/", json={"title": "m", "content": "m"}, headers=headers)).json()
    before = await scrape(live_client)
    assert (await live_client.get(f"/posts/{post['id']}")).status_code == 200
    await live_client.get("/posts/?limit=5")
    text = await scrape(live_client)

    series = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", text, re.MULTILINE))
    missing = [n for n in CONTRACT_METRICS if n not in series and f"{n}_count" not in series]
    assert missing == []

    # Two DB-backed requests, two more checkouts (the cache bypass read goes to Postgres too).
    wait = "board_db_pool_checkout_wait_seconds_count"
    assert metric(text, wait) >= metric(before, wait) + 2
    assert metric(text, "board_db_pool_size") == 10 and metric(text, "board_db_pool_max_overflow") == 10
    in_use, idle = metric(text, "board_db_pool_connections_in_use"), metric(text, "board_db_pool_connections_idle")
    assert in_use >= 0 and idle >= 1 and metric(text, "board_db_pool_overflow") >= 0
    assert metric(text, "board_http_requests_in_flight") == 1  # this scrape itself
    assert metric(text, "board_executor_task_duration_seconds_count", 'task="verify"') >= 1
    assert metric(text, "board_executor_queue_depth") == 0 and metric(text, "board_executor_busy_workers") == 0
    assert metric(text, "board_executor_workers") >= 1 and metric(text, "board_executor_queue_limit") == 64
    assert metric(text, "board_info", 'bcrypt_rounds="4",cache_enabled="true",hash_in_executor="true",version="0.1.0"')

    # The route label is the template, never the raw id.
    assert metric(text, "board_http_requests_total", 'method="GET",route="/posts/{post_id}",status="200"') >= 1
    assert metric(text, "board_http_requests_total", 'method="POST",route="/posts/",status="201"') >= 1
    assert f"/posts/{post['id']}" not in text
    for result in ("hit", "miss", "error", "bypass"):
        assert metric(text, "board_cache_lookups_total", f'result="{result}"') >= 0
    assert 'le="60.0"' in text  # buckets reach the seed's 30 s waits and beyond
    # Serving requests allocates: the young generation has been collected, each time observed once.
    assert metric(text, "board_gc_pause_seconds_count", 'generation="0"') >= 1
    for generation in ("0", "1", "2"):
        count = metric(text, "board_gc_pause_seconds_count", f'generation="{generation}"')
        assert metric(text, "board_gc_pause_seconds_bucket", f'generation="{generation}",le="+Inf"') == count
