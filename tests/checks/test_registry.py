"""Every code has its emitting functions in ``checks/registry.py``, and they really emit it.

Read from source (ast), so this runs without Keras even for the audit codes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from keras_initpolicy.checks.diagnostics import CODES
from keras_initpolicy.checks.registry import EMITTERS

PACKAGE = Path(__file__).resolve().parents[2] / "keras_initpolicy"


def test_every_code_is_registered():
    assert set(EMITTERS) == set(CODES)


def _function_source(target: str) -> str:
    module, _, name = target.partition(":")
    path = PACKAGE.joinpath(*module.split(".")).with_suffix(".py")
    text = path.read_text("utf-8")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(text, node)
    raise AssertionError(f"{target}: no function {name} in {path.name}")


@pytest.mark.parametrize(
    ("code", "target"), [(c, t) for c, targets in sorted(EMITTERS.items()) for t in targets]
)
def test_registered_function_emits_its_code(code, target):
    assert code in _function_source(target), f"{target} does not mention {code}"
