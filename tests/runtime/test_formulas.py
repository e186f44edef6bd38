"""Formulas, ``@blocks`` and presets at build time (issue 13): values, late ``blocks``, plain
Keras configs, seeds, explain, and build errors. keras-hub backbones kept small.
docs/reference.md#expressions-and-variables."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import keras_initpolicy as kip

BLOCKS = 3
pytestmark = pytest.mark.filterwarnings("ignore:.*matched no weight")


def residual_mlp(width: int = 64, blocks: int = BLOCKS) -> keras.Model:
    """A Functional residual MLP whose blocks are named ``block_{i}_...`` (flat names)."""
    x = inputs = keras.Input((width,))
    for i in range(blocks):
        h = keras.layers.Dense(width, activation="relu", name=f"block_{i}_in")(x)
        h = keras.layers.Dense(width, name=f"block_{i}_out")(h)
        x = keras.layers.Add(name=f"block_{i}_add")([x, h])
    outputs = keras.layers.Dense(10, name="head")(x)
    return keras.Model(inputs, outputs)


POLICY = """
@seed 3
@blocks "block_{i}"
Dense                  -> random_normal(stddev=1 / sqrt(fan_in))
Dense[name~="*_out"]   -> random_normal(stddev=1 / sqrt(fan_in * blocks))
Dense[name~="*_in"]    -> random_normal(stddev=0.5 / sqrt(fan_in * (depth + 1)))
"""


def std(layer) -> float:
    return float(np.std(keras.ops.convert_to_numpy(layer.kernel)))


def test_formulas_give_the_stated_std_on_a_functional_model():
    policy = kip.parse(POLICY)
    with policy.scope():
        model = residual_mlp(width=256)
    for i in range(BLOCKS):
        assert std(model.get_layer(f"block_{i}_out")) == pytest.approx(
            1 / np.sqrt(256 * BLOCKS), rel=0.05
        )
        assert std(model.get_layer(f"block_{i}_in")) == pytest.approx(
            0.5 / np.sqrt(256 * (i + 1)), rel=0.05
        )
    assert std(model.get_layer("head")) == pytest.approx(1 / 16, rel=0.05)


def test_formulas_compile_to_plain_keras_initializers():
    policy = kip.parse(POLICY)
    with policy.scope():
        model = residual_mlp()
    init = model.get_layer("block_1_out").kernel_initializer
    assert type(init) is keras.initializers.RandomNormal
    assert init.get_config()["stddev"] == pytest.approx(1 / np.sqrt(64 * BLOCKS))
    again = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert type(again) is keras.initializers.RandomNormal


def test_seeded_builds_with_formulas_are_identical():
    policy = kip.parse(POLICY)
    kernels = []
    for _ in range(2):
        with policy.scope():
            model = residual_mlp()
        kernels.append([keras.ops.convert_to_numpy(w) for w in model.weights])
    for a, b in zip(*kernels, strict=True):
        np.testing.assert_array_equal(a, b)


def test_blocks_is_counted_over_the_whole_subclassed_model():
    """No Functional graph, and block 0 computes before block 1 is built: the count is taken
    over the blocks the model holds, built or not."""

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [keras.layers.Dense(128, name=f"block_{i}_out") for i in range(4)]

        def call(self, x):
            for layer in self.blocks:
                x = x + layer(x)
            return x

    policy = kip.parse(POLICY)
    with policy.scope():
        net = Net()
        net(np.zeros((1, 128), "float32"))
    for layer in net.blocks:
        assert std(layer) == pytest.approx(1 / np.sqrt(128 * 4), rel=0.05)


def test_explain_shows_formula_and_value():
    policy = kip.parse(POLICY)
    with policy.scope():
        model = residual_mlp()
    explanation = policy.explain(model)
    row = explanation.find("block_2_in", "kernel")
    assert row.formulas == (
        ("stddev", "0.5 / sqrt(fan_in * (depth + 1))", pytest.approx(0.5 / np.sqrt(64 * 3))),
    )
    assert "stddev=0.5 / sqrt(fan_in * (depth + 1)) = 0.0360844" in explanation.to_table()
    data = json.loads(explanation.to_json())
    [entry] = [
        a
        for a in data["assignments"]
        if a["layer_path"].endswith("block_0_out") and a["weight"] == "kernel"
    ]
    assert entry["formulas"] == [
        {
            "argument": "stddev",
            "formula": "1 / sqrt(fan_in * blocks)",
            "value": pytest.approx(1 / np.sqrt(64 * 3)),
        }
    ]


def test_depth_outside_every_block_is_a_build_error_naming_the_layer():
    policy = kip.parse('@blocks "block_{i}"\nDense -> random_normal(stddev=0.1 / (depth + 1))')
    with pytest.raises(kip.PolicyError) as info:
        with policy.scope():
            residual_mlp()
    message = str(info.value)
    assert "`head`" in message and "outside every @blocks block" in message


def test_errors_doc_quotes_the_build_error():
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
    policy = kip.parse(
        '@blocks "block_{i}"\nDense -> random_normal(stddev=0.02 / sqrt(2 * (depth + 1)))'
    )
    with pytest.raises(kip.PolicyError) as info:
        with policy.scope():
            keras.Sequential(
                [
                    keras.Input((4,)),
                    keras.layers.Dense(8, name="block_0_dense"),
                    keras.layers.Dense(2, name="head"),
                ],
                name="sequential",  # fixed: Keras numbers auto-named models per process
            )
    first = f"{type(info.value).__name__}: {str(info.value).splitlines()[0]}"
    assert first in doc.read_text("utf-8")


# -- presets on keras-hub backbones -----------------------------------------------------------

keras_hub = pytest.importorskip("keras_hub")


def kernel_std(model, path: str) -> float:
    [var] = [w for w in model.weights if w.path == path]
    return float(np.std(keras.ops.convert_to_numpy(var)))


def test_gpt2_preset_on_gpt2_backbone():
    layers = 4
    policy = kip.parse('@include "preset:gpt2"\n@explicit override\n@seed 1')
    with policy.scope():
        model = keras_hub.models.GPT2Backbone(
            vocabulary_size=512,
            num_layers=layers,
            num_heads=2,
            hidden_dim=64,
            intermediate_dim=256,
            max_sequence_length=64,
        )
    residual = 0.02 / np.sqrt(2 * layers)
    for i in range(layers):
        block = f"transformer_layer_{i}"
        for path, want in (
            (f"{block}/self_attention/query/kernel", 0.02),
            (f"{block}/self_attention/value/kernel", 0.02),
            (f"{block}/self_attention/attention_output/kernel", residual),
            (f"{block}/feedforward_intermediate_dense/kernel", 0.02),
            (f"{block}/feedforward_output_dense/kernel", residual),
        ):
            assert kernel_std(model, path) == pytest.approx(want, rel=0.05), path
    assert kernel_std(model, "token_embedding/embeddings") == pytest.approx(0.02, rel=0.05)


def test_llama_depth_preset_on_llama_backbone():
    layers = 4
    policy = kip.parse('@include "preset:llama_depth"\n@explicit override\n@seed 1')
    with policy.scope():
        model = keras_hub.models.LlamaBackbone(
            vocabulary_size=512,
            num_layers=layers,
            num_query_heads=2,
            num_key_value_heads=1,
            hidden_dim=64,
            intermediate_dim=256,
        )
    for i in range(layers):
        block = f"transformer_layer_{i}"
        scaled = 0.02 / np.sqrt(2 * (i + 1))
        for path, want in (
            (f"{block}/self_attention/query/kernel", 0.02),
            (f"{block}/self_attention/attention_output/kernel", scaled),
            (f"{block}/feedforward_gate_dense/kernel", 0.02),
            (f"{block}/feedforward_intermediate_dense/kernel", scaled),
            (f"{block}/feedforward_output_dense/kernel", scaled),
        ):
            assert kernel_std(model, path) == pytest.approx(want, rel=0.05), path
    assert kernel_std(model, "token_embedding/embeddings") == pytest.approx(1.0, rel=0.05)
    assert kernel_std(model, "token_embedding/reverse_embeddings") == pytest.approx(
        64**-0.5, rel=0.05
    )
