"""Build under a policy inside keras.distribution on a 2-device JAX CPU mesh (subprocess).

Usage: XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax \
       python jax_distribution.py data|model|large
Exits non-zero with a message when a check fails. Used by tests/test_distribution.py.
"""

import math
import sys

import jax
import keras
import numpy as np

import keras_initpolicy as kip

POLICY = """
@seed 7
Dense[activation=relu] -> he_normal
Dense                  -> glorot_uniform
*.bias                 -> zeros
"""
TRUNCATION_STD = 0.87962566103423978


def build(width=256, inputs=64):
    x_in = keras.Input((inputs,))
    x = keras.layers.Dense(width, activation="relu", name="wide")(x_in)
    outputs = keras.layers.Dense(4, name="head")(x)
    return keras.Model(x_in, outputs)


def check_replicas(model):
    """Every device holds the same values for each index of every weight."""
    for w in model.weights:
        array = w.value
        shards = array.addressable_shards
        assert len({s.device for s in shards}) == 2, (w.path, array.sharding)
        full = np.asarray(array)
        for shard in shards:
            np.testing.assert_array_equal(np.asarray(shard.data), full[shard.index], w.path)
        replicated = [s for s in shards if np.asarray(s.data).shape == full.shape]
        for shard in replicated[1:]:
            np.testing.assert_array_equal(np.asarray(shard.data), np.asarray(replicated[0].data))


def check_he_normal(kernel):
    x = np.asarray(kernel.value, dtype=np.float64).ravel()
    sigma = math.sqrt(2 / kernel.shape[0])
    assert np.abs(x).max() <= 2 * sigma / TRUNCATION_STD * (1 + 1e-5), "not truncated"
    tolerance = max(6 / math.sqrt(2 * x.size), 0.005)
    assert abs(x.std() / sigma - 1) < tolerance, (x.std(), sigma)
    assert abs(x.mean()) < 5 * sigma / math.sqrt(x.size)


def reference_kernel(width, inputs):
    """The same seeded build without any distribution."""
    keras.distribution.set_distribution(None)
    with kip.parse(POLICY).scope():
        model = build(width, inputs)
    return np.asarray(model.get_layer("wide").kernel.value)


def fit_one_epoch(model):
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, model.input_shape[-1])).astype("float32")
    y = rng.normal(size=(32, 4)).astype("float32")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def main(mode):
    devices = keras.distribution.list_devices()
    assert len(devices) == 2, devices
    width, inputs = (4096, 8192) if mode == "large" else (256, 64)
    if mode == "data":
        distribution = keras.distribution.DataParallel(devices=devices)
    else:
        mesh = keras.distribution.DeviceMesh((1, 2), ["batch", "model"], devices)
        layout_map = keras.distribution.LayoutMap(mesh)
        layout_map["wide/kernel"] = (None, "model")
        distribution = keras.distribution.ModelParallel(layout_map=layout_map)
    keras.distribution.set_distribution(distribution)
    jitted = []
    jit = jax.jit

    def spy(fun, **kwargs):  # Keras jits the initializer of large sharded variables
        if "out_shardings" in kwargs:
            jitted.append(fun)
        return jit(fun, **kwargs)

    jax.jit = spy
    try:
        with kip.parse(POLICY).scope():
            model = build(width, inputs)
    finally:
        jax.jit = jit
    # only the large kernel is big enough for the jit path (Keras: >= 250 MiB over the mesh)
    assert len(jitted) == (1 if mode == "large" else 0), jitted
    for fun in jitted:  # the policy's plain Keras initializer, seeded with an integer
        assert isinstance(fun.__self__, keras.initializers.HeNormal), fun
        assert type(fun.__self__.seed) is int, fun.__self__.seed
    kernel = model.get_layer("wide").kernel
    if mode != "data":
        spec = kernel.value.sharding.spec
        assert tuple(spec) == (None, "model"), spec
        assert kernel.value.addressable_shards[0].data.shape == (inputs, width // 2)
    check_replicas(model)
    check_he_normal(kernel)
    assert not np.any(np.asarray(model.get_layer("wide").bias.value))
    distributed = np.asarray(kernel.value)
    if mode == "large":
        del model, kernel
    else:
        fit_one_epoch(model)
    # sharding does not change the draw: the same seeded build on one device is identical
    np.testing.assert_array_equal(distributed, reference_kernel(width, inputs))
    print("ok", mode)


if __name__ == "__main__":
    main(sys.argv[1])
