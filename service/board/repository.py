"""Every query of the API. Rows come back as plain dicts, ready for orjson."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Text, exists, func, insert, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from board.errors import InvalidToken, PostNotFound, UsernameTaken
from board.models import Comment, Post, User

users = User.__table__
posts = Post.__table__
comments = Comment.__table__

POST_COLUMNS = (posts.c.id, posts.c.title, posts.c.content, posts.c.author_id, posts.c.created_at)
COMMENT_COLUMNS = (comments.c.id, comments.c.post_id, comments.c.content, comments.c.author_id, comments.c.created_at)


async def find_user_credentials(session: AsyncSession, username: str) -> tuple[int, str] | None:
    row = (await session.execute(select(users.c.id, users.c.password_hash).where(users.c.username == username))).first()
    # Give the connection back before the caller spends ~0.25 s in bcrypt: holding it starves the pool.
    await session.close()
    return (row.id, row.password_hash) if row else None


async def create_user(session: AsyncSession, username: str, password_hash: str) -> dict[str, Any]:
    stmt = (
        pg_insert(users)
        .values(username=username, password_hash=password_hash)
        .on_conflict_do_nothing(index_elements=[users.c.username])
        .returning(users.c.id, users.c.username, users.c.created_at)
    )
    row = (await session.execute(stmt)).mappings().first()
    if row is None:
        raise UsernameTaken()
    await session.commit()
    return dict(row)


async def existing_usernames(session: AsyncSession, usernames: list[str]) -> set[str]:
    rows = await session.execute(select(users.c.username).where(users.c.username.in_(usernames)))
    return set(rows.scalars())


async def insert_users(session: AsyncSession, rows: list[dict[str, str]]) -> int:
    """Bulk insert, skipping names that exist (another seeder may race us)."""
    stmt = pg_insert(users).on_conflict_do_nothing(index_elements=[users.c.username]).returning(users.c.id)
    result = await session.execute(stmt, rows) if rows else None
    await session.commit()
    return len(result.all()) if result is not None else 0


async def newest_posts(session: AsyncSession, count: int, before: int | None = None) -> list[dict[str, Any]]:
    """Up to `count` posts, newest first, older than `before` if given (ask one more than a page: it says whether
    a next page exists)."""
    stmt = select(*POST_COLUMNS).order_by(posts.c.id.desc()).limit(count)
    if before is not None:
        stmt = stmt.where(posts.c.id < before)
    return [dict(r) for r in (await session.execute(stmt)).mappings()]


async def get_post(session: AsyncSession, post_id: int, comment_limit: int) -> dict[str, Any]:
    row = (await session.execute(select(*POST_COLUMNS).where(posts.c.id == post_id))).mappings().first()
    if row is None:
        raise PostNotFound()
    post = dict(row)
    # One query for the newest comments and the total (the window counts before LIMIT applies).
    stmt = (
        select(*COMMENT_COLUMNS, func.count().over().label("total"))
        .where(comments.c.post_id == post_id)
        .order_by(comments.c.id.desc())
        .limit(comment_limit)
    )
    rows = [dict(r) for r in (await session.execute(stmt)).mappings()]
    post["comment_count"] = rows[0]["total"] if rows else 0
    for r in rows:
        del r["total"]
    post["comments"] = rows
    return post


async def create_post(session: AsyncSession, author_id: int, title: str, content: str) -> dict[str, Any]:
    stmt = insert(posts).values(author_id=author_id, title=title, content=content).returning(*POST_COLUMNS)
    try:
        row = (await session.execute(stmt)).mappings().one()
        await session.commit()
    except IntegrityError as e:
        # The only FK is the author: a validly signed token for a user that no longer exists.
        await session.rollback()
        raise InvalidToken("unknown user") from e
    return dict(row)


async def create_comment(session: AsyncSession, author_id: int, post_id: int, content: str) -> dict[str, Any]:
    """One round trip: the INSERT ... SELECT inserts nothing when the post does not exist."""
    source = select(literal(post_id, BigInteger), literal(author_id, BigInteger), literal(content, Text)).where(
        exists().where(posts.c.id == post_id)
    )
    stmt = (
        insert(comments)
        .from_select([comments.c.post_id, comments.c.author_id, comments.c.content], source)
        .returning(*COMMENT_COLUMNS)
    )
    try:
        row = (await session.execute(stmt)).mappings().first()
    except IntegrityError as e:
        await session.rollback()
        raise InvalidToken("unknown user") from e
    if row is None:
        await session.rollback()
        raise PostNotFound()
    await session.commit()
    return dict(row)


async def count_rows(session: AsyncSession) -> dict[str, int]:
    """Row counts per table (readiness and tests)."""
    result = {}
    for name, table in (("users", users), ("posts", posts), ("comments", comments)):
        result[name] = (await session.execute(select(func.count()).select_from(table))).scalar_one()
    return result
