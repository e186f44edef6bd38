"""Frozen AST nodes of a policy, each keeping its source position.

The parser (``parser.py``) produces these; validation, formatting, resolution and
compilation all read them. Nothing here imports Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Word",
    "Value",
    "Variable",
    "Unary",
    "Binary",
    "Call",
    "Expression",
    "EXPRESSION_TYPES",
    "Predicate",
    "Selector",
    "Argument",
    "InitCall",
    "Rule",
    "Directive",
    "Comment",
    "PolicyFile",
    "value_text",
]


class Word(str):
    """A bare word in a policy (``relu``, ``kwon``, ``auto``), as opposed to a quoted string.

    It compares equal to the plain string, so predicates treat ``relu`` and ``"relu"`` alike;
    the formatter prints it without quotes.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Word({str(self)!r})"


# -- arithmetic expressions (docs/reference.md#expressions-and-variables) -----------------------
#
# Only numeric initializer arguments hold these; a literal number stays a plain int/float, so an
# argument without an operator is exactly the value it was before expressions existed. Each node
# keeps the position of its first character. ``text`` is the canonical spelling (``fmt``):
# one space around binary operators, none after unary minus, parentheses only where precedence
# needs them, ``0.02 / sqrt(2 * blocks)``.

# Binding strength, weakest first: sums, products, unary sign, power, atoms.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "unary": 3, "**": 4, "atom": 5}


@dataclass(frozen=True)
class Variable:
    """``fan_in``, ``fan_out``, ``depth``, ``blocks`` (or an unknown name, reported by lint)."""

    name: str
    line: int = 0
    column: int = 0

    @property
    def text(self) -> str:
        return self.name


@dataclass(frozen=True)
class Unary:
    """``-operand`` or ``+operand`` applied to something that is not a plain number."""

    op: str
    operand: object
    line: int = 0
    column: int = 0

    @property
    def text(self) -> str:
        inner = _operand_text(self.operand, _PRECEDENCE["unary"])
        return f"{self.op} {inner}" if inner[:1] in "+-" else f"{self.op}{inner}"


@dataclass(frozen=True)
class Binary:
    """``left op right`` with ``op`` one of ``+ - * / **``."""

    op: str
    left: object
    right: object
    line: int = 0
    column: int = 0

    @property
    def text(self) -> str:
        strength = _PRECEDENCE[self.op]
        if self.op == "**":  # right-associative; its right side may carry a sign
            left_min, right_min = strength + 1, _PRECEDENCE["unary"]
        else:  # left-associative
            left_min, right_min = strength, strength + 1
        left = _operand_text(self.left, left_min)
        right = _operand_text(self.right, right_min)
        return f"{left} {self.op} {right}"


@dataclass(frozen=True)
class Call:
    """``func(arg, ...)`` with ``func`` one of ``sqrt log exp min max`` (others: lint)."""

    func: str
    args: tuple = ()
    line: int = 0
    column: int = 0

    @property
    def text(self) -> str:
        return f"{self.func}({', '.join(value_text(a) for a in self.args)})"


Expression = Variable | Unary | Binary | Call
EXPRESSION_TYPES = (Variable, Unary, Binary, Call)


def _strength(node) -> int:
    if isinstance(node, Binary):
        return _PRECEDENCE[node.op]
    if isinstance(node, Unary):
        return _PRECEDENCE["unary"]
    if isinstance(node, (int, float)) and not isinstance(node, bool) and node < 0:
        return _PRECEDENCE["unary"]  # -0.5 reads like a unary minus
    return _PRECEDENCE["atom"]


def _operand_text(node, minimum: int) -> str:
    text = value_text(node)
    return f"({text})" if _strength(node) < minimum else text


# A value is a number, a quoted string, a bare Word, True/False/None, a tuple of values, or (in
# an initializer argument) an arithmetic expression.
Value = int | float | str | Word | bool | None | tuple | Expression


def value_text(value: Value) -> str:
    """Render a value back into policy syntax.

    >>> value_text((3, 3)), value_text(Word("relu")), value_text("head*"), value_text(None)
    ('(3, 3)', 'relu', '"head*"', 'none')
    >>> value_text(Binary("/", 0.02, Call("sqrt", (Binary("*", 2, Variable("blocks")),))))
    '0.02 / sqrt(2 * blocks)'
    """
    if isinstance(value, EXPRESSION_TYPES):
        return value.text
    if value is None:
        return "none"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Word):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, tuple):
        inner = ", ".join(value_text(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, float):
        return repr(value)
    return str(value)


#: Predicate operators written as words; the canonical text puts spaces around them only.
WORD_OPERATORS = frozenset({"in", "not in"})


@dataclass(frozen=True)
class Predicate:
    """``attr op value``; ``op`` is one of ``= != < <= > >= ~= in not in``."""

    attr: str
    op: str
    value: Value
    line: int = 0
    column: int = 0

    @property
    def text(self) -> str:
        sep = " " if self.op in WORD_OPERATORS else ""
        return f"{self.attr}{sep}{self.op}{sep}{value_text(self.value)}"


@dataclass(frozen=True)
class Selector:
    """``Class[predicates].weight``; ``cls`` is ``"*"`` for any layer."""

    cls: str
    predicates: tuple[Predicate, ...] = ()
    weight: str | None = None
    line: int = 0
    column: int = 0

    @property
    def specificity(self) -> tuple[int, int, int]:
        """(class named, number of predicates, weight part named) — compared as a tuple."""
        return (int(self.cls != "*"), len(self.predicates), int(self.weight is not None))

    @property
    def text(self) -> str:
        preds = f"[{', '.join(p.text for p in self.predicates)}]" if self.predicates else ""
        weight = f".{self.weight}" if self.weight else ""
        return f"{self.cls}{preds}{weight}"


@dataclass(frozen=True)
class Argument:
    """One initializer argument; ``name`` is None for a positional argument."""

    name: str | None
    value: Value
    line: int = 0
    column: int = 0

    @property
    def text(self) -> str:
        return (
            value_text(self.value) if self.name is None else f"{self.name}={value_text(self.value)}"
        )


@dataclass(frozen=True)
class InitCall:
    """``name`` or ``name(args...)`` on the right of an arrow."""

    name: str
    args: tuple[Argument, ...] = ()
    line: int = 0
    column: int = 0
    has_parens: bool = False

    @property
    def positional(self) -> tuple[Value, ...]:
        return tuple(a.value for a in self.args if a.name is None)

    @property
    def keywords(self) -> dict[str, Value]:
        return {a.name: a.value for a in self.args if a.name is not None}

    @property
    def text(self) -> str:
        if not self.args and not self.has_parens:
            return self.name
        return f"{self.name}({', '.join(a.text for a in self.args)})"


@dataclass(frozen=True)
class Rule:
    """``selector, selector -> initializer``. ``index`` is the rule's order in its policy."""

    selectors: tuple[Selector, ...]
    init: InitCall
    line: int = 0
    column: int = 0
    source: str = "<string>"
    index: int = 0

    @property
    def text(self) -> str:
        return f"{', '.join(s.text for s in self.selectors)} -> {self.init.text}"


#: The values ``@explicit`` takes: code initializers win (``keep``) or the policy wins.
EXPLICIT_MODES = ("keep", "override")
#: ``@sampler``: ``keras`` draws Keras's own values; ``fast`` the same distribution, faster.
SAMPLER_MODES = ("keras", "fast")


@dataclass(frozen=True)
class Directive:
    """``@name value`` (``@seed 1234``, ``@explicit keep``, ``@include "x.initpolicy"``)."""

    name: str
    value: Value = None
    line: int = 0
    column: int = 0
    source: str = "<string>"
    has_value: bool = False

    @property
    def text(self) -> str:
        return f"@{self.name}" + (f" {value_text(self.value)}" if self.has_value else "")


@dataclass(frozen=True)
class Comment:
    """A ``# ...`` comment; ``text`` includes the ``#``."""

    text: str
    line: int
    column: int


@dataclass(frozen=True)
class PolicyFile:
    """One parsed file: its statements in order, its comments, and its text."""

    statements: tuple[Rule | Directive, ...]
    comments: tuple[Comment, ...] = ()
    source: str = "<string>"
    text: str = field(default="", repr=False, compare=False)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(s for s in self.statements if isinstance(s, Rule))

    @property
    def directives(self) -> tuple[Directive, ...]:
        return tuple(s for s in self.statements if isinstance(s, Directive))
