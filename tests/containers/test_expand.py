"""$(VAR) expansion with the kubelet's rules (the API reference of Container.env[].value)."""

from __future__ import annotations

import pytest

from containers.expand import expand

ENV = {"PW": "s3cr3t", "HOST": "db", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://board:$(PW)@$(HOST):5432/board", "postgresql://board:s3cr3t@db:5432/board"),
        ("$(MISSING) stays", "$(MISSING) stays"),
        ("escaped $$(PW)", "escaped $(PW)"),
        ("$$", "$"),
        ("a$(EMPTY)b", "ab"),
        ("price $5 and $x", "price $5 and $x"),
        ("unclosed $(PW", "unclosed $(PW"),
        ("trailing $", "trailing $"),
        ("no references", "no references"),
        ("$(PW)$(PW)", "s3cr3ts3cr3t"),
    ],
)
def test_expand_follows_the_kubelet(text: str, expected: str) -> None:
    assert expand(text, ENV) == expected


def test_expand_does_not_expand_the_result_again() -> None:
    """A value that itself looks like a reference is inserted verbatim (one pass, as the kubelet does)."""
    assert expand("$(A)", {"A": "$(B)", "B": "no"}) == "$(B)"
