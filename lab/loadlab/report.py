"""The report of a run, rendered from its result (`loadlab.result.RunResult`) and from nothing else.

`write` puts into the run's report folder: `summary.json` (the result itself, loadable again), `summary.md`,
and one PNG per chart; `summary_text` is what the terminal shows. The diagnosis, when there is one, comes first
in every rendering, then the machine the figures were measured on.
"""

from __future__ import annotations

import json
from pathlib import Path

from loadlab import charts, page
from loadlab.formats import (
    INDEX_HTML,
    LOCUST_FILES,
    SUMMARY_JSON,
    SUMMARY_MD,
    TARGET_NOTE,
    consistency_line,
    consistency_table,
    cpu_limit_line,
    cpu_line,
    diagnosis_lines,
    finding_text,
    machine_line,
    markdown_table,
    server_table,
    signal_table,
    table,
    text_table,
    verdict_line,
)
from loadlab.result import RunResult


# -- the renderings ----------------------------------------------------------------------------------------------
def summary_text(result: RunResult) -> str:
    """What the terminal shows; the page's path is the caller's last line (`report_line`)."""
    lines = []
    if result.diagnosis:
        lines += diagnosis_lines(result.diagnosis)
    if result.machine:
        lines.append(machine_line(result.machine))
    if result.cpu_limit:
        lines.append(cpu_limit_line(result.cpu_limit))
    lines.append(
        f"run {result.run_id}  preset {result.preset.get('name')}" + ("  INTERRUPTED" if result.interrupted else "")
    )
    lines.append(text_table(table(result.endpoints)) if result.endpoints else "(no requests recorded)")
    if result.cpu_seconds and result.endpoints:
        lines.append(cpu_line(result))
    lines.append(f"verdict: {verdict_line(result)}")
    if result.consistency:
        lines.append(f"consistency: {consistency_line(result.consistency)}")
    if result.target:
        lines.append(f"target: {result.target} ({TARGET_NOTE})")
    lines += [f"problem: {p}" for p in result.problems]
    return "\n".join(lines)


def report_line(result: RunResult) -> str:
    return f"report: {result.outdir.resolve() / INDEX_HTML}"


def markdown(result: RunResult) -> str:
    md = [f"# Load test {result.run_id}", ""]
    if result.diagnosis:
        md += ["## Diagnosis", "", f"**{result.diagnosis.headline}**", ""]
        md += [f"{i}. {finding_text(f)}" for i, f in enumerate(result.diagnosis.findings, 1)] + [""]
        md += ["Every saturation signal of the run:", "", markdown_table(signal_table(result.diagnosis)), ""]
    if result.machine:
        md += [machine_line(result.machine).replace("machine:", "**Machine**:", 1), ""]
    if result.cpu_limit:
        md += ["**Stack CPU quota**:" + cpu_limit_line(result.cpu_limit).removeprefix("stack CPU quota:"), ""]
    if result.interrupted:
        md += ["**Interrupted**: the run was stopped before its planned end; figures cover what ran.", ""]
    md += [f"**Problem**: {p}" for p in result.problems]
    md += [f"- target: {result.target} ({TARGET_NOTE})"] if result.target else []
    md += [
        f"- preset: `{result.preset.get('name')}` ({result.preset.get('path')})",
        f"- load: {json.dumps(result.options)}",
        f"- window: {result.ended_at - result.started_at:.0f} s",
        "",
        "## Requests",
        "",
        markdown_table(table(result.endpoints)) if result.endpoints else "(no requests recorded)",
        "",
    ]
    if result.cpu_seconds and result.endpoints:
        md += [cpu_line(result), ""]
    md += ["## Verdict", "", verdict_line(result), ""]
    if result.consistency:
        c = result.consistency
        md += ["## Consistency (what the clients saw vs what the server counted)", ""]
        if c.checks:
            md += [markdown_table(consistency_table(c)), ""]
        md += ["**ok**" if c.ok else f"**BROKEN**: {consistency_line(c)}", ""]
    if result.server:
        md += ["## Inside the API over the run", "", markdown_table(server_table(result)), ""]
    md += ["## Charts", ""] + [f"![{c.title}]({c.file})" for c in result.charts if c.series]
    md += ["", "## Files", "", f"- `{INDEX_HTML}`: this report as one page", f"- `{SUMMARY_JSON}`: the run's result"]
    md += [f"- `{name}`: {what}" for name, what in LOCUST_FILES] + ["", "## Versions", ""]
    md += [f"- {k}: {v}" for k, v in result.versions.items()]
    return "\n".join(md) + "\n"


def write(result: RunResult) -> Path:
    """Every file of the report from the result alone: the PNGs, summary.json, summary.md and the page, whose
    path it returns."""
    outdir = result.outdir
    outdir.mkdir(parents=True, exist_ok=True)
    images = {}
    for chart in result.charts:
        if charts.draw(chart, outdir / chart.file):
            images[chart.file] = (outdir / chart.file).read_bytes()
    result.save(outdir / SUMMARY_JSON)
    (outdir / SUMMARY_MD).write_text(markdown(result))
    path = outdir / INDEX_HTML
    path.write_text(page.render(result, images, present={name for name, _ in LOCUST_FILES if (outdir / name).exists()}))
    return path
