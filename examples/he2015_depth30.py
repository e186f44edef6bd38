"""He et al. (2015), Fig. 3: a 30-layer ReLU network learns with He initialization and stalls
with Glorot (Keras's default), on scikit-learn's bundled ``load_digits``.

The same 30-layer ReLU MLP is built three times and trained with plain SGD + momentum:

- ``keras``: Keras's defaults (``glorot_uniform`` kernels). Each ReLU layer halves the signal's
  variance, so after 30 layers the logits are ~2**-15 of the input scale, the gradients of the
  early layers vanish, and the loss stays at ln(10) = 2.30 (chance: 10 % accuracy);
- ``he``: the policy ``Dense[activation=relu] -> he_normal``;
- ``auto``: the policy ``Dense -> auto`` (He for the ReLU layers, Glorot for the softmax head).

Run (CPU, well under two minutes)::

    KERAS_BACKEND=jax python examples/he2015_depth30.py --out docs/he2015_depth30.png

It prints a table (epoch, training loss and held-out accuracy per policy) and saves the loss
curves. ``--quick`` trains on a few batches for one epoch (a smoke test).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

DEPTH = 30  # ReLU layers, plus a softmax head
POLICIES = {
    "keras": None,  # Keras's defaults: built outside any policy scope
    "he": "Dense[activation=relu] -> he_normal",
    "auto": "Dense -> auto",
}


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


def build(width: int):
    import keras

    model = keras.Sequential([keras.Input((64,))])
    for _ in range(DEPTH):
        model.add(keras.layers.Dense(width, activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model


def train(name: str, policy_text: str | None, data, args) -> dict:
    import keras

    import keras_initpolicy as kip

    keras.utils.set_random_seed(args.seed)
    if policy_text is None:
        model = build(args.width)
    else:
        with kip.parse(f"@seed {args.seed}\n{policy_text}", source=name).scope():
            model = build(args.width)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=args.lr, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        run_eagerly=args.quick,  # tracing/compiling costs more than a few eager steps
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
    return {"loss": history["loss"], "accuracy": history["val_accuracy"]}


def table(results: dict, every: int) -> str:
    names = list(results)
    epochs = len(next(iter(results.values()))["loss"])
    head = ["epoch"] + [f"{n} {k}" for n in names for k in ("loss", "acc")]
    rows = [head]
    for e in range(epochs):
        if (e + 1) % every and e + 1 != epochs and e != 0:
            continue
        row = [str(e + 1)]
        for n in names:
            row += [f"{results[n]['loss'][e]:.3f}", f"{results[n]['accuracy'][e]:.3f}"]
        rows.append(row)
    widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
    lines = [
        "| " + " | ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8.4, 3.2))
    for name, r in results.items():
        epochs = range(1, len(r["loss"]) + 1)
        ax_loss.plot(epochs, r["loss"], label=name)
        ax_acc.plot(epochs, r["accuracy"], label=name)
    ax_loss.axhline(math.log(10), color="grey", lw=0.8, ls=":")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title=f"{DEPTH}-layer ReLU MLP, digits")
    ax_acc.set(xlabel="epoch", ylabel="held-out accuracy", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=5, help="print every N-th epoch")
    parser.add_argument("--out", type=Path, default=Path("docs/he2015_depth30.png"))
    parser.add_argument("--quick", action="store_true", help="a few batches, for smoke tests")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = min(args.epochs, 1)

    import keras

    start = time.perf_counter()
    data = load_data(args.seed, args.quick)
    results = {name: train(name, text, data, args) for name, text in POLICIES.items()}
    seconds = time.perf_counter() - start
    print(table(results, args.every))
    print(
        f"\n{DEPTH} ReLU layers x {args.width} units, SGD(lr={args.lr}, momentum=0.9), "
        f"batch {args.batch}, seed {args.seed}, backend {keras.backend.backend()}: "
        f"{seconds:.1f} s"
    )
    plot(results, args.out)
    print(f"saved {args.out}")
    return results


if __name__ == "__main__":
    main()
