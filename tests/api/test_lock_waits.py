"""A held lock, seen the way the diagnosis sees it: the Postgres exporter's lock waits (our custom query) and the
API's write round trip (its commit latency), against real Postgres."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadlab.services import Api, Exporter, Postgres, postgres_exporter

from .helpers import login, metric, scrape

pytestmark = pytest.mark.integration

#: How long the lock stays held once the API's write is seen waiting: longer than the 0.5 s bucket it must pass.
HOLD_SECONDS = 0.7


@pytest.fixture
def exporter(tmp_workdir: Path, postgres: Postgres) -> Iterator[Exporter]:
    started = postgres_exporter(tmp_workdir, postgres).start()
    yield started
    started.stop()


async def lock_waits(exporter: Exporter) -> float:
    """The exporter's gauge (labelled with the server it reads, whose port differs in each run)."""
    async with httpx.AsyncClient(timeout=30) as client:
        text = (await client.get(f"http://{exporter.target}/metrics")).text
    values = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "pg_lock_waits_backends"
    ]
    assert len(values) == 1, "the exporter did not run our custom query"
    return values[0]


async def test_a_write_behind_a_held_lock_shows_as_a_lock_wait_and_a_slow_commit(
    exporter: Exporter, postgres: Postgres, direct_api: Api, direct_client: httpx.AsyncClient
) -> None:
    headers = await login(direct_client)
    assert await lock_waits(exporter) == 0
    before = await scrape(direct_api)
    # A batch job's transaction: SHARE mode blocks every INSERT into posts (not the reads of other tests).
    async with await psycopg.AsyncConnection.connect(postgres.exporter_dsn) as holder:
        await holder.execute("LOCK TABLE posts IN SHARE MODE")
        write = asyncio.create_task(direct_client.post("/posts/", json={"title": "t", "content": "c"}, headers=headers))
        deadline = time.monotonic() + 20
        while (waiting := await lock_waits(exporter)) < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert waiting == 1, "the API's INSERT never showed as a backend waiting for a lock"
        assert not write.done()
        await asyncio.sleep(HOLD_SECONDS)
        await holder.rollback()
    assert (await write).status_code == 201
    assert await lock_waits(exporter) == 0
    after = await scrape(direct_api)
    # One more write, and it took longer than the lock was held after it began waiting (> 0.5 s, so not in that
    # bucket): the commit latency the diagnosis reads.
    count, fast = "board_db_write_duration_seconds_count", "board_db_write_duration_seconds_bucket"
    assert metric(after, count) == metric(before, count) + 1
    assert metric(after, fast, 'le="0.5"') == metric(before, fast, 'le="0.5"')
