"""Glorot & Bengio (2010): wide uniform ranges saturate deep tanh/sigmoid networks; Glorot
(and the Kwon et al. ×4 variant for the logistic sigmoid) keep the units in their linear range.

For a deep tanh MLP and a deep sigmoid MLP, ``keras_initpolicy.analysis.diagnose`` reports, per layer,
the fraction of saturated units (tanh ``|a| > 0.99``; sigmoid ``a < 0.01`` or ``a > 0.99``) and
the std of the loss gradient w.r.t. the kernel, at initialization, under:

- ``wide``: ``Dense -> random_uniform(-R, R)`` (default R = 1, the classic "small random
  numbers" recipe; IP205 flags it);
- ``glorot``: ``Dense[activation=tanh] -> glorot_uniform`` for the tanh net,
  ``Dense[activation=sigmoid] -> glorot_uniform(variant=kwon)`` (×4) for the sigmoid net;
- ``keras``: Keras's own default (plain ``glorot_uniform`` everywhere).

Run::

    KERAS_BACKEND=jax python examples/glorot2010_saturation.py --out docs/glorot2010_saturation.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ACTIVATIONS = ("tanh", "sigmoid")


GLOROT = {
    "tanh": "Dense[activation=tanh] -> glorot_uniform",
    "sigmoid": "Dense[activation=sigmoid] -> glorot_uniform(variant=kwon)",
}


def policies(activation: str, wide: float, seed: int) -> dict[str, str]:
    head = f"@seed {seed}\n"
    return {
        "wide": head + f"Dense -> random_uniform(-{wide}, {wide})  # noqa: IP205\n",
        "glorot": head + GLOROT[activation] + "\n",
    }


def builder(activation: str, depth: int, width: int):
    def build():
        import keras

        model = keras.Sequential([keras.Input((width,))])
        for _ in range(depth):
            model.add(keras.layers.Dense(width, activation=activation))
        return model

    return build


def run(args) -> dict:
    import keras_initpolicy as kip
    from keras_initpolicy.analysis.diagnose import DiagnoseReport, diagnose

    reports = {}
    for act in ACTIVATIONS:
        texts = policies(act, args.wide, args.seed)
        build = builder(act, args.depth, args.width)
        wide = kip.parse(texts["wide"], source="wide")
        glorot = kip.parse(texts["glorot"], source="glorot")
        first = diagnose(wide, build, compare=glorot, batch=args.batch, seed=args.seed)
        default = diagnose(glorot, build, compare="keras", batch=args.batch, seed=args.seed)
        reports[act] = DiagnoseReport([*first.runs, default.run("keras")], batch=args.batch)
    return reports


def table(reports: dict) -> str:
    lines = []
    for act, report in reports.items():
        names = [r.name for r in report.runs]
        head = ["layer"] + [f"{n} sat" for n in names] + [f"{n} grad std" for n in names]
        rows = [head]
        for i in range(len(report.runs[0].layers)):
            row = [str(i + 1)]
            row += [f"{r.layers[i].saturated_fraction:.3f}" for r in report.runs]
            row += [f"{r.layers[i].gradient_std:.2e}" for r in report.runs]
            rows.append(row)
        widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
        lines.append(f"\n{act}:")
        for n, row in enumerate(rows):
            cells = " | ".join(v.rjust(w) for v, w in zip(row, widths, strict=True))
            lines.append(f"| {cells} |")
            if n == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def plot(reports: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(8.4, 5.6))
    for row, (act, report) in zip(axes, reports.items(), strict=True):
        for r in report.runs:
            depth = range(1, len(r.layers) + 1)
            row[0].plot(depth, r.column("saturated_fraction"), marker="o", ms=3, label=r.name)
            row[1].plot(depth, r.column("gradient_std"), marker="o", ms=3, label=r.name)
        row[0].set(ylabel=f"{act}: saturated fraction", ylim=(-0.02, 1.02))
        row[1].set(ylabel=f"{act}: gradient std", yscale="log")
        for ax in row:
            ax.set_xlabel("depth (Dense layer)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--wide", type=float, default=1.0, help="R of random_uniform(-R, R)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/glorot2010_saturation.png"))
    parser.add_argument("--quick", action="store_true", help="a small net, for smoke tests")
    args = parser.parse_args(argv)
    if args.quick:
        args.depth, args.width, args.batch = 4, 16, 16

    import keras

    start = time.perf_counter()
    reports = run(args)
    seconds = time.perf_counter() - start
    print(table(reports))
    print(
        f"\n{args.depth} layers x {args.width} units, batch {args.batch} of N(0, 1) inputs, "
        f"seed {args.seed}, backend {keras.backend.backend()}: {seconds:.1f} s"
    )
    plot(reports, args.out)
    print(f"saved {args.out}")
    return reports


if __name__ == "__main__":
    main()
