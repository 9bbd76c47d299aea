"""Passwords and tokens: bcrypt's 72-byte limit, HS256 only, expiry and signature enforced."""

from __future__ import annotations

import base64
import time

import orjson
import pytest
from jose import jwt

from board.errors import InvalidToken
from board.schemas import RegisterIn
from board.security import create_access_token, decode_access_token, password_context, password_fits_bcrypt

SECRET = "k" * 40


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def test_password_round_trip_at_minimum_cost() -> None:
    ctx = password_context(4)
    hashed = ctx.hash("pass1")
    assert hashed.startswith("$2b$04$")
    assert ctx.verify("pass1", hashed) and not ctx.verify("pass2", hashed)


@pytest.mark.parametrize(
    ("password", "fits"), [("a" * 72, True), ("a" * 73, False), ("é" * 36, True), ("é" * 37, False)]
)
def test_bcrypt_limit_counts_utf8_bytes(password: str, fits: bool) -> None:
    assert password_fits_bcrypt(password) is fits


def test_register_refuses_a_password_over_72_bytes() -> None:
    with pytest.raises(ValueError, match="72 bytes"):
        RegisterIn(username="alice", password="a" * 73)


def test_token_round_trip() -> None:
    assert decode_access_token(create_access_token(42, SECRET, 60), SECRET) == 42


def test_expired_token_is_refused() -> None:
    token = create_access_token(42, SECRET, 60, now=time.time() - 120)
    with pytest.raises(InvalidToken, match="expired"):
        decode_access_token(token, SECRET)


def test_wrong_key_is_refused() -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(create_access_token(42, "x" * 40, 60), SECRET)


def test_alg_none_is_refused() -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': '42', 'exp': int(time.time()) + 60})}."
    with pytest.raises(InvalidToken):
        decode_access_token(token, SECRET)


def test_other_hmac_algorithm_is_refused() -> None:
    token = jwt.encode({"sub": "42", "exp": int(time.time()) + 60}, SECRET, algorithm="HS512")
    with pytest.raises(InvalidToken):
        decode_access_token(token, SECRET)


@pytest.mark.parametrize(
    "claims",
    [{"sub": "42"}, {"exp": 4102444800}, {"sub": "abc", "exp": 4102444800}, {"sub": "0", "exp": 4102444800}],
)
def test_token_without_usable_claims_is_refused(claims: dict[str, object]) -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(jwt.encode(claims, SECRET, algorithm="HS256"), SECRET)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "Bearer x"])
def test_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(token, SECRET)
