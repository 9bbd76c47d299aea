"""Small helpers the API tests share (no fixtures here: those live in conftest.py)."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from loadlab.services import Api


async def login(client: httpx.AsyncClient, username: str = "user1", password: str = "pass1") -> dict[str, str]:
    """Log in through the API as the seed's client does (form fields) and return the bearer header."""
    response = await client.post("/auth/login", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    return {"Authorization": f"Bearer {body['access_token']}"}


def _series(text: str, name: str, labels: str) -> float | None:
    """One series' value, labels matched as a set (a multiprocess exposition orders them its own way)."""
    wanted = dict(re.findall(r'(\w+)="([^"]*)"', labels))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == wanted:
                return float(sample.value)
    return None


def metric(text: str, name: str, labels: str = "") -> float:
    """The value of one series in a Prometheus text exposition; labels as written, e.g. 'result="hit"'."""
    value = _series(text, name, labels)
    assert value is not None, f"{name}{{{labels}}} not exported"
    return value


def counted(text: str, name: str, labels: str = "") -> float:
    """A counter's value, 0 when the series does not exist yet (a label set is born at its first increment)."""
    value = _series(text, name, labels)
    return 0.0 if value is None else value


async def scrape(api: Api) -> str:
    """The API's `/metrics` (every process of the instance summed, served by its supervisor on its own port)."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(api.metrics_url)
    assert response.status_code == 200
    return response.text
