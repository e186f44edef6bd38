"""kip.audit over the zoo (issue 12): every keras.applications model and keras-hub backbone of
tests/zoo/catalog.py, built as its code builds it (no policy), audits without crashing; every
finding is a well-formed record about a weight the model has; the suggested policy lints clean.

Each model runs on the backend the catalogue assigns it to (``ZOO_FULL=1``: every backend).
"""

from __future__ import annotations

import gc
import os

import catalog
import keras
import pytest

import keras_initpolicy as kip
from keras_initpolicy.checks.diagnostics import CODES
from keras_initpolicy.runtime import hooks

pytestmark = [pytest.mark.zoo, pytest.mark.keras]

BACKEND = keras.backend.backend()
FULL = os.environ.get("ZOO_FULL", "") not in ("", "0")


def _entries():
    params = []
    for entry in catalog.MODELS:
        marks = []
        if not FULL and entry.backend != BACKEND:
            marks.append(pytest.mark.skip(reason=f"assigned to backend {entry.backend} in CI"))
        elif BACKEND in entry.cannot_build:
            reason = f"{entry.library} itself: {entry.cannot_build[BACKEND]}"
            marks.append(pytest.mark.skip(reason=reason))
        params.append(pytest.param(entry, id=entry.name, marks=marks))
    return params


@pytest.mark.parametrize("entry", _entries())
def test_audit_runs_on_every_zoo_model(entry):
    keras.backend.clear_session()
    gc.collect()
    model = entry.build()
    findings = kip.audit(model, source=entry.name)
    weights = {
        (layer.path or layer.name, variable.name)  # unbuilt: no path yet
        for layer in [model, *hooks.nested_layers(model)]
        for variable in hooks.own_weights(layer)
    }
    for f in findings:
        assert f.code in CODES and f.code.startswith("IP4")
        assert f.severity == CODES[f.code][0] and f.source == entry.name
        assert (f.layer_path, f.weight) in weights, f
    text = kip.suggest_policy(findings, model, source=entry.name)
    assert [d for d in kip.lint(text) if d.severity != "info"] == [], text
