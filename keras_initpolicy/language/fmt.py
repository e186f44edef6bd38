"""``initpolicy fmt``: the canonical layout of a policy file (documented in ``docs/fmt.md``).

- statements keep their order, one per line (``;``-joined statements are split);
- canonical spacing: ``Dense[activation=relu, units>=3], Conv1D.kernel -> he_normal(variant=kwon)``
  (no spaces around comparison operators or ``=``; ``in``/``not in`` spaced; ``", "`` between
  items);
- within a block (consecutive rule lines, not broken by a blank line, a comment-only line or a
  directive) the arrows are aligned;
- full-line comments stay in place; a trailing comment stays at the end of its statement's line,
  two spaces after it. When several statements shared a line, the comment goes with the last one,
  except a ``# noqa`` comment, which is copied to every statement of that line so it keeps
  silencing them;
- at most one blank line in a row, none at the start or end, and one final newline.

Formatting is idempotent and never changes what a policy means: ``parse(format_policy(x))`` has
the same statements as ``parse(x)``. No Keras import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .nodes import Directive, Rule
from .parser import parse_file

__all__ = ["format_policy", "rule_parts"]

_NOQA = re.compile(r"#\s*noqa\b", re.IGNORECASE)


def rule_parts(rule: Rule) -> tuple[str, str]:
    """The canonical text left and right of the arrow."""
    return ", ".join(s.text for s in rule.selectors), rule.init.text


@dataclass
class _Line:
    """One output line: a blank, a full-line comment, a directive or a rule."""

    kind: str  # "blank" | "comment" | "directive" | "rule"
    left: str = ""  # a rule's selectors, a directive's text or a comment's text
    right: str = ""
    comment: str = ""


def _offsets(text: str) -> list[int]:
    """Offset of the first character of each line (1-based line -> index line-1)."""
    starts = [0]
    for match in re.finditer(r"\n", text):
        starts.append(match.end())
    return starts


def _end_line(text: str, offset: int, line: int) -> int:
    """The line on which the statement starting at ``offset`` ends (continuations followed)."""
    i, n = offset, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif ch == "\\":
            nxt = i + 1
            if text.startswith("\r\n", nxt):
                nxt += 1
            if nxt < n and text[nxt] == "\n":
                line += 1
                i = nxt
        elif ch in ";\n#":
            return line
        i += 1
    return line


def _statement_line(statement) -> _Line:
    if isinstance(statement, Directive):
        return _Line("directive", statement.text)
    left, right = rule_parts(statement)
    return _Line("rule", left, right)


def format_policy(text: str, source: str = "<string>") -> str:
    """Return ``text`` in canonical layout; raise ``PolicySyntaxError`` when it does not parse.

    >>> print(format_policy("@seed 1\\nDense [ activation = relu ]->he_normal;*.bias->zeros # b"), end="")
    @seed 1
    Dense[activation=relu] -> he_normal
    *.bias                 -> zeros  # b
    """
    text = text.removeprefix("\ufeff")  # as the parser does; the output carries no BOM
    pfile = parse_file(text, source)
    starts = _offsets(text)
    lines = text.split("\n")  # lines as the parser counts them (not str.splitlines)

    # Each statement: (start line, start column, end line, output line).
    spans = []
    for st in pfile.statements:
        offset = starts[st.line - 1] + st.column - 1
        spans.append((st.line, st.column, _end_line(text, offset, st.line), _statement_line(st)))

    ending_on: dict[int, list[_Line]] = {}
    covered: set[int] = set()
    for start, _col, end, out in spans:
        ending_on.setdefault(end, []).append(out)
        covered.update(range(start, end + 1))

    events: list[tuple[int, int, _Line]] = [(s, c, out) for s, c, _e, out in spans]
    for comment in pfile.comments:
        body = comment.text.rstrip()
        owners = ending_on.get(comment.line)
        if owners:
            targets = owners if _NOQA.search(body) else owners[-1:]
            for owner in targets:
                owner.comment = body
        else:
            events.append((comment.line, comment.column, _Line("comment", body)))
            covered.add(comment.line)
    for number, line in enumerate(lines, start=1):
        if number not in covered and not line.strip(" \t\f;\r"):
            if not line.strip():
                events.append((number, 0, _Line("blank")))
    events.sort(key=lambda e: (e[0], e[1]))

    out: list[_Line] = []
    for _l, _c, item in events:
        if item.kind == "blank" and (not out or out[-1].kind == "blank"):
            continue
        out.append(item)
    while out and out[-1].kind == "blank":
        out.pop()
    return _render(out)


def _render(items: list[_Line]) -> str:
    rendered: list[str] = []
    i = 0
    while i < len(items):
        if items[i].kind != "rule":
            item = items[i]  # a blank, a comment (text in ``left``) or a directive
            rendered.append(_with_comment(item.left, item.comment))
            i += 1
            continue
        j = i
        while j < len(items) and items[j].kind == "rule":
            j += 1
        width = max(len(item.left) for item in items[i:j])
        for item in items[i:j]:
            rendered.append(
                _with_comment(f"{item.left.ljust(width)} -> {item.right}", item.comment)
            )
        i = j
    return "\n".join(rendered) + "\n" if rendered else ""


def _with_comment(body: str, comment: str) -> str:
    if not comment:
        return body
    return f"{body}  {comment}" if body else comment
