"""Requests the lab sends itself beside a Locust run, each one timed: what a client outside the load sees.

The bench's login storm measures other requests meanwhile, and the overload drill times the spike's 503s. The
clients are coroutines on one event loop in a thread of their own: threads, one per client, would time each
other's turns at the GIL along with the API's answers. Every response is kept (`samples`): the server counts
these requests too, so the consistency check adds them to the clients' side (`responses()`).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self

import httpx

#: Seconds each client waits between its requests.
PROBE_INTERVAL = 0.05
PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Sample:
    at: float  # wall clock when sent
    name: str  # "METHOD /path" (as loadlab.stack.CREATED_BY names them)
    status: int  # 0 = no response (connection error or timeout)
    ms: float
    text: str = ""  # a 503's body (its text names the overload reason), or the error of a status 0


#: One turn of a client (`turn` counts its turns from the client's index): any number of `TrafficProbe.send`.
Step = Callable[[httpx.AsyncClient, int], Awaitable[None]]


class TrafficProbe:
    """`clients` coroutines, each taking a `step` every `interval` seconds until `stop()`."""

    def __init__(self, base_url: str, step: Step, clients: int = 1, interval: float = PROBE_INTERVAL) -> None:
        self.base_url = base_url
        self.step = step
        self.clients = clients
        self.interval = interval
        self.samples: list[Sample] = []  # appended on the probe's loop only
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="probe", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(PROBE_TIMEOUT + 5)

    async def send(
        self, client: httpx.AsyncClient, method: str, path: str, *, name: str = "", **request: Any
    ) -> httpx.Response | None:
        """One request, timed and kept as a sample (`name`: how it is listed, "METHOD path" by default);
        None when no response came."""
        at, started = time.time(), time.perf_counter()
        response: httpx.Response | None = None
        try:
            response = await client.request(method, path, **request)
            status, text = response.status_code, response.text if response.status_code == 503 else ""
        except httpx.HTTPError as exc:
            status, text = 0, type(exc).__name__
        ms = (time.perf_counter() - started) * 1000
        self.samples.append(Sample(at, name or f"{method} {path}", status, ms, text))
        return response

    def responses(self) -> list[tuple[str, int, str]]:
        """(endpoint, status, text) of every request, for `consistency.response_counts`."""
        return [(s.name, s.status, s.text) for s in self.samples]

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=PROBE_TIMEOUT, limits=limits) as client:
            await asyncio.gather(*(self._run(client, i) for i in range(self.clients)))

    async def _run(self, client: httpx.AsyncClient, turn: int) -> None:
        while not self._stop.is_set():
            await self.step(client, turn)
            turn += 1
            await asyncio.sleep(self.interval)


def p99(values: list[float]) -> float | None:
    """The 99th percentile (inclusive method: never above the largest value); None under two values."""
    if len(values) < 2:
        return None
    return statistics.quantiles(values, n=100, method="inclusive")[98]
