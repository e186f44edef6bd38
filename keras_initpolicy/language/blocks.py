"""``@blocks "PATTERN"``: which layers belong to a repeated block, and its index.

The directive: docs/reference.md#blocks.

A pattern is a layer-path pattern: ``*`` matches any run of characters within one path component
(not ``/``), ``{i}`` matches a non-negative integer — the block's index, read as ``depth`` — and
everything else is literal. A pattern matches from the start of any path component, and the
integer is never cut short, so ``transformer_layer_{i}`` matches
``transformer_layer_3/self_attention/query``, ``gpt2_backbone/transformer_layer_3`` and (flat
Functional names) ``transformer_layer_3_dense``, but not ``my_transformer_layer_3`` and not
``transformer_layer_31`` as block 3.

No Keras import: the runtime passes layer paths as strings.

>>> p = BlockPattern.compile("transformer_layer_{i}")
>>> p.match("transformer_layer_3/self_attention/query")
BlockMatch(block='transformer_layer_3', index=3, stack='transformer_layer_{i}')
>>> p.match("token_embedding") is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["BlockPattern", "BlockMatch", "pattern_problem", "INDEX"]

INDEX = "{i}"


def pattern_problem(pattern: str) -> str:
    """Why ``pattern`` is not a usable ``@blocks`` pattern, or "" when it is."""
    if not pattern.strip():
        return "the pattern is empty"
    if pattern.count(INDEX) != 1:
        return f"the pattern needs exactly one `{INDEX}` where the block index is"
    rest = pattern.replace(INDEX, "")
    if "{" in rest or "}" in rest:
        return f"only `{INDEX}` may appear in braces"
    if pattern.startswith("/") or pattern.endswith("/") or "//" in pattern:
        return "path components are separated by single `/`, with none at the ends"
    return ""


class BlockMatch(NamedTuple):
    """``block``: the path of the enclosing block; ``index``: its ``{i}`` (the layer's
    ``depth``); ``stack``: ``block`` with the index written ``{i}`` — the blocks of one stack
    (``encoder_block_{i}`` apart from ``decoder_block_{i}`` under ``*_block_{i}``) are what
    ``blocks`` counts."""

    block: str
    index: int
    stack: str


@dataclass(frozen=True)
class BlockPattern:
    """A compiled ``@blocks`` pattern; ``match(path)`` gives a ``BlockMatch`` or None."""

    text: str
    regex: re.Pattern

    @classmethod
    def compile(cls, text: str) -> BlockPattern:
        problem = pattern_problem(text)
        if problem:
            raise ValueError(f'Invalid @blocks pattern "{text}": {problem}.')
        parts = []
        for piece in re.split(r"(\*|\{i\})", text):
            if piece == "*":
                parts.append(r"[^/]*")
            elif piece == INDEX:
                parts.append(r"(?P<index>\d+)(?!\d)")
            else:
                parts.append(re.escape(piece))
        body = "".join(parts)
        return cls(text, re.compile(rf"(?:^|(?<=/))(?P<block>{body})"))

    def match(self, path: str) -> BlockMatch | None:
        """The block enclosing the layer at ``path`` (the outermost when blocks nest), or
        None."""
        found = self.regex.search(path)
        if found is None:
            return None
        lo, hi = found.span("index")
        stack = path[: found.start("block")] + path[found.start("block") : lo] + INDEX
        stack += path[hi : found.end("block")]
        return BlockMatch(path[: found.end("block")], int(found.group("index")), stack)
