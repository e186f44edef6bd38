"""Bad input cannot break the front end (issue 7).

Properties checked with hypothesis, each bounded by an example count stated in the test name:

- ``kip.parse`` raises ``kip.PolicyError`` and nothing else (never a Lark exception,
  ``RecursionError``, ``IndexError``...), and every error carries a position;
- ``kip.lint`` never raises: it returns ``Diagnostic`` records with known codes and positions;
- ``format_policy`` never changes meaning: when ``x`` parses, ``format_policy(x)`` has the same
  statements (texts of rules and directives) and formatting it again changes nothing.

Inputs: token soups built from the grammar's tokens, arbitrary text, arbitrary bytes written to a
file, and character-level mutations of ``examples/policies/*.initpolicy``. Then the edges:
20,000-rule policies, 10,000-deep nesting, NUL bytes, BOM, CRLF, tabs, unicode and non-UTF-8.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras_initpolicy as kip
from keras_initpolicy.checks.diagnostics import CODES
from keras_initpolicy.language.fmt import format_policy
from keras_initpolicy.language.parser import parse_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "policies").glob("*.initpolicy"))
EXAMPLE_TEXTS = [p.read_text("utf-8") for p in EXAMPLES]

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- the invariants ----------------------------------------------------------------------------


def statements(text: str) -> list[str]:
    """The meaning of a policy file for ``fmt``: its statements' canonical texts, in order."""
    out = []
    for st_ in parse_file(text).statements:
        t = st_.text
        out.append(t() if callable(t) else t)
    return out


def check_parse(text: str) -> kip.Policy | None:
    """``kip.parse`` returns a Policy or raises a positioned PolicyError — nothing else."""
    try:
        return kip.parse(text)
    except kip.PolicyError as exc:
        assert exc.code in CODES, exc
        assert exc.line is None or exc.line >= 1, exc
        assert exc.column is None or exc.column >= 1, exc
        assert str(exc)  # renders
        return None


def check_lint(text: str) -> None:
    """``kip.lint`` returns diagnostics and never raises."""
    found = kip.lint(text)
    assert isinstance(found, list)
    for diag in found:
        assert isinstance(diag, kip.Diagnostic)
        assert diag.code in CODES
        assert diag.severity in ("error", "warning", "info")
        assert diag.line >= 1 and diag.column >= 1


def check_fmt(text: str) -> None:
    """When ``text`` parses, formatting keeps its statements and is idempotent."""
    try:
        before = statements(text)
    except kip.PolicyError:
        with pytest.raises(kip.PolicyError):
            format_policy(text)
        return
    formatted = format_policy(text)
    assert statements(formatted) == before
    assert format_policy(formatted) == formatted


def check_all(text: str) -> None:
    check_parse(text)
    check_lint(text)
    check_fmt(text)


# -- strategies --------------------------------------------------------------------------------

NAMES = [
    "Dense",
    "Conv2D",
    "LSTM",
    "BatchNormalization",
    "MyLayer",
    "kernel",
    "bias",
    "recurrent_kernel",
    "activation",
    "units",
    "name",
    "relu",
    "tanh",
    "he_normal",
    "glorot_uniform",
    "zeros",
    "orthogonal",
    "random_uniform",
    "auto",
    "gain",
    "variant",
    "kwon",
    "negative_slope",
    "seed",
    "true",
    "none",
    "in",
    "not",
]
SYMBOLS = ["*", "->", "[", "]", "(", ")", "=", "~=", "!=", "<", ">=", ",", ".", ";"]
NUMBERS = ["0", "1", "-3", "1.5", ".5", "1e-3", "+2", "99999999999999999999999", "1e999"]
STRINGS = ['"head*"', '"a\\"b"', '""', '"ünï"', '"unterminated']
DIRECTIVES = ["@seed", "@explicit", "@include", "@frobnicate", "@"]
BREAKS = ["\n", "\r\n", "\\\n", "\n\n", "# comment\n", "  # noqa: IP201\n", "# noqa\n"]

token = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(SYMBOLS),
    st.sampled_from(NUMBERS),
    st.sampled_from(STRINGS),
    st.sampled_from(DIRECTIVES),
    st.sampled_from(BREAKS),
)
spacing = st.sampled_from(["", " ", " ", "\t", "  "])


@st.composite
def token_soup(draw) -> str:
    """Grammar tokens in random order; a third of the time prefixed by a valid rule so the soup
    often gets deep into the grammar before it fails (or even parses)."""
    parts = []
    if draw(st.integers(0, 2)) == 0:
        parts.append("Dense[activation=relu] -> he_normal\n")
    for tok in draw(st.lists(token, max_size=40)):
        parts.append(tok + draw(spacing))
    return "".join(parts)


@st.composite
def mutated_example(draw) -> str:
    """An example policy with 1-6 characters deleted, inserted or replaced."""
    text = draw(st.sampled_from(EXAMPLE_TEXTS))
    alphabet = st.one_of(
        st.sampled_from(list('()[]=~!<>,.;*-@#"\\ \t\n\r') + ["\x00", "\ufeff", "é"]),
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
    )
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "replace"]))
        if action == "delete":
            text = text[:pos] + text[pos + 1 :]
        elif action == "insert":
            text = text[:pos] + draw(alphabet) + text[pos:]
        else:
            text = text[:pos] + draw(alphabet) + text[pos + 1 :]
    return text


# -- properties --------------------------------------------------------------------------------


@settings(FUZZ, max_examples=400)
@given(token_soup())
def test_token_soup_400_examples_parse_lint_fmt_never_break(text):
    check_all(text)


@settings(FUZZ, max_examples=300)
@given(st.text())
def test_arbitrary_text_300_examples_parse_lint_fmt_never_break(text):
    check_all(text)


@settings(FUZZ, max_examples=400)
@given(mutated_example())
def test_mutated_examples_400_examples_parse_lint_fmt_never_break(text):
    check_all(text)


def test_mutations_reach_the_fmt_property():
    """The mutation strategy is useful: many mutants still parse, so fmt is really exercised."""
    parsed = []

    @settings(max_examples=100, deadline=None, database=None)
    @given(mutated_example())
    def collect(text):
        try:
            parse_file(text)
            parsed.append(text)
        except kip.PolicyError:
            pass

    collect()
    assert len(parsed) >= 10


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@settings(FUZZ, max_examples=200, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_in_a_file_200_examples_load_and_lint_never_break(fuzz_dir, data):
    path = fuzz_dir / "fuzz.initpolicy"
    path.write_bytes(data)
    try:
        kip.load(path)
    except kip.PolicyError as exc:
        assert exc.code in CODES
    check_lint_path = kip.lint(path)
    assert all(isinstance(d, kip.Diagnostic) and d.code in CODES for d in check_lint_path)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_fixed_points_of_the_invariants(example):
    text = example.read_text("utf-8")
    assert check_parse(text) is not None
    check_lint(text)
    check_fmt(text)


# -- huge inputs -------------------------------------------------------------------------------


def _timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize(
    "line, count",
    [
        pytest.param("Dense[units={i}] -> he_normal", 20_000, id="distinct-predicates"),
        pytest.param("*.bias -> zeros", 20_000, id="all-duplicates"),
        pytest.param(
            'Dense[name="l{i}", activation in (relu, gelu)].kernel -> he_normal; '
            "LSTM.recurrent_kernel -> orthogonal(gain={g})",
            10_000,
            id="two-per-line",
        ),
    ],
)
def test_a_20000_rule_policy_parses_in_seconds(line, count):
    text = "\n".join(line.format(i=i, g=i + 1) for i in range(count))
    policy, seconds = _timed(kip.parse, text)
    assert len(policy.rules) == 20_000
    # Loose bound: catches quadratic pathologies (the dead-rule check once took 95 s here).
    assert seconds < 20, f"parse took {seconds:.1f} s"
    if line.startswith("Dense[units"):  # lint repeats the same work; once is enough
        found, seconds = _timed(kip.lint, text)
        assert seconds < 20, f"lint took {seconds:.1f} s"
        assert found == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Dense -> f(" + "(" * 10_000 + ")" * 10_000 + ")", id="parens-in-call"),
        pytest.param(
            "Dense[units in " + "(" * 10_000 + "1" + ")" * 10_000 + "] -> zeros", id="tuple"
        ),
        pytest.param("Dense" + "[" * 10_000 + "]" * 10_000 + " -> zeros", id="brackets"),
        pytest.param("Dense -> f(" * 10_000, id="unclosed-calls"),
        pytest.param("(" * 10_000, id="bare-parens"),
        pytest.param("[" * 10_000 + "\n" + "]" * 10_000, id="bare-brackets"),
    ],
)
def test_pathological_nesting_is_a_positioned_policy_error(text):
    with pytest.raises(kip.PolicyError) as info:
        kip.parse(text)
    assert not isinstance(info.value, RecursionError)
    assert info.value.code == "IP001"
    assert info.value.line >= 1 and info.value.column >= 1
    [diag] = kip.lint(text)
    assert diag.code == "IP001"
    with pytest.raises(kip.PolicyError):
        format_policy(text)


def test_nesting_up_to_the_limit_parses_and_one_more_is_rejected():
    from keras_initpolicy.language.parser import MAX_NESTING

    def nested(depth):
        return "(" * depth + "1" + ")" * depth

    parse_file(f"Dense -> f({nested(MAX_NESTING)})")
    with pytest.raises(kip.PolicySyntaxError, match="nest deeper"):
        parse_file(f"Dense -> f({nested(MAX_NESTING + 1)})")


def test_nested_empty_tuples_error_points_at_the_text():
    """Regression: nested empty tuples carry no token, and the error once read <string>:0:0."""
    with pytest.raises(kip.PolicySyntaxError) as info:
        kip.parse("Dense -> f(" + "(" * 40 + ")" * 40 + ")")
    assert info.value.line == 1 and 12 <= info.value.column <= 51  # inside the run of "("
    assert "^" in str(info.value)


# -- odd characters ----------------------------------------------------------------------------


def test_nul_byte_in_text_is_a_positioned_syntax_error():
    with pytest.raises(kip.PolicySyntaxError) as info:
        kip.parse("Dense -> he_normal\n*.bias -> ze\x00ros")
    assert (info.value.line, info.value.column) == (2, 13)
    assert "NUL" in info.value.message
    assert [(d.code, d.line, d.column) for d in kip.lint("x -> y\x00")] == [("IP001", 1, 7)]


def test_nul_byte_in_a_file(tmp_path):
    path = tmp_path / "nul.initpolicy"
    path.write_bytes(b"Dense -> he_normal\n\x00")
    with pytest.raises(kip.PolicyError, match="NUL") as info:
        kip.load(path)
    assert info.value.line == 2
    assert [d.code for d in kip.lint(path)] == ["IP001"]


def test_bom_file_loads_and_lints_clean(tmp_path):
    path = tmp_path / "bom.initpolicy"
    path.write_bytes(b"\xef\xbb\xbfDense -> he_normal\n*.bias -> zeros\n")
    assert [r.text for r in kip.load(path).rules] == ["Dense -> he_normal", "*.bias -> zeros"]
    assert kip.lint(path) == []


def test_bom_at_the_start_of_text_is_ignored_like_in_files():
    """Text decoded with "utf-8" instead of "utf-8-sig" keeps its BOM; it is ignored."""
    from keras_initpolicy.language.fmt import format_policy

    assert kip.parse("\ufeffDense -> he_normal").rules[0].text == "Dense -> he_normal"
    assert format_policy("\ufeffDense->he_normal  # c\n") == "Dense -> he_normal  # c\n"
    assert kip.lint("\ufeffDense -> he_normal\n*.bias -> zeros\n") == []
    with pytest.raises(kip.PolicySyntaxError) as info:
        kip.parse("\ufeffDense he_normal")
    assert (info.value.line, info.value.column) == (1, 7)  # counted after the BOM
    with pytest.raises(kip.PolicySyntaxError):
        kip.parse("Dense -> he_normal\n\ufeff*.bias -> zeros")  # only a leading BOM is one


def test_crlf_line_endings_mean_and_format_the_same_as_lf():
    """Regression: fmt once dropped the blank lines of CRLF files."""
    lf = "@seed 3\nDense[activation=relu] -> he_normal  # c\n\n*.bias -> zeros\n"
    crlf = lf.replace("\n", "\r\n")
    assert statements(crlf) == statements(lf)
    assert [r.line for r in kip.parse(crlf).rules] == [2, 4]
    assert format_policy(crlf) == format_policy(lf)
    assert kip.lint(crlf) == kip.lint(lf) == []


def test_crlf_continuation_and_diagnostic_positions():
    text = "Dense, \\\r\n  Conv2D -> he_normal\r\nDense -> he_normel\r\n"
    [diag] = kip.lint(text)
    assert (diag.code, diag.line, diag.column) == ("IP105", 3, 10)


def test_tabs_are_whitespace_and_columns_count_them_as_one():
    text = "Dense\t[\tactivation\t=\trelu\t]\t->\the_normal\n\tDense -> he_normel"
    assert statements(text)[0] == "Dense[activation=relu] -> he_normal"
    with pytest.raises(kip.PolicyError) as info:
        kip.parse(text)
    assert (info.value.line, info.value.column) == (2, 11)


def test_unicode_in_strings_and_comments_is_fine():
    policy = kip.parse('Dense[name~="tête*"] -> he_normal  # ünïcødé ✓\n')
    assert policy.rules[0].selectors[0].predicates[0].value == "tête*"
    assert kip.lint('Dense[name="日本"] -> he_normal # 注') == []


@pytest.mark.parametrize("name", ["Dënse", "层", "Dense\u200b"])
def test_unicode_identifiers_are_a_positioned_syntax_error(name):
    """Names are ASCII (``[A-Za-z_][A-Za-z0-9_]*``): a non-ASCII name is an IP001 at the first
    non-ASCII character, never a crash."""
    text = f"{name} -> he_normal"
    column = next(i for i, ch in enumerate(name) if not ch.isascii()) + 1
    with pytest.raises(kip.PolicySyntaxError) as info:
        kip.parse(text)
    assert (info.value.line, info.value.column) == (1, column)
    assert [(d.code, d.column) for d in kip.lint(text)] == [("IP001", column)]


@pytest.mark.parametrize("sep", ["\r", "\x0b", "\x0c", "\x85", "\u2028"])
def test_other_line_separators_never_crash(sep):
    check_all(f"Dense -> he_normal{sep}*.bias -> zeros")


# -- non-UTF-8 ---------------------------------------------------------------------------------

LATIN1 = "Dense -> he_normal\n*.bias -> zeros  # caf\xe9\n".encode("latin-1")


def test_non_utf8_file_is_a_policy_error_naming_utf8_and_the_byte(tmp_path):
    path = tmp_path / "latin1.initpolicy"
    path.write_bytes(LATIN1)
    with pytest.raises(kip.PolicyError) as info:
        kip.load(path)
    err = info.value
    assert "UTF-8" in err.message
    offset = LATIN1.index(b"\xe9")
    assert "0xe9" in err.message and f"offset {offset}" in err.message
    assert (err.line, err.column) == (2, 23)
    assert str(err).startswith(f"{path}:2:23: IP001 ")
    [diag] = kip.lint(path)
    assert (diag.code, diag.line, diag.column) == ("IP001", 2, 23)


def test_non_utf8_file_on_the_command_line_is_a_finding_not_a_traceback(tmp_path):
    path = tmp_path / "latin1.initpolicy"
    path.write_bytes(LATIN1)
    good = tmp_path / "good.initpolicy"
    good.write_text("Dense -> he_normal\n", "utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "keras_initpolicy", "lint", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{path}:2:23: IP001" in proc.stdout
    assert "UTF-8" in proc.stdout


# -- docs/errors.md quotes real messages --------------------------------------------------------

ERRORS_DOC = ROOT / "docs" / "errors.md"


@pytest.mark.parametrize(
    "text, source",
    [
        ("Dense[activation=relu] => he_normal", "<string>"),
        ("Dense[activation=relu] he_normal", "<string>"),
        ("Dense[activation=relu -> he_normal", "<string>"),
        ("Dense -> f(" + "(" * 20 + "1" + ")" * 20 + ")", "<string>"),
        ("Dense -> he_normal\x00", "<string>"),
        ("Dënse -> he_normal", "<string>"),
        ("Dense -> he_normel", "team.initpolicy"),
        ("LSTM.recurrent_kernel -> orthogonal(gain=-1)", "<string>"),
        ("Conv2D -> identity", "<string>"),
    ],
)
def test_errors_doc_quotes_the_real_messages(text, source):
    with pytest.raises(kip.PolicyError) as info:
        kip.parse(text, source=source)
    first_line = f"{type(info.value).__name__}: {str(info.value).splitlines()[0]}"
    assert first_line in ERRORS_DOC.read_text("utf-8")


def test_errors_doc_quotes_the_real_type_errors():
    doc = ERRORS_DOC.read_text("utf-8")
    for bad in (b"Dense -> he_normal", 42):
        with pytest.raises(TypeError) as info:
            (kip.parse if isinstance(bad, bytes) else kip.lint)(bad)
        assert f"TypeError: {info.value}" in doc
