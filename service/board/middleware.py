"""Pure ASGI middleware: request metrics, load shedding (requests in flight, password hashing), the body size limit."""

from __future__ import annotations

import time
from typing import Protocol

import orjson
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from board.cache import SCOPE_KEY as FIRST_PAGE_LOOKUP
from board.cache import FirstPage
from board.errors import InFlightFull, Overloaded
from board.executor import BoundedExecutor
from board.handlers import error_response
from board.metrics import UNMATCHED_ROUTE, Metrics

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: Never shed: liveness must still answer while the API sheds everything else. Readiness is inside the bound: a
#: process too busy to admit requests is rightly not ready, and a storm of probes cannot pile up past the limit.
UNSHED_PATHS = frozenset({"/healthz"})


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template, read after routing."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app raises before answering, the server sends a 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.http_in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.http_in_flight.dec()
            # The router stores the matched route in the (shared) scope; its path is the template.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            method = scope["method"]
            self.metrics.http_duration.labels(method, route).observe(time.perf_counter() - start)
            self.metrics.http_requests.labels(method, route, str(status)).inc()


class InFlightLimitMiddleware:
    """503 + Retry-After at once, before routing, while `limit` requests are already being served (0: no limit).

    The bounds further in (pool queue, bcrypt queue) refuse a request only after it was parsed, routed and
    given a session: several turns of the event loop, each behind every other request in flight. When the
    loop itself is the bottleneck, those turns are what makes a 503 slow and what delays the requests being
    served. Capping the requests in flight keeps the loop's ready queue short, so the excess is refused in
    one turn and the admitted requests finish. The refused request is labelled with the route it would have
    matched (matched here, only on refusal), so the metrics show which routes were shed.
    """

    def __init__(self, app: ASGIApp, limit: int, metrics: Metrics, retry_after: int, routes: list[BaseRoute]) -> None:
        assert limit >= 0, "limit must be >= 0 (0 = no limit)"
        self.app = app
        self.limit = limit
        self.metrics = metrics
        self.retry_after = retry_after
        self.routes = routes
        self.in_flight = 0  # touched on the loop thread only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limit or scope["path"] in UNSHED_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await _shed(scope, receive, send, InFlightFull(), self)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class HashingShedMiddleware:
    """503 + Retry-After before routing for the routes that hash a password, while the bcrypt executor refuses.

    Under a login storm most logins are refused; refused here, each costs no form parsing, no dependency
    solving, no exception handling: the event loop has that much more time for what it serves, and every
    answer, the 503s included, comes sooner. An admitted request's task keeps its place in the queue
    (`BoundedExecutor.admitted`), so it is not refused later, after its form was parsed and its user looked up.
    """

    def __init__(
        self,
        app: ASGIApp,
        executor: BoundedExecutor,
        paths: frozenset[str],
        metrics: Metrics,
        retry_after: int,
        routes: list[BaseRoute],
    ) -> None:
        self.app = app
        self.executor = executor
        self.paths = paths
        self.metrics = metrics
        self.retry_after = retry_after
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        with self.executor.admitted() as refused:
            if refused is not None:
                await _shed(scope, receive, send, refused, self)
                return
            await self.app(scope, receive, send)


class Shedding(Protocol):
    metrics: Metrics
    retry_after: int
    routes: list[BaseRoute]


async def _shed(scope: Scope, receive: Receive, send: Send, refused: Overloaded, by: Shedding) -> None:
    """The 503 a route would send (`handlers.error_response`), sent before routing, labelled with the route it
    would have taken."""
    _label_route(scope, by.routes)
    await error_response(refused, by.metrics, by.retry_after)(scope, receive, send)


def _label_route(scope: Scope, routes: list[BaseRoute]) -> None:
    """Store the route the router would have chosen, as the router does, for `MetricsMiddleware`'s label."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            scope["route"] = route
            return


class BodyLimitMiddleware:
    """413 for bodies over `max_bytes`, by Content-Length or, for chunked bodies, by counting.

    The body is read here in full (it is small by construction) and replayed to the app, so the
    app never sees part of an oversized body and the limit holds whatever the framework does.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        assert max_bytes > 0, "max_bytes must be positive"
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _error(send, 400, "invalid Content-Length")
            return
        if declared is not None and declared > self.max_bytes:
            await _error(send, 413, f"request body over {self.max_bytes} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _error(send, 413, f"request body over {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    """None when absent, -1 when malformed."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return None


async def _error(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        # The unread rest of the body would otherwise be parsed as the next request.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class FirstPageFastPath:
    """`GET /posts/`'s first page answered from the cache before FastAPI routes it, on a hit.

    The cached first page is most of the traffic, and on a hit nothing of the framework is needed: no
    dependencies, no validation, no response object. A miss goes on to the route with what the lookup found (the
    route refills without asking Redis again); so do Redis errors and a disabled cache. The route is put in the
    scope so the metrics label it as usual.
    """

    def __init__(self, app: ASGIApp, first_page: FirstPage, route: BaseRoute) -> None:
        assert getattr(route, "path", None) == "/posts/", "the fast path serves the GET /posts/ route"
        self.app = app
        self.first_page = first_page
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if FirstPage.matches(scope):
            found = await self.first_page.lookup()
            if found.page is not None:
                scope["route"] = self.route
                headers = self.first_page.headers(found.page)
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": found.page.body})
                return
            scope[FIRST_PAGE_LOOKUP] = found
        await self.app(scope, receive, send)
