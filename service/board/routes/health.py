"""Liveness and readiness (`/metrics` is served by the supervisor on its own port: `board.supervisor`)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import Response

from board.deps import BoardDep
from board.responses import json_response
from board.state import Board

router = APIRouter(tags=["health"])
#: How long a readiness answer is reused: probes from every kubelet, load balancer and curious client cost one
#: database and one Redis round trip per process per second at most.
READY_CACHE_SECONDS = 1.0


@router.get("/healthz")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(board: BoardDep) -> Response:
    """Ready when Postgres answers; Redis is reported but never fails readiness (the cache fails open). The
    answer is reused for `READY_CACHE_SECONDS`."""
    now = time.monotonic()
    cached = board.readiness
    if cached is None or now - cached[0] >= READY_CACHE_SECONDS:
        cached = board.readiness = (now, *(await _check(board)))
    _, status, body = cached
    headers = {"Retry-After": str(board.settings.retry_after_seconds)} if status == 503 else None
    return json_response(body, status, headers)


async def _check(board: Board) -> tuple[int, dict[str, str]]:
    try:
        async with board.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as e:  # any failure means "not ready", and the reason is worth showing
        database = f"down: {type(e).__name__}"
    redis = await board.first_page.state()
    return 200 if database == "ok" else 503, {"database": database, "redis": redis}
