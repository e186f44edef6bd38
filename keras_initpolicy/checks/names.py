"""Semantic checks of a parsed policy: ``validate_policy(policy) -> list[Diagnostic]``.

No Keras import: layer facts come from ``layer_catalog`` (a generated JSON), initializer facts
from ``initcatalog``. This module holds the IP1xx checks (names, values, directives, fit);
``checks_practice`` holds the initialization-practice warnings (IP2xx) and rule-set checks
(IP3xx). ``# noqa`` is honoured by the linter, not here.

>>> from keras_initpolicy.policy import load_unvalidated
>>> p = load_unvalidated("Dense[activation=relu] -> he_normal\\nDnse -> auto", is_text=True)
>>> [(d.code, d.line, d.column) for d in validate_policy(p)]
[('IP101', 2, 1)]
"""

from __future__ import annotations

from ..catalog import initializers
from ..catalog import layers as lc
from ..language.blocks import pattern_problem
from ..language.nodes import (
    EXPLICIT_MODES,
    SAMPLER_MODES,
    Directive,
    Predicate,
    Rule,
    Selector,
    value_text,
)
from ..spelling import close_matches
from .arguments import check_expressions, numeric_view
from .diagnostics import Diagnostic
from .practice import check_practice
from .reach import Locator, reach

__all__ = ["validate_policy", "DIRECTIVES"]

DIRECTIVES = ("seed", "explicit", "include", "blocks", "sampler")
_ORDERING = frozenset({"<", "<=", ">", ">="})
_STRING_ATTRS = frozenset({"name", "path", "activation"})
# Value kinds that say nothing about what a predicate may compare with.
_UNINFORMATIVE = frozenset({"none", "unknown", "object"})


def validate_policy(policy) -> list[Diagnostic]:
    """Every finding about ``policy``, ordered by file (includes first), line and column."""
    texts = {f.source: f.text for f in policy.files}
    loc = Locator(texts)
    found: list[Diagnostic] = []
    for pfile in policy.files:
        found.extend(_check_directives(pfile.directives, loc))
    has_blocks = any(d.name == "blocks" for f in policy.files for d in f.directives)
    for rule in policy.rules:
        found.extend(_check_rule(rule, loc, has_blocks))
    found.extend(check_practice(policy.rules, loc))
    order = {f.source: i for i, f in enumerate(policy.files)}
    found.sort(key=lambda d: (order.get(d.source, len(order)), d.line, d.column, d.code))
    return found


# ----------------------------------------------------------------------------- directives


def _check_directives(directives: tuple[Directive, ...], loc: Locator) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    first: dict[str, Directive] = {}

    def report(d: Directive, message: str, at_value: bool = True) -> None:
        col = d.column
        if at_value and d.has_value:
            col = loc.after_column(d.source, d.line, d.column, f"@{d.name}")
        found.append(Diagnostic.make("IP107", d.line, col, message, d.source))

    for d in directives:
        shown = d.text
        if d.name not in DIRECTIVES:
            close = close_matches(d.name, DIRECTIVES, n=1)
            hint = f" Did you mean `@{close[0]}`?" if close else ""
            allowed = ", ".join(f"@{n}" for n in DIRECTIVES)
            report(d, f"Unknown directive `@{d.name}`.{hint} Directives: {allowed}.", False)
            continue
        if d.name == "seed":
            ok = isinstance(d.value, int) and not isinstance(d.value, bool) and d.value >= 0
            if not ok:
                report(d, f"`@seed` needs a non-negative integer. Received: {shown}")
                continue
        elif d.name == "explicit":
            if not (isinstance(d.value, str) and d.value in EXPLICIT_MODES):
                report(d, f"`@explicit` takes `keep` or `override`. Received: {shown}")
                continue
        elif d.name == "sampler":
            if not (isinstance(d.value, str) and d.value in SAMPLER_MODES):
                report(d, f"`@sampler` takes `keras` or `fast`. Received: {shown}")
                continue
        elif d.name == "include":
            if not isinstance(d.value, str) or type(d.value) is not str:
                report(
                    d,
                    '`@include` needs a quoted path, e.g. `@include "base.initpolicy"`. '
                    f"Received: {shown}",
                )
            continue
        elif d.name == "blocks":
            problem = pattern_problem(d.value) if type(d.value) is str else "not a quoted pattern"
            if problem:
                report(
                    d,
                    f"`@blocks` needs a quoted layer-path pattern with one `{{i}}`, e.g. "
                    f'`@blocks "transformer_layer_{{i}}"`; {problem}. Received: {shown}',
                )
                continue
            key = f"blocks {d.value}"
            if key in first:
                message = f"Duplicate `{shown}` (first given on line {first[key].line})."
                report(d, message, False)
            first[key] = d
            continue
        if d.name in first:
            report(d, f"Duplicate `@{d.name}` (first given on line {first[d.name].line}).", False)
        else:
            first[d.name] = d
    return found


# ----------------------------------------------------------------------------- rules


def _check_rule(rule: Rule, loc: Locator, has_blocks: bool) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for sel in rule.selectors:
        found.extend(_check_selector(sel, rule, loc))
    found.extend(check_expressions(rule, has_blocks))
    init_diags = initializers.check_call(numeric_view(rule).init, rule.source)
    found.extend(init_diags)
    if not init_diags:
        found.extend(_check_fit(rule))
    return found


def _check_selector(sel: Selector, rule: Rule, loc: Locator) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    src = rule.source
    if sel.cls != "*" and not lc.is_known(sel.cls):
        close = lc.closest_classes(sel.cls)
        hint = f" Did you mean {_names(close)}?" if close else ""
        message = (
            f"Unknown layer class `{sel.cls}`.{hint} A custom layer is fine: register it with "
            "`--custom-layers` so that lint knows it."
        )
        found.append(Diagnostic.make("IP101", sel.line, sel.column, message, src))
    r = reach(sel.cls)
    if sel.weight is not None and not r.open:
        known = r.weight_names()
        if sel.weight not in known:
            close = close_matches(sel.weight, sorted(known), n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            creates = ", ".join(sorted(known)) or "no weights"
            message = (
                f"`{sel.cls}` never creates a weight named `{sel.weight}`.{hint} "
                f"It creates: {creates}."
            )
            col = loc.weight_column(src, sel)
            found.append(Diagnostic.make("IP102", sel.line, col, message, src))
    for pred in sel.predicates:
        found.extend(_check_predicate(pred, sel, r, rule, loc))
    return found


def _check_predicate(pred: Predicate, sel: Selector, r, rule: Rule, loc) -> list[Diagnostic]:
    src = rule.source
    value_col = loc.after_column(src, pred.line, pred.column, pred.attr, pred.op)

    def bad(message: str, col: int | None = None) -> list[Diagnostic]:
        return [Diagnostic.make("IP104", pred.line, col or value_col, message, src)]

    attr, op, value = pred.attr, pred.op, pred.value
    if attr not in _STRING_ATTRS and not r.open:
        names = r.attribute_names()
        if attr not in names:
            close = close_matches(attr, sorted(names), n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            message = (
                f"`{sel.cls}` has no attribute `{attr}`.{hint} Attributes are its config keys "
                "plus `name`, `path` and `activation`."
            )
            return [Diagnostic.make("IP103", pred.line, pred.column, message, src)]
    shown = f"{attr} {op} {value_text(value)}"
    if op in ("in", "not in"):
        if not isinstance(value, tuple):
            return bad(f"`{op}` needs a tuple such as `(a, b)`. Received: {shown}")
        items = value
    else:
        items = (value,)
    if op in _ORDERING and isinstance(value, str):
        return bad(f"Ordering (`{op}`) compares numbers, not strings. Received: {shown}")
    if op == "~=" and not isinstance(value, str):
        return bad(f'`~=` matches a "glob" string. Received: {shown}')
    if attr == "activation":
        if op in _ORDERING:
            return bad(f"`activation` is a name; `{op}` does not apply. Received: {shown}")
        if op != "~=":
            return _check_activation_values(items, shown, pred, src, loc, value_col)
        return []
    kinds = {"str"} if attr in _STRING_ATTRS else r.attribute_kinds(attr)
    informative = kinds - _UNINFORMATIVE
    if not informative:
        return []
    if informative == {"dict"}:
        return bad(
            f"`{attr}` is not a scalar, string or tuple in the layer config, so it cannot be "
            f"compared. Received: {shown}"
        )
    if op == "~=":
        if "str" not in informative:
            return bad(f"`~=` needs a string attribute; `{attr}` is {_kinds(informative)}.")
        return []
    for item in items:
        if item is not None and not any(_fits(kind, item) for kind in informative):
            return bad(
                f"`{attr}` is {_kinds(informative)} in the layer config. "
                f"Received: {value_text(item)} in `{shown}`"
            )
    return []


def _check_activation_values(items, shown, pred, src, loc, value_col) -> list[Diagnostic]:
    for item in items:
        if isinstance(item, str) and lc.canonical_activation(item):
            continue
        col = value_col
        if isinstance(item, str):
            col = loc.find_column(src, pred.line, value_col, str(item))
            close = lc.closest_activations(item)
            hint = f" Did you mean {_names(close)}?" if close else ""
            message = f"Unknown activation `{item}`.{hint}"
        else:
            message = f"`activation` takes a name such as `relu`. Received: {shown}"
        return [Diagnostic.make("IP104", pred.line, col, message, src)]
    return []


def _fits(kind: str, value) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in ("int", "float"):
        return number
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "tuple":  # `kernel_size = 3` is accepted for (3, 3) by the resolver's broadcast
        return isinstance(value, tuple) or (number and isinstance(value, int))
    return True


def _kinds(kinds: set[str]) -> str:
    words = {"int": "a number", "float": "a number", "bool": "true/false", "str": "a string"}
    words.update({"tuple": "a tuple", "dict": "a mapping"})
    return " or ".join(sorted({words.get(k, k) for k in kinds}))


def _names(names) -> str:
    return ", ".join(f"`{n}`" for n in names)


# ----------------------------------------------------------------------------- IP108


def _check_fit(rule: Rule) -> list[Diagnostic]:
    canonical = initializers.canonical_name(rule.init.name)
    fam = initializers.family(canonical) if canonical else None
    if fam not in ("identity", "orthogonal"):
        return []
    for sel in rule.selectors:
        for cls, weight, rank in sorted(reach(sel).ranks(sel.weight)):
            if fam == "identity" and rank != 2:
                need = "a rank-2 (matrix) weight"
            elif fam == "orthogonal" and rank < 2:
                need = "a weight of rank 2 or more"
            else:
                continue
            message = (
                f"`{rule.init.name}` needs {need}, but `{sel.text}` targets "
                f"`{cls}.{weight}` of rank {rank}."
            )
            return [
                Diagnostic.make("IP108", rule.init.line, rule.init.column, message, rule.source)
            ]
    return []
