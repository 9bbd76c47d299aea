"""The seed's client flow over real HTTP against `python -m board serve` processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from loadlab.services import Api

from .conftest import HTTP_TIMEOUT
from .helpers import login

pytestmark = pytest.mark.integration

CONCURRENT_CLIENTS = 50
DEFAULT_PAGE = 20  # BOARD_PAGE_DEFAULT_LIMIT's default


async def seed_flow(client: httpx.AsyncClient, username: str, password: str, marker: str) -> None:
    """login, list, create a post (201 + id), comment on it (201), then see the post first in the list."""
    headers = await login(client, username, password)
    listed = await client.get("/posts/", headers=headers)
    assert listed.status_code == 200 and isinstance(listed.json(), list)
    created = await client.post("/posts/", json={"title": f"Post {marker}", "content": "seed flow"}, headers=headers)
    assert created.status_code == 201, created.text
    post = created.json()
    assert isinstance(post["id"], int) and post["title"] == f"Post {marker}" and post["created_at"]
    comment = await client.post("/comments/", json={"post_id": post["id"], "content": "hi"}, headers=headers)
    assert comment.status_code == 201, comment.text
    assert comment.json()["post_id"] == post["id"]
    ids = [p["id"] for p in (await client.get("/posts/", headers=headers)).json()]
    # Ours is first unless other clients wrote newer posts since; never is the page older than our 201.
    assert ids and ids[0] >= post["id"] and (post["id"] in ids or len(ids) == DEFAULT_PAGE)
    detail = await client.get(f"/posts/{post['id']}")
    assert detail.status_code == 200 and [c["content"] for c in detail.json()["comments"]] == ["hi"]
    assert detail.json()["comment_count"] == 1


async def test_seed_flow_against_postgres(direct_client: httpx.AsyncClient) -> None:
    await seed_flow(direct_client, "user1", "pass1", "direct")
    first = (await direct_client.get("/posts/")).json()[0]
    assert first["title"] == "Post direct"


async def test_seed_flow_through_pgbouncer_with_50_concurrent_clients(live_api: Api) -> None:
    async def one(n: int) -> None:
        # Each simulated client has its own connection and token, as separate Locust users would.
        async with httpx.AsyncClient(base_url=live_api.url, timeout=HTTP_TIMEOUT) as client:
            user = n % 10 + 1
            await seed_flow(client, f"user{user}", f"pass{user}", f"concurrent-{n}")

    results = await asyncio.gather(*(one(n) for n in range(CONCURRENT_CLIENTS)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []


async def test_register_then_login(live_client: httpx.AsyncClient) -> None:
    created = await live_client.post("/auth/register", json={"username": "newcomer", "password": "s3cret-pw"})
    assert created.status_code == 201 and created.json()["username"] == "newcomer"
    duplicate = await live_client.post("/auth/register", json={"username": "newcomer", "password": "other-pw"})
    assert duplicate.status_code == 409 and duplicate.json()["detail"]
    await login(live_client, "newcomer", "s3cret-pw")


@pytest.mark.parametrize(("username", "password"), [("user1", "wrong"), ("nobody", "pass1")])
async def test_bad_credentials_get_401(live_client: httpx.AsyncClient, username: str, password: str) -> None:
    response = await live_client.post("/auth/login", data={"username": username, "password": password})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer" and response.json()["detail"]


async def test_pages_walk_the_table_by_link_header(live_client: httpx.AsyncClient) -> None:
    headers = await login(live_client)
    for n in range(5):
        await live_client.post("/posts/", json={"title": f"page {n}", "content": "x"}, headers=headers)
    seen: list[int] = []
    url: str | None = "/posts/?limit=2"
    while url and len(seen) < 10:
        response = await live_client.get(url)
        assert response.status_code == 200
        page = [p["id"] for p in response.json()]
        assert 0 < len(page) <= 2
        seen += page
        url = response.links.get("next", {}).get("url")
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == len(seen) == 10


async def test_health_endpoints(live_client: httpx.AsyncClient) -> None:
    assert (await live_client.get("/healthz")).json() == {"status": "ok"}
    ready = await live_client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"database": "ok", "redis": "ok"}


async def test_seed_baseline_knobs_straight_on_postgres(start_api: Callable[..., Api]) -> None:
    """The seed-baseline preset: statement caches on (no pooler), no cache, hashing on the loop, 30 s pool wait."""
    api = start_api(
        "seed-baseline",
        BOARD_DB_STATEMENT_CACHE="true",
        BOARD_HASH_IN_EXECUTOR="false",
        BOARD_CACHE_ENABLED="false",
        BOARD_DB_POOL_SIZE="5",
        BOARD_DB_POOL_TIMEOUT="30",
    )
    async with httpx.AsyncClient(base_url=api.url, timeout=HTTP_TIMEOUT) as client:
        for n in range(3):  # repeated statements exercise the prepared-statement cache
            await seed_flow(client, "user2", "pass2", f"baseline-{n}")
        assert (await client.get("/readyz")).json()["redis"] == "disabled"
