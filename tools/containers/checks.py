"""What the e2e asserts about a run, as pure functions of what it collected (tests/containers/test_checks.py).

Each returns a Check: a name, whether it held, and the evidence in one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from containers.convert import PodPlan
from containers.stack import ContainerState

#: files Locust's --csv/--html/--json-file and the suite's --verdict-file write into the run's folder
RESULT_FILES = (
    "locust_stats.csv",
    "locust_stats_history.csv",
    "locust_failures.csv",
    "locust.html",
    "locust.json",
    "verdict.json",
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def job_succeeded(name: str, states: Iterable[ContainerState]) -> Check:
    """Every container of a Job's pod (init containers too) exited 0, none restarted."""
    states = list(states)
    bad = [
        f"{s.name}: {s.status} {s.exit_code}, {s.restarts} restarts"
        for s in states
        if s.status != "exited" or s.exit_code != 0 or s.restarts
    ]
    return Check(f"{name} succeeded", bool(states) and not bad, "; ".join(bad) or f"{len(states)} containers exited 0")


def verdict_passed(verdict: Mapping[str, Any] | None) -> Check:
    """The run's verdict says pass, and no request failed."""
    if verdict is None:
        return Check("verdict passed, 0 failures", False, "no verdict.json on the results volume")
    total = verdict.get("total") or {}
    ok = verdict.get("status") == "pass" and total.get("failures") == 0 and (total.get("requests") or 0) > 0
    detail = (
        f"status {verdict.get('status')}, {total.get('requests')} requests, {total.get('failures')} failures, "
        f"suspect {verdict.get('suspect')}, broken {verdict.get('broken') or []}"
    )
    return Check("verdict passed, 0 failures", ok, detail)


def result_files(present: Iterable[str]) -> Check:
    """CSV, HTML, JSON and the verdict are on the results volume."""
    missing = sorted(set(RESULT_FILES) - set(present))
    return Check("results on the volume", not missing, f"missing {missing}" if missing else ", ".join(RESULT_FILES))


def all_up(up: Iterable[tuple[str, str, float]], api_pods: Iterable[str], jobs: Iterable[str]) -> Check:
    """Prometheus (in its pod) scrapes every job of its config, each target up, one per API pod."""
    up = list(up)
    down = [f"{job}/{instance}" for job, instance, value in up if value != 1]
    seen = {job for job, _, _ in up}
    missing_jobs = sorted(set(jobs) - seen)
    api = sorted(instance for job, instance, _ in up if job == "api")
    problems = down + [f"no target for job {j}" for j in missing_jobs]
    if api != sorted(api_pods):
        problems.append(f"api targets {api} != API pods {sorted(api_pods)}")
    return Check("up == 1 for every target", bool(up) and not problems, "; ".join(problems) or f"{len(up)} targets up")


def non_root_read_only(
    plans: Iterable[PodPlan], states: Iterable[ContainerState], live_uids: Mapping[str, set[str]]
) -> Check:
    """Every container ran as the uid its manifest sets (never 0) with a read-only root filesystem.

    `states` give what podman configured for each container; `live_uids` what the host's process table showed
    for the containers still running when it was looked at.
    """
    expected = {f"{p.name}-{c}": want for p in plans for c, want in p.run_as.items()}
    problems, checked = [], 0
    for state in states:
        uid, read_only = expected.get(state.name, (None, False))
        actual = state.user.split(":", 1)[0]
        if uid is None or uid == 0 or actual != str(uid):
            problems.append(f"{state.name}: user {state.user!r}, manifest {uid}")
        if not (read_only and state.read_only):
            problems.append(f"{state.name}: root filesystem writable")
        seen = live_uids.get(state.name)
        if seen is not None and seen != {str(uid)}:
            problems.append(f"{state.name}: processes ran as {sorted(seen)}")
        checked += 1
    live = sum(1 for s in states if s.name in live_uids)
    detail = "; ".join(problems) or f"{checked} containers ({live} seen running), uids as set, read-only"
    return Check("non-root uid, read-only root fs", checked > 0 and not problems, detail)


def worker_got_users(worker_pod: str, worker_users: Mapping[str, float]) -> Check:
    """The worker pod started mid-run received users (Locust names a worker <hostname>_<id>; hostname = pod)."""
    ok = any(w.startswith(worker_pod + "_") and u > 0 for w, u in worker_users.items())
    # Locust's worker id is <hostname>_<random hex>: the hostname (the pod's name) is enough to read
    per_pod = ", ".join(f"{w.rsplit('_', 1)[0]}: {u:g}" for w, u in sorted(worker_users.items()))
    return Check("worker added mid-run got users", ok, f"peak users per worker: {per_pod or 'none reported'}")


def run_pods_ended(states: Iterable[ContainerState]) -> Check:
    """Every container of the run's pods (master and workers) has ended, none restarted."""
    states = list(states)
    bad = [f"{s.name}: {s.status}, {s.restarts} restarts" for s in states if s.status != "exited" or s.restarts]
    codes = ", ".join(f"{s.name}={s.exit_code}" for s in states)
    return Check("every run pod ended, none restarting", bool(states) and not bad, "; ".join(bad) or codes)


def nothing_left(leftovers: Iterable[str], published: Iterable[str]) -> Check:
    """Teardown left no pod, container, volume, secret or network, and no host port was ever published."""
    problems = list(leftovers) + [f"published: {p}" for p in published]
    return Check("teardown clean, no host port", not problems, "; ".join(problems) or "nothing left")
