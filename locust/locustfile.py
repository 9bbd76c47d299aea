"""board-loadlab load suite: the seed's client on FastHttpUser, scenarios, shapes, exporter, verdict.

Run it standalone or distributed (see README.md next to this file). The pure logic lives in
the ``loadsuite`` package beside this file; this module only wires it to Locust's events.
"""

from __future__ import annotations

import locust  # first: it monkey-patches the process with gevent
from locust import FastHttpUser, events, task
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

import logging
import random
import sys
import time
from typing import Any

import gevent
import psutil

from loadsuite import (
    plugin,  # noqa: F401  (the hooks any locustfile gets: web UI login)
    shapes,
)
from loadsuite.exporter import LocustCollector, ResetCounter, make_registry, serve
from loadsuite.health import CpuMeter, GeneratorHealth
from loadsuite.options import add_options
from loadsuite.scenarios import DEFAULT_SCENARIO, get_scenario, task_list
from loadsuite.statuses import REPORT_KEY as STATUS_REPORT_KEY
from loadsuite.statuses import StatusCounter, status_of
from loadsuite.thresholds import ThresholdError, Thresholds, load_thresholds
from loadsuite.verdict import EndpointSample, evaluate

logger = logging.getLogger("loadsuite")

# Master/standalone samples users, targets and missing workers this often for the health guard.
HEALTH_SAMPLE_INTERVAL = 1.0
CPU_REPORT_KEY = "loadlab_cpu_ratio"
# At the end of a test the master asks workers to stop their users and send a last report,
# and waits --stop-timeout plus this long for the answers (see on_test_stopping).
FLUSH_GRACE = 3.0
FLUSH_POLL_INTERVAL = 0.1
FLUSH_MESSAGE, FLUSHED_MESSAGE = "loadlab_flush", "loadlab_flushed"

STATUSES = StatusCounter()  # per (method, name, status): counted on workers/standalone, merged on the master
HEALTH = GeneratorHealth()
RESETS = ResetCounter()
_PROCESS = psutil.Process()
_CPU = CpuMeter()
_state: dict[str, Any] = {"thresholds": None, "exporter": None, "run_id": ""}
_flush_pending: set[str] = set()  # workers whose final report the master still waits for


@events.init_command_line_parser.add_listener
def on_init_command_line_parser(parser: Any, **kwargs: Any) -> None:
    """Fired when Locust builds its argument parser, on every node: adds the board-loadlab options.

    Workers also receive the master's values of these options with each spawn message.

    :param parser: Locust's ``LocustArgumentParser``
    """
    add_options(parser)


class BoardUser(FastHttpUser):
    """One simulated user of the board: its own account, token and known post ids.

    The class-level tasks are the seed's mix; ``on_start`` replaces them (per instance) with
    the ``--scenario`` mix, because workers learn the scenario from the master at spawn time.
    """

    def wait_time(self) -> float:
        wait = self.scenario.wait
        return random.uniform(*wait) if wait else 0.0

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.scenario = get_scenario(getattr(opts, "scenario", DEFAULT_SCENARIO) or DEFAULT_SCENARIO)
        self.tasks = task_list(self.scenario, self)
        self.account_count = max(1, int(getattr(opts, "account_count", 3) or 3))
        self.token: str | None = None
        self.headers: dict[str, str] = {}
        self.post_ids: list[int] = []
        if self.scenario.login:
            self.login()
        if self.scenario.collect_posts:
            with self.client.get("/posts/", headers=self.headers, catch_response=True) as resp:
                if self._expect(resp, 200) and isinstance(data := self._json(resp), list):
                    self.post_ids = [p["id"] for p in data if isinstance(p, dict) and "id" in p]

    def login(self) -> None:
        n = random.randint(1, self.account_count)
        form = {"username": f"user{n}", "password": f"pass{n}"}
        with self.client.post("/auth/login", data=form, catch_response=True) as resp:
            if self._expect(resp, 200):
                token = (self._json(resp) or {}).get("access_token")
                if token:
                    self.token = token
                    self.headers = {"Authorization": f"Bearer {token}"}
                else:
                    resp.failure("login answered 200 without an access_token")

    @task(5)
    def list_posts(self) -> None:
        with self.client.get("/posts/", headers=self.headers, catch_response=True) as resp:
            # Parse only while this user knows no post: JSON decoding costs generator CPU on every call.
            if self._expect(resp, 200) and not self.post_ids and isinstance(data := self._json(resp), list):
                self.post_ids = [p["id"] for p in data if isinstance(p, dict) and "id" in p]

    @task(1)
    def create_post(self) -> None:
        if not self.token:
            return
        body = {"title": f"Post title {random.randint(1, 10000)}", "content": "A sample post for load testing."}
        with self.client.post("/posts/", json=body, headers=self.headers, catch_response=True) as resp:
            if self._expect(resp, 201) and isinstance(post := self._json(resp), dict) and "id" in post:
                self.post_ids.append(post["id"])

    @task(2)
    def create_comment(self) -> None:
        if not self.token or not self.post_ids:
            return
        body = {"post_id": random.choice(self.post_ids), "content": f"Comment {random.randint(1, 10000)}"}
        with self.client.post("/comments/", json=body, headers=self.headers, catch_response=True) as resp:
            self._expect(resp, 201)

    def view_post(self) -> None:
        if not self.post_ids:
            return self.list_posts()
        post_id = random.choice(self.post_ids)
        with self.client.get(
            f"/posts/{post_id}", name="/posts/[id]", headers=self.headers, catch_response=True
        ) as resp:
            self._expect(resp, 200)

    def healthz(self) -> None:
        with self.client.get("/healthz", catch_response=True) as resp:
            self._expect(resp, 200)

    @staticmethod
    def _expect(resp: Any, status: int) -> bool:
        """Mark anything but the one status this call should get as a failure (503s, 4xx, redirects alike)."""
        if resp.status_code == status:
            return True
        # No response at all (status 0): the connection error is the only clue to what happened.
        said = (resp.text or "")[:120] if resp.status_code else repr(getattr(resp, "error", None))[:120]
        resp.failure(f"expected {status}, got {resp.status_code}: {said!r}")
        return False

    @staticmethod
    def _json(resp: Any) -> Any:
        try:
            return resp.json()
        except Exception as exc:  # noqa: BLE001  (any decode problem is the API's fault: record it)
            resp.failure(f"invalid JSON: {exc}")
            return None


@events.init.add_listener
def on_init(environment: Any, runner: Any = None, **kwargs: Any) -> None:
    """Fired once the environment and runner exist, on every node.

    On the master or a standalone run: loads the thresholds (failing fast on mistakes),
    selects the load shape, starts the exporter and the health sampler. On a worker: primes
    the CPU reading that rides along its reports.
    """
    opts = environment.parsed_options
    runner = runner or environment.runner
    if opts is None or runner is None:
        return
    if isinstance(runner, WorkerRunner):
        _cpu_ratio()  # the first reading only starts the interval
        runner.register_message(FLUSH_MESSAGE, _on_flush, concurrent=True)
        return
    if isinstance(runner, MasterRunner):
        runner.register_message(FLUSHED_MESSAGE, _on_flushed)
    try:
        thresholds = load_thresholds(opts.thresholds)
    except ThresholdError as exc:
        logger.error(f"--thresholds: {exc}")
        sys.exit(2)
    _state["thresholds"] = thresholds
    _state["run_id"] = opts.run_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if opts.shape != "constant":
        environment.shape_class = _make_shape(opts, thresholds)
        environment.shape_class.runner = runner
    RESETS.wrap(runner.stats)
    if opts.exporter_port:
        info = {"run_id": _state["run_id"], "scenario": opts.scenario, "shape": opts.shape}
        registry = make_registry(LocustCollector(environment, info, RESETS, HEALTH))
        try:
            _state["exporter"] = serve(registry, opts.exporter_host, opts.exporter_port)
        except OSError as exc:
            logger.error(f"--exporter-port {opts.exporter_port} on {opts.exporter_host}: {exc}")
            sys.exit(2)
        logger.info(f"Prometheus exporter on http://{opts.exporter_host}:{opts.exporter_port}/metrics")
    gevent.spawn(_sample_health, runner)


def _make_shape(opts: Any, thresholds: Thresholds) -> shapes.StepShape:
    args = (opts.step_users, opts.step_interval, opts.num_users or 0, opts.spawn_rate or 0.0, opts.run_time)
    try:
        if opts.shape == "capacity":
            return shapes.CapacityShape(*args, thresholds=thresholds)
        return shapes.StepShape(*args)
    except ValueError as exc:
        logger.error(f"--shape {opts.shape}: {exc}")
        sys.exit(2)


def _sample_health(runner: Any) -> None:
    """Every HEALTH_SAMPLE_INTERVAL: users vs target, missing workers, standalone CPU."""
    last_cpu = 0.0
    while True:
        gevent.sleep(HEALTH_SAMPLE_INTERVAL)
        now = time.monotonic()
        active = runner.state in ("spawning", "running")
        HEALTH.record_users(runner.user_count, runner.target_user_count if active else None, now)
        if isinstance(runner, MasterRunner):
            for node in runner.clients.all:
                if node.state == "missing":
                    HEALTH.record_missing(node.id)
            if active:
                HEALTH.record_present({node.id for node in runner.clients.all})
        elif now - last_cpu >= WORKER_REPORT_INTERVAL and active:  # standalone: a worker's cadence
            last_cpu = now
            if (cpu := _cpu_ratio()) is not None:
                HEALTH.record_cpu("local", cpu)
            HEALTH.record_worker_users("local", runner.user_count)


def _cpu_ratio() -> float | None:
    """This process's CPU (0-1 of a core) since the last ratio, or None if too little time has passed."""
    times = _PROCESS.cpu_times()
    return _CPU.sample(times.user + times.system, time.monotonic())


@events.test_stopping.add_listener
def on_test_stopping(environment: Any, **kwargs: Any) -> None:
    """Fired on every node when a test is about to stop; on the master, collects the workers' final reports.

    Locust's master quits by sending "quit" and stops listening 0.5 s later, while each worker
    first waits up to --stop-timeout for its users' requests in flight and only then sends its
    last report: those requests (and their 201s) would be lost. So the master asks every worker
    to stop its users and report now, and waits for the answers while it still listens.
    """
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    _flush_pending.clear()
    _flush_pending.update(node.id for node in runner.clients.all if node.state != "missing")
    expected = len(_flush_pending)
    if not expected:
        return
    runner.send_message(FLUSH_MESSAGE)
    deadline = time.monotonic() + (environment.stop_timeout or 0.0) + FLUSH_GRACE
    while _flush_pending and time.monotonic() < deadline:
        gevent.sleep(FLUSH_POLL_INTERVAL)
    if _flush_pending:
        logger.warning(f"No final report from {len(_flush_pending)} of {expected} workers: {sorted(_flush_pending)}")
    else:
        logger.info(f"Final reports received from {expected} of {expected} workers")


def _on_flush(environment: Any, msg: Any, **kwargs: Any) -> None:
    """On a worker: stop the users (they finish within --stop-timeout), send the last report, then say so."""
    runner = environment.runner
    runner.stop()
    runner._send_stats()  # Locust's own report call (as on "quit"): the requests just finished, with their 201s
    runner.send_message(FLUSHED_MESSAGE)


def _on_flushed(environment: Any, msg: Any, **kwargs: Any) -> None:
    """On the master: a worker's final report arrived (messages from one worker keep their order)."""
    _flush_pending.discard(msg.node_id)


@events.request.add_listener
def on_request(request_type: str, name: str, response: Any = None, **kwargs: Any) -> None:
    """Fired on workers and standalone runs for every request (never on the master): counts its status.

    :param request_type: HTTP method
    :param name: grouped request name (``/posts/[id]``)
    :param response: the FastResponse (status 0 after a connection error), or None when there was none
    """
    STATUSES.add(request_type, name, status_of(response))


@events.report_to_master.add_listener
def on_report_to_master(client_id: str, data: dict[str, Any], **kwargs: Any) -> None:
    """Fired on a worker before each stats report (and the final one at quit): adds status deltas and CPU.

    :param client_id: this worker's id
    :param data: the report dict sent to the master
    """
    data[STATUS_REPORT_KEY] = STATUSES.take_delta()
    if (cpu := _cpu_ratio()) is not None:  # none for a report right after the last one (the final flush)
        data[CPU_REPORT_KEY] = cpu


@events.worker_report.add_listener
def on_worker_report(client_id: str, data: dict[str, Any], **kwargs: Any) -> None:
    """Fired on the master for each worker report: merges status deltas, records CPU and users per worker.

    :param client_id: the reporting worker
    :param data: the report dict (Locust merges ``stats`` itself)
    """
    STATUSES.merge(data.get(STATUS_REPORT_KEY))
    if (cpu := data.get(CPU_REPORT_KEY)) is not None:
        HEALTH.record_cpu(client_id, float(cpu))
    if (users := data.get("user_count")) is not None:
        HEALTH.record_worker_users(client_id, int(users))


@events.quitting.add_listener
def on_quitting(environment: Any, **kwargs: Any) -> None:
    """Fired when the process exits, on every node; on the master or standalone, ends the run with the verdict.

    Locust fires ``quitting`` in reverse order, so the master's own listener (which collects
    the workers' final reports) has run before this one. Sets ``process_exit_code``.
    """
    runner = environment.runner
    opts = environment.parsed_options
    if runner is None or opts is None or isinstance(runner, WorkerRunner) or _state["thresholds"] is None:
        return
    HEALTH.finish(time.monotonic())
    verdict = evaluate(_endpoint_samples(runner.stats), _total_sample(runner.stats), _state["thresholds"],
                       HEALTH.reasons())  # fmt: skip
    shape = environment.shape_class
    if isinstance(shape, shapes.CapacityShape):
        # The finder breaks the SLO on purpose: the run succeeds when a step held (a knee exists).
        verdict.enforce_thresholds = False
        verdict.extra["capacity"] = shape.report.to_dict()
        verdict.notes.append(shape.report.summary())
        if shape.report.knee is None:
            verdict.problems.append("capacity: no step held the SLO")
    verdict.extra["run"] = {
        "run_id": _state["run_id"], "scenario": opts.scenario, "shape": opts.shape, "host": environment.host,
        "target_users": opts.num_users, "locust_version": locust.__version__,
    }  # fmt: skip
    verdict.extra["health"] = HEALTH.to_dict()
    print(verdict.render_table(), flush=True)
    if opts.verdict_file:
        verdict.write(opts.verdict_file)
        logger.info(f"Verdict written to {opts.verdict_file}")
    environment.process_exit_code = verdict.exit_code
    if _state["exporter"] is not None and opts.exporter_linger > 0:
        logger.info(f"Exporter serving final metrics for {opts.exporter_linger:g} s more")
        gevent.sleep(opts.exporter_linger)


def _endpoint_samples(stats: Any) -> list[EndpointSample]:
    return [
        EndpointSample(
            method,
            name,
            e.num_requests,
            e.num_failures,
            dict(e.response_times),
            e.total_rps,
            STATUSES.for_endpoint(method, name),
        )  # fmt: skip
        for (name, method), e in stats.entries.items()
        if e.num_requests or e.num_failures
    ]


def _total_sample(stats: Any) -> EndpointSample:
    t = stats.total
    return EndpointSample(
        "", "Aggregated", t.num_requests, t.num_failures, dict(t.response_times), t.total_rps, STATUSES.overall()
    )
