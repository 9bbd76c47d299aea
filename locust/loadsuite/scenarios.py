"""Scenarios by name: which tasks a simulated user runs, with what weights and wait.

Data only, so the lab and the tests can list them without importing Locust. Task names are
the method names of ``BoardUser`` in ``locustfile.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scenario:
    name: str
    tasks: dict[str, int]  # task method -> weight
    wait: tuple[float, float] | None  # seconds between tasks (uniform), None = no wait
    login: bool  # log in in on_start
    collect_posts: bool  # GET /posts/ in on_start to learn ids
    description: str


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "seed",
            {"list_posts": 5, "create_post": 1, "create_comment": 2},
            (1.0, 3.0),
            True,
            True,
            "the seed post's client: list 5, create post 1, comment 2, wait 1-3 s",
        ),
        Scenario(
            "read-heavy",
            {"list_posts": 8, "view_post": 4, "create_comment": 1},
            (0.5, 1.5),
            True,
            True,
            "mostly reads: list 8, view one post 4, comment 1, wait 0.5-1.5 s",
        ),
        Scenario(
            "write-heavy",
            {"list_posts": 1, "create_post": 4, "create_comment": 4},
            (0.5, 1.5),
            True,
            True,
            "mostly writes: list 1, create post 4, comment 4, wait 0.5-1.5 s",
        ),
        Scenario(
            "login-storm",
            {"login": 1},
            (0.5, 1.5),
            False,
            False,
            "users that log in again and again (bcrypt-bound), wait 0.5-1.5 s",
        ),
        Scenario("bare", {"healthz": 1}, None, False, False, "GET /healthz with no wait: the bare ASGI ceiling"),
        Scenario("cached-list", {"list_posts": 1}, None, False, False, "GET /posts/ with no wait: the cached list"),
    )
}
DEFAULT_SCENARIO = "seed"


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}") from None


def task_list(scenario: Scenario, user: Any) -> list[Any]:
    """Expand weights into the list Locust's ``DefaultTaskSet`` picks from (``random.choice``), bound to ``user``."""
    out: list[Any] = []
    for method, weight in scenario.tasks.items():
        func = getattr(type(user), method)
        out += [func] * weight
    return out
