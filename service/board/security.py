"""Passwords (bcrypt through passlib) and access tokens (HS256 JWT through python-jose)."""

from __future__ import annotations

import time

from jose import ExpiredSignatureError, JWTError, jwt
from passlib.context import CryptContext

from board.errors import InvalidToken

JWT_ALGORITHM = "HS256"
#: Verified tokens remembered per process: one per active user, ~0.3 KB each.
VERIFIED_TOKENS = 20_000
BCRYPT_MAX_PASSWORD_BYTES = 72
NEW_PASSWORD_MIN_LENGTH = 8


def password_context(rounds: int) -> CryptContext:
    return CryptContext(schemes=["bcrypt"], bcrypt__rounds=rounds)


def hash_cost(password_hash: str) -> int | None:
    """The cost of a modular-crypt bcrypt hash (`$2b$12$...`), None when it is not one."""
    parts = password_hash.split("$")
    return int(parts[2]) if len(parts) == 4 and parts[1] in ("2a", "2b", "2y") and parts[2].isdigit() else None


def password_fits_bcrypt(password: str) -> bool:
    """bcrypt ignores (or, in bcrypt 5, refuses) bytes past 72: longer passwords are rejected up front."""
    return len(password.encode("utf-8")) <= BCRYPT_MAX_PASSWORD_BYTES


def create_access_token(user_id: int, secret: str, ttl_seconds: int, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {"sub": str(user_id), "iat": issued, "exp": issued + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, secret: str) -> int:
    """Return the user id; any defect (alg, signature, expiry, claims) is `InvalidToken`."""
    return verify_access_token(token, secret)[0]


def verify_access_token(token: str, secret: str) -> tuple[int, int]:
    """Return (user id, expiry in Unix seconds); any defect (alg, signature, expiry, claims) is `InvalidToken`."""
    try:
        # Pinning the algorithm list refuses `alg: none` and every algorithm but HS256.
        claims = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], options={"require_exp": True, "require_sub": True}
        )
    except ExpiredSignatureError as e:
        raise InvalidToken("token expired") from e
    except JWTError as e:
        raise InvalidToken() from e
    sub, exp = claims.get("sub"), claims.get("exp")
    if not isinstance(sub, str) or not sub.isdigit() or not 0 < int(sub) < 2**63 or not isinstance(exp, int):
        raise InvalidToken()
    return int(sub), exp


class VerifiedTokens:
    """Tokens whose signature was already checked, with their user and expiry.

    A client sends the same token with every request, and checking it (HMAC, base64, JSON, claims) was about a
    tenth of a write's CPU. Only tokens that passed `verify_access_token` are kept, keyed by the whole token, so a
    forged one never matches; expiry is checked on every use. At most `size` are kept (the oldest go first).
    """

    def __init__(self, secret: str, size: int = VERIFIED_TOKENS) -> None:
        assert size >= 1, "size must be >= 1"
        self._secret = secret
        self._size = size
        self._known: dict[str, tuple[int, int]] = {}

    def user_id(self, token: str, now: float | None = None) -> int:
        known = self._known.get(token)
        if known is None:
            known = verify_access_token(token, self._secret)
            if len(self._known) >= self._size:
                del self._known[next(iter(self._known))]
            self._known[token] = known
        user_id, expires = known
        if (time.time() if now is None else now) >= expires:
            del self._known[token]
            raise InvalidToken("token expired")
        return user_id
