"""Every entry point that takes "a policy or a path" takes it the same way (``policy.as_policy``):
a ``Policy``, a ``str`` or a ``pathlib.Path``; anything else is the same clear ``TypeError``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import keras_initpolicy as kip  # noqa: E402
from keras_initpolicy.analysis.diagnose import diagnose  # noqa: E402

pytestmark = pytest.mark.keras

TEXT = "@seed 0\nDense -> he_normal\n*.bias -> zeros\n"
FORMS = {"str": str, "Path": Path, "Policy": kip.load}


def build():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu")])


@pytest.fixture
def policy_file(tmp_path) -> Path:
    path = tmp_path / "team.initpolicy"
    path.write_text(TEXT)
    return path


@pytest.mark.parametrize("form", FORMS, ids=list(FORMS))
def test_audit(policy_file, form):
    with kip.load(policy_file).scope():
        model = build()
    found = kip.audit(model, FORMS[form](policy_file))
    assert [f.code for f in found if f.severity != "info"] == []


@pytest.mark.parametrize("form", FORMS, ids=list(FORMS))
def test_diagnose(policy_file, form):
    report = diagnose(FORMS[form](policy_file), build, compare=FORMS[form](policy_file), batch=4)
    assert [run.name for run in report.runs] == ["team", "team-2"]


@pytest.mark.parametrize("form", FORMS, ids=list(FORMS))
def test_apply_policy(policy_file, form):
    model = kip.apply_policy(FORMS[form](policy_file))(build)()
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
    with kip.load(policy_file).scope():
        again = build()
    assert np.array_equal(kernel, keras.ops.convert_to_numpy(again.layers[0].kernel))


@pytest.mark.parametrize("value", [42, b"team.initpolicy"], ids=["int", "bytes"])
def test_anything_else_is_the_same_type_error(value):
    model = build()
    name = type(value).__name__
    with pytest.raises(TypeError, match=rf"^kip.audit expects a kip.Policy or a path.*{name}$"):
        kip.audit(model, value)
    with pytest.raises(TypeError, match=rf"^diagnose expects a kip.Policy or a path.*{name}$"):
        diagnose(value, build, batch=4)
    with pytest.raises(TypeError, match=rf"^apply_policy expects a kip.Policy, .*{name}$"):
        kip.apply_policy(value)(build)()


def test_audit_without_a_policy_is_still_no_policy(policy_file, monkeypatch):
    """``kip.audit(model)`` audits without a policy; it never loads the project policy."""
    monkeypatch.setenv("KERAS_INITPOLICY", str(policy_file.parent / "missing.initpolicy"))
    kip.audit(build())  # would raise IP002 if the project policy were read
