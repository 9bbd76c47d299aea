"""`loadsuite` is an installable package (locust/pyproject.toml), its dependencies are the locust image's, and
its plugin registers once however many ways it is loaded."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_package_is_installed_from_the_repo() -> None:
    dist = metadata.distribution("loadlab-loadsuite")
    suite = tomllib.loads((REPO / "locust" / "pyproject.toml").read_text())["project"]
    assert dist.version == suite["version"]
    result = subprocess.run(
        [sys.executable, "-c", "import loadsuite; print(loadsuite.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    assert Path(result.stdout.strip()).parent == REPO / "locust" / "loadsuite", "importable from anywhere"


def test_its_dependencies_are_the_locust_images() -> None:
    """The locust image installs the root pyproject's `locust` extra (Dockerfile): the same list, one fact."""
    suite = tomllib.loads((REPO / "locust" / "pyproject.toml").read_text())["project"]["dependencies"]
    root = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["locust"]
    assert sorted(suite) == sorted(root)


PROBE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("loadlab_plugin", sys.argv[1])
shim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shim)
import loadsuite.plugin
from locust import events
mine = [h for h in events.request._handlers if h.__module__ == "loadsuite.plugin"]
print(shim.plugin is loadsuite.plugin, len(mine))
"""


def test_the_plugin_file_and_the_import_are_one_plugin() -> None:
    """`-f loadlab_plugin.py,yours.py` where yours also imports loadsuite.plugin: every hook registered once."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(REPO / "locust" / "loadlab_plugin.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.split() == ["True", "1"]
