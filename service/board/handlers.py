"""The one place that turns exceptions into JSON error responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.responses import Response

from board.errors import (
    BoardError,
    DatabaseUnavailable,
    InvalidCredentials,
    InvalidToken,
    Overloaded,
    PoolTimeout,
    TooManyFailedLogins,
)
from board.metrics import Metrics
from board.responses import json_response

log = logging.getLogger(__name__)


def error_response(error: BoardError, metrics: Metrics, retry_after: int) -> Response:
    """The answer to `error`, wherever it is refused (a route, or a middleware before routing): every 503 has
    `Retry-After: retry_after` (the settings' `retry_after_seconds`) and an overload is counted by its reason."""
    headers: dict[str, str] = {}
    if isinstance(error, InvalidToken | InvalidCredentials):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, TooManyFailedLogins):
        headers["Retry-After"] = str(error.retry_after)
    elif error.status_code == 503:
        headers["Retry-After"] = str(retry_after)
    if isinstance(error, Overloaded):
        metrics.overload.labels(error.reason).inc()
    return json_response({"detail": error.detail}, error.status_code, headers)


def _board_error(request: Request, error: BoardError) -> Response:
    board = request.app.state.board
    return error_response(error, board.metrics, board.settings.retry_after_seconds)


async def board_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, BoardError)
    return _board_error(request, error)


async def pool_timeout(request: Request, error: Exception) -> Response:
    return _board_error(request, PoolTimeout())


async def database_unavailable(request: Request, error: Exception) -> Response:
    # Only connection-level failures land here; anything else is a bug and stays a 500.
    log.warning("database unavailable: %r", error)
    return _board_error(request, DatabaseUnavailable())


#: SQLSTATE classes that mean "the database is not reachable right now": connection exceptions (08), operator
#: intervention (57P: shutdown, cannot connect now), e.g. PgBouncer's "server_login_retry" after a Postgres restart,
#: and insufficient resources (53: disk full, out of memory, too many connections; the disk-full drill's 53100).
UNAVAILABLE_SQLSTATES = ("08", "57P", "53")


async def database_error(request: Request, error: Exception) -> Response:
    """A driver error: 503 when it says the database is unreachable, else the 500 it is (a bug to fix)."""
    assert isinstance(error, sa_exc.DBAPIError)
    sqlstate = str(getattr(error.orig, "sqlstate", "") or getattr(error.orig, "pgcode", "") or "")
    if error.connection_invalidated or sqlstate.startswith(UNAVAILABLE_SQLSTATES):
        return await database_unavailable(request, error)
    log.error("database error", exc_info=error)
    return json_response({"detail": "internal error"}, 500)


#: What a 422 tells of each error: never `input` (it can be a password) nor `ctx` (it can hold the value too).
VALIDATION_ERROR_KEYS = ("type", "loc", "msg")


async def validation_error(request: Request, error: Exception) -> Response:
    """422 with where and why each field failed, never what was sent (FastAPI's default echoes `input`)."""
    assert isinstance(error, RequestValidationError)
    errors = [{key: item[key] for key in VALIDATION_ERROR_KEYS if key in item} for item in error.errors()]
    return json_response({"detail": errors}, 422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(BoardError, board_error)
    app.add_exception_handler(sa_exc.TimeoutError, pool_timeout)
    app.add_exception_handler(sa_exc.InterfaceError, database_unavailable)
    app.add_exception_handler(sa_exc.OperationalError, database_unavailable)
    app.add_exception_handler(ConnectionError, database_unavailable)
    app.add_exception_handler(sa_exc.DBAPIError, database_error)
