"""A weight's life in a scope: requested, decided, maybe waiting for its graph, drawn, final.

Every ``add_weight`` of a layer a scope has seen comes here (:func:`add_weight`). Trainable
weights are decided by the policy (``decision.py``); non-trainable state never is, and only its
random stream may change (a derived seed under ``@seed``; its own stream when one initializer
instance is shared). What happens to a kept weight afterwards is its :class:`Stage`:

``WAITING``
    Created from a placeholder while a Functional graph is under construction, because its rule
    depends on the graph (the effective activation of a layer without its own, or ``blocks``).
    Drawn once: when its graph completes, before its layer computes on real tensors, or when
    the scope ends.
``PROVISIONAL``
    Drawn from its layer's own activation (an eager build, a trace, or an eager use of a
    waiting weight), or, on TensorFlow, from the activation its graph under construction
    already reaches on every path (:func:`decide_early`, drawn on ``draw_thread.py``'s
    thread); the next Functional graph that contains its layer re-decides it.
``AT_OUTPUT``
    Decided by a graph in which its layer was an output (no consumer yet). While its scope is
    active a rebuilt graph (``Sequential.add``) may give it one and re-decide it, once.
``FINAL``
    Nothing changes it any more.

:func:`_settle` is the one place that moves a weight from one stage to another: it decides the
weight again under the activation it now has, draws it if it was waiting or its initializer
changed, and records the new stage. A weight is therefore initialized at most once more than
plain Keras would initialize it. Weights no rule decides and nothing reseeds keep no record
(``explain`` recomputes them).
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

import keras

from ..catalog.fans import shape_fans
from ..resolve import is_kernel_like
from . import draw_thread, hooks
from .activation import (
    ActivationInfo,
    class_names,
    effective_activation,
    own_activation,
    reached_activation,
)
from .decision import (
    Decision,
    WeightRequest,
    build_error,
    compile_decision,
    decide,
    enclosing_layers,
)
from .draw import draw_into, drawing
from .explicit import ATTR_FOR_WEIGHT, explicit_attributes, look_up_initializer, weight_attribute
from .records import LayerState, layer_records
from .seeding import derive_seed, seed_in_code, stream_key, with_seed
from .structure import block_patterns, count_blocks, count_blocks_under, model_layers, reads_blocks

__all__ = [
    "Stage",
    "WeightRecord",
    "add_weight",
    "resolve_graph",
    "decide_early",
    "draw_waiting_under",
    "finish_scope",
    "awaiting",
]


class Stage(enum.Enum):
    WAITING = "waiting for its graph"
    PROVISIONAL = "drawn provisionally"
    AT_OUTPUT = "decided at a graph output"
    FINAL = "final"


@dataclass(slots=True)
class WeightRecord:
    """Provenance and stage of one weight: its request, what was decided, how it was drawn."""

    variable: object
    request: WeightRequest
    decision: Decision
    state: object  # the ScopeState that created it
    graph_dependent: bool  # its rule may change once its layer's graph is known
    stage: Stage = Stage.FINAL
    reseeded: bool = False
    #: ``(initializer, reseeded)`` for the code's or Keras's initializer when no rule decides:
    #: worked out once per weight (the scope's stream registry counts every use)
    kept: tuple | None = None
    #: the draw running on the draw thread (a Future), until joined (``_join``)
    pending: object = None

    @property
    def waiting(self) -> bool:
        return self.stage is Stage.WAITING


#: Scopes (by id) holding waiting weights: the eager-call hook does nothing while it is empty.
awaiting: dict = {}

_NO_GRAPH = ActivationInfo("linear", None, "default (no graph)")


# -- creation ------------------------------------------------------------------------------------


def add_weight(state, layer_state: LayerState | None, layer, original, kwargs: dict):
    """``layer.add_weight(**kwargs)`` in ``state``'s scope; ``original`` is Keras's own."""
    if not kwargs.get("trainable", True):
        return _add_state(state, layer_state, layer, original, kwargs)
    shape = _shape(kwargs.get("shape") or ())
    if shape is None:
        return original(layer, **kwargs)  # a dynamic dimension: Keras decides what happens
    layer_state, occurrence = _numbered(state, layer_state, layer, kwargs)
    given = kwargs.get("initializer")
    request = _request(layer_state, layer, kwargs, shape, occurrence)
    targeted, sensitive = _targeting(state, layer, request)
    if not targeted and not _may_be_random(request.original):
        # No rule can decide it and it draws from no seed (BatchNormalization's beta):
        # Keras's own initialization, counted like any other weight.
        _count(state, request, None)
        return original(layer, **{**kwargs, "initializer": _drawn_as_given(state, given)})

    own = own_activation(layer)
    decision = decide(
        state.policy, state.resolver, request, own or _NO_GRAPH, compile=False, memo=state.decisions
    )
    # A layer without an activation of its own may change rule once its graph is known (some
    # predicate or initializer reads `activation`); a rule reading `blocks` waits for the model.
    graph_dependent = own is None and sensitive
    late = graph_dependent or _reads_blocks(decision)
    # Only a layer built for a Functional graph under construction computes nothing before the
    # graph completes; built by an eager call or a trace, it is drawn now.
    waits = late and state.active and hooks.building_graph()
    record = WeightRecord(None, request, decision, state, graph_dependent)
    chosen = None
    if waits:
        record.stage = Stage.WAITING
        kwargs["initializer"] = state.placeholder
        awaiting[id(state)] = state
    else:
        record.stage = Stage.PROVISIONAL if graph_dependent else Stage.FINAL
        chosen, record.reseeded = _chosen(record, decision)
        if chosen is not None:
            kwargs["initializer"] = _drawn_with(state, layer, request, chosen)
        else:  # the layer's own initializer, drawn through draw.py all the same
            kwargs["initializer"] = _drawn_as_given(state, kwargs["initializer"])
    variable = _create(original, layer, kwargs, request, decision)
    if chosen is not None and request.attr is not None:
        hooks.set_initializer(layer, request.attr, chosen)  # the config names what was used
    _count(state, request, decision)
    if decision.match is None and record.stage is Stage.FINAL and not record.reseeded:
        return variable  # what Keras would do anyway; explain() recomputes it on demand
    record.variable = variable
    layer_state.records[request.key] = record
    if waits:
        state.placeholders.append(record)
    return variable


def _add_state(state, layer_state, layer, original, kwargs: dict):
    """Non-trainable state: no rule decides it and its initializer is kept; only its random
    stream may change (docs/reference.md, "Seeds"). Drawn through ``draw.py`` either way."""
    initializer = kwargs.get("initializer")

    def as_given():
        return original(layer, **{**kwargs, "initializer": _drawn_as_given(state, initializer)})

    if state.policy.seed is None and isinstance(initializer, str | dict | None):
        return as_given()  # no seed to derive; a named one is never shared
    shape = _shape(kwargs.get("shape") or ())
    if shape is None:
        return original(layer, **kwargs)
    layer_state, occurrence = _numbered(state, layer_state, layer, kwargs)
    if not _may_be_random(initializer):
        return as_given()  # drawn from no seed: nothing to reseed or record
    request = _request(layer_state, layer, kwargs, shape, occurrence)
    fresh, reseeded = _reseed(state, request)
    if not reseeded:
        return as_given()
    variable = original(
        layer, **{**kwargs, "initializer": _drawn_with(state, layer, request, fresh)}
    )
    if request.attr is not None:
        hooks.set_initializer(layer, request.attr, fresh)
    reason = "explicit" if request.explicit else "keras-default"
    kept = Decision(fresh, reason, None, _NO_GRAPH, *shape_fans(request.shape))
    record = WeightRecord(variable, request, kept, state, False, reseeded=True)
    layer_state.records[request.key] = record
    return variable


def _numbered(state, layer_state: LayerState | None, layer, kwargs: dict) -> tuple:
    """``(layer_state, occurrence)``: ``layer``'s state (a new one for a layer made outside
    every scope), numbered in ``state``, and how many weights of this name it made before."""
    if layer_state is None:
        layer_state = LayerState(state, 0)
        hooks.attach_state(layer, layer_state)
    if not layer_state.ordinal:
        # Numbered when it creates its first weight, not when it is made: model code may make
        # weightless objects (wrappers, models it clones and drops) differently from one build
        # to the next, and must not shift the seeds of the weights that follow.
        layer_state.ordinal = state.next_ordinal()
    if layer_state.explicit is None:  # before any rule changes one of its attributes
        layer_state.explicit = explicit_attributes(layer, layer_state.given)
        layer_state.given = None
    weight = kwargs.get("name") or "weight"
    occurrence = layer_state.counts[weight] = layer_state.counts.get(weight, -1) + 1
    return layer_state, occurrence


def _request(layer_state: LayerState, layer, kwargs: dict, shape, occurrence: int):
    initializer = kwargs.get("initializer")
    weight = kwargs.get("name") or "weight"
    attr, derived = weight_attribute(layer, initializer, weight)
    construction = None
    if derived:  # drawn through a function of the attribute: the attribute is what was given
        construction, initializer = initializer, getattr(layer, attr)
    trainable = kwargs.get("trainable", True)
    return WeightRequest(
        layer=layer,
        chain=enclosing_layers(layer),
        weight=weight,
        shape=shape,
        dtype=kwargs.get("dtype") or getattr(layer, "variable_dtype", None),
        trainable=bool(trainable),
        original=initializer,
        attr=attr,
        explicit=attr is not None and attr in layer_state.explicit,
        ordinal=layer_state.ordinal,
        occurrence=occurrence,
        construction=construction,
    )


def _shape(shape) -> tuple[int, ...] | None:
    try:
        return tuple(map(int, shape))
    except (TypeError, ValueError):  # a dynamic dimension: Keras decides what happens
        return None


def _targeting(state, layer, request: WeightRequest) -> tuple:
    """``Resolver.targeting`` for this weight — ``(some rule may decide it, the activation may
    change which)`` — remembered per layer and enclosing classes in the scope."""
    chain, weight = request.chain, request.weight
    kernel_like = is_kernel_like(weight, request.shape)
    key = (weight, kernel_like, type(layer), *map(type, chain))
    found = state.targeting.get(key)
    if found is None:
        classes = tuple(class_names(lyr) for lyr in (layer, *chain))
        found = state.targeting[key] = state.resolver.targeting(classes, weight, kernel_like)
    return found


def _create(original, layer, kwargs: dict, request: WeightRequest, decision: Decision):
    try:
        return original(layer, **kwargs)
    except (ValueError, TypeError) as exc:
        if decision.reason != "rule":
            raise
        raise build_error(request, decision.match, str(exc)) from None


def _count(state, request: WeightRequest, decision: Decision | None) -> None:
    """Count a trainable weight for the scope's end-of-scope reports."""
    if not state.active:
        return
    state.weights += 1
    state.explicit += request.explicit
    if decision is None:
        return
    if decision.match is not None:
        state.matched.add(decision.match.rule.index)
        if request.kernel_like:  # what the explicit-majority report weighs
            state.ruled += 1
            state.explicit_kept += decision.reason == "explicit"


# -- what a weight is drawn with -----------------------------------------------------------------


def _chosen(record: WeightRecord, decision: Decision) -> tuple:
    """``(initializer, reseeded)``: what ``record``'s weight is drawn with under ``decision`` —
    the rule's, compiled (stored in ``decision``); else the code's or Keras's own, reseeded
    where docs/reference.md ("Seeds") asks. ``(None, False)``: the one the layer was given."""
    if decision.reason == "rule":
        if decision.initializer is None:
            counts = _block_counts(record.state, decision)
            compile_decision(record.state.policy, decision, record.request, counts)
        _hold_seeded_stream(record.state, decision.initializer)
        return decision.initializer, False
    if record.kept is None:
        record.kept = _reseed(record.state, record.request)
    chosen, reseeded = record.kept
    if chosen is not None:
        decision.initializer = chosen
    return chosen, reseeded


def _drawn_with(state, layer, request: WeightRequest, init):
    """What ``add_weight`` receives so that the weight is drawn from ``init`` (``draw.py``);
    for a weight the layer draws through a function of its attribute, that function, with the
    attribute set to ``init`` (the layer's own construction around its initializer still
    applies)."""
    sampler = state.policy.sampler
    if request.construction is None:
        return drawing(init, sampler)
    hooks.set_initializer(layer, request.attr, init)
    return drawing(request.construction, sampler)


def _drawn_as_given(state, given):
    """What ``add_weight`` receives for a weight drawn with what the layer passed (``given``):
    the same initializer, drawn through ``draw.py``. A name is made into the initializer Keras
    would make of it (``add_weight`` would, at this very point); ``None`` is left to Keras
    (its default depends on the dtype)."""
    if isinstance(given, str):
        try:
            given = keras.initializers.get(given)
        except (ValueError, TypeError):
            return given
    if given is None or isinstance(given, dict) or not callable(given):
        return given
    return drawing(given, state.policy.sampler)


def _draw(record: WeightRecord, initializer, *, on_thread: bool = False) -> None:
    """Give ``record``'s variable its value from ``initializer``; ``on_thread``: on the draw
    thread where it can run there (``draw_thread.py``), joined by ``_join``."""
    init = initializer
    if not isinstance(init, keras.initializers.Initializer):
        init = keras.initializers.get(init if init is not None else "glorot_uniform")
    var, request = record.variable, record.request
    if request.attr is not None:
        hooks.set_initializer(request.layer, request.attr, init)
    target, sampler = request.construction or init, record.state.policy.sampler
    if on_thread and draw_thread.seeded_by_int(target) and draw_thread.usable():
        record.pending = draw_thread.submit(draw_into, var, target, sampler)
    else:
        draw_into(var, target, sampler)


def _join(record: WeightRecord) -> None:
    """Wait for ``record``'s draw on the draw thread, if one runs; raise what it raised."""
    pending, record.pending = record.pending, None
    draw_thread.join(pending)


def _may_be_random(initializer) -> bool:
    """False when ``initializer`` surely draws from no seed (``zeros``, ``Ones()``...)."""
    if isinstance(initializer, str):
        return _random_name(initializer)
    if isinstance(initializer, keras.initializers.Initializer):
        return getattr(initializer, "seed", None) is not None  # as ``stream_key`` reads it
    return True  # None (Keras's glorot_uniform), a config dict, a callable: ``_reseed`` looks


@functools.lru_cache(maxsize=256)
def _random_name(name: str) -> bool:
    """Does the initializer Keras makes from ``name`` draw from a seed? (False when unknown.)"""
    try:
        return stream_key(look_up_initializer(name)) is not None
    except (ValueError, TypeError):
        return False


def _reseed(state, request: WeightRequest) -> tuple:
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


def _hold_seeded_stream(state, initializer) -> None:
    """A rule's initializer drawn from a derived seed holds that stream in the scope. The layer's
    config names that seed, so a copy made from the config (``from_config``, a deserialized or
    cloned model, a wrapper's copy of a built layer) arrives with it as a seed "in code"; built
    in the same scope, the copy is a second use of the stream and gets its own seed, as every
    other second use does (docs/reference.md, "Seeds")."""
    if seed_in_code(initializer):  # a derived seed; an unseeded initializer draws its own
        key = stream_key(initializer)
        if key is not None:
            state.streams[key] = initializer


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


def _block_counts(state, decision: Decision) -> dict | None:
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
    return count_blocks(state.policy, _scope_layers(state))


def _scope_layers(state):
    return (lyr for ref in state.layers if (lyr := ref()) is not None)


# -- the one transition ----------------------------------------------------------------------------


def _settle(
    record: WeightRecord, activation: ActivationInfo, stage: Stage, *, on_thread: bool = False
) -> None:
    """Decide ``record``'s weight again under ``activation``, draw it if it was waiting or its
    initializer changed (``on_thread``: on the draw thread where it can), and move it to
    ``stage``."""
    _join(record)  # a draw still running finishes before the weight is decided again
    state = record.state
    request = record.request
    new = decide(
        state.policy, state.resolver, request, activation, compile=False, memo=state.decisions
    )
    if new.match is not None:
        state.matched.add(new.match.rule.index)
    was = record.decision.initializer
    chosen, record.reseeded = _chosen(record, new)
    if chosen is None:
        chosen = record.request.original
    if record.stage is Stage.WAITING or not _same_initializer(chosen, was):
        _draw(record, chosen, on_thread=on_thread)
    record.decision = new
    record.stage = stage


def _settle_on_its_own(record: WeightRecord, *, final: bool) -> None:
    """Draw a waiting weight from its layer's own activation. ``final``: no graph will decide it
    any more; else a graph-dependent weight stays provisional."""
    stage = Stage.PROVISIONAL if record.graph_dependent and not final else Stage.FINAL
    _settle(record, own_activation(record.request.layer) or _NO_GRAPH, stage)


def _same_initializer(a, b) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and a.get_config() == b.get_config()
    except Exception:  # noqa: BLE001
        return False


# -- events that move weights ------------------------------------------------------------------------


def resolve_graph(state, model) -> None:
    """A Functional graph completed (``state``: the active scope's, or None): decide the
    graph-dependent weights of its layers.

    A layer at the graph's output has no consumer yet. While its scope is active it may gain
    one (``Sequential.add`` rebuilds the graph), so such a weight is drawn now, from its own
    activation, and may be re-decided once more, when a rebuilt graph gives it a consumer.
    Weights whose rule reads ``blocks`` are drawn now too, with the blocks of this model.
    """
    late = _late_records(state, model) if state is not None else []
    if late:
        state.block_counts = count_blocks(state.policy, model_layers(model))
    _resolve_operations(hooks.graph_operations(model))
    for record in late:
        if record.waiting:
            _settle_on_its_own(record, final=True)
    if awaiting:  # some weight still waits: maybe in a layer nested in this model
        # Sublayers of a custom layer (no graph reaches them) get their provisional decision
        # now: the model exists and may be used at once, long before its scope ends.
        draw_waiting_under(model, final=True)
    if state is not None:
        _join_all(state)  # every value the scope drew exists once a graph completes
        _forget_drawn()
        state.placeholder.clear()


def _late_records(state, model) -> list:
    """Waiting weights of ``model``'s layers (nested ones too) whose rule reads ``blocks``."""
    if not block_patterns(state.policy):
        return []
    return [
        record
        for layer in model_layers(model)
        for record in layer_records(layer).values()
        if record.waiting and record.state is state and _reads_blocks(record.decision)
    ]


def _resolve_operations(operations) -> None:
    """Decide the graph-dependent weights of ``operations`` (a finished graph's)."""
    for op in operations:
        records = layer_records(op)
        if not records or all(r.stage is Stage.FINAL for r in records.values()):
            continue
        activation = effective_activation(op)
        at_output = not hooks.consumers(op)
        for record in records.values():
            active = record.state.active
            if record.graph_dependent and record.stage in (Stage.WAITING, Stage.PROVISIONAL):
                _settle(
                    record, activation, Stage.AT_OUTPUT if at_output and active else Stage.FINAL
                )
            elif record.stage is Stage.AT_OUTPUT and active and not at_output:
                _settle(record, activation, Stage.FINAL)


def decide_early(state) -> None:
    """A layer is being called on KerasTensors in ``state``'s scope, its graph not complete yet
    (TensorFlow: ``draw_thread.serves_backend()``): each weight still waiting whose activation
    every path from its layer already reaches is decided now and drawn on the draw thread (where
    ``draw_thread.usable()``; else at once), while the build goes on. It stays provisional: the
    completed graph decides it again, and draws it again only if that decision differs (a
    consumer added later changed the activation)."""
    for record in state.placeholders:
        if record.waiting and record.graph_dependent and not _reads_blocks(record.decision):
            activation = reached_activation(record.request.layer)
            if activation is not None:
                _settle(record, activation, Stage.PROVISIONAL, on_thread=True)


def draw_waiting_under(root, *, final: bool) -> None:
    """Draw every waiting weight ``root`` or a layer nested in it holds (and let every draw
    still running on the draw thread finish: a computation follows)."""
    for state in list(awaiting.values()):
        _join_all(state)
    for layer in model_layers(root):
        for record in layer_records(layer).values():
            if record.waiting:
                _settle_on_its_own(record, final=final)
    _forget_drawn()


def _join_all(state) -> None:
    """Wait for every draw of ``state`` still running on the draw thread; then raise the first
    error one of them raised (every draw has finished by then)."""
    error = None
    for record in state.placeholders:
        try:
            _join(record)
        except Exception as exc:  # noqa: BLE001 - re-raised below, once all are done
            error = error or exc
    if error is not None:
        raise error


def _forget_drawn() -> None:
    for key, state in list(awaiting.items()):
        if not any(r.waiting or r.pending is not None for r in state.placeholders):
            awaiting.pop(key, None)


def finish_scope(state) -> None:
    """The scope ended: weights still waiting get their decision from their own layer. The
    scope is forgotten even when a draw raises (the error propagates)."""
    try:
        _join_all(state)
        if any(r.waiting and _reads_blocks(r.decision) for r in state.placeholders):
            state.block_counts = count_blocks(state.policy, _scope_layers(state))
        for record in state.placeholders:
            if record.waiting:
                _settle_on_its_own(record, final=True)
    finally:
        state.placeholders.clear()
        state.placeholder.clear()
        awaiting.pop(id(state), None)
