"""The load suite's command-line options (each also an environment variable), added to Locust's parser.

Kept out of the locustfile (and free of ``locust`` imports) so the lab and tests can read the
names. The env names are a contract: the lab and the Helm chart set them (docs/contracts.md).
"""

from __future__ import annotations

from typing import Any

from .scenarios import DEFAULT_SCENARIO, SCENARIOS

SHAPES = ("constant", "step", "capacity")
# Only what each simulated user reads at spawn can change from the web UI; the rest is fixed at start.
WEB_UI_OPTIONS = ("--scenario", "--account-count")

# (flag, env var, type, default, metavar, help)
OPTIONS: tuple[tuple[str, str, Any, Any, str, str], ...] = (
    ("--scenario", "LOADLAB_SCENARIO", str, DEFAULT_SCENARIO, "NAME", f"Task mix: {', '.join(SCENARIOS)}"),
    ("--shape", "LOADLAB_SHAPE", str, "constant", "SHAPE",
     "constant (-u/-r/-t as usual), step, or capacity (steps up until the SLO breaks)"),
    ("--step-users", "LOADLAB_STEP_USERS", int, 10, "N", "Users added per step (step, capacity)"),
    ("--step-interval", "LOADLAB_STEP_INTERVAL", float, 10.0, "SECONDS",
     "Seconds per step (step, capacity); >= 10 keeps step windows accurate"),
    ("--account-count", "LOADLAB_ACCOUNT_COUNT", int, 3, "N",
     "Log in as a random user1..userN / pass1..passN (as `board seed-users --count N`)"),
    ("--thresholds", "LOADLAB_THRESHOLDS", str, "", "PATH", "SLO thresholds: YAML/JSON file, or inline '{...}'"),
    ("--verdict-file", "LOADLAB_VERDICT_FILE", str, "", "PATH", "Write the verdict JSON here (master or standalone)"),
    ("--exporter-port", "LOADLAB_EXPORTER_PORT", int, 0, "PORT",
     "Serve Prometheus /metrics here (master or standalone, never workers); 0 = off"),
    ("--exporter-host", "LOADLAB_EXPORTER_HOST", str, "127.0.0.1", "HOST", "Exporter interface (0.0.0.0 in a pod)"),
    ("--exporter-linger", "LOADLAB_EXPORTER_LINGER", float, 0.0, "SECONDS",
     "Keep serving the final metrics this long after the verdict, for a last scrape"),
    ("--run-id", "LOADLAB_RUN_ID", str, "", "ID", "Run id of locust_run_info and the verdict (default: start time)"),
)  # fmt: skip
#: The plugin's options (``loadsuite.plugin``), for any locustfile it is loaded beside.
PLUGIN_OPTIONS: tuple[tuple[str, str, Any, Any, str, str], ...] = (
    ("--web-username", "LOADLAB_WEB_USERNAME", str, "admin", "NAME",
     "User name of the web UI's login page (--web-login; the password comes from LOADLAB_WEB_PASSWORD)"),
)  # fmt: skip
CHOICES: dict[str, tuple[str, ...]] = {"--scenario": tuple(SCENARIOS), "--shape": SHAPES}


def add_options(parser: Any, options: tuple[tuple[str, str, Any, Any, str, str], ...] = OPTIONS,
                title: str = "board-loadlab") -> None:  # fmt: skip
    """Add the options to Locust's parser, in a named group, with ``env_var`` and ``metavar`` like Locust's own."""
    group = parser.add_argument_group(title, "Scenarios, load shapes, exporter and verdict")
    for flag, env, type_, default, metavar, help_ in options:
        action = group.add_argument(
            flag, type=type_, default=default, metavar=metavar, env_var=env, help=help_, choices=CHOICES.get(flag)
        )
        # A group's add_argument bypasses LocustArgumentParser's, which sets these web-UI attributes.
        action.include_in_web_ui = flag in WEB_UI_OPTIONS
        action.is_secret = action.is_required = action.is_multiple = False
