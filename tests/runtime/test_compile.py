"""Compiled initializers against docs/reference.md#formulas, and their equality with plain Keras
ones.

Statistics: every initializer and variant on a dense (256, 512), a conv (3, 3, 64, 128) and a
depthwise (3, 3, 64, 1) kernel. Each check pools at least 70k values (depthwise: many seeded
draws), so the standard error of the sample std is below 0.3% and the 3% tolerance is honest.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from keras_initpolicy.catalog.fans import layer_fans, shape_fans  # noqa: E402
from keras_initpolicy.catalog.initializers import check_call  # noqa: E402
from keras_initpolicy.language.parser import parse_file  # noqa: E402
from keras_initpolicy.runtime import compile as kc  # noqa: E402
from keras_initpolicy.runtime.compile import (  # noqa: E402
    WeightContext,
    compile_initializer,
    describe,
    rule_seed,
    variance_scaling_params,
)

TRUNCATION_STD = 0.87962566103423978  # std of N(0, 1) truncated at +-2, as Keras corrects by
KINDS = {
    "dense": (("Dense", "Layer"), {}, "kernel", (256, 512)),
    "conv": (("Conv2D", "BaseConv", "Layer"), {"groups": 1}, "kernel", (3, 3, 64, 128)),
    "depthwise": (("DepthwiseConv2D", "BaseDepthwiseConv", "Layer"), {}, "kernel", (3, 3, 64, 1)),
}
MIN_SAMPLES = 70_000


def call(text: str):
    init = parse_file(f"Dense -> {text}").rules[0].init
    assert check_call(init) == [], text
    return init


def context(kind: str, activation="linear", slope=None, seed=0, fans="layer") -> WeightContext:
    classes, config, weight, shape = KINDS[kind]
    fan_in, fan_out = layer_fans(classes, config, weight, shape, mode=fans)
    k_in, k_out = shape_fans(shape)
    return WeightContext(shape, "float32", fan_in, fan_out, k_in, k_out, activation, slope, seed)


# docs/reference.md#formulas, row by row: (uniform r, normal sigma) from (n_in, n_out, a).
def glorot(i, o, a):
    return math.sqrt(6 / (i + o)), math.sqrt(2 / (i + o))


def kwon_logistic(i, o, a):
    return 4 * math.sqrt(6 / (i + o)), 4 * math.sqrt(2 / (i + o))


def he(i, o, a):
    return math.sqrt(6 / i), math.sqrt(2 / i)


def he_kwon(i, o, a):
    return math.sqrt(2) * math.sqrt(6 / (i + o)), math.sqrt(2) * math.sqrt(2 / (i + o))


def he_slope(i, o, a):
    return math.sqrt(6 / ((1 + a * a) * i)), math.sqrt(2 / ((1 + a * a) * i))


def lecun(i, o, a):
    return math.sqrt(3 / i), math.sqrt(1 / i)


# (rule, effective activation, its slope, formula, slope used in the formula, distribution)
CASES = [
    ("glorot_uniform", "tanh", None, glorot, 0, "uniform"),
    ("glorot_normal", "tanh", None, glorot, 0, "truncated"),
    ("glorot_normal(distribution=untruncated_normal)", "tanh", None, glorot, 0, "untruncated"),
    ("glorot_uniform(variant=kwon)", "sigmoid", None, kwon_logistic, 0, "uniform"),
    ("glorot_normal(variant=kwon)", "sigmoid", None, kwon_logistic, 0, "truncated"),
    ("glorot_uniform(variant=kwon)", "tanh", None, glorot, 0, "uniform"),
    ("glorot_normal(variant=kwon)", "tanh", None, glorot, 0, "truncated"),
    ("glorot_normal(variant=kwon)", "linear", None, glorot, 0, "truncated"),
    ("he_uniform", "relu", 0.0, he, 0, "uniform"),
    ("he_normal", "relu", 0.0, he, 0, "truncated"),
    ("he_normal(distribution=untruncated_normal)", "relu", 0.0, he, 0, "untruncated"),
    ("he_uniform(variant=kwon)", "relu", 0.0, he_kwon, 0, "uniform"),
    ("he_normal(variant=kwon)", "relu", 0.0, he_kwon, 0, "truncated"),
    ("he_normal(negative_slope=0.2)", "leaky_relu", 0.2, he_slope, 0.2, "truncated"),
    ("he_uniform(negative_slope=auto)", "leaky_relu", 0.3, he_slope, 0.3, "uniform"),
    ("he_normal(negative_slope=auto)", "relu", 0.0, he, 0, "truncated"),
    ("lecun_uniform", "selu", None, lecun, 0, "uniform"),
    ("lecun_normal", "selu", None, lecun, 0, "truncated"),
    ("variance_scaling(2.0, fan_in, uniform)", "relu", 0.0, he, 0, "uniform"),
    ("variance_scaling(scale=16.0, mode=fan_avg)", "sigmoid", None, kwon_logistic, 0, "truncated"),
    ("auto", "relu", 0.0, he, 0, "truncated"),
    ("auto", "relu6", 0.0, he, 0, "truncated"),
    ("auto", "leaky_relu", 0.3, he_slope, 0.3, "truncated"),
    ("auto", "tanh", None, glorot, 0, "truncated"),
    ("auto", "sigmoid", None, kwon_logistic, 0, "truncated"),
    ("auto", "selu", None, lecun, 0, "truncated"),
    ("auto", "gelu", None, he, 0, "truncated"),
    ("auto", "silu", None, he, 0, "truncated"),
    ("auto", "linear", None, glorot, 0, "truncated"),
    ("auto", "softmax", None, glorot, 0, "truncated"),
    ("auto(distribution=uniform)", "relu", 0.0, he, 0, "uniform"),
    ("auto(distribution=uniform)", "leaky_relu", 0.1, he_slope, 0.1, "uniform"),
    ("auto(distribution=uniform)", "sigmoid", None, kwon_logistic, 0, "uniform"),
    ("auto(distribution=uniform)", "selu", None, lecun, 0, "uniform"),
    ("auto(distribution=uniform)", "tanh", None, glorot, 0, "uniform"),
    ("auto(distribution=untruncated_normal)", "relu", 0.0, he, 0, "untruncated"),
]
CASE_IDS = [f"{rule}@{act}" for rule, act, *_ in CASES]


def draw(init, kind: str, activation, slope, fans="layer") -> tuple[np.ndarray, WeightContext]:
    """Pool values from independently seeded initializers until there are enough."""
    ctx = context(kind, activation, slope, fans=fans)
    per_draw = math.prod(ctx.shape)
    values = []
    for seed in range(max(1, -(-MIN_SAMPLES // per_draw))):
        initializer = compile_initializer(init, context(kind, activation, slope, seed, fans))
        values.append(keras.ops.convert_to_numpy(initializer(ctx.shape, "float32")).ravel())
    return np.concatenate(values).astype(np.float64), ctx


def check_distribution(x: np.ndarray, r: float, sigma: float, distribution: str) -> None:
    n = x.size
    if distribution == "uniform":
        assert np.abs(x).max() <= r * (1 + 1e-5)
        assert np.abs(x).max() >= 0.99 * r  # the whole range is used
        expected_std = r / math.sqrt(3)
    else:
        expected_std = sigma
        beyond = np.mean(np.abs(x) > 2.05 * sigma / TRUNCATION_STD)
        if distribution == "truncated":
            bound = 2 * sigma / TRUNCATION_STD * (1 + 1e-5)
            # Keras's torch backend draws 4 normals per value and keeps the first one inside
            # (-2, 2); with probability 0.0455**4 ~ 4e-6 none is, and an untruncated one stays.
            allowed = 5e-5 if keras.backend.backend() == "torch" else 0.0
            assert np.mean(np.abs(x) > bound) <= allowed
        else:  # untruncated: about 2% of N(0, 1) lies beyond 2.33
            assert beyond > 0.01
    assert abs(x.mean()) < 5 * expected_std / math.sqrt(n)
    assert x.std() == pytest.approx(expected_std, rel=0.03)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("rule,activation,slope,formula,a,distribution", CASES, ids=CASE_IDS)
def test_statistics_match_spec_formulas(rule, activation, slope, formula, a, distribution, kind):
    x, ctx = draw(call(rule), kind, activation, slope)
    r, sigma = formula(ctx.fan_in, ctx.fan_out, a)
    check_distribution(x, r, sigma, distribution)


SHAPE_CASES = ["glorot_uniform@tanh", "he_normal@relu", "auto@sigmoid", "auto@selu"]


@pytest.mark.parametrize(
    "rule,activation,slope,formula,a,distribution",
    [CASES[CASE_IDS.index(i)] for i in SHAPE_CASES],
    ids=SHAPE_CASES,
)
def test_fans_shape_uses_keras_shape_rule_on_depthwise(
    rule, activation, slope, formula, a, distribution
):
    init = call(
        rule.replace("auto", "auto(fans=shape)") if rule == "auto" else f"{rule}(fans=shape)"
    )
    x, ctx = draw(init, "depthwise", activation, slope, fans="shape")
    assert (ctx.fan_in, ctx.fan_out) == (576, 9)
    r, sigma = formula(576, 9, a)
    check_distribution(x, r, sigma, distribution)


def test_depthwise_layer_fans_differ_from_keras():
    """The case that motivates layer-aware fans: He on a depthwise kernel is 8x wider."""
    layer = compile_initializer(call("he_normal"), context("depthwise", "relu", 0.0))
    plain = compile_initializer(call("he_normal(fans=shape)"), context("depthwise", "relu", 0.0))
    assert isinstance(plain, keras.initializers.HeNormal)
    assert type(layer) is keras.initializers.VarianceScaling
    assert layer.get_config()["scale"] == pytest.approx(2.0 * 576 / 9)


@pytest.mark.parametrize(
    "rule,activation,slope,expected",
    [
        ("he_normal", "relu", 0.0, "HeNormal"),
        ("HeUniform", "relu", 0.0, "HeUniform"),
        ("he_normal(negative_slope=auto)", "relu", 0.0, "HeNormal"),
        ("he_normal(negative_slope=0)", "linear", None, "HeNormal"),
        ("he_normal(distribution=normal)", "relu", 0.0, "HeNormal"),
        ("glorot_normal", "tanh", None, "GlorotNormal"),
        ("glorot_uniform", "relu", 0.0, "GlorotUniform"),
        ("glorot_uniform(variant=kwon)", "tanh", None, "GlorotUniform"),
        ("lecun_normal", "selu", None, "LecunNormal"),
        ("lecun_uniform", "selu", None, "LecunUniform"),
        ("variance_scaling(2.0)", "relu", 0.0, "HeNormal"),
        ("variance_scaling(1.0, fan_avg, uniform)", "tanh", None, "GlorotUniform"),
        ("auto", "relu", 0.0, "HeNormal"),
        ("auto", "gelu", None, "HeNormal"),
        ("auto", "tanh", None, "GlorotNormal"),
        ("auto", "linear", None, "GlorotNormal"),
        ("auto", "selu", None, "LecunNormal"),
        ("auto(distribution=uniform)", "relu", 0.0, "HeUniform"),
        ("auto(distribution=uniform)", "selu", None, "LecunUniform"),
        ("glorot_normal(variant=kwon)", "sigmoid", None,
         "VarianceScaling(scale=16.0, mode=fan_avg, distribution=truncated_normal)"),
        ("he_uniform(variant=kwon)", "relu", 0.0,
         "VarianceScaling(scale=2.0, mode=fan_avg, distribution=uniform)"),
        ("he_normal(negative_slope=1)", "leaky_relu", 1.0, "LecunNormal"),  # 2 / (1 + 1) = 1
        ("he_normal(negative_slope=0.5)", "leaky_relu", 0.5,
         "VarianceScaling(scale=1.6, mode=fan_in, distribution=truncated_normal)"),
        ("he_normal(distribution=untruncated_normal)", "relu", 0.0,
         "VarianceScaling(scale=2.0, mode=fan_in, distribution=untruncated_normal)"),
        ("zeros", "relu", 0.0, "Zeros"),
        ("Ones", "relu", 0.0, "Ones"),
        ("constant(0.5)", "relu", 0.0, "Constant(value=0.5)"),
        ("identity", "relu", 0.0, "Identity"),
        ("orthogonal(1.5, 3)", "relu", 0.0, "Orthogonal(gain=1.5)"),
        ("random_normal(stddev=0.02)", "relu", 0.0, "RandomNormal(mean=0.0, stddev=0.02)"),
        ("TruncatedNormal(1, 2)", "relu", 0.0, "TruncatedNormal(mean=1.0, stddev=2.0)"),
        ("random_uniform(-0.5, 0.5)", "relu", 0.0, "RandomUniform(minval=-0.5, maxval=0.5)"),
    ],
)  # fmt: skip
def test_compiles_to_plain_keras(rule, activation, slope, expected):
    initializer = compile_initializer(call(rule), context("dense", activation, slope, seed=11))
    assert describe(initializer) == expected
    assert type(initializer).__module__.startswith("keras.")
    assert type(initializer).__name__ == expected.split("(")[0]
    if "seed" in initializer.get_config():
        assert initializer.get_config()["seed"] == 11
    # serialization round trip through Keras alone gives the same class and config
    config = keras.initializers.serialize(initializer)
    assert config["module"] == "keras.initializers"
    restored = keras.initializers.deserialize(config)
    assert type(restored) is type(initializer)
    assert restored.get_config() == initializer.get_config()


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_named_class_draws_exactly_what_keras_draws(kind):
    ctx = context(kind, "relu", 0.0, seed=3)
    ours = compile_initializer(call("he_uniform"), ctx)(ctx.shape, "float32")
    theirs = keras.initializers.HeUniform(seed=3)(ctx.shape, "float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs)
    )


@pytest.mark.parametrize(
    "rule,expected",
    [("random_normal(stddev=0.02)", (0.0, 0.02)), ("truncated_normal(0.5, 0.1)", (0.5, 0.1))],
    ids=["random_normal", "truncated_normal"],
)
def test_plain_random_normals(rule, expected):
    ctx = context("dense", seed=1)
    x = keras.ops.convert_to_numpy(compile_initializer(call(rule), ctx)(ctx.shape, "float32"))
    mean, stddev = expected
    bias = TRUNCATION_STD if rule.startswith("truncated") else 1.0  # Keras does not correct here
    assert x.mean() == pytest.approx(mean, abs=5 * stddev / math.sqrt(x.size))
    assert x.std() == pytest.approx(stddev * bias, rel=0.03)


def test_plain_random_uniform():
    ctx = context("dense", seed=1)
    init = compile_initializer(call("random_uniform(-0.5, 0.5)"), ctx)
    x = keras.ops.convert_to_numpy(init(ctx.shape, "float32"))
    assert x.min() >= -0.5 and x.max() <= 0.5
    assert x.std() == pytest.approx(1 / math.sqrt(12), rel=0.03)


def test_variance_scaling_params_fold_layer_fans_into_scale():
    ctx = context("depthwise", "tanh")
    scale, mode, distribution = variance_scaling_params(call("glorot_uniform"), ctx)
    # Keras divides by (576 + 9) / 2; the layer-aware denominator is (9 + 9) / 2
    assert (mode, distribution) == ("fan_avg", "uniform")
    assert scale == pytest.approx(585 / 18)


def test_seeds_come_from_the_context():
    init = call("he_normal(seed=5)")
    assert rule_seed(init) == 5 and rule_seed(call("he_normal(5)")) == 5
    assert rule_seed(call("he_normal")) is None and rule_seed(call("zeros")) is None

    def values(seed):
        ctx = context("dense", "relu", 0.0, seed=seed)
        return keras.ops.convert_to_numpy(compile_initializer(init, ctx)(ctx.shape))

    np.testing.assert_array_equal(values(7), values(7))
    assert not np.array_equal(values(7), values(8))
    unseeded = compile_initializer(init, context("dense", "relu", 0.0, seed=None))
    assert unseeded.get_config()["seed"] is None  # the rule's seed is the caller's to derive


def test_kwon_on_other_activations_warns_once(monkeypatch):
    monkeypatch.setattr(kc, "_warned_kwon", set())
    init = call("glorot_uniform(variant=kwon)")
    with pytest.warns(UserWarning, match="activation='relu'"):
        first = compile_initializer(init, context("dense", "relu", 0.0))
    assert describe(first) == "GlorotUniform"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compile_initializer(init, context("conv", "relu", 0.0))
        compile_initializer(init, context("dense", "tanh"))
    with pytest.warns(UserWarning, match="activation='gelu'"):
        compile_initializer(init, context("dense", "gelu"))


def test_identity_with_gain_keeps_its_gain_through_a_config():
    initializer = compile_initializer(call("identity(gain=2)"), context("dense"))
    assert describe(initializer) == "ScaledIdentity(gain=2.0)"
    assert isinstance(initializer, keras.initializers.Identity)
    restored = keras.initializers.deserialize(keras.initializers.serialize(initializer))
    assert type(restored) is type(initializer) and restored.get_config() == {"gain": 2.0}
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored((3, 3))), 2 * np.eye(3))


def test_describe_variance_scaling_from_keras():
    vs = keras.initializers.VarianceScaling(scale=16.0, mode="fan_avg", distribution="normal")
    assert (
        describe(vs) == "VarianceScaling(scale=16.0, mode=fan_avg, distribution=truncated_normal)"
    )


# -- the variance-scaling families, declared once in catalog/initializers.py ----------------------


def _members():
    from keras_initpolicy.catalog.initializers import VARIANCE_FAMILIES

    return [(f, m) for f in VARIANCE_FAMILIES.values() for m in f.members]


@pytest.mark.parametrize(("fam", "member"), _members(), ids=lambda x: getattr(x, "name", ""))
def test_every_declared_member_compiles_to_its_keras_class(fam, member):
    """Each member compiles to the Keras class it declares, and that class draws with the
    declared scale, mode and distribution; so does ``variance_scaling`` with those numbers."""
    ctx = context("dense", activation="relu", slope=0.0)
    compiled = compile_initializer(call(member.name), ctx)
    keras_class = getattr(keras.initializers, member.class_name)
    assert type(compiled) is keras_class
    assert (compiled.scale, compiled.mode, compiled.distribution) == (
        fam.scale,
        fam.mode,
        member.distribution,
    )
    by_numbers = compile_initializer(
        call(f'variance_scaling({fam.scale}, "{fam.mode}", "{member.distribution}")'), ctx
    )
    assert type(by_numbers) is keras_class
    assert variance_scaling_params(call(member.name), ctx) == (
        fam.scale,
        fam.mode,
        member.distribution,
    )


def test_every_keras_variance_scaling_class_is_a_declared_member():
    declared = {m.class_name for _, m in _members()}
    exported = [getattr(keras.initializers, name) for name in dir(keras.initializers)]
    keras_named = {
        cls.__name__
        for cls in exported
        if isinstance(cls, type)
        and issubclass(cls, keras.initializers.VarianceScaling)
        and cls is not keras.initializers.VarianceScaling
    }
    assert declared == keras_named
