"""Helpers for the end-to-end lab tests: run `loadlab` as a user would, then look for leftovers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil


def loadlab_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "loadlab.cli", *args]


def lab_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def processes_under(folder: Path) -> list[str]:
    """Processes whose command line or working directory names `folder` (the run's own children)."""
    found = []
    needle = str(folder)
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if needle in cmdline or needle in (proc.info["cwd"] or ""):
                found.append(f"{proc.info['pid']}: {cmdline[:200]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def listening_ports() -> set[int]:
    return {c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
