"""Which rule wins for one weight (docs/reference.md#precedence). Pure Python; no Keras.

The caller describes the weight's owner layer and its enclosing layers as ``LayerFacts``
(owner first). Rules are indexed by class name, so a layer only meets the rules that name one
of its classes (or ``*``), and results are cached on the attribute values the policy's predicates
actually read — 10,000 layers against 1,000 rules resolve in well under a second
(``benchmarks/bench_resolve.py``).
"""

from __future__ import annotations

import fnmatch
import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .catalog.layers import canonical_activation, canonical_class
from .language.nodes import InitCall, Predicate, Rule, Selector

__all__ = [
    "LayerFacts",
    "Match",
    "Resolver",
    "predicate_holds",
    "reads_activation",
    "resolve_by_definition",
    "KERNEL_LIKE_EXCLUDED",
    "is_kernel_like",
]

#: Trainable rank>=2 weights that are nevertheless not "kernel-like"
#: (docs/reference.md#weight-parts-and-kernel-like-weights). ``bias`` is here
#: because EinsumDense (MultiHeadAttention's projections) makes rank-2 biases; see
#: docs/design-decisions.md.
KERNEL_LIKE_EXCLUDED = frozenset({"recurrent_kernel", "bias"})


def is_kernel_like(weight: str, shape: tuple) -> bool:
    """For a trainable weight: rank >= 2 and not ``recurrent_kernel`` (nor ``bias``).

    docs/reference.md#weight-parts-and-kernel-like-weights."""
    return len(shape) >= 2 and weight not in KERNEL_LIKE_EXCLUDED


_MISSING = object()


def _norm(value: Any) -> Any:
    """Config values -> comparable policy values (lists become tuples, recursively)."""
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    return value


@dataclass(frozen=True)
class LayerFacts:
    """What a rule can see of one layer: its class names (MRO) and its attributes.

    ``attrs`` holds scalar/string/tuple config values plus ``name``, ``path`` and
    ``activation`` (the effective activation).
    """

    class_names: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def get(self, attr: str) -> Any:
        value = self.attrs.get(attr, _MISSING)
        return value if value is _MISSING else _norm(value)


@dataclass(frozen=True)
class Match:
    """The winning rule for a weight and the selector and layer depth it matched on."""

    rule: Rule
    selector: Selector
    depth: int  # 0 = the layer that owns the weight, 1 = its enclosing layer, ...

    @property
    def key(self) -> tuple:
        return (self.selector.specificity, -self.depth, self.rule.index)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def predicate_holds(pred: Predicate, actual: Any) -> bool:
    """Evaluate one predicate against an attribute value (``_MISSING`` never matches)."""
    if actual is _MISSING:
        return False
    op, want = pred.op, _wanted(pred)
    if op == "=":
        return _equal(actual, want)
    if op == "!=":
        return not _equal(actual, want)
    if op == "in":
        return any(_equal(actual, w) for w in want)
    if op == "not in":
        return not any(_equal(actual, w) for w in want)
    if op == "~=":
        return isinstance(want, str) and fnmatch.fnmatchcase(str(actual), want)
    if not (_is_number(actual) and _is_number(want)):
        return False
    return {"<": actual < want, "<=": actual <= want, ">": actual > want, ">=": actual >= want}[op]


@functools.lru_cache(maxsize=4096)
def _wanted(pred: Predicate) -> Any:
    """The predicate's value, comparable to a layer's: an activation name is canonical
    (``swish`` -> ``silu``), as the effective activation is (docs/reference.md)."""
    want = _norm(pred.value)
    if pred.attr != "activation" or pred.op == "~=":
        return want
    if isinstance(want, tuple):
        return tuple(_canonical_activation(w) for w in want)
    return _canonical_activation(want)


def _canonical_activation(name: Any) -> Any:
    return (canonical_activation(name) or name) if isinstance(name, str) else name


def _equal(actual: Any, want: Any) -> bool:
    if isinstance(actual, bool) or isinstance(want, bool):
        return actual is want if isinstance(want, bool) else False
    if actual is None or want is None:
        return actual is None and want is None
    if isinstance(actual, tuple) and not isinstance(want, tuple):
        # `kernel_size = 3` matches (3, 3): a scalar stands for "every entry".
        return len(actual) > 0 and all(_equal(a, want) for a in actual)
    return actual == want


@functools.lru_cache(maxsize=4096)  # called for every weight
def reads_activation(init: InitCall) -> bool:
    """Does this initializer's result depend on the effective activation?"""
    kw = init.keywords
    return init.name == "auto" or kw.get("negative_slope") == "auto" or kw.get("variant") == "kwon"


@functools.lru_cache(maxsize=4096)
def _canonical(cls: str) -> str:
    """Exported aliases (``Convolution2D``) resolve to the class Keras instantiates (``Conv2D``)."""
    if cls == "*":
        return cls
    return canonical_class(cls) or cls


class Resolver:
    """Index of a policy's rules for fast, precedence-correct lookup."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._by_class: dict[str, list[tuple[Rule, Selector]]] = defaultdict(list)
        attrs: set[str] = set()
        for rule in self.rules:
            for sel in rule.selectors:
                self._by_class[_canonical(sel.cls)].append((rule, sel))
                attrs.update(p.attr for p in sel.predicates)
        # Most specific / latest first, so the first match of a bucket is that bucket's best.
        for bucket in self._by_class.values():
            bucket.sort(key=lambda rs: (rs[1].specificity, rs[0].index), reverse=True)
        self._attrs = tuple(sorted(attrs))
        self._cache: dict[tuple, Match | None] = {}
        self._targeting: dict[tuple, tuple[bool, bool]] = {}

    @property
    def attributes(self) -> tuple[str, ...]:
        """The layer attributes the rules' predicates read (sorted)."""
        return self._attrs

    def targeting(
        self, chain_classes: Sequence[tuple[str, ...]], weight: str, kernel_like: bool
    ) -> tuple[bool, bool]:
        """``(may_target, activation_sensitive)`` for this weight, cached per class chain.

        ``may_target``: could some rule decide it, whatever its layers' attributes (predicates
        ignored)? When not, it keeps Keras's or its code's initializer. ``activation_sensitive``:
        could the effective activation change which initializer it gets — does some rule that
        could target it read ``activation`` in a predicate or in its initializer (``auto``,
        ``variant=kwon``, ``negative_slope=auto``)? Conservative.
        """
        key = (tuple(chain_classes), weight, kernel_like)
        hit = self._targeting.get(key)
        if hit is None:
            candidates = [
                (rule, sel)
                for classes in chain_classes
                for name in (*classes, "*")
                for rule, sel in self._by_class.get(name, ())
                if (sel.weight == weight if sel.weight is not None else kernel_like)
            ]
            hit = self._targeting[key] = (
                bool(candidates),
                any(
                    any(p.attr == "activation" for p in sel.predicates)
                    or reads_activation(rule.init)
                    for rule, sel in candidates
                ),
            )
        return hit

    def _cache_key(
        self, chain: Sequence[LayerFacts], weight: str, kernel_like: bool
    ) -> tuple | None:
        attrs = self._attrs
        key = [weight, kernel_like]
        for f in chain:
            key.append(f.class_names)
            key.append(tuple([f.get(a) for a in attrs]) if attrs else ())
        key = tuple(key)
        try:
            hash(key)
        except TypeError:  # an unhashable attribute value: resolve without the cache
            return None
        return key

    def resolve(self, chain: Sequence[LayerFacts], weight: str, kernel_like: bool) -> Match | None:
        """The winning rule for ``weight`` owned by ``chain[0]`` inside ``chain[1:]``, or None."""
        key = self._cache_key(chain, weight, kernel_like)
        if key is not None and key in self._cache:
            return self._cache[key]
        best: Match | None = None
        for depth, facts in enumerate(chain):
            for name in (*facts.class_names, "*"):
                for rule, sel in self._by_class.get(name, ()):
                    if best is not None and (sel.specificity, -depth, rule.index) <= best.key:
                        break  # buckets are sorted: nothing later here can win
                    if self._selector_matches(sel, facts, weight, kernel_like):
                        best = Match(rule, sel, depth)
                        break
        if key is not None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key] = best
        return best

    @staticmethod
    def _selector_matches(sel: Selector, facts: LayerFacts, weight: str, kernel_like: bool) -> bool:
        if sel.weight is not None:
            if sel.weight != weight:
                return False
        elif not kernel_like:
            return False
        return all(predicate_holds(p, facts.get(p.attr)) for p in sel.predicates)


def resolve_by_definition(
    rules: Sequence[Rule], chain: Sequence[LayerFacts], weight: str, kernel_like: bool
) -> Match | None:
    """docs/reference.md#precedence applied by brute force: every selector of every rule on
    every layer of the chain, keeping the greatest ``Match.key``. The reference the indexed
    ``Resolver`` is checked against (``tests/test_resolve.py``) and measured against
    (``benchmarks/``)."""
    best = None
    for depth, facts in enumerate(chain):
        for rule in rules:
            for sel in rule.selectors:
                if sel.cls != "*" and _canonical(sel.cls) not in facts.class_names:
                    continue
                if not Resolver._selector_matches(sel, facts, weight, kernel_like):
                    continue
                match = Match(rule, sel, depth)
                if best is None or match.key > best.key:
                    best = match
    return best
