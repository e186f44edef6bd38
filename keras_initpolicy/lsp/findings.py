"""Lint an editor's document: the project's ``lint_text`` findings with exact ranges.

Each ``Diagnostic`` (1-based line and column) becomes a ``Finding`` with a 0-based line and the
column span of the token it is about (``text.span_at``). A finding inside an included file is
shown at the ``@include`` line of the document that (directly or through other includes) pulls
that file in, with the included file's position in the message and as related information.
No Keras import.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path

from ..checks.diagnostics import WARNING, Diagnostic
from ..checks.lint import lint_text
from ..config import load_lint_config
from ..errors import PolicyError, UsageError
from ..language.nodes import Directive
from ..language.parser import parse_file
from .presets import preset_name, preset_path
from .text import span_at, tokens

__all__ = ["Finding", "Related", "document_findings", "lint_settings"]


@dataclass(frozen=True)
class Related:
    """Where a finding about an included file really is."""

    path: str
    line: int  # 0-based
    start: int
    end: int


@dataclass(frozen=True)
class Finding:
    """One finding positioned in the document: 0-based ``line``, columns ``[start, end)``."""

    code: str
    severity: str
    message: str
    line: int
    start: int
    end: int
    related: Related | None = None


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _span(lines: list[str], diag: Diagnostic) -> tuple[int, int, int]:
    line = min(max(diag.line - 1, 0), max(len(lines) - 1, 0))
    src = lines[line] if lines else ""
    start, end = span_at(src, max(diag.column - 1, 0), diag.code)
    return line, start, end


def _include_directives(text: str) -> list[Directive]:
    try:
        pfile = parse_file(text, "<document>")
    except PolicyError:
        return []
    return [d for d in pfile.directives if d.name == "include" and type(d.value) is str]


def _reachable(target: Path, seen: set[Path]) -> set[Path]:
    """``target`` and every file it includes, transitively (unreadable files end the walk)."""
    if target in seen:
        return seen
    seen.add(target)
    try:
        text = target.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return seen
    for d in _include_directives(text):
        if preset_name(d.value) is None:
            _reachable((target.parent / d.value).resolve(), seen)
    return seen


def _owner(diag: Diagnostic, includes: list[tuple[Directive, set[Path]]]) -> Directive | None:
    """The document's ``@include`` that brings the file of ``diag`` in."""
    if not includes:
        return None
    for directive, _files in includes:  # a preset's findings carry its include as their source
        if directive.value == diag.source:
            return directive
    with contextlib.suppress(OSError, RuntimeError, ValueError):
        where = Path(diag.source).resolve()
        for directive, files in includes:
            if where in files:
                return directive
    presets = [d for d, _ in includes if preset_name(d.value) is not None]
    return (presets or [includes[0][0]])[0]


def _related(diag: Diagnostic) -> Related | None:
    name = preset_name(diag.source)
    path = Path(diag.source) if name is None else preset_path(name)
    if path is None:
        return None
    try:
        lines = _lines(path.read_text("utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    line, start, end = _span(lines, diag)
    return Related(str(path.resolve()), line, start, end)


def lint_settings(folder: Path | None) -> dict:
    """``[tool.keras-initpolicy.lint]`` of the pyproject.toml nearest to ``folder`` (the same
    settings ``initpolicy lint`` reads); a broken configuration counts as none."""
    try:
        return load_lint_config(folder if folder is not None and folder.is_dir() else None)
    except UsageError:
        return {}


def _custom_layer_note(diag: Diagnostic, settings: dict) -> Diagnostic:
    """IP101 under a configured ``custom-layers``: the editor cannot know those classes (loading
    them imports Keras, which the server never does), so the finding becomes a warning."""
    if diag.code != "IP101" or not settings.get("custom-layers"):
        return diag
    note = (
        " (`custom-layers` is configured, but the language server never imports Keras, so it "
        "cannot load them; `initpolicy lint` does)"
    )
    return replace(diag, severity=WARNING, message=diag.message + note)


def document_findings(text: str, path: str | None = None) -> list[Finding]:
    """Every lint finding about the document ``text`` (saved at ``path``, if it is a file),
    filtered by the project's ``select``/``ignore`` lint settings."""
    folder = Path(path).parent if path else None
    source = path or "<document>"
    lines = _lines(text)
    out: list[Finding] = []
    settings = lint_settings(folder)
    try:
        diagnostics = lint_text(
            text,
            source=source,
            select=settings.get("select"),
            ignore=settings.get("ignore"),
            base=folder,
        )
    except ValueError:  # an unknown code in select/ignore: lint without the filter
        diagnostics = lint_text(text, source=source, base=folder)
    diagnostics = [_custom_layer_note(d, settings) for d in diagnostics]
    includes = []
    for d in _include_directives(text):
        if preset_name(d.value) is None:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                includes.append(
                    (d, _reachable(((folder or Path.cwd()) / d.value).resolve(), set()))
                )
        else:
            includes.append((d, set()))
    for diag in diagnostics:
        if diag.source == source:
            line, start, end = _span(lines, diag)
            out.append(Finding(diag.code, diag.severity, diag.message, line, start, end))
            continue
        owner = _owner(diag, includes)
        if owner is None:  # cannot happen for a document that parses; keep it visible
            out.append(Finding(diag.code, diag.severity, diag.message, 0, 0, 0))
            continue
        line = owner.line - 1
        start = owner.column - 1
        end = next((t.end for t in tokens(lines[line]) if t.kind == "string"), start)
        message = f"in {diag.source}:{diag.line}:{diag.column}: {diag.message}"
        out.append(Finding(diag.code, diag.severity, message, line, start, end, _related(diag)))
    return out
