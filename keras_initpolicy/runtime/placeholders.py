"""The placeholder a waiting weight starts from, and whether a call computes now.

A weight whose rule depends on its graph (``weights.py``, ``Stage.WAITING``) is created from
zeros and drawn once, later. Before a layer computes on real tensors, whatever it still holds is
drawn; a call that is being traced (a JAX tracer, a ``tf.function`` graph) computes nothing, and
an assignment there would be traced, so it is left alone (:func:`computes_now`).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from .constants import to_device

__all__ = ["Placeholder", "computes_now"]


def _concrete_jax(value) -> bool:
    import jax

    return isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer)


def _concrete_tensorflow(value) -> bool:
    import tensorflow as tf

    return isinstance(value, tf.Tensor) and hasattr(value, "numpy")  # eager, not symbolic


#: How each backend tells a concrete tensor from a traced one; torch (and NumPy) always compute.
_CONCRETE: dict[str, Callable] = {"jax": _concrete_jax, "tensorflow": _concrete_tensorflow}

#: Backends whose variables copy or merely reference an immutable initial value, so one zeros
#: array can stand in for many placeholders (torch's Parameter shares the tensor's storage and
#: is assigned in place: each placeholder needs its own).
_SHAREABLE = frozenset({"jax", "tensorflow"})


def computes_now(value) -> bool:
    """Is ``value`` (a layer's first call argument, maybe nested) a concrete tensor, so the call
    computes now rather than being traced?"""
    flat = keras.tree.flatten(value)
    if not flat:
        return False
    check = _CONCRETE.get(keras.backend.backend())
    return True if check is None else check(flat[0])


class Placeholder(keras.initializers.Initializer):
    """Zeros for a weight whose real value is drawn later.

    One per scope. On JAX and TensorFlow one zeros array per ``(shape, dtype)`` serves every
    placeholder of the scope; ``clear()`` drops them once the weights that shared them are
    drawn. On torch each placeholder has its own zeros (the draw writes into them); under a
    distribution, or when called while tracing, it is plain ``zeros``.
    """

    def __init__(self) -> None:
        self._cache: dict = {}
        self._shared = keras.backend.backend() in _SHAREABLE

    def __call__(self, shape, dtype=None):
        if keras.distribution.distribution() is not None:
            return keras.ops.zeros(shape, dtype=dtype)
        dtype = keras.backend.standardize_dtype(dtype)
        if not self._shared:
            return _zeros(tuple(shape), dtype)
        key = (tuple(shape), dtype)
        value = self._cache.get(key)
        if value is None or _deleted(value):
            value = _zeros(*key)
            if computes_now(value):  # never keep a traced value
                self._cache[key] = value
        return value

    def clear(self) -> None:
        self._cache.clear()

    def get_config(self) -> dict:
        return {}


def _zeros(shape, dtype):
    """Zeros on the device. On JAX made on the host and placed with ``device_put``:
    ``jnp.zeros`` compiles a broadcast for every new shape."""
    if keras.backend.backend() == "jax" and dtype in _HOST_DTYPES:
        return to_device(np.zeros(shape, dtype))
    return keras.ops.zeros(shape, dtype=dtype)


_HOST_DTYPES = frozenset({"float16", "float32", "float64", "int32", "int64", "bool"})


def _deleted(value) -> bool:
    """A JAX array whose buffer a jitted function took (donated): never to be handed out again.
    (Only a placeholder that reached a traced training step before it was drawn can be one.)"""
    is_deleted = getattr(value, "is_deleted", None)
    return is_deleted is not None and is_deleted()
