"""Scratch tensors for torch draws (runtime/torch_tensors.py): large CPU ones are backed by NumPy
(huge pages), and are in every other way what torch's own would be; weights drawn in place."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = [
    pytest.mark.keras,
    pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch's tensors"),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int32"])
@pytest.mark.parametrize("shape", [(3, 4), (1024, 2048)], ids=str)  # 8 MiB in float32
def test_scratch_tensors_are_what_torch_would_make(shape, dtype):
    import torch

    from keras_initpolicy.runtime import torch_tensors

    tensor = torch_tensors.scratch(shape, dtype)
    assert tuple(tensor.shape) == shape and tensor.dtype == getattr(torch, dtype)
    assert str(tensor.device) == "cpu" and tensor.is_contiguous()
    numpy_backed = dtype in ("float32", "float64", "float16") and shape == (1024, 2048)
    assert tensor.untyped_storage().resizable() is not numpy_backed
    tensor.fill_(3)
    assert bool((tensor == 3).all())


def test_a_model_whose_large_weights_were_drawn_into_them_trains_and_saves(tmp_path):
    """A kernel that waited for its graph is drawn into in place; the model then trains, saves
    and loads as any other."""
    import keras_initpolicy as kip

    with kip.parse("@seed 1\nDense -> auto").scope():
        inputs = keras.Input((1024,))
        dense = keras.layers.Dense(1024)  # 4 MiB; its activation comes from the next layer
        model = keras.Model(inputs, keras.layers.Activation("relu")(dense(inputs)))
    kernel = keras.ops.convert_to_numpy(dense.kernel).copy()
    assert kernel.std() == pytest.approx((2 / 1024) ** 0.5, rel=0.05)  # He, drawn in place
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 1024)), np.zeros((4, 1024)), verbose=0)
    trained = keras.ops.convert_to_numpy(dense.kernel)
    assert not np.array_equal(kernel, trained)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again.layers[1].kernel), trained)
