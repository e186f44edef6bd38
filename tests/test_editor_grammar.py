"""``editors/initpolicy.tmLanguage.json`` applied to sample lines, and the VS Code extension's files.

A small TextMate interpreter (``match``, ``begin``/``end`` with captures, ``include``) runs the
grammar's regexes with Python's ``re``; the grammar sticks to the part of Oniguruma's syntax the
two share, which the first test checks for every pattern.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

EDITORS = Path(__file__).resolve().parent.parent / "editors"
GRAMMAR = json.loads((EDITORS / "initpolicy.tmLanguage.json").read_text("utf-8"))


def _patterns(rule: dict) -> list[dict]:
    """``rule``'s patterns with includes expanded."""
    out = []
    for p in rule.get("patterns", []):
        if "include" in p:
            ref = p["include"]
            target = GRAMMAR if ref == "$self" else GRAMMAR["repository"][ref.lstrip("#")]
            out.extend(
                _patterns(target) if "match" not in target and "begin" not in target else [target]
            )
        else:
            out.append(p)
    return out


def _every_regex(rule=GRAMMAR, seen=None):
    seen = set() if seen is None else seen
    for key in ("match", "begin", "end"):
        if key in rule:
            yield rule[key]
    for p in rule.get("patterns", []):
        if "include" in p:
            name = p["include"].lstrip("#")
            if name not in seen and name != "$self":
                seen.add(name)
                yield from _every_regex(GRAMMAR["repository"][name], seen)
        else:
            yield from _every_regex(p, seen)


def tokenize(line: str) -> list[list[str]]:
    """The scopes of every character of ``line`` (outermost first)."""
    scopes: list[list[str]] = [["source.initpolicy"] for _ in line]

    def paint(match: re.Match, name: str | None, captures: dict, outer: list[str]) -> None:
        for i in range(match.start(), match.end()):
            scopes[i] = list(outer) + ([name] if name else [])
        for group, spec in sorted(captures.items(), key=lambda kv: int(kv[0])):
            if match.group(int(group)) is None:
                continue
            for i in range(match.start(int(group)), match.end(int(group))):
                scopes[i] = scopes[i] + [spec["name"]] if group != "0" else [*outer, spec["name"]]

    def run(rule: dict, pos: int, end: re.Pattern | None, outer: list[str]) -> int:
        patterns = _patterns(rule)
        while pos <= len(line):
            end_match = end.search(line, pos) if end else None
            best, best_rule = None, None
            for p in patterns:
                m = re.compile(p.get("match") or p["begin"]).search(line, pos)
                if m and (best is None or m.start() < best.start()):
                    best, best_rule = m, p
            if end_match and (best is None or end_match.start() <= best.start()):
                for i in range(pos, end_match.start()):
                    scopes[i] = list(outer)
                paint(end_match, None, rule.get("endCaptures", {}), outer)
                return end_match.end()
            if best is None:
                for i in range(pos, len(line)):
                    scopes[i] = list(outer)
                return len(line) + 1
            for i in range(pos, best.start()):
                scopes[i] = list(outer)
            if "match" in best_rule:
                paint(best, best_rule.get("name"), best_rule.get("captures", {}), outer)
                pos = max(best.end(), pos + 1)
            else:
                inner = outer + ([best_rule["name"]] if "name" in best_rule else [])
                paint(best, best_rule.get("name"), best_rule.get("beginCaptures", {}), outer)
                after = run(best_rule, best.end(), re.compile(best_rule["end"]), inner)
                pos = max(after, best.end() + 1 if best.end() == best.start() else best.end())
        return pos

    run(GRAMMAR, 0, None, ["source.initpolicy"])
    return scopes


def scope_of(line: str, word: str, nth: int = 0) -> list[str]:
    index = -1
    for _ in range(nth + 1):
        index = line.index(word, index + 1)
    return tokenize(line)[index]


def test_every_regex_compiles_with_python_re():
    regexes = list(_every_regex())
    assert len(regexes) > 20
    for regex in regexes:
        re.compile(regex)


LINE = 'Dense[activation in (relu, gelu), name~="head*"].kernel -> he_normal(negative_slope=0.2)'


@pytest.mark.parametrize(
    "line, word, nth, scope",
    [
        (LINE, "Dense", 0, "entity.name.type.class.initpolicy"),
        (LINE, "activation", 0, "variable.other.property.attribute.initpolicy"),
        (LINE, "in (", 0, "keyword.operator.comparison.initpolicy"),
        (LINE, "relu", 0, "constant.other.word.initpolicy"),
        (LINE, '"head*"', 0, "string.quoted.double.initpolicy"),
        (LINE, "kernel", 0, "variable.other.member.weight.initpolicy"),
        (LINE, "->", 0, "keyword.operator.arrow.initpolicy"),
        (LINE, "he_normal", 0, "entity.name.function.initializer.initpolicy"),
        (LINE, "negative_slope", 0, "variable.parameter.initpolicy"),
        (LINE, "0.2", 0, "constant.numeric.initpolicy"),
        ("*.bias -> zeros  # noqa: IP201", "*", 0, "entity.name.type.wildcard.initpolicy"),
        (
            "*.bias -> zeros  # noqa: IP201",
            "zeros",
            0,
            "entity.name.function.initializer.initpolicy",
        ),
        ("*.bias -> zeros  # noqa: IP201", "noqa", 0, "keyword.other.noqa.initpolicy"),
        ("*.bias -> zeros  # noqa: IP201", "IP201", 0, "constant.other.diagnostic-code.initpolicy"),
        ("@seed 1234  # reproducible", "@seed", 0, "keyword.control.directive.initpolicy"),
        ("@seed 1234  # reproducible", "1234", 0, "constant.numeric.initpolicy"),
        ("@seed 1234  # reproducible", "reproducible", 0, "comment.line.number-sign.initpolicy"),
        ('@include "preset:gpt2"', '"preset:gpt2"', 0, "string.quoted.double.initpolicy"),
        (
            "Dense -> random_normal(stddev=0.02/sqrt(2*blocks))",
            "sqrt",
            0,
            "support.function.math.initpolicy",
        ),
        (
            "Dense -> random_normal(stddev=0.02/sqrt(2*blocks))",
            "blocks",
            0,
            "variable.language.initpolicy",
        ),
        (
            "Dense -> random_normal(stddev=0.02/sqrt(2*blocks))",
            "/",
            0,
            "keyword.operator.arithmetic.initpolicy",
        ),
        (
            "Dense[use_bias=false] -> auto; Conv2D -> auto",
            "false",
            0,
            "constant.language.initpolicy",
        ),
        (
            "Dense[use_bias=false] -> auto; Conv2D -> auto",
            "Conv2D",
            0,
            "entity.name.type.class.initpolicy",
        ),
        (
            "Dense[use_bias=false] -> auto; Conv2D -> auto",
            "auto",
            1,
            "entity.name.function.initializer.initpolicy",
        ),
        ('Dense[name="a # b"] -> auto', "b", 0, "string.quoted.double.initpolicy"),
    ],
)
def test_scopes_of_sample_lines(line, word, nth, scope):
    assert scope in scope_of(line, word, nth)


def test_an_arrow_inside_a_string_is_not_an_arrow():
    line = 'Dense[name~="a->b"] -> auto'
    assert "keyword.operator.arrow.initpolicy" not in scope_of(line, "->")
    assert "keyword.operator.arrow.initpolicy" in scope_of(line, "->", 1)


def test_vscode_extension_uses_the_grammar_and_starts_the_server():
    package = json.loads((EDITORS / "vscode" / "package.json").read_text("utf-8"))
    contributes = package["contributes"]
    (language,) = contributes["languages"]
    assert language["extensions"] == [".initpolicy"]
    (grammar,) = contributes["grammars"]
    assert grammar["scopeName"] == GRAMMAR["scopeName"] == "source.initpolicy"
    # the extension ships a copy (`npm run sync-grammar`); it must be the grammar tested here
    copy = (EDITORS / "vscode" / grammar["path"]).read_text("utf-8")
    assert copy == (EDITORS / "initpolicy.tmLanguage.json").read_text("utf-8")
    assert (EDITORS / "vscode" / language["configuration"]).is_file()
    json.loads((EDITORS / "vscode" / language["configuration"]).read_text("utf-8"))
    main = (EDITORS / "vscode" / package["main"]).read_text("utf-8")
    assert '"lsp"' in main and "vscode-languageclient" in main
    assert "vscode-languageclient" in package["dependencies"]
