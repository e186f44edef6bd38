"""The project policy and the decorator (README.md#python-api)."""

from __future__ import annotations

import pytest

import keras_initpolicy as kip
from keras_initpolicy.project import project_policy_path


def test_env_var_wins(tmp_path, monkeypatch):
    policy = tmp_path / "team.initpolicy"
    policy.write_text("Dense -> he_normal\n")
    monkeypatch.setenv("KERAS_INITPOLICY", str(policy))
    assert project_policy_path() == policy
    assert kip.project_policy().rules[0].text == "Dense -> he_normal"


def test_nearest_pyproject_above_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_INITPOLICY", raising=False)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.keras-initpolicy]\npolicy = "init/p.initpolicy"\n'
    )
    (tmp_path / "init").mkdir()
    (tmp_path / "init" / "p.initpolicy").write_text("*.bias -> zeros\n")
    sub = tmp_path / "src" / "pkg"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert project_policy_path() == (tmp_path / "init" / "p.initpolicy").resolve()


def test_no_project_policy_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_INITPOLICY", raising=False)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(kip.PolicyError, match="KERAS_INITPOLICY"):
        project_policy_path()


@pytest.mark.keras
@pytest.mark.parametrize("style", ["bare", "called", "path", "policy"])
def test_apply_policy_decorator(style, tmp_path, monkeypatch):
    keras = pytest.importorskip("keras")
    path = tmp_path / "p.initpolicy"
    path.write_text("Dense -> ones\n")
    monkeypatch.setenv("KERAS_INITPOLICY", str(path))
    decorate = {
        "bare": kip.apply_policy,
        "called": kip.apply_policy(),
        "path": kip.apply_policy(str(path)),
        "policy": kip.apply_policy(kip.load(path)),
    }[style]

    @decorate
    def build(units):
        """Builds a model."""
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(units)])

    model = build(2)
    assert build.__doc__ == "Builds a model." and build.__name__ == "build"
    assert float(keras.ops.sum(model.layers[0].kernel)) == 6.0
    outside = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert type(outside.layers[0].kernel_initializer).__name__ == "GlorotUniform"


def test_apply_policy_rejects_other_types():
    with pytest.raises(TypeError, match="kip.Policy"):
        kip.apply_policy(42)(lambda: None)()
