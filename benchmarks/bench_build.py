"""Build overhead: a deep Conv->BN->ReLU + Dense network under a policy vs the same network
with the same initializers written by hand (issue 3: time ratio <= 1.15, memory ratio <= 1.10).

Run: KERAS_BACKEND=jax python benchmarks/bench_build.py [--blocks 24] [--filters 64] [--repeat 9]

Both variants are built alternately in one process (hand, policy, hand, policy, ...), after
one warm-up build of each; the script prints the median wall time of each, the ratio of the
medians, and the median of the ratios of adjacent (hand, policy) pairs, which is less sensitive to
the machine drifting during the run.
Memory: the peak of Python-tracked allocations (tracemalloc, which includes NumPy buffers)
during each build, median over the same runs, and the ratio. The policy variant includes
everything the plugin does: hooks, resolution, graph-dependent re-decision of the convs
(their activation is known only once the BN -> ReLU consumers exist). The hand variant runs on
plain Keras: the hooks are taken out before each of its builds (``--hand-hooks`` leaves them in,
idle, as the script did before the third 2026-11-30 session).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc

import keras
from keras import layers

import keras_initpolicy as kip
from keras_initpolicy.runtime import constants, hooks
from keras_initpolicy.runtime.scope import _Callbacks

POLICY = kip.parse(
    """
    @seed 7
    Conv2D[activation=relu] -> he_normal
    Dense[activation=relu]  -> he_normal
    Dense                   -> glorot_uniform
    BatchNormalization.gamma -> ones
    *.bias                  -> zeros
    """
)


def build(blocks: int, by_hand: bool, filters: int = 64) -> keras.Model:
    def init(kind):
        return (
            {
                "he": keras.initializers.HeNormal(seed=1),
                "glorot": keras.initializers.GlorotUniform(seed=2),
            }[kind]
            if by_hand
            else None
        )

    def kw(kind):
        return {"kernel_initializer": init(kind), "bias_initializer": "zeros"} if by_hand else {}

    inputs = keras.Input((16, 16, 8))
    x = inputs
    for _ in range(blocks):
        x = layers.Conv2D(filters, 3, padding="same", **kw("he"))(x)
        x = layers.BatchNormalization(**({"gamma_initializer": "ones"} if by_hand else {}))(x)
        x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(64, activation="relu", **kw("he"))(x)
    outputs = layers.Dense(10, **kw("glorot"))(x)
    return keras.Model(inputs, outputs)


FILTERS = 64


def _build_once(blocks: int, by_hand: bool) -> None:
    if by_hand:
        model = build(blocks, True, FILTERS)
    else:
        with POLICY.scope():
            model = build(blocks, False, FILTERS)
    if SYNC:
        _wait_for(model)


SYNC = True
HAND_HOOKS = False


def _wait_for(model) -> None:
    """Until every weight's value exists: JAX dispatches each initializer's draw asynchronously,
    so without this a build "ends" with its random draws still queued and they are paid by
    whatever runs next (TensorFlow and torch draw synchronously on the CPU)."""
    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready([w.value for w in model.weights])


CLOCK = time.perf_counter


def _prepare(blocks: int, by_hand: bool) -> None:
    """Outside the clock: the hand variant runs on plain Keras (no hooks: what a user without
    the plugin has), the policy variant with the hooks installed. Patching ``Layer`` resets
    Python's attribute caches for every layer class, so after a switch one untimed build of the
    same variant warms them again (both variants are measured warm)."""
    plain = by_hand and not HAND_HOOKS
    if plain == hooks.installed():
        if plain:
            hooks.uninstall()
        else:
            hooks.install(_Callbacks)
        _build_once(blocks, by_hand)


def measure_time(blocks: int, by_hand: bool) -> float:
    _prepare(blocks, by_hand)
    gc.collect()
    t0 = CLOCK()
    _build_once(blocks, by_hand)
    return CLOCK() - t0


def measure_memory(blocks: int, by_hand: bool) -> int:
    """Peak Python-tracked bytes during one build (tracemalloc slows the build, so timing
    runs are separate)."""
    _prepare(blocks, by_hand)
    gc.collect()
    tracemalloc.start()
    _build_once(blocks, by_hand)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time (the figure we report); cpu: process CPU time of all threads, "
        "steadier on a busy machine",
    )
    parser.add_argument(
        "--no-sync",
        action="store_true",
        help="stop the clock when the Python build returns, before JAX's queued draws finish "
        "(how this script measured before 2026-11-30)",
    )
    parser.add_argument(
        "--keras-constants",
        action="store_true",
        help="let Keras fill the constants the policy decides (zeros, ones), as before the fourth "
        "2026-11-30 session; the default fills them with NumPy where that is cheaper "
        "(runtime/constants.py, HostConstant)",
    )
    parser.add_argument(
        "--hand-hooks",
        action="store_true",
        help="build the hand-written variant with the plugin's hooks installed (idle, no scope), "
        "as this script did before 2026-11-30's third session; the default is plain Keras",
    )
    args = parser.parse_args()
    if args.keras_constants:
        constants._HOST_CONSTANTS = frozenset()
        constants._host_constants.cache_clear()
    global FILTERS, CLOCK, SYNC, HAND_HOOKS
    HAND_HOOKS = args.hand_hooks
    SYNC = not args.no_sync
    FILTERS = args.filters
    CLOCK = time.perf_counter if args.clock == "wall" else time.process_time
    measure_time(args.blocks, True), measure_time(args.blocks, False)  # warm-up
    hand_t, pol_t, hand_m, pol_m = [], [], [], []
    for _ in range(args.repeat):
        hand_t.append(measure_time(args.blocks, True))
        pol_t.append(measure_time(args.blocks, False))
    for _ in range(max(3, args.repeat // 3)):
        hand_m.append(measure_memory(args.blocks, True))
        pol_m.append(measure_memory(args.blocks, False))
    ht, pt = statistics.median(hand_t), statistics.median(pol_t)
    hm, pm = statistics.median(hand_m), statistics.median(pol_m)
    print(
        f"backend={keras.backend.backend()} blocks={args.blocks} filters={args.filters} "
        f"repeat={args.repeat} clock={args.clock} sync={SYNC} "
        f"hand_hooks={HAND_HOOKS} keras_constants={args.keras_constants}"
    )
    print(f"by hand: median {ht * 1e3:.1f} ms, peak {hm / 2**20:.2f} MiB")
    print(f"policy:  median {pt * 1e3:.1f} ms, peak {pm / 2**20:.2f} MiB")
    paired = statistics.median(p / h for p, h in zip(pol_t, hand_t, strict=True))
    print(
        f"time ratio policy/hand: {pt / ht:.3f} (median of paired runs {paired:.3f}); "
        f"memory ratio: {pm / hm:.3f}"
    )


if __name__ == "__main__":
    main()
