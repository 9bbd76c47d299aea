"""The first page of `GET /posts/` in Redis, kept current by the writes themselves (write-through).

The first page is most of the traffic. It used to be dropped on every new post, so at the seed test's ~22 posts/s
a cached page lived ~45 ms and the cache vanished exactly when the load was high. Now a committed post is put
into the cached page by a Lua script (`ADD`), so the page survives writes and is only read from Postgres when it
expires or after an outage.

Keys (one hash slot, so Redis Cluster can run the scripts): `PAGE_KEY` holds what a read sends (`<next cursor>\\n
<JSON body>`); `ROWS_KEY` the page's rows plus one, newest first (`<id> <JSON>` lines), which `ADD` edits;
`VERSION_KEY` counts writes.

Read-your-writes: a post's 201 goes out only after `ADD` ran, and `ADD` is atomic, so any later read (any
process, any replica) sees the post or finds no page and reads Postgres after the commit. A refill may race a
write: it stores its page only if no write happened since it read the version (`STORE`), else a later reader
refills again.

Availability: any Redis error falls back to Postgres (fail-open) and opens a short breaker, so a dead Redis costs
one timeout per second, not one per request. Posts written while Redis was unreachable are not in a page that
survived the outage, so after one the page is dropped before the next lookup (`RESET`).

Expiry: per process, one coroutine refills a missing page; concurrent misses await its result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from starlette.types import Scope

from board.metrics import Metrics
from board.responses import next_page_link

log = logging.getLogger(__name__)

VERSION_KEY = "board:{posts}:version"
PAGE_KEY = "board:{posts}:page"
ROWS_KEY = "board:{posts}:rows"
KEYS = (VERSION_KEY, PAGE_KEY, ROWS_KEY)
BREAKER_OPEN_SECONDS = 1.0
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_MAX_CONNECTIONS = 128
# The errors a broken or unreachable Redis raises through redis-py.
REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


def fail_fast_redis(url: str, max_connections: int) -> Redis:
    """A Redis client that fails fast so its callers fail open: one short timeout for everything, no retries.

    Blocking pool: a burst beyond `max_connections` waits briefly for a connection instead of raising, which
    would trip a breaker although Redis is fine.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
        # No CLIENT SETINFO on each new connection: Redis' ACL user for the API (helm/loadlab/files/redis-users.conf)
        # allows only the commands the cache and the throttle send.
        driver_info=None,
    )
    return Redis.from_pool(pool)


#: Where `FirstPageFastPath` leaves a miss's lookup for the route, so the route does not ask Redis again.
SCOPE_KEY = "board.first_page"

# Store a page read from Postgres, unless a post was written since its version was read (the page may lack it).
STORE = """
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[2])
return 1
"""
# Put a committed post into the cached rows (newest first by id: commits may come out of id order), keep one row
# past the page (it says whether a next page exists), and rewrite what reads send. No page: only count the write.
ADD = """
redis.call('INCR', KEYS[1])
local rows = redis.call('GET', KEYS[3])
if not rows then return 0 end
local id, size, row = tonumber(ARGV[1]), tonumber(ARGV[3]), ARGV[1] .. ' ' .. ARGV[2]
local out, placed = {}, false
for line in string.gmatch(rows, '[^\\n]+') do
  local line_id = tonumber(string.match(line, '^%d+'))
  if line_id == id then return 1 end
  if not placed and id > line_id then out[#out + 1] = row; placed = true end
  out[#out + 1] = line
end
if not placed then out[#out + 1] = row end
while #out > size + 1 do table.remove(out) end
local bodies = {}
for i = 1, math.min(#out, size) do bodies[i] = string.match(out[i], '^%d+ (.*)$') end
local next_before = '0'
if #out > size then next_before = string.match(out[size], '^%d+') end
redis.call('SET', KEYS[3], table.concat(out, '\\n'), 'KEEPTTL')
redis.call('SET', KEYS[2], next_before .. '\\n[' .. table.concat(bodies, ',') .. ']', 'KEEPTTL')
return 1
"""
# After an outage: drop the page (posts written meanwhile are not in it) and outdate refills begun before.
RESET = """
redis.call('INCR', KEYS[1])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
"""


@dataclass(frozen=True)
class CachedPage:
    """A page as sent: its JSON body and the cursor of the next page (None on the last page)."""

    body: bytes
    next_before: int | None

    @staticmethod
    def from_rows(rows: Sequence[Mapping[str, Any]], size: int) -> CachedPage:
        """The page of the first `size` of `rows` (newest first); a row past them means a next page exists."""
        shown = rows[:size]
        return CachedPage(orjson.dumps(list(shown)), shown[-1]["id"] if len(rows) > size else None)

    def encode(self) -> bytes:
        return b"%d\n%s" % (self.next_before or 0, self.body)

    @staticmethod
    def decode(raw: bytes) -> CachedPage:
        cursor, _, body = raw.partition(b"\n")
        return CachedPage(body, int(cursor) or None)


@dataclass(frozen=True)
class Lookup:
    """What a read found: the page (a hit), or the write version it saw (a miss to refill), or neither."""

    page: CachedPage | None = None
    version: bytes | None = None


#: Reads the first page's rows plus one from Postgres.
Loader = Callable[[int], Awaitable[Sequence[Mapping[str, Any]]]]


class FirstPage:
    """The one owner of `GET /posts/`'s first page: which request it is, its cache, its headers."""

    def __init__(
        self,
        redis_url: str,
        ttl_seconds: float,
        metrics: Metrics,
        page_size: int,
        *,
        enabled: bool = True,
        write_through: bool = True,
    ) -> None:
        assert page_size >= 1, "page_size must be >= 1"
        self.enabled = enabled and bool(redis_url)
        #: False: a new post drops the page instead of updating it (the design before write-through, kept so the
        #: `single-process` preset can measure what write-through is worth).
        self.write_through = write_through
        self.page_size = page_size
        self._ttl_ms = str(max(1, int(ttl_seconds * 1000)))
        self._metrics = metrics
        self._redis: Redis | None = None
        if self.enabled:
            self._redis = fail_fast_redis(redis_url, REDIS_MAX_CONNECTIONS)
            self._store = self._redis.register_script(STORE)
            self._add = self._redis.register_script(ADD)
            self._reset = self._redis.register_script(RESET)
        self._open_until = 0.0
        self._needs_reset = False
        self._inflight: dict[bytes, asyncio.Task[CachedPage]] = {}

    # -- which request, which headers ----------------------------------------------------------------------
    @staticmethod
    def matches(scope: Scope) -> bool:
        """The first page is `GET /posts/` with no query: any query (even `?limit=` the default) is another page."""
        return (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"] == "/posts/"
            and not scope["query_string"]
        )

    def headers(self, page: CachedPage) -> list[tuple[bytes, bytes]]:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(page.body)).encode())]
        link = next_page_link(self.page_size, page.next_before)
        if link:
            headers.append((b"link", link.encode()))
        return headers

    # -- breaker -------------------------------------------------------------------------------------------
    def _available(self) -> bool:
        return time.monotonic() >= self._open_until

    def _trip(self, operation: str, error: BaseException) -> None:
        self._metrics.redis_errors.labels(operation).inc()
        if self._available():
            log.warning("redis unavailable, serving from postgres for %.1fs: %r", BREAKER_OPEN_SECONDS, error)
        self._open_until = time.monotonic() + BREAKER_OPEN_SECONDS
        self._needs_reset = True

    async def _call(self, operation: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """One timed Redis round trip; the first one after an outage drops the page first."""
        assert self._redis is not None
        if self._needs_reset:
            await self._timed("reset", lambda: self._reset(keys=KEYS))
            self._needs_reset = False
        return await self._timed(operation, call)

    async def _timed(self, operation: str, call: Callable[[], Awaitable[Any]]) -> Any:
        start = time.perf_counter()
        try:
            return await call()
        finally:
            self._metrics.redis_duration.labels(operation).observe(time.perf_counter() - start)

    # -- reads ---------------------------------------------------------------------------------------------
    async def lookup(self) -> Lookup:
        """One round trip: the page on a hit (counted), else the version to refill under (a miss, counted)."""
        if self._redis is None:
            self._metrics.cache_lookups.labels("bypass").inc()
            return Lookup()
        if not self._available():
            self._metrics.cache_lookups.labels("error").inc()
            return Lookup()
        redis = self._redis
        try:
            page, version = await self._call("lookup", lambda: redis.mget(PAGE_KEY, VERSION_KEY))
        except REDIS_ERRORS as e:
            self._trip("lookup", e)
            self._metrics.cache_lookups.labels("error").inc()
            return Lookup()
        if page is not None:
            self._metrics.cache_lookups.labels("hit").inc()
            return Lookup(page=CachedPage.decode(page))
        self._metrics.cache_lookups.labels("miss").inc()
        return Lookup(version=version or b"0")

    async def get(self, load: Loader, found: Lookup | None = None) -> CachedPage:
        """The first page: `found` (a lookup already made, by `FirstPageFastPath`) or a new lookup, else loaded
        from Postgres by `load` and stored for the next readers (one load per process at a time)."""
        found = found if found is not None else await self.lookup()
        if found.page is not None:
            return found.page
        if found.version is None:  # no cache, or Redis unavailable: Postgres alone
            return CachedPage.from_rows(await load(self.page_size + 1), self.page_size)
        version = found.version
        task = self._inflight.get(version)
        if task is None:
            task = asyncio.ensure_future(self._refill(version, load))
            self._inflight[version] = task
            task.add_done_callback(lambda _: self._inflight.pop(version, None))
        # shield: one cancelled (disconnected) reader must not cancel the refill the others await.
        return await asyncio.shield(task)

    async def _refill(self, version: bytes, load: Loader) -> CachedPage:
        rows = await load(self.page_size + 1)
        page = CachedPage.from_rows(rows, self.page_size)
        lines = b"\n".join(b"%d %s" % (row["id"], orjson.dumps(row)) for row in rows)
        args = (version, self._ttl_ms, page.encode(), lines)
        try:
            await self._call("refill", lambda: self._store(keys=KEYS, args=args))
        except REDIS_ERRORS as e:
            self._trip("refill", e)
        return page

    def bypass(self) -> None:
        """Count a read the cache does not serve (not the first page)."""
        self._metrics.cache_lookups.labels("bypass").inc()

    # -- writes --------------------------------------------------------------------------------------------
    async def add(self, post_id: int, row_json: bytes) -> None:
        """Put a committed post into the cached page; call it before the post's 201 goes out."""
        if self._redis is None:
            return
        if not self._available():
            return  # the page is dropped before the next lookup (`_needs_reset` is set)
        args = (post_id, row_json, self.page_size)
        try:
            if self.write_through:
                await self._call("write", lambda: self._add(keys=KEYS, args=args))
            else:
                await self._call("write", lambda: self._reset(keys=KEYS))
        except REDIS_ERRORS as e:
            self._trip("write", e)

    # -- health / lifecycle --------------------------------------------------------------------------------
    async def state(self) -> str:
        if self._redis is None:
            return "disabled"
        redis = self._redis
        try:
            await self._timed("ping", redis.ping)
        except REDIS_ERRORS as e:
            self._trip("ping", e)
            return "down"
        return "ok"

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
