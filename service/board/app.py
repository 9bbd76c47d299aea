"""The ASGI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from board import __version__, handlers
from board.config import Settings
from board.middleware import (
    BodyLimitMiddleware,
    FirstPageFastPath,
    HashingShedMiddleware,
    InFlightLimitMiddleware,
    MetricsMiddleware,
)
from board.routes import auth, health, posts
from board.state import Board


def create_app(
    settings: Settings | None = None, *, process: str = "0", on_started: Callable[[], None] | None = None
) -> FastAPI:
    """The app of one API process: `settings` are its share of the instance's, `process` its index (a metric
    label); `on_started` is called once it is ready to serve (the supervisor waits for every process)."""
    settings = settings or Settings()  # read from BOARD_* variables
    board = Board.build(settings, process)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await board.startup()
        if on_started is not None:
            on_started()
        try:
            yield
        finally:
            await board.shutdown()

    # The API's map (/docs, /redoc, /openapi.json) only in dev mode: elsewhere it is one more surface to probe.
    dev = settings.dev_mode
    app = FastAPI(
        title="board",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if dev else None,
        redoc_url="/redoc" if dev else None,
        openapi_url="/openapi.json" if dev else None,
    )
    app.state.board = board
    routers = (auth.router, posts.router, health.router)
    for router in routers:
        app.include_router(router)
    handlers.install(app)
    # Added last = outermost: metrics also see the 413s the body limit and the 503s the in-flight limit send;
    # the in-flight limit refuses before the body is read.
    list_route = next(
        r for r in posts.router.routes if isinstance(r, APIRoute) and r.path == "/posts/" and r.methods == {"GET"}
    )
    app.add_middleware(
        FirstPageFastPath, first_page=board.first_page, route=list_route
    )  # innermost: behind the in-flight limit and the metrics, like the route it stands in for
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # The routers' own routes (full paths, no prefix added on include): the app's are wrapped per include.
    routes = [route for router in routers for route in router.routes]
    retry_after = settings.retry_after_seconds
    app.add_middleware(
        HashingShedMiddleware,
        executor=board.executor,
        paths=auth.HASHING_PATHS,
        metrics=board.metrics,
        retry_after=retry_after,
        routes=routes,
    )
    app.add_middleware(
        InFlightLimitMiddleware,
        limit=settings.max_requests_in_flight,
        metrics=board.metrics,
        retry_after=retry_after,
        routes=routes,
    )
    app.add_middleware(MetricsMiddleware, metrics=board.metrics)
    return app
