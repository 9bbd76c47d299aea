"""`POST /auth/login` (form, the seed's client) and `POST /auth/register` (JSON)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import AfterValidator
from starlette.responses import Response

from board import repository
from board.deps import BoardDep, strict_query
from board.errors import InvalidCredentials
from board.models import USERNAME_MAX
from board.responses import json_response
from board.schemas import RegisterIn, check_password, reject_nul
from board.security import create_access_token

router = APIRouter(prefix="/auth", tags=["auth"], dependencies=[Depends(strict_query)])
#: The routes that hash or verify a password: shed before routing while the bcrypt executor refuses.
HASHING_PATHS = frozenset({"/auth/login", "/auth/register"})

FormUsername = Annotated[str, Form(min_length=1, max_length=USERNAME_MAX), AfterValidator(reject_nul)]
FormPassword = Annotated[str, Form(min_length=1), AfterValidator(check_password)]


@router.post("/login")
async def login(request: Request, board: BoardDep, username: FormUsername, password: FormPassword) -> Response:
    # The peer's address: the API takes no forwarded headers (uvicorn's proxy_headers is off), so it is not forged.
    address = request.client.host if request.client else ""
    seen = await board.login_throttle.check(username, address)  # before any database or bcrypt work
    # The connection goes back before the ~15-250 ms of bcrypt: held, it would starve the pool.
    async with board.connect() as conn:
        found = await repository.find_user_credentials(conn, username)
    user_id, password_hash = found if found else (0, None)
    if not await board.verify_password(password, password_hash):
        await board.login_throttle.failed(username, address)
        raise InvalidCredentials()
    await board.login_throttle.succeeded(username, seen)
    assert password_hash is not None  # verified
    await board.rehash_if_stale(user_id, password, password_hash)
    token = create_access_token(user_id, board.settings.jwt_secret, board.settings.jwt_ttl_seconds)
    return json_response({"access_token": token, "token_type": "bearer"})


@router.post("/register", status_code=201)
async def register(board: BoardDep, body: RegisterIn) -> Response:
    password_hash = await board.hash_password(body.password)
    async with board.write() as conn:
        user = await repository.create_user(conn, body.username, password_hash)
    return json_response(user, 201)
