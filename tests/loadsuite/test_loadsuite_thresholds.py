"""Threshold parsing: valid files and inline strings, and clear errors naming the key and value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadsuite.thresholds import Limits, ThresholdError, load_thresholds, parse_thresholds


def test_default_merges_with_endpoint_entry() -> None:
    t = parse_thresholds({"*": {"p95_ms": 500, "max_failure_ratio": 0.01}, "POST /auth/login": {"p95_ms": 3000}})
    assert t.for_endpoint("POST", "/auth/login") == Limits(p95_ms=3000, max_failure_ratio=0.01)
    assert t.for_endpoint("GET", "/posts/") == Limits(p95_ms=500, max_failure_ratio=0.01)


def test_aggregated_key_is_the_whole_run() -> None:
    t = parse_thresholds({"Aggregated": {"min_rps": 5}})
    assert t.total == Limits(min_rps=5)
    assert t.default == Limits()


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text('"*":\n  p99_ms: 800\n"GET /posts/[id]":\n  p50_ms: 20\n')
    t = load_thresholds(str(path))
    assert t.source == str(path)
    assert t.for_endpoint("GET", "/posts/[id]") == Limits(p50_ms=20, p99_ms=800)


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"*": {"p95_ms": 0.01}}))
    assert load_thresholds(str(path)).default.p95_ms == pytest.approx(0.01)


def test_inline_json() -> None:
    assert load_thresholds('{"*": {"max_failure_ratio": 0}}').default.max_failure_ratio == 0


def test_empty_gives_builtin_defaults() -> None:
    t = load_thresholds("")
    assert t.source == "built-in defaults"
    assert t.default.max_failure_ratio is not None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"*": {"p95": 100}}, "unknown field 'p95' in '\\*'"),
        ({"*": {"p95_ms": "fast"}}, "must be a number, got 'fast'"),
        ({"*": {"p95_ms": True}}, "must be a number"),
        ({"*": {"p95_ms": -1}}, "must be >= 0"),
        ({"*": {"max_failure_ratio": 5}}, "ratio in 0-1, got 5"),
        ({"/posts/": {"p95_ms": 1}}, "endpoint key '/posts/' must be"),
        ({"FETCH /posts/": {"p95_ms": 1}}, "METHOD one of"),
        ({"*": [1, 2]}, "must be a mapping"),
        ([1, 2], "must be a mapping of endpoint"),
    ],
)
def test_mistakes_are_named(doc: object, message: str) -> None:
    with pytest.raises(ThresholdError, match=message):
        parse_thresholds(doc)


def test_missing_file_is_named() -> None:
    with pytest.raises(ThresholdError, match="'/nope/thresholds.yaml' does not exist"):
        load_thresholds("/nope/thresholds.yaml")


def test_invalid_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("*: [unclosed\n")
    with pytest.raises(ThresholdError, match="not valid YAML"):
        load_thresholds(str(path))
