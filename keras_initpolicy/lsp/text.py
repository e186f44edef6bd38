"""Tokens and cursor context in policy text, for an editor that is mid-edit.

The parser (``language/parser.py``) needs a whole, valid policy; an editor asks about text that
is half typed. This module scans one line at a time with the grammar's token shapes and answers
two questions: "which token is at this column" (diagnostic ranges, hover, quick fixes) and "what
may be typed here" (completion). Positions are 0-based lines and code-point columns; the server
converts them to the client's units. Pure Python: no Keras, no pygls.

>>> [t.text for t in tokens('Dense[activation="relu"].kernel -> he_normal  # c')]
['Dense', '[', 'activation', '=', '"relu"', ']', '.', 'kernel', '->', 'he_normal', '# c']
>>> context_at("Dense[units>=3].ke", 0, 18)
Context(kind='weight', cls='Dense', init=None, attr=None, partial='ke')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Token", "Context", "tokens", "token_at", "span_at", "statement_tokens", "context_at"]

_TOKEN = re.compile(
    r"""
    (?P<comment>\#.*)
  | (?P<directive>@[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>"(?:[^"\\]|\\.)*"?)
  | (?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<arrow>->)
  | (?P<op>!=|<=|>=|~=|=|<|>)
  | (?P<punct>[\[\](),.;*\\])
  | (?P<other>\S)
    """,
    re.VERBOSE,
)
_OPEN = {"[": "]", "(": ")"}
_ARITHMETIC = frozenset({"+", "-", "*", "/"})


@dataclass(frozen=True)
class Token:
    """One token of a line: ``kind`` is a group name of the scanner, ``end`` is exclusive."""

    kind: str
    text: str
    start: int
    end: int


def tokens(line: str) -> list[Token]:
    """The tokens of one line (a trailing ``\\r`` is ignored)."""
    line = line.rstrip("\r")
    out, i = [], 0
    while i < len(line):
        if line[i] in " \t\f":
            i += 1
            continue
        match = _TOKEN.match(line, i)
        assert match is not None  # `other` matches any non-space character
        out.append(Token(match.lastgroup or "other", match.group(), match.start(), match.end()))
        i = match.end()
    return out


def token_at(line: str, column: int) -> Token | None:
    """The token that contains ``column`` or ends right at it (a cursor after a word)."""
    found = None
    for tok in tokens(line):
        if tok.start <= column < tok.end:
            return tok
        if tok.end == column and tok.kind in ("name", "string", "directive", "number"):
            found = tok
    return found


def _closing(toks: list[Token], index: int) -> int:
    """Index of the token closing the bracket at ``index`` (the last token if unclosed)."""
    depth = 0
    for j in range(index, len(toks)):
        if toks[j].text in _OPEN:
            depth += 1
        elif toks[j].text in _OPEN.values():
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def _statement_end(toks: list[Token], index: int) -> int:
    """Index of the last token of the statement that holds token ``index``."""
    last = index
    for j in range(index, len(toks)):
        if toks[j].kind == "comment" or toks[j].text == ";":
            break
        last = j
    return last


def span_at(line: str, column: int, code: str = "") -> tuple[int, int]:
    """The columns ``[start, end)`` a finding at ``column`` should underline.

    The token there, widened where one token is not the whole story: a bracketed tuple, a
    keyword argument with its value (IP106), an ``@include`` with its path (IP002), a whole rule
    for rule-level findings (IP301/IP302). Past the end of the line: an empty span.

    >>> span_at('Dense -> random_normal(stddev=-1)', 23, "IP106")
    (23, 32)
    >>> span_at('Dense -> zeros; Dense -> zeros  # x', 16, "IP302")
    (16, 30)
    """
    toks = tokens(line)
    index = next((i for i, t in enumerate(toks) if t.start <= column < t.end), None)
    if index is None:
        return column, column
    tok = toks[index]
    last = index
    if code in ("IP301", "IP302"):
        last = _statement_end(toks, index)
    elif tok.text in _OPEN:
        last = _closing(toks, index)
    elif tok.kind == "directive" and code == "IP002":
        last = _statement_end(toks, index)
    elif code == "IP106" and tok.kind == "name" and index + 2 < len(toks):
        if toks[index + 1].text == "=":
            value = index + 2
            last = _closing(toks, value) if toks[value].text in _OPEN else value
    return tok.start, toks[last].end


def statement_tokens(line: str, column: int) -> list[Token]:
    """Tokens of the statement the cursor is in, up to the cursor (the line's earlier
    ``;``-separated statements and a comment left out)."""
    out: list[Token] = []
    for tok in tokens(line[:column]):
        if tok.kind == "comment":
            return []  # the cursor is inside a comment
        if tok.text == ";":
            out = []
        else:
            out.append(tok)
    return out


@dataclass(frozen=True)
class Context:
    """What may be typed at a cursor.

    ``kind``: ``class``, ``attribute``, ``value`` (of ``attr`` on ``cls``), ``weight`` (of
    ``cls``), ``initializer``, ``argument`` (of ``init``), ``argument_value`` (``attr`` of
    ``init``), ``expression`` (inside a numeric argument), ``directive``, ``directive_value``
    (``attr`` names the directive), or ``none``.
    ``partial`` is the word already typed under the cursor.
    """

    kind: str
    cls: str | None = None
    init: str | None = None
    attr: str | None = None
    partial: str = ""


def _open_bracket(toks: list[Token]) -> int | None:
    """Index of the innermost bracket still open at the end of ``toks``."""
    stack: list[int] = []
    for i, tok in enumerate(toks):
        if tok.text in _OPEN:
            stack.append(i)
        elif tok.text in _OPEN.values() and stack:
            stack.pop()
    return stack[-1] if stack else None


def _selector_class(toks: list[Token]) -> str | None:
    """The class name of the selector that ends with ``toks`` (the last ``,`` starts it)."""
    depth, start = 0, 0
    for i, tok in enumerate(toks):
        if tok.text in _OPEN:
            depth += 1
        elif tok.text in _OPEN.values():
            depth -= 1
        elif tok.text == "," and depth == 0:
            start = i + 1
    if start < len(toks) and (toks[start].kind == "name" or toks[start].text == "*"):
        return toks[start].text
    return None


def context_at(text_or_line: str, line: int, column: int) -> Context:
    """What may be typed at ``(line, column)`` of ``text_or_line`` (0-based).

    >>> context_at("Dense -> he_normal(neg", 0, 22)
    Context(kind='argument', cls=None, init='he_normal', attr=None, partial='neg')
    >>> context_at("Dense[activation=re", 0, 19).kind
    'value'
    >>> context_at("@se", 0, 3)
    Context(kind='directive', cls=None, init=None, attr=None, partial='@se')
    """
    lines = text_or_line.split("\n")
    if not 0 <= line < len(lines):
        return Context("none")
    if any(t.kind == "comment" for t in tokens(lines[line][:column])):
        return Context("none")
    toks = statement_tokens(lines[line], column)
    partial = ""
    if toks and toks[-1].end == column and toks[-1].kind in ("name", "directive", "string"):
        partial = toks[-1].text
        toks = toks[:-1]
    if len(toks) == 1 and toks[0].text == "@" and toks[0].end == column:
        return Context("directive", partial="@")
    if partial.startswith("@"):
        return Context("directive", partial=partial)
    if toks and toks[0].kind == "directive":
        return Context("directive_value", attr=toks[0].text[1:], partial=partial)
    arrow = next((i for i, t in enumerate(toks) if t.kind == "arrow"), None)
    if arrow is not None:
        return _right_context(toks[arrow + 1 :], partial)
    return _left_context(toks, partial)


def _right_context(toks: list[Token], partial: str) -> Context:
    if not toks:
        return Context("initializer", partial=partial)
    init = toks[0].text if toks[0].kind == "name" else None
    opened = _open_bracket(toks)
    if opened is None or len(toks) < 2 or toks[1].text != "(":
        return Context("none")
    if opened > 1:  # inside parentheses within the call: an expression
        return Context("expression", init=init, partial=partial)
    inside = toks[opened + 1 :]
    # after `name =` inside the call: the value of that argument
    if len(inside) >= 2 and inside[-1].text == "=" and inside[-2].kind == "name":
        return Context("argument_value", init=init, attr=inside[-2].text, partial=partial)
    if not inside or inside[-1].text in ("(", ","):
        return Context("argument", init=init, partial=partial)
    if inside[-1].text in _ARITHMETIC:
        return Context("expression", init=init, partial=partial)
    return Context("none")


def _left_context(toks: list[Token], partial: str) -> Context:
    opened = _open_bracket(toks)
    if opened is not None and toks[opened].text == "[":
        cls = _selector_class(toks[:opened])
        inside = toks[opened + 1 :]
        # the current predicate: tokens after the last top-level comma inside the brackets
        depth, start = 0, 0
        for i, tok in enumerate(inside):
            if tok.text in _OPEN:
                depth += 1
            elif tok.text in _OPEN.values():
                depth -= 1
            elif tok.text == "," and depth == 0:
                start = i + 1
        pred = inside[start:]
        if not pred:
            return Context("attribute", cls=cls, partial=partial)
        if pred[0].kind == "name" and len(pred) >= 2:
            return Context("value", cls=cls, attr=pred[0].text, partial=partial)
        return Context("none")
    if opened is not None:
        return Context("none")
    if toks and toks[-1].text == ".":
        return Context("weight", cls=_selector_class(toks[:-1]), partial=partial)
    if not toks or toks[-1].text == ",":
        return Context("class", partial=partial)
    return Context("none")
