"""Drawing a weight's values: :func:`drawing` for a new weight, :func:`draw_into` for one drawn
again (docs/reference.md, "@sampler").

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
- **torch, in place.** A weight drawn again after it was created (one that waited for its
  graph, :func:`draw_into`) is drawn straight into its variable's storage: Keras's uniform,
  normal and truncated normal, same values, no second buffer and no copy.
- **torch, truncated normal.** Keras draws four normals per value and picks the first inside
  (-2, 2) with ``max`` and ``gather`` over all of them; here the same candidates are drawn
  (into a buffer with cheaper page faults, ``torch_tensors.scratch``) and only the rows whose
  first candidate is outside are searched.
- **``@sampler fast``** (torch and TensorFlow): the same truncated normal by a faster method,
  other values than Keras's for the same seed: on torch by rejection (one normal per value, the
  4.6 % outside (-2, 2) drawn again), on TensorFlow by the inverse CDF (one uniform and
  ``erfinv`` per value). On JAX, ``fast`` is ``keras``: its truncated normal is an
  inverse CDF, as cheap as a uniform.

Constants are filled by ``constants.py`` where that is cheaper. On TensorFlow a weight decided
while its graph is still being built is drawn on a second thread (``draw_thread.py``).
"""

from __future__ import annotations

import contextvars
import functools
import math

import keras
import numpy as np

from . import hooks, torch_tensors
from .constants import cheaper_equivalent

__all__ = ["drawing", "draw_into", "bucket"]

#: The sampler of the draw in progress in this context; None outside our draws (Keras's own).
_sampler: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "keras_initpolicy_sampler", default=None
)
#: torch: ``[storage]`` of the variable ``draw_into`` is drawing, until a draw takes it.
_target: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "keras_initpolicy_target", default=None
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


def draw_into(variable, initializer, sampler: str = "keras") -> None:
    """Give an existing ``variable`` the value ``drawing(initializer, sampler)`` makes for its
    shape and dtype (a weight drawn again once its graph is known). On torch the draw of exactly
    that shape writes straight into the variable's storage: no second buffer, no copy."""
    draw = drawing(initializer, sampler)
    storage = hooks.torch_storage(variable) if keras.backend.backend() == "torch" else None
    token = _target.set(None if storage is None else [storage])
    try:
        value = draw(tuple(variable.shape), dtype=variable.dtype)
    finally:
        _target.reset(token)
    if value is storage:
        return
    if storage is not None and _overlaps(value, storage):
        value = value.clone()  # computed from the storage (a view of it): copy it out first
    variable.assign(value)


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
    elif backend == "torch":
        hooks.route_backend_random("normal", _torch_normal)
        hooks.route_backend_random("uniform", _torch_uniform)
        hooks.route_backend_random("truncated_normal", _truncated_normal)
    elif backend == "tensorflow":
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
    if not _ours(shape, dtype, a, b):
        return False
    if not isinstance(seed, int) or isinstance(seed, bool):
        return False  # a SeedGenerator or the global generator: Keras advances its state
    if keras.backend.standardize_dtype(dtype or keras.config.floatx()) != "float32":
        return False
    return keras.distribution.distribution() is None  # sharded initialization: Keras's path


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


# -- torch: Keras's draws, in place ------------------------------------------------------------


def _take_target(shape, torch_dtype):
    """The storage of the variable being drawn (``draw_into``), to write this draw into,
    if the draw is exactly its shape and dtype; given out once."""
    holder = _target.get()
    if not holder:
        return None
    target = holder[0]
    if tuple(target.shape) != tuple(shape) or target.dtype != torch_dtype:
        return None
    holder.clear()
    return target


def _torch_out(shape, dtype):
    """Where a torch draw writes: the variable's storage when it is being assigned, else a new
    tensor."""
    import torch

    torch_dtype = getattr(torch, keras.backend.standardize_dtype(dtype or keras.config.floatx()))
    target = _take_target(shape, torch_dtype)
    if target is not None:
        return target
    make = torch.zeros if math.prod(shape) >= _PREFAULT else torch.empty
    return make(tuple(shape), dtype=torch_dtype, device=hooks.torch_device())


#: From this many values a new tensor is made with ``torch.zeros``, not ``torch.empty``: its
#: pages are faulted in by all of torch's threads, before a draw fills it on one.
_PREFAULT = 1 << 16


def _ours(shape, dtype, *params) -> bool:
    """Is this a draw ``draw.py`` makes itself: one of ours (not Keras's own, made outside a
    ``drawing``), at a non-empty shape, in a float dtype, with scalar parameters, not on
    torch's meta device? Anything else is Keras's."""
    if _sampler.get() is None or not _scalars(*params):
        return False
    if keras.backend.standardize_dtype(dtype or keras.config.floatx()) not in _FLOATS:
        return False
    try:
        if not shape or not all(int(d) > 0 for d in shape):
            return False
    except TypeError:  # a dynamic dimension
        return False
    return keras.backend.backend() != "torch" or str(hooks.torch_device()) != "meta"


_FLOATS = frozenset({"float16", "bfloat16", "float32", "float64"})


def _torch_uniform(original, shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Keras's torch uniform: ``torch.rand``, then ``* (maxval - minval) + minval``, in place."""
    if not _ours(shape, dtype, minval, maxval):
        return original(shape, minval=minval, maxval=maxval, dtype=dtype, seed=seed)
    generator = hooks.keras_torch_generator(seed)
    out = _torch_out(shape, dtype)
    out.uniform_(0.0, 1.0, generator=generator)  # what torch.rand draws
    return out.mul_(maxval - minval).add_(minval)


def _torch_normal(original, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Keras's torch normal: ``torch.normal(mean, stddev, size)``, in place."""
    if not _ours(shape, dtype, mean, stddev):
        return original(shape, mean=mean, stddev=stddev, dtype=dtype, seed=seed)
    generator = hooks.keras_torch_generator(seed)
    return _torch_out(shape, dtype).normal_(mean, stddev, generator=generator)


def _truncated_normal(original, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    if not _ours(shape, dtype, mean, stddev):
        return original(shape, mean, stddev, dtype=dtype, seed=seed)
    torch = keras.backend.backend() == "torch"
    if _sampler.get() == "fast":
        if torch:
            return _torch_rejection(shape, mean, stddev, dtype, _int_seed(seed))
        return _inverse_cdf_truncated_normal(shape, mean, stddev, dtype, _int_seed(seed))
    if torch:
        return _torch_truncated_normal(shape, mean, stddev, dtype, seed)
    return original(shape, mean, stddev, dtype=dtype, seed=seed)


def _torch_truncated_normal(shape, mean, stddev, dtype, seed):
    """Keras's torch truncated normal, value for value: ``shape + (4,)`` standard normals (the
    same draw), per value the first candidate inside (-2, 2), else the first; then ``* stddev
    + mean``. The first candidate is inside 95 % of the time, so only the rows where it is not
    are searched, where Keras compares, reduces and gathers over all four."""
    import torch

    generator = hooks.keras_torch_generator(seed)
    dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
    out = _torch_out(shape, dtype)
    flat = out.view(-1)
    candidates = torch_tensors.scratch((flat.numel(), 4), dtype)  # freed on return
    candidates.normal_(0.0, 1.0, generator=generator)
    for start in range(0, flat.numel(), _SCAN):  # a part at a time, while it is in cache
        rows = candidates[start : start + _SCAN]
        part = flat[start : start + _SCAN]
        torch.mul(rows[:, 0], stddev, out=part)  # Keras's product, value for value
        searched = _torch_outside(rows[:, 0], 2.0)  # |x| >= 2: not inside (-2, 2)
        if searched.numel():
            rest = rows[searched]
            first_inside = _inside(rest).max(-1, keepdim=True)[1]  # as Keras picks: first max
            part[searched] = rest.gather(-1, first_inside).squeeze(-1).mul_(stddev)
    return out.add_(mean)


def _inside(x):
    return (x > -2) & (x < 2)


def _overlaps(value, storage) -> bool:
    try:
        return value.untyped_storage().data_ptr() == storage.untyped_storage().data_ptr()
    except AttributeError:  # not a torch tensor
        return False


# -- @sampler fast: the truncated normal by rejection (torch), by the inverse CDF (TensorFlow) --


def _torch_rejection(shape, mean, stddev, dtype, first):
    """N(mean, stddev) truncated to two standard deviations, exactly, by rejection, drawn
    straight into its output: ``normal_`` at the final scale (one normal per value costs
    about what a uniform does; Keras draws four), then the 4.6 % at or beyond
    ``2 * stddev`` drawn again until none is left (about seven rounds for 10**8 values, each
    over what is left). Reproducible: every round reads the weight's own generator."""
    import torch

    out = _torch_out(shape, dtype)
    flat = out.view(-1)
    if not stddev > 0:
        return out.fill_(mean)  # what Keras's ``* 0 + mean`` gives
    generator = torch.Generator(device=flat.device).manual_seed(first)
    bound = 2.0 * stddev
    flat.normal_(0.0, stddev, generator=generator)
    outside = _torch_outside(flat, bound)
    for _ in range(1, _ROUNDS):
        if not outside.numel():
            break
        again = flat.new_empty(outside.numel()).normal_(0.0, stddev, generator=generator)
        flat[outside] = again
        outside = outside[again.abs() >= bound]
    else:
        flat.clamp_(-bound, bound)  # only if _ROUNDS ran out: never in practice
    if mean:
        flat.add_(mean)
    return out


#: Values torch works on at a time. The rejection scans a part of this many (its ``|x|`` and
#: mask buffers reused from one part to the next, where scanning a whole large weight at once
#: writes and faults in two new buffers its size); Keras's truncated normal scales, scans and
#: picks among the candidates of this many rows while they are in cache.
_SCAN = 1 << 20


def _torch_outside(flat, bound):
    """The indices of ``flat``'s values at or beyond ``bound`` in absolute value."""
    import torch

    if flat.numel() <= _SCAN:
        return (flat.abs() >= bound).nonzero().squeeze(1)
    magnitude = flat.new_empty(_SCAN)
    mask = torch.empty(_SCAN, dtype=torch.bool, device=flat.device)
    found = []
    for start in range(0, flat.numel(), _SCAN):
        part = flat[start : start + _SCAN]
        size = part.numel()
        torch.ge(torch.abs(part, out=magnitude[:size]), bound, out=mask[:size])
        found.append(mask[:size].nonzero().squeeze(1).add_(start))
    return torch.cat(found)


def _inverse_cdf_truncated_normal(shape, mean, stddev, dtype, first):
    """N(mean, stddev) truncated to two standard deviations by the inverse CDF: a uniform in
    (-erf(sqrt 2), erf(sqrt 2)), then ``sqrt(2) * erfinv``, as JAX draws its own. Where
    TensorFlow's stateless truncated normal runs a rejection loop per value, this is one
    uniform and one elementwise function. The uniform stops 1e-6 short of the ends, so that
    float32 rounding never reaches the bounds (1e-6 of the mass, next to them, is lost)."""
    ops = keras.ops
    dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
    work = "float64" if dtype == "float64" else "float32"
    edge = _ERF_SQRT2 - 1e-6
    p = keras.random.uniform(tuple(shape), minval=-edge, maxval=edge, dtype=work, seed=first)
    x = ops.erfinv(p) * (math.sqrt(2.0) * stddev)
    if mean:
        x = x + mean
    return x if work == dtype else ops.cast(x, dtype)


#: P(|Z| < 2) for a standard normal Z
_ERF_SQRT2 = math.erf(math.sqrt(2.0))


def _scalars(*values) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


#: Rounds of redrawing before the (never reached) clip: 0.046**40 * 10**12 values is < 1e-40.
_ROUNDS = 40


def _int_seed(seed) -> int:
    """The weight's seed as an integer: as given, or one drawn from its ``SeedGenerator`` or
    the global generator (advancing it once, as one Keras draw would)."""
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed & 0x7FFFFFFF
    drawn = keras.random.randint((), 0, 2**31 - 1, seed=seed)
    return int(keras.ops.convert_to_numpy(drawn))
