"""Constants a policy decides, filled with NumPy where that costs less than Keras's op.

On JAX and TensorFlow a small ``zeros``/``ones``/``constant`` weight made from a NumPy array
costs about half of Keras's dispatched op (measured in benchmarks/README.md, "Host constants");
on torch it would cost more, so torch keeps Keras's own. The values are Keras's, bit for bit
(tests/runtime/test_host_constants.py).
"""

from __future__ import annotations

import functools
import math

import keras
import numpy as np

__all__ = ["HostConstant", "cheaper_equivalent", "to_device", "HOST_CONSTANT_ELEMENTS"]

#: Backends on which filling a small constant with NumPy and handing the array to the variable
#: costs less than Keras's ``Zeros``/``Ones``/``Constant`` (a dispatched XLA or TensorFlow op):
#: JAX about half, TensorFlow slightly less; torch more, so it keeps Keras's own.
_HOST_CONSTANTS = frozenset({"jax", "tensorflow"})
#: Larger constants are left to Keras: on an accelerator the host array would be copied over.
HOST_CONSTANT_ELEMENTS = 2**16
_ANY_FLOAT = frozenset({"float16", "float32", "float64"})
_FLOAT32 = frozenset({"float32"})


class HostConstant:
    """``initializer`` (a Keras ``Zeros``, ``Ones`` or ``Constant``), filled with NumPy: the
    same values, bit for bit. Keras turns a Python float into a float32 before casting it, so
    NumPy fills float32, and float16 or float64 only with a value exact in float32 (no second
    rounding to disagree on); any other dtype or a large shape is left to ``initializer``. Only
    ever passed to ``add_weight``: the layer's ``*_initializer`` attribute names
    ``initializer``."""

    __slots__ = ("initializer", "value", "dtypes")

    def __init__(self, initializer, value: float) -> None:
        self.initializer = initializer
        self.value = value
        self.dtypes = _fill_dtypes(value)

    def __call__(self, shape, dtype=None):
        dtype = keras.backend.standardize_dtype(dtype)
        if dtype not in self.dtypes or math.prod(shape) > HOST_CONSTANT_ELEMENTS:
            return self.initializer(shape, dtype=dtype)
        return to_device(np.full(shape, self.value, dtype=dtype))


def to_device(array: np.ndarray):
    """On JAX, the array placed on the device as it is: Keras would convert it with
    ``jnp.asarray``, which compiles a staging op for every new shape; ``device_put`` compiles
    nothing. Other backends convert it themselves."""
    if keras.backend.backend() != "jax":
        return array
    import jax

    return jax.device_put(array)


@functools.lru_cache(maxsize=256)
def _fill_dtypes(value: float) -> frozenset:
    return _ANY_FLOAT if float(np.float32(value)) == value else _FLOAT32


def cheaper_equivalent(initializer):
    """What to pass to ``add_weight`` for ``initializer`` (a policy's compiled initializer):
    a :class:`HostConstant` for a constant on a backend where that is cheaper, else
    ``initializer`` itself."""
    kind = type(initializer)
    if kind not in _CONSTANT_KINDS or not _host_constants():
        return initializer
    if kind is keras.initializers.Constant:
        value = initializer.value
        if not isinstance(value, int | float):
            return initializer
    else:
        value = _CONSTANT_KINDS[kind]
    return HostConstant(initializer, float(value))


_CONSTANT_KINDS = {
    keras.initializers.Zeros: 0.0,
    keras.initializers.Ones: 1.0,
    keras.initializers.Constant: None,  # its own value
}


@functools.cache  # the backend is fixed once Keras is imported
def _host_constants() -> bool:
    return keras.backend.backend() in _HOST_CONSTANTS
