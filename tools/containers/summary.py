"""The e2e's summary: images and sizes, pods and exit codes, the verdict, the `up` table, the checks, the
time of each step. One plain object, rendered as markdown (printed, and saved with a JSON copy)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from containers.checks import Check
from containers.images import Image
from containers.stack import ContainerState

ENDPOINT_FIELDS = ("requests", "failures", "p95_ms", "rps")


@dataclass
class Summary:
    release: str
    images: list[Image] = field(default_factory=list)
    pods: list[ContainerState] = field(default_factory=list)
    verdict: dict[str, Any] | None = None
    up: list[tuple[str, str, float]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    steps: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.checks) and all(c.ok for c in self.checks)

    def markdown(self) -> str:
        out = [f"## containers-e2e {self.release}: {'PASSED' if self.passed else 'FAILED'}", ""]
        if self.error:
            out += [f"**Stopped early**: {self.error}", ""]
        out += _table(("check", "ok", "evidence"), [(c.name, "yes" if c.ok else "NO", c.detail) for c in self.checks])
        out += _table(
            ("image", "from", "this run", "size", "s"),
            [(i.name, i.source, i.action, i.size, f"{i.seconds:.0f}") for i in self.images],
        )
        out += _table(
            ("container", "user", "read-only", "status", "exit", "restarts"),
            [
                (s.name, s.user, "yes" if s.read_only else "no", s.status, str(s.exit_code), str(s.restarts))
                for s in self.pods
            ],
        )
        if self.verdict:
            total = self.verdict.get("total") or {}
            out.append(f"Verdict: **{self.verdict.get('status')}** (suspect: {self.verdict.get('suspect')})")
            out.append("")
            endpoints = [*self.verdict.get("endpoints", []), total]
            rows = [
                (f"{e.get('method', '')} {e.get('name', '')}".strip(), *(str(e.get(k)) for k in ENDPOINT_FIELDS))
                for e in endpoints
            ]
            out += _table(("endpoint", *ENDPOINT_FIELDS), rows)
        out += _table(("job", "instance", "up"), [(j, i, f"{v:g}") for j, i, v in sorted(self.up)])
        total_s = sum(s for _, s in self.steps)
        out += _table(("step", "seconds"), [*((n, f"{s:.0f}") for n, s in self.steps), ("total", f"{total_s:.0f}")])
        out += [f"- {note}" for note in self.notes]
        return "\n".join(out) + "\n"

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.md").write_text(self.markdown())
        (folder / "summary.json").write_text(json.dumps({**asdict(self), "passed": self.passed}, indent=2, default=str))


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    if not rows:
        return []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]
