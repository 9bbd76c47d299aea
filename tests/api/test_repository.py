"""board.repository on the real Postgres (migrated by the session's direct API), through the API's own engine
(autocommit, psycopg 3): each query's behaviour, not its SQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from board import repository
from board.config import Settings
from board.db import create_engine
from board.errors import InvalidToken, PostNotFound, UsernameTaken
from loadlab.services import Api, Postgres
from tests.conftest import TEST_JWT_SECRET

pytestmark = pytest.mark.integration


@pytest.fixture
async def conn(postgres: Postgres, direct_api: Api) -> AsyncIterator[AsyncConnection]:
    """A connection as the API gets one (`direct_api` has migrated the database)."""
    engine = create_engine(Settings(database_url=postgres.url, jwt_secret=TEST_JWT_SECRET))
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


def _name() -> str:
    return f"repo-{secrets.token_hex(4)}"


async def _user(conn: AsyncConnection) -> int:
    user: int = (await repository.create_user(conn, _name(), "hash"))["id"]
    return user


async def test_a_user_is_created_once_and_found_by_name(conn: AsyncConnection, postgres: Postgres) -> None:
    name = _name()
    created = await repository.create_user(conn, name, "hash-1")
    assert created["username"] == name and created["created_at"] is not None
    before = postgres.row_counts()
    with pytest.raises(UsernameTaken):
        await repository.create_user(conn, name, "hash-2")
    assert postgres.row_counts() == before
    assert await repository.find_user_credentials(conn, name) == (created["id"], "hash-1")
    assert await repository.find_user_credentials(conn, _name()) is None


async def test_bulk_insert_skips_names_that_exist_and_counts_only_new_rows(conn: AsyncConnection) -> None:
    taken, new = _name(), [_name(), _name()]
    await repository.create_user(conn, taken, "h")
    rows = [{"username": n, "password_hash": "h"} for n in [taken, *new]]
    assert await repository.insert_users(conn, rows) == 2
    assert await repository.existing_usernames(conn, [taken, *new, _name()]) == {taken, *new}
    assert await repository.insert_users(conn, rows) == 0
    assert await repository.insert_users(conn, []) == 0


async def test_newest_posts_come_newest_first_and_page_before_an_id(conn: AsyncConnection) -> None:
    author = await _user(conn)
    ids = [(await repository.create_post(conn, author, f"t{i}", "c"))["id"] for i in range(3)]
    assert [p["id"] for p in await repository.newest_posts(conn, 2, before=ids[2] + 1)] == [ids[2], ids[1]]
    older = await repository.newest_posts(conn, 2, before=ids[1])
    assert older[0]["id"] == ids[0] and older[0]["title"] == "t0" and older[0]["author_id"] == author
    assert [p["id"] for p in await repository.newest_posts(conn, 1)] == [ids[2]]


async def test_a_post_comes_with_its_newest_comments_and_their_total(conn: AsyncConnection) -> None:
    author = await _user(conn)
    post = await repository.create_post(conn, author, "title", "content")
    comments = [(await repository.create_comment(conn, author, post["id"], f"c{i}"))["id"] for i in range(3)]
    got = await repository.get_post(conn, post["id"], comment_limit=2)
    assert got["title"] == "title" and got["comment_count"] == 3
    assert [c["id"] for c in got["comments"]] == [comments[2], comments[1]]
    assert "total" not in got["comments"][0]
    empty = await repository.create_post(conn, author, "no comments", "c")
    assert (await repository.get_post(conn, empty["id"], comment_limit=2))["comments"] == []


async def test_missing_posts_and_unknown_authors_change_nothing(conn: AsyncConnection, postgres: Postgres) -> None:
    author = await _user(conn)
    post = await repository.create_post(conn, author, "t", "c")
    before = postgres.row_counts()
    with pytest.raises(PostNotFound):
        await repository.get_post(conn, post["id"] + 10_000_000, comment_limit=5)
    with pytest.raises(PostNotFound):
        await repository.create_comment(conn, author, post["id"] + 10_000_000, "c")
    with pytest.raises(InvalidToken):
        await repository.create_post(conn, author + 10_000_000, "t", "c")
    with pytest.raises(InvalidToken):
        await repository.create_comment(conn, author + 10_000_000, post["id"], "c")
    assert postgres.row_counts() == before


async def test_row_counts_follow_the_writes(conn: AsyncConnection, postgres: Postgres) -> None:
    before = postgres.row_counts()
    author = await _user(conn)
    post = await repository.create_post(conn, author, "t", "c")
    await repository.create_comment(conn, author, post["id"], "c")
    after = postgres.row_counts()
    assert {table: after[table] - before[table] for table in after} == {"users": 1, "posts": 1, "comments": 1}
