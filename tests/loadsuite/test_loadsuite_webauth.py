"""Locust's web UI login (`--web-login`) as the plugin implements it: the check, and a real master behind it."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from locust_helpers import LOCUST_DIR, wait_for

from loadlab.process import free_port
from loadsuite import webauth

SEED_LOCUSTFILE = Path(__file__).resolve().parents[1] / "fixtures" / "seed_locustfile.py"
#: Someone else's locustfile with our plugin loaded beside it, as the chart runs it.
BESIDE_SEED = f"{LOCUST_DIR / 'loadlab_plugin.py'},{SEED_LOCUSTFILE}"
PASSWORD = "correct-horse-battery-staple"


def test_credentials_must_both_match() -> None:
    assert webauth.credentials_match("perf", PASSWORD, "perf", PASSWORD)
    assert not webauth.credentials_match("perf", PASSWORD + "x", "perf", PASSWORD)
    assert not webauth.credentials_match("admin", PASSWORD, "perf", PASSWORD)
    assert not webauth.credentials_match("", "", "perf", PASSWORD)


def test_no_or_weak_password_refuses_to_start() -> None:
    with pytest.raises(webauth.WebAuthError, match=webauth.PASSWORD_ENV):
        webauth.password_from_env({})
    with pytest.raises(webauth.WebAuthError, match="at least"):
        webauth.password_from_env({webauth.PASSWORD_ENV: "short"})
    assert webauth.password_from_env({webauth.PASSWORD_ENV: PASSWORD}) == PASSWORD


class Browser:
    """urllib with a cookie jar: follows redirects, keeps Flask's session cookie."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[str, str]:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.url.removeprefix(self.base), response.read().decode()

    def login(self, username: str, password: str) -> str:
        form = urllib.parse.urlencode({"username": username, "password": password}).encode()
        with self.opener.open(self.base + webauth.SUBMIT_PATH, data=form, timeout=10) as response:
            return response.url.removeprefix(self.base)


def test_a_master_with_web_login_lets_in_only_the_right_password(locust_procs) -> None:
    """The seed's locustfile beside the plugin file, as the chart runs someone else's test with webLogin on."""
    port = free_port()
    locust_procs.start(
        "master",
        *["--web-login", "--web-username", "perf", "--web-host", "127.0.0.1", "--web-port", str(port)],
        *["--web-base-path", "/locust", "-H", "http://127.0.0.1:9"],
        locustfile=BESIDE_SEED,
        env={webauth.PASSWORD_ENV: PASSWORD},
    )
    browser = Browser(f"http://127.0.0.1:{port}/locust")
    wait_for(lambda: browser.get("/login"), 30, what=f"the web UI on {port}\n{locust_procs.logs()}")
    landed, _ = browser.get("/stats/requests")
    assert landed.startswith("/login"), "not logged in: every page sends you to the login"
    assert browser.login("perf", "wrong-password-here").startswith("/login")
    assert browser.get("/stats/requests")[0].startswith("/login")
    assert browser.login("perf", PASSWORD) == "/"
    landed, body = browser.get("/stats/requests")
    assert landed == "/stats/requests" and '"user_count"' in body


def test_web_login_without_a_password_exits_2(locust_procs) -> None:
    web = ["--web-host", "127.0.0.1", "--web-port", str(free_port())]
    proc = locust_procs.start("master", "--web-login", *web, "-H", "http://127.0.0.1:9", locustfile=BESIDE_SEED)
    assert proc.wait(60) == 2
    assert webauth.PASSWORD_ENV in locust_procs.log("master")


def test_without_web_login_the_ui_stays_open(locust_procs) -> None:
    port = free_port()
    web = ["--web-host", "127.0.0.1", "--web-port", str(port)]
    locust_procs.start("master", *web, "-H", "http://127.0.0.1:9", locustfile=BESIDE_SEED)
    browser = Browser(f"http://127.0.0.1:{port}")
    landed, _ = wait_for(lambda: browser.get("/stats/requests"), 30, what=f"the web UI\n{locust_procs.logs()}")
    assert landed == "/stats/requests"


def test_an_unreachable_page_is_not_served_before_login(locust_procs) -> None:
    """Not even the JSON a script would read (Locust guards every route it registers with the login)."""
    port = free_port()
    web = ["--web-host", "127.0.0.1", "--web-port", str(port)]
    env = {webauth.PASSWORD_ENV: PASSWORD}
    locust_procs.start("master", "--web-login", *web, "-H", "http://127.0.0.1:9", locustfile=BESIDE_SEED, env=env)
    browser = Browser(f"http://127.0.0.1:{port}")
    wait_for(lambda: browser.get("/login"), 30, what="the web UI")
    for path in ("/stats/requests", "/swarm", "/stop", "/logs"):
        try:
            landed, body = browser.get(path)
        except urllib.error.HTTPError as exc:
            assert exc.code in (401, 405), path
            continue
        assert landed.startswith("/login") and '"user_count"' not in body, path
