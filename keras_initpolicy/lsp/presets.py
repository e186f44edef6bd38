"""Presets shipped in the package (``@include "preset:NAME"``), looked up without loading them.

Presets are plain policy files, ``keras_initpolicy/presets/NAME.initpolicy``. An installation
without that folder simply has no presets: every function here then answers "none".

>>> isinstance(preset_names(), tuple)
True
>>> preset_text("no-such-preset") is None
True
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PREFIX", "preset_names", "preset_text", "preset_name"]

PREFIX = "preset:"
_SUFFIX = ".initpolicy"
_FOLDER = Path(__file__).resolve().parent.parent / "presets"


def _files() -> dict[str, Path]:
    if not _FOLDER.is_dir():
        return {}
    return {p.name[: -len(_SUFFIX)]: p for p in sorted(_FOLDER.glob(f"*{_SUFFIX}"))}


def preset_names() -> tuple[str, ...]:
    """Names of the presets this installation ships, sorted."""
    return tuple(_files())


def preset_text(name: str) -> str | None:
    """The policy text of preset ``name``, or None when there is no such preset."""
    path = _files().get(name)
    if path is None:
        return None
    try:
        return path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


def preset_name(include_value: str) -> str | None:
    """``gpt2`` for ``preset:gpt2``; None for a path.

    >>> preset_name("preset:gpt2"), preset_name("base.initpolicy")
    ('gpt2', None)
    """
    return include_value[len(PREFIX) :] if include_value.startswith(PREFIX) else None
