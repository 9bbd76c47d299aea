"""The API's counts read straight from its metrics endpoint: the difference of two scrapes is exactly what it sent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from loadlab import api_counts
from loadlab.services import Api, PgBouncer
from tests.conftest import api_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def one_bcrypt_thread_api(
    tmp_path_factory: pytest.TempPathFactory, live_api: Api, pgbouncer: PgBouncer
) -> Iterator[Api]:
    """One bcrypt thread at cost 12 and no queue: a few logins at once get the bcrypt queue's 503s."""
    workdir = tmp_path_factory.mktemp("one-bcrypt-api")
    workdir.chmod(0o755)
    knobs = {"BOARD_BCRYPT_ROUNDS": "12", "BOARD_EXECUTOR_WORKERS": "1", "BOARD_EXECUTOR_QUEUE_LIMIT": "0"}
    api = Api(workdir, api_env(pgbouncer.url, **knobs), name="one-bcrypt-api").start()
    yield api
    api.stop()


def test_statuses_between_two_scrapes(live_api: Api) -> None:
    before = api_counts.scrape(live_api.metrics_url)
    with httpx.Client(base_url=live_api.url) as client:
        for _ in range(2):
            assert client.post("/auth/login", data={"username": "user1", "password": "wrong"}).status_code == 401
        for _ in range(3):
            assert client.get("/posts/", params={"limit": "many"}).status_code == 422
        assert client.get("/posts/").status_code == 200
    d = api_counts.delta(before, api_counts.scrape(live_api.metrics_url))
    assert (d.statuses.get("401"), d.statuses.get("422"), d.statuses.get("503", 0)) == (2, 3, 0)
    assert d.by_route["POST /auth/login"] == {"401": 2}
    assert d.reset == ""


async def test_every_503_is_counted_with_its_reason(one_bcrypt_thread_api: Api) -> None:
    api = one_bcrypt_thread_api
    before = api_counts.scrape(api.metrics_url)
    form = {"username": "user1", "password": "pass1"}
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        answers = await asyncio.gather(*(client.post("/auth/login", data=form) for _ in range(8)))
    refused = [a for a in answers if a.status_code == 503]
    assert refused and all("password hashing" in a.json()["detail"] for a in refused), [a.text for a in answers]
    d = api_counts.delta(before, api_counts.scrape(api.metrics_url))
    assert d.statuses["503"] == len(refused)
    assert d.reasons_503["executor_full"] == len(refused)
    assert d.reasons_503[api_counts.OTHER_503] == 0
