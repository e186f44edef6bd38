"""docs/diagnostics.md documents every code of diagnostics.CODES, and only those; its examples
trigger the code and its fixes do not. Audit codes (IP4xx) have a model builder as their example;
tests/test_audit.py audits it (this module runs without Keras)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from keras_initpolicy.checks.diagnostics import CODES
from keras_initpolicy.checks.lint import lint

DOC = Path(__file__).resolve().parents[2] / "docs" / "diagnostics.md"
HEADING = re.compile(r"^## (\S+) — (.+)$", re.MULTILINE)
BLOCK = re.compile(r"```initpolicy\n(.*?)```", re.DOTALL)
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
AUDIT_PREFIX = "IP4"  # found in models by `initpolicy audit`, not in policies by lint


def sections() -> dict[str, str]:
    text = DOC.read_text("utf-8")
    found = list(HEADING.finditer(text))
    return {
        m.group(1): text[m.end() : found[i + 1].start() if i + 1 < len(found) else len(text)]
        for i, m in enumerate(found)
    }


def test_every_code_has_a_section_and_every_section_a_code():
    names = [m.group(1) for m in HEADING.finditer(DOC.read_text("utf-8"))]
    assert len(names) == len(set(names)), "a code is documented twice"
    assert set(names) - set(CODES) == set(), "sections for unknown codes"
    assert set(CODES) - set(names) == set(), "codes without a section"
    assert names == sorted(names)


@pytest.mark.parametrize("code", sorted(CODES))
def test_section_is_complete(code):
    body = sections()[code]
    assert f"**Severity:** {CODES[code][0]}" in body
    for part in ("**What it flags.**", "**Why it is bad.**", "**Example.**", "**Fix.**"):
        assert part in body, f"{code} lacks {part}"
    if code.startswith(AUDIT_PREFIX):
        assert len(PYTHON_BLOCK.findall(body)) == 1, f"{code} needs an example model"
        assert len(BLOCK.findall(body)) == 1, f"{code} needs a fixing policy"
        return
    assert len(BLOCK.findall(body)) == 2, f"{code} needs an example and a fixed policy"


@pytest.mark.parametrize("code", sorted(CODES))
def test_example_triggers_the_code_and_fix_does_not(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # includes resolve here, where nothing exists
    if code.startswith(AUDIT_PREFIX):  # the fix must be a lint-clean policy
        (fixed,) = BLOCK.findall(sections()[code])
        assert [d for d in lint(fixed, source="fixed") if d.severity != "info"] == []
        return
    example, fixed = BLOCK.findall(sections()[code])
    assert code in {d.code for d in lint(example, source="example")}
    if "@include" not in fixed:
        assert code not in {d.code for d in lint(fixed, source="fixed")}
