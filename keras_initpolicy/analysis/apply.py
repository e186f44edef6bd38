"""``Policy.apply(model)``: re-initialize an existing, built model in place.

The API: README.md#python-api.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import PolicyError
from ..runtime import hooks
from .explain import Explanation, explain_model

if TYPE_CHECKING:  # annotations only: policy.py imports this module (Policy.apply)
    from ..policy import Policy

__all__ = ["apply_to_model"]


def apply_to_model(policy: Policy, model) -> Explanation:
    """Re-initialize ``model``'s weights in place under ``policy``; returns the Explanation."""
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
        var.assign(
            hooks.constructed_value(a.layer, a.weight, a.initializer, tuple(var.shape), var.dtype)
        )
        if a.attr is not None and a.layer is not None:
            hooks.set_initializer(a.layer, a.attr, a.initializer)
    return explanation
