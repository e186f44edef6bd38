"""Keras's own tests inside policy scopes give exactly the outcomes of the run without a scope.

Runs tools/keras_conformance/run.py (see docs/conformance.md) under this process's
KERAS_BACKEND: the CI subset, or every test module of the Keras wheel with
KERAS_CONFORMANCE_FULL=1. Selected only by `-m conformance` (see conftest.py beside this file).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.conformance, pytest.mark.slow]

RUN = Path(__file__).resolve().parents[2] / "tools" / "keras_conformance" / "run.py"


def test_keras_tests_pass_and_fail_alike_inside_policy_scopes():
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    cmd = [sys.executable, str(RUN), "--backend", backend]
    if os.environ.get("KERAS_CONFORMANCE_FULL") == "1":
        cmd.append("--full")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    print(proc.stdout)  # the runs' times and counts, shown with -s or on failure
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-5000:]
