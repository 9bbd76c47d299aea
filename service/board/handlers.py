"""The one place that turns exceptions into JSON error responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from sqlalchemy import exc as sa_exc
from starlette.responses import Response

from board.errors import BoardError, DatabaseUnavailable, InvalidCredentials, InvalidToken, Overloaded, PoolTimeout
from board.responses import json_response

log = logging.getLogger(__name__)


def _board_error(request: Request, error: BoardError) -> Response:
    headers: dict[str, str] = {}
    if isinstance(error, InvalidToken | InvalidCredentials):
        headers["WWW-Authenticate"] = "Bearer"
    if error.status_code == 503:
        headers["Retry-After"] = str(request.app.state.board.settings.retry_after_seconds)
    if isinstance(error, Overloaded):
        request.app.state.board.metrics.overload.labels(error.reason).inc()
    return json_response({"detail": error.detail}, error.status_code, headers)


async def board_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, BoardError)
    return _board_error(request, error)


async def pool_timeout(request: Request, error: Exception) -> Response:
    return _board_error(request, PoolTimeout())


async def database_unavailable(request: Request, error: Exception) -> Response:
    # Only connection-level failures land here; anything else is a bug and stays a 500.
    log.warning("database unavailable: %r", error)
    return _board_error(request, DatabaseUnavailable())


def install(app: FastAPI) -> None:
    app.add_exception_handler(BoardError, board_error)
    app.add_exception_handler(sa_exc.TimeoutError, pool_timeout)
    app.add_exception_handler(sa_exc.InterfaceError, database_unavailable)
    app.add_exception_handler(sa_exc.OperationalError, database_unavailable)
    app.add_exception_handler(ConnectionError, database_unavailable)
