"""`python -m board serve`: one API instance as a supervisor and N worker processes, each with its own event loop.

One event loop is one core at most: a 2-core machine (or pod) needs two processes to use both. The supervisor
binds N listening sockets on the same port with SO_REUSEPORT, one per worker, so the kernel spreads connections
evenly over the workers instead of letting the least busy process accept them all. The supervisor keeps its
copy of each socket: if a worker dies, connections hashed to its socket wait in the backlog for its replacement
instead of being refused.

Metrics: the supervisor points prometheus_client's multiprocess mode at a fresh folder before the workers start
and serves their sum on the metrics port (its own thread, so a scrape never waits for a busy event loop), plus
its own figures (processes, restarts). A dead worker's live gauges are dropped (`mark_process_dead`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from types import FrameType
from wsgiref.simple_server import WSGIServer

from board.config import Settings

log = logging.getLogger("board.supervisor")

# SIGTERM stops accepting, drains (BOARD_SHUTDOWN_DRAIN_SECONDS), then in-flight requests get this long to finish
# (Kubernetes allows 30 s in all).
GRACEFUL_SHUTDOWN_SECONDS = 20
# Past uvicorn's default 2048: the seed's bursts of logins must queue, not be refused by the kernel.
BACKLOG = 4096
#: A worker must have built its app and hashed its dummy password by then (bcrypt cost 12 on a slow core ~0.3 s).
START_TIMEOUT = 120.0
#: Pause before a dead worker is replaced, and how many failed starts in a row end the instance.
RESTART_DELAY = 1.0
MAX_FAILED_STARTS = 3
POLL_INTERVAL = 0.5


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def run_worker(index: int, count: int, sock: socket.socket, ready: Event) -> None:
    """The body of worker `index` of `count` (a spawned process: it reads BOARD_* and the metrics folder anew)."""
    import uvicorn
    from prometheus_client import disable_created_metrics

    from board.app import create_app
    from board.drain import CloseWhenDraining, DrainingServer
    from board.gcpause import freeze_startup_heap

    # `_created` series double the scrape and no dashboard reads them.
    disable_created_metrics()
    settings = Settings().for_process(index, count)  # read from BOARD_* variables
    app = CloseWhenDraining(create_app(settings, process=str(index), on_started=ready.set))
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        access_log=False,
        # Clients are seen by their peer address (the login throttle counts failures per address): a forwarded
        # header would let any client on an allowed address pick its own.
        proxy_headers=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_keep_alive=settings.keep_alive_seconds,
        backlog=BACKLOG,
        lifespan="on",
    )
    freeze_startup_heap()
    DrainingServer(config, app, settings.shutdown_drain_seconds).run(sockets=[sock])


@dataclass
class Worker:
    index: int
    sock: socket.socket
    process: BaseProcess | None = None
    ready: Event | None = None
    failed_starts: int = 0
    started_at: float = 0.0


@dataclass
class Supervisor:
    settings: Settings
    host: str
    port: int
    metrics_port: int
    workers: list[Worker] = field(default_factory=list)
    restarts: int = 0
    _stopping: bool = False

    def __post_init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._metrics_dir = ""

    @property
    def count(self) -> int:
        return self.settings.workers

    # -- lifecycle ------------------------------------------------------------------------------------------
    def run(self) -> int:
        """Start everything, supervise until SIGTERM/SIGINT, stop gracefully; the exit code of the instance."""
        self._metrics_dir = tempfile.mkdtemp(prefix="board-metrics-")
        # Read by prometheus_client when the (spawned) workers import it.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        metrics_server: WSGIServer | None = None
        try:
            self.workers = [Worker(i, listening_socket(self.host, self.port)) for i in range(self.count)]
            for worker in self.workers:
                self._start(worker)
            if not self._wait_ready(self.workers):
                return 1
            metrics_server = self._serve_metrics()
            log.warning(
                "board: %d processes on http://%s:%d, metrics on :%d",
                self.count,
                self.host,
                self.port,
                self.metrics_port,
            )
            return self._supervise()
        finally:
            # The listening sockets first: once the workers stop accepting (their drain), a new connection must be
            # refused at once, not completed by the kernel into a backlog nobody reads and reset at exit.
            for worker in self.workers:
                worker.sock.close()
            self._stop_workers()
            if metrics_server is not None:
                metrics_server.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _start(self, worker: Worker) -> None:
        worker.ready = self._context.Event()
        worker.process = self._context.Process(
            target=run_worker,
            args=(worker.index, self.count, worker.sock, worker.ready),
            name=f"board-worker-{worker.index}",
            daemon=False,
        )
        worker.process.start()
        worker.started_at = time.monotonic()

    def _wait_ready(self, workers: Iterable[Worker]) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        for worker in workers:
            assert worker.process is not None and worker.ready is not None
            while not worker.ready.wait(POLL_INTERVAL):
                if self._stopping:
                    return False
                if not worker.process.is_alive():
                    log.error("board: worker %d exited (%s) before it was ready", worker.index, worker.process.exitcode)
                    return False
                if time.monotonic() > deadline:
                    log.error("board: worker %d not ready after %.0f s", worker.index, START_TIMEOUT)
                    return False
        return True

    def _supervise(self) -> int:
        while not self._stopping:
            sentinels = [w.process.sentinel for w in self.workers if w.process is not None]
            wait(sentinels, timeout=POLL_INTERVAL)
            for worker in self.workers:
                assert worker.process is not None and worker.ready is not None
                if self._stopping or worker.process.is_alive():
                    continue
                pid, code = worker.process.pid, worker.process.exitcode
                worker.failed_starts = 0 if worker.ready.is_set() else worker.failed_starts + 1
                log.error("board: worker %d (pid %s) exited with %s; replacing it", worker.index, pid, code)
                self._forget(pid)
                if worker.failed_starts >= MAX_FAILED_STARTS:
                    log.error("board: worker %d failed to start %d times in a row", worker.index, MAX_FAILED_STARTS)
                    return 1
                time.sleep(RESTART_DELAY)
                self.restarts += 1
                self._start(worker)
        return 0

    def _forget(self, pid: int | None) -> None:
        """Drop a dead process's live gauges from the sums (its counters and histograms stay: they happened)."""
        from prometheus_client import multiprocess

        if pid is not None:
            multiprocess.mark_process_dead(pid, self._metrics_dir)

    def _stop_workers(self) -> None:
        live = [w.process for w in self.workers if w.process is not None and w.process.is_alive()]
        for process in live:
            assert process.pid is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_drain_seconds + GRACEFUL_SHUTDOWN_SECONDS + 5
        for process in live:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5)

    # -- metrics --------------------------------------------------------------------------------------------
    def _serve_metrics(self) -> WSGIServer:
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        from prometheus_client.multiprocess import MultiProcessCollector
        from prometheus_client.registry import Collector

        supervisor = self

        class SupervisorCollector(Collector):
            def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
                yield GaugeMetricFamily("board_api_processes", "API processes of this instance", value=supervisor.count)
                live = sum(1 for w in supervisor.workers if w.process is not None and w.process.is_alive())
                yield GaugeMetricFamily("board_api_processes_alive", "API processes running now", value=live)
                yield CounterMetricFamily(
                    "board_api_process_restarts", "API processes replaced after they died", value=supervisor.restarts
                )

        registry = CollectorRegistry()
        MultiProcessCollector(registry, self._metrics_dir)
        registry.register(SupervisorCollector())
        server, _ = start_http_server(self.metrics_port, self.host, registry)
        return server


def serve(settings: Settings, host: str, port: int, metrics_port: int | None = None) -> int:
    return Supervisor(settings, host, port, settings.metrics_port if metrics_port is None else metrics_port).run()
