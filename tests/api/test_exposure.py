"""What the API shows of itself: its map (/docs, /openapi.json) only in dev mode, readiness reused for a second."""

from __future__ import annotations

import math
import time

import httpx
import pytest

from board.app import create_app
from board.config import Settings
from board.routes.health import READY_CACHE_SECONDS
from loadlab.services import Api
from tests.conftest import TEST_JWT_SECRET

from .helpers import counted, scrape

MAP_PATHS = ("/docs", "/redoc", "/openapi.json")


@pytest.mark.parametrize("dev_mode", [False, True])
async def test_api_map_is_served_in_dev_mode_only(dev_mode: bool) -> None:
    settings = Settings(
        database_url="postgresql+psycopg://u:p@127.0.0.1:1/db", jwt_secret=TEST_JWT_SECRET, dev_mode=dev_mode
    )
    app = create_app(settings)  # no lifespan: nothing connects
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        statuses = {path: (await client.get(path)).status_code for path in MAP_PATHS}
    assert statuses == dict.fromkeys(MAP_PATHS, 200 if dev_mode else 404)


@pytest.mark.integration
async def test_readiness_is_checked_at_most_once_a_second_per_process(
    live_api: Api, live_client: httpx.AsyncClient
) -> None:
    def pings(text: str) -> float:
        return counted(text, "board_cache_redis_duration_seconds_count", 'operation="ping"')

    before = pings(await scrape(live_api))
    start = time.monotonic()
    for _ in range(20):
        assert (await live_client.get("/readyz")).status_code == 200
    elapsed = time.monotonic() - start
    checks = pings(await scrape(live_api)) - before
    processes = 2  # live_api's BOARD_WORKERS
    assert 1 <= checks <= processes * (math.floor(elapsed / READY_CACHE_SECONDS) + 1), (checks, elapsed)
