"""Policy scopes and the decorator: which policy applies while Keras builds.

``hooks`` forwards Keras's events here, and each goes to ``weights.py``, which owns a weight's
life (requested, decided, waiting for its graph, drawn, final). A scope is per thread and per
context (contextvars), always restored; layers made in it keep a reference to its state, so a
model created inside and built later, outside, still follows the policy. When it ends, weights
still waiting are drawn, and unused rules and a majority of explicit initializers are reported.
"""

from __future__ import annotations

import contextvars
import functools
import os
import warnings
import weakref
from dataclasses import dataclass, field

from ..errors import ExplicitKeepWarning, UnusedRuleWarning
from ..policy import Policy, as_policy
from ..resolve import Resolver
from . import draw_thread, hooks
from .decision import resolver_for
from .explicit import given_initializers
from .placeholders import Placeholder, computes_now
from .records import LayerState
from .weights import (
    add_weight,
    awaiting,
    decide_early,
    draw_waiting_under,
    finish_scope,
    resolve_graph,
)

__all__ = ["PolicyScope", "ScopeState", "apply_policy", "current_scope"]

_current: contextvars.ContextVar[ScopeState | None] = contextvars.ContextVar(
    "keras_initpolicy_scope", default=None
)

#: Share of the rule-matched weights kept from the code's initializers from which a scope says so.
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
    streams: dict = field(default_factory=dict)  # stream_key -> initializer already drawn from
    weights: int = 0  # trainable weights created while the scope was active
    explicit: int = 0  # of those, drawn with an initializer their model code chose
    ruled: int = 0  # of those, kernel-like and matched by a rule
    explicit_kept: int = 0  # of those, kept from the code all the same (@explicit keep)
    active: bool = True
    block_counts: dict | None = None  # @blocks stack -> blocks, once a graph or the scope ended
    placeholder: Placeholder = field(default_factory=Placeholder)  # for weights awaiting a graph
    decisions: dict = field(default_factory=dict)  # decide()'s memo: layers that look the same
    targeting: dict = field(default_factory=dict)  # weights._targeting()'s memo

    def __post_init__(self) -> None:
        self.resolver = resolver_for(self.policy)

    def next_ordinal(self) -> int:
        self.layer_count += 1
        return self.layer_count


# -- callbacks from hooks ----------------------------------------------------------------------


class _Callbacks:
    current = _current  # read by the hooks: nothing to do outside every scope
    awaiting = awaiting  # the eager-call hook does nothing while it is empty

    @staticmethod
    def on_new_layer(layer, cls, args, kwargs) -> None:
        state = _current.get()
        if state is None:
            return
        given = given_initializers(cls, args, kwargs) if args or kwargs else {}
        hooks.attach_state(layer, LayerState(state, 0, given))
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
        return add_weight(state, layer_state, layer, original, kwargs)

    @staticmethod
    def on_functional(model) -> None:
        resolve_graph(_current.get(), model)

    @staticmethod
    def on_graph_call() -> None:
        state = _current.get()
        if state is not None and state.active and draw_thread.serves_backend():
            decide_early(state)

    @staticmethod
    def on_eager_call(layer, first_arg) -> None:
        # About to compute on real tensors (not inside a trace: an assignment there would be
        # traced): what it or its sublayers still hold is drawn first.
        if computes_now(first_arg):
            draw_waiting_under(layer, final=False)


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
        finish_scope(state)
        if exc_type is None:
            _report_unused(state)
            _report_explicit_majority(state)
        return False


def _report_explicit_majority(state: ScopeState) -> None:
    """Say once when, under ``@explicit keep``, the code's explicit initializers set aside the
    policy's rules for most of the kernel-like weights those rules matched (keras-hub models
    pass an initializer to every layer)."""
    if state.policy.explicit != "keep" or not state.explicit_kept:
        return
    if state.explicit_kept / state.ruled < EXPLICIT_MAJORITY:
        return
    warnings.warn(
        ExplicitKeepWarning(
            f"{state.explicit_kept} of the {state.ruled} kernel-like weights the policy's rules "
            "matched in "
            "this scope kept the initializer their model code passes explicitly (`@explicit "
            "keep`, the default). Add `@explicit override` to the policy to let its rules win."
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
            # resolved per call: edits to the file apply
            policy = as_policy(policy_or_path, caller="apply_policy", project=True)
            with policy.scope():
                return fn(*args, **kwargs)

        return wrapper

    return decorate
