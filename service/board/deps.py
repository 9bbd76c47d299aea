"""Route dependencies, each named once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from board.errors import InvalidToken
from board.security import decode_access_token
from board.state import Board


# Dependencies are `async def` on purpose: FastAPI runs plain `def` ones in a thread pool, a hop per request.
async def get_board(request: Request) -> Board:
    return request.app.state.board


BoardDep = Annotated[Board, Depends(get_board)]


async def get_session(board: BoardDep) -> AsyncIterator[AsyncSession]:
    """One session per request; it checks a connection out only when the route first queries."""
    async with board.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def current_user_id(board: BoardDep, authorization: Annotated[str | None, Header()] = None) -> int:
    if not authorization:
        raise InvalidToken("not authenticated")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("not authenticated")
    return decode_access_token(token.strip(), board.settings.jwt_secret)


CurrentUserId = Annotated[int, Depends(current_user_id)]
