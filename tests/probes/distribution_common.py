"""What the distribution probes share: the policy, the model, the He-normal check, one epoch.

Imported by jax_distribution.py and tf_mirrored.py, which run as scripts from this folder.
"""

import math

import keras
import numpy as np

POLICY = """
@seed 7
Dense[activation=relu] -> he_normal
Dense                  -> glorot_uniform
*.bias                 -> zeros
"""
#: Keras's truncated normal is cut at 2 sigma and rescaled by this to keep the asked-for std.
TRUNCATION_STD = 0.87962566103423978


def build(width=256, inputs=64):
    x_in = keras.Input((inputs,))
    x = keras.layers.Dense(width, activation="relu", name="wide")(x_in)
    outputs = keras.layers.Dense(4, name="head")(x)
    return keras.Model(x_in, outputs)


def check_he_normal(values, fan_in):
    """``values`` look like He-normal (Keras's truncated form) for ``fan_in``."""
    x = np.asarray(values, dtype=np.float64).ravel()
    sigma = math.sqrt(2 / fan_in)
    assert np.abs(x).max() <= 2 * sigma / TRUNCATION_STD * (1 + 1e-5), "not truncated"
    tolerance = max(6 / math.sqrt(2 * x.size), 0.005)
    assert abs(x.std() / sigma - 1) < tolerance, (x.std(), sigma)
    assert abs(x.mean()) < 5 * sigma / math.sqrt(x.size)


def fit_one_epoch(model):
    """One epoch on random data of a compiled model; the loss must stay finite."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, model.input_shape[-1])).astype("float32")
    y = rng.normal(size=(32, 4)).astype("float32")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
