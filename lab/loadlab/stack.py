"""The whole system under test on one machine: data tier, exporters, API and Prometheus, started in order.

`Stack` is a context manager: whatever it started is stopped in reverse order when the block ends, on an
error half-way, or on Ctrl-C, unless the caller asks to keep it (`keep()`), in which case its state file lets
`loadlab down` stop it later.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from loadlab import services
from loadlab.cpulimit import CpuLimit, remove_tree
from loadlab.delay_proxy import DelayProxy
from loadlab.pgbouncer_exporter import pgbouncer_exporter
from loadlab.presets import Preset
from loadlab.process import free_port
from loadlab.services import Api, PgBouncer, Postgres, Prometheus, Redis, Service

S = TypeVar("S", bound=Service)
STATE_FILE = "state.json"
#: How long `loadlab down` lets each process group stop politely before SIGKILL.
DOWN_TIMEOUT = 15.0
#: Tables whose new rows must equal the 201s the clients saw, keyed by the Locust request name that creates them.
CREATED_BY = {"POST /posts/": "posts", "POST /comments/": "comments", "POST /auth/register": "users"}
#: What a run can put behind a delay proxy (`Stack(delayed=...)`): Postgres (behind PgBouncer, if any), Redis.
DELAYABLE = ("postgres", "redis")


class Stack:
    """Postgres, PgBouncer (if the preset wants it), Redis (likewise), exporters, the API, Prometheus."""

    def __init__(
        self,
        workdir: Path,
        preset: Preset,
        *,
        accounts: int,
        jwt_secret: str,
        delayed: Iterable[str] = (),
        data_disk_mb: int | None = None,
        cpu_limit: CpuLimit | None = None,
    ) -> None:
        unknown = set(delayed) - set(DELAYABLE)
        assert not unknown, f"only {DELAYABLE} can be delayed, not {sorted(unknown)}"
        self.delayed = frozenset(delayed)
        #: The delay proxies in the data path (a slow-dependency drill sets their `delay`), by what they slow.
        self.proxies: dict[str, DelayProxy] = {}
        #: Postgres's data on a disk of its own of this size (the disk-full drill fills it).
        self.data_disk_mb = data_disk_mb
        self.workdir = workdir
        #: The run's CPU quota (`--cpus`): every service's processes go under it as they start.
        self.cpu_limit = cpu_limit
        self.preset = preset
        self.accounts = accounts
        self.jwt_secret = jwt_secret
        self.locust_exporter_port = free_port()
        self.services: list[Service] = []
        self._kept = False
        self.postgres: Postgres | None = None
        self.pgbouncer: PgBouncer | None = None
        self.redis: Redis | None = None
        self.api: Api | None = None
        self.prometheus: Prometheus | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._kept:
            self.stop()

    def _started(self, service: S) -> S:
        self.services.append(service)
        self._save_state()
        return service

    def _start(self, service: S) -> S:
        """Start `service` under the run's CPU quota, if any, and keep it for `stop()`."""
        limit = self.cpu_limit
        if limit is not None:
            service.on_spawn = lambda pid: limit.adopt(service.name, pid)
        service.start()
        if limit is not None and service.process is not None and service.process.pid is not None:
            limit.adopt(service.name, service.process.pid)  # and whatever it forked before it was moved
        return self._started(service)

    def start(self, log: Any = print) -> Stack:
        wd = self.workdir
        log("starting postgres")
        self.postgres = postgres = self._start(Postgres(wd, data_disk_mb=self.data_disk_mb))
        postgres_port = self._proxied("postgres", postgres.port, log)
        database_url = postgres.url_at(postgres_port)
        exporters: dict[str, list[str]] = {"postgres": [self._start(services.postgres_exporter(wd, postgres)).target]}
        if self.preset.pgbouncer:
            log("starting pgbouncer")
            self.pgbouncer = pgbouncer = self._start(
                PgBouncer(wd, postgres, pool_size=self.preset.pgbouncer_pool_size, upstream_port=postgres_port)
            )
            database_url = pgbouncer.url
            exporters["pgbouncer"] = [self._start(pgbouncer_exporter(wd, pgbouncer)).target]
        redis_url = ""
        if self.preset.redis:
            log("starting redis")
            self.redis = redis = self._start(Redis(wd))
            redis_url = redis.url_at(self._proxied("redis", redis.port, log))
            exporters["redis"] = [self._start(services.redis_exporter(wd, redis)).target]
        env = {
            **self.preset.api_env(),
            "BOARD_DATABASE_URL": database_url,
            "BOARD_REDIS_URL": redis_url,
            "BOARD_JWT_SECRET": self.jwt_secret,
        }
        api = Api(wd, env)
        jobs = {"api": [api.metrics_target], "locust": [f"127.0.0.1:{self.locust_exporter_port}"], **exporters}
        # Prometheus first: it hands targets to its scrapers ~5 s after it is ready (see wait_scraped), time
        # the migration and the API's start would otherwise add to every run.
        log("starting prometheus")
        self.prometheus = prometheus = self._start(Prometheus(wd, jobs, rule_files=rule_files()))
        log("migrating and creating accounts")
        api.migrate(postgres.owner_url)
        api.seed_users(self.accounts)
        log("starting the api")
        self.api = self._start(api)
        prometheus.wait_scraped("api")
        return self

    def _proxied(self, name: str, port: int, log: Any) -> int:
        """The port to reach `name` at: its own, or a delay proxy's in front of it when the run delays it."""
        if name not in self.delayed:
            return port
        log(f"starting a delay proxy in front of {name}")
        self.proxies[name] = DelayProxy(name, port).start()
        return self.proxies[name].port

    def stop(self) -> None:
        """Stop everything in reverse start order, the delay proxies last; safe to call twice."""
        while self.services:
            service = self.services.pop()
            try:
                service.stop()
                service.cleanup()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                print(f"loadlab: stopping {service.name} failed: {exc}")
        while self.proxies:
            self.proxies.popitem()[1].stop()
        self._save_state()

    def keep(self) -> None:
        """Leave every process running after the block; `loadlab down <workdir>` stops them."""
        assert not self.proxies, "a stack with delay proxies cannot be kept: they live in the lab's own process"
        assert not self.data_disk_mb, "a stack with a data disk of its own cannot be kept: only stop() unmounts it"
        self._kept = True
        self._save_state()

    # -- state for `loadlab down` ----------------------------------------------------------------------------
    def _save_state(self) -> None:
        state = {
            "pids": [s.process.pid for s in self.services if s.process is not None and s.alive],
            # Each pid with its start time: `down` signals a pid only while it is still this process (pids recycle).
            "processes": [{"pid": pid, "start": process_start(pid)} for pid in self._live_pids()],
            "urls": self.urls(),
            # Service folders outside the run folder (root's home is not searchable by `postgres`).
            "external_dirs": [str(d) for d in self.external_dirs()],
            "cgroup": str(self.cpu_limit.parent.path) if self.cpu_limit and self.cpu_limit.parent else None,
        }
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2))

    def _live_pids(self) -> list[int]:
        return [s.process.pid for s in self.services if s.process is not None and s.process.pid and s.alive]

    def external_dirs(self) -> list[Path]:
        homes = [getattr(s, "home", None) for s in self.services]
        return [h for h in homes if isinstance(h, Path) and not h.is_relative_to(self.workdir)]

    def urls(self) -> dict[str, str]:
        urls = {}
        if self.api:
            urls["api"] = self.api.url
        if self.prometheus:
            urls["prometheus"] = self.prometheus.url
        return urls

    # -- the consistency check -------------------------------------------------------------------------------
    def row_counts(self) -> dict[str, int]:
        assert self.postgres is not None
        return self.postgres.row_counts()


def rule_files() -> list[Path]:
    from loadlab.commands import REPO_ROOT

    return sorted((REPO_ROOT / "grafana" / "rules").glob("*.rules.yaml"))


def down(workdir: Path) -> int:
    """Stop the processes a kept run left behind; returns how many were signalled."""
    state_path = workdir / STATE_FILE
    if not state_path.exists():
        raise FileNotFoundError(f"{state_path} not found: is {workdir} a lab run folder?")
    state = json.loads(state_path.read_text())
    count = 0
    for entry in reversed(state.get("processes", [])):
        pid = entry["pid"]
        if not _still_ours(pid, entry.get("start")):
            continue  # gone, or the pid now names someone else's process: never signal it
        count += _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + DOWN_TIMEOUT
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(pid, signal.SIGKILL)
    for folder in state.get("external_dirs", []):
        shutil.rmtree(folder, ignore_errors=True)
    if state.get("cgroup"):
        remove_tree(Path(state["cgroup"]))
    state["pids"] = []
    state["processes"] = []
    state["external_dirs"] = []
    state_path.write_text(json.dumps(state, indent=2))
    return count


def process_start(pid: int) -> int | None:
    """When `pid` started (clock ticks after boot, /proc/<pid>/stat field 22), None when it does not exist: with
    the pid it names one process for as long as the machine is up, where a pid alone is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])


def _still_ours(pid: int, start: int | None) -> bool:
    """The process the run recorded: the same start time, still leading its own process group (as the lab's
    services do), so signalling the group reaches only what the run started."""
    if start is None or process_start(pid) != start:
        return False
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _signal_group(pid: int, sig: int) -> int:
    try:
        os.killpg(pid, sig)
        return 1
    except (ProcessLookupError, PermissionError):
        return 0


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False
