"""`loadlab compare PRESET...`: the same load against each preset in turn, then one table and one chart."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

from loadlab import presets  # noqa: E402
from loadlab.report import SERVER_FIGURES, Report, markdown_table, text_table  # noqa: E402

POOL_WAIT_QUERY = (
    "sum(board_db_pool_checkout_wait_seconds_sum) / clamp_min(sum(board_db_pool_checkout_wait_seconds_count), 1)"
)


def compare_rows(reports: dict[str, Report]) -> list[list[str]]:
    """One row per preset and endpoint: the figures a reader compares side by side."""
    head = ["Preset", "Endpoint", "Requests", "Failures", "Fail %", "p50 ms", "p95 ms", "p99 ms", "rps"]
    rows = [head]
    for name, report in reports.items():
        for r in report.rows:
            fail = r.failures / r.requests * 100 if r.requests else 0.0
            rows.append([name, f"{r.method} {r.name}", str(r.requests), str(r.failures), f"{fail:.1f}",
                         f"{r.p50_ms:.0f}", f"{r.p95_ms:.0f}", f"{r.p99_ms:.0f}", f"{r.rps:.1f}"])  # fmt: skip
        total = sum(r.requests for r in report.rows)
        failed = sum(r.failures for r in report.rows)
        rows.append([name, "Total", str(total), str(failed), f"{(failed / total * 100) if total else 0:.1f}",
                     "", "", "", f"{sum(r.rps for r in report.rows):.1f}"])  # fmt: skip
    return rows


def server_rows(reports: dict[str, Report]) -> list[list[str]]:
    """The causes, per preset: what the API's own metrics said over each run (see `report.SERVER_FIGURES`)."""
    head = ["Preset", *SERVER_FIGURES]
    return [head] + [[name, *(fmt_figure(r.server.get(k)) for k in SERVER_FIGURES)] for name, r in reports.items()]


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


def failure_rows(reports: dict[str, Report]) -> list[list[str]]:
    """Why requests failed, per preset, from Locust's failures CSV (the client's side of the causes)."""
    from loadlab.drills import read_failures

    rows = [["Preset", "Failures", "Reason (as the client saw it)"]]
    for name, report in reports.items():
        reasons: dict[str, int] = {}
        for key, count in read_failures(report.outdir / "locust_failures.csv").items():
            reason = short_reason(key.split(": ", 1)[-1])
            reasons[reason] = reasons.get(reason, 0) + count
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])[:4]:
            rows.append([name, str(count), reason[:100]])
        if not reasons:
            rows.append([name, "0", "-"])
    return rows


def fmt_figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def draw_side_by_side(reports: dict[str, Report], path: Path) -> None:
    """p95 per endpoint and failure ratio, one bar group per endpoint, one colour per preset."""
    endpoints = sorted({f"{r.method} {r.name}" for rep in reports.values() for r in rep.rows})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=100)
    width = 0.8 / max(len(reports), 1)
    for i, (name, report) in enumerate(reports.items()):
        by = {f"{r.method} {r.name}": r for r in report.rows}
        xs = [j + i * width for j in range(len(endpoints))]
        ax1.bar(xs, [by[e].p95_ms if e in by else 0 for e in endpoints], width, label=name)
        ax2.bar(xs, [(by[e].failures / by[e].requests * 100) if e in by and by[e].requests else 0 for e in endpoints],
                width, label=name)  # fmt: skip
    for ax, title, unit in ((ax1, "p95 by endpoint", "ms"), (ax2, "failures by endpoint", "%")):
        ax.set_xticks([j + width * (len(reports) - 1) / 2 for j in range(len(endpoints))])
        ax.set_xticklabels(endpoints, rotation=20, fontsize=7, ha="right")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    ax1.set_yscale("symlog")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def cmd_compare(args: argparse.Namespace) -> int:
    from loadlab.cli import load_options
    from loadlab.lab import run_lab

    chosen = [presets.load(p) for p in args.presets]  # every preset checked before anything starts
    options = load_options(args)
    out = args.root / f"compare-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    out.mkdir(parents=True)
    reports: dict[str, Report] = {}
    for preset in chosen:
        report = run_lab(out, preset, options)
        reports[preset.name] = report
        print(report.summary_text())
        if report.interrupted:
            break
    cells = compare_rows(reports)
    draw_side_by_side(reports, out / "compare.png")
    server = server_rows(reports)
    failures = failure_rows(reports)
    md = [
        "# Preset comparison",
        "",
        f"Load: {json.dumps(options.__dict__, default=str)}",
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
    md += [f"- {n}: `{r.outdir / 'summary.md'}`" for n, r in reports.items()]
    (out / "compare.md").write_text("\n".join(md) + "\n")
    print()
    print(text_table(cells))
    print()
    print(text_table(server))
    print()
    print(text_table(failures))
    print(f"comparison: {out / 'compare.md'}")
    return 130 if any(r.interrupted for r in reports.values()) else 0
