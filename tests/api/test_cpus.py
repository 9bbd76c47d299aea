"""The CPUs a process may use: affinity capped by the cgroup quota it lives under (v1 or v2), as files say."""

from __future__ import annotations

import os
from pathlib import Path

from board.cpus import available_cpus, cpu_quota

AFFINITY = len(os.sched_getaffinity(0))


def _proc(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proc-self-cgroup"
    path.write_text(text)
    return path


def test_no_cgroup_file_or_no_quota_means_the_affinity(tmp_path: Path) -> None:
    assert available_cpus(tmp_path, tmp_path / "absent") == AFFINITY
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(tmp_path, _proc(tmp_path, "0::/lab\n")) is None


def test_cgroup_v2_quota_of_the_process_cgroup(tmp_path: Path) -> None:
    folder = tmp_path / "kubepods" / "pod1"
    folder.mkdir(parents=True)
    (folder / "cpu.max").write_text("150000 100000\n")
    proc = _proc(tmp_path, "0::/kubepods/pod1\n")
    assert cpu_quota(tmp_path, proc) == 1.5
    assert available_cpus(tmp_path, proc) == min(2, AFFINITY)
    (folder / "cpu.max").write_text("10000 100000\n")  # 0.1 CPU: still one
    assert available_cpus(tmp_path, proc) == 1


def test_cgroup_v1_cpu_controller_and_the_tightest_ancestor(tmp_path: Path) -> None:
    parent = tmp_path / "cpu,cpuacct" / "loadlab-run"
    child = parent / "api"
    child.mkdir(parents=True)
    for folder, quota in ((parent, "140000"), (child, "-1")):
        (folder / "cpu.cfs_quota_us").write_text(quota + "\n")
        (folder / "cpu.cfs_period_us").write_text("100000\n")
    proc = _proc(tmp_path, "12:memory:/x\n4:cpu,cpuacct:/loadlab-run/api\n1:name=systemd:/\n")
    assert cpu_quota(tmp_path, proc) == 1.4  # the child is unlimited, its parent is not
    assert available_cpus(tmp_path, proc) == min(2, AFFINITY)
    (child / "cpu.cfs_quota_us").write_text("50000\n")
    assert cpu_quota(tmp_path, proc) == 0.5 and available_cpus(tmp_path, proc) == 1


def test_this_process_reads_without_error() -> None:
    quota = cpu_quota()
    assert quota is None or quota > 0
    assert 1 <= available_cpus() <= AFFINITY
