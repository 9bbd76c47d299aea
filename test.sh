#!/usr/bin/env bash
# The test suite: installs what is missing, checks lint, format and types, then runs every test (unit, integration on real services, chart, e2e).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh test
export PATH="$PWD/.tools/bin:$PATH"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Types ([tool.mypy] in pyproject.toml): --strict over service/, lab/, locust/loadsuite; tests/, tools/, the locustfile
# and grafana/build.py are checked too, with untyped defs allowed (their bodies still checked).
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
