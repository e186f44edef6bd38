"""The initializer catalogue: names, families, argument binding and IP105/IP106 diagnostics."""

from __future__ import annotations

import subprocess
import sys

import pytest

from keras_initpolicy.catalog import initializers as ic
from keras_initpolicy.language.nodes import Argument, InitCall, Word
from keras_initpolicy.language.parser import parse_file

KERAS_BUILTINS = {
    "zeros": "Zeros",
    "ones": "Ones",
    "constant": "Constant",
    "random_normal": "RandomNormal",
    "random_uniform": "RandomUniform",
    "truncated_normal": "TruncatedNormal",
    "variance_scaling": "VarianceScaling",
    "orthogonal": "Orthogonal",
    "identity": "Identity",
    "glorot_normal": "GlorotNormal",
    "glorot_uniform": "GlorotUniform",
    "he_normal": "HeNormal",
    "he_uniform": "HeUniform",
    "lecun_normal": "LecunNormal",
    "lecun_uniform": "LecunUniform",
}


def call(text: str) -> InitCall:
    """Parse ``Dense -> <text>`` and return its initializer call (with real positions)."""
    return parse_file(f"Dense -> {text}").rules[0].init


def diags(text: str):
    return ic.check_call(call(text), "p.initpolicy")


@pytest.mark.parametrize("snake,camel", sorted(KERAS_BUILTINS.items()), ids=sorted(KERAS_BUILTINS))
def test_every_keras_builtin_by_both_spellings(snake, camel):
    assert ic.canonical_name(snake) == snake
    assert ic.canonical_name(camel) == snake
    assert ic.check_call(InitCall(camel)) == []


def test_catalogue_matches_keras_signatures():
    """Parameter names, order and defaults are Keras's own (Keras imported only here)."""
    import inspect

    keras = pytest.importorskip("keras")
    for snake, camel in KERAS_BUILTINS.items():
        sig = inspect.signature(getattr(keras.initializers, camel).__init__)
        params = [
            (p.name, p.default)
            for p in list(sig.parameters.values())[1:]
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in ("input_axes", "output_axes")
        ]
        assert list(ic.SPECS[snake].params) == params, snake


def test_auto_and_unknown():
    assert ic.canonical_name("auto") == "auto"
    assert ic.canonical_name("xavier_uniform") is None
    assert ic.canonical_name("he-normal") is None


@pytest.mark.parametrize(
    "name,fam,random,constant",
    [
        ("glorot_uniform", "glorot", True, False),
        ("HeNormal", "he", True, False),
        ("lecun_uniform", "lecun", True, False),
        ("variance_scaling", "variance_scaling", True, False),
        ("orthogonal", "orthogonal", True, False),
        ("identity", "identity", False, False),
        ("random_normal", "random", True, False),
        ("truncated_normal", "random", True, False),
        ("random_uniform", "random", True, False),
        ("zeros", "constant", False, True),
        ("Ones", "constant", False, True),
        ("constant", "constant", False, True),
        ("auto", "auto", True, False),
    ],
)
def test_families(name, fam, random, constant):
    assert ic.family(name) == fam
    assert ic.is_random(name) is random
    assert ic.is_constant_family(name) is constant


@pytest.mark.parametrize(
    "text",
    [
        "he_normal",
        "he_normal()",
        "he_normal(42)",
        "he_normal(seed=42)",
        "he_normal(negative_slope=0.2)",
        "he_normal(negative_slope=auto)",
        'he_uniform(negative_slope="auto", variant=kwon, distribution=untruncated_normal)',
        "glorot_uniform(variant=kwon)",
        "glorot_normal(fans=shape, distribution=uniform)",
        "lecun_normal(distribution=normal)",
        "variance_scaling(2.0, fan_out, uniform, 3)",
        'variance_scaling(scale=0.5, mode="fan_avg", distribution=truncated_normal, fans=layer)',
        "random_normal(stddev=0.02)",
        "random_normal(0.0, 0.02, 7)",
        "truncated_normal(mean=1, stddev=1)",
        "random_uniform(-0.5, 0.5)",
        "constant(0.1)",
        "constant(value=-3)",
        "orthogonal(gain=1.0)",
        "identity(2)",
        "auto",
        "auto(distribution=uniform, seed=1, fans=shape)",
        "zeros()",
        "he_normal(seed=none)",
    ],
)
def test_valid_calls(text):
    assert diags(text) == []


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("random_normal(stddev=-0.1)", "Argument `stddev` must be positive. Received: stddev=-0.1"),
        ("random_normal(0.0, 0)", "Argument `stddev` must be positive. Received: stddev=0"),
        (
            "truncated_normal(stddev=abc)",
            "Argument `stddev` must be a number. Received: stddev=abc",
        ),
        ("orthogonal(gain=0)", "Argument `gain` must be positive. Received: gain=0"),
        ("identity(-1.0)", "Argument `gain` must be positive. Received: gain=-1.0"),
        ("variance_scaling(scale=0)", "Argument `scale` must be positive. Received: scale=0"),
        ("variance_scaling(mode=fan_sum)", "must be one of fan_in, fan_out, fan_avg"),
        ("variance_scaling(1.0, fan_inn)", "Did you mean `fan_in`?"),
        ("he_normal(distribution=gaussian)", "Argument `distribution` must be one of"),
        ("he_normal(seed=1.5)", "Argument `seed` must be an integer. Received: seed=1.5"),
        ('he_normal(seed="1")', "Argument `seed` must be an integer."),
        ("he_normal(seed=true)", "Argument `seed` must be an integer. Received: seed=true"),
        ("he_normal(negative_slope=-0.1)", "Argument `negative_slope` must be >= 0"),
        ("he_normal(negative_slope=leaky)", "must be a number >= 0 or `auto`"),
        ("glorot_uniform(variant=xavier)", "Argument `variant` must be one of kwon"),
        ("he_normal(fans=kernel)", "Argument `fans` must be one of layer, shape"),
        ("zeros(variant=kwon)", "`zeros` has no variants"),
        ("lecun_normal(variant=kwon)", "`variant` exists only on glorot_* and he_*"),
        ("glorot_uniform(negative_slope=0.1)", "Unknown argument `negative_slope`"),
        ("random_normal(stdev=0.1)", "Allowed: mean, stddev, seed. Did you mean `stddev`?"),
        ("random_normal(distribution=uniform)", "Unknown argument `distribution`"),
        ("zeros(value=1)", "Allowed: none."),
        ("constant(1, 2)", "takes at most 1 positional argument (value). Received: 2"),
        ("zeros(1)", "`zeros` takes no positional arguments"),
        ("he_normal(1, 2)", "takes at most 1 positional argument (seed)"),
        ("constant(value=(1, 2))", "Argument `value` must be a number. Received: value=(1, 2)"),
        ("random_normal(0.1, stddev=0.2, mean=0.3)", "Argument `mean` given more than once"),
        ("he_normal(seed=1, seed=2)", "Argument `seed` given more than once"),
        ("random_normal(stddev=0.1, 0.2)", "Positional argument follows keyword argument"),
        ("random_uniform(0.5, -0.5)", "Argument `minval` must be less than `maxval`"),
        ("random_uniform(maxval=-1)", "Received: minval=-0.05, maxval=-1"),
        ("auto(variant=kwon)", "`auto` has no variants"),
        ("auto(1)", "`auto` takes no positional arguments"),
        ("orthogonal(distribution=uniform)", "Unknown argument `distribution` for `orthogonal`"),
    ],
)
def test_bad_arguments(text, fragment):
    found = diags(text)
    assert [d.code for d in found] == ["IP106"], found
    assert fragment in found[0].message
    assert found[0].severity == "error"
    assert found[0].source == "p.initpolicy"


def test_bad_argument_position_is_the_arguments():
    (d,) = diags("random_normal(mean=0.0, stddev=-0.1)")
    assert (d.line, d.column) == (1, len("Dense -> random_normal(mean=0.0, ") + 1)


def test_position_falls_back_to_the_call():
    (d,) = ic.check_call(InitCall("zeros", (Argument("variant", Word("kwon")),), 3, 9))
    assert (d.line, d.column) == (3, 9)


def test_several_problems_all_reported():
    found = diags("random_normal(stddev=0, seed=x, foo=1)")
    assert [d.code for d in found] == ["IP106"] * 3


@pytest.mark.parametrize(
    "name,suggestion",
    [
        ("he_norml", "`he_normal`"),
        ("HeNorml", "`HeNormal`"),
        ("glorot", "`glorot_normal`, `glorot_uniform`"),
        ("xavier_uniform", "`glorot_uniform`"),
        ("kaiming_normal", "`he_normal`"),
        ("orthogonl", "`orthogonal`"),
    ],
)
def test_unknown_initializer_suggests(name, suggestion):
    (d,) = diags(name)
    assert d.code == "IP105"
    assert d.message.startswith(f"Unknown initializer `{name}`.")
    assert "Did you mean" in d.message and suggestion in d.message
    assert (d.line, d.column) == (1, len("Dense -> ") + 1)


def test_unknown_initializer_without_suggestion():
    (d,) = diags("qqqqqq")
    assert d.code == "IP105" and "Did you mean" not in d.message


@pytest.mark.parametrize(
    "text,expected",
    [
        ("he_normal", {}),
        ("he_normal(3)", {"seed": 3}),
        ("random_normal(0.5, 0.02, seed=4)", {"mean": 0.5, "stddev": 0.02, "seed": 4}),
        ("variance_scaling(2.0, fan_out)", {"scale": 2.0, "mode": "fan_out"}),
        ("glorot_uniform(variant=kwon)", {"variant": "kwon"}),
    ],
)
def test_bind_args(text, expected):
    assert ic.bind_args(call(text)) == expected


def test_bind_args_with_defaults():
    bound = ic.bind_args(call("he_uniform(variant=kwon)"), with_defaults=True)
    assert bound == {
        "seed": None,
        "variant": "kwon",
        "negative_slope": 0.0,
        "distribution": "normal",
        "fans": "layer",
    }
    assert ic.bind_args(call("RandomUniform"), with_defaults=True) == {
        "minval": -0.05,
        "maxval": 0.05,
        "seed": None,
    }


def test_catalogue_does_not_import_keras():
    code = (
        "import sys; import keras_initpolicy.catalog.initializers, keras_initpolicy.catalog.fans; "
        "bad = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
