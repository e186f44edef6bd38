"""Hover text (Markdown) for a token of a policy: what an initializer draws, what a class creates.

Facts come from the catalogues (``catalog/initializers.py``, ``catalog/layers.py``) and the
formula table of docs/reference.md#formulas; nothing here imports Keras.

>>> print(initializer_doc("he_normal").splitlines()[0])
**he_normal** — Keras `HeNormal` (He/Kaiming: ReLU family)
>>> "σ = √(2/fan_in)" in initializer_doc("he_normal")
True
"""

from __future__ import annotations

from ..catalog import initializers as ic
from ..catalog import layers as lc
from ..checks.names import DIRECTIVES
from ..errors import PolicyError
from ..language.expressions import FUNCTIONS, NUMERIC_PARAMETERS, VARIABLES
from ..language.nodes import Rule, value_text
from ..language.parser import parse_file
from .presets import PREFIX, preset_name, preset_names, preset_text
from .text import context_at, token_at, tokens

__all__ = [
    "hover_at",
    "initializer_doc",
    "class_doc",
    "weight_doc",
    "attribute_doc",
    "argument_doc",
    "directive_doc",
    "preset_doc",
    "DIRECTIVE_DOCS",
]

# Families other than Glorot, He and LeCun, whose titles are declared with them
# (``catalog/initializers.py``).
_FAMILY_TITLES = {
    "variance_scaling": "variance scaling",
    "orthogonal": "orthogonal",
    "identity": "identity matrix",
    "random": "fixed-scale random",
    "constant": "constant",
    "auto": "chosen from the effective activation",
}

_FANS = (
    "Fans are layer-aware: depthwise kernels use the per-channel receptive field "
    "(fan_in = kh·kw), grouped convolutions count one group, transposed convolutions swap the "
    "channel axes, EinsumDense reads its equation. `fans=shape` uses Keras's shape-only rule."
)

DIRECTIVE_DOCS = {
    "seed": "`@seed N` — reproducible builds: every weight gets its own seed derived from N.",
    "explicit": "`@explicit keep|override` — `keep` (default): initializers written in code win; "
    "`override`: the policy wins.",
    "include": '`@include "path.initpolicy"` or `@include "preset:NAME"` — the rules of the '
    "included file come first (relative to this file; cycles are errors).",
    "blocks": '`@blocks "PATTERN"` — layer paths of repeated blocks (`*` globs, `{i}` an '
    "integer), so that expressions can use `depth` (the enclosing block's index) and `blocks`.",
    "sampler": "`@sampler keras|fast` — `keras` (default): every weight is Keras's own draw for "
    "its initializer and seed; `fast`: the same distribution by a faster method (values differ "
    "from Keras's for the same seed).",
}


def _num(value) -> str:
    """A number as ``%g``; an expression (docs/reference.md#expressions-and-variables) or a
    word as the policy spells it."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return value if isinstance(value, str) else value_text(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fan_expr(mode: str, scale, factor: int = 1) -> str:
    """``√(c/fan_in)`` or ``√(c/(fan_in+fan_out))``: the root of ``factor·scale/n`` for the fan
    ``n`` of ``mode``; a ``scale`` given as an expression stays symbolic."""
    k = 2 * factor if mode == "fan_avg" else factor
    if _is_number(scale):
        coeff = _num(k * scale)
    else:
        coeff = _num(scale) if k == 1 else f"{k}·({_num(scale)})"
    return f"√({coeff}/(fan_in+fan_out))" if mode == "fan_avg" else f"√({coeff}/{mode})"


def _vs_params(canonical: str, bound: dict) -> tuple[object, str, str]:
    """(scale, mode, distribution) of a variance-scaling initializer call, from the declared
    families (``catalog/initializers.py``, as the compiler reads them); the scale is None when
    it is He's ``2/(1+a²)`` with a slope that is not a number (``auto``, an expression)."""
    return ic.variance_params(canonical, bound)


def _vs_lines(canonical: str, bound: dict) -> list[str]:
    scale, mode, dist = _vs_params(canonical, bound)
    fam = ic.variance_family(canonical)
    slope = bound.get("negative_slope", 0)
    if scale is None:  # he_*(negative_slope=auto or an expression)
        if mode == "fan_avg":  # variant=kwon
            sigma = "√(4/((1+a²)·(fan_in+fan_out)))"
            radius = "√(12/((1+a²)·(fan_in+fan_out)))"
        else:
            sigma, radius = "√(2/((1+a²)·fan_in))", "√(6/((1+a²)·fan_in))"
        if slope == "auto":
            note = ["a = the negative slope of the effective activation (LeakyReLU's, 0 for relu)."]
        else:
            note = [f"a = {_num(slope)} (the negative slope)."]
    else:
        sigma, radius, note = _fan_expr(mode, scale), _fan_expr(mode, scale, 3), []
        if fam is not None and fam.negative_slope and mode == "fan_in" and slope:
            sigma = f"√(2/((1+a²)·fan_in)) = {sigma}"
            radius = f"√(6/((1+a²)·fan_in)) = {radius}"
            note = [f"a = {_num(slope)} (the negative slope)."]
    if dist == "uniform":
        lines = [f"Distribution: uniform U[-r, r], r = {radius} (Var = r²/3)."]
    elif dist == "truncated_normal":
        lines = [
            f"Distribution: truncated normal, σ = {sigma} "
            "(cut at ±2σ of the drawing normal, corrected so the result has this σ)."
        ]
    else:
        lines = [f"Distribution: normal N(0, σ), σ = {sigma}."]
    if fam is not None and fam.kwon_logistic_scale and bound.get("variant") == "kwon":
        factor = _num((fam.kwon_logistic_scale / fam.scale) ** 0.5)
        note.append(f"`variant=kwon`: σ and r ×{factor} when the effective activation is sigmoid.")
    lines += note
    lines.append(f"Scale {_num(scale)}, mode {mode}. {_FANS}")
    return lines


def _random_lines(canonical: str, bound: dict) -> list[str]:
    b = {**ic.spec(canonical).defaults, **bound}
    fans = (
        "" if all(_is_number(v) for v in b.values() if v is not None) else " (via its expressions)"
    )
    if canonical == "random_uniform":
        lo, hi = b["minval"], b["maxval"]
        return [f"Distribution: uniform U[{_num(lo)}, {_num(hi)}] (Var = (maxval-minval)²/12)."]
    if canonical == "truncated_normal":
        return [
            f"Distribution: N({_num(b['mean'])}, {_num(b['stddev'])}) with values beyond 2σ "
            f"redrawn (the result's σ is ≈ 0.88·stddev).{' Fans are not used.' if not fans else ''}"
        ]
    used = f" Fans are used{fans}." if fans else " Fans are not used."
    return [f"Distribution: normal N({_num(b['mean'])}, {_num(b['stddev'])}).{used}"]


def _other_lines(canonical: str, bound: dict) -> list[str]:
    fam = ic.family(canonical)
    b = {**ic.spec(canonical).defaults, **bound}
    if fam == "constant":
        value = {"zeros": 0, "ones": 1}.get(canonical, b.get("value", 0.0))
        return [
            f"Every element equals {_num(value)}: no randomness, so units start identical "
            "(fine for biases and normalization weights, a symmetric start for kernels)."
        ]
    if fam == "orthogonal":
        return [
            f"A (semi-)orthogonal matrix (QR of a normal draw; the weight flattened to 2-D) "
            f"times gain={_num(b['gain'])}: element variance gain²/max(rows, cols)."
        ]
    if fam == "identity":
        return [f"gain·I with gain={_num(b['gain'])}; only for rank-2 (matrix) weights."]
    return [  # auto
        "Chosen from the effective activation: relu family → He (with its slope); tanh → Glorot; "
        "sigmoid → Glorot with the Kwon ×4 variant; selu → LeCun normal; linear/softmax → "
        "Glorot; gelu/silu/elu/swish → He. `auto(distribution=uniform)` picks the uniform "
        f"members. {_FANS}"
    ]


def initializer_doc(name: str, bound: dict | None = None) -> str:
    """Markdown: the initializer's Keras class, distribution, variance formula and parameters."""
    canonical = ic.canonical_name(name)
    if canonical is None:
        return f"**{name}** — not an initializer this package knows."
    sp = ic.SPECS[canonical]
    bound = bound or {}
    keras_name = f"Keras `{sp.class_name}`" if sp.class_name else "keras-initpolicy"
    declared = ic.variance_family(canonical)
    title = declared.title if declared is not None else _FAMILY_TITLES[sp.family]
    head = f"**{canonical}** — {keras_name} ({title})"
    if canonical in ic.VARIANCE_SCALING and canonical != "auto":
        body = _vs_lines(canonical, bound)
    elif sp.family == "random":
        body = _random_lines(canonical, bound)
    else:
        body = _other_lines(canonical, bound)
    params = ", ".join(f"{p}={value_text(d)}" for p, d in sp.params) or "none"
    ext = ", ".join(f"{p}={value_text(d)}" for p, d in sp.extensions)
    tail = f"Parameters: {params}" + (f"; keyword-only: {ext}" if ext else "")
    if bound:
        tail += "\n\nThis call: " + ", ".join(f"{k}={value_text(v)}" for k, v in bound.items())
    return "\n\n".join([head, *body, tail])


def class_doc(name: str) -> str:
    """Markdown: the layer class, its bases and the weights it creates."""
    canonical = lc.canonical_class(name)
    if name == "*":
        return "`*` — any layer class."
    if canonical is None:
        return (
            f"**{name}** — not a Keras layer class. A custom layer is fine; register it "
            "(`--custom-layers`) so that lint knows its weights."
        )
    alias = f" (alias of `{canonical}`)" if canonical != name else ""
    bases = " → ".join(lc.mro(canonical)[1:]) or "none"
    lines = [f"**{name}**{alias} — bases: {bases}"]
    if lc.is_open(canonical):
        lines.append("Its weights depend on user code (any weight name may appear).")
    elif not lc.weights_known(canonical):
        lines.append("The catalogue could not build this class; its weights are not listed.")
    else:
        entries = lc.weight_entries(canonical)
        if entries:
            rows = ["| weight | trainable | rank | created by |", "|---|---|---|---|"]
            for w in entries:
                rows.append(
                    f"| `{w.name}` | {'yes' if w.trainable else 'no'} | {w.rank} | {w.owner} |"
                )
            lines.append("\n".join(rows))
            kernel_like = sorted(
                {
                    w.name
                    for w in entries
                    if w.trainable and w.rank >= 2 and w.name != "recurrent_kernel"
                }
            )
            lines.append(
                "A rule without a weight part targets: "
                + (", ".join(f"`{k}`" for k in kernel_like) or "nothing (no kernel-like weight)")
            )
        else:
            lines.append("Creates no weights.")
    if lc.has_activation(canonical):
        lines.append("Takes an `activation` of its own.")
    return "\n\n".join(lines)


def weight_doc(cls: str | None, weight: str) -> str:
    """Markdown: where ``cls`` creates the weight ``weight``."""
    canonical = lc.canonical_class(cls) if cls and cls != "*" else None
    found = [w for w in lc.weight_entries(canonical)] if canonical else []
    found = [w for w in found if w.name == weight]
    if not found:
        return f"`.{weight}` — a weight name (as Keras names the variable)."
    parts = [
        f"created by `{w.owner}`, rank {w.rank}, {'trainable' if w.trainable else 'not trainable'}"
        for w in found
    ]
    return f"`{cls}.{weight}` — " + "; ".join(dict.fromkeys(parts))


def attribute_doc(cls: str | None, attr: str) -> str:
    if attr in lc.ALWAYS_ATTRIBUTES:
        meaning = {
            "name": "the layer's name",
            "path": "the layer's path in the model (`layer.path`)",
            "activation": "the effective activation (own, or applied by the following layers)",
        }[attr]
        return f"`{attr}` — {meaning}; compare with `=`, `!=`, `in`, `~=`."
    kinds = lc.attribute_kinds(cls).get(attr) if cls and cls != "*" else None
    shown = f" (a {kinds} in `{cls}`'s config)" if kinds else ""
    return f"`{attr}` — a key of the layer's `get_config()`{shown}."


def argument_doc(init: str | None, name: str) -> str:
    """Markdown: one parameter of an initializer, with its default."""
    canonical = ic.canonical_name(init or "")
    if canonical is None:
        return f"`{name}` — an argument."
    defaults = ic.SPECS[canonical].defaults
    if name not in defaults:
        allowed = ", ".join(f"`{p}`" for p in ic.SPECS[canonical].allowed) or "none"
        return f"`{name}` — not an argument of `{canonical}`; allowed: {allowed}."
    numeric = (
        " May be an expression (`fan_in`, `sqrt(...)`, ...)." if name in NUMERIC_PARAMETERS else ""
    )
    return f"`{name}` of `{canonical}` — default {value_text(defaults[name])}.{numeric}"


def directive_doc(name: str) -> str:
    if name in DIRECTIVES and name not in DIRECTIVE_DOCS:
        return f"`@{name}` — a directive (see the policy language documentation)."
    return DIRECTIVE_DOCS.get(
        name,
        f"`@{name}` — unknown directive; directives: " + ", ".join(f"`@{d}`" for d in DIRECTIVES),
    )


def preset_doc(name: str) -> str:
    """Markdown: the rules of a shipped preset (or which presets exist)."""
    text = preset_text(name)
    if text is None:
        known = preset_names()
        listed = ", ".join(f"`{n}`" for n in known) if known else "none in this installation"
        return f"No preset named `{name}`. Presets: {listed}."
    try:
        rules = parse_file(text, f"{PREFIX}{name}").rules
    except PolicyError:
        rules = ()
    lines = text.splitlines()
    paragraphs: list[list[str]] = [[]]  # the comment lines, rewrapped into paragraphs
    for ln in lines:
        if ln.lstrip().startswith("#"):
            words = ln.lstrip().lstrip("#").strip()
            if words:
                paragraphs[-1].append(words)
            elif paragraphs[-1]:
                paragraphs.append([])
    about = [" ".join(p) for p in paragraphs if p][:3]
    body = "\n".join(ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#"))
    head = f"**preset:{name}** — {len(rules)} rule{'s' if len(rules) != 1 else ''}"
    return "\n\n".join([head, *about, f"```initpolicy\n{body}\n```"])


def _bound_args(line: str, start: int) -> dict:
    """The arguments of the initializer call starting at ``start``, if that part parses."""
    stop = len(line)
    for tok in tokens(line):
        if tok.start > start and (tok.kind == "comment" or tok.text == ";"):
            stop = tok.start
            break
    try:
        pfile = parse_file("* -> " + line[start:stop])
    except PolicyError:
        return {}
    rule = pfile.rules[0] if pfile.rules else None
    if not isinstance(rule, Rule) or ic.canonical_name(rule.init.name) is None:
        return {}
    try:  # arguments lint rejects (too many, unknown) leave nothing to show
        return ic.bind_args(rule.init)
    except (KeyError, StopIteration, TypeError, ValueError):
        return {}


def hover_at(text: str, line: int, column: int) -> tuple[str, tuple[int, int]] | None:
    """(Markdown, (start, end) columns of the token) for the token at the cursor, or None."""
    lines = text.split("\n")
    if not 0 <= line < len(lines):
        return None
    src = lines[line]
    tok = token_at(src, column)
    if tok is None or tok.kind not in ("name", "directive", "string", "punct"):
        return None
    if tok.kind == "punct" and tok.text != "*":
        return None
    ctx = context_at(text, line, tok.end)
    span = (tok.start, tok.end)
    if tok.kind == "directive":
        return directive_doc(tok.text[1:]), span
    if tok.text == "*":
        star = context_at(text, line, tok.start).kind == "class"
        return (class_doc("*"), span) if star else None
    if ctx.kind == "class":
        return class_doc(tok.text), span
    if ctx.kind == "weight":
        return weight_doc(ctx.cls, tok.text), span
    if ctx.kind == "attribute":
        return attribute_doc(ctx.cls, tok.text), span
    if ctx.kind == "initializer":
        return initializer_doc(tok.text, _bound_args(src, tok.start)), span
    if ctx.kind == "argument":
        return argument_doc(ctx.init, tok.text), span
    if ctx.kind in ("expression", "argument_value") and tok.text in VARIABLES:
        return f"`{tok.text}` — {VARIABLES[tok.text]}.", span
    if ctx.kind in ("expression", "argument_value") and tok.text in FUNCTIONS:
        fewest, most = FUNCTIONS[tok.text]
        takes = f"{fewest} argument" if fewest == most == 1 else f"{fewest} or more arguments"
        return f"`{tok.text}(...)` — a function of an expression; takes {takes}.", span
    if ctx.kind == "directive_value" and ctx.attr == "include" and tok.kind == "string":
        name = preset_name(tok.text.strip('"'))
        if name is not None:
            return preset_doc(name), span
    return None
