"""The options as a configargparse parser (what Locust's parser is) reads them: flags, env variables, choices."""

from __future__ import annotations

import re
from pathlib import Path

import configargparse
import pytest

from loadsuite.options import OPTIONS, add_options

REPO = Path(__file__).resolve().parents[2]


def parser() -> configargparse.ArgumentParser:
    p = configargparse.ArgumentParser()
    add_options(p)
    return p


def test_defaults() -> None:
    opts = parser().parse_args([], env_vars={})
    assert (opts.scenario, opts.shape, opts.account_count, opts.exporter_port) == ("seed", "constant", 3, 0)
    assert opts.exporter_host == "127.0.0.1" and opts.step_interval == 10.0


def test_env_variables() -> None:
    env = {"LOADLAB_SCENARIO": "bare", "LOADLAB_SHAPE": "capacity", "LOADLAB_STEP_USERS": "7",
           "LOADLAB_EXPORTER_PORT": "9646", "LOADLAB_RUN_ID": "r-1"}  # fmt: skip
    opts = parser().parse_args([], env_vars=env)
    assert (opts.scenario, opts.shape, opts.step_users, opts.exporter_port, opts.run_id) == (
        "bare", "capacity", 7, 9646, "r-1"
    )  # fmt: skip


def test_choices_are_enforced() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["--shape", "ramp"], env_vars={})


def test_every_option_is_documented_in_readme_and_contracts() -> None:
    readme = (REPO / "locust" / "README.md").read_text()
    contracts = " ".join((REPO / "docs" / "contracts.md").read_text().split())  # lines wrap anywhere
    for flag, env, *_ in OPTIONS:
        assert re.search(rf"`{flag}[ `]", readme) and env in readme, flag
        assert f"`{flag}` ({env}" in contracts, flag
