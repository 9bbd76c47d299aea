"""`loadlab bench`: ceilings and presets measured in one session on this machine, printed as figures and ratios.

1. Ceilings: the bcrypt limit (verifies/s with every core busy) and the bare-ASGI ceiling (GET /healthz through
   the same API process and Locust setup, no wait).
2. The seed's test (1000 users, spawn 50/s, 60 s) for each preset: per endpoint, offered vs achieved rps, the
   cache's hit ratio, and what a request cost the API and the load generator in CPU.
3. The capacity knee of each preset under the same SLO (`bench_files/slo.yaml`), and the last preset's knee over
   each other's (`single-process` is the design before more API processes and the write-through cache).
4. A login storm: logins/s over the bcrypt limit, and the p99 of other requests meanwhile (a probe).
5. The cached list at no wait over the bare-ASGI ceiling.
Timings are never asserted anywhere: `--smoke` shrinks every part so CI proves only that each figure appears.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bcrypt
import httpx

from loadlab import charts, consistency, diagnosis, fingerprint, presets
from loadlab.formats import finding_text, machine_line, markdown_table, text_table
from loadlab.lab import run_lab
from loadlab.loadtest import LoadOptions, LocustRun
from loadlab.probe import TrafficProbe, p99
from loadlab.report import write as write_report
from loadlab.result import Machine, RunResult
from loadlab.stack import Stack

SLO_FILE = Path(__file__).parent / "bench_files" / "slo.yaml"
#: The seed scenario waits uniform(1, 3) s between tasks: a user offers 0.5 requests/s to an instant server.
SEED_MEAN_WAIT = 2.0
PROBE_INTERVAL = 0.1
#: What the login storm's probe times: requests that need no bcrypt.
OTHERS = ("GET /posts/", "POST /comments/")
#: The login-storm scenario waits uniform(0.5, 1.5) s; the storm offers this many times the bcrypt limit.
STORM_MEAN_WAIT = 1.0
STORM_OVERSUPPLY = 1.5


@dataclass(frozen=True)
class BenchPlan:
    presets: tuple[str, ...] = ("seed-baseline", "single-process", "tuned")  # as loadlab.cli.BENCH_PRESETS
    bcrypt_seconds: float = 5.0
    ceiling_users: int = 40
    ceiling_seconds: int = 20
    seed_users: int = 1000
    seed_spawn: float = 50.0
    seed_seconds: int = 60
    #: Capacity-finder steps per preset (users per step, max users): the baseline breaks within tens of users,
    #: the tuned preset holds hundreds, and both are judged by one SLO. Presets not named use the default.
    knee_steps: tuple[tuple[str, int, int], ...] = (
        ("seed-baseline", 5, 100),
        ("single-process", 25, 1000),
        ("*", 50, 2000),
    )
    knee_step_seconds: int = 10
    storm_users: int = 60
    storm_sized_by_limit: bool = True  # offer STORM_OVERSUPPLY x the measured bcrypt limit (at least storm_users)
    storm_seconds: int = 30
    workers: int = 2
    accounts: int = 100
    #: The stack's CPU quota for every part (`--cpus`), None: unlimited.
    cpus: str | None = None

    @classmethod
    def smoke(cls) -> BenchPlan:
        return cls(
            bcrypt_seconds=0.5,
            ceiling_users=5,
            ceiling_seconds=5,
            seed_users=10,
            seed_spawn=10,
            seed_seconds=6,
            knee_steps=(("*", 5, 10),),
            knee_step_seconds=4,
            storm_users=4,
            storm_sized_by_limit=False,
            storm_seconds=6,
            workers=1,
            accounts=5,
        )


@dataclass
class Results:
    plan: dict[str, Any]
    machine: dict[str, Any]
    bcrypt: dict[str, float] = field(default_factory=dict)
    bare_rps: float | None = None
    cached_rps: float | None = None
    seed: dict[str, dict[str, Any]] = field(default_factory=dict)
    knee: dict[str, dict[str, Any]] = field(default_factory=dict)
    storm: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)


# -- 1. ceilings -----------------------------------------------------------------------------------------------
def bcrypt_limit(rounds: int, seconds: float, threads: int | None = None) -> float:
    """Verifies per second with one thread per core (bcrypt releases the GIL, as the API's executor relies on)."""
    threads = threads or os.cpu_count() or 1
    hashed = bcrypt.hashpw(b"pass1", bcrypt.gensalt(rounds))
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def spin(i: int) -> None:
        while time.monotonic() < stop:
            bcrypt.checkpw(b"pass1", hashed)
            counts[i] += 1

    pool = [threading.Thread(target=spin, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.monotonic() - started)


def total_rps(result: RunResult) -> float:
    window = max(1e-9, result.ended_at - result.started_at)
    return sum(r.requests for r in result.endpoints) / window


def knee_steps(plan: BenchPlan, preset: str) -> tuple[int, int]:
    steps = dict((name, (step, top)) for name, step, top in plan.knee_steps)
    return steps.get(preset, steps["*"])


# -- 4. the probe that measures other requests during a login storm --------------------------------------------
class OthersProbe(TrafficProbe):
    """A steady trickle of list and comment requests from the lab itself, timing each one (one client)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, self._list_or_comment, interval=PROBE_INTERVAL)
        self._headers: dict[str, str] = {}
        self._post_id = 0

    async def _list_or_comment(self, client: httpx.AsyncClient, turn: int) -> None:
        if not self._post_id and not await self._log_in_and_post(client):
            return
        if turn % 2:
            comment = {"post_id": self._post_id, "content": "probe"}
            await self.send(client, "POST", "/comments/", json=comment, headers=self._headers)
        else:
            await self.send(client, "GET", "/posts/")

    async def _log_in_and_post(self, client: httpx.AsyncClient) -> bool:
        """Its own account's token and post, once (a refused login tries again at the next turn)."""
        login = await self.send(client, "POST", "/auth/login", data={"username": "user1", "password": "pass1"})
        if login is None or login.status_code != 200:
            return False
        self._headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        post = {"title": "probe", "content": "probe"}
        created = await self.send(client, "POST", "/posts/", json=post, headers=self._headers)
        if created is None or created.status_code != 201:
            return False
        self._post_id = created.json()["id"]
        return True

    def others_ms(self) -> list[float]:
        """The list and comment requests' times (not the probe's own login and post)."""
        return [s.ms for s in self.samples if s.name in OTHERS]


# -- running it all ------------------------------------------------------------------------------------------------
def run_bench(root: Path, plan: BenchPlan, say: Callable[[str], None] = print) -> Results:
    out = root / f"bench-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    out.mkdir(parents=True)
    chosen = {name: presets.load(name) for name in plan.presets}
    tuned = chosen[plan.presets[-1]]
    say("bench: measuring the machine (bcrypt cost 10, a Python loop)")
    machine = fingerprint.measure()
    results = Results(plan=asdict(plan), machine=asdict(machine))

    def lab(preset: presets.Preset, tag: str, **kw: Any) -> RunResult:
        hooks = {hook: kw.pop(hook, None) for hook in ("during", "ended", "after")}
        options = LoadOptions(workers=plan.workers, accounts=plan.accounts, cpus=plan.cpus, **kw)
        say(f"bench: {tag} ({preset.name}, {options.users} users, {options.duration} s, {options.scenario})")
        report = run_lab(out, preset, options, run_id=tag, quiet=True, machine=machine, **hooks)
        results.runs[tag] = str(report.outdir)
        if report.interrupted:
            raise KeyboardInterrupt
        return report

    for preset in chosen.values():
        rounds = int(preset.env.get("BOARD_BCRYPT_ROUNDS", "12"))
        if str(rounds) not in results.bcrypt:
            say(f"bench: bcrypt limit at cost {rounds}")
            results.bcrypt[str(rounds)] = bcrypt_limit(rounds, plan.bcrypt_seconds)
    ceiling = dict(users=plan.ceiling_users, spawn_rate=plan.ceiling_users, duration=plan.ceiling_seconds)
    results.bare_rps = total_rps(lab(tuned, "ceiling-bare", scenario="bare", **ceiling))
    results.cached_rps = total_rps(lab(tuned, "cached-list", scenario="cached-list", **ceiling))

    for name, preset in chosen.items():
        users_avg: list[float] = []

        def mean_users(stack: Stack, report: RunResult, box: list[float] = users_avg) -> None:
            assert stack.prometheus is not None
            window = f"{max(1, int(report.ended_at - report.started_at))}s"
            value = charts.query_instant(
                stack.prometheus.url, f"avg_over_time(locust_users[{window}])", report.ended_at
            )
            box.append(float(value[0]["value"][1]) if value else 0.0)

        report = lab(
            preset,
            f"seed-{name}",
            users=plan.seed_users,
            spawn_rate=plan.seed_spawn,
            duration=plan.seed_seconds,
            scenario="seed",
            after=mean_users,
        )
        offered = (users_avg[0] if users_avg else 0.0) / SEED_MEAN_WAIT
        results.seed[name] = {
            "endpoints": [asdict(r) for r in report.endpoints],
            "failures": sum(r.failures for r in report.endpoints),
            "offered_rps": offered,
            "achieved_rps": total_rps(report),
            "server": report.server,
            "cpu_ms_per_request": report.cpu_ms_per_request(),
        }

    knee_reports: dict[str, RunResult] = {}
    for name, preset in chosen.items():
        step_users, max_users = knee_steps(plan, name)
        steps = max(1, max_users // step_users)
        report = lab(
            preset,
            f"knee-{name}",
            users=max_users,
            spawn_rate=max(step_users, 1),
            duration=steps * plan.knee_step_seconds + 5,
            scenario="seed",
            shape="capacity",
            step_users=step_users,
            step_interval=plan.knee_step_seconds,
            thresholds=SLO_FILE,
        )
        capacity = report.verdict.get("capacity", {})
        knee = capacity.get("knee") or {}
        results.knee[name] = {
            "users": knee.get("users", 0),
            "rps": knee.get("rps", 0.0),
            "step_users": step_users,
            "max_users": max_users,
            "stopped_because": capacity.get("stopped_because", ""),
        }
        knee_reports[name] = report
    knee_diagnoses(results, knee_reports)

    probe_box: list[OthersProbe] = []

    def start_probe(stack: Stack, run: LocustRun, elapsed: float) -> None:
        if not probe_box and stack.api is not None:
            probe_box.append(OthersProbe(stack.api.url).start())

    def stop_probe(stack: Stack) -> None:
        if probe_box:
            probe_box[0].stop()

    def count_probe(stack: Stack, result: RunResult) -> None:
        if probe_box:
            consistency.recheck(result, consistency.response_counts(probe_box[0].responses()))

    limit = results.bcrypt[tuned.env.get("BOARD_BCRYPT_ROUNDS", "12")]
    # Offer half again the bcrypt limit: each storm user logs in about once a second (wait 0.5-1.5 s).
    storm_users = plan.storm_users
    if plan.storm_sized_by_limit:
        storm_users = max(storm_users, int(limit * STORM_OVERSUPPLY * STORM_MEAN_WAIT))
    storm = lab(
        tuned,
        "login-storm",
        users=storm_users,
        spawn_rate=storm_users,
        duration=plan.storm_seconds,
        scenario="login-storm",
        during=start_probe,
        ended=stop_probe,
        after=count_probe,
    )
    if probe_box:
        probe_box[0].stop()
    logins = next((r for r in storm.endpoints if r.name == "/auth/login"), None)
    login_rps = logins.requests / max(1e-9, storm.ended_at - storm.started_at) if logins else 0.0
    results.storm = {
        "logins_per_s": login_rps,
        "bcrypt_limit": limit,
        "others_p99_ms": p99(probe_box[0].others_ms()) if probe_box else None,
        "others_requests": len(probe_box[0].others_ms()) if probe_box else 0,
        "login_failures": logins.failures if logins else 0,
        "users": storm_users,
    }
    write(out, results)
    return results


def knee_diagnoses(results: Results, reports: dict[str, RunResult]) -> None:
    """What saturated first on the way to each preset's knee, each finding with how its signal looked in the other
    presets (their reports rewritten with it)."""
    diagnosis.compare({name: r.diagnosis for name, r in reports.items()})
    for name, result in reports.items():
        write_report(result)
        d = result.diagnosis
        results.knee[name]["diagnosis"] = d.headline if d else "no diagnosis (no Prometheus data)"
        results.knee[name]["bottleneck"] = diagnosis.first_resource(d)
        results.knee[name]["findings"] = [finding_text(f) for f in (d.findings if d else [])]


def diagnosis_text(results: Results) -> list[str]:
    """The bench's first lines: which resource saturated first at each preset's knee."""
    return [f"diagnosis at the knee, {name}: {k.get('diagnosis', 'not made')}" for name, k in results.knee.items()]


# -- the table ---------------------------------------------------------------------------------------------------
def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.2f}x"


def figure_rows(r: Results) -> list[list[str]]:
    rows = [["Figure", "Value", "Ratio"]]
    for cost, vps in r.bcrypt.items():
        rows.append([f"bcrypt limit, cost {cost} (verifies/s, all cores)", f"{vps:.1f}", ""])
    rows.append(["bare-ASGI ceiling (GET /healthz, rps)", f"{r.bare_rps or 0:.0f}", ""])
    of_bare = f"{ratio(r.cached_rps, r.bare_rps)} of bare"
    rows.append(["cached GET /posts/ at no wait (rps)", f"{r.cached_rps or 0:.0f}", of_bare])
    for name, s in r.seed.items():
        rows += seed_rows(name, s)
    knees = list(r.knee.items())
    for name, k in knees:
        label = f"capacity knee {name} (users @ rps; steps of {k['step_users']} to {k['max_users']})"
        rows.append([label, f"{k['users']} @ {k['rps']:.0f}", ""])
    if len(knees) >= 2:
        last, high = knees[-1]
        for name, low in knees[:-1]:
            shown = ratio(high["users"], low["users"])
            if not low["users"] and high["users"]:
                # The preset held no step: its knee is below one step, so the ratio is at least this.
                shown = f"> {high['users'] / low['step_users']:.0f}x"
            rows.append([f"knee ratio {last} / {name} (users)", "", shown])
    s = r.storm
    if s:
        of_limit = f"{ratio(s['logins_per_s'], s['bcrypt_limit'])} of bcrypt limit"
        rows.append(["login storm: logins/s", f"{s['logins_per_s']:.1f}", of_limit])
        p99 = s["others_p99_ms"]
        rows.append(["login storm: other requests p99 (ms)", "n/a" if p99 is None else f"{p99:.0f}", ""])
    return rows


def seed_rows(name: str, s: dict[str, Any]) -> list[list[str]]:
    """The seed test's figures of one preset: load carried, failures, latency, cache, CPU per request."""
    endpoints = s["endpoints"]
    others = [e for e in endpoints if e["name"] != "/auth/login"]
    login = next((e for e in endpoints if e["name"] == "/auth/login"), None)
    hit = (s.get("server") or {}).get("cache hit ratio")
    cpu = s.get("cpu_ms_per_request") or {}
    achieved, offered = s["achieved_rps"], s["offered_rps"]
    worst_p95 = max((e["p95_ms"] for e in others), default=0)
    rows = [
        [f"seed test {name}: achieved / offered rps", f"{achieved:.0f} / {offered:.0f}", ratio(achieved, offered)],
        [f"seed test {name}: failures", str(s["failures"]), ""],
        [f"seed test {name}: non-login p95 (ms, worst endpoint)", f"{worst_p95:.0f}", ""],
        [f"seed test {name}: login p95 (ms)", f"{login['p95_ms']:.0f}" if login else "n/a", ""],
        [f"seed test {name}: cache hit ratio", "n/a" if hit is None else f"{hit:.3f}", ""],
    ]
    for part in ("api", "load generator"):
        if part in cpu:
            rows.append([f"seed test {name}: {part} CPU per request (ms)", f"{cpu[part]:.2f}", ""])
    return rows


def endpoint_rows(r: Results) -> list[list[str]]:
    rows = [["Preset", "Endpoint", "Requests", "Failures", "p50 ms", "p95 ms", "p99 ms", "rps"]]
    for name, s in r.seed.items():
        for e in s["endpoints"]:
            latency = [f"{e[k]:.0f}" for k in ("p50_ms", "p95_ms", "p99_ms")]
            counts = [str(e["requests"]), str(e["failures"])]
            rows.append([name, f"{e['method']} {e['name']}", *counts, *latency, f"{e['rps']:.1f}"])
    return rows


def write(out: Path, results: Results) -> None:
    (out / "bench.json").write_text(json.dumps(asdict(results), indent=2, default=str))
    md = [
        "# loadlab bench",
        "",
        *[f"- {line}" for line in diagnosis_text(results)],
        "",
        machine_text(results).replace("machine:", "**Machine**:", 1),
        "",
        markdown_table(figure_rows(results)),
        "",
        "## The seed's test per endpoint",
        "",
        markdown_table(endpoint_rows(results)),
        "",
    ]
    md += [f"- {tag}: `{path}`" for tag, path in results.runs.items()]
    (out / "bench.md").write_text("\n".join(md) + "\n")


def machine_text(results: Results) -> str:
    """The fingerprint line (every bench and report starts with it), from bench.json's `machine`."""
    return machine_line(Machine(**results.machine)) if results.machine else "machine: not measured"


def print_results(results: Results) -> None:
    for line in diagnosis_text(results):
        print(line)
    print(machine_text(results))
    print()
    print(text_table(figure_rows(results)))
    print()
    print(text_table(endpoint_rows(results)))
