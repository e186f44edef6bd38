"""Initialization-practice warnings (IP2xx) and rule-set checks (IP3xx). No Keras import.

- IP201 symmetric start: ``zeros``/``ones``/``constant`` on kernel-like weights.
- IP202 family vs pinned activation: He on sigmoid/tanh, Glorot on the ReLU family.
- IP203 ``variant=kwon`` where it is not defined (Glorot: sigmoid/tanh/linear; He: ReLU family).
- IP204 (info) a ``.bias`` rule whose initializer is not zero.
- IP205 ``random_uniform`` wider than [-0.5, 0.5] on a selector pinned to sigmoid/tanh.
- IP301 dead rule: each of its selectors is shadowed by a later selector of at least equal
  specificity that matches a superset (same or base class, subset of predicates, same weight
  part). Sound and conservative: a rule it reports can never win.
- IP302 duplicate rule: same selectors and same initializer as an earlier rule.

IP202, IP203 and IP205 only fire when a selector pins the activation with ``activation = x`` or
``activation in (...)``: without a pin the effective activation is known only at build time.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ..catalog import initializers
from ..catalog import layers as lc
from ..language.nodes import Rule, Selector, value_text
from .arguments import numeric_view
from .diagnostics import Diagnostic
from .reach import KERNEL_NAMED, RELU_FAMILY, SATURATING, Locator, pinned_activations, reach

__all__ = ["check_practice"]

_KWON_OK = {"glorot": SATURATING | {"linear"}, "he": RELU_FAMILY}


def check_practice(rules: tuple[Rule, ...], loc: Locator) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for written in rules:
        # These checks read numbers: an expression stands in as its value at a typical point.
        rule = numeric_view(written)
        if initializers.check_call(rule.init, rule.source):
            continue  # IP105/IP106 already reported; the initializer's meaning is unclear
        canonical = initializers.canonical_name(rule.init.name)
        args = initializers.bind_args(rule.init)
        found.extend(_symmetric(rule, canonical))
        found.extend(_family(rule, canonical, args))
        found.extend(_bias(rule, canonical, args))
        found.extend(_uniform_range(rule, canonical, args))
        found.extend(_targets_nothing(rule))
    found.extend(_dead_and_duplicate(rules))
    return found


def _diag(code: str, rule: Rule, message: str, node=None) -> Diagnostic:
    node = node if node is not None and getattr(node, "line", 0) else rule.init
    return Diagnostic.make(code, node.line, node.column, message, rule.source)


def _arg(rule: Rule, name: str):
    """The Argument node that binds ``name`` (positional ones included), else None."""
    spec = initializers.spec(rule.init.name)
    positional = iter(p for p, _ in spec.params)
    for a in rule.init.args:
        if (a.name or next(positional, None)) == name:
            return a
    return None


# ----------------------------------------------------------------------------- IP303


def _targets_nothing(rule: Rule) -> list[Diagnostic]:
    """A selector without a weight part targets kernel-like weights; some classes have none."""
    found = []
    for sel in rule.selectors:
        if sel.weight is not None:
            continue
        r = reach(sel)
        if r.open or not r.concrete or r.has_kernel_like():
            continue
        named = sorted(
            {
                f"{sel.cls}.{w}"
                for c in r.concrete
                for w, (trainable, _) in lc.weights(c).items()
                if trainable
            }
        )
        hint = (
            f"name the weight instead: {_list(named)}"
            if named
            else f"`{sel.cls}` creates no trainable weights"
        )
        found.append(
            _diag(
                "IP303",
                rule,
                f"`{sel.text}` without a weight part targets kernel-like weights (trainable, "
                f"rank >= 2), and `{sel.cls}` has none; {hint}.",
                sel,
            )
        )
    return found


# ----------------------------------------------------------------------------- IP201


def _symmetric(rule: Rule, canonical: str) -> list[Diagnostic]:
    if initializers.family(canonical) != "constant":
        return []
    for sel in rule.selectors:
        if sel.weight in KERNEL_NAMED:
            what = f"`{sel.text}`"
        elif sel.weight is None and reach(sel).has_kernel_like():
            what = f"the kernel-like weights of `{sel.text}`"
        else:
            continue
        message = (
            f"`{rule.init.text}` gives {what} a symmetric start: every unit begins identical "
            "and stays so. Use a random initializer (e.g. `auto`, `he_normal`, `glorot_uniform`)."
        )
        return [_diag("IP201", rule, message)]
    return []


# ----------------------------------------------------------------------------- IP202/IP203


def _family(rule: Rule, canonical: str, args: dict) -> list[Diagnostic]:
    fam = initializers.family(canonical)
    if fam not in ("glorot", "he"):
        return []
    found: list[Diagnostic] = []
    pinned = set()
    for sel in rule.selectors:
        pinned |= pinned_activations(sel) or set()
    if not pinned:
        return []
    wrong = sorted(pinned & (SATURATING if fam == "he" else RELU_FAMILY))
    if wrong:
        better = "Glorot (`glorot_uniform`)" if fam == "he" else "He (`he_normal`)"
        message = (
            f"`{rule.init.name}` is the {fam.capitalize()} family, which does not suit "
            f"activation {_list(wrong)}; use {better} or `auto`."
        )
        found.append(_diag("IP202", rule, message))
    if args.get("variant") == "kwon":
        outside = sorted(pinned - _KWON_OK[fam])
        if outside:
            defined = "sigmoid, tanh or linear" if fam == "glorot" else "the ReLU family"
            message = (
                f"`variant=kwon` on `{rule.init.name}` is defined for {defined}, not "
                f"{_list(outside)}; it falls back to factor 1."
            )
            found.append(_diag("IP203", rule, message, _arg(rule, "variant")))
    return found


def _list(names) -> str:
    return ", ".join(f"`{n}`" for n in names)


# ----------------------------------------------------------------------------- IP204/IP205


def _bias(rule: Rule, canonical: str, args: dict) -> list[Diagnostic]:
    if not any(sel.weight == "bias" for sel in rule.selectors) or canonical == "zeros":
        return []
    if canonical == "constant" and args.get("value", 0.0) == 0:
        return []
    message = (
        f"Biases usually start at zero; `{rule.init.text}` starts them elsewhere. "
        "Fine when intended (e.g. a forget-gate bias)."
    )
    return [_diag("IP204", rule, message)]


def _uniform_range(rule: Rule, canonical: str, args: dict) -> list[Diagnostic]:
    if canonical != "random_uniform":
        return []
    pinned = set()
    for sel in rule.selectors:
        pinned |= pinned_activations(sel) or set()
    saturating = sorted(pinned & SATURATING)
    if not saturating:
        return []
    lo, hi = args.get("minval", -0.05), args.get("maxval", 0.05)
    if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float))):
        return []
    if hi <= 0.5 and lo >= -0.5:
        return []
    node = _arg(rule, "maxval") if hi > 0.5 else _arg(rule, "minval")
    message = (
        f"U[{value_text(lo)}, {value_text(hi)}] is wider than [-0.5, 0.5] for "
        f"{_list(saturating)}: wide ranges saturate the unit and its gradient vanishes."
    )
    return [_diag("IP205", rule, message, node)]


# ----------------------------------------------------------------------------- IP301/IP302


@dataclass(frozen=True)
class _SelKey:
    """What ``_covers`` compares, computed once per selector."""

    cls: str
    weight: str | None
    specificity: tuple[int, int, int]
    preds: frozenset
    bases: frozenset  # the class and its catalogued bases

    @classmethod
    def of(cls, sel: Selector) -> _SelKey:
        preds = frozenset((p.attr, p.op, _hashable(p.value)) for p in sel.predicates)
        bases = frozenset(lc.mro(sel.cls)) | {sel.cls}
        return cls(sel.cls, sel.weight, sel.specificity, preds, bases)


def _hashable(value):
    return tuple(_hashable(v) for v in value) if isinstance(value, tuple) else value


def _covers(later: _SelKey, earlier: _SelKey) -> bool:
    """True when ``later`` matches every weight ``earlier`` does and wins over it."""
    if later.weight != earlier.weight or later.specificity < earlier.specificity:
        return False
    if not later.preds <= earlier.preds:
        return False
    if later.cls == earlier.cls:
        return True
    if "*" in (later.cls, earlier.cls):
        return False
    base = lc.canonical_class(later.cls)
    return base is not None and base in earlier.bases


def _rule_key(rule: Rule) -> tuple:
    name = initializers.canonical_name(rule.init.name) or rule.init.name
    args = tuple(a.text for a in rule.init.args)
    return frozenset(s.text for s in rule.selectors), name, args


def _dead_and_duplicate(rules: tuple[Rule, ...]) -> list[Diagnostic]:
    """IP302 and IP301 among the rules of one file (overriding an included rule is the point
    of ``@include``, so rules of different files are not compared)."""
    found: list[Diagnostic] = []
    seen: dict[tuple, Rule] = {}
    for rule in rules:
        key = (rule.source, _rule_key(rule))
        if key in seen:
            first = seen[key]
            message = f"Duplicate of the rule on line {first.line}: `{first.text}`."
            found.append(Diagnostic.make("IP302", rule.line, rule.column, message, rule.source))
        else:
            seen[key] = rule
    keys = [[_SelKey.of(s) for s in rule.selectors] for rule in rules]
    # Index selectors by what ``_covers`` requires of a later selector (same source and weight
    # part, a class name the earlier one answers to, predicates a subset of the earlier ones), so
    # the search is not quadratic in the number of rules (20,000-rule policies).
    index: dict[tuple, list[tuple[int, _SelKey]]] = {}
    for i, (rule, sels) in enumerate(zip(rules, keys, strict=True)):
        for k in sels:
            names = {k.cls} if k.cls == "*" else {k.cls, lc.canonical_class(k.cls) or k.cls}
            for name in names:
                index.setdefault((rule.source, k.weight, name, k.preds), []).append((i, k))
    for i, rule in enumerate(rules):
        winners = []
        for k in keys[i]:
            winner = _first_cover(index, rule.source, i, k)
            if winner is None:
                break
            winners.append(rules[winner].line)
        else:
            lines = ", ".join(str(n) for n in sorted(set(winners)))
            message = (
                f"Dead rule: every weight `{rule.text}` matches is taken by a later rule of equal "
                f"or higher specificity (line {lines})."
            )
            found.append(Diagnostic.make("IP301", rule.line, rule.column, message, rule.source))
    return found


def _first_cover(index: dict, source: str, i: int, k: _SelKey) -> int | None:
    """The first rule after rule ``i`` with a selector that covers ``k`` (see ``_covers``)."""
    names = {"*"} if k.cls == "*" else ({k.cls} | k.bases) - {"*"}
    preds = sorted(k.preds, key=repr)
    if len(preds) > 10:  # too many subsets to enumerate: scan every later rule
        subsets = {key[3] for key in index if key[0] == source and key[1] == k.weight}
    else:
        subsets = {
            frozenset(p for bit, p in enumerate(preds) if mask >> bit & 1)
            for mask in range(1 << len(preds))
        }
    best = None
    for name in names:
        for subset in subsets:
            entries = index.get((source, k.weight, name, subset), ())
            start = bisect.bisect_right(entries, i, key=lambda e: e[0])
            for j, t in entries[start:]:
                if best is not None and j >= best:
                    break
                if _covers(t, k):
                    best = j
                    break
    return best
