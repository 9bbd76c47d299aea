"""Request bodies and their validation (responses are plain dicts serialized by orjson)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from board.models import CONTENT_MAX, TITLE_MAX, USERNAME_MAX
from board.security import BCRYPT_MAX_PASSWORD_BYTES, NEW_PASSWORD_MIN_LENGTH, password_fits_bcrypt

MAX_ID = 2**63 - 1  # BIGINT: larger ids would reach Postgres as an overflow error (a 500)


def reject_nul(value: str) -> str:
    if "\x00" in value:
        # Postgres text cannot hold NUL: the driver would fail the query with a 500.
        raise ValueError("must not contain NUL characters")
    return value


def _text(value: str) -> str:
    reject_nul(value)
    if not value.strip():
        raise ValueError("must not be empty or whitespace only")
    return value


def check_password(value: str) -> str:
    reject_nul(value)
    if not password_fits_bcrypt(value):
        raise ValueError(f"must be at most {BCRYPT_MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt's limit)")
    return value


Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX), AfterValidator(_text)]
Content = Annotated[str, Field(min_length=1, max_length=CONTENT_MAX), AfterValidator(_text)]
Username = Annotated[str, StringConstraints(min_length=1, max_length=USERNAME_MAX, pattern=r"^[A-Za-z0-9_.@+-]+$")]
#: A new account's password (ASVS 2.1.1: at least 8 characters); logins take any length (seeded `passN`).
NewPassword = Annotated[str, Field(min_length=NEW_PASSWORD_MIN_LENGTH), AfterValidator(check_password)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class _Body(BaseModel):
    # strict: "5" is not an id and 5 is not a title; JSON clients send the right types.
    model_config = ConfigDict(strict=True, extra="forbid")


class RegisterIn(_Body):
    username: Username
    password: NewPassword


class PostIn(_Body):
    title: Title
    content: Content


class CommentIn(_Body):
    post_id: Id
    content: Content
