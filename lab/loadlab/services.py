"""The data tier and its neighbours as real processes on loopback: Postgres, PgBouncer, Redis, exporters, Prometheus.

Every service lives in its own folder under a work folder, listens on a free loopback port, and logs to
``<workdir>/logs/<name>.log``. Postgres and PgBouncer refuse to run as root, so when we are root they run as
the ``postgres`` account in folders it owns (see `process.service_user`). The test harness and `loadlab run`
use these same classes, so what the tests prove is what the lab runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from loadlab import commands, diskfill
from loadlab.process import Process, ServiceError, free_port, give_to, port_is_open, run_to_completion, service_user

PG_BIN = Path(os.environ.get("LOADLAB_PG_BIN", "/usr/lib/postgresql/15/bin"))
PGBOUNCER = os.environ.get("LOADLAB_PGBOUNCER", "/usr/sbin/pgbouncer")
REDIS_SERVER = os.environ.get("LOADLAB_REDIS_SERVER", "/usr/bin/redis-server")
PROMETHEUS = os.environ.get("LOADLAB_PROMETHEUS", "/usr/bin/prometheus")
POSTGRES_EXPORTER = os.environ.get("LOADLAB_POSTGRES_EXPORTER", "/usr/bin/prometheus-postgres-exporter")
REDIS_EXPORTER = os.environ.get("LOADLAB_REDIS_EXPORTER", "/usr/bin/prometheus-redis-exporter")

DB_NAME = "board"
#: The API's role: reads and writes rows, nothing else (helm/loadlab/files/db-roles.sql).
DB_USER = "board"
#: The database's owner: runs the migrations.
DB_OWNER = "board_owner"
#: The roles' script, the chart's own (its Postgres runs it at initdb): one source for both.
DB_ROLES_SQL = Path(__file__).resolve().parents[2] / "helm" / "loadlab" / "files" / "db-roles.sql"
#: The Postgres exporter's custom queries (lock waits), the chart's own: one source for both.
EXPORTER_QUERIES = DB_ROLES_SQL.parent / "postgres-exporter-queries.yaml"
#: Redis' users (the API's, the exporter's; default user off), the chart's file too.
REDIS_USERS_CONF = DB_ROLES_SQL.with_name("redis-users.conf")
REDIS_API_USER = "board"
REDIS_EXPORTER_USER = "loadlab-exporter"
#: The lab's own Redis user (tests' and drills' housekeeping: FLUSHDB, CONFIG GET); the chart has none.
REDIS_ADMIN_USER = "loadlab-admin"
START_TIMEOUT = 60.0


def _reachable_by(path: Path, user: str) -> bool:
    """True when `user` can walk down to `path` (every ancestor searchable by "other"); root's home is not."""
    return not any(parent.exists() and not parent.stat().st_mode & stat.S_IXOTH for parent in [path, *path.parents])


def service_dir(workdir: Path, name: str, user: str | None) -> Path:
    """A folder for `name` that `user` owns; outside `workdir` (linked from it) when `user` cannot reach it."""
    preferred = workdir / name
    if user is None or _reachable_by(workdir.resolve(), user):
        preferred.mkdir(parents=True, exist_ok=True)
        give_to(preferred, user)
        return preferred
    path = Path(tempfile.mkdtemp(prefix=f"loadlab-{name}-"))
    path.chmod(0o755)
    give_to(path, user)
    if not preferred.exists():
        preferred.symlink_to(path)
    return path


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (it holds a password): created 0600, never world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file of the same name may have had other bits
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def http_ok(url: str, timeout: float = 1.0) -> bool:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URLs we built
        status: int = response.status
        return status == 200


def _has_result(url: str, timeout: float = 1.0) -> bool:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URLs we built
        return bool(json.load(response)["data"]["result"])


class Service:
    """Base: one process, one port, one folder, one log."""

    name = "service"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.process: Process | None = None
        #: The service's own folder when it has one; may live outside `workdir` (see `service_dir`).
        self.home: Path | None = None
        #: Called with each new process's pid (the stack puts it under the run's CPU quota: `loadlab.cpulimit`).
        self.on_spawn: Callable[[int], None] | None = None
        (workdir / "logs").mkdir(parents=True, exist_ok=True)

    @property
    def log_path(self) -> Path:
        return self.workdir / "logs" / f"{self.name}.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.alive

    def spawn(self, argv: Sequence[str | Path], **options: Any) -> Process:
        """Start this service's long-running process (logged to its log, under its CPU quota if any)."""
        self.process = Process(self.name, argv, self.log_path, on_spawn=self.on_spawn, **options).start()
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        """Die the hard way (SIGKILL), as a crash would."""
        if self.process is not None:
            self.process.stop(sig=signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def start(self) -> Service:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def cleanup(self) -> None:
        """Remove the service's folder when it lives outside the work folder (nothing else would)."""
        if self.home is not None and not self.home.is_relative_to(self.workdir):
            shutil.rmtree(self.home, ignore_errors=True)


class Postgres(Service):
    """A fresh cluster (initdb) with a `board` database owned by `board_owner` (migrations) and a `board` role for
    the API (rows only); password auth on 127.0.0.1 only."""

    name = "postgres"
    #: The cluster's bootstrap superuser (initdb -U), and the roles script run once the database exists: a test
    #: of the chart's upgrade path builds the layout from before the roles by changing them.
    superuser = "postgres"
    roles_sql: Path | None = DB_ROLES_SQL

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        settings: Mapping[str, str] | None = None,
        data_disk_mb: int | None = None,
    ) -> None:
        super().__init__(workdir, port)
        self.user = service_user()
        self.password = secrets.token_hex(12)
        self.owner_password = secrets.token_hex(12)
        self.superuser_password = secrets.token_hex(12)
        self.settings = {"max_connections": "300", **(settings or {})}
        #: A disk of its own for the data (a tmpfs of this size; the WAL stays outside: a full WAL disk stops
        #: Postgres): the disk-full drill fills it.
        self.data_disk_mb = data_disk_mb
        self._mounted = False

    @property
    def data_dir(self) -> Path:
        assert self.home is not None, "Postgres.start() first"
        return self.home / "data"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL the API uses when it talks to Postgres directly."""
        return self.url_at(self.port)

    def url_at(self, port: int) -> str:
        """The same URL through another port (a proxy in front of this Postgres)."""
        return f"postgresql+psycopg://{DB_USER}:{self.password}@127.0.0.1:{port}/{DB_NAME}"

    @property
    def owner_url(self) -> str:
        """The URL migrations use: the database's owner, straight to Postgres."""
        return f"postgresql+psycopg://{DB_OWNER}:{self.owner_password}@127.0.0.1:{self.port}/{DB_NAME}"

    @property
    def exporter_dsn(self) -> str:
        return f"postgresql://postgres:{self.superuser_password}@127.0.0.1:{self.port}/{DB_NAME}?sslmode=disable"

    def _initdb(self) -> None:
        self.home = service_dir(self.workdir, self.name, self.user)
        pwfile = self.home / "pwfile"
        write_private(pwfile, self.superuser_password + "\n")
        extra: list[str | Path] = []
        if self.data_disk_mb:
            self._mount_data_disk()
            extra = ["--waldir", self.home / "wal"]
        give_to(self.home, self.user)
        options = ["--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--no-instructions"]
        argv: list[str | Path] = [PG_BIN / "initdb", "-D", self.data_dir, "-U", self.superuser, "--pwfile", pwfile]
        run_to_completion([*argv, *options, *extra], self.log_path, user=self.user)
        pwfile.unlink()

    def _mount_data_disk(self) -> None:
        self.data_dir.mkdir(mode=0o700)
        mount = ["mount", "-t", "tmpfs", "-o", f"size={self.data_disk_mb}m,mode=0700", "tmpfs", str(self.data_dir)]
        result = subprocess.run(mount, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ServiceError(
                f"a data disk of its own needs a tmpfs mount (root with CAP_SYS_ADMIN): {result.stderr.strip()}"
            )
        self._mounted = True

    @property
    def filler(self) -> Path:
        return self.data_dir / "loadlab-filler"

    def fill_disk(self) -> None:
        """Take every free byte of the data disk: Postgres can no longer grow a table or an index."""
        assert self._mounted, "fill_disk needs Postgres(data_disk_mb=...)"
        diskfill.fill(self.filler)

    def free_disk(self) -> None:
        self.filler.unlink(missing_ok=True)

    def cleanup(self) -> None:
        if self._mounted:
            subprocess.run(["umount", str(self.data_dir)], capture_output=True, check=False)
            self._mounted = False
        super().cleanup()

    def start(self) -> Postgres:
        first = self.home is None
        if first:
            self._initdb()
        server = {
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": "",
            "logging_collector": "off",
            **self.settings,
        }
        argv: list[str | Path] = [PG_BIN / "postgres", "-D", self.data_dir]
        for key, value in server.items():
            argv += ["-c", f"{key}={value}"]
        # SIGINT is Postgres's "fast" shutdown: it rolls back open transactions and flushes what was committed.
        self.spawn(argv, user=self.user, stop_signal=signal.SIGINT).wait_ready(self._ready, START_TIMEOUT)
        if first:
            self.psql(f"CREATE DATABASE {DB_NAME}", db="postgres")
            roles = {
                "LOADLAB_DB_OWNER": DB_OWNER,
                "LOADLAB_DB_OWNER_PASSWORD": self.owner_password,
                "LOADLAB_DB_USER": DB_USER,
                "LOADLAB_DB_PASSWORD": self.password,
            }
            if self.roles_sql is not None:
                self._psql(["-f", str(self.roles_sql)], DB_NAME, roles)
        return self

    def _ready(self) -> bool:
        result = subprocess.run(
            [PG_BIN / "pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False, timeout=5
        )
        return result.returncode == 0

    def psql(self, sql: str, db: str = DB_NAME) -> str:
        """Run SQL as the superuser and return psql's unaligned output (for setup and consistency checks)."""
        return self._psql(["-c", sql], db)

    def _psql(self, args: list[str], db: str, env: Mapping[str, str] | None = None) -> str:
        # Passwords go through the environment (PGPASSWORD, the roles script's \getenv), never argv.
        env = {**os.environ, **(env or {}), "PGPASSWORD": self.superuser_password}
        server = ["-h", "127.0.0.1", "-p", str(self.port), "-U", self.superuser, "-d", db]
        argv: list[str | Path] = [PG_BIN / "psql", *server, "-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", *args]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=60)
        if result.returncode != 0:
            raise ServiceError(f"psql failed on {' '.join(args)!r}: {result.stderr.strip()}")
        return result.stdout.strip()

    def row_counts(self) -> dict[str, int]:
        """Rows in each table of the API's schema (`board.models`), read in one statement."""
        from board.models import Base

        tables = sorted(Base.metadata.tables)
        counts = " UNION ALL ".join(f"SELECT '{table}', count(*) FROM {table}" for table in tables)
        return {table: int(n) for table, n in (line.split("|") for line in self.psql(counts).splitlines())}


class PgBouncer(Service):
    """PgBouncer in transaction mode in front of `postgres`, with a stats user so an exporter can read it."""

    name = "pgbouncer"

    def __init__(
        self,
        workdir: Path,
        postgres: Postgres,
        port: int | None = None,
        *,
        pool_size: int = 20,
        max_client_conn: int = 2000,
        settings: Mapping[str, str] | None = None,
        upstream_port: int | None = None,
    ) -> None:
        super().__init__(workdir, port)
        self.postgres = postgres
        #: Where PgBouncer connects to Postgres: its port, or a proxy's in front of it.
        self.upstream_port = upstream_port or postgres.port
        self.user = service_user()
        self.pool_size = pool_size
        self.max_client_conn = max_client_conn
        self.settings = dict(settings or {})

    @property
    def url(self) -> str:
        pg = self.postgres
        return f"postgresql+psycopg://{DB_USER}:{pg.password}@127.0.0.1:{self.port}/{DB_NAME}"

    @property
    def admin_dsn(self) -> str:
        """DSN of PgBouncer's admin console (`SHOW POOLS`), for the exporter."""
        return f"postgresql://{DB_USER}:{self.postgres.password}@127.0.0.1:{self.port}/pgbouncer"

    def config(self) -> str:
        lines = [
            "[databases]",
            f"{DB_NAME} = host=127.0.0.1 port={self.upstream_port} dbname={DB_NAME}",
            "",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = scram-sha-256",
            "auth_file = userlist.txt",
            "pool_mode = transaction",
            f"default_pool_size = {self.pool_size}",
            f"max_client_conn = {self.max_client_conn}",
            f"stats_users = {DB_USER}",
            "ignore_startup_parameters = extra_float_digits",
            "server_reset_query =",
            # After a Postgres restart PgBouncer refuses logins for this long (default 15 s): the API's 503 window.
            "server_login_retry = 1",
            "log_connections = 0",
            "log_disconnections = 0",
        ]
        lines += [f"{key} = {value}" for key, value in self.settings.items()]
        return "\n".join(lines) + "\n"

    def start(self) -> PgBouncer:
        if self.home is None:
            self.home = service_dir(self.workdir, self.name, self.user)
        (self.home / "pgbouncer.ini").write_text(self.config())
        write_private(self.home / "userlist.txt", f'"{DB_USER}" "{self.postgres.password}"\n')
        give_to(self.home, self.user)
        self.spawn([PGBOUNCER, "pgbouncer.ini"], user=self.user, cwd=self.home).wait_ready(
            lambda: port_is_open(self.port), START_TIMEOUT
        )
        return self


class Redis(Service):
    """A cache-only Redis: no persistence, loopback only, protected mode, one ACL user per client
    (files/redis-users.conf: the API's, the exporter's; no default user) plus the lab's admin; users and passwords in
    a 0600 file, never argv."""

    name = "redis"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.password = secrets.token_hex(16)  # the API's user
        self.exporter_password = secrets.token_hex(16)
        self.admin_password = secrets.token_hex(16)

    @property
    def url(self) -> str:
        return self.url_at(self.port)

    def url_at(self, port: int) -> str:
        """The API's URL (its user and password) through another port (a proxy in front of this Redis)."""
        return f"redis://{REDIS_API_USER}:{self.password}@127.0.0.1:{port}/0"

    @property
    def admin_url(self) -> str:
        """Every command and key: for the lab's and tests' housekeeping, never given to the API."""
        return f"redis://{REDIS_ADMIN_USER}:{self.admin_password}@127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        """`redis://host:port` without the password (an exporter's flag: argv is readable by every local user)."""
        return f"redis://127.0.0.1:{self.port}"

    def users(self) -> str:
        """files/redis-users.conf with the passwords' SHA-256 filled in, plus the lab's admin."""
        text = REDIS_USERS_CONF.read_text()
        for marker, password in (("BOARD", self.password), ("EXPORTER", self.exporter_password)):
            text = text.replace(f"@{marker}_PASSWORD_SHA256@", hashlib.sha256(password.encode()).hexdigest())
        admin = hashlib.sha256(self.admin_password.encode()).hexdigest()
        return text + f"user {REDIS_ADMIN_USER} on #{admin} ~* &* +@all\n"

    def start(self) -> Redis:
        home = self.workdir / self.name
        home.mkdir(parents=True, exist_ok=True)
        secret = home / "auth.conf"
        write_private(secret, self.users() + "protected-mode yes\n")
        config = {
            "port": self.port,
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "dir": home,
            "daemonize": "no",
            "maxmemory": "256mb",
            "maxmemory-policy": "allkeys-lru",
        }
        argv: list[str | Path] = [REDIS_SERVER, secret]
        for key, value in config.items():
            argv += [f"--{key}", str(value)]
        self.spawn(argv).wait_ready(lambda: port_is_open(self.port), START_TIMEOUT)
        return self


class Exporter(Service):
    """A Prometheus exporter binary serving /metrics on a loopback port."""

    def __init__(
        self, workdir: Path, name: str, argv: Sequence[str | Path], env: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(workdir)
        self.name = name
        self.argv = [str(a) for a in argv]
        self.env = {**os.environ, **(env or {})}

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Exporter:
        argv = [a.replace("{port}", str(self.port)) for a in self.argv]
        self.spawn(argv, env=self.env).wait_ready(lambda: http_ok(f"http://{self.target}/metrics"), START_TIMEOUT)
        return self


def postgres_exporter(workdir: Path, postgres: Postgres) -> Exporter:
    return Exporter(
        workdir,
        "postgres-exporter",
        [
            POSTGRES_EXPORTER,
            "--web.listen-address=127.0.0.1:{port}",
            "--disable-settings-metrics",
            f"--extend.query-path={EXPORTER_QUERIES}",
        ],
        {"DATA_SOURCE_NAME": postgres.exporter_dsn},
    )


def redis_exporter(workdir: Path, redis: Redis) -> Exporter:
    return Exporter(
        workdir,
        "redis-exporter",
        [
            REDIS_EXPORTER,
            f"-redis.addr={redis.address}",
            f"-redis.user={REDIS_EXPORTER_USER}",
            "-web.listen-address=127.0.0.1:{port}",
        ],
        {"REDIS_PASSWORD": redis.exporter_password},
    )


class Prometheus(Service):
    """Prometheus scraping the given jobs every second (runs are short), with our alerting rules."""

    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        jobs: Mapping[str, Sequence[str]],
        port: int | None = None,
        *,
        rule_files: Sequence[Path] = (),
        scrape_interval: str = "1s",
    ) -> None:
        super().__init__(workdir, port)
        self.jobs = {job: list(targets) for job, targets in jobs.items()}
        self.rule_files = [str(p) for p in rule_files]
        self.scrape_interval = scrape_interval

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, object]:
        jobs = {"prometheus": [f"127.0.0.1:{self.port}"], **self.jobs}
        return {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
            "rule_files": self.rule_files,
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]} for job, targets in jobs.items()
            ],
        }

    def start(self) -> Prometheus:
        home = self.workdir / self.name
        home.mkdir(parents=True, exist_ok=True)
        config = home / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        argv = [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=30d",
        ]
        self.spawn(argv).wait_ready(lambda: http_ok(f"{self.url}/-/ready"), START_TIMEOUT)
        return self

    def wait_scraped(self, job: str, timeout: float = START_TIMEOUT) -> None:
        """Wait for a successful scrape of `job`. Prometheus hands new targets to its scrapers about 5 s after
        it is ready: a run started at once kept no sample of its first seconds (a login burst's 503s were in the
        first sample of the counter, so `increase()` over the run saw none of them)."""
        assert self.process is not None, "start() first"
        query = urllib.parse.urlencode({"query": f'up{{job="{job}"}} == 1'})
        self.process.wait_ready(lambda: _has_result(f"{self.url}/api/v1/query?{query}"), timeout)


class Api(Service):
    """The board API (`python -m board serve`: a supervisor and its processes), configured only through its `BOARD_`
    environment; `/metrics` (every process summed) on a port of its own."""

    name = "api"

    def __init__(self, workdir: Path, env: Mapping[str, str], port: int | None = None, *, name: str = "api") -> None:
        super().__init__(workdir, port)
        self.name = name
        self.metrics_port = free_port()
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """Where the API's own metrics are read (the report scrapes it directly before and after a run)."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def metrics_target(self) -> str:
        """The `host:port` Prometheus scrapes."""
        return f"127.0.0.1:{self.metrics_port}"

    def run(self, argv: Sequence[str], timeout: float = 300.0) -> None:
        """Run one of the API's CLI commands (migrate, seed-users) with the API's environment."""
        run_to_completion(argv, self.log_path, env=self.env, timeout=timeout)

    def migrate(self, owner_url: str) -> None:
        """Upgrade the schema as the database's owner (`Postgres.owner_url`): the API's own role may not."""
        run_to_completion(
            commands.api_migrate(), self.log_path, env={**self.env, "BOARD_DATABASE_URL": owner_url}, timeout=300.0
        )

    def seed_users(self, count: int) -> None:
        self.run(commands.api_seed_users(count))

    def start(self) -> Api:
        argv = commands.api_serve("127.0.0.1", self.port, self.metrics_port)
        # The supervisor opens the metrics port once every process is ready.
        self.spawn(argv, env=self.env).wait_ready(
            lambda: http_ok(self.metrics_url) and http_ok(f"{self.url}/readyz"), START_TIMEOUT
        )
        return self
