"""The machine fingerprint: CPU quota from cgroup files (v1 and v2, nested), the timings it takes, the line shown."""

from __future__ import annotations

import os
from pathlib import Path

from loadlab import fingerprint
from loadlab.cpulimit import CpuLimit
from loadlab.formats import machine_line
from loadlab.result import Machine
from tests.tools import missing_tool


def cgroup_files(tmp_path: Path, files: dict[str, str], proc: str) -> tuple[Path, Path]:
    root = tmp_path / "sys-fs-cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (tmp_path / "cgroup").write_text(proc)
    return tmp_path / "cgroup", root


def test_no_quota_anywhere(tmp_path: Path) -> None:
    proc, root = cgroup_files(
        tmp_path, {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, "1:cpu:/\n0::/\n"
    )
    assert fingerprint.cpu_quota(proc, root) == (None, "none")


def test_a_v1_quota_on_a_parent_cgroup_applies(tmp_path: Path) -> None:
    """`loadlab --cpus 1.4` on a v1 machine: the stack's cgroup under the cpu controller's mount."""
    files = {
        "cpu/loadlab/cpu.cfs_quota_us": "140000\n",
        "cpu/loadlab/cpu.cfs_period_us": "100000\n",
        "cpu/loadlab/run/cpu.cfs_quota_us": "-1\n",
        "cpu/loadlab/run/cpu.cfs_period_us": "100000\n",
    }
    proc, root = cgroup_files(tmp_path, files, "2:cpuacct:/\n1:cpu:/loadlab/run\n")
    cpus, where = fingerprint.cpu_quota(proc, root)
    assert cpus == 1.4
    assert where == f"1.4 CPUs ({root / 'cpu' / 'loadlab'})"


def test_the_tightest_v2_quota_wins(tmp_path: Path) -> None:
    files = {"a/cpu.max": "200000 100000\n", "a/b/cpu.max": "50000 100000\n", "a/b/c/cpu.max": "max 100000\n"}
    proc, root = cgroup_files(tmp_path, files, "0::/a/b/c\n")
    assert fingerprint.cpu_quota(proc, root)[0] == 0.5


def test_the_timings_are_taken() -> None:
    assert fingerprint.python_loop_ms(10_000) > 0
    assert fingerprint.bcrypt_verify_ms(cost=4, verifies=3) > 0
    assert fingerprint.cpu_model()


def test_the_fingerprint_line_names_every_figure() -> None:
    machine = Machine(2, 1.4, "AMD EPYC", "1.4 CPUs (/sys/fs/cgroup/cpu/loadlab)", 76.2, 848.4, 0.31)
    assert machine_line(machine) == (
        "machine: AMD EPYC, 2 cores (1.4 usable, quota 1.4 CPUs (/sys/fs/cgroup/cpu/"
        "loadlab)); bcrypt cost-10 verify 76 ms, Python loop 848 ms; load average "
        "0.31"
    )


def test_under_a_cpu_quota_the_fingerprint_says_so(tmp_path: Path) -> None:
    """`--cpus 0.5`: the fingerprint is taken by a child inside the run's cgroup, and reads its quota."""
    if os.geteuid() != 0:
        missing_tool("root", "the tests as root: a CPU quota needs a cgroup of our own")
    limit = CpuLimit.create(f"fingerprint-test-{os.getpid()}", cpus=0.5)
    try:
        machine = fingerprint.measure_in(limit)
    finally:
        limit.close()
    assert machine.usable_cpus == 0.5
    assert machine.cpu_quota.startswith("0.5 CPUs (") and str(limit.parent.path) in machine.cpu_quota  # type: ignore[union-attr]
    assert machine.bcrypt_cost10_ms > 0 and machine.python_loop_ms > 0
