"""``initpolicy audit --suggest``: a policy that fixes every error and warning ``kip.audit`` found.

One rule (or directive) per kind of fix, each preceded by a comment naming the findings it fixes:

- IP401 (shared streams) -> ``@seed``: every random weight built in the scope gets its own seed.
- IP402 (fans miscounted) -> a rule on the layer's class and weight with the initializer the code
  chose; policies compute fans from what the layer does (``fans=layer``), so the same family gets
  the variance the code meant.
- IP403 (symmetric start) and IP404 (scale vs activation along a deep chain) -> a rule on the
  class and effective activation with ``auto`` (He for the ReLU family, Glorot for tanh and
  linear, LeCun for SELU), or ``glorot_normal`` for logistic activations, as IP404 measures them
  (docs/diagnostics.md#ip404--scale-does-not-fit-the-activation-along-a-deep-chain).
- Any such rule comes with ``@explicit override``: the initializer the model code chose (in
  code or by Keras's default) is the problem, so the policy must win over it.

Rules select classes Keras ships (a custom layer is covered through its nearest built-in base),
never layer names, which change between builds.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..catalog import layers as catalog
from ..checks.diagnostics import SEVERITY_RANK, WARNING
from ..runtime import hooks
from ..runtime.activation import class_names, effective_activation
from .audit import initializer_of

__all__ = ["suggest_policy", "DEFAULT_SEED"]

DEFAULT_SEED = 1234
_LOGISTIC = frozenset({"sigmoid", "hard_sigmoid"})
_NAMED = {
    "GlorotUniform": "glorot_uniform",
    "GlorotNormal": "glorot_normal",
    "HeNormal": "he_normal",
    "HeUniform": "he_uniform",
    "LecunNormal": "lecun_normal",
    "LecunUniform": "lecun_uniform",
}
_SHOWN = 4


def _rule_class(layer) -> str | None:
    """The most derived public Keras built-in class of ``layer`` (``Layer`` itself excluded)."""
    for name in class_names(layer):
        if name in ("Layer", "Operation", "Model"):
            return None
        if catalog.is_builtin(name) and catalog.is_public(name):
            return name
    return None


def _initializer_call(init) -> str:
    name = type(init).__name__
    if name in _NAMED:
        return _NAMED[name]
    return (
        f"variance_scaling(scale={float(init.scale)!r}, mode={init.mode}, "
        f"distribution={init.distribution})"
    )


def _family_call(activation: str) -> str:
    return "glorot_normal" if activation in _LOGISTIC else "auto"


def _listed(paths: list[str]) -> str:
    shown = ", ".join(paths[:_SHOWN])
    return shown + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")


def suggest_policy(
    findings: Iterable, model, *, seed: int = DEFAULT_SEED, source: str | None = None
) -> str:
    """Policy text fixing every error and warning in ``findings`` (from ``kip.audit(model)``).

    The text is lint-clean; rebuilding the model under it makes those findings go away. Info
    findings (IP405) are not acted on. ``source`` names the model in the header comment.
    """
    findings = [f for f in findings if SEVERITY_RANK[f.severity] >= SEVERITY_RANK[WARNING]]
    layers = {getattr(x, "path", None) or x.name: x for x in [model, *hooks.nested_layers(model)]}
    shared: list[str] = []
    rules: dict[str, tuple[str, list[str]]] = {}  # rule -> (code, weight paths)
    manual: list[str] = []
    # IP403/IP404 first: an IP402 weight whose layer also gets a family rule is fixed by it
    # (``auto`` uses the true fans too), so no second, dead rule is written for it.
    for f in sorted(findings, key=lambda f: f.code == "IP402"):
        where = f"{f.layer_path}/{f.weight}"
        if f.code == "IP401":
            shared.append(where)
            continue
        layer = layers.get(f.layer_path)
        cls = _rule_class(layer) if layer is not None else None
        if cls is None:
            manual.append(f"# {f.code} on {where}: no Keras built-in class to select; fix by hand")
            continue
        act = effective_activation(layer).name
        family_rule = f"{cls}[activation={act}] -> {_family_call(act)}"
        if f.code != "IP402" or family_rule in rules:
            rule = family_rule
        else:
            init = initializer_of(layer, f.weight)
            if init is None:
                manual.append(f"# {f.code} on {where}: initializer not found; fix by hand")
                continue
            rule = f"{cls}.{f.weight} -> {_initializer_call(init)}"
        code, paths = rules.get(rule, (f.code, []))
        if f.code not in code.split("/"):
            code = f"{code}/{f.code}"
        rules[rule] = (code, paths + [where])

    lines = [f"# Suggested by `initpolicy audit --suggest` for {source or model.name}."]
    if shared:
        lines += [
            f"# fixes IP401 on {_listed(shared)}: these weights drew one random stream;",
            "# with @seed every random weight gets its own seed derived from this one",
            f"@seed {int(seed)}",
        ]
    if rules:
        lines += [
            "# the initializers below were chosen by the model code (explicitly or as Keras",
            "# defaults) and are the problem, so the policy's rules win over them",
            "@explicit override",
        ]
    for rule, (code, paths) in rules.items():
        why = {
            "IP402": "over the layer's true fans",
            "IP403": "random instead of constant",
            "IP404": "the family for the effective activation",
        }
        reasons = "; ".join(why[c] for c in code.split("/"))
        lines += [f"# fixes {code} on {_listed(paths)} ({reasons})", rule]
    lines += manual
    if len(lines) == 1:
        lines.append("# nothing to fix: no error or warning was found")
    return "\n".join(lines) + "\n"
