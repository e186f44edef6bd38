#!/usr/bin/env bash
# Install everything into ./.venv and run the whole test suite: ruff, the backend-independent
# tests once, the Keras tests (marker `keras`, see tests/conftest.py) under every backend, then
# the Keras conformance run (marker `conformance`) on torch.
# This is the README's test command and exactly what CI (.ci/run) runs.
#
#   bash tools/test.sh                      # everything
#   BACKENDS="jax torch" bash tools/test.sh # a subset of backends
#   KERAS_CONFORMANCE_FULL=1 bash tools/test.sh  # conformance: all Keras tests, every backend
#   TEST_JOBS=1 bash tools/test.sh          # the pytest runs one at a time (default: 2 at once)
#   CONSTRAINTS=none bash tools/test.sh     # the newest releases, not tools/constraints.txt's
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
# Keras, the backends and ruff at the versions the suite was last run green with
# (tools/constraints.txt says why); CONSTRAINTS=none installs the newest releases instead.
CONSTRAINTS="${CONSTRAINTS:-tools/constraints.txt}"
PINS=()
if [ "$CONSTRAINTS" != none ]; then
  PINS=(--constraint "$CONSTRAINTS")
fi
.venv/bin/python -m pip install --quiet -e ".[test]" "$TORCH_REQUIREMENT" ${PINS[@]+"${PINS[@]}"}

header "ruff"
.venv/bin/ruff check .
# Python only: Markdown code blocks (README, docs/) keep their aligned comments
.venv/bin/ruff format --check --extend-exclude "*.md" .

# The backend-independent tests and the Keras tests of each backend are separate pytest runs,
# each mostly one busy core: $TEST_JOBS of them run side by side (default 2, the CI machine's
# cores), longest first, each into its own log, printed in order when all are done. TEST_JOBS=1
# runs them one after another. Every run has its own --basetemp, and no pytest cache is written.
TEST_JOBS="${TEST_JOBS:-2}"
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/kip-tests.XXXXXX")"
trap 'rm -rf "$LOGS"' EXIT
export LOGS

step_name() { # step_name <slug>: keras-jax -> KERAS_BACKEND=jax
  case "$1" in
    keras-*) echo "KERAS_BACKEND=${1#keras-}" ;;
    *) echo "$1" ;;
  esac
}
export -f step_name

run_step() { # run_step <keras BACKEND | backend-independent>: never fails, writes <slug>.status
  local all="$*" name start
  local slug="${all// /-}"
  name="$(step_name "$slug")"
  if [ "$1" = backend-independent ]; then
    set -- .venv/bin/python -m pytest -q -m "not keras"
  else
    set -- env KERAS_BACKEND="$2" .venv/bin/python -m pytest -q -m keras --durations=15
  fi
  echo "-- $name: started"
  start=$SECONDS
  if "$@" -p no:cacheprovider --basetemp="$LOGS/$slug.tmp" >"$LOGS/$slug.log" 2>&1; then
    echo "passed in $((SECONDS - start)) s" >"$LOGS/$slug.status"
  else
    echo "FAILED (exit $?) after $((SECONDS - start)) s" >"$LOGS/$slug.status"
  fi
  rm -rf "$LOGS/$slug.tmp"
  echo "-- $name: $(cat "$LOGS/$slug.status")"
}
export -f run_step

for backend in $BACKENDS; do
  case "$backend" in
    tensorflow | jax | torch) ;;
    *)
      echo "BACKENDS: unknown backend '$backend' (allowed: tensorflow jax torch)" >&2
      exit 2
      ;;
  esac
done
steps=()
for backend in jax tensorflow torch; do # longest first
  case " $BACKENDS " in *" $backend "*) steps+=("keras $backend") ;; esac
done
steps+=("backend-independent")

header "pytest: backend-independent tests (-m 'not keras'), Keras tests (-m keras) on: $BACKENDS; $TEST_JOBS at a time"
printf '%s\n' "${steps[@]}" | xargs -P "$TEST_JOBS" -I{} bash -c 'run_step {}'

failed=()
for slug in "backend-independent" $(for b in $BACKENDS; do echo "keras-$b"; done); do
  name="$(step_name "$slug")"
  header "$name"
  cat "$LOGS/$slug.log" || true
  status="$(cat "$LOGS/$slug.status" 2>/dev/null || echo "did not finish")"
  echo "-- $name: $status"
  case "$status" in passed*) ;; *) failed+=("$name") ;; esac
done

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
