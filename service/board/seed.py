"""`python -m board seed-users`: the seed's accounts user{n}/pass{n}, idempotent, hashed in parallel."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from board import repository
from board.config import Settings
from board.security import password_context

BATCH = 500


def account(n: int) -> tuple[str, str]:
    return f"user{n}", f"pass{n}"


async def seed_users(settings: Settings, count: int) -> tuple[int, int]:
    """Create user1..user{count}; returns (created, already present)."""
    from board.db import create_engine

    engine = create_engine(settings)
    context = password_context(settings.bcrypt_rounds)
    created = existing = 0
    loop = asyncio.get_running_loop()
    # bcrypt releases the GIL: threads hash in parallel on every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        try:
            for first in range(1, count + 1, BATCH):
                names = [account(n) for n in range(first, min(first + BATCH, count + 1))]
                async with engine.connect() as conn:
                    present = await repository.existing_usernames(conn, [u for u, _ in names])
                missing = [(u, p) for u, p in names if u not in present]
                existing += len(present)
                if not missing:
                    continue  # the fast path: nothing to hash
                hashes = await asyncio.gather(*(loop.run_in_executor(pool, context.hash, p) for _, p in missing))
                rows = [{"username": u, "password_hash": h} for (u, _), h in zip(missing, hashes, strict=True)]
                async with engine.connect() as conn:
                    inserted = await repository.insert_users(conn, rows)
                created += inserted
                existing += len(rows) - inserted
        finally:
            await engine.dispose()
    return created, existing
