"""Quick fixes: one replacement per name a finding's "Did you mean ...?" suggests.

The finding's range starts at the token it is about; the word to replace is the token near that
start (within the same argument, predicate or selector) that is closest to the suggestion, so
``mode="fan_inn"`` gets ``"fan_in"`` and ``stdev=0.1`` gets ``stddev``. A suggestion keeps the
writer's quoting. No Keras import.

>>> [f.title for f in fixes_for("Dnse -> auto", 0, 0, "Unknown layer class `Dnse`. Did you mean `Dense`?")]
['Replace `Dnse` with `Dense`']
>>> f = fixes_for('Dense -> variance_scaling(mode="fan_inn")', 0, 26,
...               "... Received: mode=\\"fan_inn\\". Did you mean `fan_in`?")[0]
>>> f.start, f.end, f.new_text
(31, 40, '"fan_in"')
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .text import tokens

__all__ = ["Fix", "suggestions", "fixes_for"]

_DID_YOU_MEAN = re.compile(r"Did you mean (.+?)\?")
_QUOTED = re.compile(r"`([^`]+)`")
_STOP = frozenset({",", "]", ")", ";", "->"})
_WORDS = frozenset({"name", "string", "directive"})


@dataclass(frozen=True)
class Fix:
    """Replace columns ``[start, end)`` of ``line`` (0-based) with ``new_text``."""

    title: str
    line: int
    start: int
    end: int
    new_text: str
    preferred: bool = False


def suggestions(message: str) -> list[str]:
    """The names a message suggests, in its order.

    >>> suggestions("Unknown initializer `he_norml`. Did you mean `he_normal`, `he_uniform`?")
    ['he_normal', 'he_uniform']
    """
    match = _DID_YOU_MEAN.search(message)
    return _QUOTED.findall(match.group(1)) if match else []


def _candidates(line: str, column: int) -> list:
    """Word tokens from ``column`` to the end of the current argument/predicate/selector."""
    out = []
    for tok in tokens(line):
        if tok.end <= column:
            continue
        if tok.text in _STOP and out:
            break
        if tok.kind in _WORDS:
            out.append(tok)
    return out


def fixes_for(text: str, line: int, column: int, message: str) -> list[Fix]:
    """The quick fixes of a finding at ``(line, column)`` (0-based) with ``message``."""
    names = suggestions(message)
    lines = text.split("\n")
    if not names or not 0 <= line < len(lines):
        return []
    words = _candidates(lines[line], column)
    if not words:
        return []

    def closeness(tok) -> float:
        return difflib.SequenceMatcher(None, tok.text.strip('"@'), names[0].lstrip("@")).ratio()

    target = max(words, key=closeness)
    fixes = []
    for i, name in enumerate(names):
        new = f'"{name}"' if target.kind == "string" else name
        if new == target.text:
            continue
        title = f"Replace `{target.text.strip(chr(34))}` with `{name}`"
        fixes.append(Fix(title, line, target.start, target.end, new, preferred=i == 0))
    return fixes
