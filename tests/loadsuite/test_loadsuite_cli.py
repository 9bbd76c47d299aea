"""The load suite's options as Locust parses them: locust.conf, env variables, choices (subprocesses, no API)."""

from __future__ import annotations

import os
import subprocess
import sys

from locust_helpers import LOCUST_DIR, LOCUSTFILE


def run_locust(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "LOADLAB_"))}
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
        check=False,
    )


def test_locust_conf_is_valid() -> None:
    result = run_locust("--config", str(LOCUST_DIR / "locust.conf"), "--list")
    assert result.returncode == 0, result.stderr
    assert "BoardUser" in result.stdout


def test_env_variables_reach_the_options() -> None:
    result = run_locust("--list", env={"LOADLAB_SCENARIO": "no-such-scenario"})
    assert result.returncode == 2
    assert "argument --scenario: invalid choice: 'no-such-scenario'" in result.stderr


def test_unknown_shape_is_rejected() -> None:
    result = run_locust("--shape", "ramp", "--list")
    assert result.returncode == 2
    assert "argument --shape: invalid choice" in result.stderr
