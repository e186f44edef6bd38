"""``Policy.explain(model)``: one ``Assignment`` per weight, as a table or JSON (README.md#python-api)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import keras

from ..html import html_table
from ..language.nodes import Rule
from ..runtime import hooks
from ..runtime.activation import effective_activation
from ..runtime.compile import evaluated_arguments, formula_arguments
from ..runtime.decision import WeightRequest, decide, resolver_for
from ..runtime.explicit import ATTR_FOR_WEIGHT, explicit_attributes
from ..runtime.records import layer_records
from ..runtime.structure import block_patterns, block_variables, count_blocks, model_layers

if TYPE_CHECKING:  # annotations only: policy.py reaches this module through its facade
    from ..policy import Policy

__all__ = ["Assignment", "Explanation", "explain_model", "describe_initializer"]


def describe_initializer(init, *, seed: bool = True) -> str:
    """``HeNormal(seed=3)``-style text for any initializer (or the string Keras was given).

    >>> import keras
    >>> describe_initializer(keras.initializers.VarianceScaling(16.0, "fan_avg", "uniform"))
    'VarianceScaling(scale=16, mode=fan_avg, distribution=uniform)'
    """
    if init is None:
        return "keras default"
    if isinstance(init, str):
        return init
    try:
        config = init.get_config()
    except Exception:  # noqa: BLE001
        return type(init).__name__
    shown = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in config.items()
        if v is not None and (seed or k != "seed")
    )
    return f"{type(init).__name__}({shown})" if shown else type(init).__name__


@dataclass
class Assignment:
    """What the policy gives one weight, and why."""

    layer_path: str
    layer_class: str
    weight: str
    shape: tuple
    fan_in: float
    fan_out: float
    activation: str
    activation_source: str
    rule: Rule | None
    reason: str  # "rule" | "explicit" | "keras-default"
    initializer: object
    reseeded: bool = False  # drawn from a copy of the code's/Keras's initializer with its own seed
    #: (argument, formula, value) for each formula of the rule (``stddev``, ``0.02 / sqrt(2 *
    #: blocks)``, 0.01); empty when the rule has none
    formulas: tuple = ()
    variable: object = field(default=None, repr=False, compare=False)
    layer: object = field(default=None, repr=False, compare=False)
    attr: str | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        rule = self.rule
        return {
            "layer_path": self.layer_path,
            "layer_class": self.layer_class,
            "weight": self.weight,
            "shape": list(self.shape),
            "fan_in": self.fan_in,
            "fan_out": self.fan_out,
            "activation": self.activation,
            "activation_source": self.activation_source,
            "rule": None
            if rule is None
            else {"text": rule.text, "source": rule.source, "line": rule.line},
            "reason": self.reason,
            "initializer": describe_initializer(self.initializer),
            "formulas": [
                {"argument": name, "formula": text, "value": value}
                for name, text, value in self.formulas
            ],
            "reseeded": self.reseeded,
        }

    def formulas_text(self) -> str:
        """``stddev=0.02 / sqrt(2 * blocks) = 0.00408248``, one per formula, ``; ``-joined."""
        return "; ".join(f"{name}={text} = {value:.6g}" for name, text, value in self.formulas)


class Explanation(list):
    """A list of ``Assignment`` in model order, with ``to_table()`` and ``to_json()``."""

    def to_dict(self) -> dict:
        return {"assignments": [a.to_dict() for a in self]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def find(self, layer_path: str, weight: str) -> Assignment:
        for a in self:
            if (
                a.layer_path == layer_path or a.layer_path.endswith("/" + layer_path)
            ) and a.weight == weight:
                return a
        raise KeyError(f"no weight {weight!r} on a layer {layer_path!r}")

    def to_table(self) -> str:
        head = (
            "layer",
            "class",
            "weight",
            "shape",
            "fan_in/out",
            "activation",
            "initializer",
            "why",
        )
        rows = [head]
        for a in self:
            why = a.reason
            if a.rule is not None and a.reason == "rule":
                why = f"{a.rule.source}:{a.rule.line} `{a.rule.text}`"
            elif a.reason == "explicit":  # kept over a rule only under @explicit keep
                why = "explicit in code" + (" (@explicit keep)" if a.rule is not None else "")
            if a.reseeded:
                why += ", reseeded"
            if a.variable is not None and not a.variable.trainable:
                act = "-"
            elif a.activation_source.startswith("graph: "):
                act = f"{a.activation} (via {a.activation_source.rsplit(' -> ', 1)[-1]})"
            elif a.activation_source == "own":
                act = a.activation
            else:
                act = f"{a.activation} ({a.activation_source})"
            rows.append(
                (
                    a.layer_path,
                    a.layer_class,
                    a.weight,
                    "x".join(map(str, a.shape)) or "()",
                    f"{a.fan_in:g}/{a.fan_out:g}",
                    act,
                    describe_initializer(a.initializer, seed=False)
                    + (f" [{a.formulas_text()}]" if a.formulas else ""),
                    why,
                )
            )
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(head) - 1)]
        lines = []
        for n, r in enumerate(rows):
            cells = [str(c).ljust(w) for c, w in zip(r[:-1], widths, strict=False)]
            lines.append("  ".join(cells + [str(r[-1])]).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 3)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_table()

    def _repr_html_(self) -> str:
        """The table of ``to_table`` as HTML, for notebooks (one row per weight)."""

        columns = ("layer", "class", "weight", "shape", "fan_in", "fan_out", "activation")
        columns += ("activation source", "initializer", "why", "rule")
        rows = []
        for a in self:
            rule = a.rule
            where = f"{rule.source}:{rule.line} {rule.text}" if rule is not None else ""
            rows.append(
                (a.layer_path, a.layer_class, a.weight, "x".join(map(str, a.shape)) or "()")
                + (a.fan_in, a.fan_out, a.activation, a.activation_source)
                + (
                    describe_initializer(a.initializer, seed=False)
                    + (f" [{a.formulas_text()}]" if a.formulas else ""),
                    a.reason + (", reseeded" if a.reseeded else ""),
                    where,
                )
            )
        return html_table(columns, rows, caption=f"{len(self)} weights")


def _walk(layer, chain: list, out: list) -> None:
    out.append((layer, list(chain)))
    inner_chain = chain if isinstance(layer, keras.Model) else [layer, *chain]
    for sub in hooks.sublayers(layer):
        _walk(sub, inner_chain, out)


def _attr_for(layer, weight: str) -> str | None:
    attr = ATTR_FOR_WEIGHT.get(weight, f"{weight}_initializer")
    return attr if hasattr(layer, attr) else None


def _request_for(layer, chain: list, var, ordinal: int, occurrence: int) -> WeightRequest:
    """The request Keras would have made for ``var`` (a weight no scope kept a record of)."""
    name = var.name.split("/")[-1]
    attr = _attr_for(layer, name)
    state = hooks.layer_state(layer)
    if state is not None and state.explicit is not None:
        chosen = state.explicit
    else:  # no weight of it was built in a scope: what its attributes say
        chosen = explicit_attributes(layer, state.given if state is not None else None)
    return WeightRequest(
        layer=layer,
        chain=tuple(chain),
        weight=name,
        shape=tuple(int(s) for s in var.shape),
        dtype=var.dtype,
        trainable=var.trainable,
        original=getattr(layer, attr) if attr else None,
        attr=attr,
        explicit=attr is not None and attr in chosen,
        ordinal=state.ordinal if state is not None else ordinal,
        occurrence=occurrence,
    )


def _formulas(policy: Policy, layer, d, counts) -> tuple:
    """``(argument, formula, value)`` for the formulas of the rule that decided ``d``."""
    if d.match is None or d.reason != "rule" or not formula_arguments(d.match.rule.init):
        return ()
    variables = {"fan_in": float(d.fan_in), "fan_out": float(d.fan_out)}
    variables.update(block_variables(policy, layer, counts))
    return tuple(evaluated_arguments(d.match.rule.init, variables))


def explain_model(policy: Policy, model) -> Explanation:
    """One ``Assignment`` per weight of ``model`` under ``policy`` (the model is not changed)."""
    resolver = resolver_for(policy)
    pairs: list = []
    _walk(model, [], pairs)
    n_blocks = count_blocks(policy, model_layers(model)) if block_patterns(policy) else None
    explanation = Explanation()
    seen: set[int] = set()
    for ordinal, (layer, chain) in enumerate(pairs, start=1):
        weights = hooks.own_weights(layer)
        if not weights:
            continue
        by_var = {id(r.variable): r for r in layer_records(layer).values()}
        activation = effective_activation(layer)
        counts: dict[str, int] = {}
        for var in weights:
            if id(var) in seen:
                continue
            seen.add(id(var))
            name = var.name.split("/")[-1]
            occurrence = counts[name] = counts.get(name, -1) + 1
            rec = by_var.get(id(var))
            if rec is not None and rec.state.policy == policy:
                d, attr, reseeded = rec.decision, rec.request.attr, rec.reseeded
                # What the rule was decided with, if it read the activation; else the graph's.
                shown = d.activation if d.match is not None and d.depends_on_graph else activation
            else:
                request = _request_for(layer, chain, var, ordinal, occurrence)
                attr, reseeded, shown = request.attr, False, activation
                d = decide(policy, resolver, request, activation, blocks=n_blocks)
            explanation.append(
                Assignment(
                    layer_path=getattr(layer, "path", None) or layer.name,
                    layer_class=type(layer).__name__,
                    weight=name,
                    shape=tuple(int(s) for s in var.shape),
                    fan_in=float(d.fan_in),
                    fan_out=float(d.fan_out),
                    activation=shown.name,
                    activation_source=shown.source,
                    rule=d.match.rule
                    if d.match is not None and d.reason != "keras-default"
                    else None,
                    reason=d.reason,
                    initializer=d.initializer,
                    reseeded=reseeded,
                    formulas=_formulas(policy, layer, d, n_blocks),
                    variable=var,
                    layer=layer,
                    attr=attr,
                )
            )
    return explanation
