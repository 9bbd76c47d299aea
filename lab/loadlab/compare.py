"""`loadlab compare PRESET...`: the same load against each preset in turn, then one table and one chart."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

from loadlab import diagnosis, presets, report  # noqa: E402
from loadlab.formats import INDEX_HTML, finding_text, markdown_table, text_table  # noqa: E402
from loadlab.lab import run_lab  # noqa: E402
from loadlab.loadtest import LoadOptions  # noqa: E402
from loadlab.report import report_line, summary_text  # noqa: E402
from loadlab.result import RunResult  # noqa: E402


def compare_rows(results: dict[str, RunResult]) -> list[list[str]]:
    """One row per preset and endpoint: the figures a reader compares side by side."""
    head = ["Preset", "Endpoint", "Requests", "Failures", "Fail %", "p50 ms", "p95 ms", "p99 ms", "rps"]
    rows = [head]
    for name, result in results.items():
        for r in result.endpoints:
            fail = r.failures / r.requests * 100 if r.requests else 0.0
            rows.append(
                [
                    name,
                    r.key,
                    str(r.requests),
                    str(r.failures),
                    f"{fail:.1f}",
                    f"{r.p50_ms:.0f}",
                    f"{r.p95_ms:.0f}",
                    f"{r.p99_ms:.0f}",
                    f"{r.rps:.1f}",
                ]
            )
        total = sum(r.requests for r in result.endpoints)
        failed = sum(r.failures for r in result.endpoints)
        rows.append(
            [
                name,
                "Total",
                str(total),
                str(failed),
                f"{(failed / total * 100) if total else 0:.1f}",
                "",
                "",
                "",
                f"{sum(r.rps for r in result.endpoints):.1f}",
            ]
        )
    return rows


def server_rows(results: dict[str, RunResult]) -> list[list[str]]:
    """The causes, per preset: what the API's own metrics said over each run (see `collect.SERVER_FIGURES`)."""
    figures = list(dict.fromkeys(k for r in results.values() for k in r.server))
    return [["Preset", *figures]] + [
        [name, *(fmt_figure(r.server.get(k)) for k in figures)] for name, r in results.items()
    ]


def short_reason(error: str) -> str:
    """`CatchResponseError('expected 200, got 503: {"detail":"server busy"}')` -> `503 server busy`."""
    match = re.search(r"got (\d+)(?::.*?detail\W+([^\"'\\]+))?", error)
    if not match:
        return error[:100]
    if match.group(1) != "0":
        return " ".join(part for part in match.groups() if part)
    # No response: the locustfile puts the connection error's repr after the status.
    cause = re.search(r"got 0: \W*(\w+)\(", error)
    return f"0 (no response: {cause.group(1)})" if cause else "0 (no response)"


def failure_rows(results: dict[str, RunResult]) -> list[list[str]]:
    """Why requests failed, per preset, from Locust's failures (the client's side of the causes)."""
    rows = [["Preset", "Failures", "Reason (as the client saw it)"]]
    for name, result in results.items():
        reasons: dict[str, int] = {}
        for key, count in result.failures.items():
            reason = short_reason(key.split(": ", 1)[-1])
            reasons[reason] = reasons.get(reason, 0) + count
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])[:4]:
            rows.append([name, str(count), reason[:100]])
        if not reasons:
            rows.append([name, "0", "-"])
    return rows


def diagnosis_lines(results: dict[str, RunResult]) -> list[str]:
    """What saturated first in each preset, each finding with how its signal looked in the others."""
    lines = []
    for name, result in results.items():
        d = result.diagnosis
        lines.append(f"- **{name}**: {d.headline if d else 'no diagnosis (no Prometheus data)'}")
        lines += [f"  {i}. {finding_text(f)}" for i, f in enumerate(d.findings if d else [], 1)]
    return lines


def fmt_figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def draw_side_by_side(results: dict[str, RunResult], path: Path) -> None:
    """p95 per endpoint and failure ratio, one bar group per endpoint, one colour per preset."""
    endpoints = sorted({r.key for rep in results.values() for r in rep.endpoints})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=100)
    width = 0.8 / max(len(results), 1)
    for i, (name, result) in enumerate(results.items()):
        by = {r.key: r for r in result.endpoints}
        xs = [j + i * width for j in range(len(endpoints))]
        ax1.bar(xs, [by[e].p95_ms if e in by else 0 for e in endpoints], width, label=name)
        ax2.bar(
            xs,
            [(by[e].failures / by[e].requests * 100) if e in by and by[e].requests else 0 for e in endpoints],
            width,
            label=name,
        )
    for ax, title, unit in ((ax1, "p95 by endpoint", "ms"), (ax2, "failures by endpoint", "%")):
        ax.set_xticks([j + width * (len(results) - 1) / 2 for j in range(len(endpoints))])
        ax.set_xticklabels(endpoints, rotation=20, fontsize=7, ha="right")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    ax1.set_yscale("symlog")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_compare(root: Path, preset_names: list[str], options: LoadOptions) -> int:
    """Run each preset under `options`, then write and print the comparison; 130 when interrupted."""
    chosen = [presets.load(p) for p in preset_names]  # every preset checked before anything starts
    out = root / f"compare-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    out.mkdir(parents=True)
    results: dict[str, RunResult] = {}
    for preset in chosen:
        result = run_lab(out, preset, options)
        results[preset.name] = result
        print(summary_text(result))
        print(report_line(result))
        if result.interrupted:
            break
    # Each finding says how its signal looked in the other presets; the runs' reports get that too.
    diagnosis.compare({name: r.diagnosis for name, r in results.items()})
    for result in results.values():
        report.write(result)
    diagnosed = diagnosis_lines(results)
    cells = compare_rows(results)
    draw_side_by_side(results, out / "compare.png")
    server = server_rows(results)
    failures = failure_rows(results)
    md = [
        "# Preset comparison",
        "",
        f"Load: {json.dumps(options.__dict__, default=str)}",
        "",
        "## Diagnosis",
        "",
        *diagnosed,
        "",
        "## Requests",
        "",
        markdown_table(cells),
        "",
        "Inside the API over the run:",
        "",
        markdown_table(server),
        "",
        "![side by side](compare.png)",
        "",
    ]
    md += [f"- {n}: `{r.outdir / INDEX_HTML}`" for n, r in results.items()]
    (out / "compare.md").write_text("\n".join(md) + "\n")
    print()
    print("\n".join(diagnosed))
    print()
    print(text_table(cells))
    print()
    print(text_table(server))
    print()
    print(text_table(failures))
    print(f"comparison: {out / 'compare.md'}")
    return 130 if any(r.interrupted for r in results.values()) else 0
