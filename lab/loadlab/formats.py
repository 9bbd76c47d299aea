"""How the report words each part: tables as cells, one-line sentences, file names. Shared by every rendering of
a run (terminal, Markdown, HTML) and by compare, bench and drills; pure functions of the result's parts."""

from __future__ import annotations

from typing import Any

from loadlab.result import (
    REASON_503,
    ROWS,
    STATUS,
    Consistency,
    CountCheck,
    Diagnosis,
    Endpoint,
    Finding,
    Machine,
    RunResult,
)

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
INDEX_HTML = "index.html"
#: Why a run against another service (`loadlab run --host`) has no server-side checks: said in every rendering.
TARGET_NOTE = "not the lab's API: nothing server-side to check"
#: Locust's own files in the report folder, linked from the page: (file, what it is).
LOCUST_FILES = (
    ("locust.html", "Locust's own HTML report"),
    ("locust_stats.csv", "per endpoint, at the end"),
    ("locust_stats_history.csv", "every few seconds"),
    ("locust_failures.csv", "failures by message"),
    ("locust_exceptions.csv", "exceptions in the load suite"),
    ("verdict.json", "the load suite's verdict"),
)


# -- tables ----------------------------------------------------------------------------------------------------
def table(rows: list[Endpoint]) -> list[list[str]]:
    head = ["Endpoint", "Requests", "Failures", "p50 ms", "p95 ms", "p99 ms", "rps", "Statuses"]
    body = [_endpoint_row(r) for r in rows]
    if rows:
        total: dict[str, int] = {}
        for r in rows:
            for status, n in r.statuses.items():
                total[status] = total.get(status, 0) + n
        requests, failures = sum(r.requests for r in rows), sum(r.failures for r in rows)
        rps = sum(r.rps for r in rows)
        body.append(["Total", str(requests), str(failures), "", "", "", f"{rps:.1f}", statuses_text(total)])
    return [head, *body]


def _endpoint_row(r: Endpoint) -> list[str]:
    latency = [f"{ms:.0f}" for ms in (r.p50_ms, r.p95_ms, r.p99_ms)]
    return [r.key, str(r.requests), str(r.failures), *latency, f"{r.rps:.1f}", statuses_text(r.statuses)]


def statuses_text(statuses: dict[str, int]) -> str:
    """`200:900 503:3` (0 = no response)."""
    return " ".join(f"{s}:{n}" for s, n in sorted(statuses.items(), key=lambda kv: int(kv[0]))) or "-"


def server_table(result: RunResult) -> list[list[str]]:
    return [["Figure", "Value"]] + [[k, "n/a" if v is None else f"{v:.4g}"] for k, v in result.server.items()]


def signal_table(diagnosis: Diagnosis) -> list[list[str]]:
    """Every saturation signal of a run: its peak against its threshold, and when it crossed (if it did)."""
    from loadlab.diagnosis import as_rows  # the signals' table lives with the signals

    return as_rows(diagnosis)


def consistency_table(consistency: Consistency) -> list[list[str]]:
    """The checks that counted something or broke; the ones at 0 on both sides are one closing row."""
    rows = [["Check", "What", "Clients saw", "Server counted", "Result"]]
    quiet = 0
    for c in consistency.checks:
        if c.ok and c.clients == 0:
            quiet += 1
            continue
        server = "unknown" if c.server is None else str(c.server)
        rows.append([c.kind, c.subject, str(c.clients), server, ("ok" if c.ok else "MISMATCH") + _note(c.note)])
    if quiet:
        rows.append(["...", f"{quiet} more (every reason and status checked)", "0", "0", "ok"])
    return rows


def check_label(c: CountCheck) -> str:
    return {ROWS: f"{c.subject} rows", REASON_503: f"503 {c.subject}", STATUS: f"status {c.subject}"}.get(
        c.kind, f"{c.kind} {c.subject}"
    )


def _note(note: str) -> str:
    return f" ({note})" if note else ""


def text_table(cells: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(cells: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    return "\n".join(lines)


# -- sentences ---------------------------------------------------------------------------------------------------
def verdict_line(result: RunResult) -> str:
    verdict = result.verdict
    if not verdict:
        return "missing"
    state = "PASS" if verdict.get("passed") else "FAIL"
    if result.dominant_cause:
        state += f": {result.dominant_cause}"
    if verdict.get("suspect"):
        state += " (suspect: " + "; ".join(verdict.get("suspect_reasons", [])) + ")"
    broken = verdict.get("broken", [])
    return state + ("; broken: " + "; ".join(broken[:5]) if broken else "")


def consistency_line(consistency: Consistency) -> str:
    if consistency.problem:
        return f"BROKEN ({consistency.problem})"
    if consistency.ok:
        counted = ", ".join(f"{check_label(c)} {c.clients}" for c in consistency.checks if c.clients)
        return f"ok ({len(consistency.checks)} counts agree" + (f": {counted})" if counted else ")")
    wrong = "; ".join(
        f"{check_label(c)}: clients {c.clients}, server {'unknown' if c.server is None else c.server}"
        for c in consistency.mismatches
    )
    return f"BROKEN ({wrong})"


def cpu_line(result: RunResult) -> str:
    """`CPU per request: api 1.02 ms, postgres 0.31 ms, ... (CPU-seconds over the run: api 27.5, ...)`."""
    per_request = result.cpu_ms_per_request()
    parts = ", ".join(f"{part} {ms:.2f} ms" for part, ms in per_request.items())
    seconds = ", ".join(f"{part} {s:.1f}" for part, s in result.cpu_seconds.items())
    return f"CPU per request: {parts} (CPU-seconds over the run: {seconds})"


def cpu_limit_line(cpu_limit: dict[str, Any]) -> str:
    """`stack CPU quota: {'stack': 1.4} CPUs (cgroup v1); used 52.1 CPU-s, stopped by it in 12% of periods`."""
    line = f"stack CPU quota: {cpu_limit.get('cpus')} CPUs (cgroup v{cpu_limit.get('version')})"
    usage = cpu_limit.get("usage") or {}
    used = sum(g.get("usage_seconds", 0.0) for g in usage.values())
    periods = sum(g.get("periods", 0.0) for g in usage.values())
    throttled = sum(g.get("throttled_periods", 0.0) for g in usage.values())
    if periods:
        line += f"; used {used:.1f} CPU-s, stopped by it in {throttled / periods:.0%} of periods"
    return line


def machine_line(machine: Machine) -> str:
    return (
        f"machine: {machine.cpu_model}, {machine.cores} cores ({machine.usable_cpus:g} usable, quota "
        f"{machine.cpu_quota}); bcrypt cost-10 verify {machine.bcrypt_cost10_ms:.0f} ms, "
        f"Python loop {machine.python_loop_ms:.0f} ms; load average {machine.load_average:g}"
    )


def finding_text(finding: Finding) -> str:
    """What saturated (and when), the figures that show it, the rule that decided it, what to change, and in a
    compare how the same signal looked in the other presets."""
    figures = ", ".join(f"{k} {v:g}" for k, v in finding.evidence.items())
    when = f" at {finding.crossed_at:.0f} s" if finding.crossed_at is not None else ""
    text = f"{finding.resource}{when}: {figures} (rule: {finding.rule})"
    if finding.next_step:
        text += f"; next: {finding.next_step}"
    if finding.elsewhere:
        text += "; elsewhere: " + "; ".join(f"{name}: {how}" for name, how in finding.elsewhere.items())
    return text


def diagnosis_lines(diagnosis: Diagnosis | None) -> list[str]:
    """The diagnosis as lines: the headline, then each saturated resource, the first one first."""
    if diagnosis is None:
        return ["diagnosis: not made (no Prometheus data for the run)"]
    findings = [f"  {i}. {finding_text(f)}" for i, f in enumerate(diagnosis.findings, 1)]
    return [f"diagnosis: {diagnosis.headline}", *findings]
