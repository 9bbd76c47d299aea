"""board-loadlab's extras as a Locust plugin, for the load suite and for any other locustfile.

Load it beside your own test (``locust -f loadlab_plugin.py,my_locustfile.py``) or import it from your
locustfile (``import loadsuite.plugin``); importing it twice registers nothing twice (Python caches the
module). Today it gives Locust's web UI a working login (``--web-login``, see ``webauth``).
"""

from __future__ import annotations

import locust  # noqa: F401  (first: it monkey-patches the process with gevent)
from locust import events
from locust.runners import WorkerRunner

import logging
import sys
from typing import Any

from loadsuite import webauth
from loadsuite.options import PLUGIN_OPTIONS, add_options

logger = logging.getLogger("loadsuite")


@events.init_command_line_parser.add_listener
def on_init_command_line_parser(parser: Any, **kwargs: Any) -> None:
    """Fired when Locust builds its argument parser, on every node: adds the plugin's options.

    :param parser: Locust's ``LocustArgumentParser``
    """
    add_options(parser, PLUGIN_OPTIONS, "board-loadlab plugin")


@events.init.add_listener
def on_init(environment: Any, runner: Any = None, web_ui: Any = None, **kwargs: Any) -> None:
    """Fired once the environment, runner and web UI exist, on every node; on a master with a web UI and
    ``--web-login``: installs the login check, or exits 2 when no password is configured (fail closed).
    """
    opts = environment.parsed_options
    web_ui = web_ui or environment.web_ui
    if opts is None or isinstance(runner or environment.runner, WorkerRunner) or web_ui is None:
        return
    if getattr(opts, "web_login", False):
        try:
            password = webauth.password_from_env()
        except webauth.WebAuthError as exc:
            logger.error(str(exc))
            sys.exit(2)
        webauth.install(web_ui, opts.web_username, password, getattr(opts, "web_base_path", "") or "")
        logger.info(f"Web UI login required (user {opts.web_username})")
