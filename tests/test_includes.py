"""``@include`` hardening (issue 7, docs/reference.md#include-and-presets).

Every failure to include a file — a cycle, too deep a chain, a missing file, a directory, a file
that cannot be read, a symlink loop — is a ``PolicyError`` with code IP002 positioned at the
``@include`` statement (line and column) in the *including* file, from ``kip.load``, from
``kip.parse`` and as a diagnostic from ``kip.lint``. Paths resolve relative to the including
file; the rules of included files come first, so the including file wins a tie.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import keras_initpolicy as kip
from keras_initpolicy.policy import MAX_INCLUDE_DEPTH
from keras_initpolicy.resolve import LayerFacts, Resolver


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def include_error(path: Path) -> kip.PolicyError:
    """Load ``path`` expecting an IP002; check lint reports the same finding."""
    with pytest.raises(kip.PolicyError) as info:
        kip.load(path)
    err = info.value
    assert err.code == "IP002", err
    [diag] = kip.lint(path)
    assert (diag.code, diag.source, diag.line, diag.column, diag.message) == (
        "IP002",
        err.source,
        err.line,
        err.column,
        err.message,
    )
    return err


def assert_points_at(err: kip.PolicyError, path: Path, line: int, column: int) -> None:
    """The error names the including file (by any spelling of its path) and the position."""
    assert Path(err.source).resolve() == path.resolve(), err.source
    assert (err.line, err.column) == (line, column)
    assert "@include" in str(err)  # the caret excerpt shows the include statement
    assert str(err).rstrip().endswith("^")


# -- cycles ------------------------------------------------------------------------------------


def test_self_include_is_a_cycle(tmp_path):
    top = write(tmp_path / "self.initpolicy", 'Dense -> he_normal\n  @include "self.initpolicy"\n')
    err = include_error(top)
    assert_points_at(err, top, 2, 3)
    assert "cycle: self.initpolicy -> self.initpolicy" in err.message


def test_two_file_cycle_points_at_the_include_that_closes_it(tmp_path):
    a = write(tmp_path / "a.initpolicy", '# a\n@include "b.initpolicy"\nDense -> he_normal\n')
    b = write(tmp_path / "b.initpolicy", 'Conv2D -> he_normal\n\n    @include "a.initpolicy"\n')
    err = include_error(a)
    assert_points_at(err, b, 3, 5)
    assert "a.initpolicy -> b.initpolicy -> a.initpolicy" in err.message


def test_cycle_reached_from_text(tmp_path, monkeypatch):
    write(tmp_path / "a.initpolicy", '@include "b.initpolicy"\n')
    b = write(tmp_path / "b.initpolicy", '@include "a.initpolicy"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(kip.PolicyError, match="cycle") as info:
        kip.parse('@include "a.initpolicy"')
    assert_points_at(info.value, b, 1, 1)


def test_cycle_through_a_different_spelling_of_the_same_file(tmp_path):
    top = write(tmp_path / "top.initpolicy", '@include "./sub/../top.initpolicy"\n')
    (tmp_path / "sub").mkdir()
    assert "cycle" in include_error(top).message


def test_a_diamond_is_not_a_cycle(tmp_path):
    write(tmp_path / "base.initpolicy", "*.bias -> zeros\n")
    write(tmp_path / "left.initpolicy", '@include "base.initpolicy"\nDense -> he_normal\n')
    write(tmp_path / "right.initpolicy", '@include "base.initpolicy"\nConv2D -> he_normal\n')
    top = write(
        tmp_path / "top.initpolicy", '@include "left.initpolicy"\n@include "right.initpolicy"\n'
    )
    rules = [r.text for r in kip.load(top).rules]
    assert rules == [
        "*.bias -> zeros",
        "Dense -> he_normal",
        "*.bias -> zeros",
        "Conv2D -> he_normal",
    ]


# -- depth -------------------------------------------------------------------------------------


def chain(tmp_path: Path, length: int) -> list[Path]:
    """f0 includes f1 includes ... f{length-1}; each adds one rule."""
    files = []
    for i in range(length):
        nxt = f'@include "f{i + 1}.initpolicy"\n' if i < length - 1 else ""
        files.append(write(tmp_path / f"f{i}.initpolicy", f"{nxt}Dense[units={i}] -> he_normal\n"))
    return files


def test_a_chain_of_max_depth_files_loads(tmp_path):
    files = chain(tmp_path, MAX_INCLUDE_DEPTH)
    policy = kip.load(files[0])
    # The deepest file's rules come first; the top file's rule is last.
    assert [r.text for r in policy.rules][0] == f"Dense[units={MAX_INCLUDE_DEPTH - 1}] -> he_normal"
    assert policy.rules[-1].text == "Dense[units=0] -> he_normal"
    assert [r.index for r in policy.rules] == list(range(MAX_INCLUDE_DEPTH))


def test_one_file_deeper_is_a_positioned_error(tmp_path):
    files = chain(tmp_path, MAX_INCLUDE_DEPTH + 1)
    err = include_error(files[0])
    assert_points_at(err, files[MAX_INCLUDE_DEPTH - 1], 1, 1)
    assert f"deeper than {MAX_INCLUDE_DEPTH}" in err.message


def test_a_very_long_chain_fails_fast_without_recursion_error(tmp_path):
    files = chain(tmp_path, 300)
    assert "deeper" in include_error(files[0]).message


# -- files that cannot be read -----------------------------------------------------------------


def test_missing_file(tmp_path):
    top = write(tmp_path / "top.initpolicy", 'Dense -> he_normal\n\t @include "nope.initpolicy"\n')
    err = include_error(top)
    assert_points_at(err, top, 2, 3)
    assert "not found" in err.message and "nope.initpolicy" in err.message


def test_directory(tmp_path):
    (tmp_path / "sub").mkdir()
    top = write(tmp_path / "top.initpolicy", '@seed 1\n@include "sub"\n')
    err = include_error(top)
    assert_points_at(err, top, 2, 1)
    assert "directory" in err.message


def test_empty_path_is_the_including_directory(tmp_path):
    top = write(tmp_path / "top.initpolicy", '@include ""\n')
    assert "directory" in include_error(top).message


def test_path_through_a_file(tmp_path):
    """Reading ``a.initpolicy/x`` fails with ENOTDIR, an OSError that is not one of the named
    cases: still IP002 at the include."""
    write(tmp_path / "a.initpolicy", "Dense -> he_normal\n")
    top = write(tmp_path / "top.initpolicy", '@include "a.initpolicy/x.initpolicy"\n')
    err = include_error(top)
    assert_points_at(err, top, 1, 1)
    assert "cannot read" in err.message


def test_permission_denied_is_positioned(tmp_path, monkeypatch):
    """Works as root too: reading the included file is made to fail with PermissionError."""
    secret = write(tmp_path / "secret.initpolicy", "Dense -> he_normal\n")
    top = write(tmp_path / "top.initpolicy", 'Conv2D -> he_normal\n@include "secret.initpolicy"\n')
    real = Path.read_bytes

    def read_bytes(self):
        if self.resolve() == secret.resolve():
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    err = include_error(top)
    assert_points_at(err, top, 2, 1)
    assert "permission denied" in err.message


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="chmod 000 does not stop root from reading; covered by the monkeypatched test above",
)
def test_permission_denied_for_real(tmp_path):
    secret = write(tmp_path / "secret.initpolicy", "Dense -> he_normal\n")
    secret.chmod(0)
    top = write(tmp_path / "top.initpolicy", '@include "secret.initpolicy"\n')
    try:
        assert "permission denied" in include_error(top).message
    finally:
        secret.chmod(0o644)


def test_symlink_loop(tmp_path):
    try:
        os.symlink(tmp_path / "loop2", tmp_path / "loop1")
        os.symlink(tmp_path / "loop1", tmp_path / "loop2")
    except (OSError, NotImplementedError):
        pytest.skip("symlinks are not available here")
    top = write(tmp_path / "top.initpolicy", '@include "loop1"\n')
    err = include_error(top)  # regression: RuntimeError from Path.resolve once leaked
    assert_points_at(err, top, 1, 1)


def test_very_long_file_name(tmp_path):
    top = write(tmp_path / "top.initpolicy", f'@include "{"x" * 300}.initpolicy"\n')
    assert_points_at(include_error(top), top, 1, 1)


def test_missing_include_from_text_names_the_text_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(kip.PolicyError) as info:
        kip.parse('Dense -> he_normal\n@include "nope.initpolicy"', source="inline")
    assert (info.value.source, info.value.line, info.value.column) == ("inline", 2, 1)
    assert info.value.code == "IP002"


# -- errors inside included files --------------------------------------------------------------


def test_syntax_error_in_an_included_file_points_into_that_file(tmp_path):
    write(tmp_path / "bad.initpolicy", "Dense -> he_normal\nConv2D ->\n")
    top = write(tmp_path / "top.initpolicy", '@include "bad.initpolicy"\n')
    with pytest.raises(kip.PolicySyntaxError) as info:
        kip.load(top)
    assert Path(info.value.source).name == "bad.initpolicy"
    assert info.value.line == 2
    [diag] = kip.lint(top)
    assert (diag.code, Path(diag.source).name, diag.line) == ("IP001", "bad.initpolicy", 2)


def test_non_utf8_included_file(tmp_path):
    (tmp_path / "latin1.initpolicy").write_bytes(b"Dense -> zeros # caf\xe9\n")
    top = write(tmp_path / "top.initpolicy", '@include "latin1.initpolicy"\n')
    with pytest.raises(kip.PolicyError, match="UTF-8") as info:
        kip.load(top)
    assert Path(info.value.source).name == "latin1.initpolicy"
    assert (info.value.line, info.value.column) == (1, 21)


def test_validation_error_in_an_included_file(tmp_path):
    write(tmp_path / "base.initpolicy", "\nDense -> he_normel\n")
    top = write(tmp_path / "top.initpolicy", '@include "base.initpolicy"\n')
    with pytest.raises(kip.PolicyError) as info:
        kip.load(top)
    assert (info.value.code, Path(info.value.source).name, info.value.line) == (
        "IP105",
        "base.initpolicy",
        2,
    )


@pytest.mark.parametrize("directive", ["@include", "@include base", "@include 3"])
def test_malformed_include_is_ip107_not_a_crash(tmp_path, directive):
    top = write(tmp_path / "top.initpolicy", f"Dense -> he_normal\n{directive}\n")
    assert [(d.code, d.line) for d in kip.lint(top)] == [("IP107", 2)]
    with pytest.raises(kip.PolicyError):
        kip.load(top)


# -- resolution and precedence -----------------------------------------------------------------


def test_relative_paths_resolve_relative_to_the_including_file(tmp_path, monkeypatch):
    root = tmp_path / "project"
    write(root / "common" / "base.initpolicy", "*.bias -> zeros\n")
    write(root / "nets" / "leaf.initpolicy", "LSTM.recurrent_kernel -> orthogonal\n")
    write(
        root / "nets" / "mid.initpolicy",
        '@include "../common/base.initpolicy"\n@include "leaf.initpolicy"\nConv2D -> he_normal\n',
    )
    top = write(root / "top.initpolicy", '@include "nets/mid.initpolicy"\nDense -> he_normal\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory plays no part
    policy = kip.load(top)
    assert [r.text for r in policy.rules] == [
        "*.bias -> zeros",
        "LSTM.recurrent_kernel -> orthogonal",
        "Conv2D -> he_normal",
        "Dense -> he_normal",
    ]
    assert [Path(r.source).name for r in policy.rules] == [
        "base.initpolicy",
        "leaf.initpolicy",
        "mid.initpolicy",
        "top.initpolicy",
    ]
    assert kip.lint(top) == []


def test_text_includes_resolve_relative_to_the_working_directory(tmp_path, monkeypatch):
    write(tmp_path / "base.initpolicy", "*.bias -> zeros\n")
    monkeypatch.chdir(tmp_path)
    policy = kip.parse('@include "base.initpolicy"\nDense -> he_normal')
    assert [r.text for r in policy.rules] == ["*.bias -> zeros", "Dense -> he_normal"]


def test_absolute_include_path(tmp_path):
    base = write(tmp_path / "lib" / "base.initpolicy", "*.bias -> zeros\n")
    top = write(tmp_path / "top.initpolicy", f'@include "{base.as_posix()}"\n')
    assert [r.text for r in kip.load(top).rules] == ["*.bias -> zeros"]


def facts(*names: str, **attrs) -> list[LayerFacts]:
    return [LayerFacts(names, attrs)]


def test_included_rules_come_first_and_the_including_file_wins_a_tie(tmp_path):
    # The include sits at the end of the file: its rules still come first.
    write(tmp_path / "base.initpolicy", "Dense -> glorot_uniform\n*.bias -> ones  # noqa\n")
    top = write(
        tmp_path / "top.initpolicy",
        'Dense -> he_normal\n*.bias -> zeros\n@include "base.initpolicy"\n',
    )
    policy = kip.load(top)
    assert [Path(r.source).name for r in policy.rules] == ["base.initpolicy"] * 2 + [
        "top.initpolicy"
    ] * 2
    resolver = Resolver(policy.rules)
    dense = facts("Dense", "Layer", activation="relu")
    assert resolver.resolve(dense, "kernel", True).rule.init.name == "he_normal"
    assert resolver.resolve(dense, "bias", False).rule.init.name == "zeros"


def test_a_more_specific_included_rule_still_wins(tmp_path):
    write(tmp_path / "base.initpolicy", "Dense[activation=relu] -> he_uniform\n")
    top = write(tmp_path / "top.initpolicy", '@include "base.initpolicy"\nDense -> glorot_normal\n')
    resolver = Resolver(kip.load(top).rules)
    match = resolver.resolve(facts("Dense", "Layer", activation="relu"), "kernel", True)
    assert match.rule.init.name == "he_uniform"


def test_directives_of_the_including_file_win(tmp_path):
    write(tmp_path / "base.initpolicy", "@seed 1\n@explicit override\nDense -> he_normal\n")
    top = write(tmp_path / "top.initpolicy", '@include "base.initpolicy"\n@seed 2\n')
    policy = kip.load(top)
    assert (policy.seed, policy.explicit) == (2, "override")  # seed overridden, explicit inherited


def test_dead_rule_check_does_not_compare_across_files(tmp_path):
    """Overriding an included rule is the point of ``@include``: no IP301/IP302 across files."""
    write(tmp_path / "base.initpolicy", "Dense -> he_normal\n")
    top = write(tmp_path / "top.initpolicy", '@include "base.initpolicy"\nDense -> he_normal\n')
    assert kip.lint(top) == []


# -- the command line --------------------------------------------------------------------------


def test_cli_reports_a_missing_include_as_a_finding(tmp_path):
    top = write(tmp_path / "top.initpolicy", 'Dense -> he_normal\n  @include "nope.initpolicy"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "keras_initpolicy", "lint", "top.initpolicy"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.startswith("top.initpolicy:2:3: IP002 policy file not found")
    assert '@include "nope.initpolicy"' in proc.stdout
    assert top.exists()
