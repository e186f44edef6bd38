"""Applying a policy while Keras builds models (SPEC §3): scopes, the decorator, ``apply``.

``hooks`` forwards Keras events here; ``decision.py`` decides each weight. Each weight is decided
once, when Keras creates it. A weight whose rule depends on the effective activation of a layer
without its own activation is decided provisionally and re-decided once, when the Functional
graph that contains the layer is complete — never later, so loading or assigning weights
afterwards is never overwritten. Inside an active scope such a weight starts as a cheap
placeholder and is drawn once: when its graph completes or when the scope ends.

Every random weight that no rule decides keeps its initializer's class and parameters; under
``@seed`` it gets its own derived seed, and under any policy a weight whose initializer instance
already initialized another weight in the scope gets a copy with a fresh seed (``seeding.py``).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import warnings
import weakref
from dataclasses import dataclass, field

import keras

from ..catalog.fans import shape_fans
from ..errors import ExplicitKeepWarning, UnusedRuleWarning
from ..policy import Policy, load
from ..project import project_policy
from ..resolve import Resolver, is_kernel_like
from . import hooks
from .activation import ActivationInfo, class_names, effective_activation, own_activation
from .backends import Placeholder, cheaper_equivalent, computes_now
from .decision import (
    ATTR_FOR_WEIGHT,
    Decision,
    WeightRequest,
    build_error,
    compile_decision,
    decide,
    enclosing_layers,
    initializer_attr,
    resolver_for,
)
from .records import LayerState, WeightRecord, layer_records
from .seeding import derive_seed, seed_in_code, stream_key, with_seed
from .structure import (
    block_patterns,
    count_blocks,
    count_blocks_under,
    model_layers,
    reads_blocks,
)

__all__ = ["PolicyScope", "ScopeState", "apply_policy", "current_scope"]

_current: contextvars.ContextVar[ScopeState | None] = contextvars.ContextVar(
    "keras_initpolicy_scope", default=None
)

#: Share of a scope's weights kept from explicit code initializers from which it says so once.
EXPLICIT_MAJORITY = 0.5


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
    streams: dict = field(default_factory=dict)  # id -> initializer instance already drawn from
    weights: int = 0  # trainable weights created while the scope was active
    explicit: int = 0  # of those, drawn with an initializer their model code passes explicitly
    explicit_kept: int = 0  # of those, rule-matched but kept from the code (@explicit keep)
    active: bool = True
    block_counts: dict | None = None  # @blocks stack -> blocks, once a graph or the scope ended
    placeholder: Placeholder = field(default_factory=Placeholder)  # for weights awaiting a graph
    decisions: dict = field(default_factory=dict)  # decide()'s memo: layers that look the same
    targeting: dict = field(default_factory=dict)  # _targeting()'s memo

    def __post_init__(self) -> None:
        self.resolver = resolver_for(self.policy)

    def next_ordinal(self) -> int:
        self.layer_count += 1
        return self.layer_count


# -- callbacks from hooks ----------------------------------------------------------------------


class _Callbacks:
    current = _current  # read by the hooks: nothing to do outside every scope
    awaiting: dict  # _awaiting, set below: the eager-call hook does nothing while it is empty

    @staticmethod
    def on_new_layer(layer, cls, args, kwargs, caller) -> None:
        state = _current.get()
        if state is None:
            return
        explicit = _explicit_initializers(cls, args, kwargs) if args or kwargs else ()
        if explicit:
            creator = hooks.creator_of(caller)  # a frame walk: only when there is something
            if creator is not None and type(creator).__module__.startswith("keras."):
                # A Keras layer building its parts (LSTM -> cell, MHA -> EinsumDense) passes its
                # own initializers down: they are explicit only if the user gave them to the
                # outer layer.
                outer = hooks.layer_state(creator)
                explicit &= outer.explicit if outer is not None else frozenset()
        hooks.attach_state(layer, LayerState(state, 0, frozenset(explicit)))
        state.layers.append(weakref.ref(layer))

    @staticmethod
    def on_add_weight(layer, original, args, kwargs):
        layer_state = hooks.layer_state(layer)
        state = layer_state.scope if layer_state is not None else _current.get()
        if state is None:
            return original(layer, *args, **kwargs)
        # ``kwargs`` is the hook's own dict (``**kwargs``): ours to complete and change.
        if args:
            for key, value in zip(("shape", "initializer", "dtype"), args, strict=False):
                kwargs.setdefault(key, value)
        return _add_weight(state, layer_state, layer, original, kwargs)

    @staticmethod
    def on_graph_outputs(outputs) -> list | None:
        # Before Keras maps the graph (only while some placeholder waits): the draws are
        # dispatched now, and JAX computes them while Keras works out the graph's structure.
        # Not when a rule reads `blocks`: those are counted over the finished model.
        state = _current.get()
        if state is None or block_patterns(state.policy):
            return None
        return _resolve_operations(hooks.operations_reaching(outputs))

    @staticmethod
    def on_graph_abandoned(resolved: list) -> None:
        # Keras could not make that graph: what it decided stays drawn, provisionally, and the
        # next graph that completes decides it again (drawing again only if the rule changes).
        for rec in resolved:
            rec.pending = True
            rec.reopen = False

    @staticmethod
    def on_functional(model) -> None:
        _resolve_graph(model)

    @staticmethod
    def on_eager_call(layer, first_arg) -> None:
        # About to compute on real tensors (not inside a trace: an assignment there would be
        # traced): what it or its sublayers still hold is drawn first.
        if computes_now(first_arg):
            _draw_placeholders_under(layer, final=False)


def _explicit_initializers(cls, args, kwargs) -> set[str]:
    names = {k for k, v in kwargs.items() if v is not None and k.endswith("_initializer")}
    if args:
        names.update(
            p for i, p in _initializer_params(cls) if i < len(args) and args[i] is not None
        )
    return names


@functools.lru_cache(maxsize=1024)
def _initializer_params(cls) -> tuple[tuple[int, str], ...]:
    """``(position, name)`` of the constructor parameters of ``cls`` named ``*_initializer``."""
    try:
        params = tuple(inspect.signature(cls.__init__).parameters)[1:]
    except (TypeError, ValueError):
        return ()
    return tuple((i, p) for i, p in enumerate(params) if p.endswith("_initializer"))


_NO_GRAPH = ActivationInfo("linear", None, "default (no graph)")


def _numbered(state: ScopeState, layer_state: LayerState | None, layer) -> LayerState:
    """``layer``'s state (``layer_state``, or a new one), numbered in ``state``."""
    if layer_state is None:  # created outside any scope, built inside this one
        layer_state = LayerState(state, 0)
        hooks.attach_state(layer, layer_state)
    if not layer_state.ordinal:
        # Numbered when it creates its first weight, not when it is made: model code may make
        # weightless objects (wrappers, models it clones and drops) differently from one build
        # to the next, and must not shift the seeds of the weights that follow.
        layer_state.ordinal = state.next_ordinal()
    return layer_state


def _shape(shape) -> tuple[int, ...] | None:
    try:
        return tuple(map(int, shape))
    except (TypeError, ValueError):  # a dynamic dimension: Keras decides what happens
        return None


def _add_weight(state: ScopeState, layer_state: LayerState | None, layer, original, kwargs):
    trainable = kwargs.get("trainable", True)
    initializer = kwargs.get("initializer")
    if not trainable and state.policy.seed is None and isinstance(initializer, str | dict | None):
        return original(layer, **kwargs)  # no rule decides state; a named one is never shared
    shape = _shape(kwargs.get("shape") or ())
    if shape is None:
        return original(layer, **kwargs)
    weight = kwargs.get("name") or "weight"
    layer_state = _numbered(state, layer_state, layer)
    occurrence = layer_state.counts[weight] = layer_state.counts.get(weight, -1) + 1
    if not trainable and not _may_be_random(initializer):
        return original(layer, **kwargs)  # state drawn from no seed: nothing to reseed or record
    chain = enclosing_layers(layer)
    attr = initializer_attr(layer, initializer, weight)
    explicit = attr is not None and attr in layer_state.explicit
    if trainable:
        targeted, sensitive = _targeting(state, layer, chain, weight, shape)
        if not targeted and not _may_be_random(initializer):
            # No rule can decide it and it draws from no seed (BatchNormalization's beta):
            # Keras's own initialization, counted like any other weight.
            if state.active:
                state.weights += 1
                state.explicit += explicit
            return original(layer, **kwargs)
    request = WeightRequest(
        layer=layer,
        chain=chain,
        weight=weight,
        shape=shape,
        dtype=kwargs.get("dtype") or getattr(layer, "variable_dtype", None),
        trainable=bool(trainable),
        original=initializer,
        attr=attr,
        explicit=explicit,
        ordinal=layer_state.ordinal,
        occurrence=occurrence,
    )
    if not trainable:
        return _add_state(state, layer, original, kwargs, request)
    own = own_activation(layer)
    decision = decide(
        state.policy, state.resolver, request, own or _NO_GRAPH, compile=False, memo=state.decisions
    )
    # A weight whose layer has no activation of its own may change rule once the graph is
    # known: when some predicate reads `activation`, or its initializer depends on it.
    pending = own is None and sensitive
    # A rule that reads `blocks` waits, too: later blocks of the model do not exist yet.
    late = pending or _reads_blocks(decision)
    # A placeholder only while a Functional graph is under construction: the layer computes
    # nothing before its graph completes. Built by an eager call or a trace, it computes at once,
    # so it is drawn now from its provisional decision (and re-decided if it joins a graph).
    record = WeightRecord(
        None,
        request,
        decision,
        state,
        pending,
        placeholder=late and state.active and hooks.building_graph(),
    )
    if record.placeholder:
        kwargs["initializer"] = state.placeholder
        _awaiting[id(state)] = state
        chosen = None
    else:
        chosen = _initializer_for(record, decision)
        if chosen is not None:
            kwargs["initializer"] = cheaper_equivalent(chosen)  # same values (backends.py)
    try:
        variable = original(layer, **kwargs)
    except (ValueError, TypeError) as exc:
        if decision.reason != "rule":
            raise
        raise build_error(request, decision.match, str(exc)) from None
    if chosen is not None and attr is not None and chosen is not initializer:
        hooks.set_initializer(layer, attr, chosen)
    if state.active:
        state.weights += 1
        state.explicit += request.explicit
        state.explicit_kept += decision.reason == "explicit"
        if decision.match is not None:
            state.matched.add(decision.match.rule.index)
    if decision.match is None and not pending and not record.reseeded:
        return variable  # what Keras would do anyway; explain() recomputes it on demand
    record.variable = variable
    layer_state.records[request.key] = record
    if record.placeholder:
        state.placeholders.append(record)
    return variable


def _targeting(state: ScopeState, layer, chain: tuple, weight: str, shape: tuple) -> tuple:
    """``Resolver.targeting`` for this weight — ``(some rule may decide it, the activation may
    change which)`` — remembered per layer and enclosing classes in the scope."""
    kernel_like = is_kernel_like(weight, shape)
    key = (weight, kernel_like, type(layer), *map(type, chain))
    found = state.targeting.get(key)
    if found is None:
        classes = tuple(class_names(lyr) for lyr in (layer, *chain))
        found = state.targeting[key] = state.resolver.targeting(classes, weight, kernel_like)
    return found


def _may_be_random(initializer) -> bool:
    """False when ``initializer`` surely draws from no seed (``zeros``, ``Ones()``...)."""
    if isinstance(initializer, str):
        return _random_name(initializer)
    if isinstance(initializer, keras.initializers.Initializer):
        return getattr(initializer, "seed", None) is not None  # as ``stream_key`` reads it
    return True  # None (Keras's glorot_uniform), a config dict, a callable: ``_reseed`` looks


def _add_state(state: ScopeState, layer, original, kwargs, request: WeightRequest):
    """Non-trainable state: no rule ever decides it, and its initializer is kept; only its random
    stream follows SPEC §3 (a derived seed under ``@seed``, its own stream when shared)."""
    fresh, reseeded = _reseed(state, request)
    if not reseeded:
        return original(layer, **kwargs)
    variable = original(layer, **{**kwargs, "initializer": fresh})
    if request.attr is not None:
        hooks.set_initializer(layer, request.attr, fresh)
    keep = Decision(fresh, "keras-default", None, _NO_GRAPH, *shape_fans(request.shape))
    record = WeightRecord(variable, request, keep, state, False, reseeded=True)
    hooks.layer_state(layer).records[request.key] = record
    return variable


def _initializer_for(record: WeightRecord, decision: Decision):
    """The initializer ``record``'s weight is drawn with under ``decision``: the rule's, compiled;
    else the code's or Keras's own, reseeded when SPEC §3 asks (None: leave it as it is)."""
    state = record.state
    if decision.reason == "rule":
        if decision.initializer is None:
            compile_decision(state.policy, decision, record.request, _block_counts(state, decision))
        record.reseeded = False
        return decision.initializer
    if record.fallback is None:  # decided once per weight: the stream registry counts each use
        record.fallback = _reseed(state, record.request)
    chosen, record.reseeded = record.fallback
    if chosen is not None:
        decision.initializer = chosen
    return chosen


def _reseed(state: ScopeState, request: WeightRequest) -> tuple:
    """``(initializer, True)`` when the weight must not draw what its code or Keras chose to
    draw: under ``@seed`` (unless the code set the seed itself), or when that stream was already
    drawn from in this scope; ``(None, False)`` to leave the weight as it is."""
    original = request.original
    if not _may_be_random(original):
        return None, False  # "zeros", Ones(): nothing to reseed
    default = "glorot_uniform" if original is None else original  # as Layer.add_weight does
    try:
        resolved = keras.initializers.get(default)
    except (ValueError, TypeError):
        return None, False
    key = stream_key(resolved)
    if key is None:  # not random (zeros, ones, a constant), or a seed we cannot see
        return None, False
    reused = key in state.streams
    state.streams[key] = resolved  # kept alive: a SeedGenerator's id stays unique
    seed = state.policy.seed
    if seed is not None and (reused or not seed_in_code(_code_initializer(request, resolved))):
        derived = derive_seed(seed, None, request.ordinal, request.weight, request.occurrence)
        fresh = with_seed(resolved, derived)
    elif reused:
        fresh = with_seed(resolved, None)  # a fresh default seed: follows set_random_seed
    else:
        return None, False
    if fresh is None:
        return None, False
    fresh_key = stream_key(fresh)
    if fresh_key is not None:
        state.streams[fresh_key] = fresh
    return fresh, True


@functools.lru_cache(maxsize=256)
def _random_name(name: str) -> bool:
    """Does the initializer Keras makes from ``name`` draw from a seed? (False when unknown.)"""
    try:
        return stream_key(keras.initializers.get(name)) is not None
    except (ValueError, TypeError):
        return False


def _code_initializer(request: WeightRequest, resolved):
    """The initializer as the code wrote it: the layer's attribute for the weight when there is
    one (EinsumDense draws from a copy that carries the attribute's default seed), else what
    was passed to ``add_weight``."""
    usual = ATTR_FOR_WEIGHT.get(request.weight)
    written = getattr(request.layer, usual, None) if usual else None
    return written if type(written) is type(resolved) else resolved


def _reads_blocks(decision: Decision) -> bool:
    init = decision.match.rule.init if decision.match is not None else None
    return init is not None and bool(init.args) and reads_blocks(init)


def _block_counts(state: ScopeState, decision: Decision) -> dict | None:
    """The block counts a decision's formulas read: the last graph's or scope's count; else,
    inside a build (a model built by an eager call), the blocks the outermost building layer
    holds; else (a model built after its scope ended) a count over every layer the scope
    created."""
    if not _reads_blocks(decision):
        return None
    if state.block_counts is not None:
        return state.block_counts
    builders = hooks.building_stack()
    if builders:  # a model building by an eager call: the blocks it holds, built or not
        return count_blocks_under(state.policy, builders[0])
    return count_blocks(state.policy, (lyr for ref in state.layers if (lyr := ref())))


def _late_records(state: ScopeState, model) -> list:
    """Placeholders of ``model``'s layers (nested ones too) whose rule reads ``blocks``."""
    late = []
    for layer in model_layers(model):
        for rec in layer_records(layer).values():
            if rec.placeholder and rec.state is state and _reads_blocks(rec.decision):
                late.append(rec)
    return late


def _resolve_graph(model) -> None:
    """Decide the graph-dependent weights of the layers of a finished graph.

    A layer at the graph's output has no consumer yet. While its scope is active it may gain
    one (``Sequential.add`` rebuilds the graph), so such a weight is drawn now, from its own
    activation, and may be re-decided once more, when a rebuilt graph gives it a consumer.
    Weights whose rule reads ``blocks`` are drawn now too, with the blocks of this model.
    """
    state = _current.get()
    late = _late_records(state, model) if state is not None and block_patterns(state.policy) else []
    if late:
        state.block_counts = count_blocks(state.policy, model_layers(model))
    _resolve_operations(hooks.graph_operations(model))
    for rec in late:
        if rec.placeholder:
            _draw_provisionally(rec, final=True)
    _forget_drawn()
    if _awaiting:  # some placeholder is left: maybe in a layer nested in this model
        # Sublayers of a custom layer (no graph reaches them) get their provisional decision
        # now: the model exists and may be used at once, long before its scope ends.
        _draw_placeholders_under(model, final=True)
    if state is not None:
        state.placeholder.clear()


def _draw_provisionally(rec: WeightRecord, *, final: bool) -> None:
    """Draw ``rec``'s weight from its provisional decision (its layer's own activation).
    ``final``: no graph will re-decide it; else it stays pending, and a graph that completes
    later may still re-decide it (drawing again only if the decision changed)."""
    if final:
        rec.pending = False
    _redecide(rec, own_activation(rec.request.layer) or _NO_GRAPH)


def _draw_placeholders_under(root, *, final: bool) -> None:
    """Draw every placeholder ``root`` or a layer nested in it still holds."""
    for layer in model_layers(root):
        for rec in layer_records(layer).values():
            if rec.placeholder:
                _draw_provisionally(rec, final=final)
    _forget_drawn()


def _forget_drawn() -> None:
    for key, state in list(_awaiting.items()):
        if not any(rec.placeholder for rec in state.placeholders):
            _awaiting.pop(key, None)


#: Scopes (by id) holding placeholders not drawn yet: the eager-call hook does nothing otherwise.
_awaiting: dict[int, ScopeState] = {}
_Callbacks.awaiting = _awaiting


def _resolve_operations(operations) -> list:
    """Decide the graph-dependent weights of ``operations`` (a finished graph's); returns the
    records it decided."""
    resolved = []
    for op in operations:
        records = layer_records(op)
        if not records or not any(r.pending or r.reopen for r in records.values()):
            continue
        activation = effective_activation(op)
        at_output = not hooks.consumers(op)
        for rec in records.values():
            if rec.pending:
                rec.pending = False
                rec.reopen = at_output and rec.state.active
                resolved.append(rec)
            elif rec.reopen and rec.state.active and not at_output:
                rec.reopen = False
            else:
                continue
            _redecide(rec, activation)
    return resolved


def _redecide(rec: WeightRecord, activation: ActivationInfo) -> None:
    state = rec.state
    new = decide(
        state.policy, state.resolver, rec.request, activation, compile=False, memo=state.decisions
    )
    if new.match is not None:
        state.matched.add(new.match.rule.index)
    was = rec.decision.initializer
    chosen = _initializer_for(rec, new)
    if chosen is None:
        chosen = rec.request.original
    if rec.placeholder or not _same_initializer(chosen, was):
        rec.draw(chosen)
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
            _report_explicit_majority(state)
        return False


def _finalize_placeholders(state: ScopeState) -> None:
    """Weights still waiting for a graph when the scope ends get their provisional decision."""
    if any(rec.placeholder and _reads_blocks(rec.decision) for rec in state.placeholders):
        state.block_counts = count_blocks(
            state.policy, (lyr for ref in state.layers if (lyr := ref()) is not None)
        )
    for rec in state.placeholders:
        if rec.placeholder:
            _draw_provisionally(rec, final=True)
    state.placeholders.clear()
    state.placeholder.clear()
    _awaiting.pop(id(state), None)


def _report_explicit_majority(state: ScopeState) -> None:
    """Say once when the code's explicit initializers, kept under ``@explicit keep``, decided
    most weights built in the scope (keras-hub models pass initializers to every layer) and
    some rule was set aside for them."""
    if state.policy.explicit != "keep" or not state.weights or not state.explicit_kept:
        return
    if state.explicit / state.weights < EXPLICIT_MAJORITY:
        return
    warnings.warn(
        ExplicitKeepWarning(
            f"{state.explicit} of {state.weights} weights built in this scope kept the "
            "initializer their model code passes explicitly (`@explicit keep`, the default); "
            f"{state.explicit_kept} of them matched a rule of the policy that did not apply. "
            "Add `@explicit override` to the policy to let its rules win."
        ),
        stacklevel=3,
    )


def _report_unused(state: ScopeState) -> None:
    # getattr: a layer whose constructor never finished (keras-hub makes such objects) has no
    # `built`; it builds nothing later.
    unbuilt = any(
        (lyr := ref()) is not None and not getattr(lyr, "built", True) for ref in state.layers
    )
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
