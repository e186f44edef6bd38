"""The Keras conformance run (marker `conformance`) runs only when asked for by name.

It takes minutes (four pytest runs of Keras's own tests, tools/keras_conformance/run.py), so
tools/test.sh runs it once, as its own stage: `KERAS_BACKEND=torch pytest -m conformance`. Any
other selection (`-m keras`, `-m "not keras"`, no `-m`) deselects it, and pytest counts it among
the deselected.
"""

from __future__ import annotations


def pytest_collection_modifyitems(config, items):
    if "conformance" in (config.option.markexpr or ""):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("conformance") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
