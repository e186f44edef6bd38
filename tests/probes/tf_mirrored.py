"""Build under a policy inside tf.distribute.MirroredStrategy on 2 logical CPUs (subprocess).

Usage: KERAS_BACKEND=tensorflow python tf_mirrored.py
Exits non-zero with a message when a check fails. Used by tests/test_distribution.py.
"""

import math

import keras
import numpy as np
import tensorflow as tf

import keras_initpolicy as kip

POLICY = """
@seed 7
Dense[activation=relu] -> he_normal
Dense                  -> glorot_uniform
*.bias                 -> zeros
"""
TRUNCATION_STD = 0.87962566103423978


def build():
    inputs = keras.Input((64,))
    x = keras.layers.Dense(256, activation="relu", name="wide")(inputs)
    outputs = keras.layers.Dense(4, name="head")(x)
    return keras.Model(inputs, outputs)


def main():
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(devices) == 2, devices
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope(), kip.parse(POLICY).scope():
        model = build()
        model.compile(optimizer="adam", loss="mse")

    for w in model.weights:
        variable = w.value
        replicas = strategy.experimental_local_results(variable)
        assert len(replicas) == 2, (w.path, replicas)
        assert len({r.device for r in replicas}) == 2, [r.device for r in replicas]
        first = replicas[0].numpy()
        for replica in replicas[1:]:
            np.testing.assert_array_equal(replica.numpy(), first, w.path)

    kernel = model.get_layer("wide").kernel.numpy().astype(np.float64).ravel()
    sigma = math.sqrt(2 / 64)
    assert np.abs(kernel).max() <= 2 * sigma / TRUNCATION_STD * (1 + 1e-5)
    assert abs(kernel.std() / sigma - 1) < 6 / math.sqrt(2 * kernel.size), kernel.std()
    assert not np.any(model.get_layer("wide").bias.numpy())

    # the same seeded build without a strategy draws the same values
    with kip.parse(POLICY).scope():
        reference = build()
    np.testing.assert_array_equal(
        model.get_layer("wide").kernel.numpy(), reference.get_layer("wide").kernel.numpy()
    )

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 64)).astype("float32")
    y = rng.normal(size=(32, 4)).astype("float32")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for w in model.weights:  # still mirrored after training steps
        replicas = strategy.experimental_local_results(w.value)
        np.testing.assert_array_equal(replicas[0].numpy(), replicas[1].numpy(), w.path)
    print("ok mirrored")


if __name__ == "__main__":
    main()
