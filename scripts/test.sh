#!/usr/bin/env bash
# Install hamlearn with its test extras into ./.venv (created if missing) and run the
# default test suite (everything not marked slow). Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m slow` for the slow set.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
exec .venv/bin/python -m pytest "$@"
