"""Drawing a weight's values: the one entry point is :func:`drawing` (docs/reference.md, "@sampler").

Every weight built in a scope is drawn through the callable ``drawing(initializer, sampler)``
returns. It calls the initializer itself (a Keras initializer, the code's own, or a function of
one such as LSTM's ``unit_forget_bias`` bias), with Keras's random ops routed here for the
duration of the call:

- **JAX, no compile per weight shape.** Keras draws each weight with ``jax.random`` at its own
  shape, so every new shape compiles the random bits and the transform again. Here a draw from
  an integer seed is made at a bucketed size (:func:`bucket`) and its first values taken: with
  JAX's partitionable threefry a prefix of a larger draw equals the smaller draw, so the values
  are Keras's, bit for bit; the scaling happens inside the same compiled function, as Keras's
  ``sample * stddev + mean``. A draw from a ``SeedGenerator`` or the global generator, inside a
  trace (a distribution initializes sharded variables under ``jax.jit``), or in a dtype other
  than float32 is left to Keras.
- **torch, truncated normal.** Keras draws four normals per value and picks the first inside
  (-2, 2) with ``max`` and ``gather``; the same pick by a chain of ``where`` gives the same
  values for less.
- **``@sampler fast``** (torch and TensorFlow): a truncated normal by rejection (one normal per
  value, the 4.6 % outside (-2, 2) drawn again): exactly the same distribution, other values
  than Keras's for the same seed. On JAX, ``fast`` is ``keras``: its truncated normal is an
  inverse CDF, as cheap as a uniform.

Constants are filled by ``constants.py`` where that is cheaper.
"""

from __future__ import annotations

import contextvars
import functools
import math

import keras
import numpy as np

from . import hooks
from .constants import cheaper_equivalent

__all__ = ["drawing", "bucket"]

#: The sampler of the draw in progress in this context; None outside our draws (Keras's own).
_sampler: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "keras_initpolicy_sampler", default=None
)


def drawing(initializer, sampler: str = "keras"):
    """What ``add_weight`` receives to draw ``initializer``: a callable ``(shape, dtype)``.

    With ``sampler="keras"`` it draws exactly what ``initializer(shape, dtype)`` draws; with
    ``"fast"`` a truncated normal may be drawn by a faster method (same distribution)."""
    cheaper = cheaper_equivalent(initializer)
    if cheaper is not initializer:
        return cheaper
    _route_random_ops()
    return _Draw(initializer, sampler)


class _Draw:
    __slots__ = ("initializer", "sampler")

    def __init__(self, initializer, sampler: str) -> None:
        self.initializer = initializer
        self.sampler = sampler

    def __call__(self, shape, dtype=None):
        token = _sampler.set(self.sampler)
        try:
            return self.initializer(shape, dtype=dtype)
        finally:
            _sampler.reset(token)


def bucket(n: int) -> int:
    """The size a draw of ``n`` values is made at: the next power of two (at least 256) up to
    2**20, above it the next multiple of a quarter of a power of two (at most 25 % wasted)."""
    if n <= 256:
        return 256
    power = 1 << (n - 1).bit_length()
    if power <= 2**20:
        return power
    step = power // 8  # power/2 < n <= power: steps of a quarter of power/2
    return -(-n // step) * step


def _route_random_ops() -> None:
    if hooks.backend_random_routed():
        return
    backend = keras.backend.backend()
    if backend == "jax":
        hooks.route_backend_random("normal", _jax_normal)
        hooks.route_backend_random("uniform", _jax_uniform)
        hooks.route_backend_random("truncated_normal", _jax_truncated_normal)
    elif backend in ("torch", "tensorflow"):
        hooks.route_backend_random("truncated_normal", _truncated_normal)


# -- JAX: bucketed draws ---------------------------------------------------------------------------


def _jax_normal(original, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    if not _bucketable(shape, mean, stddev, dtype, seed):
        return original(shape, mean=mean, stddev=stddev, dtype=dtype, seed=seed)
    return _bucketed("normal", shape, stddev, mean, seed)  # Keras: sample * stddev + mean


def _jax_truncated_normal(original, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    if not _bucketable(shape, mean, stddev, dtype, seed):
        return original(shape, mean=mean, stddev=stddev, dtype=dtype, seed=seed)
    return _bucketed("truncated_normal", shape, stddev, mean, seed)


def _jax_uniform(original, shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    if not _bucketable(shape, minval, maxval, dtype, seed):
        return original(shape, minval=minval, maxval=maxval, dtype=dtype, seed=seed)
    return _bucketed("uniform", shape, minval, maxval, seed)


def _bucketed(kind: str, shape, scale, shift, seed: int):
    """The first ``prod(shape)`` values of a draw at the bucketed size, shaped."""
    import jax
    import jax.numpy as jnp

    n = math.prod(shape)
    size = bucket(n)
    key = jnp.asarray([seed & 0xFFFFFFFF, 0], dtype="uint32")  # Keras's key for an int seed
    flat = _jax_bucket_function()(key, float(scale), float(shift), kind=kind, size=size)
    if kind != "uniform" and shift != 0:
        # Added on its own, as Keras does: compiled together with the product, XLA fuses a
        # multiply-add, which rounds once where Keras rounds twice
        flat = flat + shift
    if not isinstance(flat, jax.core.Tracer) and _on_host(flat):
        # slicing on the device would compile a slice and a reshape per shape
        return jax.device_put(np.asarray(flat)[:n].reshape(tuple(shape)))
    if size != n:
        flat = jax.lax.slice(flat, (0,), (n,))
    return flat.reshape(tuple(shape))


def _on_host(array) -> bool:
    """Is this JAX array in the host's memory (the CPU backend), so that NumPy can slice it
    without a transfer?"""
    return all(d.platform == "cpu" for d in array.devices())


def _bucketable(shape, a, b, dtype, seed) -> bool:
    if _sampler.get() is None:
        return False  # not one of our draws: Keras's own
    if not isinstance(seed, int) or isinstance(seed, bool):
        return False  # a SeedGenerator or the global generator: Keras advances its state
    if keras.backend.standardize_dtype(dtype or keras.config.floatx()) != "float32":
        return False
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b)):
        return False  # a tensor-valued mean or range: left to Keras
    if keras.distribution.distribution() is not None:
        return False  # sharded initialization happens under jax.jit: keep Keras's path
    try:
        return all(int(d) >= 0 for d in shape) and math.prod(shape) > 0
    except TypeError:
        return False


@functools.cache
def _jax_bucket_function():
    import jax

    @functools.partial(jax.jit, static_argnames=("kind", "size"))
    def draw(key, scale, shift, *, kind, size):
        if kind == "uniform":  # scale, shift: minval, maxval
            return jax.random.uniform(key, (size,), "float32", minval=scale, maxval=shift)
        if kind == "normal":
            sample = jax.random.normal(key, (size,), "float32")
        else:
            sample = jax.random.truncated_normal(key, -2.0, 2.0, (size,), "float32")
        # Keras's sample and product are each rounded on their own: the barrier keeps XLA from
        # reassociating the multiplications (the shift is added outside, see _bucketed)
        return jax.lax.optimization_barrier(sample) * scale

    return draw


# -- torch and TensorFlow: the truncated normal ------------------------------------------------


def _truncated_normal(original, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    sampler = _sampler.get()
    if sampler == "fast":
        return _rejection_truncated_normal(shape, mean, stddev, dtype, seed)
    if sampler == "keras" and keras.backend.backend() == "torch":
        return _torch_truncated_normal(shape, mean, stddev, dtype, seed)
    return original(shape, mean, stddev, dtype=dtype, seed=seed)


def _torch_truncated_normal(shape, mean, stddev, dtype, seed):
    """Keras's torch truncated normal, value for value: four standard normals per value (the
    same draw), the first inside (-2, 2), else the first; then ``* stddev + mean``. The first
    candidate is inside 95 % of the time, so only the rows where it is not are searched."""
    candidates = keras.random.normal(tuple(shape) + (4,), dtype=dtype, seed=seed).reshape(-1, 4)
    first = candidates[:, 0]
    chosen = first * stddev  # a new tensor: Keras's product, value for value
    rows = (first.abs() >= 2).nonzero().squeeze(1)  # the first candidate is outside (-2, 2)
    if rows.numel():
        rest = candidates[rows]
        first_inside = _inside(rest).max(-1, keepdim=True)[1]  # as Keras picks: first max
        chosen[rows] = rest.gather(-1, first_inside).squeeze(-1) * stddev
    return chosen.add_(mean).reshape(tuple(shape))


def _inside(x):
    return (x > -2) & (x < 2)


def _rejection_truncated_normal(shape, mean, stddev, dtype, seed):
    """N(0, 1) truncated to (-2, 2), exactly, by rejection: one standard normal per value, and
    the 4.6 % outside (-2, 2) drawn again until none is left (about seven rounds for 10**8
    values, each over what is left); then ``* stddev + mean``. A vectorised normal costs about
    what a uniform does, where Keras draws four normals per value (torch) or runs TensorFlow's
    slow stateless truncated normal. Reproducible: the rounds draw from seeds derived from the
    weight's own."""
    first = _int_seed(seed)
    dtype = dtype or keras.config.floatx()
    n = math.prod(shape)
    if keras.backend.backend() == "torch":
        return _torch_rejection(shape, n, mean, stddev, dtype, first)
    ops = keras.ops
    flat = keras.random.normal((n,), dtype="float32", seed=first)
    for round_ in range(1, _ROUNDS):
        outside = ops.nonzero(ops.greater_equal(ops.abs(flat), 2.0))[0]
        count = int(outside.shape[0])
        if not count:
            break
        again = keras.random.normal((count,), dtype="float32", seed=_round_seed(first, round_))
        flat = ops.scatter_update(flat, ops.expand_dims(outside, 1), again)
    flat = ops.clip(flat, -2.0, 2.0)  # only if _ROUNDS ran out: never in practice
    return ops.cast(ops.reshape(flat * stddev + mean, tuple(shape)), dtype)


def _torch_rejection(shape, n, mean, stddev, dtype, first):
    import torch

    device = hooks.torch_device()
    generator = torch.Generator(device=device).manual_seed(first)
    torch_dtype = keras.backend.standardize_dtype(dtype)
    flat = torch.randn(n, generator=generator, dtype=getattr(torch, torch_dtype), device=device)
    outside = (flat.abs() >= 2).nonzero().squeeze(1)
    for _ in range(1, _ROUNDS):
        if not outside.numel():
            break
        again = torch.randn(
            outside.numel(), generator=generator, dtype=flat.dtype, device=flat.device
        )
        flat[outside] = again
        outside = outside[again.abs() >= 2]
    flat.clamp_(-2.0, 2.0)  # only if _ROUNDS ran out: never in practice
    return flat.mul_(stddev).add_(mean).reshape(tuple(shape))


#: Rounds of redrawing before the (never reached) clip: 0.046**40 * 10**12 values is < 1e-40.
_ROUNDS = 40


def _int_seed(seed) -> int:
    """The weight's seed as an integer: as given, or one drawn from its ``SeedGenerator`` or
    the global generator (advancing it once, as one Keras draw would)."""
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed & 0x7FFFFFFF
    drawn = keras.random.randint((), 0, 2**31 - 1, seed=seed)
    return int(keras.ops.convert_to_numpy(drawn))


def _round_seed(seed: int, round_: int) -> int:
    return (seed * 1_000_003 + round_ * 7_919) % (2**31 - 1)
