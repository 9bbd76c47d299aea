"""The Redis cache of `GET /posts/`'s first page, as ready-to-send JSON bytes.

Correctness: every new post INCRs a version key after its commit, and each cached page carries
the version it was read under. One MGET fetches both; a page tagged with an older version is a
miss. So a refill that raced a new post can never serve a page older than that post.

Availability: any Redis error falls back to Postgres (fail-open) and opens a short breaker, so a
dead Redis costs one timeout per second, not one per request. After an outage the version is
bumped before the first lookup, because posts written meanwhile could not bump it.

Expiry: per process, one coroutine refills a missing page; concurrent misses await its result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from board.metrics import Metrics

log = logging.getLogger(__name__)

VERSION_KEY = "board:posts:version"
PAGE_KEY = "board:posts:first"
BREAKER_OPEN_SECONDS = 1.0
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_MAX_CONNECTIONS = 128
# The errors a broken or unreachable Redis raises through redis-py.
REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


@dataclass(frozen=True)
class CachedPage:
    """A page as sent: its JSON body and the cursor of the next page (None on the last page)."""

    body: bytes
    next_before: int | None

    def encode(self, version: bytes) -> bytes:
        return b"%s\n%d\n%s" % (version, self.next_before or 0, self.body)

    @staticmethod
    def decode(raw: bytes, version: bytes) -> CachedPage | None:
        """None when the entry was written under another version (a post committed since)."""
        tag, _, rest = raw.partition(b"\n")
        if tag != version:
            return None
        cursor, _, body = rest.partition(b"\n")
        return CachedPage(body, int(cursor) or None)


Loader = Callable[[], Awaitable[CachedPage]]


class PostPageCache:
    def __init__(self, redis_url: str, ttl_seconds: float, metrics: Metrics, *, enabled: bool = True) -> None:
        self.enabled = enabled and bool(redis_url)
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._metrics = metrics
        self._redis: Redis | None = None
        if self.enabled:
            # Blocking pool: a burst beyond max_connections waits briefly for a connection instead of
            # raising, which would trip the breaker although Redis is fine. No retries: fail fast, fail open.
            pool = BlockingConnectionPool.from_url(
                redis_url,
                max_connections=REDIS_MAX_CONNECTIONS,
                timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),
            )
            self._redis = Redis.from_pool(pool)
        self._open_until = 0.0
        self._needs_bump = False
        self._inflight: dict[bytes, asyncio.Task[CachedPage]] = {}

    # -- breaker -------------------------------------------------------------------------------
    def _available(self) -> bool:
        return time.monotonic() >= self._open_until

    def _trip(self, error: BaseException) -> None:
        if self._available():
            log.warning("redis unavailable, serving from postgres for %.1fs: %r", BREAKER_OPEN_SECONDS, error)
        self._open_until = time.monotonic() + BREAKER_OPEN_SECONDS
        self._needs_bump = True

    # -- reads ---------------------------------------------------------------------------------
    async def first_page(self, load: Loader) -> CachedPage:
        """The first page, from Redis if fresh, else from `load()` (stored for the next readers)."""
        if self._redis is None:
            self._metrics.cache_lookups.labels("bypass").inc()
            return await load()
        if not self._available():
            self._metrics.cache_lookups.labels("error").inc()
            return await load()
        try:
            if self._needs_bump:
                await self._redis.incr(VERSION_KEY)
                self._needs_bump = False
            version, page = await self._redis.mget(VERSION_KEY, PAGE_KEY)
        except REDIS_ERRORS as e:
            self._trip(e)
            self._metrics.cache_lookups.labels("error").inc()
            return await load()
        version = version or b"0"
        cached = CachedPage.decode(page, version) if page is not None else None
        if cached is not None:
            self._metrics.cache_lookups.labels("hit").inc()
            return cached
        self._metrics.cache_lookups.labels("miss").inc()
        task = self._inflight.get(version)
        if task is None:
            task = asyncio.ensure_future(self._refill(version, load))
            self._inflight[version] = task
            task.add_done_callback(lambda _: self._inflight.pop(version, None))
        # shield: one cancelled (disconnected) reader must not cancel the refill the others await.
        return await asyncio.shield(task)

    async def peek_first_page(self) -> CachedPage | None:
        """The first page on a plain hit (counted), else None and nothing counted: the caller falls back to
        `first_page`, which counts and refills. Serves `FirstPageFastPath`, which skips routing on a hit."""
        if self._redis is None or self._needs_bump or not self._available():
            return None
        try:
            version, page = await self._redis.mget(VERSION_KEY, PAGE_KEY)
        except REDIS_ERRORS:
            return None  # first_page sees the error too, counts it and trips the breaker
        cached = CachedPage.decode(page, version or b"0") if page is not None else None
        if cached is not None:
            self._metrics.cache_lookups.labels("hit").inc()
        return cached

    async def _refill(self, version: bytes, load: Loader) -> CachedPage:
        page = await load()
        try:
            assert self._redis is not None
            await self._redis.set(PAGE_KEY, page.encode(version), px=self._ttl_ms)
        except REDIS_ERRORS as e:
            self._trip(e)
        return page

    def bypass(self) -> None:
        """Count a lookup the cache does not serve (not the first page, or cache off)."""
        self._metrics.cache_lookups.labels("bypass").inc()

    # -- writes --------------------------------------------------------------------------------
    async def invalidate(self) -> None:
        """Called after a post commits, before its 201 goes out."""
        if self._redis is None:
            return
        if not self._available():
            return  # _needs_bump is set: the version moves on before the next cached read
        try:
            await self._redis.incr(VERSION_KEY)
        except REDIS_ERRORS as e:
            self._trip(e)

    # -- health / lifecycle --------------------------------------------------------------------
    async def state(self) -> str:
        if self._redis is None:
            return "disabled"
        try:
            await self._redis.ping()
        except REDIS_ERRORS as e:
            self._trip(e)
            return "down"
        return "ok"

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
