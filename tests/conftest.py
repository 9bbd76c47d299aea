"""Session-wide real services for the integration tests: Postgres, PgBouncer (transaction mode) and Redis.

They are the same classes `loadlab run` uses (`loadlab.services`), started once per test session on free
loopback ports in a throw-away folder, and stopped at the end even when tests fail.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadlab.services import Api, PgBouncer, Postgres, Redis

TEST_JWT_SECRET = "test-secret-" + "x" * 40
#: bcrypt cost in tests: 4 is the minimum and keeps logins cheap; tests about cost set their own.
TEST_BCRYPT_ROUNDS = "4"


@pytest.fixture(scope="session")
def tmp_workdir() -> Iterator[Path]:
    """A work folder the `postgres` account can reach (pytest's own tmp folders are 0700 to root)."""
    path = Path(tempfile.mkdtemp(prefix="loadlab-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(tmp_workdir: Path) -> Iterator[Postgres]:
    """One real Postgres cluster for the session; tests that need a clean slate truncate their tables."""
    pg = Postgres(tmp_workdir).start()
    yield pg
    pg.stop()
    pg.cleanup()


@pytest.fixture(scope="session")
def pgbouncer(tmp_workdir: Path, postgres: Postgres) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of the session's Postgres."""
    bouncer = PgBouncer(tmp_workdir, postgres, pool_size=20).start()
    yield bouncer
    bouncer.stop()
    bouncer.cleanup()


@pytest.fixture(scope="session")
def redis_server(tmp_workdir: Path) -> Iterator[Redis]:
    """A real Redis; tests that stop it must start it again before they end."""
    redis = Redis(tmp_workdir).start()
    yield redis
    redis.stop()


def api_env(database_url: str, redis_url: str = "", **knobs: str) -> dict[str, str]:
    """The API's environment for a test: dev-safe secret, cheap bcrypt, plus the test's own knobs."""
    env = {
        "BOARD_DATABASE_URL": database_url,
        "BOARD_REDIS_URL": redis_url,
        "BOARD_JWT_SECRET": TEST_JWT_SECRET,
        "BOARD_BCRYPT_ROUNDS": TEST_BCRYPT_ROUNDS,
        "BOARD_DB_STATEMENT_CACHE": "false",
        # One process: a test about one pool or one bcrypt thread means exactly that; multi-process tests say so.
        "BOARD_WORKERS": "1",
    }
    env.update(knobs)
    return env


@pytest.fixture(scope="session")
def live_api(tmp_workdir: Path, postgres: Postgres, pgbouncer: PgBouncer, redis_server: Redis) -> Iterator[Api]:
    """The API as a real instance of two processes behind PgBouncer with the Redis cache; migrated, with
    user1..user10."""
    api = Api(tmp_workdir, api_env(pgbouncer.url, redis_server.url, BOARD_WORKERS="2"), name="live-api")
    api.migrate(postgres.owner_url)
    api.seed_users(10)
    api.start()
    yield api
    api.stop()
