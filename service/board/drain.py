"""A stop (SIGTERM: a rolling update, a scale-down) that answers every request it was sent.

uvicorn stops by closing every idle kept-alive connection at once. A client that sent its next request on one
at that instant gets the connection closed without an answer, and a POST is not retried: the api-sigterm drill
saw two such failures under the seed mix. Draining first: stop accepting, then for a few seconds answer every
request with `Connection: close` (the client reconnects elsewhere for the next one), and only then let uvicorn
close what is still idle. Clients that wait longer than the drain between requests can still meet a closed
connection; the seed mix waits 1-3 s.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: How often the drain checks whether every connection has gone.
POLL_SECONDS = 0.05


class CloseWhenDraining:
    """ASGI wrapper: once `draining`, every response tells the client to close its connection after it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if self.draining and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, whose shutdown drains its connections for up to `drain_seconds` first."""

    def __init__(self, config: uvicorn.Config, app: CloseWhenDraining, drain_seconds: float) -> None:
        super().__init__(config)
        self.drained_app = app
        self.drain_seconds = drain_seconds

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections; uvicorn's shutdown closes them again, harmlessly
        self.drained_app.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_seconds
        while self.server_state.connections and loop.time() < deadline:
            await asyncio.sleep(POLL_SECONDS)
        await super().shutdown(sockets)
