"""Passwords (bcrypt through passlib) and access tokens (HS256 JWT through python-jose)."""

from __future__ import annotations

import time

from jose import ExpiredSignatureError, JWTError, jwt
from passlib.context import CryptContext

from board.errors import InvalidToken

JWT_ALGORITHM = "HS256"
BCRYPT_MAX_PASSWORD_BYTES = 72


def password_context(rounds: int) -> CryptContext:
    return CryptContext(schemes=["bcrypt"], bcrypt__rounds=rounds)


def password_fits_bcrypt(password: str) -> bool:
    """bcrypt ignores (or, in bcrypt 5, refuses) bytes past 72: longer passwords are rejected up front."""
    return len(password.encode("utf-8")) <= BCRYPT_MAX_PASSWORD_BYTES


def create_access_token(user_id: int, secret: str, ttl_seconds: int, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {"sub": str(user_id), "iat": issued, "exp": issued + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, secret: str) -> int:
    """Return the user id; any defect (alg, signature, expiry, claims) is `InvalidToken`."""
    try:
        # Pinning the algorithm list refuses `alg: none` and every algorithm but HS256.
        claims = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], options={"require_exp": True, "require_sub": True}
        )
    except ExpiredSignatureError as e:
        raise InvalidToken("token expired") from e
    except JWTError as e:
        raise InvalidToken() from e
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.isdigit() or not 0 < int(sub) < 2**63:
        raise InvalidToken()
    return int(sub)
