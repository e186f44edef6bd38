"""The draw thread: on TensorFlow, a weight decided while its graph is still being built is drawn
on a second thread, and Keras's Python goes on building meanwhile (``weights.decide_early``).

TensorFlow runs each op to completion on the thread that calls it (on both cores), so a draw
stops the build for its whole length, while the build's own Python keeps one core busy and
leaves the other idle. Drawn here, the two overlap (benchmarks/README.md, "Drawing, fifth
session"). JAX needs none of this: it dispatches its draws asynchronously already.

A draw runs here only when nothing it reads depends on the thread: no Keras distribution and no
TensorFlow distribution strategy (both are per thread), and an integer seed (a ``SeedGenerator``
is state the build's thread may advance too). :func:`join` waits for one draw and re-raises
what it raised.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import keras

__all__ = ["serves_backend", "usable", "seeded_by_int", "submit", "join"]

#: Backends whose draws block the calling thread until they are done.
_BACKENDS = frozenset({"tensorflow"})

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def serves_backend() -> bool:
    """Does the backend draw on the build's thread until done, so that weights are decided
    while their graph is built (``weights.decide_early``), to be drawn here?"""
    return keras.backend.backend() in _BACKENDS


def usable() -> bool:
    """May this thread's current draws go to the draw thread? (Where not, a weight decided early
    is drawn at once, on the build's thread: the same decisions, in the same order.)"""
    if not serves_backend():
        return False
    if keras.distribution.distribution() is not None:
        return False
    import tensorflow as tf

    return not tf.distribute.has_strategy()


def seeded_by_int(initializer) -> bool:
    """Does ``initializer`` draw from an integer seed (no state another thread advances)?"""
    seed = getattr(initializer, "seed", None)
    return isinstance(seed, int) and not isinstance(seed, bool)


def submit(fn, *args) -> Future:
    """Run ``fn(*args)`` on the draw thread (one for the process, draws in submission order)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(1, thread_name_prefix="keras-initpolicy-draw")
    return _pool.submit(fn, *args)


def join(future: Future | None) -> None:
    """Wait for ``future``'s draw; raise what it raised."""
    if future is not None:
        future.result()
