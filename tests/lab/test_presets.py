"""Presets are the chart's values files; the lab refuses a bad one before it starts anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadlab import presets


def test_every_preset_of_the_chart_is_shipped() -> None:
    assert presets.available() == ["cluster", "seed-baseline", "single-process", "tuned"]


@pytest.mark.parametrize("name", presets.available())
def test_shipped_presets_load(name: str) -> None:
    preset = presets.load(name)
    assert preset.name == name
    assert all(key.startswith("BOARD_") for key in preset.env)


def test_seed_baseline_is_the_posts_starting_point() -> None:
    """The numbers of the blog post: cost 12 on the loop, pool 5+10 with a 30 s timeout, no PgBouncer, no cache."""
    preset = presets.load("seed-baseline")
    assert preset.env["BOARD_BCRYPT_ROUNDS"] == "12"
    assert preset.env["BOARD_HASH_IN_EXECUTOR"] == "false"
    assert (preset.env["BOARD_DB_POOL_SIZE"], preset.env["BOARD_DB_MAX_OVERFLOW"]) == ("5", "10")
    assert preset.env["BOARD_DB_POOL_TIMEOUT"] == "30"
    assert preset.pgbouncer is False
    assert preset.env["BOARD_CACHE_ENABLED"] == "false"


def test_single_process_is_the_design_before_issue_h() -> None:
    """One API process and a cache that writes drop: what `loadlab bench` measures tuned against."""
    preset = presets.load("single-process")
    assert preset.workers == 1 and preset.api_env()["BOARD_WORKERS"] == "1"
    assert preset.env["BOARD_CACHE_WRITE_THROUGH"] == "false"
    assert "BOARD_WORKERS" not in presets.load("tuned").api_env()  # tuned: one process per usable CPU


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "preset.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api:\n  env:\n    BOARD_DB_POOL_SIZ: '5'\n", "BOARD_DB_POOL_SIZ"),
        ("api:\n  env:\n    BOARD_DB_POOL_SIZE: 'lots'\n", "BOARD_DB_POOL_SIZE"),
        ("api:\n  env:\n    BOARD_DB_POOL_SIZE: 5\n", "string"),
        ("api:\n  env:\n    BOARD_DB_POOL_TIMEOUT: '-1'\n", "BOARD_DB_POOL_TIMEOUT"),
        ("pgbouncer:\n  enabled: 'yes please'\n", "pgbouncer.enabled"),
        ("pgbouncer:\n  poolSize: 0\n", "poolSize"),
        ("apii:\n  env: {}\n", "apii"),
        ("- just a list\n", "mapping"),
    ],
)
def test_bad_preset_is_rejected_with_the_key_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(presets.PresetError) as info:
        presets.load(str(write(tmp_path, text)))
    assert message in str(info.value)


def test_cli_fails_fast_on_a_bad_preset(tmp_path: Path) -> None:
    """Exit 2 with the problem named, and nothing started: no run folder is created."""
    path = write(tmp_path, "api:\n  env:\n    BOARD_NOT_A_KNOB: '1'\n")
    root = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "loadlab.cli", "run", "--preset", str(path), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "BOARD_NOT_A_KNOB" in result.stderr
    assert not root.exists()


def test_unknown_preset_name_lists_the_known_ones() -> None:
    with pytest.raises(presets.PresetError, match="seed-baseline"):
        presets.load("no-such-preset")
