"""The report of a run, rendered from its result (`loadlab.result.RunResult`) and from nothing else.

`write` puts into the run's report folder: `summary.json` (the result itself, loadable again), `summary.md`,
and one PNG per chart; `summary_text` is what the terminal shows. The diagnosis, when there is one, comes first
in every rendering, then the machine the figures were measured on.
"""

from __future__ import annotations

import json
from pathlib import Path

from loadlab import charts
from loadlab.result import REASON_503, ROWS, STATUS, Consistency, CountCheck, Endpoint, Machine, RunResult

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"


# -- tables ----------------------------------------------------------------------------------------------------
def table(rows: list[Endpoint]) -> list[list[str]]:
    head = ["Endpoint", "Requests", "Failures", "p50 ms", "p95 ms", "p99 ms", "rps"]
    body = [[r.key, str(r.requests), str(r.failures), f"{r.p50_ms:.0f}", f"{r.p95_ms:.0f}", f"{r.p99_ms:.0f}",
             f"{r.rps:.1f}"] for r in rows]  # fmt: skip
    if rows:
        body.append(["Total", str(sum(r.requests for r in rows)), str(sum(r.failures for r in rows)), "", "", "",
                     f"{sum(r.rps for r in rows):.1f}"])  # fmt: skip
    return [head, *body]


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
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in cells]  # fmt: skip
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
    wrong = "; ".join(f"{check_label(c)}: clients {c.clients}, server {'unknown' if c.server is None else c.server}"
                      for c in consistency.mismatches)  # fmt: skip
    return f"BROKEN ({wrong})"


def machine_line(machine: Machine) -> str:
    return (f"machine: {machine.cpu_model}, {machine.cores} cores ({machine.usable_cpus:g} usable, quota "
            f"{machine.cpu_quota}); bcrypt cost-10 verify {machine.bcrypt_cost10_ms:.0f} ms, "
            f"Python loop {machine.python_loop_ms:.0f} ms; load average {machine.load_average:g}")  # fmt: skip


def diagnosis_lines(result: RunResult) -> list[str]:
    if result.diagnosis is None:
        return []
    lines = [f"diagnosis: {result.diagnosis.headline}"]
    for f in result.diagnosis.findings:
        figures = ", ".join(f"{k} {v:g}" for k, v in f.evidence.items())
        lines.append(f"  {f.resource}: {figures} ({f.rule})" + (f"; next: {f.next_step}" if f.next_step else ""))
    return lines


# -- the renderings ----------------------------------------------------------------------------------------------
def summary_text(result: RunResult) -> str:
    lines = diagnosis_lines(result)
    if result.machine:
        lines.append(machine_line(result.machine))
    lines.append(f"run {result.run_id}  preset {result.preset.get('name')}" + ("  INTERRUPTED" if result.interrupted
                                                                                else ""))  # fmt: skip
    lines.append(text_table(table(result.endpoints)) if result.endpoints else "(no requests recorded)")
    lines.append(f"verdict: {verdict_line(result)}")
    if result.consistency:
        lines.append(f"consistency: {consistency_line(result.consistency)}")
    lines += [f"problem: {p}" for p in result.problems]
    lines.append(f"report: {result.outdir / SUMMARY_MD}")
    return "\n".join(lines)


def markdown(result: RunResult) -> str:
    md = [f"# Load test {result.run_id}", ""]
    if result.diagnosis:
        md += ["## Diagnosis", "", f"**{result.diagnosis.headline}**", ""]
        md += [f"- **{f.resource}**: " + ", ".join(f"{k} {v:g}" for k, v in f.evidence.items()) + f" ({f.rule})"
               + (f"; next: {f.next_step}" if f.next_step else "") for f in result.diagnosis.findings]  # fmt: skip
        md += [""]
    if result.machine:
        md += [machine_line(result.machine).replace("machine:", "**Machine**:", 1), ""]
    if result.interrupted:
        md += ["**Interrupted**: the run was stopped before its planned end; figures cover what ran.", ""]
    md += [f"**Problem**: {p}" for p in result.problems]
    md += [f"- preset: `{result.preset.get('name')}` ({result.preset.get('path')})",
           f"- load: {json.dumps(result.options)}",
           f"- window: {result.ended_at - result.started_at:.0f} s", "",
           "## Requests", "", markdown_table(table(result.endpoints)) if result.endpoints else "(no requests recorded)",
           "", "## Verdict", "", verdict_line(result), ""]  # fmt: skip
    if result.consistency:
        c = result.consistency
        md += ["## Consistency (what the clients saw vs what the server counted)", ""]
        if c.checks:
            md += [markdown_table(consistency_table(c)), ""]
        md += ["**ok**" if c.ok else f"**BROKEN**: {consistency_line(c)}", ""]
    if result.server:
        md += ["## Inside the API over the run", "", "| figure | value |", "|---|---|"]
        md += [f"| {k} | {'n/a' if v is None else f'{v:.4g}'} |" for k, v in result.server.items()]
        md += [""]
    md += ["## Charts", ""] + [f"![{c.title}]({c.file})" for c in result.charts if c.series]
    md += ["", "## Files", "", "- `locust.html`: Locust's own report", "- `locust_stats.csv` and friends",
           f"- `verdict.json`, `{SUMMARY_JSON}`", "", "## Versions", ""]  # fmt: skip
    md += [f"- {k}: {v}" for k, v in result.versions.items()]
    return "\n".join(md) + "\n"


def write(result: RunResult) -> Path:
    """Every file of the report from the result alone; returns the Markdown summary's path."""
    outdir = result.outdir
    outdir.mkdir(parents=True, exist_ok=True)
    for chart in result.charts:
        charts.draw(chart, outdir / chart.file)
    result.save(outdir / SUMMARY_JSON)
    path = outdir / SUMMARY_MD
    path.write_text(markdown(result))
    return path
