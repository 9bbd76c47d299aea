"""Posts and comments."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from starlette.responses import Response

from board import repository
from board.cache import SCOPE_KEY as FIRST_PAGE_LOOKUP
from board.cache import CachedPage, FirstPage
from board.deps import BoardDep, CurrentUserId, strict_query
from board.responses import json_response, next_page_link, raw_json_response
from board.schemas import MAX_ID, CommentIn, PostIn
from board.state import Board

router = APIRouter(tags=["posts"], dependencies=[Depends(strict_query)])


def _digits(value: object) -> object:
    """Whole numbers in decimal digits only: "5.0" or "1_0" would be read as 5 and 10 without a word."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError("int_digits", "Input should be a whole number written in decimal digits")
    return value


Digits = BeforeValidator(_digits)
Limit = Annotated[int | None, Query(ge=1, description="Page size (default and maximum from the settings)"), Digits]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Return posts older than this id"), Digits]
PostId = Annotated[int, Path(ge=1, le=MAX_ID), Digits]


def _page_limit(board: Board, limit: int | None) -> int:
    """The maximum is a setting, so it is checked here, reported like FastAPI's own 422s."""
    maximum = board.settings.page_max_limit
    if limit is None:
        return board.settings.page_default_limit
    if limit > maximum:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("query", "limit"),
                    "msg": f"Input should be less than or equal to {maximum}",
                    "input": limit,
                    "ctx": {"le": maximum},
                }
            ]
        )
    return limit


async def _newest(board: Board, count: int, before: int | None = None) -> list[dict[str, Any]]:
    # Its own session: the cache may hand the first page to several waiting requests.
    async with board.connect() as conn:
        return await repository.newest_posts(conn, count, before)


@router.get("/posts/")
async def list_posts(request: Request, board: BoardDep, limit: Limit = None, before: Before = None) -> Response:
    if FirstPage.matches(request.scope):
        first_page = board.first_page
        page = await first_page.get(lambda count: _newest(board, count), request.scope.get(FIRST_PAGE_LOOKUP))
        response = Response(page.body)
        response.raw_headers = first_page.headers(page)
        return response
    size = _page_limit(board, limit)
    board.first_page.bypass()
    page = CachedPage.from_rows(await _newest(board, size + 1, before), size)
    link = next_page_link(size, page.next_before)
    return raw_json_response(page.body, headers={"Link": link} if link else None)


@router.get("/posts/{post_id}")
async def get_post(board: BoardDep, post_id: PostId) -> Response:
    async with board.connect() as conn:
        post = await repository.get_post(conn, post_id, board.settings.page_max_limit)
    return json_response(post)


@router.post("/posts/", status_code=201)
async def create_post(board: BoardDep, user_id: CurrentUserId, body: PostIn) -> Response:
    async with board.write() as conn:
        post = await repository.create_post(conn, user_id, body.title, body.content)
    created = orjson.dumps(post)
    await board.first_page.add(post["id"], created)
    return raw_json_response(created, 201)


@router.post("/comments/", status_code=201)
async def create_comment(board: BoardDep, user_id: CurrentUserId, body: CommentIn) -> Response:
    async with board.write() as conn:
        comment = await repository.create_comment(conn, user_id, body.post_id, body.content)
    return json_response(comment, 201)
