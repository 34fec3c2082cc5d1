#!/usr/bin/env bash
# Fresh machine -> trained model: create ./.venv, install hamlearn, generate a small real
# dataset with pyscf (configs/quickstart.yaml), train, evaluate. Re-running reuses the
# pyscf cache and the venv. Extra arguments go to scripts/train.py (e.g. --set train.epochs=5).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
export MPLBACKEND=${MPLBACKEND:-Agg}
RUN=${RUN:-runs/quickstart}
.venv/bin/python scripts/generate_data.py --config configs/quickstart.yaml
.venv/bin/python scripts/train.py --config configs/quickstart.yaml --workdir "$RUN" "$@"
.venv/bin/python scripts/evaluate.py --run "$RUN"
