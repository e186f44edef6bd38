"""Build under a policy inside keras.distribution on a 2-device JAX CPU mesh (subprocess).

Usage: XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax \
       python jax_distribution.py data|model|large
       (``meshes``: with ``device_count=8``)
Exits non-zero with a message when a check fails. Used by tests/runtime/test_distribution.py.
"""

import sys

import jax
import keras
import numpy as np
from distribution_common import POLICY, build, check_he_normal, fit_one_epoch

import keras_initpolicy as kip


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


def reference_kernel(width, inputs):
    """The same seeded build without any distribution."""
    keras.distribution.set_distribution(None)
    with kip.parse(POLICY).scope():
        model = build(width, inputs)
    return np.asarray(model.get_layer("wide").kernel.value)


def meshes():
    """8 devices: a kernel large enough for Keras to initialize it sharded under ``jax.jit``
    is never held whole by one device, and is the same on every mesh as on one device."""
    devices = keras.distribution.list_devices()
    assert len(devices) == 8, devices
    width, inputs = 4096, 8192
    reference = reference_kernel(width, inputs)
    for shape in ((1, 8), (2, 4), (8, 1)):
        mesh = keras.distribution.DeviceMesh(shape, ["batch", "model"], devices)
        layout_map = keras.distribution.LayoutMap(mesh)
        layout_map["wide/kernel"] = (None, "model")
        keras.distribution.set_distribution(keras.distribution.ModelParallel(layout_map=layout_map))
        with kip.parse(POLICY).scope():
            model = build(width, inputs)
        kernel = model.get_layer("wide").kernel.value
        parts = shape[1]
        for shard in kernel.addressable_shards:
            assert shard.data.shape == (inputs, width // parts), (shape, shard.data.shape)
        np.testing.assert_array_equal(np.asarray(kernel), reference, f"mesh {shape}")
        del model, kernel
    print("ok meshes")


def main(mode):
    if mode == "meshes":
        return meshes()
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
    for fun in jitted:  # the policy's plain Keras initializer, seeded, drawn through draw.py
        initializer = fun.__self__.initializer  # runtime/draw.py's _Draw
        assert isinstance(initializer, keras.initializers.HeNormal), initializer
        assert type(initializer.seed) is int, initializer.seed
    kernel = model.get_layer("wide").kernel
    if mode != "data":
        spec = kernel.value.sharding.spec
        assert tuple(spec) == (None, "model"), spec
        assert kernel.value.addressable_shards[0].data.shape == (inputs, width // 2)
    check_replicas(model)
    check_he_normal(kernel.value, fan_in=inputs)
    assert not np.any(np.asarray(model.get_layer("wide").bias.value))
    distributed = np.asarray(kernel.value)
    if mode == "large":
        del model, kernel
    else:
        model.compile(optimizer="adam", loss="mse")
        fit_one_epoch(model)
    # sharding does not change the draw: the same seeded build on one device is identical
    np.testing.assert_array_equal(distributed, reference_kernel(width, inputs))
    print("ok", mode)


if __name__ == "__main__":
    main(sys.argv[1])
