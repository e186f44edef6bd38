"""Splits the suite into backend-independent tests and Keras tests (marker `keras`).

CI (tools/test.sh) runs `-m "not keras"` once and `-m keras` under every Keras backend.

A test is a Keras test when it is marked `keras` explicitly, or when its module imports Keras
anywhere (`import keras`, `from keras ...`, `pytest.importorskip("keras...")`, also inside
functions or in model sources written to disk). The scan is deliberately generous: a false
positive only runs a test three times. A false negative would hide a backend failure, so an
unmarked test that imports Keras fails loudly and asks to be marked.
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

import pytest

_IMPORTS_KERAS = re.compile(
    r"""^\s*(?:import\s+keras\b|from\s+keras\b[\s.])|importorskip\(\s*["']keras\b(?!_)""",
    re.MULTILINE,
)


@functools.cache
def module_uses_keras(path: str) -> bool:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return False
    return _IMPORTS_KERAS.search(text) is not None


def _keras_loaded() -> bool:
    return sys.modules.get("keras") is not None


def _backend_independent_run(config) -> bool:
    return " ".join((config.option.markexpr or "").split()) == "not keras"


def pytest_ignore_collect(collection_path, config):
    # Every test of such a module is a Keras test: in the backend-independent run, do not even
    # import it, so that Keras stays unloaded and the check below can see who loads it.
    if _backend_independent_run(config) and collection_path.suffix == ".py":
        if collection_path.name.startswith("test_") and module_uses_keras(str(collection_path)):
            return True
    return None


_loaded_keras_at_import: list[str] = []


def pytest_collectreport(report):
    if not _loaded_keras_at_import and _keras_loaded():
        _loaded_keras_at_import.append(report.nodeid)


def pytest_collection_modifyitems(config, items):
    if _backend_independent_run(config) and _loaded_keras_at_import:
        raise pytest.UsageError(
            f"{_loaded_keras_at_import[0]} imports Keras when collected but is not recognised as "
            "a Keras test module; add `pytestmark = pytest.mark.keras` to it."
        )
    for item in items:
        if item.get_closest_marker("keras") is None and module_uses_keras(str(item.path)):
            item.add_marker(pytest.mark.keras)


@pytest.fixture(autouse=True)
def _unmarked_tests_do_not_import_keras(request):
    """An unmarked test runs once, under one backend: it must not use Keras."""
    before = _keras_loaded()
    yield
    if request.node.get_closest_marker("keras") is None and not before and _keras_loaded():
        pytest.fail(
            f"{request.node.nodeid} imported Keras but is not a Keras test, so CI would run it "
            "under one backend only; mark it with `pytest.mark.keras`.",
            pytrace=False,
        )
