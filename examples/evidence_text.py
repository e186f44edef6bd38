"""Do the transformer presets change training? keras-hub decoders on CPython's own documentation.

The corpus is ``pydoc_data.topics.topics`` (shipped with CPython: the text of ``help()``), its
topics concatenated in sorted key order and encoded as UTF-8 bytes: a byte-level language model,
vocabulary 256. The last 10 % is held out. GPT2Backbone and LlamaBackbone (width 128, 4 heads,
no dropout) get a tied output head (``logits = hidden @ token_embedding.T``, keras-hub's
``ReversibleEmbedding(..., reverse=True)``) and are trained with Adam at a constant learning rate
(no warmup, no clipping) under ``kip.compare``: each backbone's own initialization (``keras``),
plain Keras defaults (``@explicit override; * -> glorot_uniform``) and the presets written for
it, over three seeds. Training windows are cut without overlap and put in one fixed random
order (seed 0); every run sees the same batches in the same order.

Run (the full run of docs/evidence.md: 120 runs, about an hour on 2 busy CPU cores)::

    KERAS_BACKEND=jax nice -n 10 python examples/evidence_text.py --out docs/evidence.json

``--smoke`` is the test's version (two layers, a few steps, two policies). Results are written
to ``--out`` after every run (partial results survive an interruption); ``--report`` turns a
results file into the table and the plot of docs/evidence.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_initpolicy as kip  # noqa: E402

VOCAB, WIDTH, HEADS = 256, 128, 4
GLOROT = "@explicit override\n* -> glorot_uniform\n"
#: the policies per backbone: its own initialization, plain Keras defaults, the presets for it
POLICIES = {
    "gpt2": ("keras", "glorot_uniform", "preset:gpt2", "preset:mup"),
    "llama": (
        "keras",
        "glorot_uniform",
        "preset:megatron",
        "preset:llama_depth",
        "preset:olmo_mitchell",
        "preset:deepnet",
    ),
}


# -- data -------------------------------------------------------------------------------------


def corpus() -> np.ndarray:
    """CPython's pydoc topics, sorted by key, as UTF-8 bytes."""
    from pydoc_data.topics import topics

    text = "".join(topics[key] for key in sorted(topics))
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def windows(data: np.ndarray, length: int) -> np.ndarray:
    """Non-overlapping windows of ``length + 1`` bytes (inputs and next-byte targets)."""
    n = (len(data) - 1) // length
    return np.stack([data[i * length : i * length + length + 1] for i in range(n)])


def split(length: int, held_out_windows: int):
    """(train windows in one fixed random order, held-out windows) of the corpus."""
    data = corpus()
    cut = int(len(data) * 0.9)
    train = windows(data[:cut], length)
    train = train[np.random.default_rng(0).permutation(len(train))]
    held = windows(data[cut:], length)[:held_out_windows]
    return train, held


def _xy(w: np.ndarray):
    ids = w[:, :-1].astype("int32")
    return {"token_ids": ids, "padding_mask": np.ones_like(ids)}, w[:, 1:].astype("int32")


def make_data(length: int, batch: int, held_out_windows: int):
    """The data function ``compare`` calls: fit arguments with a held-out set."""

    def data():
        train, held = split(length, held_out_windows)
        x, y = _xy(train)
        return {"x": x, "y": y, "validation_data": _xy(held), "batch_size": batch}

    return data


# -- models -----------------------------------------------------------------------------------


def backbone(kind: str, layers: int, length: int):
    import keras_hub

    if kind == "gpt2":
        return keras_hub.models.GPT2Backbone(
            vocabulary_size=VOCAB,
            num_layers=layers,
            num_heads=HEADS,
            hidden_dim=WIDTH,
            intermediate_dim=4 * WIDTH,
            dropout=0.0,
            max_sequence_length=length,
        )
    return keras_hub.models.LlamaBackbone(
        vocabulary_size=VOCAB,
        num_layers=layers,
        num_query_heads=HEADS,
        num_key_value_heads=HEADS,
        hidden_dim=WIDTH,
        intermediate_dim=344,  # about 8/3 of the width, as Llama's SwiGLU
        dropout=0.0,
        tie_word_embeddings=True,
    )


def make_builder(kind: str, layers: int, length: int, learning_rate: float):
    """A builder for ``compare``: the backbone with a tied head, compiled with Adam."""

    def build():
        bb = backbone(kind, layers, length)
        hidden = bb(bb.input)
        logits = bb.token_embedding(hidden, reverse=True)
        model = keras.Model(bb.input, logits)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model

    build.__name__ = f"{kind}_{layers}"
    return build


def policies_for(kind: str, names=None) -> dict:
    out = {}
    for name in names or POLICIES[kind]:
        out[name] = kip.parse(GLOROT, source="glorot_uniform") if name == "glorot_uniform" else name
    return out


# -- the run ----------------------------------------------------------------------------------


def configurations(args):
    """The cheap settings first, so that an interrupted run still has them."""
    for lr, layers in args.order:
        for kind in args.backbones:
            yield kind, layers, lr


def jax_compilation_cache(folder: str) -> None:
    """JAX compiles each new model's training step anew; runs of one architecture then hit the
    persistent cache (the trace remains: about 20 s for 16 blocks here, 60-75 s without it)."""
    if keras.backend.backend() == "jax" and folder:
        import jax

        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def run(args) -> dict:
    jax_compilation_cache(args.jax_cache)
    results = {"setup": setup(args), "configurations": []}
    data = make_data(args.length, args.batch, args.held_out)
    start = time.perf_counter()
    for kind, layers, lr in configurations(args):
        entry = {"backbone": kind, "layers": layers, "learning_rate": lr, "runs": []}
        results["configurations"].append(entry)

        def save(result, entry=entry, label=f"{kind}-{layers} lr={lr:g}"):
            entry["runs"].append(result.to_dict())
            results["seconds"] = round(time.perf_counter() - start, 1)
            _write(args.out, results)
            print(
                f"{label} {result.policy} seed {result.seed}: "
                f"held-out {result.final_val_loss} diverged={result.diverged} "
                f"({result.seconds:.1f} s)",
                flush=True,
            )

        report = kip.compare(
            policies_for(kind, args.policies),
            make_builder(kind, layers, args.length, lr),
            data,
            steps=args.steps,
            log_every=args.log_every,
            seeds=range(args.seeds),
            on_run=save,
        )
        entry["summary"] = {p.name: p.to_dict()["final_val_loss"] for p in report.policies}
        _write(args.out, results)
    results["seconds"] = round(time.perf_counter() - start, 1)
    _write(args.out, results)
    return results


def setup(args) -> dict:
    train, held = split(args.length, args.held_out)
    return {
        "corpus_bytes": int(len(corpus())),
        "train_windows": int(len(train)),
        "held_out_windows": int(len(held)),
        "sequence_length": args.length,
        "batch": args.batch,
        "steps": args.steps,
        "log_every": args.log_every,
        "seeds": args.seeds,
        "learning_rates": args.learning_rates,
        "layers": args.layers,
        "order": args.order,
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "command": " ".join(["python", "examples/evidence_text.py", *map(_portable, args.argv)]),
    }


def _write(path, results) -> None:
    if path:
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(results, indent=1), encoding="utf-8")
        tmp.replace(path)


# -- the report -------------------------------------------------------------------------------


def baselines(length: int, held_out_windows: int) -> dict[str, float]:
    """Held-out cross-entropy (nats/byte) of byte unigram and bigram counts of the training
    text (add-one smoothed): where a model stands after learning byte frequencies, or pairs."""
    data = corpus()
    cut = int(len(data) * 0.9)
    train = data[:cut]
    held = windows(data[cut:], length)[:held_out_windows]
    prev, target = held[:, :-1].ravel(), held[:, 1:].ravel()
    uni = np.bincount(train, minlength=VOCAB) + 1.0
    bi = np.ones((VOCAB, VOCAB))
    np.add.at(bi, (train[:-1], train[1:]), 1.0)
    bi /= bi.sum(axis=1, keepdims=True)
    return {
        "unigram": float(-np.log(uni[target] / uni.sum()).mean()),
        "bigram": float(-np.log(bi[prev, target]).mean()),
    }


def _spread(values):
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return "—"
    return f"{statistics.median(finite):.3f} [{min(finite):.3f}, {max(finite):.3f}]"


def table(results: dict) -> str:
    """Markdown: per backbone, depth, learning rate and policy, the held-out loss."""
    rows = [
        "| backbone | blocks | learning rate | policy | held-out loss: median [min, max] "
        "| diverged | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in results["configurations"]:
        by_policy: dict[str, list] = {}
        for r in entry["runs"]:
            by_policy.setdefault(r["policy"], []).append(r)
        for name, runs in by_policy.items():
            rows.append(
                f"| {entry['backbone']} | {entry['layers']} | {entry['learning_rate']:g} "
                f"| `{name}` | {_spread([r['final_val_loss'] for r in runs])} "
                f"| {sum(r['diverged'] for r in runs)} | {len(runs)} |"
            )
    return "\n".join(rows)


def figure(results: dict, path) -> None:
    """A grid: one row per learning rate, one column per backbone and depth; held-out loss
    against step, median line and min-max band per policy (one colour per policy throughout)."""
    from matplotlib.figure import Figure

    entries = results["configurations"]
    lrs = sorted({e["learning_rate"] for e in entries})
    combos = sorted({(e["backbone"], e["layers"]) for e in entries})
    names = list(dict.fromkeys(r["policy"] for e in entries for r in e["runs"]))
    colours = {n: f"C{i}" for i, n in enumerate(names)}
    fig = Figure(figsize=(4.0 * len(combos), 3.3 * len(lrs)))
    axes = fig.subplots(len(lrs), len(combos), squeeze=False)
    setup = results["setup"]
    lines = baselines(setup["sequence_length"], setup["held_out_windows"])
    for entry in entries:
        ax = axes[lrs.index(entry["learning_rate"])][
            combos.index((entry["backbone"], entry["layers"]))
        ]
        _panel(ax, entry, colours)
        for name, value in lines.items():
            ax.axhline(value, color="grey", linestyle=":", linewidth=0.8)
            ax.text(100, value, f"{name} ", color="grey", fontsize=6, va="bottom", ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def _panel(ax, entry, colours) -> None:
    by_policy: dict[str, list] = {}
    for r in entry["runs"]:
        by_policy.setdefault(r["policy"], []).append(r)
    for name, runs in by_policy.items():
        steps = max((r["steps"] for r in runs), key=len)
        points = [
            [r["val_loss"][i] for r in runs if i < len(r["val_loss"])] for i in range(len(steps))
        ]
        finite = [[v for v in p if v is not None] for p in points]
        med = [statistics.median(p) if p else math.nan for p in finite]
        colour = colours[name]
        ax.plot(steps, med, label=name, linewidth=1.2, color=colour)
        low = [min(p) if p else math.nan for p in finite]
        high = [max(p) if p else math.nan for p in finite]
        ax.fill_between(steps, low, high, color=colour, alpha=0.15)
    ax.set_title(f"{entry['backbone']}, {entry['layers']} blocks, lr {entry['learning_rate']:g}")
    ax.set_xlabel("step")
    ax.set_ylabel("held-out loss (nats/byte)")
    ax.set_ylim(2.3, 4.6)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6)


# -- command line -----------------------------------------------------------------------------


def _portable(arg: str) -> str:
    """A path inside the working folder as a relative one: the recorded command names no
    folder of the machine it ran on."""
    if os.path.isabs(arg):
        relative = os.path.relpath(arg)
        if not relative.startswith(".."):
            return relative
    return arg


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backbones", nargs="+", default=["gpt2", "llama"], choices=sorted(POLICIES))
    p.add_argument("--layers", nargs="+", type=int, default=[4, 16])
    p.add_argument("--learning-rates", nargs="+", type=float, default=[1e-3, 3e-3])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--length", type=int, default=32, help="sequence length")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--held-out", type=int, default=64, help="held-out windows")
    p.add_argument("--jax-cache", default="/tmp/keras_initpolicy_jax_cache", help="'' for none")
    p.add_argument("--policies", nargs="+", default=None, help="default: all for the backbone")
    p.add_argument("--out", default=None, help="results JSON, rewritten after every run")
    p.add_argument("--report", default=None, metavar="RESULTS.json", help="table and plot only")
    p.add_argument("--plot", default=None, metavar="OUT.png")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: the test's version")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.smoke:
        args.layers, args.steps, args.log_every, args.seeds = [2], 4, 2, 1
        args.length, args.batch, args.held_out, args.learning_rates = 16, 4, 8, [1e-3]
        args.backbones, args.policies = ["gpt2"], ["keras", "preset:gpt2"]
        args.jax_cache = ""  # no process-wide JAX setting from a test
    # shallow before deep, the highest learning rate first: the cheap settings are done first
    args.order = sorted(
        ((lr, n) for lr in args.learning_rates for n in args.layers), key=lambda c: (c[1], -c[0])
    )
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    results = json.loads(Path(args.report).read_text("utf-8")) if args.report else run(args)
    print(table(results))
    setup = results["setup"]
    lines = baselines(setup["sequence_length"], setup["held_out_windows"])
    print(", ".join(f"{k} baseline {v:.3f}" for k, v in lines.items()))
    if args.plot:
        figure(results, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
