"""Driver errors: 'the database is unreachable' is a 503 with Retry-After; any other driver error stays a 500."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from board import handlers
from board.metrics import Metrics


class FakeDriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def app_raising(sqlstate: str) -> FastAPI:
    app = FastAPI()
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    app.state.board = SimpleNamespace(settings=SimpleNamespace(retry_after_seconds=3), metrics=metrics)
    handlers.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise sa_exc.DBAPIError("SELECT 1", {}, FakeDriverError(sqlstate))

    return app


@pytest.mark.parametrize(
    ("sqlstate", "status"),
    [
        ("08P01", 503),  # PgBouncer: "server login has been failing, try again later (server_login_retry)"
        ("57P03", 503),  # Postgres: the database system is starting up
        ("57P01", 503),  # admin shutdown
        ("53100", 503),  # disk full: could not extend a table's file
        ("53300", 503),  # too many connections
        ("42P01", 500),  # undefined table: a bug, not an outage
    ],
)
async def test_driver_errors_map_by_sqlstate(sqlstate: str, status: int) -> None:
    transport = httpx.ASGITransport(app=app_raising(sqlstate), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom")
    assert response.status_code == status
    assert response.headers.get("Retry-After") == ("3" if status == 503 else None)
    assert "detail" in response.json()
