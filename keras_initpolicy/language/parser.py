"""Policy text -> ``PolicyFile`` (frozen AST with positions).

The Lark grammar ships as ``keras_initpolicy/grammars/initpolicy.lark`` (``grammars/`` in the
repository) and is compiled once per process. Lark's exceptions never leave this module: every
failure becomes a ``PolicySyntaxError`` with the source, line, column, what was received and what
was expected.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from ..errors import PolicySyntaxError
from .nodes import (
    EXPRESSION_TYPES,
    Argument,
    Binary,
    Call,
    Comment,
    Directive,
    InitCall,
    PolicyFile,
    Predicate,
    Rule,
    Selector,
    Unary,
    Variable,
    Word,
    value_text,
)

__all__ = ["parse_file", "grammar_text", "MAX_NESTING", "MAX_EXPRESSION_DEPTH"]

#: Deepest tuple/parenthesis nesting accepted; deeper input is rejected as a syntax error.
MAX_NESTING = 16
#: Deepest expression tree accepted (``1 + 1 + ... + 1`` with this many operators).
MAX_EXPRESSION_DEPTH = 64

_INT = re.compile(r"[+-]?\d+\Z")
_KEYWORDS = {"true": True, "false": False, "none": None}

# Human names for grammar terminals, used in "expected ..." messages.
_TERMINAL_NAMES = {
    "NAME": "a name",
    "STAR": "'*'",
    "ARROW": "'->'",
    "COMPARE": "a comparison (=, !=, <, <=, >, >=, ~=)",
    "NUMBER": "a number",
    "STRING": 'a "string"',
    "DIRECTIVE": "a directive (@seed, @explicit, @include, @blocks, @sampler)",
    "LSQB": "'['",
    "RSQB": "']'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "NUMBER_U": "a number",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*' or '/'",
    "POW_OP": "'**'",
    "DOT": "'.'",
    "EQUAL": "'='",
    "SEMICOLON": "';'",
    "_NL": "end of line",
    "$END": "end of input",
    "IN": "'in'",
    "NOT": "'not'",
}


_GRAMMAR = "initpolicy.lark"
_PACKAGE = Path(__file__).resolve().parent.parent  # keras_initpolicy/


def grammar_text() -> str:
    """The grammar source: ``keras_initpolicy/grammars/`` in an installed wheel, ``grammars/`` in
    the repository (an editable install maps that folder as the ``keras_initpolicy.grammars``
    package). Plain file reads: ``importlib.resources`` costs more start-up than the read."""
    for candidate in (_PACKAGE / "grammars" / _GRAMMAR, _PACKAGE.parent / "grammars" / _GRAMMAR):
        if candidate.is_file():
            return candidate.read_text("utf-8")
    from importlib import resources  # zipped installs

    return resources.files("keras_initpolicy.grammars").joinpath(_GRAMMAR).read_text("utf-8")


_local = threading.local()


def _collect_comment(token: Token) -> Token:
    sink = getattr(_local, "comments", None)
    if sink is not None:
        sink.append(Comment(str(token), token.line, token.column))
    return token


def _cache_path() -> str | bool:
    """Where Lark keeps its analysed grammar between processes (about 20 ms saved per start,
    which matters for a pre-commit hook): the user's cache folder, never the installed package.
    ``KERAS_INITPOLICY_NO_CACHE=1`` or an unwritable folder turns it off."""
    import os

    if os.environ.get("KERAS_INITPOLICY_NO_CACHE"):
        return False
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "keras-initpolicy"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    if not os.access(folder, os.W_OK):
        return False
    import hashlib

    from lark import __version__ as lark_version

    digest = hashlib.sha256(grammar_text().encode()).hexdigest()[:16]
    return str(folder / f"grammar-{digest}-lark{lark_version}.cache")


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
        lexer_callbacks={"COMMENT": _collect_comment},
        transformer=_ToAst(),
        cache=_cache_path(),
    )


def _unescape(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", lambda m: m.group(1), body)


def _depth(value) -> int:
    if isinstance(value, tuple):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


class _NestingTooDeep(Exception):
    def __init__(self, line: int, column: int, message: str = "") -> None:
        self.line, self.column = line, column
        self.message = message or f"parentheses or tuples nest deeper than {MAX_NESTING} levels"


class _BadOperand(Exception):
    """A string, tuple, boolean or ``none`` used in arithmetic."""

    def __init__(self, line: int, column: int, message: str) -> None:
        self.line, self.column, self.message = line, column, message


class _Val:
    """A value with its position, used only while parsing (values themselves are plain).

    ``parens`` counts nested parentheses and ``depth`` the expression tree's height, both
    bounded so that nothing downstream recurses without limit."""

    __slots__ = ("value", "line", "column", "parens", "depth")

    def __init__(self, value, line: int, column: int, parens: int = 0, depth: int = 0) -> None:
        self.value, self.line, self.column = value, line, column
        self.parens, self.depth = parens, depth


class _Paren:
    """``(x)`` inside an initializer argument: grouping when an operator uses it, else the
    1-tuple it always was."""

    __slots__ = ("inner",)

    def __init__(self, inner: _Val) -> None:
        self.inner = inner


def _unwrap(v: _Val) -> _Val:
    while isinstance(v.value, _Paren):
        v = v.value.inner
    return v


def _numeric(v: _Val, at=None):
    """The value of ``v`` as an operand of arithmetic: a number or an expression node. ``at``
    is the operator token, whose position stands in for an operand without one (``()``)."""
    v = _unwrap(v)
    value = v.value
    if isinstance(value, Word):
        return Variable(str(value), v.line, v.column)
    if isinstance(value, EXPRESSION_TYPES) or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    ):
        return value
    line, column = (v.line, v.column) if v.line else _pos(at)
    raise _BadOperand(
        line,
        column,
        f"arithmetic takes numbers, `fan_in`, `fan_out`, `depth` or `blocks`; "
        f"received {_shown(value)}",
    )


def _shown(value) -> str:
    return f"`{value_text(value)}`"


def _plain(v: _Val):
    """The value of ``v`` outside arithmetic: groups of one value read as 1-tuples (as before
    expressions existed); expressions are not allowed inside tuples."""
    value = v.value
    if isinstance(value, _Paren):
        return (_plain(value.inner),)
    if isinstance(value, EXPRESSION_TYPES):
        raise _BadOperand(
            v.line, v.column, "an expression cannot be an item of a tuple; remove the commas"
        )
    return value


def _nested(items, line: int, column: int, parens: int = 0) -> _Val:
    """A new ``_Val`` one level above ``items``, checking both nesting bounds."""
    vals = [i for i in items if isinstance(i, _Val)]
    depth = 1 + max((i.depth for i in vals), default=0)
    parens = parens + max((i.parens for i in vals), default=0)
    if parens > MAX_NESTING:
        raise _NestingTooDeep(line, column)
    if depth > MAX_EXPRESSION_DEPTH:
        raise _NestingTooDeep(
            line, column, f"expression nests deeper than {MAX_EXPRESSION_DEPTH} levels"
        )
    return _Val(None, line, column, parens, depth)


def _pos(item) -> tuple[int, int]:
    return (getattr(item, "line", 0) or 0, getattr(item, "column", 0) or 0)


class _ToAst(Transformer):
    """Runs inside the LALR parser as it reduces (no recursion over a tree)."""

    def start(self, items):
        return [i for i in items if isinstance(i, (Rule, Directive))]

    def directive(self, items):
        tok = items[0]
        has_value = len(items) > 1
        value = items[1].value if has_value else None
        return Directive(str(tok)[1:], value, tok.line, tok.column, has_value=has_value)

    def rule(self, items):
        selectors = tuple(i for i in items if isinstance(i, Selector))
        first = selectors[0]
        return Rule(selectors, items[-1], first.line, first.column)

    def selector(self, items):
        cls, preds, weight = items[0], (), None
        for item in items[1:]:
            if isinstance(item, tuple):
                preds = item
            else:
                weight = str(item)
        return Selector(str(cls), preds, weight, *_pos(cls))

    def class_name(self, items):
        return items[0]

    def weight(self, items):
        return items[0]

    def predicates(self, items):
        return tuple(items)

    def compare(self, items):
        name, op, value = items
        return Predicate(str(name), str(op), value.value, *_pos(name))

    def member(self, items):
        return Predicate(str(items[0]), "in", items[-1].value, *_pos(items[0]))

    def not_member(self, items):
        return Predicate(str(items[0]), "not in", items[-1].value, *_pos(items[0]))

    def initializer(self, items):
        args = items[1] if len(items) > 1 else None
        return InitCall(
            str(items[0]), tuple(args or ()), *_pos(items[0]), has_parens=args is not None
        )

    def call_args(self, items):
        return list(items)

    def positional(self, items):
        return Argument(None, _argument_value(items[0]), *_pos(items[0]))

    def keyword(self, items):
        return Argument(str(items[0]), _argument_value(items[1]), *_pos(items[0]))

    # -- arithmetic in arguments (docs/reference.md#expressions-and-variables);
    # a plain number stays a plain number

    def binary(self, items):
        left, op, right = items
        out = _nested((left, right), left.line, left.column)
        out.value = Binary(str(op), _numeric(left, op), _numeric(right, op), *_pos(out))
        return out

    def unary(self, items):
        op, operand = items
        line, column = _pos(op)
        value = _numeric(operand, op)
        if isinstance(value, (int, float)):  # -0.1 is the number it always was
            out = _Val(-value if str(op) == "-" else value, line, column)
            out.parens, out.depth = operand.parens, operand.depth
            return out
        out = _nested((operand,), line, column)
        out.value = Unary(str(op), value, line, column)
        return out

    def call(self, items):
        name, args = items[0], items[1:]
        line, column = _pos(name)
        out = _nested(args, line, column, parens=1)
        out.value = Call(str(name), tuple(_numeric(a, name) for a in args), line, column)
        return out

    def group(self, items):
        vals = [i for i in items if isinstance(i, _Val)]
        trailing = bool(items) and not isinstance(items[-1], _Val)
        line, column = _pos(vals[0]) if vals else (0, 0)
        out = _nested(vals, line, column, parens=1)
        if len(vals) == 1 and not trailing:
            out.value = _Paren(vals[0])
        else:
            out.value = tuple(_plain(v) for v in vals)
        return out

    def number(self, items):
        raw = str(items[0])
        value = int(raw) if _INT.match(raw) else float(raw)
        return _Val(value, *_pos(items[0]))

    def string(self, items):
        return _Val(_unescape(str(items[0])), *_pos(items[0]))

    def word(self, items):
        raw = str(items[0])
        return _Val(_KEYWORDS[raw] if raw in _KEYWORDS else Word(raw), *_pos(items[0]))

    def tuple(self, items):
        value = tuple(i.value for i in items)
        line, column = _pos(items[0]) if items else (0, 0)
        if _depth(value) > MAX_NESTING:
            raise _NestingTooDeep(line, column)
        return _Val(value, line, column)


def _argument_value(v: _Val):
    """An argument's value: an expression when an operator made one, else the plain value."""
    inner = _unwrap(v).value
    if isinstance(inner, EXPRESSION_TYPES):
        return inner
    return _plain(v)


def _describe_expected(expected) -> str:
    names = sorted(
        {_TERMINAL_NAMES.get(e, repr(e).lower() if e.isupper() else e) for e in expected}
    )
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _syntax_error(exc: UnexpectedInput, text: str, source: str) -> PolicySyntaxError:
    line, column = exc.line, exc.column
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        received = repr(char)
        expected = _describe_expected(exc.allowed or ())
    elif isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            received = "end of input"
            lines = text.split("\n")
            line, column = len(lines), len(lines[-1]) + 1
        elif tok.type == "_NL":
            received = "end of line"
        else:
            received = repr(str(tok))
        expected = _describe_expected(getattr(exc, "accepts", None) or exc.expected or ())
    else:  # UnexpectedEOF
        received = "end of input"
        expected = _describe_expected(getattr(exc, "expected", ()) or ())
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    message = f"unexpected {received}"
    if expected:
        message += f"; expected {expected}"
    hint = _hint(text, line)
    if hint:
        message += f". {hint}"
    return PolicySyntaxError(
        message, source=source, line=line, column=column, text=text, code="IP001"
    )


def _hint(text: str, line: int | None) -> str:
    """A suggestion for the most common mistakes, judged from the offending line."""
    lines = text.split("\n")
    if not line or not 1 <= line <= len(lines):
        return ""
    src = lines[line - 1]
    if "=>" in src or ":=" in src:
        return "Rules use `->` between the selector and the initializer"
    if "->" not in src and not src.lstrip().startswith(("@", "#")) and src.strip():
        return "A rule reads `Selector -> initializer`, e.g. `Dense[activation=relu] -> he_normal`"
    return ""


def parse_file(text: str, source: str = "<string>") -> PolicyFile:
    """Parse policy ``text`` into a ``PolicyFile``; raise ``PolicySyntaxError`` on bad syntax.

    >>> f = parse_file("Dense[activation=relu] -> he_normal; *.bias -> zeros")
    >>> [r.text for r in f.rules]
    ['Dense[activation=relu] -> he_normal', '*.bias -> zeros']
    """
    if not isinstance(text, str):
        raise TypeError(f"policy text must be a str, received {type(text).__name__}")
    if text.startswith("\ufeff"):
        # A byte-order mark left by a reader that decoded with "utf-8" rather than "utf-8-sig":
        # ignore it, as in files. Positions count from the character after it.
        text = text[1:]
    if "\x00" in text:
        pos = text.index("\x00")
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        raise PolicySyntaxError(
            "unexpected NUL character; policy files are UTF-8 text",
            source=source,
            line=line,
            column=column,
            text=text,
            code="IP001",
        )
    comments: list[Comment] = []
    _local.comments = comments
    try:
        statements = _lark().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, source) from None
    except VisitError as exc:  # pragma: no cover - a transformer callback failed
        inner = exc.orig_exc
        if isinstance(inner, _NestingTooDeep):
            raise _nesting_error(inner, text, source) from None
        if isinstance(inner, _BadOperand):
            raise _operand_error(inner, text, source) from None
        raise
    except _NestingTooDeep as exc:
        raise _nesting_error(exc, text, source) from None
    except _BadOperand as exc:
        raise _operand_error(exc, text, source) from None
    except RecursionError:  # pragma: no cover - defensive: never leak a RecursionError
        raise PolicySyntaxError("input nests too deeply", source=source, code="IP001") from None
    finally:
        _local.comments = None
    stamped = tuple(_stamp(s, source) for s in statements)
    return PolicyFile(stamped, tuple(comments), source, text)


def _nesting_error(exc: _NestingTooDeep, text: str, source: str) -> PolicySyntaxError:
    line, column = exc.line, exc.column
    if not line:  # only empty tuples inside: no token to take a position from
        line, column = _deep_paren(text)
    return PolicySyntaxError(
        exc.message,
        source=source,
        line=line,
        column=column,
        text=text,
        code="IP001",
    )


def _operand_error(exc: _BadOperand, text: str, source: str) -> PolicySyntaxError:
    return PolicySyntaxError(
        exc.message,
        source=source,
        line=exc.line or None,
        column=exc.column or None,
        text=text,
        code="IP001",
    )


def _deep_paren(text: str) -> tuple[int, int]:
    """Line and column of the first ``(`` nested deeper than ``MAX_NESTING`` (strings and
    comments skipped), or (1, 1)."""
    depth = 0
    for match in re.finditer(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[()\n]', text):
        token = match.group()
        if token == "(":
            depth += 1
            if depth > MAX_NESTING:
                pos = match.start()
                return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1
        elif token == ")":
            depth = max(0, depth - 1)
        elif token == "\n":
            depth = 0
    return 1, 1


def _stamp(statement, source: str):
    from dataclasses import replace

    return replace(statement, source=source)
