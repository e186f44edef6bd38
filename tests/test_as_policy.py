"""``policy.as_policy``, the one "policy or path" converter, and ``config.py``, the settings the
front ends share (no Keras; the entry points that take a policy: tests/analysis/test_policy_arguments.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import keras_initpolicy as kip
from keras_initpolicy import cli, config, errors
from keras_initpolicy.policy import as_policy

TEXT = "Dense -> he_normal\n"


class Where(os.PathLike):
    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return str(self.path)


@pytest.fixture
def policy_file(tmp_path) -> Path:
    path = tmp_path / "team.initpolicy"
    path.write_text(TEXT)
    return path


@pytest.mark.parametrize("form", [str, Path, Where], ids=["str", "Path", "PathLike"])
def test_a_path_in_any_form_is_loaded(policy_file, form):
    policy = as_policy(form(policy_file))
    assert [r.text for r in policy.rules] == ["Dense -> he_normal"]
    assert policy.source == str(policy_file)


def test_a_policy_is_returned_as_is():
    policy = kip.parse(TEXT)
    assert as_policy(policy) is policy


def test_none_is_the_project_policy_only_where_allowed(policy_file, monkeypatch):
    monkeypatch.setenv("KERAS_INITPOLICY", str(policy_file))
    assert as_policy(None, project=True).source == str(policy_file)
    assert kip.project_policy().source == str(policy_file)
    with pytest.raises(TypeError, match=r"^kip.audit expects a kip.Policy or a path .*NoneType"):
        as_policy(None, caller="kip.audit")


@pytest.mark.parametrize("value", [42, b"team.initpolicy", ["team.initpolicy"]])
def test_anything_else_is_a_clear_type_error(value):
    name = type(value).__name__
    with pytest.raises(TypeError, match=rf"^diagnose expects .*; received {name}$"):
        as_policy(value, caller="diagnose")
    with pytest.raises(
        TypeError,
        match=r"^apply_policy expects a kip.Policy, a path to a .initpolicy file, or nothing "
        rf"\(the project policy\); received {name}$",
    ):
        as_policy(value, caller="apply_policy", project=True)


def test_a_missing_file_is_a_policy_error(tmp_path):
    with pytest.raises(kip.PolicyError, match="IP002 policy file not found") as info:
        as_policy(tmp_path / "nope.initpolicy")
    assert info.value.code == "IP002"


# -- config.py ------------------------------------------------------------------------------------


def test_the_cli_names_stay_importable():
    assert cli.load_lint_config is config.load_lint_config
    assert cli.UsageError is errors.UsageError
    assert cli.CONFIG_TABLE == config.CONFIG_TABLE == ("tool", "keras-initpolicy", "lint")


def test_lint_config_problems_are_usage_errors(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.keras-initpolicy.lint]\nselekt = ["IP1"]\n')
    with pytest.raises(errors.UsageError, match="unknown key 'selekt'"):
        config.load_lint_config(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.keras-initpolicy.lint]\nfail_on = "error"\n')
    assert config.load_lint_config(tmp_path) == {"fail-on": "error"}


def test_the_language_server_reads_settings_without_the_cli(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.keras-initpolicy.lint]\nignore = "IP201"\n')
    code = (
        "import sys; from pathlib import Path\n"
        "from keras_initpolicy.lsp.findings import lint_settings\n"
        f"assert lint_settings(Path({str(tmp_path)!r})) == {{'ignore': 'IP201'}}\n"
        "loaded = [m for m in ('keras_initpolicy.cli', 'keras_initpolicy.entry') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_command_of():
    assert config.command_of(["--version"]) is None
    assert config.command_of(["-q", "lint", "x"]) == "lint"
