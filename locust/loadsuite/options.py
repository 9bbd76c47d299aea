"""Every command-line option of the load suite and its plugin (each also an environment variable), in one table.

Locust's parser gets them from here (``add_options``), and so does the lab's command line
(``add_lab_arguments``): one definition per flag, and each ``LOADLAB_*`` variable is read by Locust alone.
Free of ``locust`` imports, so the lab and tests can read it. The env names are a contract: the lab and
the Helm chart set them (docs/contracts.md).

Two scopes: ``plugin`` options work beside any locustfile (``loadsuite.plugin``); ``suite`` options only
exist when the suite's own locustfile (its users, scenarios and shapes) is loaded, so another locustfile
never sees them.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Any

from .scenarios import DEFAULT_SCENARIO, SCENARIOS

logger = logging.getLogger("loadsuite")

SHAPES = ("constant", "step", "capacity")
SUITE, PLUGIN = "suite", "plugin"


@dataclass(frozen=True)
class Option:
    flag: str
    env: str
    type: Any
    default: Any
    metavar: str
    help: str
    scope: str
    choices: tuple[str, ...] | None = None
    #: Only what each simulated user reads at spawn may change from the web UI; the rest is fixed at start.
    in_web_ui: bool = False

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option(
        "--scenario",
        "LOADLAB_SCENARIO",
        str,
        DEFAULT_SCENARIO,
        "NAME",
        f"Task mix: {', '.join(SCENARIOS)}",
        SUITE,
        tuple(SCENARIOS),
        in_web_ui=True,
    ),
    Option(
        "--shape",
        "LOADLAB_SHAPE",
        str,
        "constant",
        "SHAPE",
        "constant (-u/-r/-t as usual), step, or capacity (steps up until the SLO breaks)",
        SUITE,
        SHAPES,
    ),
    Option("--step-users", "LOADLAB_STEP_USERS", int, 10, "N", "Users added per step (step, capacity)", SUITE),
    Option(
        "--step-interval",
        "LOADLAB_STEP_INTERVAL",
        float,
        10.0,
        "SECONDS",
        "Seconds per step (step, capacity); >= 10 keeps step windows accurate",
        SUITE,
    ),
    Option(
        "--account-count",
        "LOADLAB_ACCOUNT_COUNT",
        int,
        3,
        "N",
        "Log in as a random user1..userN / pass1..passN (as `board seed-users --count N`)",
        SUITE,
        in_web_ui=True,
    ),
    Option(
        "--thresholds",
        "LOADLAB_THRESHOLDS",
        str,
        "",
        "PATH",
        "SLO thresholds: YAML/JSON file, or inline '{...}'",
        PLUGIN,
    ),
    Option(
        "--verdict-file",
        "LOADLAB_VERDICT_FILE",
        str,
        "",
        "PATH",
        "Write the verdict JSON here (master or standalone)",
        PLUGIN,
    ),
    Option(
        "--exporter-port",
        "LOADLAB_EXPORTER_PORT",
        int,
        0,
        "PORT",
        "Serve Prometheus /metrics here (master or standalone, never workers); 0 = off",
        PLUGIN,
    ),
    Option(
        "--exporter-host",
        "LOADLAB_EXPORTER_HOST",
        str,
        "127.0.0.1",
        "HOST",
        "Exporter interface (0.0.0.0 in a pod)",
        PLUGIN,
    ),
    Option(
        "--exporter-linger",
        "LOADLAB_EXPORTER_LINGER",
        float,
        0.0,
        "SECONDS",
        "Keep serving the final metrics this long after the verdict, for a last scrape",
        PLUGIN,
    ),
    Option(
        "--run-id",
        "LOADLAB_RUN_ID",
        str,
        "",
        "ID",
        "Run id of locust_run_info and the verdict (default: start time)",
        PLUGIN,
    ),
    Option(
        "--web-username",
        "LOADLAB_WEB_USERNAME",
        str,
        "admin",
        "NAME",
        "User name of the web UI's login page (--web-login; the password comes from LOADLAB_WEB_PASSWORD)",
        PLUGIN,
    ),
)
BY_FLAG = {o.flag: o for o in OPTIONS}


def of_scope(scope: str) -> tuple[Option, ...]:
    return tuple(o for o in OPTIONS if o.scope == scope)


class Owned:
    """The options this process added to Locust's parser, to tell our values from a locustfile's own.

    A locustfile loaded beside the plugin may define a flag of the same name (its own ``--run-id``):
    the parser then resolves the conflict in the locustfile's favour, and the plugin reads its default.
    """

    def __init__(self) -> None:
        self.actions: dict[str, argparse.Action] = {}

    def value(self, opts: Any, flag: str) -> Any:
        option = BY_FLAG[flag]
        action = self.actions.get(flag)
        if action is None or flag not in action.option_strings:
            return option.default
        return getattr(opts, option.dest, option.default)


def add_options(parser: Any, scope: str, owned: Owned | None = None) -> None:
    """Add one scope's options to Locust's parser, in a named group, with ``env_var`` and ``metavar`` like
    Locust's own. A flag the parser already has (a locustfile's own option) is left to it; a locustfile that
    adds one of ours later takes it over (conflict_handler "resolve") instead of failing to start."""
    title = "board-loadlab plugin" if scope == PLUGIN else "board-loadlab load suite"
    group = parser.add_argument_group(
        title, "Exporter, verdict, web login" if scope == PLUGIN else "Scenarios and load shapes of the board's users"
    )
    taken = getattr(parser, "_option_string_actions", {})
    for o in of_scope(scope):
        if o.flag in taken:
            logger.warning(f"{o.flag} is already an option of the locustfile: board-loadlab leaves it alone")
            continue
        action = group.add_argument(
            o.flag, type=o.type, default=o.default, metavar=o.metavar, env_var=o.env, help=o.help, choices=o.choices
        )
        # A group's add_argument bypasses LocustArgumentParser's, which sets these web-UI attributes.
        action.include_in_web_ui = o.in_web_ui
        action.is_secret = action.is_required = action.is_multiple = False
        if owned is not None:
            owned.actions[o.flag] = action
    # argparse checks conflicts in the group an option goes to (the parser's "optional arguments" for a plain
    # parser.add_argument): every container resolves from now on.
    for container in (parser, *getattr(parser, "_action_groups", ())):
        container.conflict_handler = "resolve"


def add_lab_arguments(group: Any, flags: tuple[str, ...]) -> None:
    """The same flags on the lab's command line (type, metavar, choices, help), defaulting to None: an option the
    lab is not given is not passed on, so Locust applies its environment variable or default, and no
    ``LOADLAB_*`` variable is read in two places."""
    for flag in flags:
        o = BY_FLAG[flag]
        group.add_argument(
            o.flag,
            type=o.type,
            default=None,
            metavar=o.metavar,
            choices=o.choices,
            help=f"{o.help} (default: {o.env}, else {o.default!r})",
        )
