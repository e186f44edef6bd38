"""Golden cases for the parser's and loader's codes (IP001, IP002), like the IP1xx-IP3xx ones in
tests/checks/test_validate.py: each case is written to a folder (with the files it includes) and
linted as a user would lint it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import keras_initpolicy as kip

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "diagnostics"


def _cases(kind: str):
    for code in ("IP001", "IP002"):
        data = json.loads((FIXTURES / f"{code}.json").read_text("utf-8"))
        assert data["code"] == code and data["fail"] and data["pass"]
        for case in data[kind]:
            yield pytest.param(code, case, id=f"{code}-{case['id']}")


def lint_case(tmp_path: Path, case: dict):
    for name, text in case.get("files", {}).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    main = tmp_path / "main.initpolicy"
    main.write_text(case["policy"], encoding="utf-8")
    return main, kip.lint(main)


@pytest.mark.parametrize(("code", "case"), list(_cases("fail")))
def test_failing_case_reports_code_at_position(tmp_path, code, case):
    main, found = lint_case(tmp_path, case)
    hits = [d for d in found if d.code == code]
    assert [(d.line, d.column) for d in hits] == [(case["line"], case["column"])], found
    (d,) = hits
    assert d.severity == "error"
    assert Path(d.source).name == case.get("source", "main.initpolicy")
    assert d.message


@pytest.mark.parametrize(("code", "case"), list(_cases("pass")))
def test_passing_case_does_not_report_code(tmp_path, code, case):
    _, found = lint_case(tmp_path, case)
    assert code not in {d.code for d in found}, found
