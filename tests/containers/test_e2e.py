"""Our images and the chart's pods, run for real: tools/containers-e2e inside the test suite.

It installs podman when missing (as root), builds both Dockerfile targets and the stand-in images (cached in
podman's storage: a few minutes the first time on a machine, seconds after), plays the chart's rendered pods
through a distributed Locust run and checks it (tools/containers/checks.py). About 3 minutes with warm caches.
Outside CI it skips, naming the reason, when podman cannot run here; under CI it must run.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from containers import engine
from tests.tools import missing_tool

ROOT = Path(__file__).resolve().parents[2]
E2E_TIMEOUT = 1500
TEARDOWN_TIMEOUT = 120

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(E2E_TIMEOUT + TEARDOWN_TIMEOUT + 30)
def test_images_and_chart_pods_run_for_real() -> None:
    if not os.environ.get("CI") and (reason := engine.unusable_reason()):
        if "not installed" in reason:
            missing_tool("podman", "tools/containers-e2e --install-only (as root)")
        pytest.skip(reason)
    e2e = subprocess.Popen(
        [str(ROOT / "tools" / "containers-e2e")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = e2e.communicate(timeout=E2E_TIMEOUT)
    except subprocess.TimeoutExpired:
        e2e.send_signal(signal.SIGINT)  # it tears down what it made before it exits
        stdout, stderr = e2e.communicate(timeout=TEARDOWN_TIMEOUT)
    assert e2e.returncode == 0, f"{stdout[-8000:]}\n--- stderr ---\n{stderr[-4000:]}"
