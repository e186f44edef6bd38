"""LSUV (Mishkin & Matas, 2016) with ``kip.calibrate``: 50-layer tanh and ReLU MLPs without
normalization, on scikit-learn's bundled ``load_digits``.

For each activation the same network (50 hidden Dense layers of ``--width`` units and a softmax
head) is built three times and trained briefly with plain SGD + momentum:

- ``keras``: Keras's defaults (``glorot_uniform`` kernels, zero biases), outside any policy;
- ``policy``: ``Dense[activation=relu] -> he_normal`` / ``Dense[activation=tanh] ->
  glorot_normal`` (the closed-form choice for the activation);
- ``policy+lsuv``: the same policy, then ``kip.calibrate(model, x_calibration)``: every layer's
  pre-activation variance on the calibration batch rescaled to 1 (± 0.1).

It prints, per network, the calibration's per-layer variance range (checked to lie in
[0.9, 1.1], measured again here with a NumPy forward pass rather than read from the report),
then, for every run, the ratio of the kernel-gradient std of the first and the last hidden
layer at initialization (``diagnose``'s measure: >> 1 explodes towards the input, << 1
vanishes), the held-out accuracy and the training loss.

Run (CPU, about a minute with JAX)::

    KERAS_BACKEND=jax python examples/lsuv_depth50.py

``--quick`` trains on a few batches for one epoch (a smoke test; the tests also pass a small
``--depth``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

DEPTH = 50  # hidden layers, plus a softmax head
POLICIES = {
    "relu": "Dense[activation=relu] -> he_normal",
    "tanh": "Dense[activation=tanh] -> glorot_normal",
}
ACTIVATIONS = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh}


def load_data(seed: int, quick: bool):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0 - 0.5).astype("float32") * 2.0  # pixels 0..16 -> [-1, 1]
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y
    )
    if quick:
        x_train, y_train, x_test, y_test = x_train[:256], y_train[:256], x_test[:128], y_test[:128]
    return x_train, y_train.astype("int32"), x_test, y_test.astype("int32")


def build(activation: str, width: int, depth: int):
    import keras

    model = keras.Sequential([keras.Input((64,))])
    for _ in range(depth):
        model.add(keras.layers.Dense(width, activation=activation))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model


def preactivation_variances(model, x, activation: str) -> list[float]:
    """Each Dense layer's pre-activation variance on ``x``, by a NumPy forward pass."""
    h, out = x.astype("float64"), []
    for i, layer in enumerate(model.layers):
        kernel, bias = (np.asarray(w) for w in layer.get_weights())
        z = h @ kernel + bias
        out.append(float(np.var(z)))
        if i < len(model.layers) - 1:
            h = ACTIVATIONS[activation](z)
    return out


def run(activation: str, variant: str, data, x_cal, args) -> dict:
    import keras

    import keras_initpolicy as kip
    from keras_initpolicy.analysis.diagnose import measure

    keras.utils.set_random_seed(args.seed)
    if variant == "keras":
        model = build(activation, args.width, args.depth)
    else:
        policy = kip.parse(f"@seed {args.seed}\n{POLICIES[activation]}", source=variant)
        with policy.scope():
            model = build(activation, args.width, args.depth)
    before = preactivation_variances(model, x_cal, activation)
    result = {"variance_before": before}
    if variant.endswith("+lsuv"):
        start = time.perf_counter()
        report = kip.calibrate(model, x_cal)
        result["calibration_seconds"] = time.perf_counter() - start
        result["report"] = report
        after = preactivation_variances(model, x_cal, activation)
        assert all(0.9 <= v <= 1.1 for v in after), (activation, min(after), max(after))
        result["variance_after"] = after
    grads = measure(model, x_cal, variant).column("gradient_std")
    result["gradients"] = (grads[0], grads[args.depth - 1])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=args.lr, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        run_eagerly=args.quick,
    )
    x_train, y_train, x_test, y_test = data
    history = model.fit(
        x_train,
        y_train,
        batch_size=args.batch,
        epochs=args.epochs,
        validation_data=(x_test, y_test),
        shuffle=True,
        verbose=0,
    ).history
    result["loss"], result["accuracy"] = history["loss"], history["val_accuracy"]
    return result


def _range(values) -> str:
    return f"{min(values):.3g} .. {max(values):.3g}"


def _ratio(first: float, last: float) -> str:
    return f"{first / last:.3g}" if last else f"{first:.2g} / 0"


def report_tables(results: dict, depth: int) -> str:
    lines = [
        f"| network | run | pre-activation variance, {depth + 1} layers (min .. max) | "
        f"gradient std, layer 1 / layer {depth} | held-out accuracy | training loss |",
        "|---|---|---|---|---|---|",
    ]
    for (activation, variant), r in results.items():
        variance = r.get("variance_after", r["variance_before"])
        lines.append(
            f"| {depth}× {activation} | {variant} | {_range(variance)} | "
            f"{_ratio(*r['gradients'])} | {r['accuracy'][-1]:.3f} | {r['loss'][-1]:.3f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--depth", type=int, default=DEPTH, help="hidden layers (default 50)")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--calibration-batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few batches, for smoke tests")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = 1

    import keras

    start = time.perf_counter()
    data = load_data(args.seed, args.quick)
    x_cal = data[0][: args.calibration_batch]
    results = {}
    for activation in POLICIES:
        for variant in ("keras", "policy", "policy+lsuv"):
            results[(activation, variant)] = run(activation, variant, data, x_cal, args)
    seconds = time.perf_counter() - start
    for activation in POLICIES:
        r = results[(activation, "policy+lsuv")]
        report = r["report"]
        print(f"{args.depth}-layer {activation} MLP + softmax head, after the policy:")
        print(f"  before LSUV: pre-activation variance {_range(r['variance_before'])}")
        print(f"  {report.summary()} ({r['calibration_seconds']:.2f} s)")
        print(f"  after LSUV (NumPy re-measure): {_range(r['variance_after'])}")
        print(f"  iterations per layer: {sorted({row.iterations for row in report})}")
    print()
    print(report_tables(results, args.depth))
    print(
        f"\n{args.epochs} epochs, SGD(lr={args.lr}, momentum=0.9), batch {args.batch}, "
        f"width {args.width}, calibration batch {len(x_cal)}, seed {args.seed}, "
        f"backend {keras.backend.backend()}: {seconds:.1f} s"
    )
    return results


if __name__ == "__main__":
    main()
