"""The pure ASGI middleware on their own: body limit (declared and chunked), route-template metrics, in-flight
limit, the shedding of password-hashing routes."""

from __future__ import annotations

import asyncio
import re
import threading

import httpx
from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message

from board.cache import SCOPE_KEY, CachedPage, FirstPage, Lookup
from board.metrics import Metrics
from board.middleware import BodyLimitMiddleware, FirstPageFastPath, InFlightLimitMiddleware, MetricsMiddleware

LIMIT = 1024


async def _echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


async def _item(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.path_params["item_id"])


def _app() -> Starlette:
    return Starlette(routes=[Route("/echo", _echo, methods=["POST"]), Route("/items/{item_id}", _item)])


async def _call(app: object, body_chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """Drive the ASGI app by hand so the body arrives exactly as the given chunks (no Content-Length)."""
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(body_chunks) - 1}
        for i, chunk in enumerate(body_chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "headers": headers,
        "http_version": "1.1",
        "scheme": "http",
        "root_path": "",
    }
    await app(scope, receive, send)  # type: ignore[operator]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def test_declared_oversized_body_gets_413_without_reaching_the_app() -> None:
    status, body = await _call(BodyLimitMiddleware(_app(), LIMIT), [b""], [(b"content-length", b"5000")])
    assert status == 413 and b"detail" in body


async def test_chunked_oversized_body_gets_413() -> None:
    status, body = await _call(BodyLimitMiddleware(_app(), LIMIT), [b"x" * 600, b"x" * 600], [])
    assert status == 413 and b"detail" in body


async def test_chunked_body_within_limit_is_replayed_whole() -> None:
    status, body = await _call(BodyLimitMiddleware(_app(), LIMIT), [b"x" * 500, b"x" * 500], [])
    assert (status, body) == (200, b"1000")


async def test_malformed_content_length_gets_400() -> None:
    status, _ = await _call(BodyLimitMiddleware(_app(), LIMIT), [b"x"], [(b"content-length", b"abc")])
    assert status == 400


async def test_metrics_label_the_route_template_and_unmatched_paths() -> None:
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    app = MetricsMiddleware(_app(), metrics)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/items/12345")).status_code == 200
        assert (await client.get("/nowhere/999")).status_code == 404
    text = generate_latest(metrics.registry).decode()
    assert 'board_http_requests_total{method="GET",route="/items/{item_id}",status="200"} 1.0' in text
    assert 'board_http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert set(re.findall(r'route="([^"]*)"', text)) == {"/items/{item_id}", "<unmatched>"}
    assert "board_http_requests_in_flight 0.0" in text


def test_known_label_values_start_at_zero() -> None:
    text = generate_latest(Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=True).registry).decode()
    for series in (
        'board_cache_lookups_total{result="error"} 0.0',
        'board_overload_rejections_total{reason="executor_full"} 0.0',
        'board_overload_rejections_total{reason="pool_queue_full"} 0.0',
        'board_overload_rejections_total{reason="pool_queue_standing"} 0.0',
        'board_overload_rejections_total{reason="in_flight_full"} 0.0',
        'board_executor_task_duration_seconds_count{task="verify"} 0.0',
    ):
        assert series in text


async def test_in_flight_limit_refuses_the_excess_before_routing_and_spares_liveness() -> None:
    """Limit 2, two requests held in the app: the next ones get 503 + Retry-After at once, labelled by route."""
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    release = asyncio.Event()
    entered: list[str] = []

    async def held(request: Request) -> PlainTextResponse:
        entered.append(request.url.path)
        await release.wait()
        return PlainTextResponse("done")

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/items/{item_id}", held), Route("/healthz", ok), Route("/readyz", ok)])
    app = MetricsMiddleware(InFlightLimitMiddleware(inner, 2, metrics, 3, inner.router.routes), metrics)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        holders = [asyncio.create_task(client.get(f"/items/{n}")) for n in (1, 2)]
        while len(entered) < 2:
            await asyncio.sleep(0)
        refused = await client.get("/items/3")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "3"
        assert refused.json() == {"detail": "server busy: too many requests in flight"}
        assert entered == ["/items/1", "/items/2"]  # the refused one never reached the app
        assert (await client.get("/healthz")).status_code == 200  # liveness is never shed
        assert (await client.get("/readyz")).status_code == 503  # readiness is inside the bound
        release.set()
        assert [(await h).status_code for h in holders] == [200, 200]
        assert (await client.get("/items/4")).status_code == 200  # room again
    text = generate_latest(metrics.registry).decode()
    assert 'board_overload_rejections_total{reason="in_flight_full"} 2.0' in text
    assert 'board_http_requests_total{method="GET",route="/items/{item_id}",status="503"} 1.0' in text


async def test_in_flight_limit_zero_admits_everything() -> None:
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    app = InFlightLimitMiddleware(_app(), 0, metrics, 1, [])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        responses = await asyncio.gather(*(client.get(f"/items/{n}") for n in range(20)))
    assert {r.status_code for r in responses} == {200}


class CannedFirstPage(FirstPage):
    """The real first page (its request rule, its headers) with a lookup that finds what the test says."""

    def __init__(self, found: Lookup) -> None:
        super().__init__("", 5, Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False), 20)
        self.found = found
        self.lookups = 0

    async def lookup(self) -> Lookup:
        self.lookups += 1
        return self.found


def fast_path_app(found: Lookup) -> tuple[FirstPageFastPath, CannedFirstPage, list[object]]:
    seen: list[object] = []

    async def route(request: Request) -> PlainTextResponse:
        seen.append((str(request.url), request.scope.get(SCOPE_KEY)))
        return PlainTextResponse("from the route")

    inner = Starlette(routes=[Route("/posts/", route)])
    first_page = CannedFirstPage(found)
    return FirstPageFastPath(inner, first_page, inner.routes[0]), first_page, seen


async def test_fast_path_serves_a_cached_first_page_without_the_route() -> None:
    app, first_page, seen = fast_path_app(Lookup(page=CachedPage(b'[{"id": 9}]', 8)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/posts/")
    assert response.status_code == 200 and response.content == b'[{"id": 9}]'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["link"] == '</posts/?limit=20&before=8>; rel="next"'
    assert seen == [] and first_page.lookups == 1


async def test_fast_path_hands_a_miss_to_the_route_and_leaves_queries_alone() -> None:
    miss = Lookup(version=b"41")
    app, first_page, seen = fast_path_app(miss)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        first = await client.get("/posts/")
        query = await client.get("/posts/?limit=5")
    assert first.text == "from the route" and query.text == "from the route"
    # The route gets the miss's version, so it refills without asking Redis again; a query never looks.
    assert seen == [("http://t/posts/", miss), ("http://t/posts/?limit=5", None)]
    assert first_page.lookups == 1


async def test_hashing_shed_refuses_logins_before_routing_while_the_executor_refuses() -> None:
    """One bcrypt worker, no queue, held busy: a login is refused before its body is read; other routes pass."""
    from board.executor import BoundedExecutor
    from board.middleware import HashingShedMiddleware

    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    executor = BoundedExecutor(1, 0, metrics)
    release = threading.Event()
    reached: list[str] = []

    async def login(request: Request) -> PlainTextResponse:
        reached.append(request.url.path)
        return PlainTextResponse("token")

    inner = Starlette(routes=[Route("/auth/login", login, methods=["POST"]), Route("/items/{item_id}", _item)])
    paths = frozenset({"/auth/login"})
    app = MetricsMiddleware(HashingShedMiddleware(inner, executor, paths, metrics, 2, inner.router.routes), metrics)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.post("/auth/login", data={"u": "1"})).status_code == 200  # room: admitted
            busy = asyncio.ensure_future(executor.run("verify", release.wait))
            while executor.busy < 1:
                await asyncio.sleep(0.001)
            refused = await client.post("/auth/login", data={"u": "2"})
            assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
            assert refused.json() == {"detail": "server busy: password hashing queue full"}
            assert (await client.get("/items/7")).status_code == 200  # nothing else is shed
            release.set()
            await busy
            assert (await client.post("/auth/login", data={"u": "3"})).status_code == 200
    finally:
        release.set()
        executor.shutdown()
    assert reached == ["/auth/login", "/auth/login"]  # the refused login never reached the route
    text = generate_latest(metrics.registry).decode()
    assert 'board_overload_rejections_total{reason="executor_full"} 1.0' in text
    assert "board_executor_rejections_total 1.0" in text
    assert 'board_http_requests_total{method="POST",route="/auth/login",status="503"} 1.0' in text


async def test_a_login_admitted_at_the_door_is_not_refused_after_its_lookup() -> None:
    """One worker, no queue. While the admitted login "looks its user up", a second login is refused at the
    door; the first one's hashing then runs, although the executor refuses everyone else."""
    from board.executor import BoundedExecutor
    from board.middleware import HashingShedMiddleware

    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    executor = BoundedExecutor(1, 0, metrics)
    looking_up, looked_up = asyncio.Event(), asyncio.Event()

    async def login(request: Request) -> PlainTextResponse:
        await request.form()
        looking_up.set()
        await looked_up.wait()  # the user lookup, while other requests arrive
        return PlainTextResponse(await executor.run("verify", str.upper, "token"))

    inner = Starlette(routes=[Route("/auth/login", login, methods=["POST"])])
    app = HashingShedMiddleware(inner, executor, frozenset({"/auth/login"}), metrics, 1, inner.router.routes)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            first = asyncio.ensure_future(client.post("/auth/login", data={"u": "1"}))
            await looking_up.wait()
            second = await client.post("/auth/login", data={"u": "2"})
            assert second.status_code == 503
            assert executor.refusal() is not None  # the queue is full to anyone without a place
            looked_up.set()
            response = await first
            assert response.status_code == 200 and response.text == "TOKEN"
            assert (await client.post("/auth/login", data={"u": "3"})).status_code == 200  # the place came back
    finally:
        executor.shutdown()
    assert "board_executor_rejections_total 2.0" in generate_latest(metrics.registry).decode()
