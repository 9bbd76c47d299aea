"""The CPUs this process may use: its affinity, capped by the CPU quota of its cgroup (v1 or v2).

`os.cpu_count()` is the machine's count: in a pod limited to one CPU on a 16-core node, or in a lab run under
`loadlab run --cpus 1.4`, it would start a process and a bcrypt thread per core to share one core.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


def affinity_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP) -> float | None:
    """The tightest CPU quota (in CPUs) on this process's cgroup and its ancestors, or None when unlimited."""
    return cpu_quota_where(root, proc_cgroup)[0]


def cpu_quota_where(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP) -> tuple[float | None, str]:
    """`cpu_quota` and where it was read: (1.4, "1.4 CPUs (/sys/fs/cgroup/...)"), or (None, "none").

    Reads the path each hierarchy gives in /proc/self/cgroup: cgroup v2 (`0::/path`, `cpu.max`, at the root or, on
    a hybrid host, under unified/) and the v1 `cpu` controller (`N:cpu,cpuacct:/path`, `cpu.cfs_quota_us` /
    `cpu.cfs_period_us`). A container with its own cgroup namespace sees `/`, which is the mount's root: its own limit.
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, f"none (no {proc_cgroup})"
    found: list[tuple[float, str]] = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            bases, read = [root, root / "unified"], _v2_quota
        elif "cpu" in controllers.split(","):
            # Mounted as `cpu,cpuacct` on some systems, as `cpu` (or both, one a link) on others.
            bases, read = [root / controllers, root / "cpu", root / "cpu,cpuacct"], _v1_quota
        else:
            continue
        for base in dict.fromkeys(bases):
            found += _quotas(base, path, read)
    if not found:
        return None, "none"
    cpus, where = min(found)
    return cpus, f"{cpus:g} CPUs ({where})"


def _quotas(mount: Path, path: str, read: Callable[[Path], float | None]) -> list[tuple[float, str]]:
    found = []
    folder = mount / path.lstrip("/")
    for candidate in [folder, *folder.parents]:
        if not candidate.is_relative_to(mount):
            break
        quota = read(candidate)
        if quota is not None:
            found.append((quota, str(candidate)))
    return found


def _v2_quota(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def available_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP) -> int:
    """Whole CPUs this process may use: the affinity, capped by a quota rounded up (1.4 CPUs -> 2)."""
    cpus = affinity_cpus()
    quota = cpu_quota(root, proc_cgroup)
    return cpus if quota is None else max(1, min(cpus, math.ceil(quota)))
