"""The `overload` drill: 10x the knee's users for 30 s on top of a normal run at the knee.

The excess must be shed, not queued: 503 + `Retry-After` fast (p99 <= 100 ms), no request over 5 s, and
the API serving normally as soon as the spike ends. The spike is a second Locust run (its own master and
workers) started and stopped from the drill's hooks. Locust's failures carry no response times, so a probe
in the lab sends a steady trickle of sheddable requests (a login: bcrypt queue; an uncached page: DB pool)
and records status and latency of each: the p99 of its 503s is the figure the issue asks for.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from loadlab import charts, consistency
from loadlab.drill import DrillOutcome
from loadlab.loadtest import END_GRACE, LoadOptions, LocustRun
from loadlab.locust_files import read_endpoints, read_failures, read_stats, read_verdict
from loadlab.probe import Sample, TrafficProbe, p99
from loadlab.process import free_port
from loadlab.stack import Stack

SPIKE_FACTOR = 10
SPIKE_SECONDS = 30
SPIKE_WORKERS = 2
#: The spike's users all start within this many seconds (Locust's spawn rate = users / this), then hold
#: `SPIKE_SECONDS`. Each starts with a login on a new connection: all at once would test the generator.
SPIKE_RAMP_SECONDS = 5
SHED_P99_MS = 100.0
SLOWEST_ALLOWED_S = 5.0
#: From the spike on, every Locust process (the spike's and the base run's) is niced: on a 2-core machine 10x
#: the knee's users take more CPU than the API itself, and a starved API measures the machine, not its shedding
#: (generators never share the API's cores on a cluster). Caveat: where the kernel groups processes by session
#: (autogroup, on in this lab machine's kernel), each Locust process leads a session of its own and its nice
#: value only ranks it inside that session. Lowering the session groups as well (`/proc/PID/autogroup`) was
#: tried: the starved spike timed its own requests out and the 503 p99 was no better, so the groups are left
#: alone. The probe keeps normal priority: it times.
SPIKE_NICE = 10
#: After the spike ends, probe requests this much later must all be served (spike users finish their last call).
DRAIN_SECONDS = 1.0
#: Probe clients, each sending one request at a time: a few hundred 503s in a spike, a few percent of its load.
PROBE_CLIENTS = 16
#: One probe request in this many is a page, the others logins: the spike overloads the bcrypt queue first, so
#: logins are what gets shed (with half of them pages, a spike gave the probe too few 503s for a p99).
PAGE_EVERY = 4
#: The 503s the probe must time before their p99 means anything: with fewer, the "p99" is the largest one.
MIN_SHED_SAMPLES = 100


class ShedProbe(TrafficProbe):
    """A steady trickle of requests the API may shed: a login (bcrypt queue) and an uncached page (DB pool)."""

    def __init__(self, base_url: str, accounts: int, clients: int = PROBE_CLIENTS) -> None:
        super().__init__(base_url, self._login_or_page, clients)
        self.accounts = max(1, accounts)

    async def _login_or_page(self, client: httpx.AsyncClient, i: int) -> None:
        if i % PAGE_EVERY == PAGE_EVERY - 1:
            # Not the cached first page: a limit other than the default goes to Postgres every time.
            await self.send(client, "GET", "/posts/", name="GET /posts/?limit=5", params={"limit": 5})
        else:
            n = i % self.accounts + 1
            await self.send(client, "POST", "/auth/login", data={"username": f"user{n}", "password": f"pass{n}"})


def probe_figures(samples: list[Sample], spike_from: float, spike_to: float) -> dict[str, float]:
    """What the probe saw during the spike (503 count and p99, slowest) and after it (requests not served)."""
    during = [s for s in samples if spike_from <= s.at <= spike_to]
    shed = [s.ms for s in during if s.status == 503]
    after = [s for s in samples if s.at >= spike_to + DRAIN_SECONDS]
    figures = {
        "probe_requests": float(len(during)),
        "probe_503": float(len(shed)),
        "probe_other_errors": float(sum(1 for s in during if s.status == 0 or (s.status >= 500 and s.status != 503))),
        "probe_max_ms": max((s.ms for s in samples), default=0.0),
        "probe_after": float(len(after)),
        "probe_after_not_served": float(sum(1 for s in after if not 200 <= s.status < 300)),
    }
    shed_p99 = p99(shed)
    if shed_p99 is not None:
        figures["probe_503_p99_ms"] = round(shed_p99, 1)
    return figures


def write_samples(samples: list[Sample], path: Path) -> None:
    """Every probe request (wall time, request, status, ms): the figures can be checked or re-cut."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["at", "request", "status", "ms"])
        writer.writerows([f"{s.at:.3f}", s.name, s.status, f"{s.ms:.1f}"] for s in samples)


def users_gone_at(history: Path) -> float | None:
    """When the spike's users were gone: the second after the last `_stats_history.csv` row that had any.

    The master lives on for a few seconds after its run (the exporter lingers, reports are written), so its
    exit is not when the load ended.
    """
    if not history.exists():
        return None
    last = None
    with history.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("Name") == "Aggregated" and int(row.get("User Count") or 0) > 0:
                last = float(row["Timestamp"])
    return last + 1.0 if last is not None else None


def failure_kinds(failures: dict[str, int]) -> tuple[int, dict[str, int]]:
    """(503s, other failures by message) from Locust's failures (`locust_files.read_failures`)."""
    shed = sum(count for key, count in failures.items() if "got 503" in key)
    return shed, {key: count for key, count in failures.items() if "got 503" not in key}


@dataclass
class Spike:
    """The fault: a second Locust run of `SPIKE_FACTOR` x knee users, plus the probe that times the 503s."""

    knee: int = 0
    run: LocustRun | None = None
    probe: ShedProbe | None = None
    started_at: float = 0.0
    ended_at: float = 0.0

    @property
    def users(self) -> int:
        return self.knee * SPIKE_FACTOR

    def inject(self, stack: Stack, base: LocustRun) -> None:
        assert stack.api is not None
        self.probe = ShedProbe(stack.api.url, base.options.accounts).start()
        options = LoadOptions(
            users=self.users,
            spawn_rate=max(1.0, self.users / SPIKE_RAMP_SECONDS),
            duration=SPIKE_RAMP_SECONDS + SPIKE_SECONDS,
            workers=SPIKE_WORKERS,
            scenario="seed",
            accounts=base.options.accounts,
        )
        workdir = base.workdir / "spike"
        self.run = LocustRun(
            workdir,
            base.outdir / "spike",
            stack.api.url,
            options,
            exporter_port=free_port(),
            run_id=f"{base.run_id}-spike",
        ).start()
        for process in (self.run.master, *self.run.workers, base.master, *base.workers):
            if process is not None and process.pid is not None:
                os.setpriority(os.PRIO_PROCESS, process.pid, SPIKE_NICE)
        self.started_at = time.time()

    def recover(self, stack: Stack, base: LocustRun) -> None:
        """Let the spike's master end its run and write its files, then stop whatever is left."""
        assert self.run is not None and self.run.master is not None
        deadline = time.monotonic() + END_GRACE
        while self.run.master.alive and time.monotonic() < deadline:
            time.sleep(0.2)
        self.ended_at = time.time()
        self.run.stop()
        # The probe goes on until the analysis: requests after the spike must be served at once.

    def stop(self) -> None:
        """Leave nothing behind whatever happened (interrupted run, failed start)."""
        if self.run is not None:
            self.run.stop()
        if self.probe is not None:
            self.probe.stop()

    def analyse(self, outcome: DrillOutcome, prometheus: str) -> None:
        """Spike and probe figures into `outcome.extra`; the window ends when the spike's master did."""
        self.stop()
        extra = outcome.extra
        if self.run is None:
            return
        self.ended_at = users_gone_at(self.run.outdir / "locust_stats_history.csv") or self.ended_at
        outcome.window.recovered_at = self.ended_at or outcome.window.recovered_at
        rows = read_stats(self.run.files["csv_stats"])
        shed, other = failure_kinds(read_failures(self.run.files["csv_failures"]))
        extra["spike_users"] = float(self.users)
        extra["spike_requests"] = float(sum(r.requests for r in rows))
        extra["spike_503"] = float(shed)
        extra["spike_other_failures"] = float(sum(other.values()))
        extra["spike_max_ms"] = max((r.max_ms for r in rows), default=0.0)
        outcome.client_errors.update({f"spike {k}": v for k, v in other.items()})
        if self.probe is not None:
            extra.update(probe_figures(self.probe.samples, self.started_at, self.ended_at))
            write_samples(self.probe.samples, outcome.result.outdir / "overload-probe.csv")
        outcome.slowest_ms = max(outcome.slowest_ms, extra["spike_max_ms"], extra.get("probe_max_ms", 0.0))
        self._count_own_requests(outcome)
        start, end = outcome.result.started_at, outcome.result.ended_at
        # 5.0 is a bucket bound: the requests the API itself took over 5 s to answer, exactly.
        window = f"{max(1, int(end - start) + 5)}s"
        slow = charts.query_instant(
            prometheus,
            f"sum(increase(board_http_request_duration_seconds_count[{window}]))"
            f' - sum(increase(board_http_request_duration_seconds_bucket{{le="{SLOWEST_ALLOWED_S}"}}[{window}]))',
            end,
        )
        extra["api_over_5s"] = round(float(slow[0]["value"][1]), 1) if slow else -1.0
        for label, expr in (
            ("API 503/s", 'sum(rate(board_http_requests_total{status="503"}[2s]))'),
            ("API 2xx/s", 'sum(rate(board_http_requests_total{status=~"2.."}[2s]))'),
        ):
            result = charts.query_range(prometheus, expr, start, end, 1.0)
            outcome.series[label] = [(float(t), float(v)) for t, v in result[0]["values"]] if result else []

    def _count_own_requests(self, outcome: DrillOutcome) -> None:
        """The spike's and the probe's requests reached the API too: add them to what the clients saw."""
        result = outcome.result
        verdict = read_verdict(self.run.files["verdict"]) if self.run is not None else {}
        if not verdict or self.run is None:
            if result.consistency is not None:
                result.consistency.problem = "the spike wrote no verdict: what its clients saw is unknown"
            return
        spike = consistency.client_counts(
            read_endpoints(self.run.files["csv_stats"], verdict), read_failures(self.run.files["csv_failures"])
        )
        probe = consistency.response_counts(self.probe.responses() if self.probe is not None else [])
        consistency.recheck(result, spike.plus(probe))


# -- the checks ------------------------------------------------------------------------------------------------
def excess_shed_fast(outcome: DrillOutcome) -> str | None:
    extra = outcome.extra
    if extra.get("spike_503", 0) < 1 and extra.get("probe_503", 0) < 1:
        return "nothing was shed: no 503 during the spike (is --knee far below the real knee?)"
    shed_p99 = extra.get("probe_503_p99_ms")
    if shed_p99 is None or extra.get("probe_503", 0) < MIN_SHED_SAMPLES:
        return f"too few 503s seen by the probe to take a p99 ({extra.get('probe_503', 0):.0f} < {MIN_SHED_SAMPLES})"
    if shed_p99 > SHED_P99_MS:
        return f"503 p99 {shed_p99:.0f} ms (> {SHED_P99_MS:.0f} ms)"
    return None


def excess_gets_503_only(outcome: DrillOutcome) -> str | None:
    extra = outcome.extra
    other = extra.get("spike_other_failures", 0) + extra.get("probe_other_errors", 0)
    return f"{other:.0f} spike failures other than 503 (timeouts, resets, 5xx)" if other else None


def nothing_over_5s(outcome: DrillOutcome) -> str | None:
    """Judged where the generator's own delays do not count: the API's histogram and the probe.

    On the 2-core lab machine the spike's Locust workers run 1000 users each next to the API; the times
    they measure include their own CPU starvation. Their maximum is still shown (`spike_max_ms`, Slowest ms).
    """
    extra = outcome.extra
    over = extra.get("api_over_5s", -1.0)
    if over < 0:
        return "the API's request durations were not in Prometheus"
    if over > 0:
        return f"the API took over {SLOWEST_ALLOWED_S:.0f} s to answer {over:.0f} requests"
    probe_max = extra.get("probe_max_ms", 0.0)
    if probe_max > SLOWEST_ALLOWED_S * 1000:
        return f"a probe request took {probe_max:.0f} ms (> {SLOWEST_ALLOWED_S * 1000:.0f})"
    return None


def api_sends_no_other_5xx(outcome: DrillOutcome) -> str | None:
    bad = {s: n for s, n in outcome.errors_by_status.items() if s.startswith("5") and s != "503" and n >= 1}
    return f"5xx other than 503 from the API: {bad}" if bad else None


def served_at_once_after(outcome: DrillOutcome) -> str | None:
    extra = outcome.extra
    if extra.get("probe_after", 0) < 1:
        return "no probe request after the spike"
    bad = extra.get("probe_after_not_served", 0)
    return f"{bad:.0f} probe requests not served after the spike ended" if bad else None
