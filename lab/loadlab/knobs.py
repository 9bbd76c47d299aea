"""The API's knobs as the JSON schema of the chart's `api.env`, generated from `board.config.Settings`.

One source for both users of a preset: `tools/chart-docs.py` writes this schema into the chart's
`values.schema.json` (so `helm install` refuses a misspelt or out-of-range knob), and the lab validates
presets against that same file. Values stay strings (they become environment variables), so a knob's type
and bounds are a string pattern: `BOARD_BCRYPT_ROUNDS` accepts "4" to "31" and nothing else.

The patterns accept plain decimal notation only (no "+5", "1e3" or " 5"), stricter than pydantic, which is
fine: the presets and the chart's users write numbers that way.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import annotated_types

#: Settings the chart and the lab set from their own wiring (Services, the Secret, `api.workers`,
#: `api.metricsPort`): never in api.env.
WIRED = ("database_url", "redis_url", "jwt_secret", "workers", "metrics_port")
#: Knobs whose one allowed value the schema fixes: dev mode (a published JWT secret, /docs) is never deployed,
#: so `helm install` with BOARD_DEV_MODE=true fails validation, as does a preset that sets it.
FIXED = {"dev_mode": "false"}
ENV_PREFIX = "BOARD_"
#: The spellings of a boolean the presets use (pydantic accepts more; the schema keeps to these two).
BOOLEANS = ("true", "false")


class KnobSchemaError(ValueError):
    """A setting whose type or bounds the generator cannot express as a string pattern."""


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def api_env_schema() -> dict[str, Any]:
    """The `api.env` object schema: one property per knob, no others (additionalProperties false)."""
    from board.config import Settings

    properties: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        if name in WIRED:
            continue
        bounds = _bounds(field.metadata)
        schema = (
            {"type": "string", "enum": [FIXED[name]]}
            if name in FIXED
            else _value_schema(name, field.annotation, bounds)
        )
        schema["description"] = _describe(field.description or "", schema, bounds)
        properties[env_name(name)] = schema
    return {"type": "object", "additionalProperties": False, "properties": properties}


def _bounds(metadata: list[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in metadata:
        for key in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, key.capitalize())):
                out[key] = getattr(item, key)
    return out


def _value_schema(name: str, annotation: Any, bounds: dict[str, float]) -> dict[str, Any]:
    if annotation is bool:
        return {"type": "string", "enum": list(BOOLEANS)}
    if typing.get_origin(annotation) is typing.Literal:
        return {"type": "string", "enum": [str(choice) for choice in typing.get_args(annotation)]}
    if annotation is int:
        lo, hi = _integer_bounds(name, bounds)
        return {"type": "string", "pattern": f"^(?:{int_pattern(lo, hi)})$"}
    if annotation is float:
        return {"type": "string", "pattern": f"^(?:{decimal_pattern(name, bounds)})$"}
    if annotation is str:
        return {"type": "string"}
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        raise KnobSchemaError(f"{env_name(name)}: optional/union types have no api.env spelling yet: {annotation}")
    raise KnobSchemaError(f"{env_name(name)}: no string pattern for type {annotation!r}")


def _integer_bounds(name: str, bounds: dict[str, float]) -> tuple[int, int | None]:
    lo = bounds.get("ge", bounds["gt"] + 1 if "gt" in bounds else None)
    hi = bounds.get("le", bounds["lt"] - 1 if "lt" in bounds else None)
    if lo is None:
        raise KnobSchemaError(f"{env_name(name)}: an integer knob needs a lower bound (Field(ge=...))")
    return int(lo), None if hi is None else int(hi)


def _describe(doc: str, schema: dict[str, Any], bounds: dict[str, float]) -> str:
    """The docstring plus what the pattern enforces, in words (the README and the lab's messages show it)."""
    if "enum" in schema:
        return f"{doc.strip()} (one of: {', '.join(schema['enum'])})"
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    limits = ", ".join(f"{words[k]} {v:g}" for k, v in bounds.items())
    return f"{doc.strip()} ({limits})" if limits else doc.strip()


# --- numbers as regular expressions ---------------------------------------------------------------------


def int_pattern(lo: int, hi: int | None) -> str:
    """A regex (no anchors) matching the decimal integers lo..hi (hi None: no upper bound), no leading zeros."""
    if hi is not None and hi < lo:
        raise ValueError(f"empty range {lo}..{hi}")
    parts: list[str] = []
    if lo < 0:
        negative = _non_negative(1, -lo)
        parts.append(f"-{negative}" if negative.isdigit() else f"-(?:{negative})")
        lo = 0
    if hi is None or hi >= lo:
        parts.append(_non_negative(lo, hi))
    return "|".join(parts)


def _non_negative(lo: int, hi: int | None) -> str:
    parts: list[str] = []
    width = len(str(lo))
    top = hi if hi is not None else 10**width - 1
    while lo <= top:
        end = min(top, 10**width - 1)
        parts += _same_width(str(lo), str(end))
        lo, width = 10**width, width + 1
    if hi is None:
        parts.append(f"[1-9][0-9]{{{width - 1},}}")
    return "|".join(parts)


def _same_width(lo: str, hi: str) -> list[str]:
    """Patterns for lo..hi, two numbers written with the same count of digits."""
    if lo == hi:
        return [lo]
    n = len(lo)
    if lo == "0" * n and hi == "9" * n:
        return [_digits(n)]
    if n == 1:
        return [f"[{lo}-{hi}]"]
    if lo[0] == hi[0]:
        return [lo[0] + p for p in _same_width(lo[1:], hi[1:])]
    # Whole decades first: 10..99 is [1-9][0-9], not 1[0-9] | [2-8][0-9] | 9[0-9].
    lo_whole, hi_whole = lo[1:] == "0" * (n - 1), hi[1:] == "9" * (n - 1)
    first = int(lo[0]) if lo_whole else int(lo[0]) + 1
    last = int(hi[0]) if hi_whole else int(hi[0]) - 1
    out = [] if lo_whole else [lo[0] + p for p in _same_width(lo[1:], "9" * (n - 1))]
    if first <= last:
        out.append((str(first) if first == last else f"[{first}-{last}]") + _digits(n - 1))
    if not hi_whole:
        out += [hi[0] + p for p in _same_width("0" * (n - 1), hi[1:])]
    return out


def _digits(count: int) -> str:
    return "[0-9]" if count == 1 else f"[0-9]{{{count}}}"


def decimal_pattern(name: str, bounds: dict[str, float]) -> str:
    """A regex for decimal numbers within integral bounds: `ge`/`gt` lo (required), `le` hi (optional)."""
    if "lt" in bounds or not ({"ge", "gt"} & set(bounds)):
        raise KnobSchemaError(f"{env_name(name)}: a float knob needs ge= or gt= (and optionally le=)")
    lo = bounds["ge"] if "ge" in bounds else bounds["gt"]
    hi = bounds.get("le")
    if any(b is not None and b != int(b) for b in (lo, hi)) or lo < 0:
        raise KnobSchemaError(f"{env_name(name)}: float bounds must be non-negative whole numbers, got {bounds}")
    lo_i, hi_i = int(lo), None if hi is None else int(hi)
    fraction = r"(?:\.[0-9]+)?"
    parts: list[str] = []
    whole_lo = lo_i + 1 if "gt" in bounds else lo_i
    whole_hi = None if hi_i is None else hi_i - 1
    if whole_hi is None or whole_lo <= whole_hi:
        parts.append(f"(?:{int_pattern(whole_lo, whole_hi)}){fraction}")
    if "gt" in bounds:
        parts.append(rf"{lo_i}\.[0-9]*[1-9][0-9]*")  # just above an exclusive bound: 0.5 for gt=0
    if hi_i is not None:
        parts.append(rf"{hi_i}(?:\.0+)?")
    return "|".join(parts)
