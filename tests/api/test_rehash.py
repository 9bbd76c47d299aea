"""A good login stores its password hashed at the configured cost when the stored hash has another cost."""

from __future__ import annotations

import httpx
import pytest

from board.security import hash_cost, password_context
from loadlab.services import Api, Postgres
from tests.conftest import TEST_BCRYPT_ROUNDS

from .helpers import counted, scrape

pytestmark = pytest.mark.integration

OTHER_COST = int(TEST_BCRYPT_ROUNDS) + 1


def _stored_hash(postgres: Postgres, username: str) -> str:
    return postgres.psql(f"SELECT password_hash FROM users WHERE username = '{username}'")


async def test_login_rehashes_a_hash_of_another_cost(
    live_api: Api, live_client: httpx.AsyncClient, postgres: Postgres
) -> None:
    stale = password_context(OTHER_COST).hash("rehash-pw")
    postgres.psql(
        f"INSERT INTO users (username, password_hash) VALUES ('rehashed', '{stale}') "
        f"ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash"
    )
    # A wrong password changes nothing.
    assert (await live_client.post("/auth/login", data={"username": "rehashed", "password": "nope"})).status_code == 401
    assert _stored_hash(postgres, "rehashed") == stale
    ok = await live_client.post("/auth/login", data={"username": "rehashed", "password": "rehash-pw"})
    assert ok.status_code == 200
    fresh = _stored_hash(postgres, "rehashed")
    assert fresh != stale and hash_cost(fresh) == int(TEST_BCRYPT_ROUNDS)
    assert password_context(int(TEST_BCRYPT_ROUNDS)).verify("rehash-pw", fresh)
    # A hash of the configured cost stays as it is.
    assert (await live_client.post("/auth/login", data={"username": "rehashed", "password": "rehash-pw"})).is_success
    assert _stored_hash(postgres, "rehashed") == fresh


async def test_unknown_user_costs_one_verify_at_the_configured_cost(
    live_api: Api, live_client: httpx.AsyncClient
) -> None:
    """Unknown users verify against a dummy hash of the configured cost, as real users (rehashed) do."""
    before = counted(await scrape(live_api), "board_executor_task_duration_seconds_count", 'task="verify"')
    response = await live_client.post("/auth/login", data={"username": "no-such-user", "password": "whatever"})
    assert response.status_code == 401
    after = counted(await scrape(live_api), "board_executor_task_duration_seconds_count", 'task="verify"')
    assert after == before + 1


def test_hash_cost_reads_bcrypt_hashes_only() -> None:
    assert hash_cost(password_context(5).hash("x")) == 5
    assert hash_cost("$2b$12$" + "a" * 53) == 12
    assert hash_cost("not-a-hash") is None and hash_cost("$argon2id$v=19$m=65536,t=3,p=4$abc$def") is None
