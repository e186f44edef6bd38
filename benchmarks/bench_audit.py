"""Audit speed: ``kip.audit(ResNet50)`` vs building ResNet50 (issue 12: ratio < 1).

Run: KERAS_BACKEND=jax python benchmarks/bench_audit.py [--repeat 5] [--model ResNet50]

Each repeat builds the model (``weights=None``, full size, 1000 classes, no policy) and then
audits it; the script prints the median wall time of both and their ratio, and the first
audit's time separately (it pays one-time imports and caches). The audit reads every weight's
values (25.6 M for ResNet50), walks the graph and computes every check of docs/audit.md.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import keras

import keras_initpolicy as kip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", default="ResNet50")
    args = parser.parse_args()
    constructor = getattr(keras.applications, args.model)
    builds, audits = [], []
    for _ in range(args.repeat):
        keras.backend.clear_session()
        gc.collect()
        start = time.perf_counter()
        model = constructor(weights=None)
        builds.append(time.perf_counter() - start)
        start = time.perf_counter()
        findings = kip.audit(model)
        audits.append(time.perf_counter() - start)
        del model
    build, audit = statistics.median(builds), statistics.median(audits)
    print(f"backend {keras.backend.backend()}, {args.model}, {args.repeat} runs")
    print(f"build: median {build:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in builds)})")
    print(f"audit: median {audit:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in audits)})")
    print(f"first audit (cold): {audits[0]:.3f} s; findings: {len(findings)}")
    print(f"ratio audit/build: {audit / build:.3f}")


if __name__ == "__main__":
    main()
