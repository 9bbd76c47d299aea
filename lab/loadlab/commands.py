"""The command lines of our own processes: the single source the lab runs and the Helm chart is tested against.

Each function returns argv with the interpreter first; the chart's containers run the same argv with `python`
(or `locust`) from the image's PATH, and `tests/chart` compares everything after argv[0].
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO_ROOT / "locust" / "locustfile.py"
#: The plugin file loaded beside someone else's locustfile (`-f plugin,theirs`), as the chart does.
PLUGIN_FILE = REPO_ROOT / "locust" / "loadlab_plugin.py"


def locustfile_arg(own: Path | None) -> str:
    """Locust's -f value: the load suite's locustfile, or the plugin beside your own."""
    return str(LOCUSTFILE) if own is None else f"{PLUGIN_FILE},{own}"


def api_serve(host: str, port: int, metrics_port: int) -> list[str]:
    address = ["--host", host, "--port", str(port), "--metrics-port", str(metrics_port)]
    return [sys.executable, "-m", "board", "serve", *address]


def api_migrate() -> list[str]:
    return [sys.executable, "-m", "board", "migrate"]


def api_seed_users(count: int) -> list[str]:
    return [sys.executable, "-m", "board", "seed-users", "--count", str(count)]


def locust_options(options: Mapping[str, object]) -> list[str]:
    """`{"users": 50, "headless": True}` -> `["--users", "50", "--headless"]`; False/None leave the flag out."""
    argv: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value not in (False, None):
            argv += [flag, str(value)]
    return argv


def locust_master(options: Mapping[str, object], locustfile: str | Path = LOCUSTFILE) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(locustfile), "--master", *locust_options(options)]


def locust_worker(
    master_port: int, options: Mapping[str, object] = {}, locustfile: str | Path = LOCUSTFILE
) -> list[str]:  # noqa: B006 - read only
    master = ["--master-host", "127.0.0.1", "--master-port", str(master_port)]
    return [sys.executable, "-m", "locust", "-f", str(locustfile), "--worker", *master, *locust_options(options)]
