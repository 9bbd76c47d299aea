"""`--cpus`: the system under test on a smaller machine, emulated with a CPU quota (Linux CFS bandwidth, cgroups).

A figure measured on a fast machine fails on a slower one; under a quota the same stack gets, say, 1.4 CPUs of
this machine whatever its size, so a result proved under `--cpus 1.4` holds on any machine that has them. A
quota is also what a pod's `resources.limits.cpu` is, so `--cpus chart` gives each component the limit the
chart's values give it and the lab predicts how the chart's pods behave.

The load generator stays outside: it plays the clients, who are not on the server.

The cgroup v1 `cpu` controller is used where it is mounted (our machines: a "hybrid" layout), else cgroup v2 with
the `cpu` controller. A process is moved in right after it starts and, once it is ready, every process it forked
meanwhile; later children inherit the cgroup. Where a cgroup cannot be made or written (no root, no controller),
`CpuLimitError` says why: the run stops rather than run without the limit it was asked for.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: The CFS period: quotas are granted per 100 ms, the kernel's default.
PERIOD_US = 100_000
#: `--cpus chart`: each component under the CPU limit the chart's values give its pod.
CHART_CPUS = "chart"
#: How long `close()` waits for the last processes to leave before removing the cgroup.
CLOSE_TIMEOUT = 10.0


class CpuLimitError(RuntimeError):
    """The quota asked for cannot be applied here; the message says why and what would allow it."""


def parse_cpus(text: str) -> float:
    """`1.4`, `"2"` or Kubernetes' `"500m"` -> CPUs."""
    text = str(text).strip()
    try:
        cpus = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError as exc:
        raise ValueError(f"not a CPU amount: {text!r} (e.g. 1.4 or 500m)") from exc
    if cpus <= 0:
        raise ValueError(f"a CPU amount must be positive, got {text!r}")
    return cpus


@dataclass
class Cgroup:
    """One cgroup folder with a quota; `version` 1 (the v1 `cpu` controller) or 2."""

    path: Path
    version: int
    cpus: float

    def write_quota(self) -> None:
        quota = max(1000, round(self.cpus * PERIOD_US))  # the kernel's minimum quota is 1 ms
        if self.version == 1:
            _write(self.path / "cpu.cfs_period_us", str(PERIOD_US))
            _write(self.path / "cpu.cfs_quota_us", str(quota))
        else:
            _write(self.path / "cpu.max", f"{quota} {PERIOD_US}")

    def add(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            try:
                _write(self.path / "cgroup.procs", str(pid))
            except OSError as exc:
                if exc.errno == errno.ESRCH:  # gone meanwhile: nothing to limit
                    raise ProcessLookupError(pid) from exc
                raise

    def pids(self) -> set[int]:
        try:
            return {int(line) for line in (self.path / "cgroup.procs").read_text().split()}
        except OSError:
            return set()

    def stats(self) -> dict[str, float]:
        """CPU used and how often the quota stopped the group (v1 `cpu.stat` + `cpuacct.usage`, v2 `cpu.stat`)."""
        values: dict[str, float] = {}
        with contextlib.suppress(OSError):
            for line in (self.path / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                values[key] = float(value)
        out = {"cpus": self.cpus, "periods": values.get("nr_periods", 0.0)}
        out["throttled_periods"] = values.get("nr_throttled", 0.0)
        if self.version == 1:
            out["throttled_seconds"] = values.get("throttled_time", 0.0) / 1e9
            usage = _cpuacct_usage(self.path)
            if usage is not None:
                out["usage_seconds"] = usage
        else:
            out["throttled_seconds"] = values.get("throttled_usec", 0.0) / 1e6
            out["usage_seconds"] = values.get("usage_usec", 0.0) / 1e6
        return out

    def remove(self) -> None:
        deadline = time.monotonic() + CLOSE_TIMEOUT
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(OSError):
            self.path.rmdir()


def _write(path: Path, text: str) -> None:
    with path.open("w") as handle:
        handle.write(text)


def _cpuacct_usage(cpu_path: Path) -> float | None:
    """v1 keeps usage in the cpuacct controller, often co-mounted (`cpu,cpuacct`) with cpu."""
    beside = Path(str(cpu_path).replace("/cpu/", "/cpuacct/", 1))
    for candidate in (cpu_path / "cpuacct.usage", beside / "cpuacct.usage"):
        with contextlib.suppress(OSError, ValueError):
            return int(candidate.read_text()) / 1e9
    return None


def _enable_cpu(folder: Path) -> None:
    """cgroup v2: the `cpu` controller must be enabled in a folder for its children to have `cpu.max`."""
    if "cpu" not in (folder / "cgroup.subtree_control").read_text().split():
        _write(folder / "cgroup.subtree_control", "+cpu")


def _own_path(controller: str, proc_cgroup: Path) -> str:
    """This process's cgroup path in the hierarchy of `controller` ('' for v2)."""
    for line in proc_cgroup.read_text().splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if (controller == "" and controllers == "") or (controller and controller in controllers.split(",")):
            return path.lstrip("/")
    return ""


def hierarchy(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> tuple[Path, int]:
    """Where our cgroups go: beside this process's own cgroup, in the v1 `cpu` hierarchy or else in v2."""
    for mount in (root / "cpu", root / "cpu,cpuacct"):
        if (mount / "cpu.cfs_quota_us").exists():
            return mount / _own_path("cpu", proc_cgroup), 1
    controllers = root / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return root / _own_path("", proc_cgroup), 2
    raise CpuLimitError(
        f"no CPU controller under {root}: neither cgroup v1 `cpu` nor cgroup v2 with `cpu` is available here, "
        "so --cpus cannot be applied"
    )


@dataclass
class CpuLimit:
    """The cgroups of one lab run: one for the whole stack (`--cpus X`) or one per component (`--cpus chart`)."""

    name: str
    groups: dict[str, Cgroup] = field(default_factory=dict)
    parent: Cgroup | None = None

    @classmethod
    def create(
        cls,
        name: str,
        *,
        cpus: float | None = None,
        per_component: Mapping[str, float] | None = None,
        root: Path = CGROUP_ROOT,
        proc_cgroup: Path = Path("/proc/self/cgroup"),
    ) -> CpuLimit:
        """`cpus` for the whole stack, or `per_component` quotas (components not named are not limited)."""
        assert (cpus is None) != (per_component is None), "give cpus or per_component"
        base, version = hierarchy(root, proc_cgroup)
        limit = cls(name)
        top = base / f"loadlab-{name}"
        try:
            if version == 2:
                _enable_cpu(base)
            top.mkdir()
            if version == 2 and per_component:
                _enable_cpu(top)
            limit.parent = Cgroup(top, version, cpus if cpus is not None else float(psutil.cpu_count() or 1))
            if cpus is not None:
                limit.parent.write_quota()
            for component, quota in (per_component or {}).items():
                (top / component).mkdir()
                group = Cgroup(top / component, version, quota)
                group.write_quota()
                limit.groups[component] = group
        except OSError as exc:
            limit.close()
            how = "run as root" if os.geteuid() != 0 else "check that the cgroup file system is writable"
            raise CpuLimitError(f"cannot set a CPU quota in {top}: {exc.strerror or exc} ({how})") from exc
        return limit

    def group_of(self, component: str) -> Cgroup | None:
        if self.groups:
            return self.groups.get(component)
        return self.parent

    def adopt(self, component: str, pid: int) -> None:
        """Move `pid` and every process it has forked into `component`'s cgroup (no-op if it has none)."""
        group = self.group_of(component)
        if group is None:
            return
        try:
            family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for process in family:
            try:
                group.add(process.pid)
            except ProcessLookupError:
                continue
            except OSError as exc:
                raise CpuLimitError(f"cannot move {component} (pid {process.pid}) into {group.path}: {exc}") from exc

    def stats(self) -> dict[str, dict[str, float]]:
        if self.groups:
            return {component: group.stats() for component, group in self.groups.items()}
        return {"stack": self.parent.stats()} if self.parent is not None else {}

    def describe(self) -> dict[str, object]:
        """For the report: where the cgroups are and each quota in CPUs."""
        assert self.parent is not None
        quotas = {c: g.cpus for c, g in self.groups.items()} if self.groups else {"stack": self.parent.cpus}
        return {"cgroup": str(self.parent.path), "version": self.parent.version, "cpus": quotas}

    def close(self) -> None:
        """Remove the cgroups once their processes are gone (a kept run leaves them to `loadlab down`)."""
        for group in self.groups.values():
            group.remove()
        if self.parent is not None:
            self.parent.remove()


def for_run(name: str, cpus: str | None, per_component: Callable[[], Mapping[str, float]]) -> CpuLimit | None:
    """The CPU limit a run asked for (`LoadOptions.cpus`), made; None when it asked for none."""
    if cpus is None:
        return None
    if cpus == CHART_CPUS:
        return CpuLimit.create(name, per_component=per_component())
    return CpuLimit.create(name, cpus=parse_cpus(cpus))


def remove_tree(path: Path) -> None:
    """`loadlab down`: remove a run's cgroups (children first) once their processes have stopped."""
    if not path.exists():
        return
    for child in sorted((p for p in path.iterdir() if p.is_dir()), reverse=True):
        Cgroup(child, 1, 1).remove()
    Cgroup(path, 1, 1).remove()
