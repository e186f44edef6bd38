"""TensorFlow's own ops, one pass over a weight each: what a truncated normal can cost there.

Run: python benchmarks/bench_tf_ops.py [--shape 1024,4096] [--repeat 15]

TensorFlow only (it sets ``KERAS_BACKEND`` itself). Prints the median milliseconds of each op
over a float32 tensor of ``--shape`` and its ratio to the uniform draw Keras's ``glorot_uniform``
makes (``stateless_uniform`` with bounds: the random bits, a multiply and an add). The
``@sampler fast`` truncated normal on TensorFlow is the ``inverse CDF`` row
(``runtime/draw.py``, ``_inverse_cdf_truncated_normal``); the other rows are the ways around
``erfinv`` that were tried, so that a change of TensorFlow's kernels shows up here first.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

os.environ["KERAS_BACKEND"] = "tensorflow"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

_EDGE = math.erf(math.sqrt(2.0)) - 1e-6  # as runtime/draw.py draws its uniform
_PART = 1 << 18  # values one NumPy generator draws (one per part: values whatever the threads)
_CHUNK = 1 << 14  # values NumPy transforms at a time, in cache


def _erfinv_over_y(degree=6):
    """Coefficients of erfinv(y) / y as a polynomial in w = -log(1 - y**2), for |y| <= _EDGE
    (least squares at Chebyshev nodes, against TensorFlow's float64 erfinv)."""
    k = np.arange(4000)
    w = (np.cos(np.pi * (k + 0.5) / k.size) + 1) / 2 * -math.log1p(-_EDGE * _EDGE)
    y = np.sqrt(-np.expm1(-w))
    f = tf.math.erfinv(tf.constant(y, tf.float64)).numpy() / y
    return np.polynomial.polynomial.polyfit(w, f, degree, w=1 / f)


def _numpy_inverse_cdf(out, seed, part, coefficients):
    """One part of a NumPy inverse-CDF truncated normal: SFC64 uniforms, then y * P(w)."""
    generator = np.random.Generator(np.random.SFC64([seed, part]))
    c = np.asarray(coefficients * math.sqrt(2.0) * 0.05, np.float32)
    w, p = np.empty(_CHUNK, np.float32), np.empty(_CHUNK, np.float32)
    for start in range(0, out.size, _CHUNK):
        y = out[start : start + _CHUNK]
        wn, pn = w[: y.size], p[: y.size]
        generator.random(out=y, dtype=np.float32)
        y *= np.float32(2 * _EDGE)
        y -= np.float32(_EDGE)
        np.log(np.subtract(np.float32(1), np.multiply(y, y, out=wn), out=wn), out=wn)  # -w
        np.multiply(wn, -c[-1], out=pn)
        for i in range(len(c) - 2, -1, -1):
            pn += c[i]
            if i:
                pn *= -wn
        y *= pn


def _by_parts(size, pool, fill):
    """A float32 array of ``size`` values, ``fill(part, index)`` run on ``pool`` for each part
    of ``_PART`` values."""
    out = np.empty(size, np.float32)
    starts = range(0, size, _PART)
    list(pool.map(lambda i: fill(out[starts[i] : starts[i] + _PART], i), range(len(starts))))
    return out


def _numpy_draw(size, seed, pool, coefficients):
    return _by_parts(size, pool, lambda part, i: _numpy_inverse_cdf(part, seed, i, coefficients))


def _numpy_bits(size, seed, pool):
    def fill(part, i):
        np.random.Generator(np.random.SFC64([seed, i])).random(out=part, dtype=np.float32)

    return _by_parts(size, pool, fill)


def _cases(shape, seed):
    size = int(np.prod(shape))
    uniform = tf.random.stateless_uniform(shape, seed)
    table = tf.random.stateless_uniform((1 << 16,), seed)
    index = tf.cast(uniform * (1 << 16), tf.int32)

    @tf.function(autograph=False)
    def graph_inverse_cdf(seed):
        p = tf.random.stateless_uniform(shape, seed, minval=-_EDGE, maxval=_EDGE)
        return tf.math.erfinv(p) * 0.05

    coefficients = _erfinv_over_y()
    one, two = ThreadPoolExecutor(1), ThreadPoolExecutor(2)

    def numpy_bits_tf_erfinv():
        u = tf.convert_to_tensor(_numpy_bits(size, 7, two))
        return tf.math.erfinv(u * (2 * _EDGE) - _EDGE) * 0.05

    return {
        "Keras uniform (bits, *, +)": lambda: tf.random.stateless_uniform(
            shape, seed, minval=-0.1, maxval=0.1
        ),
        "uniform bits to [0, 1)": lambda: tf.random.stateless_uniform(shape, seed),
        "multiply by a scalar": lambda: uniform * 0.5,
        "log": lambda: tf.math.log(uniform),
        "erfinv": lambda: tf.math.erfinv(uniform),
        "ndtri": lambda: tf.math.ndtri(uniform),
        "inverse CDF (uniform, erfinv, *)": lambda: (
            tf.math.erfinv(tf.random.stateless_uniform(shape, seed, minval=-_EDGE, maxval=_EDGE))
            * 0.05
        ),
        "inverse CDF in a tf.function": lambda: graph_inverse_cdf(seed),
        "stateless normal": lambda: tf.random.stateless_normal(shape, seed),
        "stateless truncated normal (Keras's)": lambda: tf.random.stateless_truncated_normal(
            shape, seed
        ),
        "uint64 bits, half as many": lambda: tf.random.stateless_uniform(
            (size // 2,), seed, minval=None, maxval=None, dtype=tf.uint64
        ),
        "gather from a 65,536-entry table": lambda: tf.gather(table, index),
        "NumPy bits (SFC64, 2 threads), TF erfinv": numpy_bits_tf_erfinv,
        "NumPy inverse CDF, 1 thread, to TF": lambda: tf.convert_to_tensor(
            _numpy_draw(size, 7, one, coefficients)
        ),
        "NumPy inverse CDF, 2 threads, to TF": lambda: tf.convert_to_tensor(
            _numpy_draw(size, 7, two, coefficients)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="1024,4096")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))
    seed = tf.constant([1, 2], tf.int32)
    cases = _cases(shape, seed)
    times = {name: [] for name in cases}
    for fn in cases.values():
        fn()  # warm-up: the tf.function traces here
    for _ in range(args.repeat):  # alternated, so drift hits every op alike
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["Keras uniform (bits, *, +)"])
    print(f"TensorFlow {tf.__version__}, float32 {shape}, median of {args.repeat}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:40s} {median * 1e3:7.2f} ms  {median / base:5.2f}x Keras uniform")


if __name__ == "__main__":
    main()
