"""The report as one self-contained HTML page (`index.html`): no file besides it is needed to read it.

Styles are inline and every chart is a `data:` URI; only the links to Locust's own report and CSVs point at files
next to it. Rendered from the result and the PNG bytes drawn from it, like every other rendering.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape

from loadlab import formats
from loadlab.result import RunResult

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em 2em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.machine, .meta { color: #555; }
.verdict { font-size: 1.3em; font-weight: 600; padding: 0.6em 0.9em; border-radius: 6px; margin: 1em 0; }
.pass { background: #e3f6e8; border-left: 6px solid #2e9c4f; }
.fail { background: #fde8e8; border-left: 6px solid #c62828; }
.verdict ul { font-size: 0.75em; font-weight: normal; margin: 0.4em 0 0; }
.diagnosis { background: #fff6dd; border-left: 6px solid #e0a800; padding: 0.6em 0.9em; border-radius: 6px; }
table { border-collapse: collapse; margin: 0.5em 0; } th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; }
th { text-align: left; background: #f4f4f4; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { background: #fde8e8; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 0.5em 1.5em; }
figure { margin: 0; } figure img { width: 100%; border: 1px solid #eee; }
figcaption { color: #666; font-size: 0.85em; }
"""


def render(result: RunResult, images: dict[str, bytes], present: set[str]) -> str:
    """The page; `images`: PNG bytes by chart file name; `present`: which of Locust's files exist to link."""
    parts = [f"<h1>Load test {escape(result.run_id)}</h1>"]
    if result.diagnosis:
        findings = "".join(f"<li>{escape(formats.finding_text(f))}</li>" for f in result.diagnosis.findings)
        parts.append(
            f'<section class="diagnosis" id="diagnosis"><h2>Diagnosis</h2>'
            f"<p><b>{escape(result.diagnosis.headline)}</b></p><ol>{findings}</ol>"
            f"<details><summary>every saturation signal</summary>{_table(formats.signal_table(result.diagnosis))}"
            "</details></section>"
        )
    if result.machine:
        parts.append(f'<p class="machine" id="machine">{escape(formats.machine_line(result.machine))}</p>')
    if result.cpu_limit:
        parts.append(f'<p class="machine" id="cpu-quota">{escape(formats.cpu_limit_line(result.cpu_limit))}</p>')
    if result.cpu_seconds and result.endpoints:
        parts.append(f'<p class="machine" id="cpu">{escape(formats.cpu_line(result))}</p>')
    parts.append(_verdict(result))
    parts += [f'<p class="verdict fail">{escape(p)}</p>' for p in result.problems]
    load = ", ".join(f"{k} {v}" for k, v in result.options.items() if v is not None)
    if result.target:
        parts.append(f'<p class="meta" id="target">target <b>{escape(result.target)}</b> ({formats.TARGET_NOTE})</p>')
    parts.append(
        f'<p class="meta">preset <b>{escape(str(result.preset.get("name")))}</b>; {escape(load)}; '
        f"window {result.ended_at - result.started_at:.0f} s</p>"
    )
    parts.append("<h2>Requests</h2>" + (_table(formats.table(result.endpoints)) if result.endpoints else "<p>none</p>"))
    if result.consistency:
        c = result.consistency
        css = "pass" if c.ok else "fail"
        parts.append(
            f"<h2>Consistency: what the clients saw against what the server counted</h2>"
            f'<p class="verdict {css}" id="consistency">{escape(formats.consistency_line(c))}</p>'
        )
        if c.checks:
            parts.append(_table(formats.consistency_table(c), bad=lambda row: row[-1].startswith("MISMATCH")))
    if result.server:
        parts.append("<h2>Inside the API over the run</h2>" + _table(formats.server_table(result)))
    figures = "".join(_figure(c.title, c.source, images[c.file]) for c in result.charts if c.file in images)
    parts.append(f'<h2>Charts</h2><div class="charts">{figures}</div>')
    if empty := [c.title for c in result.charts if c.file not in images]:
        parts.append(f'<p class="meta">No data for: {escape(", ".join(empty))}</p>')
    parts.append(
        "<h2>Files</h2><ul>"
        + "".join(_link(name, what, name in present) for name, what in formats.LOCUST_FILES)
        + _link(formats.SUMMARY_JSON, "the run's result", True)
        + _link(formats.SUMMARY_MD, "this report in Markdown", True)
        + "</ul>"
    )
    versions = ", ".join(f"{k} {v}" for k, v in result.versions.items())
    parts.append(f'<p class="meta">Versions: {escape(versions)}</p>')
    title = f"Load test {result.run_id}: {'PASS' if result.passed else 'FAIL'}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def _verdict(result: RunResult) -> str:
    """The run's outcome: the load suite's verdict and the consistency check (both must hold), its reasons."""
    passed = result.passed
    head = "PASS" if passed else "FAIL"
    reasons = []
    if not result.verdict_passed or result.verdict.get("suspect"):
        reasons.append(f"SLO verdict: {formats.verdict_line(result)}")
    if result.consistency and not result.consistency.ok:
        reasons.append(f"consistency: {formats.consistency_line(result.consistency)}")
    if result.interrupted:
        reasons.append("interrupted before the planned end")
    items = "".join(f"<li>{escape(r)}</li>" for r in reasons)
    return (
        f'<div class="verdict {"pass" if passed else "fail"}" id="verdict">{head}'
        + (f"<ul>{items}</ul>" if items else "")
        + "</div>"
    )


def _table(cells: list[list[str]], bad: Callable[[list[str]], bool] = lambda row: False) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in cells[0])
    rows = []
    for row in cells[1:]:
        tds = "".join(f'<td class="n">{escape(c)}</td>' if _numeric(c) else f"<td>{escape(c)}</td>" for c in row)
        rows.append(f'<tr class="bad">{tds}</tr>' if bad(row) else f"<tr>{tds}</tr>")
    return f"<formats.table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></formats.table>"


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _figure(title: str, source: str, png: bytes) -> str:
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    caption = escape(source or title)
    return f'<figure><img src="{uri}" alt="{escape(title)}"><figcaption>{caption}</figcaption></figure>'


def _link(name: str, what: str, present: bool) -> str:
    if not present:
        return f"<li>{escape(name)}: {escape(what)} (not written)</li>"
    return f'<li><a href="{escape(name)}">{escape(name)}</a>: {escape(what)}</li>'
