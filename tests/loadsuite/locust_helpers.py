"""Helpers of the load-suite integration tests: Locust subprocesses, free ports, scraping, waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOCUST_DIR = Path(__file__).resolve().parents[2] / "locust"
LOCUSTFILE = LOCUST_DIR / "locustfile.py"
#: How long a Locust process gets to exit after SIGINT before it is killed.
STOP_TIMEOUT = 10.0


class LocustProcesses:
    """Locust master/worker/standalone subprocesses of one test, logs in files, all stopped at teardown."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(
        self, name: str, *args: str, locustfile: str = str(LOCUSTFILE), env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `locust -f locustfile args...` (the suite's locustfile unless given), with only `env` of ours."""
        log = self.workdir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "LOADLAB_"))} | (env or {})
        env["PYTHONUNBUFFERED"] = "1"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", locustfile, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,  # no stray locust.conf from the caller's folder
                env=env,
            )
        self.procs.append((proc, log))
        return proc

    def log(self, name: str) -> str:
        """The whole log of one process (``logs()`` shows only the tails, for failure messages)."""
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}" for _, log in self.procs)

    def stop_all(self) -> None:
        for proc, _ in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc, _ in reversed(self.procs):
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def scrape(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.5, what: str = "condition") -> Any:
    """Poll until `predicate()` returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := predicate():
                return result
        except OSError:
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
