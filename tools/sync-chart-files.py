#!/usr/bin/env python3
"""Copy the single sources of the dashboards and rules into the Helm chart (Helm cannot read outside it).

    grafana/dashboards/*.json      -> helm/loadlab/files/dashboards/
    grafana/rules/*.yaml           -> helm/loadlab/files/rules/

`--check` exits 1 (listing the differences) when the chart's copies are stale; tests/chart runs the same
comparison. Datasource provisioning is not copied: in the cluster its URL is the chart's Prometheus Service,
so the chart writes its own (templates/grafana/configmap.yaml) with the same uid, `prometheus`.
Stdlib only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHART_FILES = ROOT / "helm" / "loadlab" / "files"
#: (source folder, glob, destination folder)
PAIRS = [
    (ROOT / "grafana" / "dashboards", "*.json", CHART_FILES / "dashboards"),
    (ROOT / "grafana" / "rules", "*.yaml", CHART_FILES / "rules"),
]


def differences() -> list[str]:
    """Human-readable differences between the sources and the chart's copies (empty: in sync)."""
    problems: list[str] = []
    for src_dir, pattern, dst_dir in PAIRS:
        sources = {p.name: p for p in sorted(src_dir.glob(pattern))}
        copies = {p.name: p for p in sorted(dst_dir.glob(pattern))}
        for name in sorted(sources.keys() - copies.keys()):
            problems.append(f"missing in chart: {dst_dir.relative_to(ROOT) / name}")
        for name in sorted(copies.keys() - sources.keys()):
            problems.append(f"stale in chart (no source): {dst_dir.relative_to(ROOT) / name}")
        for name in sorted(sources.keys() & copies.keys()):
            if sources[name].read_bytes() != copies[name].read_bytes():
                problems.append(f"differs from {sources[name].relative_to(ROOT)}: {dst_dir.relative_to(ROOT) / name}")
    return problems


def sync() -> None:
    for src_dir, pattern, dst_dir in PAIRS:
        dst_dir.mkdir(parents=True, exist_ok=True)
        wanted = {p.name for p in src_dir.glob(pattern)}
        for stale in dst_dir.glob(pattern):
            if stale.name not in wanted:
                stale.unlink()
        for src in sorted(src_dir.glob(pattern)):
            shutil.copyfile(src, dst_dir / src.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the copies are stale")
    args = parser.parse_args(argv)
    if args.check:
        problems = differences()
        for line in problems:
            print(line)
        return 1 if problems else 0
    sync()
    print("sync-chart-files: chart copies updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
