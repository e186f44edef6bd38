"""The backend-specific corner of keras-initpolicy: gradients for ``diagnose``, and the
placeholder that weights waiting for their graph start from.

Everything else in the package uses ``keras.ops`` only. Each backend gets one small function,
chosen by ``keras.backend.backend()`` through a registry (einops' ``backends.py`` pattern)::

    outputs, grads = value_and_grads(model, x, loss_fn)

``outputs`` are the model's outputs (a list of NumPy arrays, one per model output), ``grads`` maps
each weighted layer's path to the gradient of ``loss_fn(outputs)`` w.r.t. its kernel (NumPy).
The pass runs in inference mode (``training=False``): dropout is off and normalization layers use
their moving statistics, so the numbers reflect the initialization alone.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable

import keras
import numpy as np

from . import hooks

__all__ = [
    "value_and_grads",
    "kernel_variables",
    "BACKENDS",
    "UnsupportedBackendError",
    "Placeholder",
    "computes_now",
    "cheaper_equivalent",
]


class UnsupportedBackendError(RuntimeError):
    """The active Keras backend has no gradient adapter."""


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


# -- placeholders for weights that wait for their graph -----------------------------------------


def _concrete_jax(value) -> bool:
    import jax

    return isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer)


def _concrete_tensorflow(value) -> bool:
    import tensorflow as tf

    return isinstance(value, tf.Tensor) and hasattr(value, "numpy")  # eager, not symbolic


def computes_now(value) -> bool:
    """Is ``value`` (a layer's first call argument, maybe nested) a concrete tensor, so the call
    computes now rather than being traced (a JAX tracer, a ``tf.function`` graph tensor)?"""
    flat = keras.tree.flatten(value)
    if not flat:
        return False
    check = _SHAREABLE.get(keras.backend.backend())
    return True if check is None else check(flat[0])  # torch and numpy compute eagerly


#: Backends whose variables copy or merely reference an immutable initial value, so one zeros
#: array can stand in for many placeholders (torch's Parameter shares the tensor's storage and
#: is assigned in place: each placeholder needs its own).
_SHAREABLE: dict[str, Callable] = {"jax": _concrete_jax, "tensorflow": _concrete_tensorflow}


class Placeholder(keras.initializers.Initializer):
    """Zeros for a weight whose real value is drawn later (when its graph completes).

    On JAX and TensorFlow one zeros array per ``(shape, dtype)`` serves every placeholder of the
    scope; ``clear()`` drops them once the weights that shared them are drawn. Small ones are
    also kept in a process-wide pool (``POOL_BYTES`` in all, least recently used out first), so
    the next model built with the same shapes makes none: an array made during a layer's build
    costs JAX about four times what it costs outside one. Under a distribution, or when called
    while tracing, it is plain ``zeros``.
    """

    def __init__(self) -> None:
        self._cache: dict = {}
        self._concrete = _SHAREABLE.get(keras.backend.backend())

    def __call__(self, shape, dtype=None):
        if self._concrete is None or keras.distribution.distribution() is not None:
            return keras.ops.zeros(shape, dtype=dtype)
        key = (tuple(shape), keras.backend.standardize_dtype(dtype))
        value = self._cache.get(key)
        if value is None or _deleted(value):
            value = _pooled(key)
            if value is None:
                value = keras.ops.zeros(key[0], dtype=key[1])
                if not self._concrete(value):
                    return value
                _pool(key, value)
            self._cache[key] = value
        return value

    def clear(self) -> None:
        self._cache.clear()

    def get_config(self) -> dict:
        return {}


#: The most the process-wide pool of placeholder zeros holds, in bytes; an array larger than a
#: quarter of it is never pooled.
POOL_BYTES = 16 * 2**20
_pool_arrays: OrderedDict = OrderedDict()  # (shape, dtype) -> zeros, most recently used last


def _pooled(key):
    value = _pool_arrays.get(key)
    if value is not None and _deleted(value):
        del _pool_arrays[key]
        return None
    if value is not None:
        _pool_arrays.move_to_end(key)
    return value


def _deleted(value) -> bool:
    """A JAX array whose buffer a jitted function took (donated): never to be reused. (Only a
    placeholder that reached a traced training step before it was drawn could be one.)"""
    is_deleted = getattr(value, "is_deleted", None)
    return is_deleted is not None and is_deleted()


def _pool(key, value) -> None:
    if _nbytes(value) > POOL_BYTES // 4:
        return
    _pool_arrays[key] = value
    total = sum(_nbytes(v) for v in _pool_arrays.values())
    while total > POOL_BYTES:
        _, dropped = _pool_arrays.popitem(last=False)
        total -= _nbytes(dropped)


def _nbytes(value) -> int:
    return (
        int(np.prod(value.shape, dtype=np.int64))
        * np.dtype(keras.backend.standardize_dtype(value.dtype)).itemsize
    )


# -- constants the policy decides ------------------------------------------------------------


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
        return np.full(shape, self.value, dtype=dtype)


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
