"""Policies shipped with the package, included with ``@include "preset:NAME"`` (SPEC §8)."""
