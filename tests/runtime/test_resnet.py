"""keras.applications.ResNet50 under the CNN example policy: He on every conv feeding a ReLU."""

from __future__ import annotations

from pathlib import Path

import pytest

keras = pytest.importorskip("keras")
import keras_initpolicy as kip  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.slow]

CNN = Path(__file__).resolve().parents[2] / "examples" / "policies" / "cnn.initpolicy"


def test_resnet50_convs_feeding_relu_get_he():
    policy = kip.load(CNN)
    with policy.scope():
        model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)
    explanation = policy.explain(model)
    convs = [a for a in explanation if a.layer_class == "Conv2D" and a.weight == "kernel"]
    assert len(convs) == 53
    # Every conv feeds a ReLU: directly through BatchNormalization, or (the third conv of each
    # bottleneck and the shortcut convs) through BatchNormalization -> Add -> ReLU.
    for a in convs:
        assert a.activation == "relu", (a.layer_path, a.activation_source)
        layer = model.get_layer(a.layer_path.split("/")[-1])
        assert type(layer.kernel_initializer).__name__ == "HeNormal", a.layer_path
        assert a.rule is not None and a.rule.text == "Conv2D[activation=relu] -> he_normal"
    add_fed = [a for a in convs if "add" in a.activation_source]
    assert len(add_fed) == 20  # 16 block-closing convs + 4 shortcut convs
