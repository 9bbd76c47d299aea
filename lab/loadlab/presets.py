"""Presets: the Helm chart's values files (`helm/loadlab/presets/*.yaml`), read by the lab too.

The lab uses only the part of a preset that describes the system under test: the API's `env` map (passed
verbatim, as the chart does), whether PgBouncer sits in front of Postgres (and its pool size), and whether Redis
backs the cache. The whole preset, merged over the chart's defaults, must pass the chart's own schema (every
BOARD_* knob with its type and bounds, the statement-cache rule behind PgBouncer), so a typo fails here with the
message `helm install` would give, before any process starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from loadlab.commands import REPO_ROOT

PRESET_DIR = REPO_ROOT / "helm" / "loadlab" / "presets"
CHART_SCHEMA = REPO_ROOT / "helm" / "loadlab" / "values.schema.json"
CHART_VALUES = REPO_ROOT / "helm" / "loadlab" / "values.yaml"
#: Lab service -> the chart values holding its pod's `resources` (`loadlab run --cpus chart`).
RESOURCES_OF = {
    "api": "api",
    "postgres": "postgresql",
    "postgres-exporter": "postgresql.exporter",
    "pgbouncer": "pgbouncer",
    "pgbouncer-exporter": "pgbouncer.exporter",
    "redis": "redis",
    "redis-exporter": "redis.exporter",
    "prometheus": "prometheus",
}


class PresetError(ValueError):
    """A preset that cannot be used; the message names the file, the key and the value."""


@dataclass(frozen=True)
class Preset:
    name: str
    path: Path
    env: dict[str, str] = field(default_factory=dict)
    pgbouncer: bool = True
    pgbouncer_pool_size: int = 20
    redis: bool = True
    #: API processes (the chart's `api.workers`, BOARD_WORKERS); 0: the CPUs the API may use.
    workers: int = 0

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "env": self.env,
            "pgbouncer": self.pgbouncer,
            "pgbouncer_pool_size": self.pgbouncer_pool_size,
            "redis": self.redis,
            "workers": self.workers,
        }

    def api_env(self) -> dict[str, str]:
        """The API's environment as the chart sets it from this preset: `api.env`, and `api.workers` if set."""
        return {**self.env, **({"BOARD_WORKERS": str(self.workers)} if self.workers else {})}


def available() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def resolve(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = PRESET_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    raise PresetError(f"no preset {name_or_path!r}: give a file or one of {', '.join(available())}")


def load(name_or_path: str) -> Preset:
    path = resolve(name_or_path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise PresetError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise PresetError(f"{path}: a preset is a mapping of values, got {type(values).__name__}")
    if not CHART_SCHEMA.exists():
        raise PresetError(f"{CHART_SCHEMA} is missing: the lab checks presets with the chart's schema")
    _check_against_chart_schema(path, values)
    return _from_values(path, values)


def _check_against_chart_schema(path: Path, values: dict[str, Any]) -> None:
    """Validate the preset the way `helm install -f preset` does: merged over the chart's defaults, against the
    chart's `values.schema.json` (unknown keys, types, every BOARD_* knob's bounds, the rules across values)."""
    import json

    import jsonschema

    schema = json.loads(CHART_SCHEMA.read_text())
    merged = _merge(yaml.safe_load(CHART_VALUES.read_text()), values)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(merged), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [_describe_error(e) for e in errors]
        raise PresetError(f"{path}: rejected by the chart's values schema:\n" + "\n".join(lines))


def _merge(base: Any, override: Any) -> Any:
    """Helm's merge of a values file over the defaults: maps merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override


def _describe_error(error: Any) -> str:
    """One line per problem; an `allOf` rule is reported as its inner failures, a knob with its bounds in words."""
    leaves = [e for e in error.context] if error.context else [error]
    out = []
    for leaf in leaves:
        where = ".".join(map(str, leaf.absolute_path)) or "(top)"
        hint = leaf.schema.get("description") if isinstance(leaf.schema, dict) else None
        out.append(f"  {where}: {leaf.message}" + (f" ({hint})" if hint and leaf.validator == "pattern" else ""))
    return "\n".join(out)


def _from_values(path: Path, values: dict[str, Any]) -> Preset:
    """The lab's part of a preset; the schema has checked every type and bound already."""
    env = values.get("api", {}).get("env", {}) or {}
    _check_settings(path, env)
    pgb = values.get("pgbouncer", {})
    return Preset(
        name=path.stem,
        path=path,
        env=dict(env),
        pgbouncer=pgb.get("enabled", True),
        pgbouncer_pool_size=pgb.get("poolSize", 20),
        redis=values.get("redis", {}).get("enabled", True),
        workers=values.get("api", {}).get("workers", 0),
    )


def chart_values(preset: Preset) -> dict[str, Any]:
    """The values the chart installs with this preset: its defaults (values.yaml) with the preset merged over."""
    defaults, preset_values = yaml.safe_load(CHART_VALUES.read_text()), yaml.safe_load(preset.path.read_text())
    values: dict[str, Any] = _merge(defaults, preset_values or {})
    return values


def cpu_limits(preset: Preset) -> dict[str, float]:
    """Each lab service's CPU limit as the chart gives its pod (`resources.limits.cpu`), in CPUs; services whose
    pod has none are left out."""
    from loadlab.cpulimit import parse_cpus

    values = chart_values(preset)
    limits: dict[str, float] = {}
    for service, path in RESOURCES_OF.items():
        node: Any = values
        for key in [*path.split("."), "resources", "limits"]:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict) and node.get("cpu") not in (None, ""):
            limits[service] = parse_cpus(str(node["cpu"]))
    return limits


def _check_settings(path: Path, env: dict[str, str]) -> None:
    """What a schema cannot say: the API's own checks across knobs (e.g. page default <= page maximum)."""
    from pydantic import ValidationError

    from board.config import Settings

    probe = {"BOARD_DATABASE_URL": "postgresql+psycopg://u:p@127.0.0.1:1/db", "BOARD_DEV_MODE": "true", **env}
    try:
        fields: dict[str, Any] = {k.removeprefix("BOARD_").lower(): v for k, v in probe.items()}
        Settings(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"BOARD_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise PresetError(f"{path}: api.env rejected: {problems}") from exc
