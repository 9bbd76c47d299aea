"""Failed logins counted per account and per client address in Redis: past a limit, 429 until the window ends.

Only failures count, so any number of good logins (the load scenarios' thousand users from one address) is never
throttled. A throttled attempt is refused before its user is looked up or its password hashed, and is not itself
counted (the lock ends with the window that started at the first failure). A good login clears its account's
count, never its address's (an attacker with one account of their own cannot reset the address limit).

Fail-open like the cache: any Redis error lets the login through and opens a short breaker, so a dead Redis costs
one timeout per second, not one per login. Without a Redis URL there is no throttle.

Keys: `board:login:account:<username>` and `board:login:address:<ip>`, each a counter whose expiry is set by the
failure that created it (a fixed window). Each key is one command's only key, so Redis Cluster is fine.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from board.cache import BREAKER_OPEN_SECONDS, REDIS_ERRORS, fail_fast_redis
from board.errors import TooManyFailedLogins
from board.metrics import Metrics

log = logging.getLogger(__name__)

ACCOUNT_PREFIX = "board:login:account:"
ADDRESS_PREFIX = "board:login:address:"
REDIS_MAX_CONNECTIONS = 32
# Count one failure; the failure that creates the counter starts its window.
COUNT_FAILURE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


@dataclass(frozen=True)
class Seen:
    """What the check found: the account's failures so far (a good login then clears them)."""

    account_failures: int = 0


class LoginThrottle:
    def __init__(
        self, redis_url: str, *, per_account: int, per_address: int, window_seconds: int, metrics: Metrics
    ) -> None:
        assert per_account >= 0 and per_address >= 0 and window_seconds >= 1
        self.per_account = per_account
        self.per_address = per_address
        self.enabled = bool(redis_url) and bool(per_account or per_address)
        self._window_ms = str(window_seconds * 1000)
        self._metrics = metrics
        self._open_until = 0.0
        self._redis: Redis | None = None
        if self.enabled:
            self._redis = fail_fast_redis(redis_url, REDIS_MAX_CONNECTIONS)
            self._count = self._redis.register_script(COUNT_FAILURE)

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        return ACCOUNT_PREFIX + username, ADDRESS_PREFIX + address

    def _usable(self) -> Redis | None:
        return self._redis if self._redis is not None and time.monotonic() >= self._open_until else None

    def _trip(self, error: BaseException) -> None:
        self._metrics.login_throttle.labels("redis_error").inc()
        if time.monotonic() >= self._open_until:
            log.warning("redis unavailable, logins not throttled for %.1fs: %r", BREAKER_OPEN_SECONDS, error)
        self._open_until = time.monotonic() + BREAKER_OPEN_SECONDS

    async def check(self, username: str, address: str) -> Seen:
        """Raise `TooManyFailedLogins` while the account or the address is over its limit (one round trip)."""
        redis = self._usable()
        if redis is None:
            return Seen()
        account, source = self._keys(username, address)
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for key in (account, source):
                    pipe.get(key)
                    pipe.pttl(key)
                account_n, account_ttl, source_n, source_ttl = await pipe.execute()
        except REDIS_ERRORS as e:
            self._trip(e)
            return Seen()
        account_n, source_n = int(account_n or 0), int(source_n or 0)
        over = []
        if self.per_account and account_n >= self.per_account:
            over.append(("account", account_ttl))
        if self.per_address and source_n >= self.per_address:
            over.append(("address", source_ttl))
        if over:
            for which, _ in over:
                self._metrics.login_throttle.labels(which).inc()
            wait_ms = max(ttl for _, ttl in over)
            raise TooManyFailedLogins(retry_after=max(1, math.ceil(wait_ms / 1000)))
        return Seen(account_failures=account_n)

    async def failed(self, username: str, address: str) -> None:
        redis = self._usable()
        if redis is None:
            return
        account, source = self._keys(username, address)
        try:
            async with redis.pipeline(transaction=False) as pipe:
                if self.per_account:
                    await self._count(keys=[account], args=[self._window_ms], client=pipe)
                if self.per_address:
                    await self._count(keys=[source], args=[self._window_ms], client=pipe)
                await pipe.execute()
        except REDIS_ERRORS as e:
            self._trip(e)

    async def succeeded(self, username: str, seen: Seen) -> None:
        """A good login clears its account's failures (a round trip only when there were some)."""
        redis = self._usable()
        if redis is None or not seen.account_failures:
            return
        try:
            await redis.delete(ACCOUNT_PREFIX + username)
        except REDIS_ERRORS as e:
            self._trip(e)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
