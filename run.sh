#!/usr/bin/env bash
# The local lab: installs what is missing, then runs the whole stack and a distributed test, and writes a report.
# Any argument goes to `loadlab run` (see `.venv/bin/loadlab run --help`).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh lab
exec .venv/bin/loadlab run "$@"
