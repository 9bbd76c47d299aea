"""Presets: the Helm chart's values files (`helm/loadlab/presets/*.yaml`), read by the lab too.

The lab uses only the part of a preset that describes the system under test: the API's `env` map (passed
verbatim, as the chart does), whether PgBouncer sits in front of Postgres (and its pool size), and whether Redis
backs the cache. Anything else the chart knows is accepted only if the chart's own schema accepts it, so a
typo fails here with the same message shape as `helm install` would give, before any process starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from loadlab.commands import REPO_ROOT

PRESET_DIR = REPO_ROOT / "helm" / "loadlab" / "presets"
CHART_SCHEMA = REPO_ROOT / "helm" / "loadlab" / "values.schema.json"
LAB_KEYS = {"api": {"env"}, "pgbouncer": {"enabled", "poolSize"}, "redis": {"enabled"}}


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

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "env": self.env, "pgbouncer": self.pgbouncer,
                "pgbouncer_pool_size": self.pgbouncer_pool_size, "redis": self.redis}  # fmt: skip


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
    _check_against_chart_schema(path, values)
    return _from_values(path, values)


def _check_against_chart_schema(path: Path, values: dict[str, Any]) -> None:
    """Validate with the chart's `values.schema.json` (unknown keys, types) when the chart ships one."""
    if not CHART_SCHEMA.exists():
        return
    import json

    import jsonschema

    schema = json.loads(CHART_SCHEMA.read_text())
    # A preset is a partial values file: check each key it sets, not the chart's required ones.
    schema = _without_required(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(values), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors]
        raise PresetError(f"{path}: rejected by the chart's values schema:\n" + "\n".join(lines))


def _without_required(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return node


def _from_values(path: Path, values: dict[str, Any]) -> Preset:
    for section, keys in LAB_KEYS.items():
        sub = values.get(section, {})
        if not isinstance(sub, dict):
            raise PresetError(f"{path}: {section} must be a mapping, got {sub!r}")
        if not CHART_SCHEMA.exists():
            unknown = set(values) - set(LAB_KEYS) or set(sub) - keys
            if unknown:
                raise PresetError(f"{path}: unknown key(s) {sorted(unknown)}")
    env = values.get("api", {}).get("env", {}) or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise PresetError(f"{path}: api.env must map names to strings (quote numbers), got {env!r}")
    _check_api_env(path, env)
    pgb = values.get("pgbouncer", {})
    pool_size = pgb.get("poolSize", 20)
    if not isinstance(pool_size, int) or isinstance(pool_size, bool) or pool_size < 1:
        raise PresetError(f"{path}: pgbouncer.poolSize must be a positive integer, got {pool_size!r}")
    return Preset(
        name=path.stem,
        path=path,
        env=dict(env),
        pgbouncer=_flag(path, "pgbouncer.enabled", pgb.get("enabled", True)),
        pgbouncer_pool_size=pool_size,
        redis=_flag(path, "redis.enabled", values.get("redis", {}).get("enabled", True)),
    )


def _flag(path: Path, key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise PresetError(f"{path}: {key} must be true or false, got {value!r}")
    return value


def _check_api_env(path: Path, env: dict[str, str]) -> None:
    """Every name must be a knob of `board.config.Settings` and every value one it accepts."""
    from pydantic import ValidationError

    from board.config import Settings

    known = {f"BOARD_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(set(env) - known)
    if unknown:
        raise PresetError(f"{path}: api.env has unknown knob(s) {unknown}; known: {sorted(known)}")
    probe = {"BOARD_DATABASE_URL": "postgresql+asyncpg://u:p@127.0.0.1:1/db", "BOARD_DEV_MODE": "true", **env}
    try:
        Settings(**{k.removeprefix("BOARD_").lower(): v for k, v in probe.items()})
    except ValidationError as exc:
        problems = "; ".join(f"BOARD_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise PresetError(f"{path}: api.env rejected: {problems}") from exc
