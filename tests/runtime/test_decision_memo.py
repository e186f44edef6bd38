"""The per-scope decision memo (runtime/decision.py): layers that look the same to the policy
share a resolution; layers that differ in anything a rule or the fans read do not."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

import keras_initpolicy as kip  # noqa: E402
from keras_initpolicy.runtime.activation import ActivationInfo  # noqa: E402
from keras_initpolicy.runtime.decision import WeightRequest, decide, resolver_for  # noqa: E402

pytestmark = pytest.mark.keras

RELU = ActivationInfo("relu", 0.0, "own")


def _request(layer, weight="kernel", shape=None, ordinal=1):
    shape = tuple(shape or layer.kernel.shape)
    return WeightRequest(
        layer=layer,
        chain=(),
        weight=weight,
        shape=shape,
        dtype="float32",
        trainable=True,
        original=None,
        attr=None,
        explicit=False,
        ordinal=ordinal,
    )


def _built(layer, input_shape):
    layer.build(input_shape)
    return layer


def test_predicate_attributes_are_part_of_the_memo():
    policy = kip.parse("Dense[units=64] -> he_normal\nDense -> lecun_normal")
    resolver = resolver_for(policy)
    memo: dict = {}
    wide = _built(layers.Dense(64), (None, 32))
    other = _built(layers.Dense(64, name="other"), (None, 32))
    narrow = _built(layers.Dense(32), (None, 32))
    first = decide(policy, resolver, _request(wide), RELU, memo=memo)
    same = decide(policy, resolver, _request(other), RELU, memo=memo)
    different = decide(policy, resolver, _request(narrow), RELU, memo=memo)
    assert len(memo) == 2  # the two 64-unit layers shared one entry
    assert first.match.rule.index == same.match.rule.index == 0
    assert different.match.rule.index == 1
    assert type(different.initializer).__name__ == "LecunNormal"


def test_name_globs_are_not_shared_between_layers():
    policy = kip.parse('Dense[name~="head*"] -> zeros\nDense -> glorot_uniform')
    resolver = resolver_for(policy)
    memo: dict = {}
    body = _built(layers.Dense(8, name="body"), (None, 4))
    head = _built(layers.Dense(8, name="head_out"), (None, 4))
    assert decide(policy, resolver, _request(body), RELU, memo=memo).match.rule.index == 1
    assert decide(policy, resolver, _request(head), RELU, memo=memo).match.rule.index == 0
    assert memo == {}  # every key would hold a layer's own name: the memo is not used


def test_fan_attributes_are_part_of_the_memo():
    policy = kip.parse("Conv2D -> he_normal")
    resolver = resolver_for(policy)
    memo: dict = {}
    plain = _built(layers.Conv2D(8, 3), (None, 8, 8, 4))
    grouped = _built(layers.Conv2D(8, 3, groups=2), (None, 8, 8, 8))
    assert tuple(plain.kernel.shape) == tuple(grouped.kernel.shape)  # same shape, other fans
    a = decide(policy, resolver, _request(plain), RELU, memo=memo)
    b = decide(policy, resolver, _request(grouped), RELU, memo=memo)
    assert (a.fan_in, a.fan_out) == (36, 72)
    assert (b.fan_in, b.fan_out) == (36, 36)


def test_the_activation_is_part_of_the_memo():
    policy = kip.parse("Dense -> auto")
    resolver = resolver_for(policy)
    memo: dict = {}
    layer = _built(layers.Dense(16), (None, 16))
    relu = decide(policy, resolver, _request(layer), RELU, memo=memo)
    tanh = decide(policy, resolver, _request(layer), ActivationInfo("tanh", None, "own"), memo=memo)
    assert type(relu.initializer).__name__ == "HeNormal"
    assert type(tanh.initializer).__name__ == "GlorotNormal"


def test_explicit_and_keras_default_decisions_keep_their_own_initializer():
    policy = kip.parse("Dense -> he_normal")
    resolver = resolver_for(policy)
    memo: dict = {}
    a = _built(layers.Dense(8), (None, 8))
    b = _built(layers.Dense(8), (None, 8))
    mine = keras.initializers.Orthogonal(seed=3)
    explicit = WeightRequest(
        layer=b,
        chain=(),
        weight="kernel",
        shape=(8, 8),
        dtype="float32",
        trainable=True,
        original=mine,
        attr="kernel_initializer",
        explicit=True,
        ordinal=2,
    )
    decide(policy, resolver, _request(a), RELU, memo=memo)
    kept = decide(policy, resolver, explicit, RELU, memo=memo)
    assert kept.reason == "explicit" and kept.initializer is mine
    bias = decide(policy, resolver, _request(a, "bias", (8,)), RELU, memo=memo)
    assert bias.reason == "keras-default" and bias.match is None


def test_identical_blocks_still_get_their_own_seeds():
    """The memo shares the resolution, never the drawn values."""
    policy = kip.parse("@seed 3\nConv2D[activation=relu] -> he_normal")
    with policy.scope():
        inputs = keras.Input((8, 8, 4))
        x = inputs
        for _ in range(3):
            x = layers.Conv2D(4, 3, padding="same")(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        model = keras.Model(inputs, x)
    kernels = [
        keras.ops.convert_to_numpy(lyr.kernel)
        for lyr in model.layers
        if lyr.weights and "conv" in lyr.name
    ]
    assert len(kernels) == 3
    assert not np.allclose(kernels[1], kernels[2])
    for lyr in model.layers:
        if "conv" in lyr.name:
            assert type(lyr.kernel_initializer).__name__ == "HeNormal"


def test_a_layer_whose_attribute_fails_is_decided_without_the_memo():
    class Fragile(layers.Dense):
        @property
        def groups(self):
            raise RuntimeError("not built yet")

    policy = kip.parse("Dense -> he_normal")
    memo: dict = {}
    layer = _built(Fragile(8), (None, 8))
    decision = decide(policy, resolver_for(policy), _request(layer), RELU, memo=memo)
    assert type(decision.initializer).__name__ == "HeNormal" and memo == {}


def test_layers_that_look_the_same_compile_once_per_dtype_but_draw_their_own_seeds():
    policy = kip.parse("@seed 5\nDense -> he_normal")
    resolver = resolver_for(policy)
    memo: dict = {}
    a = _built(layers.Dense(8), (None, 8))
    b = _built(layers.Dense(8), (None, 8))
    first = decide(policy, resolver, _request(a, ordinal=1), RELU, memo=memo)
    second = decide(policy, resolver, _request(b, ordinal=2), RELU, memo=memo)
    assert first.recipes is second.recipes and list(first.recipes) == ["float32"]
    assert type(first.initializer) is type(second.initializer) is keras.initializers.HeNormal
    assert first.initializer.seed != second.initializer.seed
    half = _request(b, ordinal=3)
    half.dtype = "float16"
    decide(policy, resolver, half, RELU, memo=memo)
    assert sorted(first.recipes) == ["float16", "float32"]


def test_formula_rules_compile_for_each_weight():
    """A formula may read the layer's depth, which the memo does not key on."""
    policy = kip.parse('@blocks "block_{i}"\nDense -> random_normal(stddev=0.1 / (depth + 1))')
    with policy.scope():
        inputs = keras.Input((4,))
        x = inputs
        for i in range(3):
            x = layers.Dense(4, name=f"block_{i}")(x)
        model = keras.Model(inputs, x)
    stddevs = [model.get_layer(f"block_{i}").kernel_initializer.stddev for i in range(3)]
    assert stddevs == pytest.approx([0.1, 0.05, 0.1 / 3])
