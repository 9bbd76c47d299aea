"""Every knob of the API, read from `BOARD_` environment variables (names in docs/contracts.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from board.cpus import available_cpus

# Only for BOARD_DEV_MODE=true: a known secret must never sign tokens anywhere real.
DEV_JWT_SECRET = "board-dev-mode-insecure-secret-do-not-deploy"
MIN_JWT_SECRET_LENGTH = 32
#: The driver the API is built for: psycopg 3 (one round trip per statement; see board.db).
DATABASE_URL_SCHEME = "postgresql+psycopg://"


DEV_MODE_WARNING = (
    "board: WARNING: BOARD_DEV_MODE=true: tokens may be signed with a built-in, published secret and /docs is "
    "served. For local experiments only; never deploy this (the chart refuses it)."
)


def describe_errors(error: ValidationError) -> str:
    """Each configuration error as `BOARD_NAME: why`, never the value given: it can be a password or a secret
    (pydantic's own message shows every input, the database URL included)."""
    lines = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(str(part) for part in item["loc"])
        lines.append(f"  {'BOARD_' + field.upper() if field else 'settings'}: {item['msg']}")
    return "\n".join(lines)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOARD_", extra="ignore", use_attribute_docstrings=True)

    workers: int = Field(default_factory=available_cpus, ge=1, le=64)
    """API processes of this instance, one event loop each (default: the CPUs this process may use)."""
    metrics_port: int = Field(9000, ge=1, le=65535)
    """Port of `/metrics` (all processes of the instance summed), apart from the API's port."""
    keep_alive_seconds: int = Field(75, ge=1, le=3600)
    """Seconds an idle client connection stays open: longer than any client's or proxy's gap between requests.
    A server that closes first races the client's next request, which then fails unanswered (a POST is not
    retried); uvicorn's 5 s did, under overload, against the seed mix's 1-3 s waits plus seconds of loop lag."""
    shutdown_drain_seconds: float = Field(3.0, ge=0, le=20)
    """On SIGTERM, seconds during which every response closes its connection before idle ones are closed."""
    database_url: str = Field(repr=False)
    """`postgresql+psycopg://user:pw@host:port/db` (PgBouncer or Postgres)."""
    db_pool_size: int = Field(10, ge=1, le=1000)
    """SQLAlchemy pool size of the instance, split across its processes."""
    db_max_overflow: int = Field(10, ge=0, le=1000)
    """SQLAlchemy max overflow beyond the pool size, for the instance (split across its processes)."""
    db_pool_timeout: float = Field(2.0, gt=0, le=300)
    """Seconds to wait for a pool checkout before answering 503."""
    db_pool_queue_limit: int = Field(64, ge=-1, le=100_000)
    """Requests allowed to wait for a checkout when every connection is out; more get 503 at once (-1: no bound).
    For the instance, split across its processes."""
    db_pool_standing_queue_seconds: float = Field(1.0, ge=0, le=60)
    """Once no checkout has been quick (under 5 % of this) for this long, new waiters get 503 at once (0: off)."""
    db_statement_cache: bool = False
    """Server-side prepared statements for repeated queries (psycopg's prepare threshold); must be false behind
    PgBouncer's transaction mode."""
    db_pool_pre_ping: bool = True
    """Check a connection on checkout, so the API recovers after DB/pooler restarts."""
    redis_url: str = ""
    """`redis://host:port/0`; empty disables the cache."""
    cache_enabled: bool = True
    """Cache the first page of `GET /posts/` in Redis."""
    cache_write_through: bool = True
    """A new post updates the cached page (true) or drops it, to be read again from Postgres (false)."""
    cache_ttl_seconds: float = Field(5.0, gt=0, le=86400)
    """Cache entry lifetime in seconds."""
    bcrypt_rounds: int = Field(12, ge=4, le=31)
    """bcrypt cost factor."""
    hash_in_executor: bool = True
    """False runs hash/verify on the event loop (the seed's baseline)."""
    executor_workers: int = Field(default_factory=available_cpus, ge=1, le=256)
    """bcrypt worker threads of the instance, split across its processes: default the CPUs usable (cgroup quota
    included)."""
    executor_queue_limit: int = Field(64, ge=0, le=100_000)
    """Tasks allowed to wait beyond the busy workers before new ones get a 503 (instance, split)."""
    executor_max_wait_seconds: float = Field(2.0, ge=0, le=300)
    """Seconds a task may wait for a bcrypt worker; one expected (or, not admitted before routing, found) to wait
    longer gets 503 (0: no bound)."""
    executor_nice: int = Field(10, ge=0, le=19)
    """Nice value of the bcrypt threads (Linux, per thread): the event loop preempts hashing (0: same priority)."""
    jwt_secret: str = Field("", repr=False)
    """HS256 signing secret, at least 32 characters (required unless dev mode)."""
    jwt_ttl_seconds: int = Field(3600, ge=1, le=30 * 86400)
    """Access token lifetime in seconds."""
    dev_mode: bool = False
    """Allows the built-in JWT secret (local experiments only)."""
    page_default_limit: int = Field(20, ge=1)
    """`GET /posts/` default page size."""
    page_max_limit: int = Field(100, ge=1, le=10_000)
    """`GET /posts/` maximum page size."""
    max_requests_in_flight: int = Field(256, ge=0, le=100_000)
    """Requests served at once by the instance (split across its processes; health and readiness aside); more get
    503 before routing (0: no limit)."""
    max_body_bytes: int = Field(65536, ge=1024, le=64 * 1024 * 1024)
    """Request bodies above this many bytes get 413."""
    retry_after_seconds: int = Field(1, ge=1, le=3600)
    """`Retry-After` value sent with every 503."""
    login_max_failures_per_account: int = Field(10, ge=0, le=1_000_000)
    """Failed logins of one username within the window before its logins get 429 (0: no account limit; needs
    Redis)."""
    login_max_failures_per_address: int = Field(100, ge=0, le=1_000_000)
    """Failed logins from one client address within the window before its logins get 429 (0: no address limit;
    needs Redis)."""
    login_failure_window_seconds: int = Field(300, ge=1, le=86400)
    """The window counted from an account's (or address's) first failure; its end lifts the limit."""
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    """uvicorn / application log level."""

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not self.jwt_secret:
            if not self.dev_mode:
                raise ValueError("BOARD_JWT_SECRET is required (or set BOARD_DEV_MODE=true for local use)")
            self.jwt_secret = DEV_JWT_SECRET
        elif len(self.jwt_secret) < MIN_JWT_SECRET_LENGTH and not self.dev_mode:
            raise ValueError(f"BOARD_JWT_SECRET must be at least {MIN_JWT_SECRET_LENGTH} characters")
        if self.jwt_secret == DEV_JWT_SECRET and not self.dev_mode:
            raise ValueError("BOARD_JWT_SECRET is the built-in dev secret; set BOARD_DEV_MODE=true or a real secret")
        if self.page_default_limit > self.page_max_limit:
            raise ValueError(
                f"BOARD_PAGE_DEFAULT_LIMIT={self.page_default_limit} exceeds BOARD_PAGE_MAX_LIMIT={self.page_max_limit}"
            )
        if not self.database_url.startswith(DATABASE_URL_SCHEME):
            # Only the scheme is shown: the rest of a URL can hold the password.
            scheme, found, _ = self.database_url.partition("://")
            shown = repr(scheme) if found else "a URL without a scheme"
            raise ValueError(f"BOARD_DATABASE_URL must start with {DATABASE_URL_SCHEME}, not {shown}")
        return self

    @property
    def cache_active(self) -> bool:
        return self.cache_enabled and bool(self.redis_url)

    def for_process(self, index: int, count: int) -> Settings:
        """The settings of process `index` of `count`: each per-instance capacity split so the sums stay the
        instance's (remainders to the first processes); "no bound" values (-1, 0) stay as they are."""
        assert 0 <= index < count, f"process index {index} outside 0..{count - 1}"

        def share(total: int, minimum: int) -> int:
            return max(minimum, total // count + (index < total % count))

        split = {
            "db_pool_size": share(self.db_pool_size, 1),
            "db_max_overflow": share(self.db_max_overflow, 0),
            "executor_workers": share(self.executor_workers, 1),
            "executor_queue_limit": share(self.executor_queue_limit, 0),
        }
        if self.db_pool_queue_limit >= 0:
            split["db_pool_queue_limit"] = share(self.db_pool_queue_limit, 0)
        if self.max_requests_in_flight:
            split["max_requests_in_flight"] = share(self.max_requests_in_flight, 1)
        return self.model_copy(update=split)
