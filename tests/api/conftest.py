"""API-specific fixtures on top of the session services in tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from loadlab.services import Api, Postgres
from tests.conftest import api_env

#: Generous: a test API process (fresh interpreter, bcrypt warm-up) on a loaded 2-core box.
HTTP_TIMEOUT = 60.0


@pytest.fixture(scope="session")
def direct_api(tmp_workdir: Path, postgres: Postgres) -> Iterator[Api]:
    """The API straight on Postgres without Redis: the seed's own topology (no pooler, no cache)."""
    api = Api(tmp_workdir, api_env(postgres.url), name="direct-api")
    api.migrate(postgres.owner_url)
    api.seed_users(3)
    api.start()
    yield api
    api.stop()


@pytest.fixture
def start_api(tmp_workdir: Path, postgres: Postgres) -> Iterator[Callable[..., Api]]:
    """Starts an API process with the test's own knobs (on Postgres directly unless told); stops it after."""
    started: list[Api] = []

    def start(name: str, database_url: str | None = None, redis_url: str = "", **knobs: str) -> Api:
        api = Api(tmp_workdir, api_env(database_url or postgres.url, redis_url, **knobs), name=name)
        api.migrate(postgres.owner_url)
        api.seed_users(3)
        started.append(api.start())
        return api

    yield start
    for api in reversed(started):
        api.stop()


@pytest.fixture
async def live_client(live_api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the shared API behind PgBouncer with the Redis cache."""
    async with httpx.AsyncClient(base_url=live_api.url, timeout=HTTP_TIMEOUT) as client:
        yield client


@pytest.fixture
async def direct_client(direct_api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=direct_api.url, timeout=HTTP_TIMEOUT) as client:
        yield client
