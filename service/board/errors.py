"""Domain exceptions raised below the routes; `handlers.py` maps each to a JSON response."""

from __future__ import annotations


class BoardError(Exception):
    status_code = 400
    detail = "bad request"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail


class PostNotFound(BoardError):
    status_code = 404
    detail = "post not found"


class UsernameTaken(BoardError):
    status_code = 409
    detail = "username already taken"


class InvalidCredentials(BoardError):
    status_code = 401
    detail = "incorrect username or password"


class InvalidToken(BoardError):
    status_code = 401
    detail = "invalid or expired token"


class TooManyFailedLogins(BoardError):
    """Answered with 429 + Retry-After (the seconds left in the failure window): `board.throttle`."""

    status_code = 429
    detail = "too many failed logins: try again later"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class Overloaded(BoardError):
    """Answered with 503 + Retry-After; `reason` is the `board_overload_rejections_total` label."""

    status_code = 503
    reason = "overload"


class ExecutorFull(Overloaded):
    detail = "server busy: password hashing queue full"
    reason = "executor_full"


class InFlightFull(Overloaded):
    """`BOARD_MAX_REQUESTS_IN_FLIGHT` requests are being served: refused before routing (`board.middleware`)."""

    detail = "server busy: too many requests in flight"
    reason = "in_flight_full"


class PoolTimeout(Overloaded):
    detail = "server busy: no database connection available"
    reason = "pool_timeout"


class PoolQueueFull(Overloaded):
    """Every connection is out and `BOARD_DB_POOL_QUEUE_LIMIT` requests already wait: refused without waiting."""

    detail = "server busy: too many requests waiting for a database connection"
    reason = "pool_queue_full"


class PoolQueueStanding(Overloaded):
    """No checkout has been quick, nor the queue empty, for `BOARD_DB_POOL_STANDING_QUEUE_SECONDS` (CoDel)."""

    detail = "server busy: requests have been waiting for a database connection without a break"
    reason = "pool_queue_standing"


class DatabaseUnavailable(BoardError):
    status_code = 503
    detail = "database unavailable"
