"""What drawing on a second thread buys on TensorFlow: a sketch's bound, and the policy's figure.

Run: python benchmarks/bench_tf_overlap.py [--repeat 5] [--model ConvNeXtBase]

TensorFlow only (it sets ``KERAS_BACKEND`` itself). Every build runs in a fresh process, the
variants alternating; printed: the median wall time of each and its ratio to ``plain``.

- ``plain``: the model's own code, no policy;
- ``policy``: ``examples/policies/default.initpolicy`` with ``@sampler fast``, the issue's
  target; also printed, its split: the build until the graph completes, and what its draws take
  after that (the rules read the activation that follows a layer: before ``decide_early`` and
  the draw thread, every such weight was decided, and drawn, only then);
- ``at-creation``: a sketch without the package: every random kernel drawn, when its layer
  creates it, as the policy's fast He normal (same ops, same count of values) — what the
  policy would cost if its decisions were known when a weight is made;
- ``worker``: the same draws on a second thread, each started when its kernel is created (from
  one zeros tensor per shape) and assigned there; the time stops once every draw is assigned —
  the most that overlapping the draws with Keras's Python could give.

The sketches patch ``keras.layers.Layer.add_weight`` here, in a throwaway process.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

os.environ["KERAS_BACKEND"] = "tensorflow"

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("plain", "policy", "at-creation", "worker")
_EDGE = math.erf(math.sqrt(2.0))  # the truncated normal's uniform lies in (-_EDGE, _EDGE)
_STD_OF_UNIT = 0.87962566103423978  # std of a unit normal truncated at 2


def _he_truncated(shape, seed):
    import tensorflow as tf

    scale = math.sqrt(2.0 / math.prod(shape[:-1])) / _STD_OF_UNIT * math.sqrt(2.0)
    u = tf.random.stateless_uniform(shape, seed=seed, minval=-_EDGE, maxval=_EDGE)
    return tf.math.erfinv(u) * scale


def _patch(variant: str, jobs: list) -> None:
    """Draw every random kernel as ``_he_truncated``, at once or on a worker thread."""
    from concurrent.futures import ThreadPoolExecutor

    import keras
    import tensorflow as tf

    original = keras.layers.Layer.add_weight
    worker = ThreadPoolExecutor(1)
    zeros: dict = {}
    count = [0]

    def add_weight(self, shape=None, initializer=None, *args, **kwargs):
        init = keras.initializers.get(initializer) if initializer is not None else None
        if getattr(init, "seed", None) is None or shape is None or len(shape) < 2:
            return original(self, shape, initializer, *args, **kwargs)
        shape, seed = tuple(shape), (count[0], 7)
        count[0] += 1
        if variant == "at-creation":
            drawn = _he_truncated(shape, seed)
            return original(self, shape, lambda *_, **__: drawn, *args, **kwargs)

        def zero(shape, dtype=None):
            key = (tuple(shape), dtype)
            if key not in zeros:
                zeros[key] = tf.zeros(shape, dtype)
            return zeros[key]

        variable = original(self, shape, zero, *args, **kwargs)
        jobs.append(worker.submit(lambda: variable.assign(_he_truncated(shape, seed))))
        return variable

    keras.layers.Layer.add_weight = add_weight


def one(model: str, variant: str) -> dict:
    warnings.simplefilter("ignore")
    import keras

    keras.utils.set_random_seed(1)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_models import DEFAULT_POLICY, _builder

    build, jobs, split = _builder(model), [], {}
    if variant in ("at-creation", "worker"):
        _patch(variant, jobs)
    t0 = time.perf_counter()
    if variant == "policy":
        import keras_initpolicy as kip
        from keras_initpolicy.runtime import weights

        policy = kip.parse(DEFAULT_POLICY.read_text("utf-8") + "\n@sampler fast\n")
        resolve = weights.resolve_graph

        def timed(state, graph):
            t1 = time.perf_counter()
            resolve(state, graph)
            split["graph"] = t1 - t0  # the last (outermost) graph's
            split["draws"] = time.perf_counter() - t1

        weights.resolve_graph = timed
        with policy.scope():
            build()
    else:
        build()
        for job in jobs:
            job.result()
    return {"seconds": time.perf_counter() - t0, **split}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", default="ConvNeXtBase")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    compileall.compile_dir(ROOT / "keras_initpolicy", quiet=1)  # as bench_models.py does
    runs: dict = {v: [] for v in VARIANTS}
    for _ in range(args.repeat):
        for variant in VARIANTS:
            command = [sys.executable, __file__, "--one", args.model, variant]
            out = subprocess.run(command, capture_output=True, text=True, check=True)
            runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    plain = statistics.median(r["seconds"] for r in runs["plain"])
    print(f"{args.model}, TensorFlow, fresh process per build, medians of {args.repeat}")
    for variant in VARIANTS:
        seconds = statistics.median(r["seconds"] for r in runs[variant])
        line = f"  {variant:<12} {seconds:.2f} s = {seconds / plain:.3f}x plain"
        if variant == "policy":
            graph = statistics.median(r["graph"] for r in runs[variant])
            draws = statistics.median(r["draws"] for r in runs[variant])
            line += f" (graph complete at {graph:.2f} s, then its draws {draws:.2f} s)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
