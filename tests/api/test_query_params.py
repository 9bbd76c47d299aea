"""No silently ignored input: every malformed, repeated or unknown query parameter is a 422 naming it.

A client that writes `?cursor=` or `?page=` (our cursor is `before`), repeats a parameter, or leaves one empty
would otherwise get the first page and think it paginated.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .helpers import login

pytestmark = pytest.mark.integration

# (method, path with its query, the query parameter the 422 must name, needs a token)
CASES: dict[str, tuple[str, str, str, bool]] = {
    "limit empty": ("GET", "/posts/?limit=", "limit", False),
    "limit repeated": ("GET", "/posts/?limit=5&limit=6", "limit", False),
    "limit decimal": ("GET", "/posts/?limit=5.5", "limit", False),
    "limit decimal zero": ("GET", "/posts/?limit=5.0", "limit", False),
    "limit hex": ("GET", "/posts/?limit=0x10", "limit", False),
    "limit underscores": ("GET", "/posts/?limit=1_0", "limit", False),
    "limit in another case": ("GET", "/posts/?Limit=5", "Limit", False),
    "before empty": ("GET", "/posts/?before=", "before", False),
    "before repeated": ("GET", "/posts/?before=9&before=3", "before", False),
    "before not a number": ("GET", "/posts/?before=abc", "before", False),
    "before zero": ("GET", "/posts/?before=0", "before", False),
    "before beyond bigint": ("GET", f"/posts/?before={2**63}", "before", False),
    "before decimal": ("GET", "/posts/?before=7.5", "before", False),
    "cursor (not our name)": ("GET", "/posts/?cursor=5", "cursor", False),
    "page (not paginated so)": ("GET", "/posts/?page=2", "page", False),
    "offset (not paginated so)": ("GET", "/posts/?offset=20", "offset", False),
    "ids on the list": ("GET", "/posts/?ids=1,2,3", "ids", False),
    "ids on one post": ("GET", "/posts/1?ids=2", "ids", False),
    "limit on one post": ("GET", "/posts/1?limit=5", "limit", False),
    "a flag without a value": ("GET", "/posts/?limit=5&fresh", "fresh", False),
    "post id in the query of a comment": ("POST", "/comments/?post_id=1", "post_id", True),
    "a query on a new post": ("POST", "/posts/?draft=1", "draft", True),
    "a query on login": ("POST", "/auth/login?username=user1", "username", False),
}
#: The post id in the path is read as strictly: (path, what the 422 must name).
PATH_CASES = {
    "post id decimal": "/posts/1.0",
    "post id underscores": "/posts/1_0",
    "post id signed": "/posts/+1",
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
async def test_a_malformed_query_parameter_is_a_422_naming_it(live_client: httpx.AsyncClient, case: str) -> None:
    method, url, name, needs_token = CASES[case]
    headers = await login(live_client) if needs_token else {}
    body: dict[str, Any] = (
        {"json": {"title": "t", "content": "c", "post_id": 1}} if method == "POST" and needs_token else {}
    )
    if url.startswith("/auth/login"):
        body = {"data": {"username": "user1", "password": "pass1"}}
    response = await live_client.request(method, url, headers=headers, **body)
    assert response.status_code == 422, response.text
    assert any(e["loc"] == ["query", name] for e in response.json()["detail"]), response.json()


@pytest.mark.parametrize("case", PATH_CASES, ids=list(PATH_CASES))
async def test_a_malformed_post_id_is_a_422(live_client: httpx.AsyncClient, case: str) -> None:
    response = await live_client.get(PATH_CASES[case])
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["path", "post_id"]]


async def test_well_formed_queries_still_work(live_client: httpx.AsyncClient) -> None:
    assert (await live_client.get("/posts/?limit=5")).status_code == 200
    assert (await live_client.get("/posts/?limit=5&before=9000000")).status_code == 200
    assert (await live_client.get("/posts/")).status_code == 200
