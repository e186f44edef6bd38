"""Stand-in for the `conftest.py` of Keras's repository, plus the policy scope of a conformance run.

Loaded by tools/keras_conformance/run.py as `pytest -p conftest` with this folder on PYTHONPATH,
because some Keras test modules do `from conftest import skip_if_backend`. What Keras's own
`conftest.py` provides, rewritten here: the import order (torch before TensorFlow), 32-bit JAX
defaults, the markers `requires_trainable_backend` and `multi_device`, and `skip_if_backend`.

What this adds (environment variables, set by run.py):

- ``KIP_CONFORMANCE_POLICY``: policy text; every test runs inside ``kip.parse(text).scope()``
  (an autouse fixture, so setUp and tearDown of Keras's unittest classes run inside it too).
  Unset or empty: the plain run, no scope, and this package is not even imported.
- ``KIP_CONFORMANCE_REPORT``: a JSON-lines file receiving one line per test as it starts and
  one per finished phase, so a run killed by the per-test timeout still says which test hung.
- ``KIP_CONFORMANCE_TIMEOUT``: seconds one test may take before faulthandler prints every
  thread's stack and ends the process (default 600).
"""

from __future__ import annotations

import faulthandler
import json
import os

# As Keras's conftest.py: keep JAX's default dtype at 32 bits under `enable_x64`, and import
# torch before TensorFlow (the other order can segfault).
os.environ.setdefault("JAX_DEFAULT_DTYPE_BITS", "32")
try:
    import torch  # noqa: F401
except ImportError:
    torch = None

import pytest  # noqa: E402
from keras.src.backend import backend  # noqa: E402

# The real stderr, kept before pytest captures fd 2 (`-p` plugins load first): faulthandler's
# stacks of a hung test must reach the log, not a capture file lost with the process.
_STDERR = os.fdopen(os.dup(2), "w")

POLICY_TEXT = os.environ.get("KIP_CONFORMANCE_POLICY", "").strip()
REPORT = os.environ.get("KIP_CONFORMANCE_REPORT")
TIMEOUT = float(os.environ.get("KIP_CONFORMANCE_TIMEOUT", "600"))


def skip_if_backend(given_backend, reason):
    """Keras's helper: `@skip_if_backend("openvino", "why")`."""
    return pytest.mark.skipif(backend() == given_backend, reason=reason)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "requires_trainable_backend: mark test for trainable backend only"
    )
    config.addinivalue_line("markers", "multi_device: needs several devices")
    config.addinivalue_line("markers", "keras_conformance_known: listed in known_failures.txt")


def pytest_collection_modifyitems(config, items):
    requires_trainable_backend = pytest.mark.skipif(
        backend() in ("numpy", "openvino"),
        reason="Trainer not implemented for NumPy and OpenVINO backend.",
    )
    for item in items:
        if "requires_trainable_backend" in item.keywords:
            item.add_marker(requires_trainable_backend)


# -- the policy scope -----------------------------------------------------------------------

_policy = None
if POLICY_TEXT:
    import keras_initpolicy as kip

    # Parsed once, at start-up: a policy that does not parse stops the run before any test.
    _policy = kip.parse(POLICY_TEXT, source="<KIP_CONFORMANCE_POLICY>")


def _write(record: dict) -> None:
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


@pytest.fixture(autouse=True)
def _kip_policy_scope(request):
    if _policy is None:
        yield
        return
    scope = _policy.scope()
    with scope:
        yield
    # Weights the scope saw: run.py checks that a scope run saw some (so it did apply).
    _write({"nodeid": request.node.nodeid, "weights": getattr(scope.state, "weights", None)})


# -- per-test records and the timeout --------------------------------------------------------


def pytest_runtest_logstart(nodeid, location):
    _write({"nodeid": nodeid, "start": True})
    faulthandler.dump_traceback_later(TIMEOUT, exit=True, file=_STDERR)


def pytest_runtest_logfinish(nodeid, location):
    faulthandler.cancel_dump_traceback_later()


def pytest_unconfigure(config):
    _STDERR.close()


def _error_line(text: str) -> str:
    """The exception and, for a numeric mismatch, its size: enough to tell causes apart."""
    lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    picked = [line for line in lines if "Error" in line or "Mismatch" in line][:2]
    return " / ".join(picked or lines[-1:] or text.strip().splitlines()[-1:])[:300]


def pytest_collectreport(report):
    if report.failed:  # a module that does not import: one "test", its error, in every run
        _write(
            {
                "nodeid": report.nodeid,
                "when": "collect",
                "outcome": "failed",
                "error": _error_line(report.longreprtext),
            }
        )


def pytest_runtest_logreport(report):
    outcome = report.outcome
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    record = {"nodeid": report.nodeid, "when": report.when, "outcome": outcome}
    if report.failed:
        record["error"] = _error_line(report.longreprtext)
    _write(record)
