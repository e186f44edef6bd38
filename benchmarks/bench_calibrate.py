"""Cost of ``kip.calibrate`` (LSUV) against one forward pass: ResNet50 (``weights=None``), a batch
of 8 small images, same process.

Issue 14 bounds calibration at ``max_iter`` forward passes per calibrated layer. This measures,
as medians over ``--repeat`` runs (the starting weights restored before each run, so every run
does the same work):

- ``forward``: one eager ``model(x, training=False)``, the call ``calibrate`` makes per pass;
- ``calibrate``: the whole ``kip.calibrate(model, x)`` call;

and prints ``calibrate / forward`` overall and per calibrated layer (the figure the issue bounds
by ``max_iter``), the passes used, and ``calibrate / (passes x forward)`` (what a pass costs on
top of a plain forward pass: recording, variances, rescaling).

    KERAS_BACKEND=jax python benchmarks/bench_calibrate.py --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="calibration runs (median)")
    parser.add_argument("--size", type=int, default=64, help="image side (default 64)")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)

    import keras

    import keras_initpolicy as kip

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(
        weights=None, input_shape=(args.size, args.size, 3), classes=10
    )
    x = np.random.default_rng(0).normal(size=(args.batch, args.size, args.size, 3))
    x = x.astype("float32")
    start_weights = model.get_weights()

    def forward():
        out = model(x, training=False)
        keras.ops.convert_to_numpy(out)  # wait for the result (JAX dispatches asynchronously)

    forward()  # warm-up: first-call compilation of every op
    kip.calibrate(model, x)  # warm-up of the calibration's own ops
    forward_times, calibrate_times, reports = [], [], []
    for _ in range(args.repeat):
        model.set_weights(start_weights)
        for _ in range(3):
            t = time.perf_counter()
            forward()
            forward_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        reports.append(kip.calibrate(model, x))
        calibrate_times.append(time.perf_counter() - t)
    forward_s = statistics.median(forward_times)
    calibrate_s = statistics.median(calibrate_times)
    report = reports[-1]
    layers, passes = len(report), report.forward_passes
    result = {
        "backend": keras.backend.backend(),
        "layers": layers,
        "passes": passes,
        "converged": sum(r.converged for r in report),
        "forward_ms": forward_s * 1e3,
        "calibrate_s": calibrate_s,
        "ratio": calibrate_s / forward_s,
        "per_layer": calibrate_s / forward_s / layers,
        "per_pass": calibrate_s / (passes * forward_s),
    }
    print(
        f"ResNet50 {args.size}x{args.size}, batch {args.batch}, backend {result['backend']}: "
        f"{layers} calibrated layers ({result['converged']} converged), {passes} forward passes "
        f"(max iterations per layer: {max(r.iterations for r in report)})\n"
        f"one forward pass {result['forward_ms']:.1f} ms; calibrate {calibrate_s:.2f} s "
        f"(median of {args.repeat}; runs {', '.join(f'{t:.2f}' for t in calibrate_times)} s)\n"
        f"calibrate / forward = {result['ratio']:.1f}x = {result['per_layer']:.2f}x per layer "
        f"(bound: max_iter = 10); per pass {result['per_pass']:.2f}x a forward pass"
    )
    return result


if __name__ == "__main__":
    main()
