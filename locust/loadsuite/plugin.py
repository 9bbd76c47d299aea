"""board-loadlab's extras as a Locust plugin, for the load suite and for any other locustfile.

Load it beside your own test (``locust -f loadlab_plugin.py,my_locustfile.py``) or import it from your
locustfile (``import loadsuite.plugin``); importing it twice registers nothing twice (Python caches the
module). It adds, on top of whatever users the locustfile defines:

- every response status counted per endpoint on the workers and merged on the master (``statuses``);
- the generator-health guard: worker CPU, lost workers, users short of the target (``health``);
- the master's Prometheus exporter (``--exporter-port``; the ``locust_*`` metrics of docs/contracts.md);
- the workers' final reports collected before the master quits, so nothing they counted is lost;
- the verdict against SLO thresholds, printed, saved (``--verdict-file``) and as the exit code;
- a working login for Locust's web UI (``--web-login``, see ``webauth``).

Its options never clash with the locustfile's: a flag the locustfile defines itself stays the locustfile's
(``options.Owned``). The load suite's locustfile (``locust/locustfile.py``) imports this module and adds its
users, scenarios and shapes.
"""

from __future__ import annotations

import locust  # first: it monkey-patches the process with gevent
from locust import events
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import psutil

from loadsuite import shapes, webauth
from loadsuite.exporter import LocustCollector, ResetCounter, make_registry, serve
from loadsuite.health import CpuMeter, GeneratorHealth
from loadsuite.options import PLUGIN, Owned, add_options
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
PLUGIN_FILE = "loadlab_plugin.py"

STATUSES = StatusCounter()  # per (method, name, status): counted on workers/standalone, merged on the master
HEALTH = GeneratorHealth()
RESETS = ResetCounter()
OWNED = Owned()
_PROCESS = psutil.Process()
_CPU = CpuMeter()


@dataclass
class RunState:
    """What the master (or a standalone run) settles at start and reads again at the end."""

    thresholds: Thresholds | None = None
    exporter: Any = None
    run_id: str = ""
    info: dict[str, str] = field(default_factory=dict)
    flush_pending: set[str] = field(default_factory=set)  # workers whose final report the master awaits


STATE = RunState()


def option(opts: Any, flag: str) -> Any:
    """The value of one of the plugin's options (its default when the locustfile owns a flag of that name)."""
    return OWNED.value(opts, flag)


def thresholds() -> Thresholds:
    """The run's thresholds, loaded at init (the suite's capacity shape judges its steps with them)."""
    assert STATE.thresholds is not None, "loadsuite.plugin's init listener has not run"
    return STATE.thresholds


@events.init_command_line_parser.add_listener
def on_init_command_line_parser(parser: Any, **kwargs: Any) -> None:
    """Fired when Locust builds its argument parser, on every node: adds the plugin's options.

    :param parser: Locust's ``LocustArgumentParser``
    """
    add_options(parser, PLUGIN, OWNED)


@events.init.add_listener
def on_init(environment: Any, runner: Any = None, web_ui: Any = None, **kwargs: Any) -> None:
    """Fired once the environment, runner and web UI exist, on every node.

    On the master or a standalone run: loads the thresholds (failing fast on mistakes), starts the
    exporter and the health sampler, and installs the web UI's login with ``--web-login``. On a
    worker: primes the CPU reading that rides along its reports.
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
        STATE.thresholds = load_thresholds(option(opts, "--thresholds"))
    except ThresholdError as exc:
        _fail(f"--thresholds: {exc}")
    STATE.run_id = option(opts, "--run-id") or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    STATE.info = {"run_id": STATE.run_id, "scenario": _scenario(opts), "shape": getattr(opts, "shape", "constant")}
    RESETS.wrap(runner.stats)
    _install_web_login(environment, web_ui or environment.web_ui, opts)
    if port := option(opts, "--exporter-port"):
        host = option(opts, "--exporter-host")
        registry = make_registry(LocustCollector(environment, STATE.info, RESETS, HEALTH))
        try:
            STATE.exporter = serve(registry, host, port)
        except OSError as exc:
            _fail(f"--exporter-port {port} on {host}: {exc}")
        logger.info(f"Prometheus exporter on http://{host}:{port}/metrics")
    gevent.spawn(_sample_health, runner)


def _fail(message: str) -> None:
    """Unusable options: say why and exit 2 before any user starts (the verdict's code for it)."""
    logger.error(message)
    sys.exit(2)


def _scenario(opts: Any) -> str:
    """The suite's --scenario, or the locustfile's own name (run_info label, verdict) for any other test."""
    if scenario := getattr(opts, "scenario", None):
        return str(scenario)
    files = [Path(f).stem for f in str(getattr(opts, "locustfile", "") or "").split(",") if f]
    return ",".join(f for f in files if f != Path(PLUGIN_FILE).stem) or "locustfile"


def _install_web_login(environment: Any, web_ui: Any, opts: Any) -> None:
    if web_ui is None or not getattr(opts, "web_login", False):
        return
    try:
        password = webauth.password_from_env()
    except webauth.WebAuthError as exc:
        _fail(str(exc))
    webauth.install(web_ui, option(opts, "--web-username"), password, getattr(opts, "web_base_path", "") or "")
    logger.info(f"Web UI login required (user {option(opts, '--web-username')})")


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
    last report: those requests (and their statuses) would be lost. So the master asks every
    worker to stop its users and report now, and waits for the answers while it still listens.
    """
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    STATE.flush_pending = {node.id for node in runner.clients.all if node.state != "missing"}
    expected = len(STATE.flush_pending)
    if not expected:
        return
    runner.send_message(FLUSH_MESSAGE)
    deadline = time.monotonic() + (environment.stop_timeout or 0.0) + FLUSH_GRACE
    while STATE.flush_pending and time.monotonic() < deadline:
        gevent.sleep(FLUSH_POLL_INTERVAL)
    if STATE.flush_pending:
        missing = sorted(STATE.flush_pending)
        logger.warning(f"No final report from {len(missing)} of {expected} workers: {missing}")
    else:
        logger.info(f"Final reports received from {expected} of {expected} workers")


def _on_flush(environment: Any, msg: Any, **kwargs: Any) -> None:
    """On a worker: stop the users (they finish within --stop-timeout), send the last report, then say so."""
    runner = environment.runner
    runner.stop()
    runner._send_stats()  # Locust's own report call (as on "quit"): the requests just finished, with their statuses
    runner.send_message(FLUSHED_MESSAGE)


def _on_flushed(environment: Any, msg: Any, **kwargs: Any) -> None:
    """On the master: a worker's final report arrived (messages from one worker keep their order)."""
    STATE.flush_pending.discard(msg.node_id)


@events.request.add_listener
def on_request(request_type: str, name: str, response: Any = None, **kwargs: Any) -> None:
    """Fired on workers and standalone runs for every request (never on the master): counts its status.

    :param request_type: HTTP method
    :param name: grouped request name (``/posts/[id]``)
    :param response: the response (status 0 after a connection error), or None when there was none
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
    if runner is None or opts is None or isinstance(runner, WorkerRunner) or STATE.thresholds is None:
        return
    HEALTH.finish(time.monotonic())
    verdict = evaluate(_endpoint_samples(runner.stats), _total_sample(runner.stats), STATE.thresholds, HEALTH.reasons())
    shape = environment.shape_class
    if isinstance(shape, shapes.CapacityShape):
        # The finder breaks the SLO on purpose: the run succeeds when a step held (a knee exists).
        verdict.enforce_thresholds = False
        verdict.extra["capacity"] = shape.report.to_dict()
        verdict.notes.append(shape.report.summary())
        if shape.report.knee is None:
            verdict.problems.append("capacity: no step held the SLO")
    verdict.extra["run"] = {
        **STATE.info,
        "host": environment.host,
        "target_users": opts.num_users,
        "locust_version": locust.__version__,
    }
    verdict.extra["health"] = HEALTH.to_dict()
    print(verdict.render_table(), flush=True)
    if path := option(opts, "--verdict-file"):
        verdict.write(path)
        logger.info(f"Verdict written to {path}")
    environment.process_exit_code = verdict.exit_code
    if STATE.exporter is not None and (linger := option(opts, "--exporter-linger")) > 0:
        logger.info(f"Exporter serving final metrics for {linger:g} s more")
        gevent.sleep(linger)


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
        )
        for (name, method), e in stats.entries.items()
        if e.num_requests or e.num_failures
    ]


def _total_sample(stats: Any) -> EndpointSample:
    t = stats.total
    return EndpointSample(
        "", "Aggregated", t.num_requests, t.num_failures, dict(t.response_times), t.total_rps, STATUSES.overall()
    )
