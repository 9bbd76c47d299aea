"""Small helpers the API tests share (no fixtures here: those live in conftest.py)."""

from __future__ import annotations

import re

import httpx

from loadlab.services import Postgres


async def login(client: httpx.AsyncClient, username: str = "user1", password: str = "pass1") -> dict[str, str]:
    """Log in through the API as the seed's client does (form fields) and return the bearer header."""
    response = await client.post("/auth/login", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    return {"Authorization": f"Bearer {body['access_token']}"}


def row_counts(postgres: Postgres) -> dict[str, int]:
    out = postgres.psql(
        "SELECT (SELECT count(*) FROM users) || ',' || (SELECT count(*) FROM posts) || ',' || "
        "(SELECT count(*) FROM comments)"
    )
    users, posts, comments = (int(n) for n in out.split(","))
    return {"users": users, "posts": posts, "comments": comments}


def metric(text: str, name: str, labels: str = "") -> float:
    """The value of one series in a Prometheus text exposition; labels as written, e.g. 'result="hit"'."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name}{{{labels}}} not exported"
    return float(match.group(1))


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text
