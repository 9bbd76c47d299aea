"""tools/containers-e2e: our images and the chart's pods, run for real with podman, and checked.

engine (install, configure) -> render (helm template: tuned preset, run mode) -> images (stand-ins, our two
Dockerfile targets) -> convert (podman 4.3, no host port) -> serve (Postgres, PgBouncer, Redis, Prometheus,
exporters, 2 API pods, the results pod) -> migrate Job -> helm test pod -> run (Locust master Job + 2 workers,
a third worker mid-run) -> results -> checks -> teardown -> summary (.lab/containers-e2e/<release>/).
Exit code 0 when every check held.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import fcntl
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml

from containers import checks, engine, images
from containers.convert import Converter, Plan, PodPlan
from containers.stack import Stack, StackError
from containers.summary import Summary

T = TypeVar("T")
ROOT = images.ROOT
CHART = ROOT / "helm" / "loadlab"
PRESET = Path("presets") / "tuned.yaml"
NAMESPACE = "loadlab"
IMAGES_LOCK = Path("/var/tmp/loadlab-containers-images.lock")
#: what the e2e changes over the tuned preset, and why (a values file: helm's --set cannot carry the commas)
RUN_VALUES: dict[str, Any] = {
    "locust": {
        "master": {"mode": "run"},
        # The e2e checks the wiring on a shared 2-core machine, not the speed (that is `loadlab bench`):
        # latency limits only a stalled machine breaks, and not one failed request.
        "thresholds": '{"*": {"p95_ms": 10000, "max_failure_ratio": 0}}',
    },
    "grafana": {"enabled": False},  # Grafana has no Debian package: no stand-in image
    "accounts": {"count": 100},  # the seed Job hashes every password: 100 are enough for a short run
}
READY_TIMEOUT = 240.0
JOB_TIMEOUT = 300.0
RUN_START_TIMEOUT = 300.0
UP_TIMEOUT = 60.0
WORKERS_END_TIMEOUT = 90.0


def log(message: str) -> None:
    print(f"[containers-e2e {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Run:
    """One end-to-end run: its release name, work folder, podman stack and summary."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.release = f"loadlab-e2e-{secrets.token_hex(3)}"
        self.tag = f"e2e-{self.release.rsplit('-', 1)[1]}"
        self.workdir = ROOT / ".lab" / "containers-e2e" / self.release
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.summary = Summary(self.release)
        self.stack = Stack(self.release, self.workdir)
        self.converter: Converter | None = None
        self.plan: Plan | None = None
        self.live_uids: dict[str, set[str]] = {}
        self.published: list[str] = []
        self.worker_users: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        log(f"{name} ...")
        started = time.monotonic()
        try:
            yield
        finally:
            self.summary.steps.append((name, time.monotonic() - started))
            log(f"{name}: {time.monotonic() - started:.0f} s")

    # -- the steps ---------------------------------------------------------------------------------------
    def engine(self) -> None:
        for action in engine.install():
            log(action)
        if reason := engine.unusable_reason():
            raise RuntimeError(reason)

    def render(self) -> list[dict[str, Any]]:
        values = copy.deepcopy(RUN_VALUES)
        values["api"] = {"image": {"tag": self.tag}}
        values["locust"].update(
            image={"tag": self.tag}, users=self.args.users, spawnRate=self.args.spawn_rate, runTime=self.args.run_time
        )
        values_file = self.workdir / "e2e-values.yaml"
        values_file.write_text(yaml.safe_dump(values, sort_keys=False))
        chart = Path(self.args.chart)
        value_files = ["-f", str(chart / PRESET), "-f", str(values_file)]
        argv = [_helm(), "template", self.release, str(chart), "--namespace", NAMESPACE, *value_files]
        # helm writes caches and config: keep them out of $HOME and the repository
        env = {
            **os.environ,
            **{f"HELM_{kind}_HOME": f"/tmp/loadlab-helm/{kind.lower()}" for kind in ("CACHE", "CONFIG", "DATA")},
        }
        rendered = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
        (self.workdir / "rendered.yaml").write_text(rendered)
        self.summary.notes.append(f"rendered: helm template -f presets/tuned.yaml -f {values_file.name}: {values}")
        return [doc for doc in yaml.safe_load_all(rendered) if doc]

    def images(self, objects: list[dict[str, Any]]) -> None:
        build_log = self.workdir / "build.log"
        wanted = sorted({c["image"] for o in objects for c in _containers(o)})
        ours = {f"{repository}:{self.tag}": target for target, repository in images.project_repositories().items()}
        IMAGES_LOCK.parent.mkdir(parents=True, exist_ok=True)
        with IMAGES_LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time on this machine, whoever runs it
            base, row = images.base_image(self.workdir, build_log)
            self.summary.images.append(row)
            for reference in wanted:
                if reference in ours:
                    self.summary.images.append(images.project_image(ours[reference], reference, build_log))
                else:
                    self.summary.images.append(images.standin(reference, base, self.workdir, build_log))
        images.sizes(self.summary.images)

    def convert(self, objects: list[dict[str, Any]]) -> Plan:
        subnet = self.stack.create_network()
        self.converter = Converter(objects, subnet, NAMESPACE, str(self.workdir / "files"))
        self.plan = self.converter.plan()
        self.summary.notes += [f"not run: {line}" for line in self.plan.not_run]
        self.stack.create_secrets(self.plan.secrets)
        return self.plan

    def serve(self, plan: Plan) -> None:
        pods = [p for p in plan.pods if _phase(p) == "serve"]
        for pod in pods:
            self.stack.play(pod)
        for pod in pods:
            log(f"{pod.name} ready after {self.stack.wait_ready(pod, READY_TIMEOUT):.0f} s")

    def job(self, pod: PodPlan, name: str) -> None:
        self.stack.play(pod)
        states = self.stack.wait_ended(pod, JOB_TIMEOUT)
        self.summary.checks.append(checks.job_succeeded(name, states))

    def run(self, plan: Plan) -> None:
        assert self.converter is not None
        master = _one(plan, "locust-master")
        workers = [p for p in plan.pods if _component(p) == "locust-worker"]
        prometheus = _one(plan, "prometheus")
        for pod in [master, *workers]:
            self.stack.play(pod)
        exporter = f"http://{master.ip}:{_port(master, 'metrics')}/metrics"
        _wait(lambda: _metric(exporter, "locust_users") > 0, RUN_START_TIMEOUT, "the run to start (locust_users > 0)")
        extra = self.converter.pod(workers[0].workload, len(workers))
        log(f"run started: adding {extra.name}")
        self.stack.play(extra)
        query = f"http://{prometheus.ip}:{_port(prometheus, 'http')}/api/v1/query"
        # Not there in time (or the run ended first): carry on, the checks below say what was missing
        master_ended = self.stack.ended_check(master)
        _poll(lambda: self._worker_has_users(query, extra.name) or master_ended(), RUN_START_TIMEOUT)
        all_up = _poll(lambda: _all_up(query), UP_TIMEOUT)
        self.summary.up = all_up or _up(query)
        self.published = self.stack.published_ports()
        for pod in self.stack.pods.values():
            for state in self.stack.states(pod):
                if state.status == "running":
                    self.live_uids[state.name] = self.stack.process_uids(state.name)
        run_time = _seconds(self.args.run_time)
        self.stack.wait_ended(master, run_time + RUN_START_TIMEOUT)
        deadline = time.monotonic() + WORKERS_END_TIMEOUT  # the workers end with the master, or never
        run_states = []
        for pod in [master, *workers, extra]:
            try:
                run_states += self.stack.wait_ended(pod, max(deadline - time.monotonic(), 0))
            except StackError as exc:  # still running or restarting: the check below says so
                log(str(exc))
                run_states += self.stack.states(pod)
        self._worker_has_users(query, extra.name)  # the final figures, after the run
        api_pods = [p.name for p in plan.pods if _component(p) == "api"]
        jobs = _scrape_jobs(prometheus)
        self.summary.checks += [
            checks.all_up(self.summary.up, api_pods, jobs),
            checks.worker_got_users(extra.name, self.worker_users),
            checks.run_pods_ended(run_states),
        ]

    def results(self, plan: Plan) -> None:
        results_pod = _one(plan, "locust-results")
        container = f"{results_pod.name}-{results_pod.manifest['spec']['containers'][0]['name']}"
        tar = subprocess.run(
            ["podman", "exec", container, "tar", "cf", "-", "-C", "/results", "."], capture_output=True, check=True
        ).stdout
        folder = self.workdir / "results"
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            archive.extractall(folder, filter="data")
        run_id = _arg(_one(plan, "locust-master").manifest["spec"]["containers"][0].get("args", []), "--run-id")
        run_folder = folder / run_id
        present = [p.name for p in run_folder.iterdir()] if run_folder.is_dir() else []
        verdict_path = run_folder / "verdict.json"
        self.summary.verdict = json.loads(verdict_path.read_text()) if verdict_path.exists() else None
        self.summary.checks += [checks.verdict_passed(self.summary.verdict), checks.result_files(present)]

    def inspect_all(self) -> None:
        states = [s for pod in self.stack.pods.values() for s in self.stack.states(pod)]
        self.summary.pods = states
        self.summary.checks.append(checks.non_root_read_only(self.stack.pods.values(), states, self.live_uids))

    def teardown(self) -> None:
        self.stack.save_logs()
        leftovers = self.stack.teardown()
        for name in images.project_repositories().values():
            engine.podman("rmi", f"{name}:{self.tag}", check=False)
        self.summary.checks.append(checks.nothing_left(leftovers, self.published))

    def _worker_has_users(self, query: str, pod: str) -> bool:
        result = _prometheus(query, "max_over_time(locust_worker_users[15m])")
        self.worker_users = {r["metric"].get("worker", "?"): float(r["value"][1]) for r in result}
        return any(w.startswith(pod + "_") and u > 0 for w, u in self.worker_users.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/containers-e2e", description=__doc__.splitlines()[0])
    # A light load: on a shared 2-core machine every login is a bcrypt hash, and the tuned preset sheds
    # logins that would wait over 2 s (503): users and spawn rate stay low so only a stalled machine does that.
    parser.add_argument("-u", "--users", type=int, default=8, metavar="N", help="Locust users (default 8)")
    parser.add_argument("-r", "--spawn-rate", type=float, default=2, metavar="N", help="users started per second (2)")
    parser.add_argument("-t", "--run-time", default="60s", metavar="TIME", help="run time of the Locust Job (60s)")
    parser.add_argument("--chart", default=str(CHART), metavar="PATH", help="the chart to render (helm/loadlab)")
    parser.add_argument("--keep", action="store_true", help="leave the pods running (remove them with podman)")
    parser.add_argument("--install-only", action="store_true", help="install and configure podman, then stop")
    parser.add_argument("--down", metavar="RELEASE", help="remove what a --keep (or killed) run left, then stop")
    args = parser.parse_args(argv)
    if args.down:
        left = Stack.sweep(args.down)
        print(f"{args.down}: " + ("; ".join(left) + " still there" if left else "nothing left"))
        return 1 if left else 0
    run = Run(args)
    summary = run.summary
    try:
        with run.step("engine"):
            run.engine()
        if args.install_only:
            return 0
        with run.step("render"):
            objects = run.render()
        with run.step("images"):
            run.images(objects)
        with run.step("convert"):
            plan = run.convert(objects)
        with run.step("serve"):
            run.serve(plan)
        for pod in [p for p in plan.pods if _phase(p) == "hook"]:
            with run.step(f"job {pod.name}"):
                run.job(pod, f"Job {pod.workload.split('/', 1)[1]}")
        for pod in [p for p in plan.pods if _phase(p) == "test"]:
            with run.step(f"helm test {pod.name}"):
                run.job(pod, f"helm test pod {pod.name}")
        with run.step("run"):
            run.run(plan)
        with run.step("results"):
            run.results(plan)
    except Exception as exc:  # the summary says where it stopped; teardown still runs
        summary.error = f"{type(exc).__name__}: {exc}"
        log(summary.error)
    finally:
        if run.stack.pods:
            with contextlib.suppress(Exception):
                run.inspect_all()
        if args.keep:
            summary.notes.append(f"--keep: left running; remove with: tools/containers-e2e --down {run.release}")
        elif not args.install_only:
            with run.step("teardown"):
                run.teardown()
    if args.install_only:
        return 0
    summary.save(run.workdir)
    print(summary.markdown())
    log(f"summary and logs: {run.workdir}")
    return 0 if summary.passed else 1


# -- helpers ---------------------------------------------------------------------------------------------
def _helm() -> str:
    local = ROOT / ".tools" / "bin" / "helm"
    found = str(local) if local.exists() else shutil.which("helm")
    if not found:
        raise RuntimeError("helm not found: run tools/install-helm.sh")
    return found


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    if obj["kind"] != "Pod":
        spec = ((spec.get("template") or {}).get("spec")) or {}
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _component(pod: PodPlan) -> str:
    return pod.manifest["metadata"]["labels"].get("app.kubernetes.io/component", "")


def _phase(pod: PodPlan) -> str:
    """serve (long-lived), hook (helm post-install Jobs), test (helm test pods) or run (Locust)."""
    if "test" in pod.hook:
        return "test"
    if pod.hook:
        return "hook"
    if _component(pod) in ("locust-master", "locust-worker"):
        return "run"
    return "serve"


def _one(plan: Plan, component: str) -> PodPlan:
    found = [p for p in plan.pods if _component(p) == component]
    if len(found) != 1:
        raise RuntimeError(f"expected one {component} pod, the chart rendered {[p.name for p in found]}")
    return found[0]


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]] if duration[-1] in units else float(duration)


def _poll(condition: Callable[[], T], timeout: float) -> T | None:
    """The first truthy result of `condition` within `timeout` seconds (connection errors count as no), else None."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ValueError):
            if result := condition():
                return result
        if time.monotonic() > deadline:
            return None
        time.sleep(2)


def _wait(condition: Callable[[], T], timeout: float, what: str) -> T:
    result = _poll(condition, timeout)
    if not result:
        raise TimeoutError(f"waited {timeout:.0f} s for {what}")
    return result


def _port(pod: PodPlan, name: str) -> int:
    """The number of the pod's container port called `name`, as the chart declared it."""
    for ports in pod.ports.values():
        if name in ports:
            return ports[name]
    raise RuntimeError(f"{pod.name} declares no port named {name!r}: {pod.ports}")


def _metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def _prometheus(query_url: str, expr: str) -> list[dict[str, Any]]:
    url = f"{query_url}?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["data"]["result"]


def _up(query_url: str) -> list[tuple[str, str, float]]:
    return [
        (r["metric"]["job"], r["metric"].get("instance", ""), float(r["value"][1]))
        for r in _prometheus(query_url, "up")
    ]


def _all_up(query_url: str) -> list[tuple[str, str, float]] | None:
    up = _up(query_url)
    return up if up and all(value == 1 for _, _, value in up) else None


def _scrape_jobs(prometheus: PodPlan) -> list[str]:
    for configmap in prometheus.configmaps:
        text = (configmap.get("data") or {}).get("prometheus.yml")
        if text:
            return [job["job_name"] for job in yaml.safe_load(text).get("scrape_configs") or []]
    return []


if __name__ == "__main__":
    sys.exit(main())
