"""Applying a policy while Keras builds models (SPEC §3): scopes, the decorator, ``apply``.

``keras_hooks`` forwards Keras events here; ``decision.py`` decides each weight. Each weight is
decided once, when Keras creates it. A weight whose rule depends on the effective activation of a layer
without its own activation is decided provisionally and re-decided once, when the Functional
graph that contains the layer is complete (``on_functional``) — never later, so loading or
assigning weights afterwards is never overwritten.
"""

from __future__ import annotations

import contextvars
import functools
import os
import warnings
import weakref
from dataclasses import dataclass, field

import keras

from ..errors import PolicyError, UnusedRuleWarning
from ..policy import Policy, load
from ..resolve import KERNEL_LIKE_EXCLUDED, Resolver
from . import hooks
from .activation import ActivationInfo, class_names, effective_activation, own_activation
from .decision import (
    Decision,
    build_error,
    compile_decision,
    decide,
    enclosing_layers,
    initializer_attr,
    resolver_for,
)

__all__ = ["PolicyScope", "apply_policy", "apply_to_model", "current_scope"]

_current: contextvars.ContextVar[ScopeState | None] = contextvars.ContextVar(
    "keras_initpolicy_scope", default=None
)


def current_scope() -> ScopeState | None:
    return _current.get()


@dataclass
class ScopeState:
    """Everything one scope (or one decorated call) knows. Layers keep a reference to it, so a
    model created inside and built later, outside, still follows the policy."""

    policy: Policy
    resolver: Resolver = field(init=False)
    layer_count: int = 0
    matched: set = field(default_factory=set)
    layers: list = field(default_factory=list)  # weakrefs, for the unused-rule report
    placeholders: list = field(default_factory=list)  # records awaiting their graph
    active: bool = True

    def __post_init__(self) -> None:
        self.resolver = resolver_for(self.policy)

    def next_ordinal(self) -> int:
        self.layer_count += 1
        return self.layer_count


# -- callbacks from keras_hooks ----------------------------------------------------------------


class _Callbacks:
    @staticmethod
    def wants_new_layer() -> bool:
        return _current.get() is not None

    @staticmethod
    def on_new_layer(layer, cls, args, kwargs, creator) -> None:
        state = _current.get()
        if state is None:
            return
        explicit = _explicit_initializers(cls, args, kwargs)
        if creator is not None and type(creator).__module__.startswith("keras."):
            # A Keras layer building its parts (LSTM -> cell, MHA -> EinsumDense) passes its own
            # initializers down: they are explicit only if the user gave them to the outer layer.
            explicit = set(getattr(creator, "_kip_explicit", ())) & explicit
        object.__setattr__(layer, "_kip_state", state)
        if explicit:
            object.__setattr__(layer, "_kip_explicit", frozenset(explicit))
        object.__setattr__(layer, "_kip_ordinal", state.next_ordinal())
        state.layers.append(weakref.ref(layer))

    @staticmethod
    def on_add_weight(layer, original, args, kwargs):
        state = getattr(layer, "_kip_state", None) or _current.get()
        if state is None:
            return original(layer, *args, **kwargs)
        kwargs = dict(kwargs)
        for key, value in zip(("shape", "initializer", "dtype"), args, strict=False):
            kwargs.setdefault(key, value)
        return _add_weight(state, layer, original, kwargs)

    @staticmethod
    def on_functional(model) -> None:
        _resolve_graph(model)


def _explicit_initializers(cls, args, kwargs) -> set[str]:
    names = {k for k, v in kwargs.items() if k.endswith("_initializer") and v is not None}
    if args:
        params = _init_params(cls)
        pairs = zip(params, args, strict=False)
        names |= {p for p, v in pairs if p.endswith("_initializer") and v is not None}
    return names


@functools.lru_cache(maxsize=1024)
def _init_params(cls) -> tuple[str, ...]:
    import inspect

    try:
        return tuple(inspect.signature(cls.__init__).parameters)[1:]
    except (TypeError, ValueError):
        return ()


_PLACEHOLDER = keras.initializers.Zeros()
_NO_GRAPH = ActivationInfo("linear", None, "default (no graph)")


def _add_weight(state: ScopeState, layer, original, kwargs):
    weight = kwargs.get("name") or "weight"
    shape = kwargs.get("shape") or ()
    initializer = kwargs.get("initializer")
    trainable = kwargs.get("trainable", True)
    if not trainable:
        return original(layer, **kwargs)  # non-trainable state is never touched
    if not hasattr(layer, "_kip_ordinal"):
        object.__setattr__(layer, "_kip_ordinal", state.next_ordinal())
    counts = layer.__dict__.setdefault("_kip_counts", {})
    occurrence = counts[weight] = counts.get(weight, -1) + 1
    own = own_activation(layer)
    provisional = own or _NO_GRAPH
    attr = initializer_attr(layer, initializer, weight)
    explicit = attr is not None and attr in getattr(layer, "_kip_explicit", ())
    chain = enclosing_layers(layer)
    args = (
        state.policy, state.resolver, layer, chain, weight, shape,
        kwargs.get("dtype") or getattr(layer, "variable_dtype", None), trainable, initializer,
        explicit, provisional, layer._kip_ordinal, occurrence,
    )  # fmt: skip
    decision = decide(*args, compile=False)
    # A weight whose layer has no activation of its own may change rule once the graph is
    # known: when some predicate reads `activation`, or its initializer depends on it.
    pending = own is None and state.resolver.activation_sensitive(
        [class_names(lyr) for lyr in (layer, *chain)],
        weight,
        len(shape) >= 2 and weight not in KERNEL_LIKE_EXCLUDED,
    )
    # Inside an active scope such a weight starts as a cheap placeholder and is drawn once,
    # when its graph completes or when the scope ends, whichever comes first.
    placeholder = pending and state.active
    if placeholder:
        kwargs["initializer"] = _PLACEHOLDER
    elif decision.reason == "rule":
        decision = compile_decision(
            state.policy, decision, layer, weight, shape, args[6], layer._kip_ordinal, occurrence
        )
        kwargs["initializer"] = decision.initializer
    try:
        variable = original(layer, **kwargs)
    except (ValueError, TypeError) as exc:
        if decision.reason != "rule":
            raise
        raise build_error(layer, weight, shape, decision.match, str(exc)) from None
    if decision.reason == "rule" and attr is not None:
        object.__setattr__(layer, attr, decision.initializer)
    if decision.match is not None and state.active:
        state.matched.add(decision.match.rule.index)
    if decision.match is None and not pending:
        return variable  # what Keras would do anyway; explain() recomputes it on demand
    key = weight if occurrence == 0 else f"{weight}#{occurrence}"
    records = layer.__dict__.setdefault("_kip_records", {})
    record = _Record(
        variable, decision, attr, explicit, initializer, state, pending, placeholder,
        weakref.ref(layer), tuple(chain), args if placeholder else (),
    )  # fmt: skip
    records[key] = record
    if placeholder:
        state.placeholders.append(record)
    return variable


@dataclass(slots=True)
class _Record:
    """Provenance of one weight: what was decided, from which rule, and what Keras would use."""

    variable: object
    decision: Decision
    attr: str | None
    explicit: bool
    original: object
    state: ScopeState
    pending: bool
    placeholder: bool = False
    layer_ref: object = None  # weakref to the owning layer
    reopen: bool = False  # decided at a graph output; a rebuilt graph may still add a consumer
    chain: tuple = ()  # enclosing layers at creation
    args: tuple = ()  # the arguments of the provisional decision

    def draw(self, initializer, layer) -> None:
        """Give the variable its real initial value (the one and only extra initialization)."""
        init = keras.initializers.get(initializer if initializer is not None else "glorot_uniform")
        var = self.variable
        var.assign(init(tuple(var.shape), dtype=var.dtype))
        if self.attr is not None and layer is not None:
            object.__setattr__(layer, self.attr, init)
        self.placeholder = False


def _resolve_graph(model) -> None:
    """Decide the graph-dependent weights of the layers of a finished graph.

    A layer at the graph's output has no consumer yet. While its scope is active it may gain
    one (``Sequential.add`` rebuilds the graph), so such a weight is drawn now, from its own
    activation, and may be re-decided once more, when a rebuilt graph gives it a consumer.
    """
    for op in hooks.graph_operations(model):
        records = op.__dict__.get("_kip_records")
        if not records or not any(r.pending or r.reopen for r in records.values()):
            continue
        activation = effective_activation(op)
        at_output = not hooks.consumers(op)
        for key, rec in records.items():
            if rec.pending:
                rec.pending = False
                rec.reopen = at_output and rec.state.active
            elif rec.reopen and rec.state.active and not at_output:
                rec.reopen = False
            else:
                continue
            _redecide(op, key, rec, activation)


def _redecide(op, key: str, rec, activation) -> None:
    state, var = rec.state, rec.variable
    weight, _, occ = key.partition("#")
    new = decide(
        state.policy, state.resolver, op, list(rec.chain), weight, var.shape, var.dtype,
        var.trainable, rec.original, rec.explicit, activation, op._kip_ordinal, int(occ or 0),
    )  # fmt: skip
    if new.match is not None and state.active:
        state.matched.add(new.match.rule.index)
    if rec.placeholder or not _same_initializer(new.initializer, rec.decision.initializer):
        rec.draw(new.initializer, op)
    rec.decision = new


def _same_initializer(a, b) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and a.get_config() == b.get_config()
    except Exception:  # noqa: BLE001
        return False


# -- public API --------------------------------------------------------------------------------


class PolicyScope:
    """``with policy.scope(): ...`` — models built inside follow ``policy``.

    Scopes are per thread and per asyncio task (contextvars) and are always restored. An inner
    scope replaces an outer one for its duration (policies do not merge).
    """

    def __init__(self, policy: Policy) -> None:
        if not isinstance(policy, Policy):
            raise TypeError(f"PolicyScope expects a kip.Policy; received {type(policy).__name__}")
        self.policy = policy
        self.state: ScopeState | None = None
        self._token = None

    def __enter__(self) -> PolicyScope:
        if self._token is not None:
            raise RuntimeError(
                "this policy scope is already active; create a new one with policy.scope()"
            )
        hooks.install(_Callbacks)
        self.state = ScopeState(self.policy)
        self._token = _current.set(self.state)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        _current.reset(self._token)
        self._token = None
        state = self.state
        state.active = False
        _finalize_placeholders(state)
        if exc_type is None:
            _report_unused(state)
        return False


def _finalize_placeholders(state: ScopeState) -> None:
    """Weights still waiting for a graph when the scope ends get their provisional decision."""
    for rec in state.placeholders:
        if rec.placeholder:
            rec.pending = False
            rec.decision = decide(*rec.args)  # its initializer is Keras's own unless a rule won
            rec.draw(rec.decision.initializer, rec.layer_ref())
    state.placeholders.clear()


def _report_unused(state: ScopeState) -> None:
    unbuilt = any((lyr := ref()) is not None and not lyr.built for ref in state.layers)
    if unbuilt:
        return  # some layers build later, outside the scope: their rules may still match
    for rule in state.policy.rules:
        if rule.index not in state.matched:
            warnings.warn(
                UnusedRuleWarning(
                    f"{rule.source}:{rule.line}: rule `{rule.text}` matched no weight"
                ),
                stacklevel=3,
            )


def _as_policy(policy_or_path) -> Policy:
    if isinstance(policy_or_path, Policy):
        return policy_or_path
    if policy_or_path is None:
        from ..project import project_policy

        return project_policy()
    if isinstance(policy_or_path, str | os.PathLike):
        return load(policy_or_path)
    raise TypeError(
        "apply_policy expects a kip.Policy, a path to a .initpolicy file, or nothing (the "
        f"project policy); received {type(policy_or_path).__name__}"
    )


def apply_policy(policy_or_path=None):
    """Decorator for model builders: the model the function builds follows the policy.

    ``@kip.apply_policy("policy.initpolicy")``, ``@kip.apply_policy(policy)``, or bare
    ``@kip.apply_policy`` / ``@kip.apply_policy()`` for the project policy
    (``KERAS_INITPOLICY`` or ``[tool.keras-initpolicy] policy`` in pyproject.toml).
    """
    if callable(policy_or_path) and not isinstance(policy_or_path, Policy | str | os.PathLike):
        return apply_policy(None)(policy_or_path)

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            policy = _as_policy(policy_or_path)  # resolved per call: edits to the file apply
            with policy.scope():
                return fn(*args, **kwargs)

        return wrapper

    return decorate


def apply_to_model(policy: Policy, model):
    """Re-initialize ``model``'s weights in place under ``policy``; returns the Explanation."""
    from .explain import explain_model

    if not getattr(model, "built", False):
        raise PolicyError(
            f"cannot apply a policy to `{model.name}`: it is not built yet. Build it first "
            "(call it on data or model.build(shape)), or build it inside policy.scope()."
        )
    explanation = explain_model(policy, model)
    for a in explanation:
        if a.reason != "rule":
            continue
        var = a.variable
        var.assign(a.initializer(tuple(var.shape), dtype=var.dtype))
        if a.attr is not None and a.layer is not None:
            object.__setattr__(a.layer, a.attr, a.initializer)
    return explanation
