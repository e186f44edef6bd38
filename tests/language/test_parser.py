"""Golden tests of the parser: valid text -> AST; invalid text -> positioned PolicySyntaxError."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import keras_initpolicy as kip
from keras_initpolicy.language.nodes import (
    Argument,
    Directive,
    InitCall,
    Predicate,
    Rule,
    Selector,
    Word,
)
from keras_initpolicy.language.parser import MAX_NESTING, parse_file

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference.md"

DEFAULT_POLICY = (ROOT / "examples" / "policies" / "default.initpolicy").read_text()


def strip(node):
    """Compare ASTs without positions."""
    from dataclasses import fields, is_dataclass, replace

    if isinstance(node, tuple):
        return tuple(strip(n) for n in node)
    if is_dataclass(node):
        values = {
            f.name: strip(getattr(node, f.name))
            for f in fields(node)
            if f.name not in ("line", "column")
        }
        return replace(node, **values, **{k: 0 for k in ("line", "column") if hasattr(node, k)})
    return node


GOLDEN = [
    (
        "Dense -> he_normal",
        (Rule((Selector("Dense"),), InitCall("he_normal")),),
    ),
    (
        "*.bias -> zeros",
        (Rule((Selector("*", weight="bias"),), InitCall("zeros")),),
    ),
    (
        'Conv2D[activation in (relu, gelu), filters>=64, name~="enc*"] -> he_normal(seed=3)',
        (
            Rule(
                (
                    Selector(
                        "Conv2D",
                        (
                            Predicate("activation", "in", (Word("relu"), Word("gelu"))),
                            Predicate("filters", ">=", 64),
                            Predicate("name", "~=", "enc*"),
                        ),
                    ),
                ),
                InitCall("he_normal", (Argument("seed", 3),), has_parens=True),
            ),
        ),
    ),
    (
        'Dense[activation not in (relu,)], Conv1D.kernel -> VarianceScaling(2.0, "fan_in", distribution=uniform)',
        (
            Rule(
                (
                    Selector("Dense", (Predicate("activation", "not in", (Word("relu"),)),)),
                    Selector("Conv1D", weight="kernel"),
                ),
                InitCall(
                    "VarianceScaling",
                    (
                        Argument(None, 2.0),
                        Argument(None, "fan_in"),
                        Argument("distribution", Word("uniform")),
                    ),
                    has_parens=True,
                ),
            ),
        ),
    ),
    (
        "Conv2D[kernel_size=(3, 3), use_bias=false, groups!=1] -> constant(-1.5e-2)",
        (
            Rule(
                (
                    Selector(
                        "Conv2D",
                        (
                            Predicate("kernel_size", "=", (3, 3)),
                            Predicate("use_bias", "=", False),
                            Predicate("groups", "!=", 1),
                        ),
                    ),
                ),
                InitCall("constant", (Argument(None, -0.015),), has_parens=True),
            ),
        ),
    ),
    (
        '@seed 7; @explicit override\n@include "base.initpolicy"\n',
        (
            Directive("seed", 7, has_value=True),
            Directive("explicit", Word("override"), has_value=True),
            Directive("include", "base.initpolicy", has_value=True),
        ),
    ),
    (
        'Dense[name="a \\"quoted\\" name"] -> ones()',
        (
            Rule(
                (Selector("Dense", (Predicate("name", "=", 'a "quoted" name'),)),),
                InitCall("ones", (), has_parens=True),
            ),
        ),
    ),
]


@pytest.mark.parametrize("text, expected", GOLDEN, ids=[g[0][:40] for g in GOLDEN])
def test_golden_ast(text, expected):
    assert strip(parse_file(text).statements) == strip(expected)


def test_positions_are_kept():
    f = parse_file("\n  Dense[units=3] -> he_normal(seed=1)  # c\n*.bias -> zeros")
    rule, bias = f.rules
    assert (rule.line, rule.column) == (2, 3)
    assert (rule.selectors[0].predicates[0].line, rule.selectors[0].predicates[0].column) == (2, 9)
    assert (rule.init.line, rule.init.column) == (2, 21)
    assert (rule.init.args[0].line, rule.init.args[0].column) == (2, 31)
    assert (bias.line, bias.column) == (3, 1)
    assert f.comments[0].text == "# c" and f.comments[0].line == 2


def test_every_reference_example_parses():
    assert len(parse_file(DEFAULT_POLICY).rules) == 11
    policy = kip.parse(DEFAULT_POLICY)
    assert policy.seed == 1234 and policy.explicit == "keep"
    snippets = [
        "Dense[activation=relu] -> he_normal; Dense[activation=tanh] -> glorot_uniform(variant=kwon)",
        "Dense, Conv1D -> auto",
        "LSTM.recurrent_kernel -> orthogonal(gain=1.0)",
        "Conv2D[activation=leaky_relu] -> he_normal(negative_slope=auto)",
        "Dense -> auto(distribution=uniform)",
        "Dense -> he_normal(seed=5)",
        "Dense -> glorot_normal(distribution=untruncated_normal)",
        "DepthwiseConv2D -> he_normal(fans=shape)",
    ]
    for text in snippets:
        kip.parse(text)


def test_reference_code_block_matches_the_example_file():
    block = re.search(
        r"```\n(# examples/policies/default.initpolicy.*?)```", REFERENCE.read_text(), re.S
    )
    assert block.group(1) == DEFAULT_POLICY


BAD = [
    ("Dense he_normal", 1, 7, "expected"),
    ("Dense[units=3 -> x", 1, 15, "expected ',' or ']'"),
    ("Dense -> he_normal(", 1, 20, "end of input"),
    ("\n\nDense => zeros", 3, 7, "Rules use `->`"),
    ("Dense[activation relu] -> x", 1, 18, "comparison"),
    ("Dense -> x $", 1, 12, "'$'"),
    ("@seed 1 2", 1, 9, "'2'"),
    ('Dense[name="unterminated] -> zeros', 1, 12, "'\"'"),
]


@pytest.mark.parametrize("text, line, column, fragment", BAD, ids=[b[0] for b in BAD])
def test_syntax_errors_are_positioned(text, line, column, fragment):
    with pytest.raises(kip.PolicySyntaxError) as info:
        kip.parse(text, source="team.initpolicy")
    err = info.value
    assert (err.source, err.line, err.column) == ("team.initpolicy", line, column)
    assert fragment in str(err)
    assert str(err).startswith(f"team.initpolicy:{line}:{column}: IP001")
    assert err.excerpt.splitlines()[-1].strip() == "^"
    assert isinstance(err, ValueError)


@pytest.mark.parametrize(
    "text",
    [
        "import os",
        "__import__('os').system('echo pwned')",
        "exec(open('x').read())",
        "Dense -> eval('1+1')",
        "Dense -> he_normal(seed=__import__('os').getpid())",
        "lambda: 0",
        "Dense -> (lambda x: x)",
    ],
)
def test_python_looking_input_is_a_syntax_error(text):
    with pytest.raises(kip.PolicyError):
        kip.parse(text)


def test_unknown_names_get_did_you_mean():
    with pytest.raises(kip.PolicyError, match="he_normal"):
        kip.parse("Dense -> he_normel")
    with pytest.raises(kip.PolicyError, match="Received: stddev=-0.1"):
        kip.parse("Dense -> random_normal(stddev=-0.1)")


def test_builtin_class_errors_raise_but_custom_classes_are_accepted():
    with pytest.raises(kip.PolicyError, match="IP103"):
        kip.parse("Dense[filters=3] -> he_normal")
    with pytest.raises(kip.PolicyError, match="IP102"):
        kip.parse("Dense.recurrent_kernel -> orthogonal")
    policy = kip.parse("MyResidualBlock.w -> he_normal")  # may be the user's own layer
    assert policy.rules[0].selectors[0].cls == "MyResidualBlock"


def test_nesting_is_bounded():
    deep = "(" * (MAX_NESTING + 2) + "1" + ")" * (MAX_NESTING + 2)
    with pytest.raises(kip.PolicySyntaxError, match="nest"):
        kip.parse(f"Dense -> constant({deep})")


def test_policy_errors_pickle():
    import pickle

    try:
        kip.parse("Dense he_normal", source="x.initpolicy")
    except kip.PolicyError as err:
        again = pickle.loads(pickle.dumps(err))
        assert (again.source, again.line, again.column, again.code) == (
            "x.initpolicy",
            1,
            7,
            "IP001",
        )
