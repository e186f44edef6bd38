"""``InitCall`` + ``WeightContext`` -> a plain ``keras.initializers.Initializer``.

Every variance-scaling rule of docs/reference.md#formulas becomes a Keras ``VarianceScaling``
with an exact ``scale``/``mode``/``distribution``; when that triple is one of Keras's named classes
(``HeNormal``, ``GlorotUniform``, ``LecunNormal``, ...) the named class is returned instead, so a
saved model's config reads exactly as if the initializer had been written in code and loads in a
process that never imported this package.

Layer-aware fans are folded into ``scale``: Keras divides by its shape-rule denominator ``d_k``;
we want the layer-aware denominator ``d_l``, so ``scale' = scale * d_k / d_l``. The resulting
variance is ``scale / d_l`` while the config stays a plain ``VarianceScaling``.

``auto`` picks the family from the effective activation (the table is ``AUTO_TABLE``):
ReLU family -> He with the activation's slope; smooth rectifiers (gelu, silu/swish, elu, mish,
softplus, ...) -> He; sigmoid/hard_sigmoid -> Glorot with Kwon's factor 4 (scale 16); selu ->
LeCun; tanh, linear, softmax and anything else -> Glorot. Its default distribution is the
truncated normal (as for Keras's ``*_normal`` classes); ``auto(distribution=uniform)`` uses the
uniform members.

Formulas (docs/reference.md#expressions-and-variables): a numeric argument may be an
expression over ``fan_in``, ``fan_out``, ``depth`` and ``blocks``. ``compile_initializer``
evaluates it with ``WeightContext.variables`` and then compiles exactly as if the value had been
written as a literal, so the result is the same plain Keras initializer
(``RandomNormal(stddev=0.01)``) and a saved config loads without this package. Rules without
formulas take the same path as before (one cached lookup more).
``evaluated_arguments`` gives ``(name, formula, value)`` for ``explain``.

Seeds: the caller derives one seed per weight (from ``@seed`` and the rule's own ``seed=N``,
which ``rule_seed`` reads) and passes it as ``WeightContext.seed``; ``None`` leaves Keras's
unseeded behaviour (it follows ``keras.utils.set_random_seed``).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import NamedTuple

import keras

from ..catalog.initializers import (
    VARIANCE_FAMILIES,
    VARIANCE_SCALING,
    bind_args,
    canonical_name,
    distribution_of,
    family_scale_mode,
    spec,
    variance_params,
)
from ..errors import PolicyError
from ..language import expressions as ex
from ..language.nodes import InitCall

__all__ = [
    "WeightContext",
    "compile_initializer",
    "Recipe",
    "recipe",
    "evaluated_arguments",
    "formula_arguments",
    "variance_scaling_params",
    "rule_seed",
    "fan_denominator",
    "describe",
    "AUTO_TABLE",
    "RECTIFIERS",
    "ScaledIdentity",
]

#: activations whose negative slope is meaningful for He's general rectifier formula
RECTIFIERS = frozenset({"relu", "relu6", "leaky_relu"})
#: activation -> family chosen by ``auto`` (anything not listed: glorot)
AUTO_TABLE: dict[str, str] = {
    **dict.fromkeys(RECTIFIERS, "he"),
    **dict.fromkeys(
        ("gelu", "silu", "swish", "elu", "celu", "mish", "softplus", "hard_silu", "hard_swish"),
        "he",
    ),
    **dict.fromkeys(("squareplus", "sparse_plus", "glu"), "he"),
    "sigmoid": "glorot_kwon",
    "hard_sigmoid": "glorot_kwon",
    "selu": "lecun",
    "tanh": "glorot",
    "linear": "glorot",
    "softmax": "glorot",
}
_LOGISTIC = frozenset({"sigmoid", "hard_sigmoid"})
_KWON_UNIT = frozenset({"tanh", "linear"})
_warned_kwon: set[str] = set()

# (scale, mode, distribution) -> the Keras class that means exactly that, from the declaration
# of the families (catalog/initializers.py).
_NAMED = {
    (f.scale, f.mode, m.distribution): getattr(keras.initializers, m.class_name)
    for f in VARIANCE_FAMILIES.values()
    for m in f.members
}
# what ``auto`` chooses (``AUTO_TABLE``'s values) -> (family, the arguments it is called with)
_AUTO_CALLS = {
    "he": (VARIANCE_FAMILIES["he"], {"negative_slope": "auto"}),
    "glorot_kwon": (VARIANCE_FAMILIES["glorot"], {"variant": "kwon"}),
    "lecun": (VARIANCE_FAMILIES["lecun"], {}),
    "glorot": (VARIANCE_FAMILIES["glorot"], {}),
}


@keras.saving.register_keras_serializable(package="keras_initpolicy", name="ScaledIdentity")
class ScaledIdentity(keras.initializers.Identity):
    """``Identity`` whose config keeps ``gain``.

    Keras's ``Identity.get_config()`` returns ``{}`` (Keras 3.x), so a saved ``Identity(gain=2)``
    would reload with gain 1. Used only when ``gain != 1``; ``identity`` with the default gain
    compiles to the plain Keras class.
    """

    def get_config(self):
        return {"gain": self.gain}


_NO_VARIABLES: Mapping[str, float] = MappingProxyType({})


class WeightContext(NamedTuple):
    """What the compiler needs to know about one weight.

    ``fan_in``/``fan_out`` are layer-aware (``fans.layer_fans``), ``shape_fan_in``/
    ``shape_fan_out`` Keras's shape-rule fans of the same shape. ``activation`` is the canonical
    Keras name of the effective activation; ``negative_slope`` its slope on the negative side
    (LeakyReLU's ``negative_slope``, 0 for relu, None when it is not a rectifier). ``seed`` is
    the per-weight seed already derived by the caller (None: unseeded). ``variables`` binds the
    names formulas read: ``fan_in``/``fan_out`` default to the fields above; ``depth`` and
    ``blocks`` are present only when the layer sits in an ``@blocks`` block.

    A named tuple: one is made per compiled weight, and a tuple costs a fraction of a frozen
    dataclass to make.
    """

    shape: tuple[int, ...]
    dtype: str | None = None
    fan_in: float = 1
    fan_out: float = 1
    shape_fan_in: float = 1
    shape_fan_out: float = 1
    activation: str = "linear"
    negative_slope: float | None = None
    seed: int | None = None
    variables: Mapping[str, float] = _NO_VARIABLES

    def bindings(self) -> dict[str, float]:
        """Every variable a formula may read for this weight."""
        return {"fan_in": float(self.fan_in), "fan_out": float(self.fan_out), **self.variables}


@functools.lru_cache(maxsize=4096)
def formula_arguments(init: InitCall) -> tuple[tuple[int, str, object], ...]:
    """``(argument index, parameter name, expression)`` for each formula among ``init``'s
    numeric arguments; empty for a rule written with literals only (the common case)."""
    if not any(ex.as_expression(a.value) is not None for a in init.args):
        return ()
    params = iter(p for p, _ in spec(init.name).params)
    found = []
    for i, arg in enumerate(init.args):
        name = arg.name if arg.name is not None else next(params, None)
        expr = ex.as_expression(arg.value)
        if expr is not None and name in ex.NUMERIC_PARAMETERS:
            found.append((i, name, expr))
    return tuple(found)


def _evaluate(name: str, expr, variables: Mapping[str, float]) -> float:
    missing = sorted(ex.variables_used(expr) & {"depth", "blocks"} - set(variables))
    if missing and "depth" in variables:  # in a block, but its blocks were not counted
        raise PolicyError(
            f"`{name}={expr.text}` reads `blocks`, which is not known yet: the model's blocks "
            "are counted when its Functional graph completes or the policy scope ends",
            line=expr.line or None,
            column=expr.column or None,
            code="IP106",
        )
    if missing:
        raise PolicyError(
            f"`{name}={expr.text}` reads `{missing[0]}`, but the layer is outside every "
            "@blocks block: its path matches no @blocks pattern of the policy",
            line=expr.line or None,
            column=expr.column or None,
            code="IP106",
        )
    try:
        return ex.evaluate(expr, variables)
    except ex.ExpressionError as exc:
        raise PolicyError(
            f"`{name}={expr.text}` cannot be evaluated: {exc.message}",
            line=exc.line or expr.line or None,
            column=exc.column or expr.column or None,
            code="IP106",
        ) from None


def evaluated_arguments(
    init: InitCall, variables: Mapping[str, float]
) -> list[tuple[str, str, float]]:
    """``(parameter, formula text, value)`` for each formula of ``init`` (``explain``).

    >>> from keras_initpolicy.language.parser import parse_file
    >>> init = parse_file("Dense -> random_normal(stddev=0.02 / sqrt(2 * blocks))").rules[0].init
    >>> evaluated_arguments(init, {"blocks": 2})
    [('stddev', '0.02 / sqrt(2 * blocks)', 0.01)]
    """
    return [
        (name, expr.text, _evaluate(name, expr, variables))
        for _, name, expr in formula_arguments(init)
    ]


def _with_values(init: InitCall, ctx: WeightContext) -> InitCall:
    """``init`` with each formula replaced by its value (literal-only rules: ``init`` itself)."""
    formulas = formula_arguments(init) if init.args else ()
    if not formulas:
        return init
    variables = ctx.bindings()
    args = list(init.args)
    for i, name, expr in formulas:
        args[i] = replace(args[i], value=_evaluate(name, expr, variables))
    return replace(init, args=tuple(args))


@functools.lru_cache(maxsize=4096)
def rule_seed(init: InitCall) -> int | None:
    """The rule's own ``seed=N`` (positional or keyword), or None. Cached: called per weight."""
    seed = bind_args(init).get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _warn_kwon(activation: str) -> None:
    """Once per activation: Kwon's factor is defined for the logistic, tanh and linear only."""
    if activation not in _LOGISTIC | _KWON_UNIT and activation not in _warned_kwon:
        _warned_kwon.add(activation)
        warnings.warn(
            f"The Kwon et al. variant is defined for logistic (factor 4), tanh and linear "
            f"(factor 1) activations; using factor 1 for activation={activation!r}.",
            UserWarning,
            stacklevel=4,
        )


def _family_params(name: str, args: dict, ctx: WeightContext) -> tuple[float, str, str]:
    """``(scale, mode, distribution)`` before the fan correction, for a variance-scaling
    initializer: the declared family's (``catalog/initializers.py``), for the weight's
    effective activation."""
    activation = ctx.activation or "linear"
    slope = float(ctx.negative_slope or 0.0)
    logistic = activation in _LOGISTIC
    if name == "auto":
        fam, call = _AUTO_CALLS[AUTO_TABLE.get(activation, "glorot")]
        scale, mode = family_scale_mode(fam, call, slope=slope, logistic=logistic)
        return float(scale), mode, distribution_of(name, args.get("distribution"))
    fam = VARIANCE_FAMILIES.get(spec(name).family)
    if fam is not None and fam.kwon_logistic_scale is not None and args.get("variant") == "kwon":
        _warn_kwon(activation)
    scale, mode, distribution = variance_params(name, args, slope=slope, logistic=logistic)
    return float(scale), mode, distribution


def fan_denominator(mode: str, fan_in: float, fan_out: float) -> float:
    """The count Keras divides ``scale`` by (with its ``max(1, .)`` guard)."""
    if mode == "fan_in":
        return max(1.0, float(fan_in))
    if mode == "fan_out":
        return max(1.0, float(fan_out))
    return max(1.0, (float(fan_in) + float(fan_out)) / 2.0)


def variance_scaling_params(init: InitCall, ctx: WeightContext) -> tuple[float, str, str]:
    """``(scale, mode, distribution)`` of the Keras ``VarianceScaling`` a rule compiles to.

    ``scale`` already includes the layer-aware fan correction (unless ``fans=shape``), so Keras's
    shape-rule arithmetic on ``ctx.shape`` yields the variance of docs/reference.md#formulas with
    the layer's fans.
    """
    name = canonical_name(init.name)
    args = bind_args(init)
    scale, mode, distribution = _family_params(name, args, ctx)  # auto: truncated normal
    if str(args.get("fans", "layer")) == "layer":
        keras_den = fan_denominator(mode, ctx.shape_fan_in, ctx.shape_fan_out)
        true_den = fan_denominator(mode, ctx.fan_in, ctx.fan_out)
        if keras_den != true_den:
            scale = scale * keras_den / true_den
    return float(scale), mode, distribution


def compile_initializer(init: InitCall, ctx: WeightContext) -> keras.initializers.Initializer:
    """Build the Keras initializer for one weight; assumes ``check_call(init)`` found nothing.

    >>> ctx = WeightContext((256, 512), "float32", 256, 512, 256, 512, "relu", 0.0, seed=7)
    >>> describe(compile_initializer(InitCall("he_normal"), ctx))
    'HeNormal'
    >>> describe(compile_initializer(InitCall("auto"), WeightContext(
    ...     (256, 512), "float32", 256, 512, 256, 512, "sigmoid")))
    'VarianceScaling(scale=16.0, mode=fan_avg, distribution=truncated_normal)'

    Called once per weight: what to build is worked out once per rule and weight context
    (everything but the seed) and remembered; each call makes a new instance with its seed.
    """
    return recipe(init, ctx).make(ctx.seed)


class Recipe(NamedTuple):
    """What a rule compiles to for one weight context, but the seed."""

    cls: type
    params: dict
    seeded: bool  # the class takes a seed (it draws random values)

    def make(self, seed: int | None) -> keras.initializers.Initializer:
        return self.cls(**self.params, seed=seed) if self.seeded else self.cls(**self.params)


def recipe(init: InitCall, ctx: WeightContext) -> Recipe:
    """The recipe of ``compile_initializer(init, ctx)``, worked out once per rule and context."""
    key = _recipe_key(init, ctx)
    found = _recipes.get(key)
    if found is None:
        found = Recipe(*_recipe(init, ctx))
        if len(_recipes) >= _MAX_RECIPES:
            _recipes.clear()
        _recipes[key] = found
    return found


def _recipe_key(init: InitCall, ctx: WeightContext) -> tuple:
    variables = ctx.variables
    return (
        init,
        ctx.shape,
        ctx.dtype,
        ctx.fan_in,
        ctx.fan_out,
        ctx.shape_fan_in,
        ctx.shape_fan_out,
        ctx.activation,
        ctx.negative_slope,
        tuple(sorted(variables.items())) if variables else (),
    )


_recipes: dict[tuple, Recipe] = {}
_MAX_RECIPES = 8192


def _recipe(init: InitCall, ctx: WeightContext) -> tuple[type, dict, bool]:
    """``(initializer class, constructor arguments but the seed, takes a seed)``."""
    name = canonical_name(init.name)
    if name is None:
        raise ValueError(f"Unknown initializer `{init.name}`.")
    init = _with_values(init, ctx)
    args = bind_args(init, with_defaults=True)
    inits = keras.initializers
    if name in VARIANCE_SCALING:
        scale, mode, distribution = variance_scaling_params(init, ctx)
        named = _NAMED.get((scale, mode, distribution))
        if named is not None:
            return named, {}, True
        return (
            inits.VarianceScaling,
            {"scale": scale, "mode": mode, "distribution": distribution},
            True,
        )
    if name == "zeros":
        return inits.Zeros, {}, False
    if name == "ones":
        return inits.Ones, {}, False
    if name == "constant":
        return inits.Constant, {"value": float(args["value"])}, False
    if name == "identity":
        gain = float(args["gain"])
        return (
            (inits.Identity, {}, False) if gain == 1.0 else (ScaledIdentity, {"gain": gain}, False)
        )
    if name == "orthogonal":
        return inits.Orthogonal, {"gain": float(args["gain"])}, True
    if name == "random_uniform":
        return (
            inits.RandomUniform,
            {"minval": float(args["minval"]), "maxval": float(args["maxval"])},
            True,
        )
    cls = inits.RandomNormal if name == "random_normal" else inits.TruncatedNormal
    return cls, {"mean": float(args["mean"]), "stddev": float(args["stddev"])}, True


def _text(value) -> str:
    return str(value) if isinstance(value, str) else repr(value)


def describe(initializer) -> str:
    """A short human string: ``"HeNormal"``, ``"RandomNormal(mean=0.0, stddev=0.02)"``,
    ``"VarianceScaling(scale=16.0, mode=fan_avg, distribution=truncated_normal)"``.

    Seeds are left out; so are ``input_axes``/``output_axes`` when unset.
    """
    config = initializer.get_config() if hasattr(initializer, "get_config") else {}
    shown = {
        k: v
        for k, v in config.items()
        if k != "seed" and not (k in ("input_axes", "output_axes") and v is None)
    }
    name = type(initializer).__name__
    if not shown:
        return name
    return f"{name}({', '.join(f'{k}={_text(v)}' for k, v in shown.items())})"
