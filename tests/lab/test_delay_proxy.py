"""The delay proxy of the slow-dependency drills: bytes intact and in order, answers held while a delay is set."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from loadlab.delay_proxy import DelayProxy

DELAY = 0.3


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[DelayProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = DelayProxy("echo", server.server_address[1]).start()
    yield proxy
    proxy.stop()
    server.shutdown()
    server.server_close()


def round_trip(port: int, payload: bytes) -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        started = time.monotonic()
        conn.sendall(payload)
        received = b""
        while len(received) < len(payload):
            received += conn.recv(65536)
        return received, time.monotonic() - started


def test_bytes_pass_intact_and_in_order(proxy: DelayProxy) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB: many chunks
    assert round_trip(proxy.port, payload)[0] == payload


def test_answers_are_held_while_a_delay_is_set(proxy: DelayProxy) -> None:
    """A lower bound only: the proxy holds each answer at least the delay (no upper bound is asserted)."""
    proxy.delay = DELAY
    received, seconds = round_trip(proxy.port, b"ping")
    assert received == b"ping" and seconds >= DELAY
    proxy.delay = 0.0
    assert round_trip(proxy.port, b"pong")[0] == b"pong"


def test_a_closed_upstream_closes_the_client(proxy: DelayProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn:
        conn.shutdown(socket.SHUT_WR)  # the echo server sees EOF and closes: so must the proxy, towards us
        assert conn.recv(10) == b""
