"""The engine (psycopg, autocommit) and its pool's instrumentation and bounds."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from board.config import Settings
from board.errors import PoolQueueFull, PoolQueueStanding
from board.metrics import Metrics

#: psycopg's own default: a statement run this often is prepared server-side (only with BOARD_DB_STATEMENT_CACHE).
PREPARE_THRESHOLD = 5
#: CoDel's target as a share of its interval (its authors' 5 ms of 100 ms).
STANDING_TARGET_SHARE = 0.05


class TimedQueuePool(AsyncAdaptedQueuePool):
    """The async queue pool, timing each checkout (queue wait, connect and pre-ping) for the metrics,
    and refusing a checkout at once when every connection is out and `queue_limit` others already wait.

    SQLAlchemy's pool events fire after a checkout, so they cannot see the wait itself; wrapping
    `connect()` measures exactly what a request waits for. The bound is checked before waiting: without
    it every excess request sits out the whole pool timeout before its 503, holding its client (and
    its socket) that long. `recreate()` keeps the subclass. Counters are touched on the loop thread only.

    A length bound alone still lets a full queue wait the whole timeout when the connections are slow to
    come back (an overloaded event loop holds each one longer). So, as CoDel does, a queue in which no
    checkout has waited less than a target (5 % of the interval) for `standing_after` seconds, and that has
    not emptied meanwhile, is a standing queue, not a burst: a checkout that would join it is refused at
    once, and the queue drains to let the next burst wait again. A queue that keeps moving fast (a few
    requests waiting a few ms each) is not refused, however long it lasts.
    """

    metrics: Metrics | None = None
    #: Checkouts allowed to wait while the pool is exhausted; -1 = no bound (wait up to the pool timeout).
    queue_limit: int = -1
    #: Seconds without a short wait after which new waiters are refused (CoDel's interval); 0 = off.
    standing_after: float = 0.0
    waiting: int = 0
    _moving_at: float = 0.0  # the last moment the queue was empty or a checkout waited under the target

    @property
    def standing_target(self) -> float:
        """A wait this short means the queue is moving (CoDel's target: 5 % of its interval)."""
        return self.standing_after * STANDING_TARGET_SHARE

    def exhausted(self) -> bool:
        """Every connection the pool may open is checked out (SQLAlchemy's max_overflow -1 never exhausts)."""
        return self._max_overflow >= 0 and self.checkedout() >= self.size() + self._max_overflow

    def standing_queue(self, now: float) -> bool:
        return self.standing_after > 0 and self.waiting > 0 and now - self._moving_at > self.standing_after

    def connect(self) -> Any:
        start = time.perf_counter()
        if not self.waiting:
            self._moving_at = start
        must_wait = self.exhausted()
        if must_wait and 0 <= self.queue_limit <= self.waiting:
            raise PoolQueueFull()
        if must_wait and self.standing_queue(start):
            raise PoolQueueStanding()
        self.waiting += must_wait
        try:
            return super().connect()
        except exc.TimeoutError:
            if self.metrics is not None:
                self.metrics.pool_timeouts.inc()
            raise
        finally:
            self.waiting -= must_wait
            now = time.perf_counter()
            if not self.waiting or now - start <= self.standing_target:
                self._moving_at = now
            if self.metrics is not None:
                self.metrics.pool_wait.observe(now - start)


def create_engine(settings: Settings, metrics: Metrics | None = None) -> AsyncEngine:
    # psycopg sends parse, bind and execute together (one round trip) and, with no threshold, never prepares a
    # named statement, which PgBouncer's transaction mode cannot follow across server connections.
    connect_args: dict[str, Any] = {"prepare_threshold": PREPARE_THRESHOLD if settings.db_statement_cache else None}
    pool_class = type(
        "BoardPool",
        (TimedQueuePool,),
        {
            "metrics": metrics,
            "queue_limit": settings.db_pool_queue_limit,
            "standing_after": settings.db_pool_standing_queue_seconds,
        },
    )
    engine = create_async_engine(
        settings.database_url,
        poolclass=pool_class,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=settings.db_pool_pre_ping,
        connect_args=connect_args,
        # Autocommit: every query of `board.repository` is one statement, its own transaction; BEGIN and COMMIT
        # were two of a write's four round trips.
        isolation_level="AUTOCOMMIT",
    )
    if metrics is not None:
        pool = engine.sync_engine.pool
        assert isinstance(pool, TimedQueuePool)  # the pool_class above
        metrics.live("board_db_pool_connections_in_use", "Connections checked out of the pool", pool.checkedout)
        metrics.live("board_db_pool_connections_idle", "Connections idle in the pool", pool.checkedin)
        # SQLAlchemy counts overflow from -pool_size; only the part beyond the pool is overflow.
        metrics.live("board_db_pool_overflow", "Overflow connections open", lambda: max(0, pool.overflow()))
        metrics.live("board_db_pool_size", "Configured pool size", lambda: settings.db_pool_size)
        metrics.live("board_db_pool_max_overflow", "Configured max overflow", lambda: settings.db_max_overflow)
    return engine
