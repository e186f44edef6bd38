"""keras.applications.ResNet50 under the CNN example policy: He on every conv feeding a ReLU."""

from __future__ import annotations

from pathlib import Path

import pytest

keras = pytest.importorskip("keras")
import keras_initpolicy as kip  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.slow]

CNN = Path(__file__).resolve().parent.parent / "examples" / "policies" / "cnn.initpolicy"


def test_resnet50_convs_feeding_relu_get_he():
    policy = kip.load(CNN)
    with policy.scope():
        model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)
    explanation = policy.explain(model)
    convs = [a for a in explanation if a.layer_class == "Conv2D" and a.weight == "kernel"]
    assert len(convs) == 53
    relu_fed = [a for a in convs if a.activation == "relu"]
    # Every conv whose output reaches a ReLU through BatchNormalization (all but the 16
    # residual-branch convs and shortcuts, which feed an Add whose consumers disagree or stay linear).
    assert len(relu_fed) >= 33
    for a in relu_fed:
        layer = model.get_layer(a.layer_path.split("/")[-1])
        assert type(layer.kernel_initializer).__name__ == "HeNormal", a.layer_path
        assert a.rule is not None and a.rule.text == "Conv2D[activation = relu] -> he_normal"
    for a in convs:
        if a.activation != "relu":
            assert a.rule is not None and "auto" in a.rule.text
