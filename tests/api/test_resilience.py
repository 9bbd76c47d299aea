"""The pooler goes away and comes back: readiness says so, requests get 503 (not 500), then recover."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from loadlab.services import Api, PgBouncer, Postgres

from .conftest import HTTP_TIMEOUT

pytestmark = pytest.mark.integration

RECOVERY_TIMEOUT = 30.0


class OwnPgBouncer(PgBouncer):
    """A second PgBouncer with its own folder and log, so stopping it leaves the session's alone."""

    name = "pgbouncer-resilience"


@pytest.fixture
def own_pgbouncer(tmp_workdir: Path, postgres: Postgres) -> Iterator[PgBouncer]:
    """A PgBouncer this test may stop and start."""
    bouncer = OwnPgBouncer(tmp_workdir, postgres, pool_size=5).start()
    yield bouncer
    bouncer.stop()
    bouncer.cleanup()


async def test_database_outage_gives_503_and_recovers(start_api: Callable[..., Api], own_pgbouncer: PgBouncer) -> None:
    api = start_api("resilience", database_url=own_pgbouncer.url, BOARD_DB_POOL_TIMEOUT="1")
    async with httpx.AsyncClient(base_url=api.url, timeout=HTTP_TIMEOUT) as client:
        assert (await client.get("/posts/?limit=1")).status_code == 200
        own_pgbouncer.stop()
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while (ready := await client.get("/readyz")).status_code == 200:  # the answer is reused for a second
            assert time.monotonic() < deadline, "/readyz still says ready with PgBouncer stopped"
            await asyncio.sleep(0.2)
        assert ready.status_code == 503 and ready.json()["database"].startswith("down")
        assert ready.headers["retry-after"] == "1"
        failed = await client.get("/posts/?limit=1")
        assert failed.status_code == 503 and failed.json()["detail"] and failed.headers["retry-after"] == "1"
        assert (await client.get("/healthz")).status_code == 200  # alive, just not ready
        own_pgbouncer.start()
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while (await client.get("/posts/?limit=1")).status_code != 200:
            assert time.monotonic() < deadline, "the API did not recover after PgBouncer came back"
            await asyncio.sleep(0.2)
        while (await client.get("/readyz")).status_code != 200:  # its answer is reused for a second
            assert time.monotonic() < deadline, "/readyz did not say ready after PgBouncer came back"
            await asyncio.sleep(0.2)
