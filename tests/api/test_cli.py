"""`python -m board`: migrate and seed-users are idempotent; a bad configuration stops it with a message."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from loadlab.services import Postgres
from tests.conftest import api_env

pytestmark = pytest.mark.integration


def board(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BOARD_")}
    return subprocess.run(
        [sys.executable, "-m", "board", *args], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_migrate_twice_and_seed_users_is_idempotent(postgres: Postgres) -> None:
    env = api_env(postgres.url)
    for _ in range(2):
        assert board("migrate", env=env).returncode == 0
    assert postgres.psql("SELECT version_num FROM alembic_version") == "0001"
    board("seed-users", "--count", "7", env=env)
    again = board("seed-users", "--count", "7", env=env)
    assert again.returncode == 0 and "0 created, 7 already present" in again.stdout
    assert postgres.psql("SELECT count(*) FROM users WHERE username ~ '^user[1-7]$'") == "7"


def test_missing_secret_stops_the_cli() -> None:
    result = board("migrate", env={"BOARD_DATABASE_URL": "postgresql+psycopg://x:y@127.0.0.1:1/board"})
    assert result.returncode == 2 and "BOARD_JWT_SECRET" in result.stderr


def test_bad_seed_count_is_refused() -> None:
    result = board("seed-users", "--count", "0", env={})
    assert result.returncode == 2 and "--count" in result.stderr


@pytest.mark.parametrize(
    ("env", "named", "hidden"),
    [
        # pydantic's own message showed every input of a model-level error: the secret and the database URL.
        (
            {"BOARD_DATABASE_URL": "postgresql+psycopg://board:DBPW-XYZ@h:1/b", "BOARD_JWT_SECRET": "short-SECRET-abc"},
            "BOARD_JWT_SECRET",
            ("SECRET-abc", "DBPW-XYZ"),
        ),
        # A URL without a scheme was quoted in part (its first 20 characters held the password).
        (
            {"BOARD_DATABASE_URL": "board:DBPW-XYZ@h/db", "BOARD_JWT_SECRET": "s" * 40},
            "BOARD_DATABASE_URL",
            ("DBPW-XYZ", "s" * 40),
        ),
        (
            {
                "BOARD_DATABASE_URL": "postgresql+psycopg://board:DBPW-XYZ@h:1/b",
                "BOARD_JWT_SECRET": "s" * 40,
                "BOARD_BCRYPT_ROUNDS": "many",
            },
            "BOARD_BCRYPT_ROUNDS",
            ("DBPW-XYZ", "s" * 40, "many"),
        ),
    ],
    ids=["short secret", "url without scheme", "bad number"],
)
def test_configuration_errors_name_the_knob_but_show_no_value(env: dict[str, str], named: str, hidden: tuple) -> None:
    result = board("migrate", env=env)
    assert result.returncode == 2 and named in result.stderr, result.stderr
    for value in hidden:
        assert value not in result.stderr, result.stderr


def test_dev_mode_says_so_at_start() -> None:
    env = {"BOARD_DATABASE_URL": "postgresql+psycopg://x:y@127.0.0.1:1/board", "BOARD_DEV_MODE": "true"}
    result = board("migrate", env=env)  # fails to connect after the warning
    assert "WARNING: BOARD_DEV_MODE=true" in result.stderr and "never deploy" in result.stderr
