"""`--cpus`: the stack under a CPU quota in a real cgroup (root here and in CI), or a refusal that says why."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from loadlab.cpulimit import CpuLimit, CpuLimitError, hierarchy, parse_cpus
from tests.api.helpers import metric

pytestmark = pytest.mark.integration


def _cgroup_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def test_cpu_amounts_parse_like_kubernetes() -> None:
    assert parse_cpus("1.4") == 1.4 and parse_cpus("500m") == 0.5 and parse_cpus("2") == 2.0
    for bad in ("", "two", "-1", "0"):
        with pytest.raises(ValueError):
            parse_cpus(bad)


def test_no_cpu_controller_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "proc").write_text("0::/\n")
    with pytest.raises(CpuLimitError, match="no CPU controller"):
        hierarchy(tmp_path, tmp_path / "proc")


def test_a_cgroup_that_cannot_be_made_is_refused_not_skipped(tmp_path: Path) -> None:
    """A v1 `cpu` hierarchy whose folder for us does not exist: mkdir fails, and the error names the folder."""
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "proc").write_text("4:cpu,cpuacct:/gone/away\n")
    with pytest.raises(CpuLimitError, match=r"cannot set a CPU quota in .*gone/away/loadlab-t"):
        CpuLimit.create("t", cpus=1.0, root=tmp_path, proc_cgroup=tmp_path / "proc")


def test_a_normal_user_is_told_to_be_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root: the cgroup folder cannot be made (here: no such parent), and the message says what would do."""
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "proc").write_text("4:cpu:/user.slice/not-mine\n")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(CpuLimitError, match=r"\(run as root\)"):
        CpuLimit.create("u", cpus=1.0, root=tmp_path, proc_cgroup=tmp_path / "proc")


def _needs_root() -> None:
    if os.geteuid() != 0:
        message = "making a real cgroup needs root (the refusal is tested above)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI runs as root")
        pytest.skip(message)


def test_the_quota_is_in_the_cgroup_and_a_process_tree_moves_into_it() -> None:
    _needs_root()
    limit = CpuLimit.create(f"test-{os.getpid()}", cpus=1.4)
    tree = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30"], start_new_session=True)
    try:
        assert limit.parent is not None
        folder = limit.parent.path
        if limit.parent.version == 1:
            assert (folder / "cpu.cfs_quota_us").read_text().strip() == "140000"
            assert (folder / "cpu.cfs_period_us").read_text().strip() == "100000"
        else:
            assert (folder / "cpu.max").read_text().split() == ["140000", "100000"]
        deadline = time.monotonic() + 5
        while len(psutil.Process(tree.pid).children()) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        limit.adopt("anything", tree.pid)
        family = {tree.pid, *(c.pid for c in psutil.Process(tree.pid).children(recursive=True))}
        assert len(family) >= 2 and family <= limit.parent.pids()
        assert all(folder.name in _cgroup_of(pid) for pid in family)
        assert folder.name not in _cgroup_of(os.getpid())  # the caller stays outside
        stats = limit.stats()["stack"]
        assert stats["cpus"] == 1.4 and stats["periods"] >= 0
    finally:
        os.killpg(tree.pid, 9)
        tree.wait()
        limit.close()
    assert not folder.exists()


def test_per_component_quotas_each_get_a_cgroup_and_others_none() -> None:
    _needs_root()
    limit = CpuLimit.create(f"test-parts-{os.getpid()}", per_component={"api": 1.0, "redis": 0.5})
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert set(limit.groups) == {"api", "redis"}
        redis = limit.groups["redis"]
        quota = (redis.path / ("cpu.cfs_quota_us" if redis.version == 1 else "cpu.max")).read_text().split()[0]
        assert quota == "50000"
        limit.adopt("prometheus", sleeper.pid)  # no quota for it: left where it is
        assert limit.parent is not None and "loadlab-test-parts" not in _cgroup_of(sleeper.pid)
        limit.adopt("redis", sleeper.pid)
        assert sleeper.pid in redis.pids()
    finally:
        sleeper.kill()
        sleeper.wait()
        limit.close()
    assert not limit.parent.path.exists()


@pytest.mark.e2e
def test_a_lab_run_under_cpus_puts_the_stack_in_the_quota_and_locust_outside(tmp_path: Path) -> None:
    """0.9 CPU: the API sizes itself from the quota it finds (one process), every service's processes are in the
    run's cgroup, and the load generator is not."""
    from loadlab import presets
    from loadlab.lab import run_lab
    from loadlab.loadtest import LoadOptions, LocustRun
    from loadlab.report import summary_text
    from loadlab.stack import Stack

    _needs_root()
    seen: dict[str, object] = {}

    def during(stack: Stack, run: LocustRun, elapsed: float) -> None:
        if seen or elapsed < 3:
            return
        assert stack.cpu_limit is not None and stack.cpu_limit.parent is not None
        inside = stack.cpu_limit.parent.pids()
        services = {s.name: s.process.pid for s in stack.services if s.process is not None}
        seen["outside"] = sorted(name for name, pid in services.items() if pid not in inside)
        api_family = [p.pid for p in psutil.Process(services["api"]).children(recursive=True)]
        seen["api_children_inside"] = bool(api_family) and set(api_family) <= inside
        locust = [p.pid for p in (run.master, *run.workers) if p is not None and p.pid is not None]
        seen["locust_inside"] = sorted(set(locust) & inside)
        assert stack.api is not None
        exposition = httpx.get(stack.api.metrics_url, timeout=10).text
        seen["api_processes"] = metric(exposition, "board_api_processes")

    options = LoadOptions(users=10, spawn_rate=10, duration=12, workers=1, accounts=5, cpus="0.9")
    result = run_lab(tmp_path, presets.load("tuned"), options, during=during, quiet=True)
    assert seen == {"outside": [], "api_children_inside": True, "locust_inside": [], "api_processes": 1.0}, seen
    assert result.cpu_limit["cpus"] == {"stack": 0.9}
    usage = result.cpu_limit["usage"]["stack"]
    assert usage["periods"] > 0 and usage.get("usage_seconds", 1.0) > 0
    assert result.server_counts is not None
    assert "stack CPU quota" in summary_text(result)
    assert not list(Path(result.cpu_limit["cgroup"]).parent.glob(f"loadlab-{result.run_id}"))  # removed after
