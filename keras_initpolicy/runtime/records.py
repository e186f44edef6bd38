"""What a scope remembers about the layers and weights it saw (provenance for ``explain``).

Attached to layers only through ``hooks.attach_state``; read back with :func:`layer_records`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

from . import hooks
from .backends import cheaper_equivalent
from .decision import Decision, WeightRequest

__all__ = ["LayerState", "WeightRecord", "layer_records"]


@dataclass(slots=True)
class LayerState:
    """What a scope remembers about one layer (attached through ``hooks.attach_state``)."""

    scope: object  # the ScopeState of the scope that first saw the layer
    ordinal: int  # order of its first weight in the scope (0: none yet): part of derived seeds
    explicit: frozenset = frozenset()  # constructor arguments ``*_initializer`` given in code
    counts: dict = field(default_factory=dict)  # weight name -> occurrences so far
    records: dict = field(default_factory=dict)  # WeightRequest.key -> WeightRecord


@dataclass(slots=True)
class WeightRecord:
    """Provenance of one weight: its request, what was decided, and how it was drawn."""

    variable: object
    request: WeightRequest
    decision: Decision
    state: object  # ScopeState
    pending: bool  # may change rule once its graph is known
    placeholder: bool = False  # created with a placeholder; the real draw is still to come
    reopen: bool = False  # decided at a graph output; a rebuilt graph may still add a consumer
    reseeded: bool = False
    fallback: tuple | None = None  # (initializer, reseeded) when no rule decides: computed once

    def draw(self, initializer) -> None:
        """Give the variable its real initial value (the one and only extra initialization)."""
        init = initializer
        if not isinstance(init, keras.initializers.Initializer):
            init = keras.initializers.get(init if init is not None else "glorot_uniform")
        var = self.variable
        var.assign(cheaper_equivalent(init)(tuple(var.shape), dtype=var.dtype))
        if self.request.attr is not None:
            hooks.set_initializer(self.request.layer, self.request.attr, init)
        self.placeholder = False


def layer_records(layer) -> dict:
    """``{weight key: WeightRecord}`` for the weights of ``layer`` a scope kept records of."""
    state = hooks.layer_state(layer)
    return state.records if state is not None else {}
