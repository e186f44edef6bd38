"""initpolicy lint / fmt run in-process through cli.main: output, exit codes, configuration."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from keras_initpolicy import __version__
from keras_initpolicy.checks.diagnostics import Diagnostic
from keras_initpolicy.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, main

CLEAN = "@seed 1\nDense[activation=relu] -> he_normal\n*.bias -> zeros\n"
BROKEN = "Dense -> he_normal\nDense he_normal\n"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch):
    """Every test runs in an empty folder with its own (empty) pyproject.toml."""
    monkeypatch.chdir(tmp_path)
    Path("pyproject.toml").write_text("[project]\nname = 'x'\n")


@pytest.fixture
def fake_findings(monkeypatch):
    """Validation that flags ``zeros`` on a kernel (IP201, warning) and ``ones`` on a bias (IP204,
    info), so these tests do not depend on the real checks."""

    def validate(policy):
        found = []
        for rule in policy.rules:
            weight = rule.selectors[0].weight
            if rule.init.name == "zeros" and weight is None:
                found.append(
                    Diagnostic.make("IP201", rule.line, rule.column, "symmetric start", rule.source)
                )
            if rule.init.name == "ones" and weight == "bias":
                found.append(
                    Diagnostic.make("IP204", rule.line, rule.column, "bias not zero", rule.source)
                )
        return found

    monkeypatch.setattr("keras_initpolicy.checks.lint.validate_policy", validate)
    monkeypatch.setattr("keras_initpolicy.policy.validate_policy", validate)


def write(name: str, text: str) -> str:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return name


def test_version(capsys):
    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == f"initpolicy {__version__}"


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == EXIT_USAGE
    assert "usage: initpolicy" in capsys.readouterr().err


# -- lint ---------------------------------------------------------------------------------------


def test_clean_file_exits_0_silently(capsys):
    assert main(["lint", write("ok.initpolicy", CLEAN)]) == EXIT_OK
    assert capsys.readouterr() == ("", "")


def test_syntax_error_text_output(capsys):
    assert main(["lint", write("bad.initpolicy", BROKEN)]) == EXIT_FINDINGS
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("bad.initpolicy:2:7: IP001 unexpected 'he_normal'")
    assert out[1:3] == ["    Dense he_normal", "          ^"]
    assert out[3] == "Found 1 problem (1 error)."


def test_missing_path_exits_2_without_traceback(capsys):
    write("ok.initpolicy", CLEAN)
    assert main(["lint", "ok.initpolicy", "missing.initpolicy"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "initpolicy: error: no such file or directory: 'missing.initpolicy'" in err
    assert "Traceback" not in err


def test_unreadable_path_exits_2(capsys):
    Path("dir.initpolicy").mkdir()
    write("dir.initpolicy/inner.initpolicy", CLEAN)
    assert main(["lint", "dir.initpolicy"]) == EXIT_OK  # a directory is searched
    assert main(["lint", "missing-dir/"]) == EXIT_USAGE


def test_not_utf8_is_a_positioned_finding(capsys):
    Path("latin.initpolicy").write_bytes(b"Dense -> zeros\n# caf\xe9\n")
    assert main(["lint", "latin.initpolicy"]) == EXIT_FINDINGS
    assert capsys.readouterr().out.startswith("latin.initpolicy:2:6: IP001")


def test_json_format(capsys):
    write("bad.initpolicy", BROKEN)
    write("ok.initpolicy", CLEAN)
    assert main(["lint", "--format", "json", "bad.initpolicy", "ok.initpolicy"]) == EXIT_FINDINGS
    (item,) = json.loads(capsys.readouterr().out)
    assert item == {
        **item,
        "code": "IP001",
        "severity": "error",
        "line": 2,
        "column": 7,
        "source": "bad.initpolicy",
    }
    assert set(item) == {"code", "severity", "line", "column", "message", "source"}


def test_json_format_clean_is_an_empty_list(capsys):
    assert main(["lint", "--format", "json", write("ok.initpolicy", CLEAN)]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == []


def test_github_format(capsys, fake_findings):
    write("p.initpolicy", "Dense -> zeros\n*.bias -> ones\nDense he_normal\n")
    write("q.initpolicy", "Dense -> zeros\n*.bias -> ones\n")
    assert main(["lint", "--format", "github", "p.initpolicy", "q.initpolicy"]) == EXIT_FINDINGS
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("::error file=p.initpolicy,line=3,col=7,title=IP001::IP001 ")
    assert out[1:] == [
        "::warning file=q.initpolicy,line=1,col=1,title=IP201::IP201 symmetric start",
        "::notice file=q.initpolicy,line=2,col=1,title=IP204::IP204 bias not zero",
    ]


@pytest.mark.parametrize(
    "args, codes, status",
    [
        ([], ["IP201", "IP204"], EXIT_FINDINGS),
        (["--select", "IP204"], ["IP204"], EXIT_OK),
        (["--select", "IP2", "--ignore", "IP201"], ["IP204"], EXIT_OK),
        (["--ignore", "IP201,IP204"], [], EXIT_OK),
        (["--ignore", "ip2"], [], EXIT_OK),
        (["--select", "IP201", "--ignore", "IP2"], ["IP201"], EXIT_FINDINGS),
    ],
    ids=[
        "all",
        "select",
        "select-prefix-ignore-code",
        "ignore-list",
        "ignore-lowercase-prefix",
        "longest-prefix-wins",
    ],
)
def test_select_ignore(capsys, fake_findings, args, codes, status):
    write("p.initpolicy", "Dense -> zeros\n*.bias -> ones\n")
    assert main(["lint", "--format", "json", *args, "p.initpolicy"]) == status
    assert [d["code"] for d in json.loads(capsys.readouterr().out)] == codes


def test_unknown_code_is_a_usage_error(capsys):
    assert main(["lint", "--select", "IP999", write("ok.initpolicy", CLEAN)]) == EXIT_USAGE
    assert "unknown diagnostic code or prefix 'IP999'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, fail_on, status",
    [
        ("Dense -> zeros\n", "warning", EXIT_FINDINGS),
        ("Dense -> zeros\n", "error", EXIT_OK),
        ("Dense -> zeros\n", "never", EXIT_OK),
        ("*.bias -> ones\n", "warning", EXIT_OK),
        ("*.bias -> ones\n", "info", EXIT_FINDINGS),
        (BROKEN, "error", EXIT_FINDINGS),
        (BROKEN, "never", EXIT_OK),
    ],
)
def test_fail_on(capsys, fake_findings, text, fail_on, status):
    assert main(["lint", "--fail-on", fail_on, write("p.initpolicy", text)]) == status
    assert capsys.readouterr().out  # findings below the threshold are still printed


def test_stdin(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(BROKEN))
    assert main(["lint", "-"]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert out.startswith("<stdin>:2:7: IP001")
    assert "    Dense he_normal\n          ^" in out


def test_stdin_clean(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(CLEAN))
    assert main(["lint", "-"]) == EXIT_OK


def test_directory_recursion(capsys):
    write("policies/a.initpolicy", BROKEN)
    write("policies/nested/deeper/b.initpolicy", BROKEN)
    write("policies/nested/c.initpolicy", CLEAN)
    write("policies/.hidden/d.initpolicy", BROKEN)
    write("policies/notes.txt", BROKEN)
    assert main(["lint", "--format", "json", "policies"]) == EXIT_FINDINGS
    sources = [d["source"] for d in json.loads(capsys.readouterr().out)]
    assert sources == [
        str(Path("policies/a.initpolicy")),
        str(Path("policies/nested/deeper/b.initpolicy")),
    ]


def test_no_path_lints_the_current_directory(capsys):
    write("sub/x.initpolicy", BROKEN)
    assert main(["lint"]) == EXIT_FINDINGS
    assert "x.initpolicy:2:7: IP001" in capsys.readouterr().out


def test_include_problem_is_a_finding_in_the_including_file(capsys):
    write("main.initpolicy", '*.bias -> zeros\n@include "gone.initpolicy"\n')
    assert main(["lint", "main.initpolicy"]) == EXIT_FINDINGS
    assert capsys.readouterr().out.startswith("main.initpolicy:2:1: IP002 policy file not found")


def test_noqa(capsys, fake_findings):
    write("p.initpolicy", "Dense -> zeros  # noqa: IP201\n*.bias -> ones  # noqa\n")
    assert main(["lint", "--fail-on", "info", "p.initpolicy"]) == EXIT_OK
    write("q.initpolicy", "Dense -> zeros  # noqa: IP204\n")
    assert main(["lint", "q.initpolicy"]) == EXIT_FINDINGS


def test_pyproject_settings(capsys, fake_findings, monkeypatch):
    write("p.initpolicy", "Dense -> zeros\n*.bias -> ones\n")
    Path("pyproject.toml").write_text(
        '[tool.keras-initpolicy.lint]\nignore = ["IP201"]\nfail-on = "info"\nformat = "json"\n'
    )
    Path("sub").mkdir()
    monkeypatch.chdir("sub")  # the nearest pyproject.toml is found above the working directory
    assert main(["lint", "../p.initpolicy"]) == EXIT_FINDINGS
    assert [d["code"] for d in json.loads(capsys.readouterr().out)] == ["IP204"]
    # the command line wins over the file
    assert (
        main(
            ["lint", "--fail-on", "warning", "--ignore", "", "--format", "text", "../p.initpolicy"]
        )
        == EXIT_FINDINGS
    )
    out = capsys.readouterr().out
    assert "IP201 symmetric start" in out and "IP204" in out


def test_pyproject_comma_strings_and_underscores(capsys, fake_findings):
    write("p.initpolicy", "Dense -> zeros\n*.bias -> ones\n")
    Path("pyproject.toml").write_text(
        '[tool.keras-initpolicy.lint]\nselect = "IP204"\nfail_on = "info"\n'
    )
    assert main(["lint", "p.initpolicy"]) == EXIT_FINDINGS
    assert "IP201" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, message",
    [
        ("[tool.keras-initpolicy.lint]\nselekt = ['IP2']\n", "unknown key 'selekt'"),
        ("[tool.keras-initpolicy.lint\n", "invalid TOML"),
        ("[tool.keras-initpolicy.lint]\nfail-on = 'sometimes'\n", "fail-on must be one of"),
        ("[tool.keras-initpolicy.lint]\nformat = 'xml'\n", "format must be one of"),
    ],
    ids=["unknown-key", "bad-toml", "bad-fail-on", "bad-format"],
)
def test_bad_pyproject_is_a_usage_error(capsys, content, message):
    Path("pyproject.toml").write_text(content)
    assert main(["lint", write("ok.initpolicy", CLEAN)]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_custom_layers_without_keras_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # as if Keras could not be imported
    assert (
        main(["lint", "--custom-layers", "mylayers", write("ok.initpolicy", CLEAN)]) == EXIT_USAGE
    )
    assert "--custom-layers needs Keras" in capsys.readouterr().err


CUSTOM_LAYER = """\
import keras


class Scale(keras.layers.Layer):
    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
"""


@pytest.mark.keras
@pytest.mark.parametrize("spec", ["mylayers", "mylayers:Scale"])
def test_custom_layers_are_registered(capsys, monkeypatch, spec):
    from keras_initpolicy.catalog import layers

    layers.clear_custom()
    monkeypatch.syspath_prepend(".")
    monkeypatch.delitem(sys.modules, "mylayers", raising=False)
    write("mylayers.py", CUSTOM_LAYER)
    policy = write("p.initpolicy", "Scale[factor>1] -> he_normal\n")
    assert main(["lint", "--select", "IP101", policy]) == EXIT_FINDINGS
    assert "IP101" in capsys.readouterr().out
    try:
        assert main(["lint", "--select", "IP101", "--custom-layers", spec, policy]) == EXIT_OK
    finally:
        layers.clear_custom()


@pytest.mark.keras
def test_custom_layers_bad_module_is_a_usage_error(capsys):
    assert main(["lint", "--custom-layers", "no_such_mod", write("ok.initpolicy", CLEAN)]) == 2
    assert "cannot import custom layer module 'no_such_mod'" in capsys.readouterr().err


# -- fmt ----------------------------------------------------------------------------------------

UGLY = "Dense[activation = relu]->he_normal;*.bias->zeros # b\n\n\n"
PRETTY = "Dense[activation=relu] -> he_normal\n*.bias                 -> zeros  # b\n"


def test_fmt_rewrites_in_place(capsys):
    write("p.initpolicy", UGLY)
    write("q.initpolicy", PRETTY)
    assert main(["fmt", "p.initpolicy", "q.initpolicy"]) == EXIT_OK
    assert Path("p.initpolicy").read_text() == PRETTY
    assert Path("q.initpolicy").read_text() == PRETTY
    err = capsys.readouterr().err
    assert "reformatted p.initpolicy" in err and "1 file reformatted, 1 left unchanged" in err


def test_fmt_check_lists_files_and_changes_nothing(capsys):
    write("p.initpolicy", UGLY)
    write("q.initpolicy", PRETTY)
    assert main(["fmt", "--check", "p.initpolicy", "q.initpolicy"]) == EXIT_FINDINGS
    assert capsys.readouterr().out == "would reformat p.initpolicy\n"
    assert Path("p.initpolicy").read_text() == UGLY
    assert main(["fmt", "--check", "q.initpolicy"]) == EXIT_OK


def test_fmt_diff(capsys):
    write("p.initpolicy", UGLY)
    assert main(["fmt", "--diff", "p.initpolicy"]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "+*.bias                 -> zeros  # b" in out
    assert Path("p.initpolicy").read_text() == UGLY


def test_fmt_directory(capsys):
    write("d/a.initpolicy", UGLY)
    write("d/e/b.initpolicy", UGLY)
    assert main(["fmt", "d"]) == EXIT_OK
    assert Path("d/e/b.initpolicy").read_text() == PRETTY


def test_fmt_syntax_error_is_positioned_and_exits_2(capsys):
    write("bad.initpolicy", BROKEN)
    write("p.initpolicy", UGLY)
    assert main(["fmt", "bad.initpolicy", "p.initpolicy"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "bad.initpolicy:2:7: IP001 unexpected 'he_normal'" in err
    assert "Traceback" not in err
    assert Path("bad.initpolicy").read_text() == BROKEN
    assert Path("p.initpolicy").read_text() == PRETTY  # the other files are still formatted


def test_fmt_stdin(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(UGLY))
    assert main(["fmt", "-"]) == EXIT_OK
    assert capsys.readouterr().out == PRETTY
    monkeypatch.setattr("sys.stdin", io.StringIO(UGLY))
    assert main(["fmt", "--check", "-"]) == EXIT_FINDINGS


def test_fmt_missing_file(capsys):
    assert main(["fmt", "nope.initpolicy"]) == EXIT_USAGE
    assert "no such file or directory: 'nope.initpolicy'" in capsys.readouterr().err


def test_fmt_needs_a_path(capsys):
    assert main(["fmt"]) == EXIT_USAGE


# -- explain (imports Keras) ----------------------------------------------------------------------

BUILDER = """\
import keras


def build():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(2, activation="sigmoid", name="out")(x)
    return keras.Model(inputs, outputs, name="tiny")


def broken():
    raise RuntimeError("boom")
"""
EXPLAIN_POLICY = """\
@seed 3
Dense[activation=relu]    -> he_normal
Dense[activation=sigmoid] -> glorot_uniform(variant=kwon)
*.bias                    -> zeros
LSTM.recurrent_kernel     -> orthogonal
"""


@pytest.fixture
def builder_module(monkeypatch):
    monkeypatch.syspath_prepend(".")
    monkeypatch.delitem(sys.modules, "tinymodel", raising=False)
    write("tinymodel.py", BUILDER)
    write("p.initpolicy", EXPLAIN_POLICY)


@pytest.mark.keras
def test_explain_table(capsys, builder_module):
    assert main(["explain", "p.initpolicy", "--model", "tinymodel:build"]) == EXIT_OK
    out, err = capsys.readouterr()
    hidden_kernel = next(line for line in out.splitlines() if "hidden" in line and "kernel" in line)
    assert "HeNormal" in hidden_kernel and "p.initpolicy:2" in hidden_kernel
    assert "warning: p.initpolicy:5: rule `LSTM.recurrent_kernel -> orthogonal`" in err


@pytest.mark.keras
def test_explain_json(capsys, builder_module):
    assert main(["explain", "p.initpolicy", "--model", "tinymodel:build", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {(a["layer_path"].split("/")[-1], a["weight"]): a for a in data["assignments"]}
    assert rows[("out", "kernel")]["rule"]["line"] == 3
    assert rows[("hidden", "bias")]["reason"] == "rule"


@pytest.mark.keras
def test_explain_saved_model(capsys, builder_module):
    import tinymodel

    tinymodel.build().save("tiny.keras")
    assert main(["explain", "p.initpolicy", "--model", "tiny.keras"]) == EXIT_OK
    rows = [line.split()[:3] for line in capsys.readouterr().out.splitlines()]
    assert ["out", "Dense", "kernel"] in rows and ["hidden", "Dense", "bias"] in rows


@pytest.mark.keras
@pytest.mark.parametrize(
    "model, message",
    [
        ("tinymodel:nothing", "'tinymodel' has no function 'nothing'"),
        ("no_such_module:build", "cannot import 'no_such_module'"),
        ("missing.keras", "no such model file: 'missing.keras'"),
        ("tinymodel", "--model expects MODULE:FUNCTION or a .keras file"),
    ],
)
def test_explain_usage_errors(capsys, builder_module, model, message):
    assert main(["explain", "p.initpolicy", "--model", model]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.keras
def test_explain_builder_errors_propagate(builder_module):
    with pytest.raises(RuntimeError, match="boom"):
        main(["explain", "p.initpolicy", "--model", "tinymodel:broken"])


@pytest.mark.keras
def test_explain_invalid_policy(capsys, builder_module):
    write("bad.initpolicy", BROKEN)
    assert main(["explain", "bad.initpolicy", "--model", "tinymodel:build"]) == EXIT_USAGE
    assert "bad.initpolicy:2:7: IP001" in capsys.readouterr().err


# -- start-up: one command's parser, and the executable's exit ---------------------------------


def _subcommands(parser) -> list[str]:
    action = next(a for a in parser._actions if a.dest == "command")  # argparse's subparsers
    return list(action.choices)


def test_a_named_command_builds_only_its_own_parser_with_the_same_usage():
    from keras_initpolicy.cli import COMMANDS, build_parser

    full = build_parser()
    assert _subcommands(full) == list(COMMANDS)
    for name in COMMANDS:
        alone = build_parser(name)
        assert _subcommands(alone) == [name]
        assert (
            _subcommands(alone)[0] == name
            and alone._subparsers._group_actions[0].choices[name].format_help()
            == full._subparsers._group_actions[0].choices[name].format_help()
        )
    assert _subcommands(build_parser("no-such-command")) == list(COMMANDS)


def test_an_unknown_command_still_lists_every_command(capsys):
    assert main(["lnit"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "invalid choice: 'lnit'" in err and "'diagnose'" in err


def test_the_executable_returns_mains_status_and_freezes_the_collector(monkeypatch):
    import keras_initpolicy.cli as cli
    import keras_initpolicy.entry as entry

    frozen, disabled = [], []
    monkeypatch.setattr(entry.gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(entry.gc, "disable", lambda: disabled.append(True))
    monkeypatch.setattr(sys, "argv", ["initpolicy", "lint", "-"])
    monkeypatch.setattr(sys, "stdin", io.StringIO("Dense -> he_normal\n"))
    assert entry.script() == EXIT_OK
    assert frozen == [True] and disabled == [True]  # lint: a short-lived command
    monkeypatch.setattr(sys, "argv", ["initpolicy", "explain"])
    assert entry.script() == EXIT_USAGE  # argparse: --model is required
    assert frozen == [True, True] and disabled == [True]  # explain keeps the collector
    assert cli.main(["lint", "-"]) in (EXIT_OK, EXIT_FINDINGS) and len(frozen) == 2
