"""Frozen AST nodes of a policy, each keeping its source position.

The parser (``parser.py``) produces these; validation, formatting, resolution and
compilation all read them. Nothing here imports Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Word",
    "Value",
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


# A value is a number, a quoted string, a bare Word, True/False/None, or a tuple of values.
Value = int | float | str | Word | bool | None | tuple


def value_text(value: Value) -> str:
    """Render a value back into policy syntax.

    >>> value_text((3, 3)), value_text(Word("relu")), value_text("head*"), value_text(None)
    ('(3, 3)', 'relu', '"head*"', 'none')
    """
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


@dataclass(frozen=True)
class Predicate:
    """``attr op value``; ``op`` is one of ``= != < <= > >= ~= in not in``."""

    attr: str
    op: str
    value: Value
    line: int = 0
    column: int = 0

    def text(self) -> str:
        return f"{self.attr} {self.op} {value_text(self.value)}"


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

    def text(self) -> str:
        preds = f"[{', '.join(p.text() for p in self.predicates)}]" if self.predicates else ""
        weight = f".{self.weight}" if self.weight else ""
        return f"{self.cls}{preds}{weight}"


@dataclass(frozen=True)
class Argument:
    """One initializer argument; ``name`` is None for a positional argument."""

    name: str | None
    value: Value
    line: int = 0
    column: int = 0

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

    def text(self) -> str:
        if not self.args and not self.has_parens:
            return self.name
        return f"{self.name}({', '.join(a.text() for a in self.args)})"


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
        return f"{', '.join(s.text() for s in self.selectors)} -> {self.init.text()}"


@dataclass(frozen=True)
class Directive:
    """``@name value`` (``@seed 1234``, ``@explicit keep``, ``@include "x.initpolicy"``)."""

    name: str
    value: Value = None
    line: int = 0
    column: int = 0
    source: str = "<string>"
    has_value: bool = False

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
