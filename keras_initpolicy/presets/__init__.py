"""Policies shipped with the package, included with ``@include "preset:NAME"``.

The directive: docs/reference.md#include-and-presets; the presets measured: docs/presets.md.
"""
