"""Podman on this kind of machine: install and configure it (idempotent), say why it cannot run, call it.

Measured on Debian 12 VMs with cgroup v1 "hybrid": podman's default runtime crun fails there
(`setrlimit RLIMIT_NOFILE`, then `cgroups in hybrid mode not supported`), runc works; default ulimits must
stay inside what the machine allows (hard open files 20000; nproc above pid_max fails with EPERM). Our
settings go in a drop-in file, so the machine's own containers.conf is left alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

#: podman 4.3.1, buildah 1.28, runc 1.1 on Debian 12; debootstrap makes the base images (no registry here)
PACKAGES = ("podman", "buildah", "runc", "containernetworking-plugins", "catatonit", "debootstrap", "iptables")
CONF_DROP_IN = Path("/etc/containers/containers.conf.d/50-loadlab.conf")
CONF = """\
# Written by board-loadlab tools/containers (engine.py): podman settings this kind of machine needs.
[containers]
# nproc above pid_max fails with EPERM; open files stay under the machine's hard limit
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
# crun fails on cgroup v1 "hybrid" hosts (setrlimit, then "cgroups in hybrid mode not supported")
runtime = "runc"
"""
PODMAN_TIMEOUT = 600.0


class EngineError(RuntimeError):
    """A podman command failed; the message holds the command and its stderr."""


def _sudo() -> list[str]:
    return [] if os.geteuid() == 0 else ["sudo", "-n"]


def missing_packages() -> list[str]:
    """The Debian packages of PACKAGES that are not installed."""
    missing = []
    for package in PACKAGES:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        if "install ok installed" not in status.stdout:
            missing.append(package)
    return missing


def install() -> list[str]:
    """Install the missing packages and write the drop-in config; returns what it did (nothing the second time)."""
    done = []
    if shutil.which("dpkg-query") is None:
        raise EngineError("not a Debian machine (no dpkg-query): install podman, buildah and runc yourself")
    if missing := missing_packages():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([*_sudo(), "apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            [*_sudo(), "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        done.append("apt-get install " + " ".join(missing))
    if not CONF_DROP_IN.exists() or CONF_DROP_IN.read_text() != CONF:
        subprocess.run([*_sudo(), "mkdir", "-p", str(CONF_DROP_IN.parent)], check=True)
        subprocess.run(
            [*_sudo(), "tee", str(CONF_DROP_IN)], input=CONF, text=True, check=True, stdout=subprocess.DEVNULL
        )
        done.append(f"wrote {CONF_DROP_IN}")
    return done


def unusable_reason() -> str | None:
    """Why podman cannot run containers here (None when it can): the message a skipped test shows."""
    if sys.platform != "linux":
        return "podman containers need Linux"
    if os.geteuid() != 0:
        return "the container e2e runs rootful podman and debootstrap: run it as root"
    if shutil.which("podman") is None:
        return "podman is not installed: run tools/containers-e2e (it installs podman, buildah and runc)"
    if not CONF_DROP_IN.exists():
        return f"podman is not configured for this machine ({CONF_DROP_IN} missing): run tools/containers-e2e"
    info = subprocess.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], capture_output=True, text=True)
    if info.returncode != 0:
        return f"podman info fails: {info.stderr.strip()[-300:]}"
    return None


def podman(*args: str, check: bool = True, input: bytes | None = None, timeout: float = PODMAN_TIMEOUT) -> str:
    """Run `podman ARGS`, return its stdout; raise EngineError with stderr when it fails and `check` is set."""
    result = subprocess.run(["podman", *args], input=input, capture_output=True, timeout=timeout)
    if check and result.returncode != 0:
        command = " ".join(args[:6]) + (" ..." if len(args) > 6 else "")
        raise EngineError(
            f"podman {command}: exit {result.returncode}: {result.stderr.decode(errors='replace')[-2000:]}"
        )
    return result.stdout.decode(errors="replace")
