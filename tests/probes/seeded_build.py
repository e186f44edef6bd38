"""Build one seeded model under a policy and save its weights (run in a subprocess).

Usage: python seeded_build.py OUT.npz   (the backend comes from KERAS_BACKEND)
Used by tests/runtime/test_backends.py; kept out of test modules so they never import Keras themselves.
"""

import sys

import keras
import numpy as np

import keras_initpolicy as kip

POLICY = """
@seed 1234
Dense[activation=relu]   -> he_normal
Dense[activation=tanh]   -> glorot_uniform
Dense[activation=linear] -> glorot_normal
Conv2D                   -> he_uniform
*.bias                   -> zeros
"""


def build():
    inputs = keras.Input((8, 8, 32))
    x = keras.layers.Conv2D(64, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(256, name="squeeze")(x)
    x = keras.layers.Dense(512, activation="relu", name="relu")(x)
    x = keras.layers.Dense(512, activation="tanh", name="tanh")(x)
    outputs = keras.layers.Dense(10, name="head")(x)
    return keras.Model(inputs, outputs)


def main(out):
    with kip.parse(POLICY).scope():
        model = build()
    arrays = {w.path.replace("/", "."): keras.ops.convert_to_numpy(w.value) for w in model.weights}
    np.savez(out, backend=np.array(keras.backend.backend()), **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
