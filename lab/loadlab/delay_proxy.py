"""A TCP proxy on loopback that can hold every answer for a while: a slow database or a slow Redis, on demand.

The slow-dependency drills put one between PgBouncer and Postgres (or the API and Redis) and set `delay` during
the fault: each chunk the upstream sends is delivered `delay` seconds after it arrived, in order, so every round
trip is that much slower while throughput is not capped. It runs on an event loop in a thread of the lab.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from loadlab.process import free_port

CHUNK = 65536
STOP_TIMEOUT = 10.0


class DelayProxy:
    def __init__(self, name: str, upstream_port: int, port: int | None = None) -> None:
        self.name = name
        self.upstream_port = upstream_port
        self.port = port or free_port()
        #: Seconds each answer from upstream is held; set it from any thread.
        self.delay = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"delay-proxy-{name}", daemon=True)
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> DelayProxy:
        self._thread.start()
        if not self._ready.wait(STOP_TIMEOUT) or self._server is None:
            raise RuntimeError(f"delay proxy {self.name} did not start on port {self.port}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
            self._ready.set()
            self._loop.run_forever()
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*self._tasks, return_exceptions=True))
        finally:
            self._ready.set()
            self._loop.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.close()
            self._tasks.discard(task)
            return
        try:
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer, held=False),
                self._pipe(upstream_reader, client_writer, held=True),
            )
        finally:
            for writer in (client_writer, upstream_writer):
                writer.close()
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, held: bool) -> None:
        """Copy until EOF; when `held`, each chunk goes out `delay` after it came in (a queue keeps the order)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(CHUNK):
                queue.put_nowait((loop.time() + (self.delay if held else 0.0), data))
            queue.put_nowait((loop.time() + (self.delay if held else 0.0), b""))
            await sender
        except OSError:
            writer.close()  # a reset on one side ends the other side's copy too
        finally:
            sender.cancel()
