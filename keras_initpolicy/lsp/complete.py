"""Completion candidates for the cursor's context (see ``text.context_at``). No Keras import.

Candidates are ``(label, kind, detail)`` triples; the server turns them into LSP items. Classes
and weights come from the layer catalogue, initializers and their arguments from the
initializer catalogue, values of choice arguments from the same tables the checks use.

>>> [c.label for c in complete("Dense -> he_normal(", 0, 19)[0]][:3]
['seed', 'variant', 'negative_slope']
>>> candidates, start = complete("Dense.bi", 0, 8)
>>> "bias" in [c.label for c in candidates], start
(True, 6)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..catalog import initializers as ic
from ..catalog import layers as lc
from ..checks.names import DIRECTIVES
from ..checks.reach import reach
from ..language.expressions import FUNCTIONS, NUMERIC_PARAMETERS, VARIABLES
from ..language.nodes import EXPLICIT_MODES, SAMPLER_MODES
from .hover import DIRECTIVE_DOCS
from .presets import PREFIX, preset_names
from .text import context_at

__all__ = ["Candidate", "complete"]

#: values a choice argument takes (the same tuples the checks accept)
_CHOICES = {
    "mode": ic.MODES,
    "distribution": ic.DISTRIBUTIONS,
    "fans": ic.FANS_MODES,
    "variant": ic.VARIANTS,
    "negative_slope": ("auto",),
}


@dataclass(frozen=True)
class Candidate:
    """One completion: ``kind`` is ``class``, ``weight``, ``attribute``, ``value``,
    ``initializer``, ``argument``, ``variable``, ``function``, ``directive`` or ``preset``."""

    label: str
    kind: str
    detail: str = ""
    insert: str | None = None


@lru_cache(maxsize=1)
def _classes() -> tuple[Candidate, ...]:
    public = [c for c in lc.class_names(public_only=True)]
    out = [Candidate("*", "class", "any layer")]
    for name in public:
        weights = ", ".join(sorted(lc.weights(name))) if lc.weights_known(name) else "open"
        out.append(Candidate(name, "class", f"weights: {weights or 'none'}"))
    return tuple(out)


def _initializers() -> list[Candidate]:
    out = []
    for name, sp in ic.SPECS.items():
        detail = f"Keras {sp.class_name}" if sp.class_name else "chosen from the activation"
        out.append(Candidate(name, "initializer", detail))
    return out


def _weights(cls: str | None) -> list[Candidate]:
    names = reach(cls or "*").weight_names()
    return [Candidate(w, "weight", f"a weight of {cls or 'some layer'}") for w in sorted(names)]


def _attributes(cls: str | None) -> list[Candidate]:
    kinds = {} if cls in (None, "*") else lc.attribute_kinds(cls)
    names = sorted(set(kinds) | lc.ALWAYS_ATTRIBUTES)
    return [Candidate(a, "attribute", kinds.get(a, "any layer")) for a in names]


def _values(attr: str | None) -> list[Candidate]:
    if attr == "activation":
        return [Candidate(a, "value", "activation") for a in lc.activations()]
    if attr == "use_bias":
        return [Candidate(v, "value", "bool") for v in ("true", "false")]
    return []


def _arguments(init: str | None) -> list[Candidate]:
    canonical = ic.canonical_name(init or "")
    if canonical is None:
        return []
    sp = ic.SPECS[canonical]
    return [
        Candidate(p, "argument", f"default {d!r}", insert=f"{p}=")
        for p, d in (*sp.params, *sp.extensions)
    ]


def _expression() -> list[Candidate]:
    """What a numeric argument's expression may name.

    docs/reference.md#expressions-and-variables."""
    out = [Candidate(v, "variable", meaning) for v, meaning in VARIABLES.items()]
    out += [Candidate(f, "function", "function", insert=f"{f}(") for f in FUNCTIONS]
    return out


def _directives() -> list[Candidate]:
    return [Candidate(f"@{d}", "directive", DIRECTIVE_DOCS.get(d, "")) for d in DIRECTIVES]


def _directive_values(name: str | None) -> list[Candidate]:
    if name == "explicit":
        return [Candidate(v, "value", "@explicit mode") for v in EXPLICIT_MODES]
    if name == "sampler":
        return [Candidate(v, "value", "@sampler mode") for v in SAMPLER_MODES]
    if name == "include":
        return [
            Candidate(f'"{PREFIX}{p}"', "preset", "a preset shipped with keras-initpolicy")
            for p in preset_names()
        ]
    return []


def complete(text: str, line: int, column: int) -> tuple[list[Candidate], int]:
    """Every candidate for the cursor at ``(line, column)`` (0-based), and the column where the
    word they replace starts; the client filters them by what is already typed."""
    ctx = context_at(text, line, column)
    return _candidates(ctx), column - len(ctx.partial)


def _candidates(ctx) -> list[Candidate]:
    if ctx.kind == "class":
        return list(_classes())
    if ctx.kind == "weight":
        return _weights(ctx.cls)
    if ctx.kind == "attribute":
        return _attributes(ctx.cls)
    if ctx.kind == "value":
        return _values(ctx.attr)
    if ctx.kind == "initializer":
        return _initializers()
    if ctx.kind == "argument":
        return _arguments(ctx.init)
    if ctx.kind == "argument_value":
        found = [Candidate(v, "value", ctx.attr or "") for v in _CHOICES.get(ctx.attr or "", ())]
        return found + (_expression() if ctx.attr in NUMERIC_PARAMETERS else [])
    if ctx.kind == "expression":
        return _expression()
    if ctx.kind == "directive":
        return _directives()
    if ctx.kind == "directive_value":
        return _directive_values(ctx.attr)
    return []
