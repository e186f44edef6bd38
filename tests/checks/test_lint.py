"""kip.lint: syntax and include problems as diagnostics, noqa, select/ignore, ordering."""

from __future__ import annotations

from pathlib import Path

import pytest

from keras_initpolicy.checks.diagnostics import Diagnostic
from keras_initpolicy.checks.lint import code_filter, lint, lint_text, noqa_map

# (id, policy text, expected (code, line, column))
SYNTAX_CASES = [
    ("missing-arrow", "Dense -> he_normal\nDense he_normal\n", ("IP001", 2, 7)),
    ("missing-arrow-first-line", "Conv2D[activation=relu] he_normal", ("IP001", 1, 25)),
    ("unclosed-bracket", "Dense -> zeros\nConv2D[activation=relu -> he_normal\n", ("IP001", 2, 24)),
    ("unclosed-bracket-at-end", "*.bias -> zeros\nDense[units=3", ("IP001", 2, 14)),
    ("unclosed-paren", "Dense -> orthogonal(gain=1.0\n", ("IP001", 1, 29)),
    ("fat-arrow", "\n\nDense => zeros", ("IP001", 3, 7)),
]


@pytest.mark.parametrize(
    "text, expected", [c[1:] for c in SYNTAX_CASES], ids=[c[0] for c in SYNTAX_CASES]
)
def test_syntax_errors_become_ip001(text, expected):
    found = lint(text)
    assert [(d.code, d.line, d.column) for d in found] == [expected]
    (diag,) = found
    assert diag.severity == "error"
    assert diag.source == "<string>"
    assert diag.message.startswith("unexpected")


def test_include_not_found(tmp_path: Path):
    policy = tmp_path / "main.initpolicy"
    policy.write_text('# top\n*.bias -> zeros\n  @include "missing.initpolicy"\n')
    (diag,) = lint(policy)
    assert (diag.code, diag.line, diag.column, diag.source) == ("IP002", 3, 3, str(policy))
    assert "missing.initpolicy" in diag.message
    assert diag.severity == "error"


def test_include_cycle_across_two_files(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a.initpolicy").write_text('@include "b.initpolicy"\nDense -> he_normal\n')
    Path("b.initpolicy").write_text('# b includes a\n\n  @include "a.initpolicy"\n')
    (diag,) = lint("a.initpolicy")  # a str naming an existing file is a file
    assert (diag.code, diag.line, diag.column) == ("IP002", 3, 3)
    assert diag.source == "b.initpolicy"
    assert diag.message == "@include cycle: a.initpolicy -> b.initpolicy -> a.initpolicy"


def test_syntax_error_inside_included_file(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("top.initpolicy").write_text('@include "sub.initpolicy"\n')
    Path("sub.initpolicy").write_text("Dense -> zeros\n\nLSTM.recurrent_kernel orthogonal\n")
    (diag,) = lint(Path("top.initpolicy"))
    assert (diag.code, diag.source, diag.line, diag.column) == ("IP001", "sub.initpolicy", 3, 23)


def test_missing_path_object_is_ip002(tmp_path: Path):
    (diag,) = lint(tmp_path / "nope.initpolicy")
    assert (diag.code, diag.line, diag.column) == ("IP002", 1, 1)


def test_text_that_is_not_a_file_name_is_policy_text():
    assert lint("Dense -> he_normal") == []
    assert lint("") == []


def test_non_text_is_a_type_error():
    with pytest.raises(TypeError, match="text or a path"):
        lint(b"Dense -> zeros")


@pytest.mark.parametrize(
    "comment, silenced",
    [
        ("# noqa", True),
        ("# noqa: IP001", True),
        ("#noqa:IP001", True),
        ("# NOQA: ip001", True),
        ("# noqa: IP201, IP001", True),
        ("# reason first  # noqa: IP001 (legacy)", True),
        ("# noqa: IP201", False),
        ("# no qa", False),
    ],
)
def test_noqa(comment, silenced):
    found = lint(f"Dense -> zeros\nDense => zeros  {comment}\n")
    assert (found == []) is silenced


def test_noqa_only_silences_its_own_line():
    found = lint("Dense => zeros  # noqa\nDense => zeros\n")
    assert found == []  # the parser stops at the first error, which is silenced
    found = lint("Dense -> zeros  # noqa\nDense => zeros\n")
    assert [(d.code, d.line) for d in found] == [("IP001", 2)]


def test_noqa_inside_a_string_is_not_a_comment():
    assert noqa_map('Dense[name="# noqa"] -> zeros') == {}


def test_noqa_covers_continued_lines():
    assert noqa_map("Dense \\\n  -> zeros  # noqa: IP201\n") == {
        1: frozenset({"IP201"}),
        2: frozenset({"IP201"}),
    }


def test_select_and_ignore():
    bad = "Dense he_normal"
    assert lint(bad, select=["IP1"]) == []
    assert [d.code for d in lint(bad, select=["IP0"])] == ["IP001"]
    assert lint(bad, ignore="IP001") == []
    assert [d.code for d in lint(bad, select="IP001", ignore="IP0")] == ["IP001"]


def test_unknown_code_in_select_is_a_value_error():
    with pytest.raises(ValueError, match="unknown diagnostic code or prefix 'XY1'"):
        lint("Dense -> zeros", select=["XY1"])


def test_code_filter_longest_prefix_wins():
    keep = code_filter(select=["IP2", "IP101"], ignore=["IP20", "IP1"])
    assert [c for c in ("IP101", "IP102", "IP201", "IP205", "IP301") if keep(c)] == ["IP101"]
    assert code_filter(ignore=["ALL"])("IP001") is False


def test_results_are_sorted_and_deduplicated(monkeypatch):
    made = [
        Diagnostic.make("IP302", 2, 1, "duplicate rule"),
        Diagnostic.make("IP201", 1, 9, "symmetric start"),
        Diagnostic.make("IP204", 1, 1, "bias"),
        Diagnostic.make("IP202", 1, 1, "family"),
        Diagnostic.make("IP302", 2, 1, "duplicate rule"),
    ]
    monkeypatch.setattr("keras_initpolicy.checks.lint.validate_policy", lambda policy: list(made))
    found = lint("Dense -> zeros\nDense -> zeros\n")
    assert [(d.line, d.column, d.code) for d in found] == [
        (1, 1, "IP202"),
        (1, 1, "IP204"),
        (1, 9, "IP201"),
        (2, 1, "IP302"),
    ]


def test_lint_text_never_takes_text_for_a_file(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("Dense").write_text("this is not a policy")
    assert lint_text("Dense", source="<stdin>")[0].source == "<stdin>"


def test_noqa_lines_are_counted_like_the_parser():
    assert noqa_map("a -> b  # \x0c odd\r\nDense => zeros  # noqa: IP001\r\n") == {
        2: frozenset({"IP001"})
    }
    assert noqa_map("Dense \\\r\n  -> zeros  # noqa\r\n") == {1: None, 2: None}
