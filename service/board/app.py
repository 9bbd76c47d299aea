"""The ASGI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from board import __version__, handlers
from board.config import Settings
from board.middleware import BodyLimitMiddleware, MetricsMiddleware
from board.routes import auth, health, posts
from board.state import Board


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # type: ignore[call-arg]  # read from BOARD_* variables
    board = Board.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await board.startup()
        try:
            yield
        finally:
            await board.shutdown()

    app = FastAPI(title="board", version=__version__, lifespan=lifespan)
    app.state.board = board
    app.include_router(auth.router)
    app.include_router(posts.router)
    app.include_router(health.router)
    handlers.install(app)
    # Added last = outermost: metrics also see the 413s the body limit sends.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=board.metrics)
    return app
