#!/usr/bin/env bash
# Install checkov into its own virtualenv, .tools/checkov-venv (git-ignored).
# checkov pins many dependencies of its own; keeping it out of .venv keeps constraints.txt ours.
# Idempotent: does nothing when the venv already has the pinned version.
# Usage: bash tools/install-checkov.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.tools/checkov-venv"
REQ="$ROOT/tools/checkov-requirements.txt"
WANT="$(grep -E '^checkov==' "$REQ" | head -1 | cut -d= -f3)"

if [[ -x "$VENV/bin/checkov" ]] && [[ "$("$VENV/bin/checkov" --version 2>/dev/null)" == "$WANT" ]]; then
  echo "install-checkov: checkov $WANT already in $VENV"
  exit 0
fi

PY="${PYTHON:-python3}"
mkdir -p "$ROOT/.tools"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet -r "$REQ"
echo "install-checkov: $("$VENV/bin/checkov" --version) in $VENV"
