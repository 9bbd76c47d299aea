"""Scenarios: every task named exists on the locustfile's user class (read with ast, never imported)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from loadsuite.scenarios import DEFAULT_SCENARIO, SCENARIOS, get_scenario, task_list

LOCUST_DIR = Path(__file__).resolve().parents[2] / "locust"


def _board_user_methods() -> set[str]:
    tree = ast.parse((LOCUST_DIR / "locustfile.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "BoardUser")
    return {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}


def test_every_task_exists_on_board_user() -> None:
    methods = _board_user_methods()
    for scenario in SCENARIOS.values():
        assert set(scenario.tasks) <= methods, scenario.name


def test_required_scenarios_exist() -> None:
    assert {"seed", "read-heavy", "write-heavy", "login-storm", "bare", "cached-list"} <= set(SCENARIOS)
    assert DEFAULT_SCENARIO == "seed"
    seed = SCENARIOS["seed"]
    assert seed.tasks == {"list_posts": 5, "create_post": 1, "create_comment": 2}
    assert seed.wait == (1.0, 3.0) and seed.login and seed.collect_posts
    assert SCENARIOS["bare"].wait is None and SCENARIOS["cached-list"].wait is None


def test_task_list_expands_weights() -> None:
    class User:
        def list_posts(self) -> None: ...
        def create_post(self) -> None: ...
        def create_comment(self) -> None: ...

    tasks = task_list(SCENARIOS["seed"], User())
    assert tasks.count(User.list_posts) == 5 and tasks.count(User.create_comment) == 2 and len(tasks) == 8


def test_unknown_scenario_is_named() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        get_scenario("nope")
