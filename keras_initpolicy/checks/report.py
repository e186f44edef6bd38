"""Formatters for diagnostics: ``text``, ``json`` and ``github``, chosen by name from ``FORMATTERS``.

A formatter is ``f(diagnostics, lookup) -> str``; ``lookup(source)`` returns the text of a source
(for excerpts) or None. Diagnostics stay plain records (``diagnostics.py``); nothing here decides
what is a finding. No Keras import.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import caret_excerpt
from .diagnostics import ERROR, INFO, WARNING, Diagnostic

__all__ = [
    "FORMATTERS",
    "Formatter",
    "SourceLookup",
    "format_diagnostics",
    "format_github",
    "format_json",
    "format_text",
    "get_formatter",
    "read_source",
    "summary",
]

SourceLookup = Callable[[str], "str | None"]
Formatter = Callable[[Sequence[Diagnostic], SourceLookup], str]


def read_source(source: str) -> str | None:
    """Default lookup: read ``source`` as a UTF-8 file, or None when it cannot be read."""
    try:
        return Path(source).read_text("utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def format_text(diagnostics: Sequence[Diagnostic], lookup: SourceLookup) -> str:
    """``path:line:col: CODE message``, then the source line and a caret under the column.
    A finding with no text position (an audit finding about a model: line 0) reads
    ``source: CODE message``.

    >>> d = Diagnostic.make("IP105", 1, 10, "unknown initializer 'he_normel'")
    >>> print(format_text([d], {"<string>": "Dense -> he_normel"}.get))
    <string>:1:10: IP105 unknown initializer 'he_normel'
        Dense -> he_normel
                 ^
    """
    blocks = []
    for d in diagnostics:
        where = f"{d.source}:{d.line}:{d.column}" if d.line else d.source
        head = f"{where}: {d.code} {d.message}"
        excerpt = caret_excerpt(lookup(d.source), d.line, d.column)
        blocks.append(f"{head}\n{excerpt}" if excerpt else head)
    return "\n".join(blocks)


def format_json(diagnostics: Sequence[Diagnostic], lookup: SourceLookup) -> str:
    """A JSON list of objects with ``code``, ``severity``, ``line``, ``column``, ``message``,
    ``source``.

    >>> format_json([Diagnostic.make("IP302", 3, 1, "duplicate rule")], {}.get)
    '[{"code": "IP302", "severity": "warning", "line": 3, "column": 1, "message": "duplicate rule", "source": "<string>"}]'
    """
    return json.dumps([d.to_dict() for d in diagnostics])


_GITHUB_LEVEL = {ERROR: "error", WARNING: "warning", INFO: "notice"}


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def format_github(diagnostics: Sequence[Diagnostic], lookup: SourceLookup) -> str:
    """GitHub Actions workflow commands: one annotation per finding.

    >>> print(format_github([Diagnostic.make("IP204", 2, 1, "bias not zero")], {}.get))
    ::notice file=<string>,line=2,col=1,title=IP204::IP204 bias not zero
    """
    lines = []
    for d in diagnostics:
        level = _GITHUB_LEVEL.get(d.severity, "error")
        position = f"line={d.line},col={d.column}," if d.line else ""  # audit: a model, no line
        props = f"file={_escape_property(d.source)},{position}title={_escape_property(d.code)}"
        lines.append(f"::{level} {props}::{_escape_data(f'{d.code} {d.message}')}")
    return "\n".join(lines)


#: Formatter name -> function. Add a formatter by adding an entry.
FORMATTERS: dict[str, Formatter] = {
    "text": format_text,
    "json": format_json,
    "github": format_github,
}


def get_formatter(name: str) -> Formatter:
    """The formatter called ``name``; ``ValueError`` naming the choices otherwise."""
    try:
        return FORMATTERS[name]
    except KeyError:
        choices = ", ".join(FORMATTERS)
        raise ValueError(f"unknown format {name!r}; choose one of: {choices}") from None


def format_diagnostics(
    diagnostics: Sequence[Diagnostic],
    name: str = "text",
    sources: Mapping[str, str] | SourceLookup | None = None,
) -> str:
    """Render ``diagnostics`` with the formatter ``name``.

    ``sources`` maps a source to its text (a dict or a function); sources it does not know are
    read from disk when they name a file.
    """
    if sources is None:
        lookup: SourceLookup = read_source
    elif isinstance(sources, Mapping):
        known = sources

        def lookup(source: str) -> str | None:
            text = known.get(source)
            return text if text is not None else read_source(source)
    else:
        lookup = sources
    return get_formatter(name)(diagnostics, lookup)


def summary(diagnostics: Sequence[Diagnostic]) -> str:
    """``Found 3 problems (1 error, 2 warnings).`` — empty string when there are none."""
    if not diagnostics:
        return ""
    counts = {ERROR: 0, WARNING: 0, INFO: 0}
    for d in diagnostics:
        counts[d.severity] = counts.get(d.severity, 0) + 1
    names = ((ERROR, "error", "errors"), (WARNING, "warning", "warnings"), (INFO, "info", "info"))
    parts = [
        f"{counts[k]} {one if counts[k] == 1 else many}" for k, one, many in names if counts[k]
    ]
    total = len(diagnostics)
    return f"Found {total} problem{'' if total == 1 else 's'} ({', '.join(parts)})."
