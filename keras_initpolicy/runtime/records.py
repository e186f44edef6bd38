"""What a scope remembers about the layers and weights it saw (provenance for ``explain``).

Attached to layers only through ``hooks.attach_state``; read back with :func:`layer_records`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import hooks

__all__ = ["LayerState", "layer_records"]


@dataclass(slots=True)
class LayerState:
    """What a scope remembers about one layer (attached through ``hooks.attach_state``)."""

    scope: object  # the ScopeState of the scope that first saw the layer
    ordinal: int  # order of its first weight in the scope (0: none yet): part of derived seeds
    #: ``*_initializer`` constructor arguments (``explicit.given_initializers``); None when the
    #: layer was constructed outside every scope. Read once, at the layer's first weight.
    given: dict | None = None
    #: the ``*_initializer`` arguments its code chose (``explicit.explicit_attributes``), set at
    #: the layer's first weight, before any rule changes an attribute
    explicit: frozenset | None = None
    counts: dict = field(default_factory=dict)  # weight name -> occurrences so far
    records: dict = field(default_factory=dict)  # WeightRequest.key -> weights.WeightRecord


def layer_records(layer) -> dict:
    """``{weight key: WeightRecord}`` for the weights of ``layer`` a scope kept records of."""
    state = hooks.layer_state(layer)
    return state.records if state is not None else {}
