"""`loadlab bench --smoke`: every figure of the benchmark is produced (the timings themselves are never asserted)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from loadlab import bench, presets
from loadlab.cli import BENCH_PRESETS
from tests.lab.helpers import lab_env, loadlab_argv

pytestmark = pytest.mark.e2e


def test_bench_smoke_produces_every_figure(tmp_path: Path) -> None:
    result = subprocess.run(
        loadlab_argv("bench", "--smoke", "--root", str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=600,
        env=lab_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [out] = list(tmp_path.glob("bench-*"))
    data = json.loads((out / "bench.json").read_text())
    costs = {presets.load(name).env["BOARD_BCRYPT_ROUNDS"] for name in BENCH_PRESETS}
    assert set(data["bcrypt"]) == costs  # each preset's own cost
    assert all(v > 0 for v in data["bcrypt"].values())
    assert data["bare_rps"] > 0 and data["cached_rps"] > 0
    assert list(data["knee"]) == list(BENCH_PRESETS)
    for preset in BENCH_PRESETS:
        seed = data["seed"][preset]
        assert {e["name"] for e in seed["endpoints"]} >= {"/auth/login", "/posts/"}
        assert seed["offered_rps"] > 0 and seed["achieved_rps"] > 0
        assert {"users", "rps", "stopped_because"} <= set(data["knee"][preset])
    assert data["storm"]["logins_per_s"] > 0 and data["storm"]["others_p99_ms"] is not None
    for label in (
        "bcrypt limit",
        "bare-ASGI ceiling",
        "of bare",
        "knee ratio",
        "of bcrypt limit",
        "achieved / offered",
    ):
        assert label in result.stdout
    assert (out / "bench.md").stat().st_size > 0
    assert data["machine"]["bcrypt_cost10_ms"] > 0 and data["machine"]["python_loop_ms"] > 0
    # Diagnosis first (issue N): one line per preset's knee, then the machine the figures belong to.
    lines = result.stdout.lstrip().splitlines()
    assert [line.split(":")[0] for line in lines[: len(data["knee"])]] == [
        f"diagnosis at the knee, {name}" for name in data["knee"]
    ]
    assert lines[len(data["knee"])].startswith("machine: ")


def test_ratio_formats_and_refuses_zero() -> None:
    assert bench.ratio(50, 100) == "0.50x"
    assert bench.ratio(0, 100) == "n/a"
    assert bench.ratio(5, None) == "n/a"


def test_bcrypt_limit_counts_verifies() -> None:
    """Cost 4 is cheap enough to count many verifies in a fraction of a second."""
    assert bench.bcrypt_limit(4, 0.3, threads=2) > 10


def test_knee_ratio_is_a_lower_bound_when_the_baseline_held_no_step() -> None:
    results = bench.Results(plan={}, machine={})
    results.knee = {
        "seed-baseline": {"users": 0, "rps": 0.0, "step_users": 5, "max_users": 100, "stopped_because": ""},
        "tuned": {"users": 900, "rps": 538.0, "step_users": 50, "max_users": 1500, "stopped_because": ""},
    }
    row = next(r for r in bench.figure_rows(results) if r[0].startswith("knee ratio"))
    assert row[2] == "> 180x"
