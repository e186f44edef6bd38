"""Semantic validation (IP1xx-IP3xx): golden cases from tests/fixtures/diagnostics/IPxxx.json.

Each fixture file holds failing policies (the code must appear at the given line and column) and
passing policies (the code must not appear). The ids read ``IP201-zeros-on-dense-kernel``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_initpolicy as kip
from keras_initpolicy.catalog import layers
from keras_initpolicy.checks.diagnostics import CODES, ERROR
from keras_initpolicy.checks.names import validate_policy
from keras_initpolicy.policy import load_unvalidated

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "diagnostics"
# Codes whose fixtures this suite owns (IP001/IP002 are the parser's and loader's).
OWNED = sorted(c for c in CODES if c[2] in "123")


def _load_fixtures():
    failing, passing = [], []
    for path in sorted(FIXTURES.glob("IP[123]*.json")):
        data = json.loads(path.read_text("utf-8"))
        code = data["code"]
        for case in data["fail"]:
            failing.append(pytest.param(code, case, id=f"{code}-{case['id']}"))
        for case in data["pass"]:
            passing.append(pytest.param(code, case, id=f"{code}-{case['id']}"))
    return failing, passing


FAILING, PASSING = _load_fixtures()


def diagnose(text: str):
    return validate_policy(load_unvalidated(text, is_text=True, source="case.initpolicy"))


@pytest.mark.parametrize("code", OWNED)
def test_every_code_has_failing_and_passing_fixtures(code):
    path = FIXTURES / f"{code}.json"
    assert path.exists(), f"no golden fixture for {code}"
    data = json.loads(path.read_text("utf-8"))
    assert data["code"] == code and data["fail"] and data["pass"]


@pytest.mark.parametrize(("code", "case"), FAILING)
def test_failing_policy_reports_code_at_position(code, case):
    found = diagnose(case["policy"])
    positions = [(d.line, d.column) for d in found if d.code == code]
    assert (case["line"], case["column"]) in positions, [
        (d.code, d.line, d.column, d.message) for d in found
    ]
    for d in found:
        assert d.severity == CODES[d.code][0]
        assert d.source == "case.initpolicy"
        assert d.message and "`" in d.message


@pytest.mark.parametrize(("code", "case"), PASSING)
def test_passing_policy_does_not_report_code(code, case):
    found = diagnose(case["policy"])
    assert code not in {d.code for d in found}, [(d.code, d.line, d.message) for d in found]


DEFAULT_POLICY = textwrap.dedent(
    """\
    @seed 1234                               # reproducible: every weight gets its own seed
    @explicit keep                           # keep (default): initializers written in code win

    Dense[activation=relu] -> he_normal; Dense[activation=tanh] -> glorot_uniform(variant=kwon)
    Dense[activation=sigmoid]                -> glorot_uniform(variant=kwon)
    Conv2D[activation in (relu, gelu)]       -> he_normal
    Conv2D[activation=leaky_relu]            -> he_normal(negative_slope=auto)
    Dense, Conv1D                            -> auto
    LSTM.recurrent_kernel                    -> orthogonal(gain=1.0)
    Embedding                                -> random_normal(stddev=0.02)
    Dense[name~="head*"]                     -> zeros   # noqa: IP201  (zero-init classifier head)
    *.bias                                   -> zeros
    BatchNormalization.gamma                 -> ones
    """
)


def test_default_policy_has_no_errors():
    policy = kip.parse(DEFAULT_POLICY)  # raises on any error finding
    found = validate_policy(policy)
    assert not [d for d in found if d.severity == ERROR]
    # Only the zero-init head (silenced by noqa in the linter) is a finding.
    assert [(d.code, d.line) for d in found] == [("IP201", 11)]


def test_repository_example_policies_have_no_errors():
    root = Path(__file__).resolve().parents[2] / "examples" / "policies"
    paths = sorted(root.glob("*.initpolicy"))
    if not paths:
        pytest.skip("no example policies in this checkout")
    for path in paths:
        policy = load_unvalidated(path)
        errors = [d for d in validate_policy(policy) if d.severity == ERROR]
        assert not errors, (path.name, errors)


def test_parse_tolerates_unknown_class_but_raises_on_other_errors():
    assert kip.parse("MyOwnLayer -> he_normal").rules[0].selectors[0].cls == "MyOwnLayer"
    with pytest.raises(kip.PolicyError) as info:
        kip.parse("Dense.kernal -> he_normal")
    assert info.value.code == "IP102" and (info.value.line, info.value.column) == (1, 7)


def test_diagnostics_are_sorted_by_position():
    found = diagnose("Dense -> zeros\n@seed -1\nDnse.kernal -> he_norml")
    keys = [(d.line, d.column) for d in found]
    assert keys == sorted(keys)
    assert [d.code for d in found] == ["IP201", "IP107", "IP101", "IP105"]


def test_unknown_class_suggests_close_names():
    (d,) = [d for d in diagnose("Conv2d -> he_normal") if d.code == "IP101"]
    assert "`Conv2D`" in d.message


def test_unknown_activation_suggests_close_names():
    (d,) = diagnose("Dense[activation=rleu] -> he_normal")
    assert d.code == "IP104" and "`relu`" in d.message


def test_custom_layers_make_classes_known():
    try:
        layers.add_custom("MyBlock", mro=("MyBlock", "Layer"))
        found = diagnose("MyBlock.w -> he_normal\nMyBlock[width=2] -> he_normal")
        assert not found
        # A custom subclass of Dense opens Dense up to weight names it may create.
        layers.add_custom("MyDense", mro=("MyDense", "Dense", "Layer"))
        assert "IP102" not in {d.code for d in diagnose("Dense.extra -> zeros")}
    finally:
        layers.clear_custom()
    assert "IP102" in {d.code for d in diagnose("Dense.extra -> zeros")}


def test_included_rules_are_not_dead_when_overridden(tmp_path):
    (tmp_path / "base.initpolicy").write_text("Dense -> glorot_uniform\n*.bias -> zeros\n")
    top = tmp_path / "top.initpolicy"
    top.write_text('@include "base.initpolicy"\nDense -> he_normal\n*.bias -> zeros\n')
    codes = {d.code for d in validate_policy(load_unvalidated(top))}
    assert not codes & {"IP301", "IP302"}


def test_many_rules_validate_quickly():
    import time

    lines = [f'Dense[name="d{i}"] -> he_normal' for i in range(500)]
    lines += [f'Conv2D[name="c{i}", activation=relu].kernel -> he_uniform' for i in range(500)]
    policy = load_unvalidated("\n".join(lines), is_text=True)
    start = time.perf_counter()
    assert validate_policy(policy) == []
    assert time.perf_counter() - start < 5.0


def test_validation_does_not_import_keras():
    code = (
        "import sys, keras_initpolicy as kip\n"
        "from keras_initpolicy.policy import load_unvalidated\n"
        "from keras_initpolicy.checks.names import validate_policy\n"
        "validate_policy(load_unvalidated('Dense[activation=relu] -> he_normal\\n"
        "LSTM.kernel -> zeros\\nDnse -> auto', is_text=True))\n"
        "bad = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


_CLASSES = ["Dense", "Conv2D", "LSTM", "Layer", "*", "Dnse", "BatchNormalization", "Model"]
_ATTRS = ["units", "activation", "name", "kernel_size", "use_bias", "nope", "dtype"]
_VALUES = ["3", "-1.5", '"x*"', "relu", "rleu", "true", "none", "(3, 3)", "(relu, tanh)", "()"]
_INITS = [
    "zeros",
    "he_normal(variant=kwon)",
    "random_uniform(-1, 1)",
    "identity",
    "orthogonal",
    "constant(0)",
    "auto",
    "nope(1)",
    "glorot_uniform(seed=-1)",
]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(_CLASSES),
            st.lists(
                st.tuples(
                    st.sampled_from(_ATTRS),
                    st.sampled_from(["=", "!=", "<", ">=", "~=", "in", "not in"]),
                    st.sampled_from(_VALUES),
                ),
                max_size=2,
            ),
            st.sampled_from([None, "kernel", "bias", "recurrent_kernel", "w"]),
            st.sampled_from(_INITS),
        ),
        min_size=1,
        max_size=6,
    )
)
@settings(max_examples=150, deadline=None)
def test_validation_never_crashes(rules):
    lines = []
    for cls, preds, weight, init in rules:
        parts = []
        for attr, op, value in preds:
            if op in ("in", "not in") and not value.startswith("("):
                value = f"({value},)"
            parts.append(f"{attr} {op} {value}")
        sel = cls + (f"[{', '.join(parts)}]" if parts else "") + (f".{weight}" if weight else "")
        lines.append(f"{sel} -> {init}")
    try:
        policy = load_unvalidated("\n".join(lines), is_text=True)
    except kip.PolicyError:
        return
    for d in validate_policy(policy):
        assert d.code in CODES and d.line >= 1 and d.column >= 1
