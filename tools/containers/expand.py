"""Kubernetes' `$(VAR)` expansion of env values, command and args, which `podman kube play` 4.3 leaves undone.

The rules are the kubelet's (Kubernetes API reference, Container `env[].value` and `command`): `$(NAME)` is
replaced by a variable defined earlier in the container's environment, an unknown `$(NAME)` stays as it is,
and `$$` is an escaped `$` (so `$$(NAME)` gives the literal `$(NAME)`). A `$` followed by anything else, or a
`$(` without its `)`, is copied unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping


def expand(text: str, env: Mapping[str, str]) -> str:
    """`text` with every `$(NAME)` found in `env` replaced, as the kubelet does."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 == len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(" and (close := text.find(")", i + 2)) != -1:
            name = text[i + 2 : close]
            out.append(env.get(name, f"$({name})"))
            i = close + 1
        else:
            out.append("$")
            i += 1
    return "".join(out)
