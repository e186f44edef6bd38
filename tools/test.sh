#!/usr/bin/env bash
# Install everything into ./.venv and run the whole test suite (lint + tests).
# This is the README's test command and exactly what CI (.ci/run) runs.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== pytest (KERAS_BACKEND=tensorflow)"
KERAS_BACKEND=tensorflow .venv/bin/python -m pytest -q
