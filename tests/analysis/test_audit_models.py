"""kip.audit on real models (issue 12): keras-hub's LlamaBackbone, EfficientNetB0, MobileNet and a
handful of keras.applications models; the suggested policy's round trip on each."""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import pytest

import keras_initpolicy as kip

keras_hub = pytest.importorskip("keras_hub")


def round_trip(build, findings, model):
    """The suggested policy is lint-clean, every rule of it is used, and the same builder rebuilt
    under it audits clean of errors and warnings. Returns the policy text."""
    text = kip.suggest_policy(findings, model)
    assert [d for d in kip.lint(text) if d.severity != "info"] == [], text
    policy = kip.parse(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error", kip.UnusedRuleWarning)
        with policy.scope():
            rebuilt = build()
    left = kip.audit(rebuilt, policy).at_least("warning")
    assert left == [], "\n".join(f.message for f in left)
    return text


# -- keras-hub Llama: one stream for query, key, value and output ------------------------------


def llama():
    return keras_hub.models.LlamaBackbone(
        vocabulary_size=64,
        num_layers=2,
        num_query_heads=4,
        num_key_value_heads=4,
        hidden_dim=16,
        intermediate_dim=32,
    )


def test_llama_shares_one_stream_per_attention_layer_and_the_seeded_rebuild_does_not():
    model = llama()
    found = kip.audit(model)
    shared = {f"{f.layer_path}/{f.weight}" for f in found if f.code == "IP401"}
    attention = {
        f"transformer_layer_{i}/self_attention/{p}/kernel"
        for i in range(2)
        for p in ("query", "key", "value", "attention_output")
    }
    # keras.layers.ReversibleEmbedding(tie_weights=False) also hands its one initializer to
    # both of its tables
    embeddings = {"token_embedding/embeddings", "token_embedding/reverse_embeddings"}
    assert shared == attention | embeddings
    by_path = {f"{f.layer_path}/{f.weight}": f.message for f in found if f.code == "IP401"}
    query0 = by_path["transformer_layer_0/self_attention/query/kernel"]
    assert "transformer_layer_0/self_attention/key/kernel" in query0
    assert "transformer_layer_1" not in query0  # each layer's initializer has its own seed
    assert {f.code for f in found} <= {"IP401", "IP405"}  # RandomNormal: no fans; no graph
    text = round_trip(llama, found, model)
    assert "@seed 1234" in text and "@explicit" not in text


# -- keras.applications ------------------------------------------------------------------------


@pytest.mark.slow
def test_efficientnet_b0_depthwise_fans_are_right_and_round_trip():
    """EfficientNet gives its depthwise kernels VarianceScaling(2.0, "fan_out"). For a
    (k, k, C, 1) kernel Keras's shape rule gives fan_out = k*k, which is the true fan_out of a
    depthwise convolution (each input channel reaches k*k outputs), so the variance is the
    intended 2/(k*k) and there is no IP402 — measured here, not assumed."""

    def build():
        return keras.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=4)

    model = build()
    found = kip.audit(model)
    assert found.at_least("warning") == []
    depthwise = [la for la in model.layers if isinstance(la, keras.layers.DepthwiseConv2D)]
    assert len(depthwise) == 16
    for layer in depthwise:
        k = layer.kernel_size[0] * layer.kernel_size[1]
        measured = float(np.mean(np.square(keras.ops.convert_to_numpy(layer.kernel))))
        assert math.isclose(measured, 2 / k, rel_tol=0.25), (layer.name, measured, 2 / k)
    text = round_trip(build, found, model)
    assert "nothing to fix" in text


@pytest.mark.slow
def test_mobilenet_depthwise_kernels_on_glorot_and_round_trip():
    def build():
        return keras.applications.MobileNet(
            weights=None, alpha=0.25, input_shape=(32, 32, 3), classes=4
        )

    model = build()
    found = kip.audit(model)
    depthwise = {la.path for la in model.layers if isinstance(la, keras.layers.DepthwiseConv2D)}
    assert {f.layer_path for f in found if f.code == "IP402"} == depthwise
    first = next(f.message for f in found if f.layer_path == "conv_dw_1")
    assert "1/4.5" in first  # glorot over (8*9 + 9)/2 instead of (9 + 9)/2
    text = round_trip(build, found, model)
    assert "DepthwiseConv2D.kernel -> glorot_uniform" in text


APPLICATIONS = {
    "VGG16": (dict(include_top=False, input_shape=(32, 32, 3)), {"IP404"}),
    "ResNet50": (dict(input_shape=(32, 32, 3), classes=4), set()),
    "ConvNeXtTiny": (dict(input_shape=(32, 32, 3), classes=4), {"IP402"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_applications_audit(name):
    """BatchNormalization everywhere (ResNet): nothing; VGG's plain ReLU convolutions on Glorot:
    IP404; ConvNeXt's channel-grouped convolutions on Glorot: IP402. (Every other model: the
    zoo, tests/zoo/test_zoo_audit.py.)"""
    kwargs, expected = APPLICATIONS[name]
    model = getattr(keras.applications, name)(weights=None, **kwargs)
    assert kip.audit(model).at_least("warning").codes() == expected
