"""Weights that wait for their graph start from a placeholder only while a Functional graph is
under construction, and no placeholder is ever computed with (runtime/weights.py).

Regression: a subclassed model built and trained inside its scope computed with all-zero kernels
(every weight whose rule reads the activation waited for a graph that never came), and the end of
the scope then overwrote what training had learned.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

import keras_initpolicy as kip  # noqa: E402
from keras_initpolicy.runtime import hooks  # noqa: E402
from keras_initpolicy.runtime.records import layer_records  # noqa: E402

pytestmark = pytest.mark.keras

POLICY = "@seed 5\nDense[activation=relu] -> he_normal\nDense -> glorot_uniform"


def _numpy(variable) -> np.ndarray:
    return keras.ops.convert_to_numpy(variable)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(8)  # its ReLU is a separate layer: the rule needs the graph
        self.act = layers.Activation("relu")
        self.out = layers.Dense(1)

    def call(self, x):
        return self.out(self.act(self.hidden(x)))


def test_a_subclassed_model_never_computes_with_a_placeholder():
    policy = kip.parse(POLICY)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    with policy.scope():
        model = Subclassed()
        model(x)
        drawn = _numpy(model.hidden.kernel)
        assert np.abs(drawn).sum() > 0  # drawn when built, not at the end of the scope
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(x, np.ones((16, 1), "float32"), epochs=2, verbose=0)
        trained = _numpy(model.hidden.kernel)
    assert not np.array_equal(trained, drawn)  # training moved it ...
    np.testing.assert_array_equal(_numpy(model.hidden.kernel), trained)  # ... and it stays


def test_functional_construction_still_draws_graph_dependent_weights_once(monkeypatch):
    draws = []
    original = keras.initializers.HeNormal.__call__

    def counting(self, shape, dtype=None):
        draws.append(tuple(shape))
        return original(self, shape, dtype=dtype)

    monkeypatch.setattr(keras.initializers.HeNormal, "__call__", counting)
    policy = kip.parse(POLICY)
    with policy.scope():
        inputs = keras.Input((4,))
        hidden = layers.Dense(8)
        model = keras.Model(inputs, layers.Dense(1)(layers.ReLU()(hidden(inputs))))
    assert draws == [(4, 8)]  # one draw, when the graph completed: the placeholder came first
    assert type(hidden.kernel_initializer).__name__ == "HeNormal"
    assert np.abs(_numpy(model.layers[1].kernel)).sum() > 0


class Residual(layers.Layer):
    """A custom layer in a Functional graph: its sublayers are not graph operations."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = layers.Dense(4)
        self.act = layers.ReLU()

    def call(self, x):
        return x + self.act(self.inner(x))


def test_nested_placeholders_are_drawn_when_their_model_completes():
    policy = kip.parse(POLICY)
    with policy.scope():
        inputs = keras.Input((4,))
        block = Residual()
        keras.Model(inputs, block(inputs))
        records = layer_records(block.inner)
        assert records and not any(r.waiting for r in records.values())
        assert np.abs(_numpy(block.inner.kernel)).sum() > 0  # usable before the scope ends


def test_a_layer_called_on_real_data_first_draws_what_it_holds():
    """Functional-style calls with no Model, then an eager call inside the scope: the eager call
    must not compute with the placeholder."""
    policy = kip.parse(POLICY)
    with policy.scope():
        dense = layers.Dense(3)
        dense(keras.Input((2,)))  # builds it for a graph that never completes
        assert any(r.waiting for r in layer_records(dense).values())
        out = _numpy(dense(np.ones((1, 2), "float32")))
        assert not any(r.waiting for r in layer_records(dense).values())
        assert np.abs(out).sum() > 0


def test_the_eager_call_hook_does_nothing_without_placeholders():
    """After every placeholder is drawn the hook's only cost is one truthiness check."""
    from keras_initpolicy.runtime import weights

    policy = kip.parse(POLICY)
    with policy.scope():
        inputs = keras.Input((4,))
        keras.Model(inputs, layers.Dense(2)(inputs))
        assert not weights.awaiting
    assert hooks.building_graph() is False


def test_one_placeholder_array_per_shape_serves_a_scope_on_jax_and_tensorflow():
    """JAX and TensorFlow variables copy or reference an immutable initial value, so one zeros
    array serves every waiting weight of a shape; torch's Parameter shares its tensor's storage
    and is assigned in place, so each gets its own. ``clear()`` drops what the scope holds."""
    from keras_initpolicy.runtime.placeholders import Placeholder

    placeholder = Placeholder()
    a = placeholder((8, 8), "float32")
    shared = keras.backend.backend() in ("jax", "tensorflow")
    assert (placeholder((8, 8), "float32") is a) is shared
    assert placeholder((8, 8), "float16") is not a
    placeholder.clear()
    assert placeholder((8, 8), "float32") is not a
    assert Placeholder()((8, 8), "float32") is not a  # nothing outlives its scope


def test_a_donated_placeholder_array_is_never_handed_out_again():
    """JAX deletes an array a jitted function took by donation; the scope's cache makes a new
    one instead of handing out a deleted array."""
    from keras_initpolicy.runtime import placeholders

    placeholder = placeholders.Placeholder()
    first = placeholder((2, 3), "float32")
    if keras.backend.backend() != "jax":
        assert not placeholders._deleted(first)  # only JAX arrays can be donated
        return
    import jax

    jax.jit(lambda x: x + 1, donate_argnums=0)(first)
    assert first.is_deleted()
    again = placeholder((2, 3), "float32")
    assert again is not first and not again.is_deleted()


def test_a_graph_keras_refuses_leaves_its_weights_to_the_next_one():
    """Keras refuses a graph (disconnected inputs): its weights keep waiting, and the next graph
    that completes decides them, from its own consumers."""
    policy = kip.parse("@seed 5\nDense[activation=relu] -> he_normal\nDense -> ones")
    with policy.scope():
        inputs, stray = keras.Input((4,)), keras.Input((4,))
        dense = layers.Dense(3)
        hidden = dense(inputs)
        relu = layers.ReLU()(hidden)
        with pytest.raises(ValueError):
            keras.Model(stray, relu)  # not connected to `stray`
        assert all(r.waiting for r in layer_records(dense).values() if r.graph_dependent)
        second = layers.Dense(2)(hidden)  # a weighted consumer too: relu no longer decides
        keras.Model(inputs, [relu, second])
    assert type(dense.kernel_initializer).__name__ == "Ones"
    np.testing.assert_array_equal(_numpy(dense.kernel), np.ones((4, 3), "float32"))
