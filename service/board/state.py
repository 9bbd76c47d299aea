"""Everything one app instance owns, built from its settings and closed by its lifespan."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from passlib.context import CryptContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from board import repository
from board.cache import FirstPage
from board.config import Settings
from board.db import create_engine
from board.errors import ExecutorFull
from board.executor import BoundedExecutor
from board.gcpause import GcPauseObserver
from board.metrics import Metrics
from board.sampler import ProcessSampler
from board.security import VerifiedTokens, hash_cost, password_context
from board.throttle import LoginThrottle


@dataclass
class Board:
    settings: Settings
    metrics: Metrics
    engine: AsyncEngine
    tokens: VerifiedTokens
    executor: BoundedExecutor
    passwords: CryptContext
    first_page: FirstPage
    login_throttle: LoginThrottle
    # Verified against for unknown usernames, so a miss costs as much as a wrong password.
    dummy_hash: str = field(default="")
    #: The last readiness answer (monotonic time, status, body), reused for a second by `/readyz`.
    readiness: tuple[float, int, dict[str, str]] | None = field(default=None)
    gc_observer: GcPauseObserver = field(init=False)
    sampler: ProcessSampler = field(init=False)

    def __post_init__(self) -> None:
        self.gc_observer = GcPauseObserver(self.metrics.gc_pause)
        self.sampler = ProcessSampler(self.metrics)

    @classmethod
    def build(cls, settings: Settings, process: str = "0") -> Board:
        """Everything one API process owns; `settings` are this process's share (`Settings.for_process`)."""
        metrics = Metrics(
            bcrypt_rounds=settings.bcrypt_rounds,
            hash_in_executor=settings.hash_in_executor,
            cache_enabled=settings.cache_active,
            process=process,
        )
        engine = create_engine(settings, metrics)
        return cls(
            settings=settings,
            metrics=metrics,
            engine=engine,
            tokens=VerifiedTokens(settings.jwt_secret),
            executor=BoundedExecutor(
                settings.executor_workers,
                settings.executor_queue_limit,
                metrics,
                inline=not settings.hash_in_executor,
                nice=settings.executor_nice,
                max_wait=settings.executor_max_wait_seconds,
            ),
            passwords=password_context(settings.bcrypt_rounds),
            first_page=FirstPage(
                settings.redis_url,
                settings.cache_ttl_seconds,
                metrics,
                settings.page_default_limit,
                enabled=settings.cache_enabled,
                write_through=settings.cache_write_through,
            ),
            login_throttle=LoginThrottle(
                settings.redis_url,
                per_account=settings.login_max_failures_per_account,
                per_address=settings.login_max_failures_per_address,
                window_seconds=settings.login_failure_window_seconds,
                metrics=metrics,
            ),
        )

    def connect(self) -> AsyncConnection:
        """A pooled connection for one route's statements (`async with board.connect() as conn`): autocommit, so
        each statement commits; the connection goes back when the block ends."""
        return self.engine.connect()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """`connect()` for a route's write statement, timing its round trip (autocommit: its commit included) once
        the connection is checked out: the commit latency of `board_db_write_duration_seconds`. A statement that
        waits for a lock or a slow WAL flush shows here, not in the pool's checkout wait."""
        async with self.connect() as conn:
            start = time.perf_counter()
            try:
                yield conn
            finally:
                self.metrics.db_write.observe(time.perf_counter() - start)

    async def hash_password(self, password: str) -> str:
        return await self.executor.run("hash", self.passwords.hash, password)

    async def verify_password(self, password: str, password_hash: str | None) -> bool:
        ok = await self.executor.run("verify", self.passwords.verify, password, password_hash or self.dummy_hash)
        return ok and password_hash is not None

    async def rehash_if_stale(self, user_id: int, password: str, password_hash: str) -> bool:
        """After a good login, store the password hashed at the configured cost if its hash has another one (a
        preset changed the cost): weak hashes do not linger, and every user's login costs what an unknown user's
        does (the dummy hash has the configured cost). Only with a bcrypt worker idle: a busy API rehashes at a
        later login rather than refuse or delay anyone. True when it rehashed."""
        if hash_cost(password_hash) == self.settings.bcrypt_rounds or not self.executor.has_idle_worker():
            return False
        try:
            new = await self.hash_password(password)
        except ExecutorFull:
            return False
        async with self.write() as conn:
            await repository.replace_password_hash(conn, user_id, password_hash, new)
        return True

    async def startup(self) -> None:
        self.dummy_hash = await self.executor.run("hash", self.passwords.hash, "board-dummy-password")
        self.gc_observer.install()
        self.sampler.start()

    async def shutdown(self) -> None:
        await self.sampler.stop()
        self.gc_observer.remove()
        await self.first_page.close()
        await self.login_throttle.close()
        await self.engine.dispose()
        self.executor.shutdown()
