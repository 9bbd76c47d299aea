"""board-loadlab load suite: the seed's client on FastHttpUser, scenarios and load shapes.

Everything a run reports (status counts, the health guard, the exporter, the verdict, the web login) is
the plugin's (``loadsuite.plugin``), imported here and loadable beside any other locustfile. This module
adds only what is the board's: its users, the ``--scenario`` mixes and the ``--shape`` classes. Run it
standalone or distributed (see README.md next to this file).
"""

from __future__ import annotations

from locust import FastHttpUser, events, task  # first: it monkey-patches the process with gevent
from locust.runners import WorkerRunner

import logging
import random
import sys
from typing import Any

from loadsuite import plugin, shapes
from loadsuite.options import SUITE, add_options
from loadsuite.scenarios import DEFAULT_SCENARIO, get_scenario, task_list
from loadsuite.thresholds import Thresholds

logger = logging.getLogger("loadsuite")


@events.init_command_line_parser.add_listener
def on_init_command_line_parser(parser: Any, **kwargs: Any) -> None:
    """Fired when Locust builds its argument parser, on every node: adds the load suite's options.

    Workers also receive the master's values of these options with each spawn message.

    :param parser: Locust's ``LocustArgumentParser``
    """
    add_options(parser, SUITE)


class BoardUser(FastHttpUser):
    """One simulated user of the board: its own account, token and known post ids.

    The class-level tasks are the seed's mix; ``on_start`` replaces them (per instance) with
    the ``--scenario`` mix, because workers learn the scenario from the master at spawn time.
    """

    def wait_time(self) -> float:
        wait = self.scenario.wait
        return random.uniform(*wait) if wait else 0.0

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.scenario = get_scenario(getattr(opts, "scenario", DEFAULT_SCENARIO) or DEFAULT_SCENARIO)
        self.tasks = task_list(self.scenario, self)
        self.account_count = max(1, int(getattr(opts, "account_count", 3) or 3))
        self.token: str | None = None
        self.headers: dict[str, str] = {}
        self.post_ids: list[int] = []
        if self.scenario.login:
            self.login()
        if self.scenario.collect_posts:
            with self.client.get("/posts/", headers=self.headers, catch_response=True) as resp:
                if self._expect(resp, 200) and isinstance(data := self._json(resp), list):
                    self.post_ids = [p["id"] for p in data if isinstance(p, dict) and "id" in p]

    def login(self) -> None:
        n = random.randint(1, self.account_count)
        form = {"username": f"user{n}", "password": f"pass{n}"}
        with self.client.post("/auth/login", data=form, catch_response=True) as resp:
            if self._expect(resp, 200):
                token = (self._json(resp) or {}).get("access_token")
                if token:
                    self.token = token
                    self.headers = {"Authorization": f"Bearer {token}"}
                else:
                    resp.failure("login answered 200 without an access_token")

    @task(5)
    def list_posts(self) -> None:
        with self.client.get("/posts/", headers=self.headers, catch_response=True) as resp:
            # Parse only while this user knows no post: JSON decoding costs generator CPU on every call.
            if self._expect(resp, 200) and not self.post_ids and isinstance(data := self._json(resp), list):
                self.post_ids = [p["id"] for p in data if isinstance(p, dict) and "id" in p]

    @task(1)
    def create_post(self) -> None:
        if not self.token:
            return
        body = {"title": f"Post title {random.randint(1, 10000)}", "content": "A sample post for load testing."}
        with self.client.post("/posts/", json=body, headers=self.headers, catch_response=True) as resp:
            if self._expect(resp, 201) and isinstance(post := self._json(resp), dict) and "id" in post:
                self.post_ids.append(post["id"])

    @task(2)
    def create_comment(self) -> None:
        if not self.token or not self.post_ids:
            return
        body = {"post_id": random.choice(self.post_ids), "content": f"Comment {random.randint(1, 10000)}"}
        with self.client.post("/comments/", json=body, headers=self.headers, catch_response=True) as resp:
            self._expect(resp, 201)

    def view_post(self) -> None:
        if not self.post_ids:
            return self.list_posts()
        post_id = random.choice(self.post_ids)
        with self.client.get(
            f"/posts/{post_id}", name="/posts/[id]", headers=self.headers, catch_response=True
        ) as resp:
            self._expect(resp, 200)

    def healthz(self) -> None:
        with self.client.get("/healthz", catch_response=True) as resp:
            self._expect(resp, 200)

    @staticmethod
    def _expect(resp: Any, status: int) -> bool:
        """Mark anything but the one status this call should get as a failure (503s, 4xx, redirects alike)."""
        if resp.status_code == status:
            return True
        # No response at all (status 0): the connection error is the only clue to what happened.
        said = (resp.text or "")[:120] if resp.status_code else repr(getattr(resp, "error", None))[:120]
        resp.failure(f"expected {status}, got {resp.status_code}: {said!r}")
        return False

    @staticmethod
    def _json(resp: Any) -> Any:
        try:
            return resp.json()
        except Exception as exc:  # noqa: BLE001  (any decode problem is the API's fault: record it)
            resp.failure(f"invalid JSON: {exc}")
            return None


@events.init.add_listener
def on_init(environment: Any, runner: Any = None, **kwargs: Any) -> None:
    """Fired once the environment and runner exist, on every node; on the master or a standalone run, selects
    the load shape (after the plugin's own init listener, which loaded the thresholds the capacity shape uses).
    """
    opts = environment.parsed_options
    runner = runner or environment.runner
    if opts is None or runner is None or isinstance(runner, WorkerRunner) or opts.shape == "constant":
        return
    environment.shape_class = _make_shape(opts, plugin.thresholds())
    environment.shape_class.runner = runner


def _make_shape(opts: Any, thresholds: Thresholds) -> shapes.StepShape:
    args = (opts.step_users, opts.step_interval, opts.num_users or 0, opts.spawn_rate or 0.0, opts.run_time)
    try:
        if opts.shape == "capacity":
            return shapes.CapacityShape(*args, thresholds=thresholds)
        return shapes.StepShape(*args)
    except ValueError as exc:
        logger.error(f"--shape {opts.shape}: {exc}")
        sys.exit(2)
