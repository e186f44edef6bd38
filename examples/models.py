"""Model builders used by the README, the CLI examples and the tests.

Each function builds and returns a small Keras model; run one under a policy with
``initpolicy explain examples/policies/cnn.initpolicy --model examples.models:cnn``.
"""

import keras
from keras import layers


def cnn(num_classes: int = 10) -> keras.Model:
    """Conv -> BN -> ReLU blocks, a LeakyReLU 1x1 conv, a depthwise block, a classifier."""
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for filters in (16, 32):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 1, use_bias=False)(x)
    x = layers.LeakyReLU(negative_slope=0.1)(x)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="cnn")


def mlp(depth: int = 4, width: int = 64) -> keras.Model:
    """A plain ReLU MLP."""
    model = keras.Sequential([keras.Input((32,))], name="mlp")
    for _ in range(depth):
        model.add(layers.Dense(width, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    return model


def rnn(vocab: int = 1000) -> keras.Model:
    """Embedding -> LSTM -> sigmoid head."""
    return keras.Sequential(
        [
            keras.Input((20,), dtype="int32"),
            layers.Embedding(vocab, 32),
            layers.LSTM(32),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="rnn",
    )


def transformer(vocab: int = 1000, dim: int = 32, heads: int = 4) -> keras.Model:
    """One transformer encoder block over token embeddings."""
    inputs = keras.Input((16,), dtype="int32")
    x = layers.Embedding(vocab, dim)(inputs)
    attn = layers.MultiHeadAttention(num_heads=heads, key_dim=dim // heads)(x, x)
    x = layers.LayerNormalization()(layers.Add()([x, attn]))
    ff = layers.Dense(4 * dim, activation="gelu")(x)
    ff = layers.Dense(dim)(ff)
    x = layers.LayerNormalization()(layers.Add()([x, ff]))
    outputs = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(x))
    return keras.Model(inputs, outputs, name="transformer")
