"""What a selector can reach, judged from the layer catalogue alone (no Keras).

Shared by ``validate.py`` (IP1xx) and ``checks_practice.py`` (IP2xx/IP3xx). Also finds the
column of a token inside a rule's source line, so diagnostics point at the offending token.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..catalog import layers as lc
from ..language.nodes import Selector

__all__ = [
    "KERNEL_NAMED",
    "RELU_FAMILY",
    "SATURATING",
    "Reach",
    "reach",
    "pinned_activations",
    "Locator",
]

#: Weight names that are kernel-like whatever their class (IP201).
KERNEL_NAMED = frozenset(
    {"kernel", "recurrent_kernel", "depthwise_kernel", "pointwise_kernel", "embeddings"}
)
RELU_FAMILY = frozenset({"relu", "leaky_relu", "relu6"})
SATURATING = frozenset({"sigmoid", "tanh"})


@dataclass(frozen=True)
class Reach:
    """The built-in classes a selector's class name can match, and what is known about them.

    ``open`` is True when a weight name or attribute outside the catalogue may still exist
    (``*``, ``Layer``, wrappers, RNN, custom or unknown classes); ``concrete`` lists the
    catalogued classes whose weights are known.
    """

    open: bool
    concrete: tuple[str, ...]

    def weight_names(self) -> set[str]:
        return {w for c in self.concrete for w in lc.weights(c)}

    def attribute_kinds(self, attr: str) -> set[str]:
        return {lc.attribute_kinds(c)[attr] for c in self.concrete if attr in lc.attribute_kinds(c)}

    def attribute_names(self) -> set[str]:
        return {a for c in self.concrete for a in lc.attributes(c)}

    def ranks(self, weight: str | None) -> set[tuple[str, str, int]]:
        """(class, weight, rank) of the weights targeted: ``weight``, or the kernel-like ones."""
        out = set()
        for c in self.concrete:
            for w in lc.weight_entries(c):
                if weight is not None and w.name != weight:
                    continue
                if weight is None and not _kernel_like(w):
                    continue
                out.add((c, w.name, w.rank))
        return out

    def narrow(self, selector: Selector) -> Reach:
        """Only the classes that have every config attribute the selector's predicates read."""
        needed = {p.attr for p in selector.predicates} - lc.ALWAYS_ATTRIBUTES
        if not needed:
            return self
        kept = tuple(c for c in self.concrete if needed <= lc.attributes(c))
        return Reach(self.open, kept)

    def has_kernel_like(self) -> bool:
        return self.open or bool(self.ranks(None))


def _kernel_like(w: lc.WeightInfo) -> bool:
    return w.trainable and w.rank >= 2 and w.name != "recurrent_kernel"


def reach(cls_name: str | Selector) -> Reach:
    """The catalogue's view of the classes ``cls_name`` matches (itself and subclasses).

    Given a ``Selector``, classes lacking an attribute its predicates read are left out.
    """
    if isinstance(cls_name, Selector):
        return reach(cls_name.cls).narrow(cls_name)
    return _reach(str(cls_name), lc.generation())


@lru_cache(maxsize=512)
def _reach(cls_name: str, generation: int) -> Reach:
    """``reach`` for a class name, cached per catalogue generation (custom layers change it)."""
    if cls_name == "*":
        classes = lc.subclasses_of("*")
        is_open = True
    elif not lc.is_known(cls_name):
        return Reach(True, ())
    else:
        classes = lc.subclasses_of(cls_name)
        is_open = lc.is_open(cls_name)
    concrete = []
    for c in classes:
        if lc.is_open(c):
            is_open = True
        elif lc.weights_known(c):
            concrete.append(c)
        elif lc.is_public(c):  # a public class we could not build: anything goes
            is_open = True
    return Reach(is_open, tuple(concrete))


def pinned_activations(selector: Selector) -> frozenset[str] | None:
    """Activations a selector pins with ``activation = x`` or ``activation in (...)``.

    None when it does not pin the activation; canonical names (``swish`` -> ``silu``).
    """
    pinned: frozenset[str] | None = None
    for p in selector.predicates:
        if p.attr != "activation":
            continue
        if p.op == "=" and isinstance(p.value, str):
            values = {p.value}
        elif p.op == "in" and isinstance(p.value, tuple):
            values = {v for v in p.value if isinstance(v, str)}
        else:
            continue
        names = frozenset(lc.canonical_activation(v) or str(v) for v in values)
        pinned = names if pinned is None else pinned & names
    return pinned


class Locator:
    """Columns of tokens inside source lines, for diagnostics that point at a token."""

    def __init__(self, texts: dict[str, str]) -> None:
        self._lines = {src: text.splitlines() for src, text in texts.items()}

    def line(self, source: str, line: int) -> str:
        lines = self._lines.get(source, ())
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def weight_column(self, source: str, sel: Selector) -> int:
        """Column of the weight name in ``Class[...].weight``; the selector's if not found."""
        text, i = self.line(source, sel.line), sel.column - 1
        if not text or text[i : i + len(sel.cls)] != sel.cls:
            return sel.column
        i += len(sel.cls)
        i = _skip_space(text, i)
        if i < len(text) and text[i] == "[":
            i = _skip_brackets(text, i)
        i = _skip_space(text, i)
        if i < len(text) and text[i] == ".":
            i = _skip_space(text, i + 1)
            if text[i : i + len(sel.weight or "")] == sel.weight:
                return i + 1
        return sel.column

    def after_column(self, source: str, line: int, column: int, head: str, op: str = "") -> int:
        """Column of what follows ``head`` (and then ``op``) starting at ``column``."""
        text, i = self.line(source, line), column - 1
        if not text or text[i : i + len(head)] != head:
            return column
        i = _skip_space(text, i + len(head))
        for word in op.split():
            if text[i : i + len(word)] != word:
                return column
            i = _skip_space(text, i + len(word))
        return i + 1 if i < len(text) else column

    def find_column(self, source: str, line: int, start: int, needle: str) -> int:
        """Column of ``needle`` at or after ``start`` on ``line``; ``start`` if absent."""
        text = self.line(source, line)
        j = text.find(needle, max(start - 1, 0))
        return j + 1 if j >= 0 else start


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _skip_brackets(text: str, i: int) -> int:
    depth, in_string = 0, False
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i
