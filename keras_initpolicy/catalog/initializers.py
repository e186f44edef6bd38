"""The catalogue of initializers a policy may name, and the checks of their arguments.

Pure data: nothing here imports Keras. Every Keras built-in is listed by its snake_case alias
and its CamelCase class name, with Keras's parameters in Keras's positional order and Keras's
defaults, plus this package's extensions (keyword-only):

- ``variant=kwon`` on ``glorot_*`` and ``he_*``;
- ``negative_slope=<number >= 0>|auto`` on ``he_*``;
- ``distribution=truncated_normal|untruncated_normal|normal|uniform`` and ``fans=layer|shape``
  on the variance-scaling family (``glorot_*``, ``he_*``, ``lecun_*``, ``variance_scaling``,
  ``auto``);
- ``seed=<int>`` on every random initializer.

The variance-scaling families (Glorot, He, LeCun) are declared once, in ``VARIANCE_FAMILIES``:
their members, Keras's scale, mode and distribution for each, and which extensions each family
takes. The catalogue's entries, the compiler (``runtime/compile.py``), the argument checks and the
language server's hover (``lsp/hover.py``) all read that declaration (``variance_params``).

``check_call`` reports IP105 (unknown initializer) and IP106 (bad arguments) in Keras's wording.

>>> canonical_name("HeNormal"), canonical_name("he_normal"), canonical_name("nope")
('he_normal', 'he_normal', None)
>>> family("glorot_uniform"), is_random("zeros"), is_constant_family("ones")
('glorot', False, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..checks.diagnostics import Diagnostic
from ..language.nodes import InitCall, value_text
from ..spelling import close_matches
from .fans import FAN_MODES

__all__ = [
    "InitSpec",
    "SPECS",
    "VarianceMember",
    "VarianceFamily",
    "VARIANCE_FAMILIES",
    "VARIANCE_SCALING",
    "variance_family",
    "variance_params",
    "family_scale_mode",
    "distribution_of",
    "POSITIVE_PARAMETERS",
    "NON_NEGATIVE_PARAMETERS",
    "ALIASES",
    "MODES",
    "DISTRIBUTIONS",
    "FANS_MODES",
    "VARIANTS",
    "all_names",
    "canonical_name",
    "spec",
    "check_call",
    "bind_args",
    "is_constant_family",
    "is_random",
    "family",
]

MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "normal", "uniform")
FANS_MODES = FAN_MODES  # the `fans=` argument: layer-aware (default) or Keras's shape rule
VARIANTS = ("kwon",)

# Extension parameters, by family. Keyword-only; defaults are what the plain Keras class does.
_VS_EXT = {"distribution": "normal", "fans": "layer"}


@dataclass(frozen=True)
class InitSpec:
    """One initializer: its canonical name, Keras class, parameters and family.

    ``params`` are Keras's constructor parameters in positional order with their defaults;
    ``extensions`` are this package's keyword-only additions with their defaults.
    """

    name: str
    class_name: str | None
    params: tuple[tuple[str, object], ...]
    family: str
    random: bool
    extensions: tuple[tuple[str, object], ...] = ()

    @property
    def allowed(self) -> tuple[str, ...]:
        """Every accepted argument name, Keras's first."""
        return tuple(p for p, _ in self.params) + tuple(p for p, _ in self.extensions)

    @property
    def defaults(self) -> dict:
        return {**dict(self.params), **dict(self.extensions)}


def _spec(name, class_name, params, fam, random, extensions=()):
    return InitSpec(name, class_name, tuple(params), fam, random, tuple(extensions))


_VS_FAMILY_EXT = tuple(_VS_EXT.items())


@dataclass(frozen=True)
class VarianceMember:
    """One named Keras initializer of a variance-scaling family: ``he_normal`` is Keras's
    ``HeNormal``, which draws from ``truncated_normal``."""

    name: str
    class_name: str
    distribution: str


@dataclass(frozen=True)
class VarianceFamily:
    """A family of Keras's variance-scaling initializers: every member draws with variance
    ``scale / n`` (``n`` the fan of ``mode``), from its own distribution.

    Extensions: ``kwon_mode`` is the mode ``variant=kwon`` switches to (None: the family has no
    variant), and ``kwon_logistic_scale`` the scale it takes when the effective activation is the
    logistic (Kwon et al.'s factor 4 on σ); ``negative_slope`` says the family takes He's
    ``negative_slope=a``, which divides the scale by ``1 + a²``. ``title`` is what the family is
    for, as hover shows it.
    """

    name: str
    title: str
    scale: float
    mode: str
    members: tuple[VarianceMember, ...]
    kwon_mode: str | None = None
    kwon_logistic_scale: float | None = None
    negative_slope: bool = False

    @property
    def extensions(self) -> tuple[tuple[str, object], ...]:
        """The keyword-only extension arguments its members take, with their defaults."""
        variant = (("variant", None),) if self.kwon_mode else ()
        slope = (("negative_slope", 0.0),) if self.negative_slope else ()
        return (*variant, *slope, *_VS_FAMILY_EXT)


#: The variance-scaling families, declared once (docs/reference.md#formulas).
VARIANCE_FAMILIES: dict[str, VarianceFamily] = {
    f.name: f
    for f in (
        VarianceFamily(
            "glorot",
            "Glorot/Xavier: tanh, logistic, linear",
            1.0,
            "fan_avg",
            (
                VarianceMember("glorot_normal", "GlorotNormal", "truncated_normal"),
                VarianceMember("glorot_uniform", "GlorotUniform", "uniform"),
            ),
            kwon_mode="fan_avg",
            kwon_logistic_scale=16.0,
        ),
        VarianceFamily(
            "he",
            "He/Kaiming: ReLU family",
            2.0,
            "fan_in",
            (
                VarianceMember("he_normal", "HeNormal", "truncated_normal"),
                VarianceMember("he_uniform", "HeUniform", "uniform"),
            ),
            kwon_mode="fan_avg",
            negative_slope=True,
        ),
        VarianceFamily(
            "lecun",
            "LeCun: SELU",
            1.0,
            "fan_in",
            (
                VarianceMember("lecun_normal", "LecunNormal", "truncated_normal"),
                VarianceMember("lecun_uniform", "LecunUniform", "uniform"),
            ),
        ),
    )
}
#: member name -> (its family, the member)
_MEMBERS: dict[str, tuple[VarianceFamily, VarianceMember]] = {
    m.name: (f, m) for f in VARIANCE_FAMILIES.values() for m in f.members
}

#: canonical snake_case name -> spec
SPECS: dict[str, InitSpec] = {
    s.name: s
    for s in (
        _spec("zeros", "Zeros", (), "constant", False),
        _spec("ones", "Ones", (), "constant", False),
        _spec("constant", "Constant", (("value", 0.0),), "constant", False),
        _spec(
            "random_normal",
            "RandomNormal",
            (("mean", 0.0), ("stddev", 0.05), ("seed", None)),
            "random",
            True,
        ),
        _spec(
            "truncated_normal",
            "TruncatedNormal",
            (("mean", 0.0), ("stddev", 0.05), ("seed", None)),
            "random",
            True,
        ),
        _spec(
            "random_uniform",
            "RandomUniform",
            (("minval", -0.05), ("maxval", 0.05), ("seed", None)),
            "random",
            True,
        ),
        _spec(
            "variance_scaling",
            "VarianceScaling",
            (
                ("scale", 1.0),
                ("mode", "fan_in"),
                ("distribution", "truncated_normal"),
                ("seed", None),
            ),
            "variance_scaling",
            True,
            (("fans", "layer"),),
        ),
        _spec("orthogonal", "Orthogonal", (("gain", 1.0), ("seed", None)), "orthogonal", True),
        _spec("identity", "Identity", (("gain", 1.0),), "identity", False),
        *(
            _spec(m.name, m.class_name, (("seed", None),), f.name, True, f.extensions)
            for f, m in _MEMBERS.values()
        ),
        _spec("auto", None, (), "auto", True, (*_VS_FAMILY_EXT, ("seed", None))),
    )
}

#: every initializer that draws by variance scaling (and so takes ``distribution`` and ``fans``)
VARIANCE_SCALING = frozenset({*_MEMBERS, "variance_scaling", "auto"})

#: every accepted spelling -> canonical name (CamelCase class names and Keras's own aliases)
ALIASES: dict[str, str] = {name: name for name in SPECS}
ALIASES.update({s.class_name: s.name for s in SPECS.values() if s.class_name})
ALIASES.update(
    {
        "normal": "random_normal",
        "uniform": "random_uniform",
        "zero": "zeros",
        "one": "ones",
        "IdentityInitializer": "identity",
        "OrthogonalInitializer": "orthogonal",
    }
)


def all_names() -> tuple[str, ...]:
    """Every accepted initializer spelling, sorted."""
    return tuple(sorted(ALIASES))


def canonical_name(name: str) -> str | None:
    """The canonical snake_case name of ``name`` (an alias or a class name), else None.

    >>> canonical_name("GlorotUniform"), canonical_name("zero"), canonical_name("Auto")
    ('glorot_uniform', 'zeros', None)
    """
    return ALIASES.get(str(name))


def spec(name: str) -> InitSpec:
    """The spec of a known initializer (any spelling); KeyError if unknown."""
    canonical = canonical_name(name)
    if canonical is None:
        raise KeyError(name)
    return SPECS[canonical]


def family(name: str) -> str:
    """``glorot``, ``he``, ``lecun``, ``variance_scaling``, ``orthogonal``, ``identity``,
    ``random``, ``constant`` or ``auto``."""
    return spec(name).family


def is_random(name: str) -> bool:
    """True for initializers that draw random values (and so take a seed)."""
    return spec(name).random


def is_constant_family(name: str) -> bool:
    """True for ``zeros``, ``ones`` and ``constant``."""
    return spec(name).family == "constant"


def variance_family(name: str) -> VarianceFamily | None:
    """The declared family of a member (any spelling): ``he_normal`` -> He; None otherwise
    (``variance_scaling`` and ``auto`` belong to no family of their own)."""
    found = _MEMBERS.get(canonical_name(name) or "")
    return found[0] if found is not None else None


def distribution_of(name: str, given=None) -> str:
    """The distribution a variance-scaling call draws from: ``given`` when the call says
    (``normal`` is the family's normal, which for every Keras variance-scaling class is the
    truncated normal), else the member's own (``auto``, ``variance_scaling``: truncated normal).

    >>> distribution_of("he_uniform"), distribution_of("he_uniform", "normal")
    ('uniform', 'truncated_normal')
    """
    if given is None:
        found = _MEMBERS.get(canonical_name(name) or "")
        return found[1].distribution if found is not None else "truncated_normal"
    given = str(given)
    return "truncated_normal" if given == "normal" else given


def family_scale_mode(
    fam: VarianceFamily, args: dict, *, slope: float | None = None, logistic: bool = False
) -> tuple[float | None, str]:
    """``(scale, mode)`` of a call of a member of ``fam`` with arguments ``args``, before any fan
    correction. ``slope`` is the effective activation's negative slope, read for
    ``negative_slope=auto``; ``logistic`` says whether the effective activation is the logistic
    (for ``variant=kwon``). The scale is None when it depends on a slope that is not known here
    (``negative_slope=auto`` without ``slope``, or an expression).

    >>> family_scale_mode(VARIANCE_FAMILIES["he"], {"negative_slope": 1.0})
    (1.0, 'fan_in')
    >>> family_scale_mode(VARIANCE_FAMILIES["glorot"], {"variant": "kwon"}, logistic=True)
    (16.0, 'fan_avg')
    """
    scale, mode = fam.scale, fam.mode
    if fam.kwon_mode is not None and args.get("variant") == "kwon":
        mode = fam.kwon_mode
        if logistic and fam.kwon_logistic_scale is not None:
            scale = fam.kwon_logistic_scale
    if fam.negative_slope:
        a = args.get("negative_slope", 0.0)
        if a == "auto":
            a = slope
        if a is None or not _is_number(a):
            return None, mode
        scale = scale / (1.0 + float(a) * float(a))
    return scale, mode


def variance_params(
    name: str, args: dict, *, slope: float | None = None, logistic: bool = False
) -> tuple[float | None, str, str]:
    """``(scale, mode, distribution)`` of a call of a variance-scaling initializer other than
    ``auto``, before any fan correction (see ``family_scale_mode``); ``variance_scaling`` takes
    them from its arguments.

    >>> variance_params("he_uniform", {})
    (2.0, 'fan_in', 'uniform')
    >>> variance_params("variance_scaling", {"scale": 3.0, "mode": "fan_out"})
    (3.0, 'fan_out', 'truncated_normal')
    """
    distribution = distribution_of(name, args.get("distribution"))
    fam = variance_family(name)
    if fam is None:
        return args.get("scale", 1.0), str(args.get("mode", "fan_in")), distribution
    scale, mode = family_scale_mode(fam, args, slope=slope, logistic=logistic)
    return scale, mode, distribution


# ----------------------------------------------------------------------------- checks


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _received(name: str, value) -> str:
    return f"Received: {name}={value_text(value)}"


def _number(name, value):
    if not _is_number(value):
        return f"Argument `{name}` must be a number. {_received(name, value)}"
    return None


def _positive(name, value):
    return _number(name, value) or (
        f"Argument `{name}` must be positive. {_received(name, value)}" if value <= 0 else None
    )


def _seed(name, value):
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return None
    return f"Argument `{name}` must be an integer. {_received(name, value)}"


def _choice(options):
    def check(name, value):
        if isinstance(value, str) and value in options:
            return None
        message = f"Argument `{name}` must be one of {', '.join(options)}. {_received(name, value)}"
        if isinstance(value, str):
            close = close_matches(value, options, n=1)
            if close:
                message += f". Did you mean `{close[0]}`?"
        return message

    return check


def _slope(name, value):
    if isinstance(value, str) and value == "auto":
        return None
    if not _is_number(value):
        return f"Argument `{name}` must be a number >= 0 or `auto`. {_received(name, value)}"
    if value < 0:
        return f"Argument `{name}` must be >= 0. {_received(name, value)}"
    return None


_CHECKS = {
    "value": _number,
    "mean": _number,
    "minval": _number,
    "maxval": _number,
    "stddev": _positive,
    "gain": _positive,
    "scale": _positive,
    "mode": _choice(MODES),
    "distribution": _choice(DISTRIBUTIONS),
    "seed": _seed,
    "variant": _choice(VARIANTS),
    "negative_slope": _slope,
    "fans": _choice(FANS_MODES),
}
#: numeric parameters that must be > 0, and those that must be >= 0 (formulas are held to the
#: same ranges: ``checks/arguments.py``)
POSITIVE_PARAMETERS = frozenset(p for p, check in _CHECKS.items() if check is _positive)
NON_NEGATIVE_PARAMETERS = frozenset(p for p, check in _CHECKS.items() if check is _slope)


# Other libraries' names for the same families (PyTorch, papers), used only for suggestions.
_SYNONYMS = {"xavier": "glorot", "kaiming": "he", "msra": "he"}


def _suggest(name: str) -> str:
    """``" Did you mean ...?"`` naming each close initializer once, in the writer's style."""
    camel = any(c.isupper() for c in name)
    by_lower: dict[str, str] = {}
    for alias in ALIASES:
        by_lower.setdefault(alias.lower(), alias)
    wanted = name.lower()
    for other, ours in _SYNONYMS.items():
        wanted = wanted.replace(other, ours)
    close = close_matches(wanted, list(by_lower), n=8, cutoff=0.6)
    picked: dict[str, str] = {}
    for match in close:
        canonical = ALIASES[by_lower[match]]
        if canonical in picked:
            continue
        cls = SPECS[canonical].class_name
        picked[canonical] = cls if camel and cls else canonical
    if not picked:
        return ""
    return " Did you mean " + ", ".join(f"`{n}`" for n in list(picked.values())[:3]) + "?"


def check_call(init: InitCall, source: str = "<string>") -> list[Diagnostic]:
    """IP105/IP106 findings for one initializer call; an empty list when it is valid.

    >>> from keras_initpolicy.nodes import Argument, InitCall
    >>> [d.message for d in check_call(InitCall("he_norml"))]
    ['Unknown initializer `he_norml`. Did you mean `he_normal`, `he_uniform`, `random_normal`?']
    >>> bad = InitCall("random_normal", (Argument("stddev", -0.1),))
    >>> [d.message for d in check_call(bad)]
    ['Argument `stddev` must be positive. Received: stddev=-0.1']
    """
    canonical = canonical_name(init.name)
    if canonical is None:
        message = f"Unknown initializer `{init.name}`.{_suggest(init.name)}"
        return [Diagnostic.make("IP105", init.line, init.column, message, source)]
    sp = SPECS[canonical]
    found: list[Diagnostic] = []

    def report(arg, message):
        line, column = (arg.line, arg.column) if arg is not None and arg.line else (0, 0)
        if not line:
            line, column = init.line, init.column
        found.append(Diagnostic.make("IP106", line, column, message, source))

    positional_names = [p for p, _ in sp.params]
    seen: set[str] = set()
    n_positional = 0
    keyword_seen = False
    bound = {}
    for arg in init.args:
        if arg.name is None:
            if keyword_seen:
                report(arg, f"Positional argument follows keyword argument in `{init.name}`.")
                continue
            if n_positional >= len(positional_names):
                takes = (
                    f"at most {len(positional_names)} positional argument"
                    f"{'s' if len(positional_names) != 1 else ''} "
                    f"({', '.join(positional_names)})"
                    if positional_names
                    else "no positional arguments"
                )
                report(arg, f"`{init.name}` takes {takes}. Received: {arg.text}")
                n_positional += 1
                continue
            pname = positional_names[n_positional]
            n_positional += 1
        else:
            keyword_seen = True
            pname = arg.name
            if pname not in sp.allowed:
                report(arg, _unknown_keyword(init.name, sp, pname, arg))
                continue
        if pname in seen:
            report(arg, f"Argument `{pname}` given more than once in `{init.name}`.")
            continue
        seen.add(pname)
        error = _CHECKS[pname](pname, arg.value)
        if error:
            report(arg, error)
        else:
            bound[pname] = arg
    _check_together(init, bound, report)
    return found


def _unknown_keyword(init_name: str, sp: InitSpec, pname: str, arg) -> str:
    if pname == "variant":
        having = " and ".join(f"{f.name}_*" for f in VARIANCE_FAMILIES.values() if f.kwon_mode)
        return f"`{init_name}` has no variants; `variant` exists only on {having}. Received: {arg.text}"
    allowed = ", ".join(sp.allowed) if sp.allowed else "none"
    message = f"Unknown argument `{pname}` for `{init_name}`. Allowed: {allowed}."
    close = close_matches(pname, sp.allowed, n=1)
    if close:
        message += f" Did you mean `{close[0]}`?"
    return message


def _check_together(init: InitCall, bound: dict, report) -> None:
    """Checks that involve more than one argument."""
    lo, hi = bound.get("minval"), bound.get("maxval")
    if lo is not None or hi is not None:
        minval = lo.value if lo is not None else -0.05
        maxval = hi.value if hi is not None else 0.05
        if minval >= maxval:
            report(
                hi or lo,
                f"Argument `minval` must be less than `maxval`. "
                f"Received: minval={value_text(minval)}, maxval={value_text(maxval)}",
            )


def bind_args(init: InitCall, with_defaults: bool = False) -> dict:
    """The call's arguments by name: positionals mapped in Keras order, merged with keywords.

    Assumes ``check_call`` found nothing. With ``with_defaults`` every parameter not given
    takes its default (Keras's, or the extension's).

    >>> from keras_initpolicy.nodes import Argument, InitCall
    >>> bind_args(InitCall("RandomNormal", (Argument(None, 0.0), Argument(None, 0.02))))
    {'mean': 0.0, 'stddev': 0.02}
    """
    sp = spec(init.name)
    names = [p for p, _ in sp.params]
    bound = dict(sp.defaults) if with_defaults else {}
    positional = iter(names)
    for arg in init.args:
        key = next(positional) if arg.name is None else arg.name
        bound[key] = arg.value
    return bound
