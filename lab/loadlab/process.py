"""A child process the lab owns: started with an explicit environment, logged to a file, stopped for sure.

Modelled on Locust's ``TestProcess`` (``locust/test/subprocess_utils.py``): readiness is waited for with a
timeout that shows the last lines of the log, and stopping escalates from a polite signal to SIGKILL. Each
child gets its own process group (not its own session) so that whatever it forks goes with it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

STOP_TIMEOUT = 15.0
READY_POLL_INTERVAL = 0.1
LOG_TAIL_LINES = 30

_handed_out: set[int] = set()


class ServiceError(RuntimeError):
    """A child failed to start or become ready; the message carries the tail of its log."""


def free_port() -> int:
    """Return a loopback TCP port that is free now and was not handed out before by this process."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise ServiceError("no free loopback port found")


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def service_user() -> str | None:
    """The account Postgres and PgBouncer run as: they refuse root, so root hands them to `postgres`."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServiceError("running as root needs the 'postgres' account (apt-get install postgresql-15)") from exc
    return "postgres"


def give_to(path: Path, user: str | None) -> None:
    """Make `user` own `path` (recursively) so a dropped-privilege child can write there."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def run_to_completion(
    argv: Sequence[str | Path],
    log_path: Path,
    *,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> None:
    """Run a short command (initdb, a migration) to its end, output appended to `log_path`; fail with its tail."""
    proc = Process(Path(str(argv[0])).name, argv, log_path, user=user, env=env).start()
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.stop()
        raise ServiceError(f"{' '.join(map(str, argv))} timed out after {timeout:.0f} s") from None
    if code != 0:
        raise ServiceError(f"{' '.join(map(str, argv))} failed ({code}):\n{tail(log_path)}")


class Process:
    """One long-running child: `start()`, `wait_ready()`, `stop()`; usable as a context manager."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str | Path],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        cwd: Path | None = None,
        stop_signal: int = signal.SIGTERM,
        on_spawn: Callable[[int], None] | None = None,
    ) -> None:
        assert argv, "a process needs a command"
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else dict(os.environ)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.user = user
        self.cwd = cwd
        self.stop_signal = stop_signal
        #: Called with the pid right after the child starts (e.g. to put it under a CPU quota before it forks).
        self.on_spawn = on_spawn
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child inherits it; closed right after spawn
        uid: int | None = None
        gid: int | None = None
        groups: list[int] | None = None
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            uid, gid, groups = entry.pw_uid, entry.pw_gid, []
            self.env["HOME"] = entry.pw_dir
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                # A process group of its own, so stopping it stops whatever it forked, but the lab's session:
                # the kernel's autogroup gives each session an equal share of the CPU, so a session per service
                # gave a Locust worker as much CPU as the whole API instance, whatever each needed.
                process_group=0,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        finally:
            log.close()
        if self.on_spawn is not None:
            try:
                self.on_spawn(self.popen.pid)
            except BaseException:
                self.stop(sig=signal.SIGKILL)
                raise
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(self, check: Callable[[], bool], timeout: float = 30.0) -> None:
        """Poll `check` until it holds; fail with the log's tail if the child dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise ServiceError(
                    f"{self.name} exited ({self.returncode}) before it was ready:\n{tail(self.log_path)}"
                )
            try:
                if check():
                    return
            except Exception:  # noqa: BLE001 - any failure of a readiness probe means "not yet"
                pass
            time.sleep(READY_POLL_INTERVAL)
        raise ServiceError(f"{self.name} not ready after {timeout:.0f} s:\n{tail(self.log_path)}")

    @property
    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.popen is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = STOP_TIMEOUT, sig: int | None = None) -> int | None:
        """Signal the process group, wait `timeout`, then SIGKILL; returns the exit code."""
        if self.popen is None:
            return None
        if self.alive:
            self.signal(sig if sig is not None else self.stop_signal)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        # Reap whatever the child left in its group (e.g. a postmaster's backends).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        return self.popen.returncode

    def wait(self, timeout: float | None = None) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.wait(timeout)

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
