"""IP404 of ``kip.audit``: scale that depth compounds.

The code: docs/diagnostics.md#ip404--scale-does-not-fit-the-activation-along-a-deep-chain.

A **chain** is a path of ≥ 4 weighted layers (layers with their own ``kernel``: Dense, every
convolution, EinsumDense) in a Sequential or Functional graph where each layer's output reaches
the next through nothing but weightless single-input layers (activations, dropout, reshaping,
pooling, padding). Normalization ends a chain, and a weighted layer whose output reaches a
normalization layer is scale-invariant, so it is never part of one; merges (``Add``: residual
connections, ``Concatenate``...), layers with other weights, nested models and raw ``keras.ops``
calls end a chain too. Subclassed layers have no graph to follow and form no chains.

A layer's **gain** is its kernel's measured second moment over the variance of the family for
its effective activation (``activation.effective_activation``): He ``2/((1+a²)·fan_in)`` for the
ReLU family and the smooth rectifiers ``auto`` gives He (gelu, silu, elu, ...), LeCun ``1/fan_in``
for SELU, and Glorot ``2/(fan_in+fan_out)`` or LeCun — whichever the layer is closer to — for
tanh, logistic, linear and softmax. Fans are the layer's true fans. A chain whose gains multiply
to ≥ 10 or ≤ 1/10 — any run of ≥ 4 consecutive layers of a chain, so that a chain whose
shrinking and growing parts cancel out still shows both — reports every layer of the run whose own
gain pushes that way by ≥ 25 % (≥ 5 % when none does).
"""

from __future__ import annotations

import math

import keras

from ..catalog.fans import layer_fans
from ..checks.diagnostics import Finding
from ..runtime import hooks
from ..runtime.activation import class_names, effective_activation
from ..runtime.compile import AUTO_TABLE

__all__ = ["chain_findings", "fan_config", "gain", "MIN_CHAIN", "COMPOUND_LIMIT"]

MIN_CHAIN = 4
COMPOUND_LIMIT = 10.0
#: a layer of an offending chain is reported when its own gain pushes that way by this much;
#: when none does, every layer that pushes that way by ``_PER_LAYER_MIN`` is
_PER_LAYER = 1.25
_PER_LAYER_MIN = 1.05
_MAX_PATHS = 10_000
_NORMALIZATION = frozenset(
    {
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "RMSNormalization",
        "SpectralNormalization",
    }
)
_ACTIVATION_LAYERS = frozenset({"Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"})


def fan_config(layer) -> dict:
    """What ``layer_fans`` reads of a layer's config (``groups``, ``equation``), taken from its
    attributes: ``get_config()`` does more work (on Keras 3.15 serializing the dtype policy
    even imports TensorFlow)."""
    return {
        key: value
        for key in ("groups", "equation")
        if (value := getattr(layer, key, None)) is not None
    }


def _kind(op) -> str:
    """``norm``, ``weighted``, ``pass`` (looked through) or ``stop`` (ends the chain)."""
    if not isinstance(op, keras.layers.Layer) or isinstance(op, keras.Model):
        return "stop"
    names = set(class_names(op))
    if names & _NORMALIZATION:
        return "norm"
    if "Merge" in names:
        return "stop"
    own = [v for v in hooks.own_weights(op) if v.trainable]
    if any(v.name.split("/")[-1] == "kernel" for v in own) and not hooks.sublayers(op):
        return "weighted"
    if names & _ACTIVATION_LAYERS or not op.trainable_weights:
        return "pass"
    return "stop"


def _successors(layer) -> tuple[list, bool]:
    """Weighted layers reached from ``layer`` through pass-through layers; and whether its
    output reaches a normalization layer."""
    found, normalized, seen = [], False, set()
    frontier = list(hooks.consumers(layer))
    while frontier:
        op = frontier.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        kind = _kind(op)
        if kind == "norm":
            normalized = True
        elif kind == "weighted":
            found.append(op)
        elif kind == "pass":
            frontier.extend(hooks.consumers(op))
    return found, normalized


def _family_targets(activation) -> tuple[str, list]:
    """The family's name and its variance formulas ``f(fan_in, fan_out)`` for ``activation``."""
    chosen = AUTO_TABLE.get(activation.name, "glorot")
    if chosen == "he":
        slope = float(activation.negative_slope or 0.0)
        name = "He" if slope == 0 else f"He (slope {slope:g})"
        return name, [lambda fi, fo: 2.0 / ((1.0 + slope * slope) * fi)]
    if chosen == "lecun":
        return "LeCun", [lambda fi, fo: 1.0 / fi]
    return "Glorot/LeCun", [lambda fi, fo: 2.0 / (fi + fo), lambda fi, fo: 1.0 / fi]


def gain(layer, kernel) -> tuple[float, str, str]:
    """``(gain, family, activation name)`` of ``layer`` whose kernel values are ``kernel``
    (a ``WeightValues``)."""
    fan_in, fan_out = layer_fans(class_names(layer), fan_config(layer), "kernel", kernel.shape)
    fan_in, fan_out = max(1.0, float(fan_in)), max(1.0, float(fan_out))
    activation = effective_activation(layer)
    family, targets = _family_targets(activation)
    measured = kernel.second_moment()
    gains = [measured / t(fan_in, fan_out) for t in targets]
    best = min(gains, key=lambda g: abs(math.log(g)) if g > 0 else math.inf)
    return best, family, activation.name


def _graphs(model) -> list:
    """``model`` and every nested model that has a graph."""
    out = [model] + [m for m in hooks.nested_layers(model) if isinstance(m, keras.Model)]
    return [m for m in out if hooks.graph_operations(m)]


def _paths(nodes: list, edges: dict) -> list[list]:
    """Maximal paths of the DAG ``edges`` (by id) over ``nodes``, at most ``_MAX_PATHS``."""
    has_pred = {id(t) for targets in edges.values() for t in targets}
    paths: list[list] = []
    stack = [[n] for n in nodes if id(n) not in has_pred]
    while stack and len(paths) < _MAX_PATHS:
        path = stack.pop()
        nxt = [t for t in edges.get(id(path[-1]), ()) if all(t is not p for p in path)]
        if not nxt:
            paths.append(path)
        stack.extend(path + [t] for t in nxt)
    return paths


def _pushes(g: float, total: float, limit: float) -> bool:
    """Does a layer with gain ``g`` push a chain whose product is ``total`` by ``limit``?"""
    return g <= 1 / limit if total < 1 else g >= limit


def _windows(logs: list[float]):
    """For each start, the strongest run of >= MIN_CHAIN layers in each direction whose gains
    compound past the limit: ``(start, stop, log of the product)``."""
    prefix = [0.0]
    for v in logs:
        prefix.append(prefix[-1] + v)
    limit = math.log(COMPOUND_LIMIT)
    for i in range(len(logs) - MIN_CHAIN + 1):
        sums = [(prefix[j] - prefix[i], j) for j in range(i + MIN_CHAIN, len(logs) + 1)]
        for total, j in (max(sums), min(sums)):
            if abs(total) >= limit:
                yield i, j, total


def _names(path: list) -> str:
    names = [p.name for p in path]
    if len(names) > 6:
        names = names[:3] + ["..."] + names[-2:]
    return " -> ".join(names)


def chain_findings(model, weights: dict, source: str) -> list[Finding]:
    """IP404 findings for ``model``; ``weights`` maps ``(layer_path, name)`` to ``WeightValues``."""
    best: dict[int, tuple[float, Finding]] = {}
    for graph in _graphs(model):
        nodes, edges = [], {}
        for op in hooks.graph_operations(graph):
            if _kind(op) != "weighted":
                continue
            targets, normalized = _successors(op)
            if not normalized:
                nodes.append(op)
                edges[id(op)] = targets
        keep = {id(n) for n in nodes}
        edges = {k: [t for t in v if id(t) in keep] for k, v in edges.items()}
        gains: dict[int, tuple] = {}
        for n in nodes:
            kernel = weights.get((getattr(n, "path", None) or n.name, "kernel"))
            if kernel is not None and kernel.second_moment() > 0:
                gains[id(n)] = (*gain(n, kernel), kernel)
        for path in _paths(nodes, edges):
            path = [n for n in path if id(n) in gains]
            logs = [math.log(gains[id(n)][0]) for n in path]
            for i, j, log_total in _windows(logs):
                _report(path[i:j], gains, math.exp(log_total), source, best)
    return [f for _, f in best.values()]


def _report(window: list, gains: dict, total: float, source: str, best: dict) -> None:
    """Record a finding for each layer of ``window`` that pushes it toward ``total``."""
    limit = _PER_LAYER
    if not any(_pushes(gains[id(n)][0], total, limit) for n in window):
        limit = _PER_LAYER_MIN
    strength = abs(math.log(total))
    effect = "shrinks" if total < 1 else "grows"
    for n in window:
        g, family, act, kernel = gains[id(n)]
        if not _pushes(g, total, limit) or (id(n) in best and best[id(n)][0] >= strength):
            continue
        message = (
            f"{kernel.path}: variance {kernel.second_moment():.3g} is {g:.3g}x the "
            f"{family} variance for its {act} activation; along {len(window)} weighted layers "
            f"with no normalization or residual between them ({_names(window)}) the gains "
            f"compound to {total:.3g}x, which {effect} the signal"
        )
        best[id(n)] = (
            strength,
            Finding.about("IP404", source, kernel.layer_path, "kernel", message),
        )
