"""Where the overload drill's and the soak's knee comes from: --knee, the last bench on the same quota, or a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadlab import knee, presets
from loadlab.loadtest import LoadOptions


def bench_file(root: Path, stamp: str, users: int, cpus: str | None = None) -> Path:
    path = root / f"bench-{stamp}" / "bench.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"plan": {"cpus": cpus}, "knee": {"tuned": {"users": users}}}))
    return path


def test_the_knee_comes_from_the_newest_bench_that_found_one(tmp_path: Path) -> None:
    bench_file(tmp_path, "20260101-000000", 300)
    found = bench_file(tmp_path, "20260102-000000", 250)
    bench_file(tmp_path, "20260103-000000", 0)  # found none
    assert knee.last_knee(tmp_path, "tuned") == (250, str(found))
    assert knee.last_knee(tmp_path, "seed-baseline") is None


def test_a_knee_measured_under_another_cpu_quota_is_not_used(tmp_path: Path) -> None:
    unconfined = bench_file(tmp_path, "20260101-000000", 600)
    quota = bench_file(tmp_path, "20260102-000000", 350, cpus="1.4")
    assert knee.last_knee(tmp_path, "tuned") == (600, str(unconfined))
    assert knee.last_knee(tmp_path, "tuned", "1.4") == (350, str(quota))
    assert knee.last_knee(tmp_path, "tuned", "0.5") is None


def test_resolve_prefers_the_given_knee_then_the_bench_then_a_measurement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tuned = presets.load("tuned")
    measured: list[str] = []

    def measure(root: Path, preset: presets.Preset, options: LoadOptions, say: object) -> tuple[int, str]:
        measured.append(preset.name)
        return 123, "measured now"

    monkeypatch.setattr(knee, "measure", measure)  # a capacity run takes minutes: its own path is the bench's
    assert knee.resolve(tmp_path, tuned, LoadOptions(), 40) == (40, "--knee")
    with pytest.raises(ValueError, match="at least 1"):
        knee.resolve(tmp_path, tuned, LoadOptions(), 0)
    assert knee.resolve(tmp_path, tuned, LoadOptions(), None) == (123, "measured now")
    path = bench_file(tmp_path, "20260101-000000", 600)
    assert knee.resolve(tmp_path, tuned, LoadOptions(), None) == (600, str(path))
    assert knee.resolve(tmp_path, tuned, LoadOptions(cpus="1.4"), None) == (123, "measured now")
    assert measured == ["tuned", "tuned"]
