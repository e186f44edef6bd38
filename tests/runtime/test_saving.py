"""Configs tell the truth: saved models load where keras_initpolicy was never imported."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")
import keras_initpolicy as kip  # noqa: E402

pytestmark = pytest.mark.keras

POLICY = kip.parse(
    """
    @seed 99
    Dense[activation=relu]    -> he_uniform
    Dense[activation=sigmoid] -> glorot_uniform(variant=kwon)
    Conv2D                    -> auto
    DepthwiseConv2D           -> he_normal
    *.bias                    -> zeros
    """
)


def build():
    with POLICY.scope():
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(4, 3)(inputs)
        x = keras.layers.ReLU()(x)
        x = keras.layers.DepthwiseConv2D(3)(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(8, activation="relu")(x)
        outputs = keras.layers.Dense(1, activation="sigmoid")(x)
        return keras.Model(inputs, outputs)


def test_saved_model_loads_in_a_process_that_never_imported_the_package(tmp_path):
    model = build()
    path = tmp_path / "model.keras"
    model.save(path)
    expected = tmp_path / "kernels.npz"
    np.savez(expected, *[keras.ops.convert_to_numpy(w) for w in model.weights])
    script = f"""
import sys, numpy as np, keras
model = keras.saving.load_model({str(path)!r})
assert "keras_initpolicy" not in sys.modules, "the package was imported"
want = np.load({str(expected)!r})
for i, w in enumerate(model.weights):
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), want[f"arr_{{i}}"])
# Rebuilding from config draws from the same distributions, without the package.
clone = keras.Model.from_config(model.get_config())
for layer in clone.layers:
    if hasattr(layer, "kernel_initializer"):
        print(layer.name, type(layer.kernel_initializer).__name__)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    kinds = dict(line.split() for line in out.stdout.strip().splitlines())
    conv, dense, head = model.layers[1].name, model.layers[-2].name, model.layers[-1].name
    assert kinds[conv] == "HeNormal"  # auto on a conv feeding a ReLU
    assert kinds[dense] == "HeUniform"
    assert kinds[head] == "VarianceScaling"  # Kwon x4: scale 16, fan_avg


def test_config_of_kwon_sigmoid_is_plain_variance_scaling():
    model = build()
    config = model.layers[-1].get_config()["kernel_initializer"]
    assert config["module"] == "keras.initializers"
    assert config["class_name"] == "VarianceScaling"
    assert config["config"]["scale"] == pytest.approx(16.0)
    assert config["config"]["mode"] == "fan_avg"


def test_seeded_builds_match_across_processes(tmp_path):
    script = """
import numpy as np, keras, keras_initpolicy as kip
policy = kip.parse("@seed 5\\nDense -> he_normal\\n*.bias -> zeros")
with policy.scope():
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.Dense(4)])
print(",".join(f"{x:.9e}" for x in keras.ops.convert_to_numpy(m.weights[0]).ravel()))
"""
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        for _ in range(2)
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.strip()
