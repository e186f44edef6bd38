"""The cost of one large draw: Keras's own initializer against ``runtime/draw.py``.

Run: KERAS_BACKEND=torch python benchmarks/bench_draw.py [--shape 4096,4096] [--repeat 5]

For each initializer (a truncated normal, a normal, a uniform) it times, alternated in one
process after a warm-up: Keras's ``initializer(shape)``, ``drawing(initializer, "keras")``
(Keras's values, bit for bit) and ``drawing(initializer, "fast")`` (the same distribution), and
prints the medians and the ratios to Keras. It also checks that the ``keras`` draw equals
Keras's.
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np

from keras_initpolicy.runtime.draw import drawing

INITIALIZERS = {
    "truncated_normal": lambda: keras.initializers.TruncatedNormal(stddev=0.02, seed=1),
    "he_normal": lambda: keras.initializers.HeNormal(seed=2),
    "random_normal": lambda: keras.initializers.RandomNormal(stddev=0.02, seed=3),
    "glorot_uniform": lambda: keras.initializers.GlorotUniform(seed=4),
}


def _timed(fn, shape) -> float:
    t0 = time.perf_counter()
    value = fn(shape, dtype="float32")
    keras.ops.convert_to_numpy(keras.ops.sum(value))  # until the value exists
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="4096,4096")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    shape = tuple(int(d) for d in args.shape.split(","))
    print(f"backend={keras.backend.backend()} shape={shape} repeat={args.repeat}")
    print(f"{'initializer':<18} {'keras s':>8} {'ours s':>8} {'fast s':>8} {'ours/keras':>10} "
          f"{'fast/keras':>10} identical")  # fmt: skip
    for name, make in INITIALIZERS.items():
        variants = {
            "keras": make(),
            "ours": drawing(make(), "keras"),
            "fast": drawing(make(), "fast"),
        }
        same = np.array_equal(
            keras.ops.convert_to_numpy(variants["keras"](shape)),
            keras.ops.convert_to_numpy(variants["ours"](shape)),
        )
        times = {k: [] for k in variants}
        for _ in range(args.repeat):
            for key, fn in variants.items():
                times[key].append(_timed(fn, shape))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(
            f"{name:<18} {med['keras']:8.3f} {med['ours']:8.3f} {med['fast']:8.3f} "
            f"{med['ours'] / med['keras']:10.3f} {med['fast'] / med['keras']:10.3f} {same}",
            flush=True,
        )


if __name__ == "__main__":
    main()
