"""Arithmetic expressions in initializer arguments, ``@blocks`` and presets (issue 13): grammar,
AST, evaluator, ``fmt``, lint. No Keras import. docs/reference.md#expressions-and-variables."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_initpolicy as kip
from keras_initpolicy.checks.lint import lint
from keras_initpolicy.language import expressions as ex
from keras_initpolicy.language.blocks import BlockPattern, pattern_problem
from keras_initpolicy.language.fmt import format_policy
from keras_initpolicy.language.nodes import Binary, Call, Unary, Variable, Word
from keras_initpolicy.language.parser import MAX_EXPRESSION_DEPTH, parse_file
from keras_initpolicy.policy import preset_names

PRESETS_DIR = Path(kip.__file__).resolve().parent / "presets"
PRESETS = ("gpt2", "megatron", "llama_depth", "olmo_mitchell", "deepnet", "fixup", "mup")


def strip(node):
    """An expression with every position set to 0 (compare trees, not where they were)."""
    if isinstance(node, tuple):
        return tuple(strip(n) for n in node)
    if isinstance(node, (Binary, Unary, Call, Variable)):
        changes = {"line": 0, "column": 0}
        for name in ("left", "right", "operand", "args"):
            if hasattr(node, name):
                changes[name] = strip(getattr(node, name))
        return replace(node, **changes)
    return node


def arg(text: str, index: int = 0):
    """The value of argument ``index`` of the first rule's initializer in ``Dense -> f(text)``."""
    return parse_file(f"Dense -> f({text})").rules[0].init.args[index].value


# -- grammar and AST -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("0.02", 0.02),
        ("-0.1", -0.1),
        ("- 0.1", -0.1),
        ("+2", 2),
        ("3", 3),
        ("kwon", Word("kwon")),
        ('"x"', "x"),
        ("(3)", (3,)),  # a group of one value is the 1-tuple it always was
        ("((3))", ((3,),)),
        ("(1, (2))", (1, (2,))),
        ("none", None),
    ],
    ids=repr,
)
def test_plain_values_stay_plain(text, value):
    got = arg(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2 * blocks", Binary("*", 2, Variable("blocks"))),
        ("-3 ** 2", Unary("-", Binary("**", 3, 2))),  # as in Python: -(3 ** 2)
        ("(-3) ** 2", Binary("**", -3, 2)),
        ("2 ** 3 ** 2", Binary("**", 2, Binary("**", 3, 2))),  # right-associative
        ("1 - 2 - 3", Binary("-", Binary("-", 1, 2), 3)),  # left-associative
        ("1 + 2 * 3", Binary("+", 1, Binary("*", 2, 3))),
        ("(1 + 2) * 3", Binary("*", Binary("+", 1, 2), 3)),
        ("2 ** -1", Binary("**", 2, -1)),
        ("max(fan_in, fan_out, 1)", Call("max", (Variable("fan_in"), Variable("fan_out"), 1))),
        ("-fan_in", Unary("-", Variable("fan_in"))),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_precedence_and_associativity(text, expected):
    assert strip(arg(text)) == expected


def test_nodes_keep_positions():
    expr = arg("0.02 / sqrt(2 * blocks)")
    assert (expr.line, expr.column) == (1, 12)
    call = expr.right
    assert (call.func, call.column) == ("sqrt", 19)
    assert call.args[0].right == Variable("blocks", 1, 28)


@pytest.mark.parametrize(
    "text, message",
    [
        ('Dense -> f("a" * 2)', 'received `"a"`'),
        ("Dense -> f((1, 2) * 3)", "received `(1, 2)`"),
        ("Dense -> f(true + 1)", "received `true`"),
        ("Dense -> f((1 + 2, 3))", "cannot be an item of a tuple"),
        ("Dense -> f(2 *)", "unexpected ')'"),
    ],
)
def test_bad_arithmetic_is_a_positioned_syntax_error(text, message):
    with pytest.raises(kip.PolicySyntaxError) as info:
        parse_file(text)
    assert message in info.value.message
    assert info.value.code == "IP001" and info.value.line == 1 and info.value.column >= 1


def test_errors_doc_quotes_the_arithmetic_error():
    doc = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
    with pytest.raises(kip.PolicySyntaxError) as info:
        kip.parse('Dense -> random_normal(stddev="0.02" / 2)')
    assert f"PolicySyntaxError: {info.value}" in doc.read_text("utf-8")


def test_expression_depth_is_bounded():
    ok = " + ".join(["1"] * (MAX_EXPRESSION_DEPTH + 1))  # that many operators
    parse_file(f"Dense -> f({ok})")
    with pytest.raises(kip.PolicySyntaxError, match="expression nests deeper"):
        parse_file(f"Dense -> f({ok} + 1)")


def test_predicates_and_directives_take_no_expressions():
    with pytest.raises(kip.PolicySyntaxError):
        parse_file("Dense[units=2 * 3] -> he_normal")
    with pytest.raises(kip.PolicySyntaxError):
        parse_file("@seed 1 + 2")


# -- evaluator -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, variables, value",
    [
        ("0.02 / sqrt(2 * blocks)", {"blocks": 2}, 0.01),
        ("0.02 / sqrt(2 * (depth + 1))", {"depth": 7}, 0.005),
        ("(8 * blocks) ** -0.25", {"blocks": 2}, 0.5),
        ("1 / sqrt(2 * fan_in * (depth + 1))", {"fan_in": 8, "depth": 0}, 0.25),
        ("min(fan_in, fan_out) / max(fan_in, 4, fan_out)", {"fan_in": 2, "fan_out": 3}, 0.5),
        ("exp(log(fan_in))", {"fan_in": 5}, 5.0),
        ("-3 ** 2", {}, -9.0),
        ("2 ** 3 ** 2", {}, 512.0),
    ],
)
def test_evaluate(text, variables, value):
    assert ex.evaluate(arg(text), variables) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    "text, variables, message",
    [
        ("log(fan_in - 1)", {"fan_in": 1}, "needs a positive argument"),
        ("sqrt(0 - fan_in)", {"fan_in": 4}, "needs a non-negative argument"),
        ("1 / (fan_in - 4)", {"fan_in": 4}, "Division by zero"),
        ("exp(fan_in)", {"fan_in": 1000}, "overflows"),
        ("10 ** 10 ** 10", {}, "overflows"),
        ("0 ** -1", {}, "zero to a negative power"),
        ("(0 - 8) ** 0.5", {}, "complex"),
        ("2 * 1e308", {}, "not a finite real number"),
        ("depth + 1", {}, "`depth` is not known here"),
        ("nope + 1", {}, "Unknown variable `nope`"),
        ("sqr(2)", {}, "Unknown function `sqr`. Did you mean `sqrt`?"),
    ],
)
def test_evaluate_errors_are_expression_errors(text, variables, message):
    with pytest.raises(ex.ExpressionError) as info:
        ex.evaluate(arg(text), variables)
    assert message in info.value.message
    assert info.value.line == 1 and info.value.column >= 12


def test_evaluator_never_reaches_python():
    """Names are looked up in the four variables only: nothing of Python is reachable."""
    for text in ("__import__", "os", "eval", "fan_in.real", "print(1)", "__class__"):
        try:
            value = arg(text)
        except kip.PolicySyntaxError:
            continue  # attribute access does not even parse
        expr = ex.as_expression(value) or (Variable(value) if isinstance(value, str) else value)
        if isinstance(expr, (int, float)):
            continue
        with pytest.raises(ex.ExpressionError):
            ex.evaluate(expr, {"fan_in": 1.0})


# -- fmt -----------------------------------------------------------------------------------------


def test_fmt_canonical_spacing_keeps_comments_and_is_idempotent():
    text = (
        '@blocks   "transformer_layer_{i}"\n'
        "# residual outputs\n"
        'Dense[name="attention_output"]->random_normal(stddev=0.02/sqrt(2*blocks))  # GPT-2\n'
        "Dense->variance_scaling(scale=( 8*blocks )**-0.5,mode=fan_avg)\n"
        "*.bias -> constant(-(1+2)*3 - -fan_in)\n"
    )
    out = format_policy(text)
    assert out == (
        '@blocks "transformer_layer_{i}"\n'
        "# residual outputs\n"
        'Dense[name="attention_output"] -> random_normal(stddev=0.02 / sqrt(2 * blocks))  # GPT-2\n'
        "Dense                          -> variance_scaling(scale=(8 * blocks) ** -0.5, mode=fan_avg)\n"
        "*.bias                         -> constant(-(1 + 2) * 3 - -fan_in)\n"
    )
    assert format_policy(out) == out


_ATOMS = st.sampled_from(["2", "0.5", "fan_in", "blocks", "depth", "1e-3", "(1 - fan_out)"])


@st.composite
def expressions(draw, depth=0):
    if depth > 3 or draw(st.booleans()):
        return draw(_ATOMS)
    kind = draw(st.sampled_from(["bin", "neg", "call", "paren"]))
    if kind == "bin":
        op = draw(st.sampled_from(["+", "-", "*", "/", "**"]))
        return f"{draw(expressions(depth + 1))} {op} {draw(expressions(depth + 1))}"
    if kind == "neg":
        return f"-{draw(expressions(depth + 1))}"
    if kind == "call":
        return f"{draw(st.sampled_from(['sqrt', 'log', 'exp']))}({draw(expressions(depth + 1))})"
    return f"({draw(expressions(depth + 1))})"


@settings(max_examples=200, deadline=None)
@given(expressions())
def test_fmt_round_trip_keeps_the_value(text):
    """Printing an expression and parsing it again gives the same tree and the same value."""
    policy = f"Dense -> random_normal(stddev={text})"
    first = parse_file(policy).rules[0].init.args[0].value
    again = parse_file(format_policy(policy)).rules[0].init.args[0].value
    assert strip(again) == strip(first)
    point = {"fan_in": 3.0, "fan_out": 5.0, "depth": 1.0, "blocks": 4.0}
    try:
        value = ex.evaluate(first, point)
    except ex.ExpressionError:
        return
    assert ex.evaluate(again, point) == value or (math.isnan(value))


# -- lint ----------------------------------------------------------------------------------------


def codes(text: str) -> list[tuple[str, int, int]]:
    return [(d.code, d.line, d.column) for d in lint(text)]


def test_lint_messages():
    [d] = lint('@blocks "b_{i}"\nDense -> random_normal(stddev=0.02 / sqrt(2 * blcks))')
    assert d.message == (
        "Unknown variable `blcks` in an expression. Did you mean `blocks`? "
        "Variables: fan_in, fan_out, depth, blocks."
    )
    [d] = lint("Dense -> random_normal(stddev=0.1 - log(fan_in))")
    assert d.message == (
        "Argument `stddev` must be positive; `stddev=0.1 - log(fan_in)` is "
        "-0.5931471805599453 for fan_in=2."
    )
    [d] = lint("Dense -> random_normal(stddev=0.02 / sqrt(2 * blocks))")
    assert (d.code, d.column) == ("IP107", 47)
    assert "`blocks` needs an `@blocks` directive" in d.message


def test_lint_checks_every_fan_from_one():
    """1/sqrt(fan_in - 1) is fine for fan_in >= 2 but divides by zero at fan_in = 1."""
    [d] = lint("Dense -> random_normal(stddev=1 / sqrt(fan_in - 1))")
    assert d.code == "IP106" and "fan_in=1" in d.message and "Division by zero" in d.message
    assert codes("Dense -> random_normal(stddev=1 / sqrt(fan_in + fan_out - 1))") == []


def test_blocks_from_an_included_file_count(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.initpolicy").write_text('@blocks "layer_{i}"\n', "utf-8")
    text = '@include "base.initpolicy"\nDense -> random_normal(stddev=0.02 / sqrt(blocks))'
    assert codes(text) == []


def test_practice_checks_read_the_formula_value():
    """IP205 (uniform range on sigmoid) sees the formula's value at a typical fan (256)."""
    wide = "Dense[activation=sigmoid] -> random_uniform(minval=-256 / fan_in, maxval=256 / fan_in)"
    assert [c for c, *_ in codes(wide)] == ["IP205"]
    narrow = "Dense[activation=sigmoid] -> random_uniform(minval=-1 / fan_in, maxval=1 / fan_in)"
    assert codes(narrow) == []


def test_two_formulas_are_not_duplicates():
    text = (
        '@blocks "b_{i}"\nDense -> random_normal(stddev=0.02 / sqrt(2 * blocks))\n'
        "Dense -> random_normal(stddev=0.02 / sqrt(2 * (depth + 1)))"
    )
    assert "IP302" not in {c for c, *_ in codes(text)}


def test_parse_raises_on_expression_errors():
    with pytest.raises(kip.PolicyError, match="IP106"):
        kip.parse("Dense -> random_normal(stddev=-fan_in)")
    with pytest.raises(kip.PolicyError, match="IP107"):
        kip.parse("Dense -> random_normal(stddev=1 / (depth + 1))")


# -- @blocks patterns ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, expected",
    [
        ("transformer_layer_3/self_attention/query", ("transformer_layer_3", 3)),
        ("gpt2_backbone/transformer_layer_12", ("gpt2_backbone/transformer_layer_12", 12)),
        ("transformer_layer_3_dense", ("transformer_layer_3", 3)),
        ("transformer_layer_31/x", ("transformer_layer_31", 31)),
        ("my_transformer_layer_3", None),
        ("transformer_layer_x/y", None),
        ("token_embedding", None),
    ],
)
def test_block_pattern_match(path, expected):
    found = BlockPattern.compile("transformer_layer_{i}").match(path)
    assert (found[:2] if found else None) == expected


def test_block_pattern_globs_and_stacks():
    pattern = BlockPattern.compile("*_block_{i}")
    enc, dec = pattern.match("enc_block_2/dense"), pattern.match("dec_block_2/dense")
    assert enc.index == dec.index == 2
    assert enc.stack == "enc_block_{i}" and dec.stack == "dec_block_{i}"
    assert pattern.match("enc_block_2x/dense").block == "enc_block_2"


@pytest.mark.parametrize("bad", ["", "layer", "layer_{i}_{i}", "layer_{j}", "/layer_{i}"])
def test_bad_block_patterns(bad):
    assert pattern_problem(bad)
    with pytest.raises(ValueError, match="Invalid @blocks pattern"):
        BlockPattern.compile(bad)


# -- presets -------------------------------------------------------------------------------------


def test_the_presets_ship():
    assert set(preset_names()) == set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_lint_clean_formatted_and_cites_its_source(name):
    path = PRESETS_DIR / f"{name}.initpolicy"
    assert lint(path) == []
    text = path.read_text("utf-8")
    assert format_policy(text) == text
    comments = " ".join(line for line in text.splitlines() if line.startswith("#"))
    assert any(w in comments for w in ("et al.", "Source:")), "no source cited"
    assert kip.parse(f'@include "preset:{name}"').rules


def test_preset_rules_come_first_and_the_including_file_wins():
    policy = kip.parse('@include "preset:gpt2"\n@seed 5\nDense -> he_normal')
    assert policy.seed == 5
    assert policy.explicit == "override"  # keras-hub passes initializers: the preset's default
    assert kip.parse('@include "preset:gpt2"\n@explicit keep').explicit == "keep"
    assert [r.source for r in policy.rules] == ["preset:gpt2"] * 3 + ["<string>"]


def test_unknown_preset_is_ip002_listing_the_presets():
    [d] = lint('@include "preset:gtp2"')
    assert d.code == "IP002"
    assert "Did you mean `preset:gpt2`?" in d.message
    assert "Presets: deepnet, fixup, gpt2, llama_depth, megatron, mup, olmo_mitchell" in d.message


def test_cli_lint_passes_on_every_preset(capsys):
    from keras_initpolicy.cli import main

    assert main(["lint", str(PRESETS_DIR)]) == 0
