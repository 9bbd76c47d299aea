"""`board.config.Settings`: insecure or impossible configurations are refused at startup."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from board.config import DEV_JWT_SECRET, Settings

URL = "postgresql+psycopg://board:pw@127.0.0.1:5432/board"
SECRET = "s" * 40


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own BOARD_* variables must not leak into these tests."""
    for key in list(os.environ):
        if key.startswith("BOARD_"):
            monkeypatch.delenv(key)


def test_missing_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="BOARD_JWT_SECRET is required"):
        Settings(database_url=URL)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(database_url=URL, jwt_secret="short")


def test_builtin_dev_secret_is_refused_outside_dev_mode() -> None:
    with pytest.raises(ValidationError, match="built-in dev secret"):
        Settings(database_url=URL, jwt_secret=DEV_JWT_SECRET)


def test_dev_mode_supplies_a_secret() -> None:
    assert Settings(database_url=URL, dev_mode=True).jwt_secret == DEV_JWT_SECRET


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOARD_DATABASE_URL", URL)
    monkeypatch.setenv("BOARD_JWT_SECRET", SECRET)
    s = Settings()
    assert (s.db_pool_size, s.db_max_overflow, s.db_pool_timeout) == (10, 10, 2.0)
    assert (s.db_statement_cache, s.db_pool_pre_ping, s.cache_enabled, s.cache_ttl_seconds) == (False, True, True, 5.0)
    assert (s.bcrypt_rounds, s.hash_in_executor, s.executor_queue_limit) == (12, True, 64)
    assert (s.page_default_limit, s.page_max_limit, s.max_body_bytes, s.retry_after_seconds) == (20, 100, 65536, 1)
    assert s.executor_workers >= 1 and s.jwt_ttl_seconds == 3600 and s.log_level == "info"
    assert not s.cache_active  # no BOARD_REDIS_URL


def test_env_variables_are_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOARD_DATABASE_URL", URL)
    monkeypatch.setenv("BOARD_JWT_SECRET", SECRET)
    monkeypatch.setenv("BOARD_HASH_IN_EXECUTOR", "false")
    monkeypatch.setenv("BOARD_DB_POOL_SIZE", "1")
    monkeypatch.setenv("BOARD_REDIS_URL", "redis://127.0.0.1:1/0")
    s = Settings()
    assert s.hash_in_executor is False and s.db_pool_size == 1 and s.cache_active


@pytest.mark.parametrize(
    "knob",
    [
        {"db_pool_size": 0},
        {"db_max_overflow": -1},
        {"db_pool_timeout": 0},
        {"db_pool_queue_limit": -2},
        {"max_requests_in_flight": -1},
        {"bcrypt_rounds": 3},
        {"bcrypt_rounds": 32},
        {"executor_workers": 0},
        {"executor_queue_limit": -1},
        {"page_default_limit": 500},  # above the max of 100
        {"max_body_bytes": 10},
        {"log_level": "loud"},
        {"database_url": "postgresql://board@127.0.0.1/board"},  # not the psycopg driver
    ],
)
def test_out_of_range_values_are_refused(knob: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings(**{"database_url": URL, "jwt_secret": SECRET, **knob})


def test_every_knob_has_a_description() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert missing == []


def test_secrets_stay_out_of_repr() -> None:
    s = Settings(database_url=URL, jwt_secret=SECRET)
    assert SECRET not in repr(s) and "pw@" not in repr(s)


def test_a_process_gets_its_share_of_each_instance_capacity() -> None:
    s = Settings(
        database_url=URL,
        jwt_secret=SECRET,
        workers=3,
        db_pool_size=20,
        db_max_overflow=10,
        db_pool_queue_limit=64,
        executor_workers=2,
        executor_queue_limit=7,
        max_requests_in_flight=512,
    )
    shares = [s.for_process(i, 3) for i in range(3)]
    # The sums are the instance's: remainders go to the first processes.
    assert [p.db_pool_size for p in shares] == [7, 7, 6]
    assert [p.db_max_overflow for p in shares] == [4, 3, 3]
    assert [p.db_pool_queue_limit for p in shares] == [22, 21, 21]
    assert [p.executor_queue_limit for p in shares] == [3, 2, 2]
    assert [p.max_requests_in_flight for p in shares] == [171, 171, 170]
    # Two bcrypt threads for three processes: every process needs one, so the sum exceeds the instance's.
    assert [p.executor_workers for p in shares] == [1, 1, 1]
    # Knobs that are not capacities are the same everywhere.
    assert {p.bcrypt_rounds for p in shares} == {s.bcrypt_rounds} and shares[2].jwt_secret == SECRET


def test_no_bound_stays_no_bound_in_every_process() -> None:
    s = Settings(database_url=URL, jwt_secret=SECRET, db_pool_queue_limit=-1, max_requests_in_flight=0)
    share = s.for_process(1, 2)
    assert share.db_pool_queue_limit == -1 and share.max_requests_in_flight == 0


def _contract_knobs() -> dict[str, str]:
    """The "API knobs" table of docs/contracts.md: variable -> default column."""
    text = (Path(__file__).parents[2] / "docs" / "contracts.md").read_text()
    section = text.split("## API knobs", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| BOARD_")]
    return {cells[1].strip(): cells[2].strip() for cells in rows}


def test_contracts_name_every_knob_with_its_default() -> None:
    """docs/contracts.md copies Settings (names, defaults): the copy must not drift."""
    knobs = _contract_knobs()
    fields = {f"BOARD_{name.upper()}": field for name, field in Settings.model_fields.items()}
    assert sorted(knobs) == sorted(fields)
    for variable, field in fields.items():
        if field.is_required() or field.default_factory is not None or variable == "BOARD_JWT_SECRET":
            continue  # "(required)", "CPUs usable": described, not a value
        default, written = field.default, knobs[variable]
        if isinstance(default, bool):
            assert written == str(default).lower(), variable
        elif isinstance(default, int | float):
            assert float(written) == float(default), variable
        else:
            assert written.strip('"') == default, variable
