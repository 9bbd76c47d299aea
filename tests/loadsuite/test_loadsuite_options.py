"""The options as a configargparse parser (what Locust's parser is) reads them: flags, env variables, choices,
and a locustfile's own option of the same name left to the locustfile."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import configargparse
import pytest

from loadsuite.options import BY_FLAG, OPTIONS, PLUGIN, SUITE, Owned, add_lab_arguments, add_options, of_scope

REPO = Path(__file__).resolve().parents[2]


def parser(owned: Owned | None = None) -> configargparse.ArgumentParser:
    p = configargparse.ArgumentParser()
    add_options(p, PLUGIN, owned)
    add_options(p, SUITE)
    return p


def test_defaults() -> None:
    opts = parser().parse_args([], env_vars={})
    assert (opts.scenario, opts.shape, opts.account_count, opts.exporter_port) == ("seed", "constant", 3, 0)
    assert opts.exporter_host == "127.0.0.1" and opts.step_interval == 10.0


def test_env_variables() -> None:
    env = {
        "LOADLAB_SCENARIO": "bare",
        "LOADLAB_SHAPE": "capacity",
        "LOADLAB_STEP_USERS": "7",
        "LOADLAB_EXPORTER_PORT": "9646",
        "LOADLAB_RUN_ID": "r-1",
    }
    opts = parser().parse_args([], env_vars=env)
    parsed = (opts.scenario, opts.shape, opts.step_users, opts.exporter_port, opts.run_id)
    assert parsed == ("bare", "capacity", 7, 9646, "r-1")


def test_choices_are_enforced() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["--shape", "ramp"], env_vars={})


def test_the_plugin_has_no_option_of_the_suites_users() -> None:
    """What another locustfile gets beside the plugin: nothing about the board's scenarios, shapes or accounts."""
    expected = {"--scenario", "--shape", "--step-users", "--step-interval", "--account-count"}
    assert {o.flag for o in of_scope(SUITE)} == expected
    p = configargparse.ArgumentParser()
    add_options(p, PLUGIN)
    with pytest.raises(SystemExit):
        p.parse_args(["--scenario", "seed"], env_vars={})


def test_a_locustfiles_own_option_added_later_wins_and_the_plugin_reads_its_default() -> None:
    owned = Owned()
    p = parser(owned)
    p.add_argument("--run-id", type=int, default=0)  # a locustfile's own --run-id, meaning something else
    opts = p.parse_args(["--run-id", "42", "--verdict-file", "v.json"], env_vars={"LOADLAB_RUN_ID": "ignored"})
    assert opts.run_id == 42, "the locustfile's option"
    assert owned.value(opts, "--run-id") == BY_FLAG["--run-id"].default, "ours stands aside"
    assert owned.value(opts, "--verdict-file") == "v.json"


def test_a_locustfiles_own_option_added_first_is_left_alone() -> None:
    owned = Owned()
    p = configargparse.ArgumentParser()
    p.add_argument("--thresholds", type=float, default=0.5)
    add_options(p, PLUGIN, owned)
    opts = p.parse_args(["--thresholds", "0.9"], env_vars={})
    assert opts.thresholds == 0.9 and owned.value(opts, "--thresholds") == ""


def test_the_labs_flags_are_the_same_options_without_defaults() -> None:
    """The lab builds its flags from the table and passes on only what it is given (Locust reads the env)."""
    p = argparse.ArgumentParser()
    add_lab_arguments(p, ("--scenario", "--shape", "--step-users"))
    assert vars(p.parse_args([])) == {"scenario": None, "shape": None, "step_users": None}
    assert p.parse_args(["--step-users", "5"]).step_users == 5
    with pytest.raises(SystemExit):
        p.parse_args(["--shape", "ramp"])


def test_every_option_is_documented_in_readme_and_contracts() -> None:
    readme = (REPO / "locust" / "README.md").read_text()
    contracts = " ".join((REPO / "docs" / "contracts.md").read_text().split())  # lines wrap anywhere
    for o in OPTIONS:
        assert re.search(rf"`{o.flag}[ `]", readme) and o.env in readme, o.flag
        assert f"`{o.flag}` ({o.env}" in contracts, o.flag
