#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for board-loadlab, then nothing more: safe to run again.
#   scripts/bootstrap.sh lab    -> apt services + .venv with the lab's extras
#   scripts/bootstrap.sh test   -> the same + test tools (helm, checkov)
# Works as root or as a user with sudo. Pinned by constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-test}"

APT_PACKAGES=(postgresql-15 pgbouncer redis-server prometheus prometheus-postgres-exporter prometheus-redis-exporter
  python3 python3-venv make curl ca-certificates)
# The tests open the lab's report page in a real headless browser.
[ "$profile" = "test" ] && APT_PACKAGES+=(chromium)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# python3-venv is Debian's split-out venv module; a Python that already has venv (pyenv, a container) needs none.
if python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=("${missing[@]/python3-venv}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: apt-get install ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  # Debian starts redis/prometheus/postgres services on install; the lab never uses them (it picks free ports).
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "bootstrap: Python >= 3.11 needed" >&2; exit 1; }
extras="lab"
[ "$profile" = "test" ] && extras="test"
stamp=".venv/.installed-$extras-$(cat pyproject.toml locust/pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  # pip's output (hundreds of lines, index warnings) goes to a log; a failure prints its end.
  pip_log=".venv/bootstrap-pip.log"
  : >"$pip_log"
  pip_install() {
    .venv/bin/python -m pip install -q "$@" >>"$pip_log" 2>&1 || {
      echo "bootstrap: pip install $* failed; the end of $pip_log:" >&2
      tail -n 40 "$pip_log" >&2
      exit 1
    }
  }
  echo "bootstrap: installing the Python packages ($extras) into .venv (log: $pip_log)"
  pip_install --upgrade pip
  pip_install -c constraints.txt -e ".[$extras]"
  # The load suite's own package (loadsuite: the plugin the lab and any locustfile use).
  pip_install -c constraints.txt -e ./locust
  rm -f .venv/.installed-"$extras"-*
  touch "$stamp"
fi

if [ "$profile" = "test" ]; then
  [ -x tools/install-helm.sh ] && tools/install-helm.sh
  [ -x tools/install-checkov.sh ] && tools/install-checkov.sh
fi
echo "bootstrap: ready ($profile)"
