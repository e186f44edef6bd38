"""Evaluate and inspect arithmetic expressions in initializer arguments.

The language: docs/reference.md#expressions-and-variables.

The parser builds ``Variable``/``Unary``/``Binary``/``Call`` nodes (``nodes.py``); a literal
number is a plain ``int``/``float``. This module walks those nodes with its own small
interpreter: there is no ``eval``, no attribute access and no import of anything a policy names.
Only the four variables of ``VARIABLES`` and the five functions of ``FUNCTIONS`` exist.

Arithmetic is done in floating point (``2 ** 3`` is ``8.0``), so a huge exponent overflows with a
clear error instead of computing a giant integer. Every failure — an unknown name, a function
given the wrong number of arguments, the log of a non-positive number, the square root of a
negative one, a division by zero, an overflow or a result that is not a finite real number — is an
``ExpressionError`` carrying the position of the sub-expression at fault.

>>> from keras_initpolicy.language.parser import parse_file
>>> init = parse_file("Dense -> random_normal(stddev=0.02 / sqrt(2 * blocks))").rules[0].init
>>> expr = init.args[0].value
>>> evaluate(expr, {"blocks": 2})
0.01
>>> sorted(variables_used(expr))
['blocks']
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from ..errors import InitPolicyError
from ..spelling import close_matches
from .nodes import EXPRESSION_TYPES, Binary, Call, Unary, Variable, Word

__all__ = [
    "VARIABLES",
    "FUNCTIONS",
    "NUMERIC_PARAMETERS",
    "ExpressionError",
    "is_expression",
    "as_expression",
    "evaluate",
    "variables_used",
    "walk",
    "static_problems",
]

#: the names an expression may read, with what they mean
VARIABLES: dict[str, str] = {
    "fan_in": "the weight's layer-aware fan-in",
    "fan_out": "the weight's layer-aware fan-out",
    "depth": "0-based index of the @blocks block enclosing the layer",
    "blocks": "number of blocks of that @blocks pattern in the model",
}
#: function name -> (fewest arguments, most arguments or None for no limit)
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "sqrt": (1, 1),
    "log": (1, 1),
    "exp": (1, 1),
    "min": (2, None),
    "max": (2, None),
}
#: initializer parameters that take a number, and so may take an expression
NUMERIC_PARAMETERS = frozenset(
    {"value", "mean", "stddev", "minval", "maxval", "gain", "scale", "negative_slope"}
)


class ExpressionError(InitPolicyError, ValueError):
    """An expression that cannot be evaluated; ``line``/``column`` locate the sub-expression."""

    def __init__(self, message: str, node=None) -> None:
        super().__init__(message)
        self.message = message
        self.line = getattr(node, "line", 0) or 0
        self.column = getattr(node, "column", 0) or 0


def is_expression(value) -> bool:
    """True for an expression node (a plain number is not one)."""
    return isinstance(value, EXPRESSION_TYPES)


def as_expression(value):
    """``value`` as an expression when it is one, or a bare word naming a variable
    (``stddev=fan_in`` reads the variable); else None."""
    if isinstance(value, EXPRESSION_TYPES):
        return value
    if isinstance(value, Word) and str(value) in VARIABLES:
        return Variable(str(value))
    return None


def walk(node) -> Iterator:
    """Every node of an expression, parents before children (numbers included)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, Binary):
            stack.extend((current.right, current.left))
        elif isinstance(current, Unary):
            stack.append(current.operand)
        elif isinstance(current, Call):
            stack.extend(reversed(current.args))


def variables_used(node) -> frozenset[str]:
    """The variable names an expression reads (known or not)."""
    return frozenset(n.name for n in walk(node) if isinstance(n, Variable))


def _suggest(name: str, options) -> str:
    close = close_matches(name, sorted(options), n=1, cutoff=0.5)
    return f" Did you mean `{close[0]}`?" if close else ""


def _constant(node) -> bool:
    return not any(isinstance(n, Variable) for n in walk(node))


def static_problems(node) -> list[ExpressionError]:
    """What is wrong with an expression regardless of the model: unknown variables and
    functions (with a suggestion), wrong numbers of arguments, division by a constant zero."""
    found: list[ExpressionError] = []
    for n in walk(node):
        if isinstance(n, Variable) and n.name not in VARIABLES:
            allowed = ", ".join(VARIABLES)
            found.append(
                ExpressionError(
                    f"Unknown variable `{n.name}` in an expression.{_suggest(n.name, VARIABLES)} "
                    f"Variables: {allowed}.",
                    n,
                )
            )
        elif isinstance(n, Call):
            if n.func not in FUNCTIONS:
                allowed = ", ".join(FUNCTIONS)
                found.append(
                    ExpressionError(
                        f"Unknown function `{n.func}`.{_suggest(n.func, FUNCTIONS)} "
                        f"Functions: {allowed}.",
                        n,
                    )
                )
            else:
                arity = _arity_problem(n)
                if arity:
                    found.append(ExpressionError(arity, n))
        elif isinstance(n, Binary) and n.op == "/" and _constant(n.right):
            try:
                divisor = evaluate(n.right, {})
            except ExpressionError:
                continue  # the divisor's own problem is reported where it is
            if divisor == 0:
                found.append(ExpressionError(f"Division by zero in `{n.text}`.", n))
    return found


def _arity_problem(call: Call) -> str:
    low, high = FUNCTIONS[call.func]
    given = len(call.args)
    if low <= given and (high is None or given <= high):
        return ""
    if high == low:
        wanted = f"exactly {low} argument{'s' if low != 1 else ''}"
    else:
        wanted = f"at least {low} arguments"
    return f"`{call.func}` takes {wanted}. Received: `{call.text}`"


def _finite(value: float, node) -> float:
    if isinstance(value, complex) or not math.isfinite(value):
        shown = "a complex number" if isinstance(value, complex) else repr(value)
        raise ExpressionError(f"`{node.text}` is {shown}, not a finite real number.", node)
    return value


def evaluate(node, variables: Mapping[str, float]) -> float:
    """The value of ``node`` (an expression or a plain number) with ``variables`` bound.

    A variable missing from ``variables`` is an ``ExpressionError`` naming it; so is every
    domain error.

    >>> from keras_initpolicy.language.nodes import Binary, Call, Variable
    >>> evaluate(Binary("**", Binary("*", 8, Variable("blocks")), -0.25), {"blocks": 2})
    0.5
    >>> evaluate(Call("log", (0,)), {})
    Traceback (most recent call last):
      ...
    keras_initpolicy.language.expressions.ExpressionError: `log(0)` needs a positive argument. Received: 0.0
    """
    if isinstance(node, bool):
        raise ExpressionError(f"Expected a number. Received: {node}")
    if isinstance(node, (int, float)):
        return float(node)
    if isinstance(node, Variable):
        if node.name not in variables:
            if node.name in VARIABLES:
                raise ExpressionError(f"`{node.name}` is not known here.", node)
            raise ExpressionError(
                f"Unknown variable `{node.name}`.{_suggest(node.name, VARIABLES)}", node
            )
        return float(variables[node.name])
    if isinstance(node, Unary):
        value = evaluate(node.operand, variables)
        return -value if node.op == "-" else value
    if isinstance(node, Binary):
        return _binary(node, evaluate(node.left, variables), evaluate(node.right, variables))
    if isinstance(node, Call):
        return _call(node, [evaluate(a, variables) for a in node.args])
    raise ExpressionError(f"Expected a number or an expression. Received: {node!r}")


def _binary(node: Binary, left: float, right: float) -> float:
    op = node.op
    try:
        if op == "+":
            result = left + right
        elif op == "-":
            result = left - right
        elif op == "*":
            result = left * right
        elif op == "/":
            if right == 0:
                raise ExpressionError(f"Division by zero in `{node.text}`.", node)
            result = left / right
        else:  # "**"
            if left == 0 and right < 0:
                raise ExpressionError(f"`{node.text}` raises zero to a negative power.", node)
            result = left**right
    except OverflowError:
        raise ExpressionError(f"`{node.text}` overflows.", node) from None
    return _finite(result, node)


def _call(node: Call, args: list[float]) -> float:
    if node.func not in FUNCTIONS:
        raise ExpressionError(
            f"Unknown function `{node.func}`.{_suggest(node.func, FUNCTIONS)}", node
        )
    problem = _arity_problem(node)
    if problem:
        raise ExpressionError(problem, node)
    if node.func == "min":
        return min(args)
    if node.func == "max":
        return max(args)
    (x,) = args
    if node.func == "sqrt":
        if x < 0:
            raise ExpressionError(
                f"`{node.text}` needs a non-negative argument. Received: {x!r}", node
            )
        return math.sqrt(x)
    if node.func == "log":
        if x <= 0:
            raise ExpressionError(f"`{node.text}` needs a positive argument. Received: {x!r}", node)
        return math.log(x)
    try:
        return _finite(math.exp(x), node)
    except OverflowError:
        raise ExpressionError(f"`{node.text}` overflows (argument {x!r}).", node) from None


# ----------------------------------------------------------------------------- sampling

#: fans tried by ``first_failure``: every small fan, then powers up to a million
SAMPLE_FANS = (1, 2, 3, 4, 5, 8, 16, 64, 256, 1024, 4096, 65536, 1048576)
#: block counts tried; depth takes 0, 1, the middle and the last index of each
SAMPLE_BLOCKS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 96, 128, 1000)
#: the point ``typical_value`` evaluates at (a mid-sized layer in the first of 12 blocks)
TYPICAL = {"fan_in": 256.0, "fan_out": 256.0, "depth": 0.0, "blocks": 12.0}


def sample_points(used) -> Iterator[dict[str, float]]:
    """Points covering every fan >= 1 and every block layout coarsely, over the variables
    ``used`` only (a grid over the others would repeat the same value)."""
    fans_in = SAMPLE_FANS if "fan_in" in used else (None,)
    fans_out = SAMPLE_FANS if "fan_out" in used else (None,)
    layouts: list[tuple[int | None, int | None]] = [(None, None)]
    if "depth" in used or "blocks" in used:
        layouts = [(d, b) for b in SAMPLE_BLOCKS for d in sorted({0, 1, b // 2, b - 1}) if d < b]
    for fan_in in fans_in:
        for fan_out in fans_out:
            for depth, blocks in layouts:
                point = {"fan_in": fan_in, "fan_out": fan_out, "depth": depth, "blocks": blocks}
                yield {k: float(v) for k, v in point.items() if v is not None}


def point_text(point: Mapping[str, float]) -> str:
    """``fan_in=1, blocks=2`` (integers shown without ``.0``)."""
    return ", ".join(f"{k}={int(v) if float(v).is_integer() else v}" for k, v in point.items())


def first_failure(node, positive: bool = False, non_negative: bool = False):
    """The first sample point where ``node`` fails: ``(point, ExpressionError)`` for a domain
    error, ``(point, value)`` for a value that is not positive (``positive``) or negative
    (``non_negative``); None when every point is fine. ``node`` must have no static problem.

    This is a grid, not a proof: a formula that fails only between the sampled fans is missed,
    and one that fails only past a fan of a million is not reported. Every sampled failure is
    real (interval arithmetic would also flag safe formulas such as ``fan_in - fan_in + 1``).
    """
    used = variables_used(node)
    for point in sample_points(used):
        try:
            value = evaluate(node, point)
        except ExpressionError as exc:
            return point, exc
        if (positive and value <= 0) or (non_negative and value < 0):
            return point, value
    return None


def typical_value(node) -> float | None:
    """``node`` evaluated at ``TYPICAL``; None when that fails."""
    try:
        return evaluate(node, TYPICAL)
    except ExpressionError:
        return None
