"""Constants a policy decides (``zeros``, ``ones``, ``constant``) are filled with NumPy where that
is cheaper than Keras's own op (runtime/constants.py): the values are Keras's, bit for bit, and
the layer still names Keras's initializer."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

import keras_initpolicy as kip  # noqa: E402
from keras_initpolicy.runtime import constants  # noqa: E402
from keras_initpolicy.runtime.constants import HostConstant, cheaper_equivalent  # noqa: E402

pytestmark = pytest.mark.keras

CONSTANTS = [
    keras.initializers.Zeros(),
    keras.initializers.Ones(),
    keras.initializers.Constant(0.1),
    keras.initializers.Constant(-3),
]


def _numpy(value) -> np.ndarray:
    return keras.ops.convert_to_numpy(value)


@pytest.mark.parametrize("initializer", CONSTANTS, ids=lambda i: type(i).__name__)
# float16 and float64 via a value Keras first makes a float32 (Constant(0.1)) and via values
# exact in float32; bfloat16 and int32 are left to Keras.
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "bfloat16", "int32"])
def test_the_values_are_kerass_bit_for_bit(initializer, dtype):
    fast = cheaper_equivalent(initializer)
    ours = keras.ops.convert_to_tensor(fast((3, 5), dtype=dtype), dtype=dtype)
    theirs = initializer((3, 5), dtype=dtype)
    assert ours.dtype == theirs.dtype  # JAX without x64 makes float64 float32, both ways
    np.testing.assert_array_equal(
        _numpy(keras.ops.cast(ours, "float64")), _numpy(keras.ops.cast(theirs, "float64"))
    )


def test_only_backends_where_numpy_is_cheaper_fill_on_the_host():
    zeros = keras.initializers.Zeros()
    fast = cheaper_equivalent(zeros)
    if keras.backend.backend() in ("jax", "tensorflow"):
        assert isinstance(fast, HostConstant) and fast.initializer is zeros
        filled = fast((4,), "float32")
        if keras.backend.backend() == "jax":  # placed with device_put: no staging op compiled
            import jax

            assert isinstance(filled, jax.Array) and not isinstance(filled, jax.core.Tracer)
        else:
            assert isinstance(filled, np.ndarray)
    else:
        assert fast is zeros


def test_other_dtypes_and_large_constants_are_left_to_keras():
    fast = HostConstant(keras.initializers.Ones(), 1.0)
    assert not isinstance(fast((4,), "int32"), np.ndarray)
    assert not isinstance(fast((4,), "bfloat16"), np.ndarray)
    big = (constants.HOST_CONSTANT_ELEMENTS + 1,)
    assert not isinstance(fast(big, "float32"), np.ndarray)
    assert _numpy(fast(big, "float32")).sum() == big[0]


def test_random_and_unusual_initializers_are_passed_through():
    for initializer in (
        keras.initializers.HeNormal(seed=1),
        keras.initializers.Constant(np.ones(3)),
        keras.initializers.Identity(),
    ):
        assert cheaper_equivalent(initializer) is initializer


def test_a_model_built_under_a_policy_has_kerass_values_and_names_kerass_initializers():
    policy = kip.parse(
        "Dense.bias -> constant(0.1)\nDense -> ones\nBatchNormalization.gamma -> constant(0.5)"
    )
    with policy.scope():
        inputs = keras.Input((4,))
        x = layers.Dense(3)(inputs)
        x = layers.BatchNormalization()(x)
        model = keras.Model(inputs, x)
    dense, norm = model.layers[1], model.layers[2]
    np.testing.assert_array_equal(_numpy(dense.kernel), np.ones((4, 3), "float32"))
    np.testing.assert_array_equal(_numpy(dense.bias), np.full(3, 0.1, "float32"))
    np.testing.assert_array_equal(_numpy(norm.gamma), np.full(3, 0.5, "float32"))
    assert type(dense.bias_initializer) is keras.initializers.Constant
    assert type(dense.kernel_initializer) is keras.initializers.Ones
    assert type(norm.gamma_initializer) is keras.initializers.Constant
    config = dense.get_config()["bias_initializer"]
    assert config["class_name"] == "Constant" and config["config"]["value"] == pytest.approx(0.1)
    # the model trains: its weights are ordinary variables
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model.fit(x, np.zeros((8, 3), "float32"), epochs=1, verbose=0)
    assert not np.array_equal(_numpy(dense.kernel), np.ones((4, 3), "float32"))
