"""Regression: a weight that waits for its graph and is finalized when the scope ends.

The per-weight decision used to be replayed positionally from a tuple, and a field added to the
record shifted the tuple: every such weight crashed the end of the scope with
``decide() missing 12 required positional arguments`` (keras-hub's Llama, Gemma and ViT
backbones). Decisions now come from one ``WeightRequest``.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

import keras_initpolicy as kip  # noqa: E402

pytestmark = pytest.mark.keras


class Block(layers.Layer):
    """A custom layer whose sublayers are never part of any Functional graph: their weights
    wait for a graph that never completes, and are decided when the scope ends."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = layers.Dense(64)  # no own activation: `activation` needs the graph
        self.act = layers.ReLU()

    def call(self, x):
        return self.act(self.inner(x))


def test_graph_waiting_weight_is_finalized_at_scope_end_without_crashing():
    policy = kip.parse("Dense[activation=relu] -> he_normal\nDense -> zeros  # noqa: IP201")
    with policy.scope():
        block = Block()
        block(keras.ops.ones((2, 32)))  # eager call: no Functional graph
    kernel = keras.ops.convert_to_numpy(block.inner.kernel)
    # Provisional decision at scope end: its own activation (none -> linear) -> `Dense -> zeros`
    assert np.all(kernel == 0)
    (row,) = [a for a in policy.explain(block) if a.weight == "kernel"]
    assert row.reason == "rule" and row.rule.text == "Dense -> zeros"


def test_activation_sensitive_auto_rule_is_drawn_once_at_scope_end():
    policy = kip.parse("@seed 2\nDense -> auto")
    with policy.scope():
        block = Block()
        block(keras.ops.ones((2, 32)))
    kernel = keras.ops.convert_to_numpy(block.inner.kernel)
    assert np.std(kernel) == pytest.approx(np.sqrt(2 / (32 + 64)), rel=0.1)  # Glorot (linear)
    assert type(block.inner.kernel_initializer).__name__ == "GlorotNormal"


@pytest.mark.parametrize(
    "activation, expected",
    [
        (lambda x: x * 2, "custom"),
        ("gelu", "gelu"),
        (keras.activations.silu, "silu"),
    ],
)
def test_activation_names_are_total(activation, expected):
    from keras_initpolicy.runtime.activation import own_activation

    layer = layers.Dense(4, activation=activation)
    assert own_activation(layer).name == expected
    object.__setattr__(layer, "activation", "relu")  # a layer that keeps the name it was given
    assert own_activation(layer).name == "relu"


def test_activation_names_never_import_tensorflow():
    """`keras.activations.serialize` imports TensorFlow (seconds on JAX and torch); the lookup
    of an activation's name must not."""
    import subprocess
    import sys

    code = (
        "import sys, functools, keras\n"
        "from keras_initpolicy.runtime.activation import own_activation\n"
        "d = keras.layers.Dense(2, activation=functools.partial(keras.activations.gelu))\n"
        "assert own_activation(d).name == 'gelu'\n"
        "assert own_activation(keras.layers.Dense(2, activation='silu')).name == 'silu'\n"
        "print('tensorflow' in sys.modules)\n"
    )
    import os

    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
