"""Every query of the API, each one statement and so one round trip. Rows come back as plain dicts, for orjson.

The engine runs in autocommit (`board.db`): a single statement is its own transaction, so a write costs one
round trip instead of four (BEGIN, prepare, execute, COMMIT), which on our machines was most of a write's CPU.
Every write here is one statement on purpose; anything that needs two must open a transaction itself. The
statements are built once, at import: constructing a Core statement per call cost as much as running it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from board.errors import InvalidToken, PostNotFound, UsernameTaken

POST_COLUMNS = "id, title, content, author_id, created_at"
COMMENT_COLUMNS = "id, post_id, content, author_id, created_at"

FIND_CREDENTIALS = text("SELECT id, password_hash FROM users WHERE username = :username")
CREATE_USER = text(
    "INSERT INTO users (username, password_hash) VALUES (:username, :password_hash)"
    " ON CONFLICT (username) DO NOTHING RETURNING id, username, created_at"
)
# Only over the hash it replaces: a password changed meanwhile is not overwritten with the old one.
REPLACE_PASSWORD_HASH = text("UPDATE users SET password_hash = :new WHERE id = :user_id AND password_hash = :old")
EXISTING_USERNAMES = text("SELECT username FROM users WHERE username = ANY(:usernames)")
# One round trip for a whole batch: the arrays are unnested into rows.
INSERT_USERS = text(
    "INSERT INTO users (username, password_hash)"
    " SELECT * FROM unnest(CAST(:usernames AS text[]), CAST(:hashes AS text[]))"
    " ON CONFLICT (username) DO NOTHING RETURNING id"
)
NEWEST_POSTS = text(f"SELECT {POST_COLUMNS} FROM posts ORDER BY id DESC LIMIT :count")
NEWEST_POSTS_BEFORE = text(f"SELECT {POST_COLUMNS} FROM posts WHERE id < :before ORDER BY id DESC LIMIT :count")
GET_POST = text(f"SELECT {POST_COLUMNS} FROM posts WHERE id = :post_id")
# The newest comments and their total in one statement (the window counts before LIMIT applies).
POST_COMMENTS = text(
    f"SELECT {COMMENT_COLUMNS}, count(*) OVER () AS total FROM comments WHERE post_id = :post_id"
    " ORDER BY id DESC LIMIT :comment_limit"
)
CREATE_POST = text(
    f"INSERT INTO posts (author_id, title, content) VALUES (:author_id, :title, :content) RETURNING {POST_COLUMNS}"
)
# The comment is inserted only if its post exists: a missing post inserts nothing (a 404), in the same statement.
CREATE_COMMENT = text(
    "INSERT INTO comments (post_id, author_id, content)"
    " SELECT :post_id, :author_id, :content WHERE EXISTS (SELECT 1 FROM posts WHERE id = :post_id)"
    f" RETURNING {COMMENT_COLUMNS}"
)


async def find_user_credentials(conn: AsyncConnection, username: str) -> tuple[int, str] | None:
    row = (await conn.execute(FIND_CREDENTIALS, {"username": username})).first()
    return (row.id, row.password_hash) if row else None


async def create_user(conn: AsyncConnection, username: str, password_hash: str) -> dict[str, Any]:
    row = (await conn.execute(CREATE_USER, {"username": username, "password_hash": password_hash})).mappings().first()
    if row is None:
        raise UsernameTaken()
    return dict(row)


async def replace_password_hash(conn: AsyncConnection, user_id: int, old: str, new: str) -> None:
    await conn.execute(REPLACE_PASSWORD_HASH, {"user_id": user_id, "old": old, "new": new})


async def existing_usernames(conn: AsyncConnection, usernames: list[str]) -> set[str]:
    return set((await conn.execute(EXISTING_USERNAMES, {"usernames": usernames})).scalars())


async def insert_users(conn: AsyncConnection, rows: list[dict[str, str]]) -> int:
    """Bulk insert, skipping names that exist (another seeder may race us); the number inserted."""
    if not rows:
        return 0
    params = {"usernames": [r["username"] for r in rows], "hashes": [r["password_hash"] for r in rows]}
    return len((await conn.execute(INSERT_USERS, params)).all())


async def newest_posts(conn: AsyncConnection, count: int, before: int | None = None) -> list[dict[str, Any]]:
    """Up to `count` posts, newest first, older than `before` if given (ask one more than a page: it says whether
    a next page exists)."""
    if before is None:
        result = await conn.execute(NEWEST_POSTS, {"count": count})
    else:
        result = await conn.execute(NEWEST_POSTS_BEFORE, {"count": count, "before": before})
    return [dict(r) for r in result.mappings()]


async def get_post(conn: AsyncConnection, post_id: int, comment_limit: int) -> dict[str, Any]:
    """The post and its newest comments: two statements (no transaction: a comment may land in between)."""
    row = (await conn.execute(GET_POST, {"post_id": post_id})).mappings().first()
    if row is None:
        raise PostNotFound()
    post = dict(row)
    params = {"post_id": post_id, "comment_limit": comment_limit}
    comments = [dict(r) for r in (await conn.execute(POST_COMMENTS, params)).mappings()]
    post["comment_count"] = comments[0]["total"] if comments else 0
    for comment in comments:
        del comment["total"]
    post["comments"] = comments
    return post


async def create_post(conn: AsyncConnection, author_id: int, title: str, content: str) -> dict[str, Any]:
    params = {"author_id": author_id, "title": title, "content": content}
    try:
        return dict((await conn.execute(CREATE_POST, params)).mappings().one())
    except IntegrityError as e:
        # The only FK is the author: a validly signed token for a user that no longer exists.
        raise InvalidToken("unknown user") from e


async def create_comment(conn: AsyncConnection, author_id: int, post_id: int, content: str) -> dict[str, Any]:
    params = {"post_id": post_id, "author_id": author_id, "content": content}
    try:
        row = (await conn.execute(CREATE_COMMENT, params)).mappings().first()
    except IntegrityError as e:
        raise InvalidToken("unknown user") from e
    if row is None:
        raise PostNotFound()
    return dict(row)
