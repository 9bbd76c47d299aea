"""The preset's capacity knee on THIS machine: the last `loadlab bench` that found one, or a capacity run now.

The overload drill and the soak run at (a share of) the knee. A knee is a property of a machine and of its CPU
quota: one measured elsewhere, or under another `--cpus`, overloads a slower machine before the drill starts or
leaves a faster one idle, so neither command has a built-in knee.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from loadlab import bench
from loadlab.lab import run_lab
from loadlab.loadtest import LoadOptions
from loadlab.presets import Preset


def last_knee(root: Path, preset: str, cpus: str | None = None) -> tuple[int, str] | None:
    """The knee (users) of `preset` from the newest `loadlab bench` under `root` run with the same `--cpus`,
    and that bench.json's path; None if no such bench found one."""
    for path in sorted(root.glob("bench-*/bench.json"), reverse=True):
        data = json.loads(path.read_text())
        if data.get("plan", {}).get("cpus") != cpus:
            continue
        users = data.get("knee", {}).get(preset, {}).get("users", 0)
        if users:
            return int(users), str(path)
    return None


def measure(root: Path, preset: Preset, options: LoadOptions, say: Callable[[str], None] = print) -> tuple[int, str]:
    """Find the knee with the capacity shape, the steps and SLO of `loadlab bench`: (users, the run's report)."""
    plan = bench.BenchPlan()
    step_users, max_users = bench.knee_steps(plan, preset.name)
    steps = max(1, max_users // step_users)
    capacity = replace(
        options,
        users=max_users,
        spawn_rate=float(step_users),
        scenario="seed",
        shape="capacity",
        duration=steps * plan.knee_step_seconds + 5,
        step_users=step_users,
        step_interval=plan.knee_step_seconds,
        thresholds=bench.SLO_FILE,
    )
    quota = f" with --cpus {options.cpus}" if options.cpus else ""
    say(
        f"knee: no `loadlab bench` under {root} found one for {preset.name}{quota}: measuring it "
        f"({step_users} users a step)"
    )
    report = run_lab(root, preset, capacity, run_id=None, quiet=True)
    if report.interrupted:
        raise KeyboardInterrupt
    users = int((report.verdict.get("capacity", {}).get("knee") or {}).get("users", 0))
    if users < 1:
        raise ValueError(f"the capacity run found no knee for {preset.name} (see {report.outdir}): pass --knee USERS")
    return users, f"measured now ({report.outdir})"


def resolve(
    root: Path, preset: Preset, options: LoadOptions, given: int | None, say: Callable[[str], None] = print
) -> tuple[int, str]:
    """`--knee` if given, else the last bench's under the same `--cpus`, else measured now."""
    if given is not None:
        if given < 1:
            raise ValueError(f"--knee must be at least 1, got {given}")
        return given, "--knee"
    return last_knee(root, preset.name, options.cpus) or measure(root, preset, options, say)
