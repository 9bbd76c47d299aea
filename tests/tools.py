"""Finding the external programs tests need: a missing one skips the test on a developer machine, with its name
and how to install it, and fails it under CI (`CI` set), where `.ci/run` must have installed everything."""

from __future__ import annotations

import os

import pytest


def missing_tool(name: str, install_hint: str) -> None:
    """Skip (or, under CI, fail) because `name` is not installed."""
    message = f"{name} is not installed: run {install_hint}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must install it)")
    pytest.skip(message)
