"""Presets shipped in the package (``@include "preset:NAME"``), read for hover and completion.

The names and the prefix are the loader's (``policy.preset_names``, ``policy.PRESET_PREFIX``);
each preset is the plain policy file ``keras_initpolicy/presets/NAME.initpolicy``. An
installation without presets simply offers none.

>>> "gpt2" in preset_names()
True
>>> preset_text("no-such-preset") is None
True
"""

from __future__ import annotations

from pathlib import Path

from ..policy import PRESET_PREFIX, preset_names

__all__ = ["PREFIX", "preset_names", "preset_text", "preset_path", "preset_name"]

PREFIX = PRESET_PREFIX
_FOLDER = Path(__file__).resolve().parent.parent / "presets"


def preset_path(name: str) -> Path | None:
    """The file of preset ``name``, or None when there is no such preset."""
    return _FOLDER / f"{name}.initpolicy" if name in preset_names() else None


def preset_text(name: str) -> str | None:
    """The policy text of preset ``name``, or None when there is no such preset."""
    path = preset_path(name)
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
