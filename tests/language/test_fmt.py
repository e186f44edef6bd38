"""initpolicy fmt: canonical layout, comments kept, idempotent, meaning unchanged."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_initpolicy.errors import PolicySyntaxError
from keras_initpolicy.language.fmt import format_policy
from keras_initpolicy.language.nodes import Rule, Word, value_text
from keras_initpolicy.language.parser import parse_file

BEFORE = """\


# reproducible: every weight gets its own seed
@seed   1234          # the seed
@explicit keep

Dense[activation=relu] -> he_normal; Dense[ activation = tanh ]->glorot_uniform( variant = kwon )
Conv2D[activation in(relu,gelu)]  ->  he_normal
Conv2D[activation=leaky_relu, kernel_size>=(3,3)] -> he_normal(negative_slope=auto)



Dense,Conv1D -> auto
# recurrent weights
LSTM.recurrent_kernel -> orthogonal(gain=1.0)
Dense[name~="head*"] -> zeros   # noqa: IP201  (zero-init classifier head)
A -> zeros; B -> ones  # noqa: IP201
*.bias \\
    -> zeros   # continued
Dense[units not in (1, 2,)] -> constant(-0.5)
;

"""

AFTER = """\
# reproducible: every weight gets its own seed
@seed 1234  # the seed
@explicit keep

Dense[activation=relu]                             -> he_normal
Dense[activation=tanh]                             -> glorot_uniform(variant=kwon)
Conv2D[activation in (relu, gelu)]                 -> he_normal
Conv2D[activation=leaky_relu, kernel_size>=(3, 3)] -> he_normal(negative_slope=auto)

Dense, Conv1D -> auto
# recurrent weights
LSTM.recurrent_kernel      -> orthogonal(gain=1.0)
Dense[name~="head*"]       -> zeros  # noqa: IP201  (zero-init classifier head)
A                          -> zeros  # noqa: IP201
B                          -> ones  # noqa: IP201
*.bias                     -> zeros  # continued
Dense[units not in (1, 2)] -> constant(-0.5)
"""


def statements(text: str) -> list[str]:
    return [s.text if isinstance(s, Rule) else s.text for s in parse_file(text).statements]


def test_golden():
    assert format_policy(BEFORE) == AFTER


def test_golden_is_idempotent_and_keeps_meaning():
    assert format_policy(AFTER) == AFTER
    assert statements(AFTER) == statements(BEFORE)


def test_comments_are_kept():
    before = {c.text.rstrip() for c in parse_file(BEFORE).comments}
    after = {c.text for c in parse_file(AFTER).comments}
    assert before == after


def test_noqa_stays_on_its_rule_line():
    out = format_policy("Dense[name~='x'] -> zeros\n".replace("'", '"') + "*.bias -> ones # noqa\n")
    assert out.splitlines()[1].endswith("-> ones  # noqa")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", ""),
        ("\n\n  \n", ""),
        ("# only a comment", "# only a comment\n"),
        ("Dense -> zeros", "Dense -> zeros\n"),
        ("a->b\n\n\n\nc->d\n\n", "a -> b\n\nc -> d\n"),
        ("a -> b\n@seed 3\nlonger -> d", "a -> b\n@seed 3\nlonger -> d\n"),
        ('x[s="a;b#c\\"d"] -> k  # c', 'x[s="a;b#c\\"d"] -> k  # c\n'),
        ("X[a<-3, b!=-1.5e-05] -> f()", "X[a<-3, b!=-1.5e-05] -> f()\n"),
        ("X[a = true, b = none] -> f(1, (2,), ())", "X[a=true, b=none] -> f(1, (2,), ())\n"),
        ("Dense -> zeros\r\n# c\r\n", "Dense -> zeros\n# c\n"),
    ],
    ids=[
        "empty",
        "blank",
        "comment",
        "one-rule",
        "blank-runs",
        "directive-breaks-block",
        "string-with-separators",
        "negative-numbers",
        "literals-and-tuples",
        "crlf",
    ],
)
def test_small_cases(text, expected):
    assert format_policy(text) == expected
    assert format_policy(expected) == expected


def test_syntax_error_is_positioned():
    with pytest.raises(PolicySyntaxError) as info:
        format_policy("Dense -> zeros\nDense zeros\n", source="p.initpolicy")
    assert (info.value.source, info.value.line, info.value.column) == ("p.initpolicy", 2, 7)


# -- property: formatting never changes what a policy says, and is idempotent -----------------

CLASSES = ["Dense", "Conv2D", "LSTM", "EinsumDense", "BatchNormalization", "*"]
ATTRS = ["activation", "units", "name", "kernel_size", "use_bias", "path"]
WEIGHTS = ["kernel", "bias", "recurrent_kernel", "gamma"]
INITS = [
    "he_normal",
    "glorot_uniform",
    "zeros",
    "constant",
    "orthogonal",
    "auto",
    "VarianceScaling",
]
WORDS = ["relu", "tanh", "kwon", "auto", "gelu", "fan_avg", "leaky_relu"]
COMPARE = ["=", "!=", "<", "<=", ">", ">=", "~="]

# Spacing between tokens where none is required, and where some is.
gap = st.sampled_from(["", " ", "  ", "\t", " \\\n  "])
space = st.sampled_from([" ", "  ", "\t", " \\\n "])

strings = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\n\r\x00", exclude_categories=["Cs"]),
    max_size=8,
)
scalars = st.one_of(
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False),
    strings,
    st.sampled_from(WORDS).map(Word),
    st.sampled_from([True, False, None]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3).map(tuple), max_leaves=5)


@st.composite
def tuple_text(draw, items):
    parts = [value_text(v) for v in items]
    trailing = "," if len(parts) == 1 or (parts and draw(st.booleans())) else ""
    return "(" + draw(gap) + ("," + draw(gap)).join(parts) + trailing + draw(gap) + ")"


@st.composite
def predicate(draw):
    attr = draw(st.sampled_from(ATTRS))
    kind = draw(st.sampled_from(["compare", "in", "not in"]))
    if kind == "compare":
        return (
            attr + draw(gap) + draw(st.sampled_from(COMPARE)) + draw(gap) + value_text(draw(values))
        )
    members = draw(st.lists(values, max_size=3))
    word = "in" if kind == "in" else "not" + draw(space) + "in"
    return attr + draw(space) + word + draw(gap) + draw(tuple_text(members))


@st.composite
def selector(draw):
    text = draw(st.sampled_from(CLASSES))
    if draw(st.booleans()):
        preds = draw(st.lists(predicate(), min_size=1, max_size=3))
        text += draw(gap) + "[" + draw(gap) + ("," + draw(gap)).join(preds) + draw(gap) + "]"
    if draw(st.booleans()):
        text += draw(gap) + "." + draw(gap) + draw(st.sampled_from(WEIGHTS))
    return text


@st.composite
def initializer(draw):
    text = draw(st.sampled_from(INITS))
    if draw(st.booleans()):
        args = []
        for _ in range(draw(st.integers(0, 3))):
            value = value_text(draw(values))
            if draw(st.booleans()):
                value = (
                    draw(st.sampled_from(["gain", "seed", "variant", "scale"]))
                    + draw(gap)
                    + "="
                    + draw(gap)
                    + value
                )
            args.append(value)
        text += draw(gap) + "(" + ("," + draw(gap)).join(args) + draw(gap) + ")"
    return text


@st.composite
def rule(draw):
    sels = draw(st.lists(selector(), min_size=1, max_size=3))
    return ("," + draw(gap)).join(sels) + draw(gap) + "->" + draw(gap) + draw(initializer())


directive = st.one_of(
    st.integers(-5, 10**6).map(lambda n: f"@seed {n}"),
    st.sampled_from(["@explicit keep", "@explicit override", '@include "base.initpolicy"', "@x"]),
)
comment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\n\r\x00", exclude_categories=["Cs"]),
    max_size=10,
).map(lambda s: "#" + s)


@st.composite
def policy_text(draw):
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["rule", "rule", "rules", "directive", "comment", "blank"]))
        if kind == "blank":
            lines.append(draw(st.sampled_from(["", "  ", ";"])))
            continue
        if kind == "comment":
            lines.append(draw(st.sampled_from(["", "  "])) + draw(comment))
            continue
        if kind == "rules":
            line = (draw(gap) + ";" + draw(gap)).join(
                draw(st.lists(rule(), min_size=2, max_size=3))
            )
        else:
            line = draw(rule()) if kind == "rule" else draw(directive)
        if draw(st.booleans()):
            line += draw(st.sampled_from([" ", "  ", "\t"])) + draw(comment)
        lines.append(draw(st.sampled_from(["", " "])) + line)
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_text())
def test_format_keeps_statements_and_comments_and_is_idempotent(text):
    formatted = format_policy(text)
    assert statements(formatted) == statements(text)
    before = {c.text.rstrip() for c in parse_file(text).comments}
    assert {c.text for c in parse_file(formatted).comments} == before
    assert format_policy(formatted) == formatted


@pytest.mark.parametrize("odd", ["\x0c", "\x1c", "\x85", "\u2028"])
def test_only_newline_breaks_lines(odd):
    text = f"a->b;c->d #{odd}x\n\n\ne->f"
    out = format_policy(text)
    assert out == f"a -> b\nc -> d  #{odd}x\n\ne -> f\n"
    assert format_policy(out) == out
