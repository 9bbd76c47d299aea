"""Each LOADLAB_* environment variable is read in one place: the suite's and the plugin's by Locust (through
loadsuite.options), the lab's own by the lab; the lab passes suite options on instead of reading them too."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from loadsuite.options import OPTIONS

REPO = Path(__file__).resolve().parents[2]
SOURCES = [
    *(REPO / "lab" / "loadlab").rglob("*.py"),
    *(REPO / "locust").glob("*.py"),
    *(REPO / "locust" / "loadsuite").glob("*.py"),
    *(REPO / "service" / "board").rglob("*.py"),
    *(REPO / "tools").glob("*.py"),
]
NAME = re.compile(r"LOADLAB_[A-Z0-9_]+")


def _named_where() -> dict[str, set[str]]:
    """Every string constant that is exactly a LOADLAB_* name, and the files that hold it."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.fullmatch(node.value):
                found[node.value].add(str(path.relative_to(REPO)))
            if isinstance(node, ast.JoinedStr) and any(
                isinstance(v, ast.Constant) and str(v.value).startswith("LOADLAB_") for v in node.values
            ):
                found["<built name>"].add(str(path.relative_to(REPO)))
    return found


def test_every_loadlab_variable_is_named_in_one_file() -> None:
    found = _named_where()
    assert "<built name>" not in found, f"names built at run time cannot be checked: {found.get('<built name>')}"
    twice = {name: files for name, files in found.items() if len(files) > 1}
    assert not twice, twice


def test_the_suites_and_plugins_variables_are_named_only_in_their_table() -> None:
    found = _named_where()
    for option in OPTIONS:
        assert found.get(option.env) == {"locust/loadsuite/options.py"}, (option.env, found.get(option.env))


def test_the_lab_does_not_read_the_suites_variables(monkeypatch) -> None:
    """LOADLAB_SCENARIO is Locust's to read: the lab leaves an option it was not given to Locust."""
    from loadlab.cli import build_parser, load_options
    from loadlab.loadtest import LocustRun

    monkeypatch.setenv("LOADLAB_SCENARIO", "bare")
    monkeypatch.setenv("LOADLAB_SHAPE", "step")
    options = load_options(build_parser().parse_args(["run"]))
    assert options.scenario is None and options.shape is None
    run = LocustRun(
        Path("/tmp/unused"), Path("/tmp/unused-out"), "http://127.0.0.1:9", options, exporter_port=1, run_id="x"
    )
    assert "scenario" not in run.master_options() or run.master_options()["scenario"] is None
