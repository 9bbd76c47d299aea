"""A machine fingerprint: what a run's figures were measured on, so two machines' figures can be compared.

The two timings are the ones issue 13 compared machines with: one bcrypt verify at cost 10 (the API's login
work) and a fixed pure-Python loop (the API's hot path is Python). Both are taken in this process, so they see
any CPU quota this process is under; `python -m loadlab.fingerprint` prints the JSON, for a process started
inside the quota of the stack it measures.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import bcrypt

from board.cpus import CGROUP_ROOT, PROC_SELF_CGROUP, cpu_quota_where
from loadlab.cpulimit import CpuLimit
from loadlab.result import Machine

BCRYPT_COST = 10
BCRYPT_VERIFIES = 5
#: `for i in range(LOOP_N): total += i * i`: 848 ms on the machine issue 13 was measured on.
LOOP_N = 10_000_000
#: Generous: about 1.5 s of one core, under a quota that may be a fraction of one.
CHILD_TIMEOUT = 120.0


def bcrypt_verify_ms(cost: int = BCRYPT_COST, verifies: int = BCRYPT_VERIFIES) -> float:
    """The median time of one bcrypt verify at `cost`, in ms."""
    hashed = bcrypt.hashpw(b"fingerprint", bcrypt.gensalt(cost))
    times = []
    for _ in range(verifies):
        started = time.perf_counter()
        bcrypt.checkpw(b"fingerprint", hashed)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def python_loop_ms(n: int = LOOP_N) -> float:
    started = time.perf_counter()
    total = 0
    for i in range(n):
        total += i * i
    return (time.perf_counter() - started) * 1000


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_quota(proc_cgroup: Path = PROC_SELF_CGROUP, root: Path = CGROUP_ROOT) -> tuple[float | None, str]:
    """The tightest CPU quota on this process's cgroup or its ancestors: (CPUs, where it was read), or (None, "none");
    read as the API reads its own (`board.cpus`)."""
    return cpu_quota_where(root, proc_cgroup)


def measure() -> Machine:
    """Take the fingerprint here and now (about a second and a half of one core)."""
    cores = os.cpu_count() or 1
    usable = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores)
    quota, where = cpu_quota()
    return Machine(
        cores=cores,
        usable_cpus=min(usable, quota) if quota is not None else usable,
        cpu_model=cpu_model(),
        cpu_quota=where,
        bcrypt_cost10_ms=round(bcrypt_verify_ms(), 1),
        python_loop_ms=round(python_loop_ms(), 1),
        load_average=round(os.getloadavg()[0], 2),
        python=platform.python_version(),
        kernel=platform.release(),
    )


def measure_in(cpu_limit: CpuLimit, component: str = "api") -> Machine:
    """The fingerprint taken under a run's CPU quota (`--cpus`): by a child moved into `component`'s cgroup before
    it starts timing, so the timings and the quota read are what the stack gets."""
    child = subprocess.Popen(
        [sys.executable, "-m", "loadlab.fingerprint", "--wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        cpu_limit.adopt(component, child.pid)
        out, _ = child.communicate("go\n", timeout=CHILD_TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if child.returncode != 0:
        raise RuntimeError(f"the fingerprint under the CPU quota failed (exit {child.returncode})")
    return Machine(**json.loads(out))


if __name__ == "__main__":
    if "--wait" in sys.argv[1:]:
        sys.stdin.readline()  # the parent moves this process into a cgroup first
    print(json.dumps(asdict(measure())))
