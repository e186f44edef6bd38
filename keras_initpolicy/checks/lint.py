"""``kip.lint``: every finding about a policy as a sorted list of ``Diagnostic`` records
(``Diagnostics``, a ``list`` that renders as an HTML table in notebooks).

Syntax errors (IP001) and ``@include`` problems (IP002) become diagnostics instead of exceptions;
a policy that loads is then checked by ``validate.validate_policy``. ``# noqa`` comments silence
findings on their line, and ``select``/``ignore`` filter by code or code prefix (``IP2``).

This module never imports Keras or a backend.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import PolicyError
from ..policy import load_unvalidated
from .diagnostics import CODES, Diagnostic, Diagnostics
from .names import validate_policy
from .report import read_source

__all__ = ["lint", "lint_text", "noqa_map", "code_filter", "check_code_patterns"]

#: A noqa marker, bare or with codes (``IP201, IP202``), anywhere in a comment; any case.
_NOQA = re.compile(
    r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*))?",
    re.IGNORECASE,
)
_ALL = None  # a bare noqa marker: every code on the line

# Longest text we treat as a possible file name in ``lint(str)``.
_MAX_PATH_LEN = 4096


def _comment_start(line: str) -> int:
    """Index of the ``#`` that starts a comment on ``line`` (outside strings), or -1."""
    in_string = escaped = False
    for i, ch in enumerate(line):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "#":
            return i
    return -1


def noqa_map(text: str) -> dict[int, frozenset[str] | None]:
    """Map 1-based line numbers to the codes their ``# noqa`` silences (None = all codes).

    Works on any text, including text that does not parse. A statement continued over several
    lines with a trailing backslash shares the ``# noqa`` of its last line.

    >>> noqa_map('Dense -> zeros  # noqa: IP201\\n*.bias -> ones  # noqa\\nA[name="# noqa"] -> b')
    {1: frozenset({'IP201'}), 2: None}
    """
    result: dict[int, frozenset[str] | None] = {}
    group: list[int] = []  # physical lines of the current logical line
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        group.append(number)
        if line.endswith("\\") and _comment_start(line) < 0:
            continue
        start = _comment_start(line)
        if start >= 0:
            match = _NOQA.search(line, start)
            if match:
                codes = match.group("codes")
                value = frozenset(c.strip().upper() for c in codes.split(",")) if codes else _ALL
                for member in group:
                    result[member] = value
        group = []
    return result


def _silenced(diag: Diagnostic, noqa: dict[int, frozenset[str] | None]) -> bool:
    if diag.line not in noqa:
        return False
    codes = noqa[diag.line]
    return codes is _ALL or diag.code in codes


def check_code_patterns(patterns: Iterable[str] | None) -> list[str]:
    """Normalize ``select``/``ignore`` entries; raise ``ValueError`` for one matching no code."""
    if patterns is None:
        return []
    if isinstance(patterns, str):
        patterns = patterns.split(",")
    out = []
    for raw in patterns:
        pattern = raw.strip().upper()
        if not pattern:
            continue
        if pattern != "ALL" and not any(code.startswith(pattern) for code in CODES):
            known = ", ".join(CODES)
            raise ValueError(
                f"unknown diagnostic code or prefix {raw.strip()!r}; known codes: {known}"
            )
        out.append(pattern)
    return out


def code_filter(select=None, ignore=None) -> Callable[[str], bool]:
    """Return ``keep(code)``: the longest matching prefix decides; a tie goes to ``ignore``.

    ``select=None`` selects every code. ``ALL`` is a prefix of every code.

    >>> keep = code_filter(select=["IP2"], ignore=["IP201"])
    >>> keep("IP202"), keep("IP201"), keep("IP101")
    (True, False, False)
    >>> code_filter(select=["IP201"], ignore=["IP2"])("IP201")
    True
    """
    selected = check_code_patterns(select) if select is not None else ["ALL"]
    ignored = check_code_patterns(ignore)

    def strength(code: str, patterns: list[str]) -> int:
        best = -1
        for p in patterns:
            if p == "ALL":
                best = max(best, 0)
            elif code.startswith(p):
                best = max(best, len(p))
        return best

    def keep(code: str) -> bool:
        s, i = strength(code, selected), strength(code, ignored)
        return s >= 0 and s > i

    return keep


def _is_path(text_or_path) -> bool:
    if isinstance(text_or_path, os.PathLike):
        return True
    if not isinstance(text_or_path, str):
        raise TypeError(
            f"kip.lint expects policy text or a path; received {type(text_or_path).__name__}"
        )
    if "\n" in text_or_path or "\x00" in text_or_path or len(text_or_path) > _MAX_PATH_LEN:
        return False
    try:
        return Path(text_or_path).is_file()
    except (OSError, ValueError):
        return False


def _from_error(error: PolicyError) -> Diagnostic:
    code = error.code if error.code in CODES else "IP001"
    return Diagnostic.make(code, error.line or 1, error.column or 1, error.message, error.source)


def lint(text_or_path, *, select=None, ignore=None, source: str | None = None) -> Diagnostics:
    """Every finding about a policy, sorted by ``(source, line, column, code)``: a ``list`` of
    ``Diagnostic`` that renders as a table in notebooks (``Diagnostics``).

    ``text_or_path`` is policy text, or a file: a ``pathlib.Path`` or a ``str`` naming an existing
    file. ``select``/``ignore`` take codes or prefixes (``["IP2"]``, or ``"IP201,IP302"``).
    ``source`` names text in the results (default ``"<string>"``; a file's path otherwise).

    >>> [(d.code, d.line, d.column) for d in lint("Dense -> he_normal\\nDense he_normal")]
    [('IP001', 2, 7)]
    >>> lint("Dense => zeros  # noqa: IP001")
    []
    """
    keep = code_filter(select, ignore)
    if _is_path(text_or_path):
        return _lint(text_or_path, False, source, keep)
    return _lint(text_or_path, True, source, keep)


def lint_text(
    text: str, *, source: str = "<string>", select=None, ignore=None, base=None
) -> Diagnostics:
    """Like ``lint`` for text that is never taken for a file name (standard input, editors).

    ``@include`` paths resolve relative to ``base`` (default: the current directory).
    """
    return _lint(text, True, source, code_filter(select, ignore), base)


def _lint(text_or_path, is_text: bool, source: str | None, keep, base=None) -> Diagnostics:
    texts: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    if is_text:
        texts[source or "<string>"] = text_or_path
    try:
        policy = load_unvalidated(text_or_path, is_text=is_text, source=source, base=base)
    except PolicyError as error:
        diagnostics.append(_from_error(error))
    else:
        for pfile in policy.files:
            texts.setdefault(pfile.source, pfile.text)
        diagnostics.extend(validate_policy(policy))

    noqa_by_source: dict[str, dict] = {}
    kept = set()
    for diag in diagnostics:
        if not keep(diag.code):
            continue
        if diag.source not in noqa_by_source:
            text = texts.get(diag.source)
            if text is None:
                text = read_source(diag.source) or ""
            noqa_by_source[diag.source] = noqa_map(text)
        if not _silenced(diag, noqa_by_source[diag.source]):
            kept.add(diag)
    return Diagnostics(sorted(kept, key=lambda d: (d.source, d.line, d.column, d.code)))
