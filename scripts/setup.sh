# Shared by scripts/demo and scripts/test: a venv with rv-jupyter and its test tools,
# and the local mini-Rivanna up. Sourced, not run; leaves RV_CONFIG and PY set.
# shellcheck shell=bash
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

if [ "$(id -u)" != 0 ]; then
    echo "The local mini-Rivanna needs root to set up (packages, network namespaces): run with sudo." >&2
    exit 1
fi

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "setup: installing python3-venv" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
PY=$top/.venv/bin/python
# The Lab extension's build needs Node (the wheel a user installs has it prebuilt).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing nodejs and npm" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# Reinstall only when the project's metadata changed since the last install.
stamp=.venv/.rv-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$PY" -m pip install -q --disable-pip-version-check -e '.[dev]'
    touch "$stamp"
fi

scripts/build-lab "$top/.venv"

RV_CONFIG=$(tests/cluster/up | tail -1)
export RV_CONFIG
