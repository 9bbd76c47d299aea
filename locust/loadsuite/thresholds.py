"""SLO thresholds: parsed from a small YAML/JSON file or an inline string.

Format (YAML; JSON is valid YAML)::

    "*":                      # applies to every endpoint, unless overridden below
      p95_ms: 1000
      max_failure_ratio: 0.01
    "POST /auth/login":       # "METHOD name", the name as Locust reports it
      p95_ms: 3000
    "Aggregated":             # the whole run (all endpoints together)
      min_rps: 5

Fields: ``p50_ms``, ``p95_ms``, ``p99_ms`` (upper bounds in milliseconds),
``max_failure_ratio`` (0-1) and ``min_rps``. Mistakes fail loudly with the key and value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import yaml

DEFAULT_KEY = "*"
TOTAL_KEY = "Aggregated"
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class ThresholdError(ValueError):
    """A thresholds file or string that cannot be used; the message names the key and the value."""


@dataclass(frozen=True)
class Limits:
    """Upper bounds (latency, failure ratio) and a lower bound (rps); ``None`` = not checked."""

    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_failure_ratio: float | None = None
    min_rps: float | None = None

    def merged(self, override: Limits) -> Limits:
        """Return these limits with every field set in ``override`` replacing ours."""
        changes = {f.name: getattr(override, f.name) for f in fields(override) if getattr(override, f.name) is not None}
        return replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


LIMIT_FIELDS = tuple(f.name for f in fields(Limits))

# Used when no thresholds are given: a run "passes" when almost nothing failed and the
# ordinary endpoints answer within a second. Login is bcrypt-bound, so it gets more room.
DEFAULT_THRESHOLDS_DOC: dict[str, dict[str, float]] = {
    DEFAULT_KEY: {"p95_ms": 1000, "max_failure_ratio": 0.01},
    "POST /auth/login": {"p95_ms": 3000},
}


@dataclass(frozen=True)
class Thresholds:
    """Thresholds per endpoint (``"METHOD name"``), a ``*`` default and the whole-run ``total``."""

    default: Limits = field(default_factory=Limits)
    endpoints: Mapping[str, Limits] = field(default_factory=dict)
    total: Limits = field(default_factory=Limits)
    source: str = "built-in defaults"

    def for_endpoint(self, method: str, name: str) -> Limits:
        """The ``*`` limits overridden by the endpoint's own entry, if any."""
        own = self.endpoints.get(endpoint_key(method, name))
        return self.default.merged(own) if own else self.default


def endpoint_key(method: str, name: str) -> str:
    return f"{method} {name}"


def parse_thresholds(doc: Any, source: str = "<inline>") -> Thresholds:
    """Validate a loaded YAML/JSON document and build ``Thresholds``; raise ``ThresholdError`` on mistakes."""
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise ThresholdError(f"{source}: thresholds must be a mapping of endpoint -> limits, got {type(doc).__name__}")
    default = Limits()
    total = Limits()
    endpoints: dict[str, Limits] = {}
    for key, body in doc.items():
        if not isinstance(key, str):
            raise ThresholdError(f"{source}: endpoint key {key!r} must be a string like 'GET /posts/'")
        limits = _parse_limits(key, body, source)
        if key == DEFAULT_KEY:
            default = limits
        elif key == TOTAL_KEY:
            total = limits
        else:
            method, _, name = key.partition(" ")
            if method not in HTTP_METHODS or not name.startswith("/"):
                raise ThresholdError(
                    f"{source}: endpoint key {key!r} must be '*', '{TOTAL_KEY}' or 'METHOD /name' "
                    f"(METHOD one of {', '.join(sorted(HTTP_METHODS))})"
                )
            endpoints[key] = limits
    return Thresholds(default=default, endpoints=endpoints, total=total, source=source)


def _parse_limits(key: str, body: Any, source: str) -> Limits:
    if body is None:
        return Limits()
    if not isinstance(body, Mapping):
        raise ThresholdError(f"{source}: limits of {key!r} must be a mapping, got {body!r}")
    values: dict[str, float] = {}
    for name, value in body.items():
        if name not in LIMIT_FIELDS:
            raise ThresholdError(f"{source}: unknown field {name!r} in {key!r}; allowed: {', '.join(LIMIT_FIELDS)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ThresholdError(f"{source}: {key!r}.{name} must be a number, got {value!r}")
        if value < 0:
            raise ThresholdError(f"{source}: {key!r}.{name} must be >= 0, got {value!r}")
        if name == "max_failure_ratio" and value > 1:
            raise ThresholdError(f"{source}: {key!r}.max_failure_ratio is a ratio in 0-1, got {value!r}")
        values[name] = float(value)
    return Limits(**values)


def load_thresholds(spec: str | None) -> Thresholds:
    """Load thresholds from a file path or an inline YAML/JSON string (e.g. from LOADLAB_THRESHOLDS).

    An empty ``spec`` gives the built-in defaults. A value that is neither an existing file
    nor a mapping fails with the value named, so a typo in a path is not silently inline YAML.
    """
    if not spec or not spec.strip():
        return parse_thresholds(DEFAULT_THRESHOLDS_DOC, source="built-in defaults")
    if os.path.isfile(spec):
        try:
            with open(spec, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ThresholdError(f"{spec}: not valid YAML/JSON: {exc}") from exc
        return parse_thresholds(doc, source=spec)
    stripped = spec.strip()
    if stripped.startswith("{") or "\n" in stripped:
        try:
            doc = yaml.safe_load(stripped)
        except yaml.YAMLError as exc:
            raise ThresholdError(f"inline thresholds are not valid YAML/JSON: {exc}") from exc
        return parse_thresholds(doc, source="<inline>")
    raise ThresholdError(f"thresholds file {spec!r} does not exist (inline thresholds must start with '{{')")
