"""Liveness, readiness and the Prometheus scrape endpoint."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
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
    redis = await board.cache.state()
    status = 200 if database == "ok" else 503
    headers = {"Retry-After": str(board.settings.retry_after_seconds)} if status == 503 else None
    return json_response({"database": database, "redis": redis}, status, headers)


@router.get("/metrics")
async def metrics(board: BoardDep) -> Response:
    return Response(generate_latest(board.metrics.registry), media_type=CONTENT_TYPE_LATEST)
