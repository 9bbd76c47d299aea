"""Username and password for Locust's web UI (`--web-login`), checked against the environment.

Locust 2.x dropped `--web-auth user:pass`: `--web-login` only shows a login page and leaves the check to
the locustfile (docs: extending-locust, "Authentication"; `examples/web_ui_auth/basic.py`). This module is
that check: one account, its name from `--web-username` and its password from `LOADLAB_WEB_PASSWORD` (a
Secret in the chart), never from the command line, where `ps` and Locust's own option dump would show it.

Imported by ``loadsuite.plugin`` only on the master (or a standalone run) with a web UI; it needs Flask and
flask-login, which Locust itself depends on.
"""

from __future__ import annotations

import hmac
import os
import secrets
from typing import Any

PASSWORD_ENV = "LOADLAB_WEB_PASSWORD"
#: A password shorter than this is refused at start: the UI starts and stops tests against real services.
MIN_PASSWORD_LENGTH = 12
SUBMIT_PATH = "/loadlab-login"


class WebAuthError(ValueError):
    """--web-login cannot be honoured (no password, or a weak one): the master must not start."""


def password_from_env(environ: dict[str, str] | None = None) -> str:
    """The UI password from the environment, or WebAuthError naming the variable."""
    password = (environ if environ is not None else os.environ).get(PASSWORD_ENV, "")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WebAuthError(
            f"--web-login needs {PASSWORD_ENV} (at least {MIN_PASSWORD_LENGTH} characters) for the UI's password"
        )
    return password


def credentials_match(username: str, password: str, want_username: str, want_password: str) -> bool:
    """Constant-time comparison of both fields (a wrong name takes as long as a wrong password)."""
    name_ok = hmac.compare_digest(username.encode(), want_username.encode())
    password_ok = hmac.compare_digest(password.encode(), want_password.encode())
    return name_ok and password_ok


def install(web_ui: Any, username: str, password: str, base_path: str = "") -> None:
    """Give Locust's login page a form that checks `username` / `password`, with a session cookie after it."""
    from flask import Blueprint, redirect, request, session, url_for
    from flask_login import UserMixin, login_user

    class UiUser(UserMixin):  # type: ignore[misc]  # Flask-Login ships no types: UserMixin is Any
        def __init__(self, name: str) -> None:
            self.id = name

    # Signs the session cookie; a new one per process logs everyone out at a restart, which is fine here.
    web_ui.app.config["SECRET_KEY"] = secrets.token_hex(32)
    web_ui.app.config["SESSION_COOKIE_HTTPONLY"] = True
    web_ui.app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    web_ui.login_manager.user_loader(lambda name: UiUser(name) if name == username else None)
    web_ui.auth_args = {"username_password_callback": f"{base_path}{SUBMIT_PATH}"}
    blueprint = Blueprint("loadlab_webauth", __name__, url_prefix=base_path or None)

    @blueprint.route(SUBMIT_PATH, methods=["POST"])
    def login_submit() -> Any:
        given_name = request.form.get("username", "")
        if credentials_match(given_name, request.form.get("password", ""), username, password):
            login_user(UiUser(username))
            return redirect(url_for("locust.index"))
        session["auth_error"] = "Invalid username or password"
        return redirect(url_for("locust.login"))

    web_ui.app.register_blueprint(blueprint)
