"""Liveness and readiness (`/metrics` is served by the supervisor on its own port: `board.supervisor`)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import Response

from board.deps import BoardDep
from board.responses import json_response

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(board: BoardDep) -> Response:
    """Ready when Postgres answers; Redis is reported but never fails readiness (the cache fails open)."""
    try:
        async with board.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as e:  # any failure means "not ready", and the reason is worth showing
        database = f"down: {type(e).__name__}"
    redis = await board.first_page.state()
    status = 200 if database == "ok" else 503
    headers = {"Retry-After": str(board.settings.retry_after_seconds)} if status == 503 else None
    return json_response({"database": database, "redis": redis}, status, headers)
