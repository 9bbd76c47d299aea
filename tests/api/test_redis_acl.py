"""Redis' ACL users (helm/loadlab/files/redis-users.conf) on a real redis-server: the API works as its own user and
no command it sends is refused; that user, and the exporter's, cannot do anything else; nobody logs in unnamed."""

from __future__ import annotations

import httpx
import pytest
import redis as redis_sync
from redis.exceptions import AuthenticationError, NoPermissionError

from board.cache import PAGE_KEY
from loadlab.services import REDIS_EXPORTER_USER, Api, Redis

from .helpers import login

pytestmark = pytest.mark.integration


def _refusals(admin: redis_sync.Redis, user: str) -> list[str]:
    """The commands (or keys) Redis refused to `user` since the log was reset: `ACL LOG` entries."""
    return [f"{e['reason']}: {e['object']}" for e in admin.acl_log() if e["username"] == user]


async def test_the_api_runs_on_its_own_user_and_nothing_it_sends_is_refused(
    live_api: Api, live_client: httpx.AsyncClient, redis_server: Redis
) -> None:
    with redis_sync.Redis.from_url(redis_server.admin_url, decode_responses=True) as admin:
        admin.acl_log_reset()
        admin.script_flush()  # the API must load its scripts again (SCRIPT EXISTS/LOAD), under its user
        admin.delete(PAGE_KEY)  # a miss: the refill script runs
        assert (await live_client.get("/posts/")).status_code == 200
        assert (await live_client.get("/posts/")).status_code == 200  # a hit
        wrong = await live_client.post("/auth/login", data={"username": "user2", "password": "not it"})
        assert wrong.status_code == 401  # a failure counted (a script in a pipeline)
        # Checked first (GET/PTTL), then the account's count cleared (DEL).
        headers = await login(live_client, "user2", "pass2")
        created = await live_client.post("/posts/", json={"title": "acl", "content": "x"}, headers=headers)
        assert created.status_code == 201  # write-through: the page edited by a script
        listed = await live_client.get("/posts/")
        assert listed.status_code == 200 and listed.json()[0]["title"] == "acl"
        assert _refusals(admin, "board") == []
        ready = await live_client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["redis"] == "ok"

        # The log does see a refusal (so the empty list above means something).
        with redis_sync.Redis.from_url(redis_server.url) as api_user, pytest.raises(NoPermissionError):
            api_user.flushall()
        assert _refusals(admin, "board") == ["command: flushall"]


def test_the_api_user_reaches_its_keys_and_commands_only(redis_server: Redis) -> None:
    with redis_sync.Redis.from_url(redis_server.url) as api_user:
        assert api_user.ping()
        api_user.set("board:login:account:acl-test", 1, px=5000)  # its own patterns work
        for forbidden in (
            api_user.flushall,
            api_user.flushdb,
            lambda: api_user.config_get("*"),
            lambda: api_user.config_set("maxmemory", "1"),
            lambda: api_user.keys("*"),
            lambda: api_user.scan(0),
            lambda: api_user.get("session:other-app"),  # a key outside its patterns
            lambda: api_user.set("board:other", 1),  # its prefix, not its patterns
            lambda: api_user.eval("return 1", 0),  # only its registered scripts (EVALSHA)
            lambda: api_user.execute_command("ACL", "LIST"),
            lambda: api_user.execute_command("SHUTDOWN"),
        ):
            with pytest.raises(NoPermissionError):
                forbidden()


def test_the_exporter_user_reads_server_figures_only(redis_server: Redis) -> None:
    url = f"redis://{REDIS_EXPORTER_USER}:{redis_server.exporter_password}@127.0.0.1:{redis_server.port}/0"
    with redis_sync.Redis.from_url(url) as exporter:
        assert exporter.info("server")["redis_version"]
        assert "maxmemory" in exporter.config_get("maxmemory")
        for forbidden in (
            lambda: exporter.get(PAGE_KEY),
            lambda: exporter.set("x", 1),
            exporter.flushall,
            lambda: exporter.config_set("maxmemory", "1"),
            lambda: exporter.keys("*"),
        ):
            with pytest.raises(NoPermissionError):
                forbidden()


def test_nobody_logs_in_without_a_name(redis_server: Redis) -> None:
    anonymous = redis_sync.Redis(host="127.0.0.1", port=redis_server.port)
    with anonymous, pytest.raises(AuthenticationError):  # NOAUTH: the default user is off
        anonymous.ping()
    as_default = redis_sync.Redis(host="127.0.0.1", port=redis_server.port, password=redis_server.password)
    with as_default, pytest.raises(AuthenticationError):  # the API's password without its name: the default user
        as_default.ping()
