"""Drawing (runtime/draw.py, docs/reference.md "@sampler"): under ``@sampler keras`` every weight
is Keras's own draw, bit for bit, on every backend, whichever path draws it (JAX's bucketed
draws, torch's cheaper truncated-normal pick, a weight drawn again straight into its variable);
``@sampler fast`` draws the same distribution."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

import keras_initpolicy as kip  # noqa: E402
from keras_initpolicy.runtime import draw  # noqa: E402
from keras_initpolicy.runtime.draw import bucket, draw_into, drawing  # noqa: E402

pytestmark = pytest.mark.keras

BACKEND = keras.backend.backend()

#: one initializer per distribution Keras draws from, with a mean where it has one
INITIALIZERS = {
    "normal": lambda: keras.initializers.RandomNormal(0.1, 0.3, seed=11),
    "uniform": lambda: keras.initializers.RandomUniform(-0.2, 0.7, seed=12),
    "truncated_normal": lambda: keras.initializers.TruncatedNormal(0.1, 0.5, seed=13),
    "he_normal": lambda: keras.initializers.HeNormal(seed=14),
    "glorot_uniform": lambda: keras.initializers.GlorotUniform(seed=15),
    "lecun_normal_untruncated": lambda: keras.initializers.VarianceScaling(
        1.0, "fan_in", "untruncated_normal", seed=16
    ),
    "orthogonal": lambda: keras.initializers.Orthogonal(seed=17),
}
#: shapes below, at and above a bucket, and one in the quarter-step range above 2**20
SHAPES = [(3, 5), (16, 16), (17, 16), (3, 3, 8, 16), (1100, 1000)]


def numpy(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


CASES = [
    (name, shape)
    for name in sorted(INITIALIZERS)
    for shape in SHAPES
    if not (name == "orthogonal" and math.prod(shape) > 10_000)  # a 1100x1000 QR adds nothing
]


@pytest.mark.parametrize("name, shape", CASES, ids=str)
def test_keras_sampler_draws_keras_values_bit_for_bit(name, shape):
    expected = numpy(INITIALIZERS[name]()(shape, dtype="float32"))
    drawn = numpy(drawing(INITIALIZERS[name](), "keras")(shape, dtype="float32"))
    np.testing.assert_array_equal(drawn, expected)


def test_bucket_sizes():
    assert bucket(1) == bucket(256) == 256
    assert bucket(257) == 512 and bucket(2**20) == 2**20
    assert bucket(2**20 + 1) == 2**20 + 2**18  # quarter steps of 2**20 above it
    for n in (3, 1000, 2**20 + 5, 3_000_001, 2**25 - 1):
        assert n <= bucket(n) and (n <= 256 or bucket(n) < 2 * n if n <= 2**20 else True)
        assert n <= 2**20 or bucket(n) <= 1.25 * n + 2**18


def model(dim=24):
    keras.utils.set_random_seed(5)
    inputs = keras.Input((dim,))
    x = layers.Dense(dim, activation="relu", kernel_initializer="he_normal")(inputs)
    x = layers.Dense(33, kernel_initializer=keras.initializers.RandomNormal(0.1, 0.3))(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dense(7, kernel_initializer=keras.initializers.TruncatedNormal(0.0, 0.5))(x)
    x = layers.Dense(3, kernel_initializer="orthogonal", bias_initializer="random_uniform")(x)
    return keras.Model(inputs, x)


def test_a_scope_that_decides_nothing_draws_every_weight_as_plain_keras():
    plain = [numpy(w) for w in model().weights]
    with kip.parse("Conv3D -> zeros  # noqa").scope():
        scoped = [numpy(w) for w in model().weights]
    for a, b in zip(plain, scoped, strict=True):
        np.testing.assert_array_equal(a, b)


def test_rule_decided_weights_are_their_configs_draws():
    """Re-drawn from its layer's config outside any scope, each rule-decided weight gives the
    same values: the distribution and the seed the config names, drawn as Keras draws them."""
    policy = kip.parse(
        "@seed 9\nDense -> he_normal\nDense[units=33] -> random_normal(0.2, 0.5)\n"
        "Dense[units=7] -> truncated_normal(0.1, 0.4)\n*.bias -> random_uniform(-0.1, 0.1)"
        "  # noqa: IP204, IP405"
    )
    with policy.scope():
        built = model()
    for layer in built.layers:
        for weight in layer.weights:
            if weight.name not in ("kernel", "bias"):
                continue
            config = layer.get_config()[f"{weight.name}_initializer"]
            again = keras.initializers.deserialize(config)(tuple(weight.shape), dtype="float32")
            np.testing.assert_array_equal(numpy(again), numpy(weight))


# -- @sampler fast -----------------------------------------------------------------------------

FAST = "@seed 3\n@sampler fast\nDense -> truncated_normal(stddev=0.5)"


def fast_kernel(policy_text=FAST, units=400):
    with kip.parse(policy_text).scope():
        dense = layers.Dense(units)
        dense.build((None, 200))
    return numpy(dense.kernel).ravel()


def test_fast_truncated_normal_stays_inside_its_bounds_with_the_right_moments():
    x = fast_kernel() / 0.5  # 80,000 values of N(0, 1) truncated to (-2, 2)
    assert np.abs(x).max() <= 2.0
    low = 0.5 * math.erfc(2 / math.sqrt(2))
    density = math.exp(-2) / math.sqrt(2 * math.pi)
    variance = 1 - 4 * density / (1 - 2 * low)  # of N(0, 1) truncated to (-2, 2): 0.7737
    standard_error = math.sqrt(variance / x.size)
    assert abs(x.mean()) < 5 * standard_error
    assert x.var() == pytest.approx(variance, rel=0.03)


def test_fast_truncated_normal_passes_a_kolmogorov_smirnov_test():
    stats = pytest.importorskip("scipy.stats")
    x = fast_kernel() / 0.5
    assert stats.kstest(x, stats.truncnorm(-2, 2).cdf).pvalue > 0.001


def test_fast_sampler_is_reproducible_under_seed_and_differs_between_seeds():
    np.testing.assert_array_equal(fast_kernel(), fast_kernel())
    assert not np.array_equal(fast_kernel(), fast_kernel(FAST.replace("@seed 3", "@seed 4")))


def test_fast_sampler_configs_name_the_plain_keras_initializer():
    with kip.parse(FAST).scope():
        dense = layers.Dense(4)
        dense.build((None, 3))
    assert dense.get_config()["kernel_initializer"]["class_name"] == "TruncatedNormal"


def test_fast_differs_from_keras_only_where_a_faster_method_exists():
    """JAX's own truncated normal is an inverse CDF already: `fast` draws Keras's values
    there; torch and TensorFlow draw other values of the same distribution."""
    keras_values = fast_kernel(FAST.replace("@sampler fast", "@sampler keras"))
    same = np.array_equal(fast_kernel(), keras_values)
    assert same is (BACKEND == "jax")


def test_sampler_directive_is_checked():
    assert kip.parse("@sampler fast").sampler == "fast"
    assert kip.parse("Dense -> zeros  # noqa").sampler == "keras"
    with pytest.raises(kip.PolicyError, match="`@sampler` takes `keras` or `fast`"):
        kip.parse("@sampler quick")


def test_truncated_normal_is_keras_value_for_value_on_many_draws():
    """On torch a chain of `where` picks what Keras's `max` and `gather` pick."""
    for seed in range(20):
        init = keras.initializers.TruncatedNormal(stddev=0.7, seed=seed)
        np.testing.assert_array_equal(
            numpy(drawing(init, "keras")((64, 33))), numpy(init((64, 33)))
        )


@pytest.mark.parametrize("n", [1, 3, 4, 5, 15, 16, 17, 1001, 1 << 20])
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_every_distribution_in_every_float_dtype_is_keras_value_for_value(n, dtype):
    """Sizes around torch's 16-value normal blocks, and one above 4 MiB (torch: a tensor backed
    by NumPy, runtime/torch_tensors.py)."""
    for name in ("normal", "uniform", "truncated_normal"):
        expected = INITIALIZERS[name]()((n,), dtype=dtype)
        drawn = drawing(INITIALIZERS[name](), "keras")((n,), dtype=dtype)
        assert drawn.dtype == expected.dtype  # (JAX without x64 draws float64 as float32)
        cast = [numpy(keras.ops.cast(x, "float32")) for x in (drawn, expected)]
        np.testing.assert_array_equal(*cast, err_msg=name)


def variable(shape, dtype="float32"):
    return keras.Variable(np.zeros(shape), dtype=dtype, trainable=True)


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
@pytest.mark.parametrize("shape", [(3, 5), (64, 33, 3)], ids=str)
def test_a_weight_drawn_again_gets_keras_values(name, shape):
    """``draw_into`` (a weight that waited for its graph) gives the variable exactly what a
    fresh draw gives; on torch it is written into the variable's storage."""
    var = variable(shape)
    draw_into(var, INITIALIZERS[name](), "keras")
    np.testing.assert_array_equal(numpy(var), numpy(INITIALIZERS[name]()(shape, "float32")))


@pytest.mark.skipif(BACKEND != "torch", reason="in-place drawing is torch's")
@pytest.mark.parametrize("name", ["normal", "uniform", "truncated_normal", "he_normal"])
@pytest.mark.parametrize("sampler", ["keras", "fast"])
def test_torch_draws_straight_into_the_variable(name, sampler, monkeypatch):
    var = variable((40, 30))
    storage = var.value.data_ptr()
    assigned = []
    monkeypatch.setattr(type(var), "assign", lambda self, value: assigned.append(value))
    draw_into(var, INITIALIZERS[name](), sampler)
    assert not assigned and var.value.data_ptr() == storage
    assert np.abs(numpy(var)).min() > 0  # drawn: no zero left


def test_an_initializer_computing_from_its_own_draw_is_assigned_whole():
    """An initializer whose result is computed from (or a view of) the draw of the variable's
    shape: the draw may land in the storage, the result is what the variable gets."""

    def transposed(shape, dtype=None):
        return keras.ops.transpose(keras.random.normal(shape, seed=4, dtype=dtype))

    def shifted(shape, dtype=None):
        x = keras.random.uniform(shape, seed=5, dtype=dtype)
        return x - keras.ops.mean(x)

    for init in (transposed, shifted):
        var = variable((6, 6))
        draw_into(var, init, "keras")
        np.testing.assert_array_equal(numpy(var), numpy(init((6, 6), "float32")))


def test_fast_draws_the_same_values_fresh_or_into_a_variable_scanned_in_parts(monkeypatch):
    def fresh():
        init = keras.initializers.TruncatedNormal(0.0, 0.3, seed=21)
        return numpy(drawing(init, "fast")((300, 70)))

    expected = fresh()
    monkeypatch.setattr(draw, "_SCAN", 1000)  # torch scans for values to draw again in parts
    var = variable((300, 70))
    draw_into(var, keras.initializers.TruncatedNormal(0.0, 0.3, seed=21), "fast")
    np.testing.assert_array_equal(numpy(var), expected)
    np.testing.assert_array_equal(fresh(), expected)
    assert np.abs(expected).max() < 0.6


@pytest.mark.parametrize("scan", [1000, 1 << 20])
def test_keras_truncated_normal_is_keras_value_for_value_picked_in_parts(scan, monkeypatch):
    """torch picks among the candidates a part of ``_SCAN`` rows at a time: with parts of
    1,000 values (21 parts and a short last one) the values are still Keras's."""
    monkeypatch.setattr(draw, "_SCAN", scan)
    init = keras.initializers.TruncatedNormal(0.1, 0.4, seed=22)
    drawn = numpy(drawing(init, "keras")((300, 70)))
    np.testing.assert_array_equal(drawn, numpy(init((300, 70))))
