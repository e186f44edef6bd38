"""Build under a policy inside tf.distribute.MirroredStrategy on 2 logical CPUs (subprocess).

Usage: KERAS_BACKEND=tensorflow python tf_mirrored.py
Exits non-zero with a message when a check fails. Used by tests/runtime/test_distribution.py.
"""

import numpy as np
import tensorflow as tf
from distribution_common import POLICY, build, check_he_normal, fit_one_epoch

import keras_initpolicy as kip


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

    check_he_normal(model.get_layer("wide").kernel.numpy(), fan_in=64)
    assert not np.any(model.get_layer("wide").bias.numpy())

    # the same seeded build without a strategy draws the same values
    with kip.parse(POLICY).scope():
        reference = build()
    np.testing.assert_array_equal(
        model.get_layer("wide").kernel.numpy(), reference.get_layer("wide").kernel.numpy()
    )

    fit_one_epoch(model)
    for w in model.weights:  # still mirrored after training steps
        replicas = strategy.experimental_local_results(w.value)
        np.testing.assert_array_equal(replicas[0].numpy(), replicas[1].numpy(), w.path)
    print("ok mirrored")


if __name__ == "__main__":
    main()
