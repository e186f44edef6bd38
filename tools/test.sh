#!/usr/bin/env bash
# Install everything into ./.venv and run the whole test suite: ruff, the backend-independent
# tests once, the Keras tests (marker `keras`, see tests/conftest.py) under every backend, then
# the Keras conformance run (marker `conformance`) on torch.
# This is the README's test command and exactly what CI (.ci/run) runs.
#
#   bash tools/test.sh                      # everything
#   BACKENDS="jax torch" bash tools/test.sh # a subset of backends
#   KERAS_CONFORMANCE_FULL=1 bash tools/test.sh  # conformance: all Keras tests, every backend
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
BACKENDS="${BACKENDS:-tensorflow jax torch}"
# torch is pinned: this exact version is the one CI has a wheel for.
TORCH_REQUIREMENT="torch==2.13.0"

header() {
  echo
  echo "======================================================================"
  echo "== $*"
  echo "======================================================================"
}

header "install into .venv"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]" "$TORCH_REQUIREMENT"

header "ruff"
.venv/bin/ruff check .
# Python only: Markdown code blocks (README, docs/) keep their aligned comments
.venv/bin/ruff format --check --extend-exclude "*.md" .

failed=()
run_pytest() {
  local name="$1"
  shift
  local start=$SECONDS
  if "$@"; then
    echo "-- $name: passed in $((SECONDS - start)) s"
  else
    echo "-- $name: FAILED (exit $?) after $((SECONDS - start)) s"
    failed+=("$name")
  fi
}

header "backend-independent tests (pytest -m 'not keras')"
run_pytest "backend-independent" .venv/bin/python -m pytest -q -m "not keras"

for backend in $BACKENDS; do
  header "Keras tests, KERAS_BACKEND=$backend (pytest -m keras)"
  run_pytest "KERAS_BACKEND=$backend" \
    env KERAS_BACKEND="$backend" .venv/bin/python -m pytest -q -m keras --durations=15
done

# Keras's own tests inside policy scopes, compared with the run without a scope (marker
# `conformance`, docs/conformance.md): the CI subset on torch; KERAS_CONFORMANCE_FULL=1 runs every
# test module of the Keras wheel on every backend of $BACKENDS instead (opt-in: hours).
if [ "${KERAS_CONFORMANCE_FULL:-0}" = 1 ]; then
  conformance_backends="$BACKENDS"
else
  case " $BACKENDS " in
    *" torch "*) conformance_backends=torch ;;
    *) conformance_backends="" ;;
  esac
fi
for backend in $conformance_backends; do
  header "Keras conformance run, KERAS_BACKEND=$backend (pytest -m conformance)"
  run_pytest "conformance KERAS_BACKEND=$backend" \
    env KERAS_BACKEND="$backend" .venv/bin/python -m pytest -q -s -m conformance tests/keras_conformance
done

header "summary"
if [ ${#failed[@]} -ne 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all passed: backend-independent + Keras on: $BACKENDS + conformance on: ${conformance_backends:-none}"
