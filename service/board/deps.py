"""Route dependencies, each named once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from board.errors import InvalidToken
from board.state import Board


# Dependencies are `async def` on purpose: FastAPI runs plain `def` ones in a thread pool, a hop per request.
async def get_board(request: Request) -> Board:
    board: Board = request.app.state.board
    return board


BoardDep = Annotated[Board, Depends(get_board)]


async def current_user_id(board: BoardDep, authorization: Annotated[str | None, Header()] = None) -> int:
    if not authorization:
        raise InvalidToken("not authenticated")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("not authenticated")
    return board.tokens.user_id(token.strip())


CurrentUserId = Annotated[int, Depends(current_user_id)]


_QUERY_NAMES: dict[int, frozenset[str]] = {}  # by id(route): routes live as long as the app and are unhashable


def _query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters a route (and its dependencies) declares."""
    if (names := _QUERY_NAMES.get(id(route))) is None:
        found: set[str] = set()
        todo = [route.dependant]
        while todo:
            dependant = todo.pop()
            found |= {field.alias for field in dependant.query_params}
            todo += dependant.dependencies
        names = _QUERY_NAMES[id(route)] = frozenset(found)
    return names


async def strict_query(request: Request) -> None:
    """A router dependency: 422 for a query parameter the route does not declare or that is given twice.

    Ignored input misleads: `?cursor=` or `?page=` (the cursor is `before`) would get the first page, and of
    `?limit=5&limit=6` a framework keeps one by accident.
    """
    if not request.scope["query_string"]:
        return
    declared = _query_names(request.scope["route"])
    errors, seen = [], set()
    for name, value in request.query_params.multi_items():
        if name not in declared:
            errors.append(_query_error("extra_forbidden", name, "Unknown query parameter", value))
        elif name in seen:
            errors.append(_query_error("repeated", name, "Query parameter given more than once", value))
        seen.add(name)
    if errors:
        raise RequestValidationError(errors)


def _query_error(kind: str, name: str, message: str, value: str) -> dict[str, object]:
    """One entry of a 422's `detail`, in FastAPI's own shape."""
    return {"type": kind, "loc": ("query", name), "msg": message, "input": value}
