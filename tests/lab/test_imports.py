"""The lab's modules import one another one way: no loops, lazy imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

LAB = Path(__file__).resolve().parents[2] / "lab" / "loadlab"


def imports_of(path: Path) -> set[str]:
    """The `loadlab` modules a file imports anywhere in it (top level, functions, TYPE_CHECKING blocks)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "loadlab":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("loadlab."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("loadlab.")}
    return found - {path.stem}


def find_loop(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop as a path (`[a, b, a]`), or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        for dep in sorted(graph.get(module, ())):
            if loop := visit(dep, [*path, module]):
                return loop
        done.add(module)
        return None

    for module in sorted(graph):
        if loop := visit(module, []):
            return loop
    return None


def test_find_loop_finds_one() -> None:
    assert find_loop({"cli": {"compare"}, "compare": {"cli"}}) == ["cli", "compare", "cli"]
    assert find_loop({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_lab_has_no_import_loops() -> None:
    graph = {path.stem: imports_of(path) for path in LAB.glob("*.py")}
    assert "result" in graph and graph["compare"], graph  # the scan sees the modules and their imports
    assert find_loop(graph) is None


def test_the_result_imports_nothing_of_the_lab() -> None:
    """A stored result renders without a stack: the data module stands alone."""
    assert imports_of(LAB / "result.py") == set()
