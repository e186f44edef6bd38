#!/usr/bin/env bash
# Install into ./.venv and run the main job: build a CNN under an example policy and print
# what the policy chose for every weight, and why.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[tensorflow]"

export KERAS_BACKEND="${KERAS_BACKEND:-tensorflow}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"  # keep TensorFlow's start-up chatter out of the table
.venv/bin/initpolicy lint examples/policies/
.venv/bin/initpolicy explain examples/policies/cnn.initpolicy --model examples.models:cnn
