"""The api.env schema generated from board.config.Settings accepts exactly what the API accepts (within plain decimal
notation), for every knob, and the lab and Helm read the same file."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from board.config import Settings
from loadlab import knobs, presets

SCHEMA = json.loads(presets.CHART_SCHEMA.read_text())
API_ENV = SCHEMA["properties"]["api"]["properties"]["env"]
# A valid base (a JWT secret; the smallest page default, so no page maximum trips the cross-field check).
BASE: dict[str, Any] = {
    "database_url": "postgresql+psycopg://u:p@127.0.0.1:1/db",
    "jwt_secret": "k" * 40,
    "page_default_limit": 1,
}


def _api_accepts(field: str, value: str) -> bool:
    try:
        Settings(**{**BASE, field: value})
    except ValidationError:
        return False
    return True


def _schema_accepts(name: str, value: str) -> bool:
    return jsonschema.Draft7Validator({"type": "object", **API_ENV}).is_valid({name: value})


def _samples(field: str) -> list[str]:
    """Values around every bound the field declares, plus a few that are not numbers at all."""
    info = Settings.model_fields[field]
    edges: list[float] = [0, 1, -1]
    for item in info.metadata:
        for key in ("ge", "gt", "le", "lt"):
            if hasattr(item, key):
                bound = getattr(item, key)
                edges += [bound - 1, bound, bound + 1, bound - 0.5, bound + 0.5]
    out = {str(int(e)) for e in edges if e == int(e)}
    if info.annotation is float:
        out |= {f"{e:g}" for e in edges} | {f"{e}.0" for e in edges if e == int(e)} | {"0.001"}
    return sorted(out) + ["", "ten", "1e3", "true"]


def test_the_chart_schema_has_every_knob_and_no_other():
    wired = {knobs.env_name(f) for f in knobs.WIRED}
    every = {knobs.env_name(f) for f in Settings.model_fields}
    assert set(API_ENV["properties"]) == every - wired
    assert API_ENV["additionalProperties"] is False
    assert API_ENV == knobs.api_env_schema(), "values.schema.json is stale: run tools/chart-docs.py"


@pytest.mark.parametrize("field", [f for f in Settings.model_fields if f not in knobs.WIRED])
def test_the_schema_agrees_with_the_api_on_every_knob(field):
    name = knobs.env_name(field)
    annotation = Settings.model_fields[field].annotation
    if annotation is bool:
        samples = ["true", "false", "TRUE", "1", "yes", "maybe", ""]
    elif annotation in (int, float):
        samples = _samples(field)
    else:
        samples = [str(v) for v in getattr(annotation, "__args__", ())] + ["nope", ""]
    disagree = []
    for value in samples:
        schema, api = _schema_accepts(name, value), _api_accepts(field, value)
        # The schema may be stricter than pydantic (plain decimals, lower-case true/false), never looser.
        if schema and not api:
            disagree.append(f"{value!r}: schema accepts, the API refuses")
        if api and not schema and not _exotic(value, annotation) and field not in knobs.FIXED:
            disagree.append(f"{value!r}: the API accepts, the schema refuses")
    assert not disagree, f"{name}: " + "; ".join(disagree)


def test_fixed_knobs_allow_their_one_value_only():
    """Dev mode is never deployed: the chart's schema (and so every preset) allows BOARD_DEV_MODE=false alone."""
    assert knobs.FIXED == {"dev_mode": "false"}
    assert _schema_accepts("BOARD_DEV_MODE", "false") and not _schema_accepts("BOARD_DEV_MODE", "true")


def _exotic(value: str, annotation: object) -> bool:
    """Spellings pydantic takes that the schema leaves out on purpose (1e3, TRUE, yes, ...)."""
    if annotation is bool:
        return value not in ("true", "false")
    plain = r"-?\d+" if annotation is int else r"-?\d+(\.\d+)?"
    return annotation in (int, float) and not re.fullmatch(plain, value)


@pytest.mark.parametrize(("lo", "hi"), [(4, 31), (-1, 100_000), (0, 19), (1, None), (1024, 67_108_864), (7, 7)])
def test_int_pattern_matches_exactly_the_range(lo, hi):
    pattern = re.compile(f"^(?:{knobs.int_pattern(lo, hi)})$")
    top = hi if hi is not None else lo + 20_000
    window = range(min(lo, 0) - 30, min(top, 200_000) + 3000)
    wrong = [n for n in window if bool(pattern.match(str(n))) != (n >= lo and (hi is None or n <= hi))]
    assert not wrong, wrong[:10]
    assert not pattern.match(f"0{lo}") or lo == 0, "no leading zeros"


def test_decimal_pattern_bounds():
    pattern = re.compile(f"^(?:{knobs.decimal_pattern('x', {'gt': 0, 'le': 300})})$")
    assert all(pattern.match(v) for v in ("0.5", "0.001", "1", "2.75", "299.999", "300", "300.0"))
    assert not any(pattern.match(v) for v in ("0", "0.0", "-1", "300.01", "301", "1e2", ".5", "5."))


def test_the_lab_refuses_what_helm_refuses(tmp_path):
    """The statement-cache rule behind PgBouncer, from the schema's rules, in the lab."""
    path = tmp_path / "preset.yaml"
    path.write_text("api:\n  env:\n    BOARD_DB_STATEMENT_CACHE: 'true'\npgbouncer:\n  enabled: true\n")
    with pytest.raises(presets.PresetError, match="BOARD_DB_STATEMENT_CACHE"):
        presets.load(str(path))
    path.write_text("api:\n  env:\n    BOARD_DB_STATEMENT_CACHE: 'true'\npgbouncer:\n  enabled: false\n")
    assert presets.load(str(path)).env["BOARD_DB_STATEMENT_CACHE"] == "true"
    path.write_text("api:\n  env:\n    BOARD_BCRYPT_ROUNDS: '32'\n")
    with pytest.raises(presets.PresetError, match="BOARD_BCRYPT_ROUNDS.*<= 31"):
        presets.load(str(path))
