"""Failed logins throttled per account and per client address (Redis), only failures counting, failing open."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import redis

from board.errors import TooManyFailedLogins
from board.metrics import Metrics
from board.throttle import LoginThrottle
from loadlab.process import free_port
from loadlab.services import Api, Redis

from .conftest import HTTP_TIMEOUT
from .helpers import metric, scrape

pytestmark = pytest.mark.integration

#: A Redis database of its own: other tests' failed logins from 127.0.0.1 must not count here.
THROTTLE_DB = 5
PER_ACCOUNT = 5
PER_ADDRESS = 12


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", data={"username": username, "password": password})


async def test_failed_logins_are_throttled_per_account_and_per_address(
    start_api: Callable[..., Api], redis_server: Redis
) -> None:
    url = redis_server.url.rpartition("/")[0] + f"/{THROTTLE_DB}"
    admin_url = redis_server.admin_url.rpartition("/")[0] + f"/{THROTTLE_DB}"  # FLUSHDB: not the API's user
    redis.Redis.from_url(admin_url).flushdb()
    api = start_api(
        "throttle",
        redis_url=url,
        BOARD_LOGIN_MAX_FAILURES_PER_ACCOUNT=str(PER_ACCOUNT),
        BOARD_LOGIN_MAX_FAILURES_PER_ADDRESS=str(PER_ADDRESS),
        BOARD_LOGIN_FAILURE_WINDOW_SECONDS="600",
    )
    async with httpx.AsyncClient(base_url=api.url, timeout=HTTP_TIMEOUT) as client:
        # Good logins never count, however many come from one address (the load scenarios' case).
        for _ in range(3 * PER_ADDRESS):
            assert (await _login(client, "user1", "pass1")).status_code == 200
        # 20 wrong passwords for one account: 401 up to the limit, then 429 with the window's remaining seconds.
        statuses = [(await _login(client, "user2", "wrong")) for _ in range(20)]
        assert [r.status_code for r in statuses] == [401] * PER_ACCOUNT + [429] * (20 - PER_ACCOUNT)
        refused = statuses[-1]
        assert 1 <= int(refused.headers["retry-after"]) <= 600 and refused.json()["detail"]
        # The locked account stays locked even with its right password; another account still logs in.
        assert (await _login(client, "user2", "pass2")).status_code == 429
        assert (await _login(client, "user3", "pass3")).status_code == 200
        # Throttled attempts were not counted: the address has PER_ACCOUNT failures; unknown users add the rest.
        for n in range(PER_ADDRESS - PER_ACCOUNT):
            assert (await _login(client, f"nobody{n}", "wrong")).status_code == 401
        assert (await _login(client, "user3", "pass3")).status_code == 429  # the whole address now
    text = await scrape(api)
    assert metric(text, "board_login_throttle_total", 'outcome="account"') == 20 - PER_ACCOUNT + 1
    assert metric(text, "board_login_throttle_total", 'outcome="address"') == 1
    assert metric(text, "board_http_requests_total", 'method="POST",route="/auth/login",status="429"') == 17


async def test_throttle_fails_open_without_redis() -> None:
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    throttle = LoginThrottle(
        f"redis://127.0.0.1:{free_port()}/0", per_account=1, per_address=1, window_seconds=60, metrics=metrics
    )
    try:
        for _ in range(3):
            await throttle.failed("user1", "127.0.0.1")
            seen = await throttle.check("user1", "127.0.0.1")  # no raise: Redis down lets logins through
            assert seen.account_failures == 0
    finally:
        await throttle.close()
    assert metrics.login_throttle.labels("redis_error")._value.get() >= 1


async def test_throttle_refuses_with_the_window_left(redis_server: Redis) -> None:
    url = redis_server.url.rpartition("/")[0] + f"/{THROTTLE_DB + 1}"
    admin_url = redis_server.admin_url.rpartition("/")[0] + f"/{THROTTLE_DB + 1}"  # FLUSHDB: not the API's user
    redis.Redis.from_url(admin_url).flushdb()
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    throttle = LoginThrottle(url, per_account=2, per_address=0, window_seconds=90, metrics=metrics)
    try:
        await throttle.failed("alice", "10.0.0.1")
        assert (await throttle.check("alice", "10.0.0.2")).account_failures == 1
        await throttle.failed("alice", "10.0.0.2")
        with pytest.raises(TooManyFailedLogins) as refused:
            await throttle.check("alice", "10.0.0.3")
        assert 80 <= refused.value.retry_after <= 90
        assert (await throttle.check("bob", "10.0.0.1")).account_failures == 0  # no address limit set
    finally:
        await throttle.close()
