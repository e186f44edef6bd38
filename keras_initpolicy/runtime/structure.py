"""A model's repeated blocks (``@blocks``): the ``depth`` and ``blocks`` of a layer.

The directive: docs/reference.md#blocks.

``depth`` is read from the layer's own path, so it is known when the layer's weights are
created. ``blocks`` counts the blocks of the layer's stack in the whole model, which keras-hub
backbones have not built yet when block 0 creates its weights (block i+1 is constructed after
block i is built); a weight whose rule reads ``blocks`` is therefore drawn late, like the
activation-dependent ones (``scope.py``): when its Functional graph completes, or when the scope
ends, from a count over the layers that exist by then. A model built by an eager call (a
subclassed model) computes with each block as soon as it is built, so there the count is taken
at once, over the layers the model already holds (``count_blocks_under``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ..language.blocks import BlockMatch, BlockPattern
from ..language.expressions import variables_used
from ..language.nodes import InitCall
from . import hooks
from .compile import formula_arguments

if TYPE_CHECKING:  # annotations only: the runtime sits below policy.py's facade
    from ..policy import Policy

__all__ = [
    "block_patterns",
    "block_of",
    "count_blocks",
    "count_blocks_under",
    "model_layers",
    "reads_blocks",
    "block_variables",
]


@functools.lru_cache(maxsize=64)
def block_patterns(policy: Policy) -> tuple[BlockPattern, ...]:
    """The policy's ``@blocks`` patterns (included files first), in order."""
    found = []
    for pfile in policy.files:
        for d in pfile.directives:
            if d.name == "blocks" and type(d.value) is str:
                try:
                    found.append(BlockPattern.compile(d.value))
                except ValueError:  # reported by validation (IP107)
                    continue
    return tuple(found)


def _path(layer) -> str:
    return getattr(layer, "path", None) or getattr(layer, "name", "")


def block_of(policy: Policy, layer) -> BlockMatch | None:
    """The block enclosing ``layer``: the first pattern that matches its path, or None."""
    return _block_at(policy, _path(layer))


def _block_at(policy: Policy, path: str) -> BlockMatch | None:
    patterns = block_patterns(policy)
    if not patterns:
        return None
    for pattern in patterns:
        found = pattern.match(path)
        if found is not None:
            return found
    return None


def model_layers(model) -> list:
    """``model`` and every layer nested in it."""
    out, stack, seen = [], [model], set()
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append(layer)
        stack.extend(hooks.sublayers(layer))
    return out


def count_blocks(policy: Policy, layers: Iterable) -> dict[str, int]:
    """``{stack: number of distinct blocks}`` over ``layers`` (``BlockMatch.stack`` keys)."""
    if not block_patterns(policy):
        return {}
    return _count(policy, (_path(layer) for layer in layers))


def _count(policy: Policy, paths: Iterable[str]) -> dict[str, int]:
    blocks: dict[str, set[str]] = {}
    for path in paths:
        found = _block_at(policy, path)
        if found is not None:
            blocks.setdefault(found.stack, set()).add(found.block)
    return {stack: len(members) for stack, members in blocks.items()}


def count_blocks_under(policy: Policy, root) -> dict[str, int]:
    """``count_blocks`` over ``root`` and every layer nested in it, while ``root`` is still
    building (a subclassed model's first call): a nested layer not built yet has no path, and is
    counted at the one Keras gives it when its parent calls it, the parent's path and its name."""
    if not block_patterns(policy):
        return {}
    return _count(policy, _prospective_paths(root))


def _prospective_paths(root) -> Iterable[str]:
    """The path of ``root`` and of every layer nested in it, each once; an unbuilt layer's is
    its parent's path and its name."""
    stack, seen = [(root, "")], set()
    while stack:
        layer, parent = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        path = getattr(layer, "path", None) or (f"{parent}/{layer.name}" if parent else layer.name)
        yield path
        stack.extend((sub, path) for sub in hooks.sublayers(layer))


@functools.lru_cache(maxsize=4096)
def reads_blocks(init: InitCall) -> bool:
    """True when one of ``init``'s formulas reads ``blocks`` (it must be drawn late)."""
    return any("blocks" in variables_used(expr) for _, _, expr in formula_arguments(init))


def block_variables(policy: Policy, layer, counts: Mapping[str, int] | None) -> dict[str, float]:
    """``depth`` (and ``blocks`` when ``counts`` knows the stack) for ``layer``; empty outside
    every block."""
    found = block_of(policy, layer)
    if found is None:
        return {}
    out = {"depth": float(found.index)}
    if counts and found.stack in counts:
        out["blocks"] = float(counts[found.stack])
    return out
