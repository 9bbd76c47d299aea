"""Every class of bad input gets a 4xx JSON error, and nothing is written."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from jose import jwt

from loadlab.services import Postgres
from tests.conftest import TEST_JWT_SECRET

from .helpers import login

pytestmark = pytest.mark.integration

MAX_BODY = 65536  # BOARD_MAX_BODY_BYTES's default
GOOD_POST = {"title": "t", "content": "c"}


def _token(claims: dict[str, Any], key: str = TEST_JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


FUTURE = 4102444800
BAD_TOKENS = {
    "missing": None,
    "malformed": "Bearer not-a-jwt",
    "wrong scheme": "Basic dXNlcjE6cGFzczE=",
    "bearer without token": "Bearer",
    "expired": "Bearer " + _token({"sub": "1", "exp": int(time.time()) - 60}),
    "wrong key": "Bearer " + _token({"sub": "1", "exp": FUTURE}, key="y" * 40),
    "alg none": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': '1', 'exp': FUTURE})}.",
    "HS512": "Bearer " + _token({"sub": "1", "exp": FUTURE}, algorithm="HS512"),
    "no exp": "Bearer " + _token({"sub": "1"}),
}

# (method, path, request kwargs, expected status); "auth" marks requests that need a valid token.
CASES: dict[str, tuple[str, str, dict[str, Any], int]] = {
    "malformed json": ("POST", "/posts/", {"content": b'{"title": "x", ', "auth": True}, 422),
    "json not an object": ("POST", "/posts/", {"json": ["t", "c"], "auth": True}, 422),
    "wrong type title": ("POST", "/posts/", {"json": {"title": 5, "content": "c"}, "auth": True}, 422),
    "missing content": ("POST", "/posts/", {"json": {"title": "t"}, "auth": True}, 422),
    "empty title": ("POST", "/posts/", {"json": {"title": "", "content": "c"}, "auth": True}, 422),
    "blank title": ("POST", "/posts/", {"json": {"title": " \t\n", "content": "c"}, "auth": True}, 422),
    "title over 200": ("POST", "/posts/", {"json": {"title": "t" * 201, "content": "c"}, "auth": True}, 422),
    "content over 10000": ("POST", "/posts/", {"json": {"title": "t", "content": "c" * 10_001}, "auth": True}, 422),
    "nul in title": ("POST", "/posts/", {"json": {"title": "a\x00b", "content": "c"}, "auth": True}, 422),
    "nul in content": ("POST", "/posts/", {"json": {"title": "t", "content": "\x00"}, "auth": True}, 422),
    "comment unknown post": (
        "POST",
        "/comments/",
        {"json": {"post_id": 9_000_000_000, "content": "c"}, "auth": True},
        404,
    ),
    "comment post id string": ("POST", "/comments/", {"json": {"post_id": "1", "content": "c"}, "auth": True}, 422),
    "comment post id negative": ("POST", "/comments/", {"json": {"post_id": -1, "content": "c"}, "auth": True}, 422),
    "comment post id beyond bigint": (
        "POST",
        "/comments/",
        {"json": {"post_id": 2**63, "content": "c"}, "auth": True},
        422,
    ),
    "comment empty content": ("POST", "/comments/", {"json": {"post_id": 1, "content": ""}, "auth": True}, 422),
    "comment nul content": ("POST", "/comments/", {"json": {"post_id": 1, "content": "x\x00"}, "auth": True}, 422),
    "register password over 72 bytes": (
        "POST",
        "/auth/register",
        {"json": {"username": "longpw", "password": "é" * 37}},
        422,
    ),
    "register nul password": (
        "POST",
        "/auth/register",
        {"json": {"username": "nulpw", "password": "abcdefg\x00"}},
        422,
    ),
    "register bad username": ("POST", "/auth/register", {"json": {"username": "a b\x00", "password": "p"}}, 422),
    "register missing password": ("POST", "/auth/register", {"json": {"username": "nopw"}}, 422),
    "register duplicate": ("POST", "/auth/register", {"json": {"username": "user1", "password": "password"}}, 409),
    "register password under 8 characters": (
        "POST",
        "/auth/register",
        {"json": {"username": "shortpw", "password": "Sekr1t!"}},
        422,
    ),
    "login password over 72 bytes": ("POST", "/auth/login", {"data": {"username": "user1", "password": "p" * 73}}, 422),
    "login nul username": ("POST", "/auth/login", {"data": {"username": "user\x001", "password": "p"}}, 422),
    "login missing fields": ("POST", "/auth/login", {"data": {}}, 422),
    "limit negative": ("GET", "/posts/?limit=-1", {}, 422),
    "limit zero": ("GET", "/posts/?limit=0", {}, 422),
    "limit over max": ("GET", "/posts/?limit=101", {}, 422),
    "limit huge": ("GET", "/posts/?limit=100000000000000000000000000", {}, 422),
    "limit not a number": ("GET", "/posts/?limit=ten", {}, 422),
    "cursor negative": ("GET", "/posts/?before=-5", {}, 422),
    "post id not a number": ("GET", "/posts/abc", {}, 422),
    "post id beyond bigint": ("GET", f"/posts/{2**63}", {}, 422),
    "unknown post": ("GET", "/posts/9000000000", {}, 404),
    "body over limit": ("POST", "/posts/", {"json": {"title": "t", "content": "c" * MAX_BODY}, "auth": True}, 413),
}
CASES |= {
    f"token {name}": ("POST", "/posts/", {"json": GOOD_POST, "token": header}, 401)
    for name, header in BAD_TOKENS.items()
}


@pytest.fixture
def counts_unchanged(postgres: Postgres) -> Iterator[None]:
    """Fails the test if any table gained or lost rows while it ran."""
    before = postgres.row_counts()
    yield
    assert postgres.row_counts() == before


@pytest.mark.usefixtures("counts_unchanged")
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
async def test_bad_input_gets_4xx_json_and_writes_nothing(live_client: httpx.AsyncClient, case: str) -> None:
    method, path, kwargs, expected = CASES[case]
    kwargs = dict(kwargs)
    headers: dict[str, str] = {}
    if kwargs.pop("auth", False):
        headers = await login(live_client)
    if "token" in kwargs:
        token = kwargs.pop("token")
        if token is not None:
            headers["Authorization"] = token
    if "content" in kwargs:
        headers["Content-Type"] = "application/json"
    response = await live_client.request(method, path, headers=headers, **kwargs)
    assert response.status_code == expected, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
    if expected == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if expected == 422:
        _assert_echoes_nothing(response, kwargs)


def _submitted(kwargs: dict[str, Any]) -> list[str]:
    """The string values a case sends in its body (a password among them)."""
    fields: dict[str, Any] = kwargs["json"] if isinstance(kwargs.get("json"), dict) else kwargs.get("data", {})
    return [v for v in fields.values() if isinstance(v, str)]


def _assert_echoes_nothing(response: httpx.Response, kwargs: dict[str, Any]) -> None:
    """A 422 says where and why, never what was sent: no `input` nor `ctx`, no submitted value in the body."""
    for error in response.json()["detail"]:
        assert set(error) <= {"type", "loc", "msg"}, error
    for value in _submitted(kwargs):
        assert len(value) < 5 or value not in response.text, f"{value!r} echoed in {response.text}"


@pytest.mark.usefixtures("counts_unchanged")
async def test_chunked_body_over_limit_gets_413(live_client: httpx.AsyncClient) -> None:
    headers = await login(live_client)
    payload = orjson.dumps({"title": "t", "content": "c" * MAX_BODY})

    async def chunks() -> Any:
        # No Content-Length: the limit must be enforced while the body streams in.
        for i in range(0, len(payload), 8192):
            yield payload[i : i + 8192]

    response = await live_client.post(
        "/posts/", content=chunks(), headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["detail"]


@pytest.mark.usefixtures("counts_unchanged")
async def test_token_of_a_user_that_does_not_exist_gets_401(live_client: httpx.AsyncClient) -> None:
    token = _token({"sub": str(2**62), "exp": FUTURE})
    response = await live_client.post("/posts/", json=GOOD_POST, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["detail"]
