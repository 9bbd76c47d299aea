"""The e2e's checks on collected evidence: each one holds on a good run and fails on the fault it is for."""

from __future__ import annotations

from containers import checks
from containers.convert import PodPlan
from containers.stack import ContainerState


def state(
    name: str,
    user: str = "10001:10001",
    status: str = "exited",
    exit_code: int = 0,
    read_only: bool = True,
    restarts: int = 0,
) -> ContainerState:
    return ContainerState("pod", name, user, read_only, status, exit_code, restarts)


def plan(name: str, run_as: dict[str, tuple[int | None, bool]]) -> PodPlan:
    return PodPlan(name, "Deployment/x", 0, "10.0.0.10", {}, [], [], [], {}, run_as=run_as)


def test_job_succeeded_needs_every_container_to_exit_zero_without_restarts() -> None:
    assert checks.job_succeeded("migrate", [state("a"), state("b")]).ok
    assert not checks.job_succeeded("migrate", [state("a"), state("b", exit_code=1)]).ok
    assert not checks.job_succeeded("migrate", [state("a", restarts=1)]).ok
    assert not checks.job_succeeded("migrate", [state("a", status="running")]).ok
    assert not checks.job_succeeded("migrate", []).ok


def test_verdict_passes_only_with_pass_and_zero_failures() -> None:
    good = {"status": "pass", "total": {"requests": 10, "failures": 0}}
    assert checks.verdict_passed(good).ok
    assert not checks.verdict_passed({**good, "status": "fail"}).ok
    assert not checks.verdict_passed({"status": "pass", "total": {"requests": 10, "failures": 1}}).ok
    assert not checks.verdict_passed({"status": "pass", "total": {"requests": 0, "failures": 0}}).ok
    assert not checks.verdict_passed(None).ok


def test_result_files_names_what_is_missing() -> None:
    assert checks.result_files(checks.RESULT_FILES).ok
    check = checks.result_files([f for f in checks.RESULT_FILES if f != "locust.html"])
    assert not check.ok and "locust.html" in check.detail


def test_all_up_wants_every_job_up_and_one_target_per_api_pod() -> None:
    up = [
        ("api", "api-0", 1.0),
        ("api", "api-1", 1.0),
        ("locust", "master-0", 1.0),
        ("prometheus", "localhost:9090", 1.0),
    ]
    jobs = ["api", "locust", "prometheus"]
    assert checks.all_up(up, ["api-0", "api-1"], jobs).ok
    assert not checks.all_up([*up[:1], ("api", "api-1", 0.0), *up[2:]], ["api-0", "api-1"], jobs).ok
    assert not checks.all_up(up[1:], ["api-0", "api-1"], jobs).ok  # one API pod not scraped
    assert not checks.all_up(up, ["api-0", "api-1"], [*jobs, "redis"]).ok  # a job with no target
    assert not checks.all_up([], [], []).ok


def test_non_root_read_only_compares_the_manifest_with_what_ran() -> None:
    plans = [plan("p", {"app": (10001, True)})]
    assert checks.non_root_read_only(plans, [state("p-app")], {"p-app": {"10001"}}).ok
    assert not checks.non_root_read_only(plans, [state("p-app", user="0:0")], {}).ok
    assert not checks.non_root_read_only(plans, [state("p-app", read_only=False)], {}).ok
    assert not checks.non_root_read_only(plans, [state("p-app")], {"p-app": {"10001", "0"}}).ok
    root_manifest = [plan("p", {"app": (0, True)})]
    assert not checks.non_root_read_only(root_manifest, [state("p-app", user="0")], {}).ok
    writable_manifest = [plan("p", {"app": (10001, False)})]
    assert not checks.non_root_read_only(writable_manifest, [state("p-app")], {}).ok


def test_worker_got_users_matches_locust_worker_ids_by_pod_name() -> None:
    users = {"rel-worker-0_ab12": 4.0, "rel-worker-2_cd34": 3.0}
    assert checks.worker_got_users("rel-worker-2", users).ok
    assert not checks.worker_got_users("rel-worker-2", {**users, "rel-worker-2_cd34": 0.0}).ok
    assert not checks.worker_got_users("rel-worker-1", users).ok  # rel-worker-10 would not count either


def test_run_pods_ended_fails_on_a_running_or_restarted_worker() -> None:
    assert checks.run_pods_ended([state("master"), state("worker")]).ok
    assert not checks.run_pods_ended([state("master"), state("worker", status="running")]).ok
    assert not checks.run_pods_ended([state("master"), state("worker", restarts=1)]).ok


def test_nothing_left_fails_on_leftovers_or_published_ports() -> None:
    assert checks.nothing_left([], []).ok
    assert not checks.nothing_left(["network rel"], []).ok
    assert not checks.nothing_left([], ["rel-api-0-api 0.0.0.0:8000->8000/tcp"]).ok
