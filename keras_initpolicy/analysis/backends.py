"""The backend-specific corner of keras-initpolicy: gradients for ``diagnose``.

Everything else in the package uses ``keras.ops`` only. Each backend gets one small function,
chosen by ``keras.backend.backend()`` through a registry (einops' ``backends.py`` pattern)::

    outputs, grads = value_and_grads(model, x, loss_fn)

``outputs`` are the model's outputs (a list of NumPy arrays, one per model output), ``grads`` maps
each weighted layer's path to the gradient of ``loss_fn(outputs)`` w.r.t. its kernel (NumPy).
The pass runs in inference mode (``training=False``): dropout is off and normalization layers use
their moving statistics, so the numbers reflect the initialization alone.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from ..errors import UnsupportedBackendError
from ..runtime import hooks

__all__ = [
    "value_and_grads",
    "kernel_variables",
    "BACKENDS",
    "UnsupportedBackendError",
]


def kernel_variables(model) -> dict[str, object]:
    """``{layer_path: kernel}`` for every layer of ``model`` (nested models flattened, in model
    order) that owns a trainable kernel-like weight: rank >= 2, not ``recurrent_kernel``."""
    found: dict[str, object] = {}
    for layer in hooks.nested_layers(model):
        if isinstance(layer, keras.Model):
            continue
        for var in (v for v in hooks.own_weights(layer) if v.trainable):
            name = var.name.split("/")[-1]
            if len(var.shape) >= 2 and name != "recurrent_kernel":
                found.setdefault(getattr(layer, "path", None) or layer.name, var)
                break
    return found


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _tensorflow(model, x, loss_fn, variables):
    import tensorflow as tf

    watched = list(variables.values())
    with tf.GradientTape() as tape:
        outputs = _as_list(model(x, training=False))
        loss = loss_fn(outputs)
    grads = tape.gradient(loss, [v.value for v in watched])
    return outputs, grads


def _jax(model, x, loss_fn, variables):
    import jax

    kernels = list(variables.values())

    def compute(values):
        # ``model(...)`` rather than ``stateless_call``: ``__call__`` drops ``training`` for a
        # ``call`` that does not take it; the scope substitutes the traced kernel values.
        with keras.StatelessScope(state_mapping=list(zip(kernels, values, strict=True))):
            outputs = _as_list(model(x, training=False))
        return loss_fn(outputs), outputs

    (_, outputs), grads = jax.value_and_grad(compute, has_aux=True)([v.value for v in kernels])
    return outputs, grads


def _torch(model, x, loss_fn, variables):
    import torch

    for var in variables.values():
        var.value.grad = None
    with torch.enable_grad():
        outputs = _as_list(model(x, training=False))
        loss = loss_fn(outputs)
        loss.backward()
    grads = [var.value.grad for var in variables.values()]
    return [o.detach() for o in outputs], [
        torch.zeros_like(v.value) if g is None else g
        for v, g in zip(variables.values(), grads, strict=True)
    ]


BACKENDS: dict[str, Callable] = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}


def value_and_grads(model, x, loss_fn, variables: dict | None = None):
    """One forward and one backward pass of ``model`` on ``x`` (see the module docstring).

    ``loss_fn(outputs) -> scalar`` receives the list of output tensors and must use ``keras.ops``.
    ``variables`` (default ``kernel_variables(model)``) chooses the weights to differentiate.
    """
    name = keras.backend.backend()
    adapter = BACKENDS.get(name)
    if adapter is None:
        raise UnsupportedBackendError(
            f"diagnose has no gradient adapter for the {name!r} backend; "
            f"supported: {', '.join(sorted(BACKENDS))}"
        )
    if variables is None:
        variables = kernel_variables(model)
    outputs, grads = adapter(model, x, loss_fn, variables)
    numpy_grads = {
        path: np.zeros(tuple(var.shape)) if g is None else np.asarray(keras.ops.convert_to_numpy(g))
        for (path, var), g in zip(variables.items(), grads, strict=True)
    }
    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in outputs], numpy_grads
