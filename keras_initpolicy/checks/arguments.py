"""Lint of arithmetic expressions in initializer arguments. No Keras import.

The language: docs/reference.md#expressions-and-variables.

Findings, each positioned at the (sub-)expression at fault:

- IP106 an unknown variable or function (with "did you mean"), a function given the wrong
  number of arguments, a division by a constant zero (a formula in a parameter that takes no
  number, ``seed=1 + 2``, is reported by ``check_call`` as the wrong type);
- IP106 a formula that fails or gives a forbidden value somewhere on a grid of fans ≥ 1 and
  block layouts (``expressions.first_failure``): a domain error (log of ≤ 0, square root of a
  negative number, overflow), a ``stddev``/``scale``/``gain`` that is zero or negative, a negative
  ``negative_slope``, or ``minval`` not below ``maxval``;
- IP107 ``depth`` or ``blocks`` in a policy without any ``@blocks`` directive.

Why a grid and not interval arithmetic: intervals over fans in [1, ∞) flag safe formulas
(``fan_in - fan_in + 1``, ``sqrt(fan_in) - sqrt(fan_in - 1)``), and a false error on a correct
policy is worse than missing a formula that fails only between sampled fans. The grid takes every
fan from 1 to 5, then powers up to 2**20, and 14 block counts with the first, second, middle and
last depth of each.

``numeric_view(rule)`` is the rule with each expression replaced by its value at a typical point
(fans 256, depth 0, 12 blocks) — or by the parameter's default when the formula has a problem
reported here — so that the checks that read numbers (``check_call``, IP2xx) run unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from ..catalog import initializers
from ..language import expressions as ex
from ..language.nodes import Argument, Rule
from .diagnostics import Diagnostic

__all__ = ["check_expressions", "numeric_view", "bound_arguments"]

# the ranges the catalogue holds literal arguments to, for formulas too
_POSITIVE = initializers.POSITIVE_PARAMETERS
_NON_NEGATIVE = initializers.NON_NEGATIVE_PARAMETERS
_NEEDS_BLOCKS = ("depth", "blocks")


def bound_arguments(init) -> list[tuple[str | None, Argument]]:
    """``(parameter name, argument)`` for each argument; the name is None for a positional
    argument past the last parameter (``check_call`` reports those)."""
    try:
        params = [p for p, _ in initializers.spec(init.name).params]
    except KeyError:
        return [(a.name, a) for a in init.args]
    positional = iter(params)
    return [(a.name if a.name is not None else next(positional, None), a) for a in init.args]


def _at(node, arg: Argument) -> tuple[int, int]:
    line = getattr(node, "line", 0) or 0
    return (line, node.column) if line else (arg.line, arg.column)


def check_expressions(rule: Rule, has_blocks: bool) -> list[Diagnostic]:
    """IP106/IP107 findings for the expressions among ``rule``'s initializer arguments."""
    if initializers.canonical_name(rule.init.name) is None:
        return []  # IP105: which parameters take numbers is unknown
    found: list[Diagnostic] = []

    def report(code: str, where: tuple[int, int], message: str) -> None:
        found.append(Diagnostic.make(code, where[0], where[1], message, rule.source))

    for pname, arg in bound_arguments(rule.init):
        expr = ex.as_expression(arg.value) if pname in ex.NUMERIC_PARAMETERS else None
        if expr is None:  # a formula where no number goes: check_call reports it
            continue
        problems = ex.static_problems(expr)
        for problem in problems:
            report("IP106", _at(problem, arg), problem.message)
        if not has_blocks:
            for node in ex.walk(expr):
                if isinstance(node, ex.Variable) and node.name in _NEEDS_BLOCKS:
                    report(
                        "IP107",
                        _at(node, arg),
                        f"`{node.name}` needs an `@blocks` directive naming the repeated blocks, "
                        f'e.g. `@blocks "transformer_layer_{{i}}"`.',
                    )
        if problems:
            continue
        message = _sampled_problem(pname, expr)
        if message:
            report("IP106", _at(expr, arg), message)
    found.extend(_check_range(rule))
    return found


@lru_cache(maxsize=1024)
def _sampled_problem(pname: str, expr) -> str:
    failure = ex.first_failure(
        expr, positive=pname in _POSITIVE, non_negative=pname in _NON_NEGATIVE
    )
    if failure is None:
        return ""
    point, outcome = failure
    where = f" for {ex.point_text(point)}" if point else ""
    formula = f"`{pname}={expr.text}`"
    if isinstance(outcome, ex.ExpressionError):
        return f"{formula} cannot be evaluated{where}: {outcome.message}"
    kind = "positive" if pname in _POSITIVE else ">= 0"
    return f"Argument `{pname}` must be {kind}; {formula} is {outcome!r}{where}."


def _check_range(rule: Rule) -> list[Diagnostic]:
    """``minval < maxval`` at every sample point when either is a formula."""
    bound = {p: a for p, a in bound_arguments(rule.init) if p in ("minval", "maxval")}
    exprs = {p: ex.as_expression(a.value) for p, a in bound.items()}
    if not any(e is not None for e in exprs.values()):
        return []
    defaults = initializers.spec(rule.init.name).defaults
    sides = {
        p: exprs.get(p) or (bound[p].value if p in bound else defaults.get(p))
        for p in ("minval", "maxval")
    }
    used = set()
    for side in sides.values():
        if ex.is_expression(side):
            if ex.static_problems(side):
                return []
            used |= ex.variables_used(side)
    for point in ex.sample_points(used):
        try:
            lo = ex.evaluate(sides["minval"], point)
            hi = ex.evaluate(sides["maxval"], point)
        except (ex.ExpressionError, TypeError):
            return []  # reported per argument (or by check_call for a non-number)
        if lo >= hi:
            arg = bound.get("maxval") or bound.get("minval")
            message = (
                f"Argument `minval` must be less than `maxval`; minval={lo!r} and "
                f"maxval={hi!r} for {ex.point_text(point)}."
            )
            return [Diagnostic.make("IP106", arg.line, arg.column, message, rule.source)]
    return []


def numeric_view(rule: Rule) -> Rule:
    """``rule`` with every formula replaced by a number (see the module docstring)."""
    return _numeric_view(rule)


@lru_cache(maxsize=4096)
def _numeric_view(rule: Rule) -> Rule:
    if initializers.canonical_name(rule.init.name) is None:
        return rule
    defaults = initializers.spec(rule.init.name).defaults
    args, changed = [], False
    for pname, arg in bound_arguments(rule.init):
        expr = ex.as_expression(arg.value) if pname in ex.NUMERIC_PARAMETERS else None
        if expr is not None:
            value = None
            if not ex.static_problems(expr) and not _sampled_problem(pname, expr):
                value = ex.typical_value(expr)
            arg = replace(arg, value=value if value is not None else defaults.get(pname, 1.0))
            changed = True
        args.append(arg)
    if not changed:
        return rule
    return replace(rule, init=replace(rule.init, args=tuple(args)))
