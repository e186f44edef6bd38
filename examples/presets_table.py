"""Each preset on the keras-hub backbone it is meant for: measured std vs the paper's formula.

Builds GPT2Backbone (12 blocks) and LlamaBackbone (8 blocks), small widths, under
``@include "preset:NAME"`` and compares the standard deviation of every weight a preset targets
with the formula of the preset's source, computed here by hand from the model's dimensions
(d_model, d_ff, heads·head_dim, L, the block index) — not from this package's compiler. Fixup,
whose source has no keras-hub backbone (it is for networks without normalization), is measured on
the residual MLP of ``examples/fixup_digits.py``. Writes ``docs/presets.md``.

Run: ``KERAS_BACKEND=jax python examples/presets_table.py`` (about a minute on a CPU).
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402

import keras_initpolicy as kip  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from fixup_digits import residual_mlp  # noqa: E402

TOLERANCE = 0.05
VOCAB, D, FF, HEADS = 2000, 64, 256, 4
GPT2_BLOCKS, LLAMA_BLOCKS, FIXUP_BLOCKS = 12, 8, 32


def gpt2():
    return keras_hub.models.GPT2Backbone(
        vocabulary_size=VOCAB,
        num_layers=GPT2_BLOCKS,
        num_heads=HEADS,
        hidden_dim=D,
        intermediate_dim=FF,
        max_sequence_length=128,
    )


def llama():
    return keras_hub.models.LlamaBackbone(
        vocabulary_size=VOCAB,
        num_layers=LLAMA_BLOCKS,
        num_query_heads=HEADS,
        num_key_value_heads=2,
        hidden_dim=D,
        intermediate_dim=FF,
    )


def fixup_net():
    return residual_mlp(64, 128, 10, FIXUP_BLOCKS)


_BLOCK = re.compile(r"transformer_layer_(\d+)/")


def part(path: str) -> str:
    """The role of a weight: ``query``, ``attention_output``, ``feedforward_output_dense``..."""
    pieces = path.split("/")
    return pieces[-2] if len(pieces) >= 2 else pieces[0]


# Each function: (path, weight shape) -> (formula as its source writes it, std) or None when the
# preset does not target the weight (biases and normalization weights are listed separately).


def expect_gpt2(path, shape, L=GPT2_BLOCKS):
    if path.endswith("/bias") or "norm" in path:
        return None
    if part(path) in ("attention_output", "feedforward_output_dense"):
        return "0.02/√(2L)", 0.02 / math.sqrt(2 * L)
    return "0.02", 0.02


def expect_megatron(path, shape):
    return expect_gpt2(path, shape)


def expect_llama_depth(path, shape):
    if "norm" in path:
        return None
    name = part(path)
    if name == "token_embedding" and path.endswith("/embeddings"):
        return "1", 1.0
    if path.endswith("reverse_embeddings"):
        return "dim^-0.5", D**-0.5
    if name in ("attention_output", "feedforward_output_dense", "feedforward_intermediate_dense"):
        i = int(_BLOCK.search(path).group(1))
        return f"0.02/√(2·({i}+1))", 0.02 / math.sqrt(2 * (i + 1))
    return "0.02", 0.02


def expect_olmo_mitchell(path, shape):
    if "norm" in path:
        return None
    name = part(path)
    if name == "token_embedding":
        return "1/√d_model", D**-0.5
    if name in ("attention_output", "feedforward_output_dense"):
        i = int(_BLOCK.search(path).group(1))
        d_in = D if name == "attention_output" else FF
        which = "d_model" if name == "attention_output" else "d_ff"
        return f"1/√(2·{which}·({i}+1))", 1 / math.sqrt(2 * d_in * (i + 1))
    return "1/√d_model", D**-0.5


def expect_deepnet(path, shape, N=LLAMA_BLOCKS):
    if "norm" in path or "embedding" in path:
        return None
    name = part(path)
    heads_dim = shape[1] * shape[2] if len(shape) == 3 else None  # (d_model, kv heads, head dim)
    fans = {
        "query": (D, D),
        "key": (D, heads_dim),
        "value": (D, heads_dim),
        "attention_output": (D, D),
        "feedforward_gate_dense": (D, FF),
        "feedforward_intermediate_dense": (D, FF),
        "feedforward_output_dense": (FF, D),
    }
    fan_in, fan_out = fans[name]
    xavier = math.sqrt(2 / (fan_in + fan_out))
    if name in ("query", "key"):
        return "xavier_normal(gain=1)", xavier
    beta = (8 * N) ** -0.25
    return "xavier_normal(gain=(8N)^-1/4)", beta * xavier


def expect_mup(path, shape):
    if path.endswith("/bias") or "norm" in path:
        return None
    name = part(path)
    if name == "query":
        return "0 (zero query)", 0.0
    fan_in = {
        "token_embedding": VOCAB,
        "position_embedding": 128,
        "attention_output": D,
        "feedforward_output_dense": FF,
    }.get(name, D)
    label = {"token_embedding": "vocab", "position_embedding": "positions"}.get(name, "fan_in")
    return f"1/√{label}", fan_in**-0.5


def expect_fixup(path, shape, L=FIXUP_BLOCKS):
    if path.endswith("/bias") or "scalar" in path:
        return None
    name = path.split("/")[0]
    if name == "predictions" or name.endswith("_out"):
        return "0", 0.0
    if name.startswith("residual_block_"):
        return "√(2/fan_out)·L^-1/2", math.sqrt(2 / shape[1]) / math.sqrt(L)
    return "√(2/fan_in) (He)", math.sqrt(2 / shape[0])


PRESETS = [
    ("gpt2", gpt2, expect_gpt2, f"GPT2Backbone, {GPT2_BLOCKS} blocks"),
    ("megatron", gpt2, expect_megatron, f"GPT2Backbone, {GPT2_BLOCKS} blocks"),
    ("llama_depth", llama, expect_llama_depth, f"LlamaBackbone, {LLAMA_BLOCKS} blocks"),
    ("olmo_mitchell", llama, expect_olmo_mitchell, f"LlamaBackbone, {LLAMA_BLOCKS} blocks"),
    ("deepnet", llama, expect_deepnet, f"LlamaBackbone, {LLAMA_BLOCKS} blocks"),
    ("mup", gpt2, expect_mup, f"GPT2Backbone, {GPT2_BLOCKS} blocks"),
    ("fixup", fixup_net, expect_fixup, f"residual MLP, {FIXUP_BLOCKS} blocks, no normalization"),
]


def measure(name, build, expect):
    policy = kip.parse(f'@include "preset:{name}"\n@seed 7')
    with policy.scope():
        model = build()
    rows = []
    for var in model.weights:
        found = expect(var.path, tuple(var.shape))
        if found is None:
            continue
        formula, want = found
        got = float(np.std(keras.ops.convert_to_numpy(var)))
        ok = got == 0.0 if want == 0.0 else abs(got / want - 1) <= TOLERANCE
        rows.append((var.path, tuple(var.shape), formula, want, got, ok))
    return policy, model, rows


def explained_formulas(policy, model) -> list[str]:
    """A few lines of ``explain`` showing formulas with their values."""
    out, seen = [], set()
    for a in policy.explain(model):
        if a.formulas and a.formulas_text() not in seen:
            seen.add(a.formulas_text())
            out.append(f"{a.layer_path}.{a.weight}: {a.formulas_text()}")
    return out[:4]


def markdown(results, seconds) -> str:
    lines = [
        "# Presets on the models they are meant for",
        "",
        "Generated by `examples/presets_table.py` (`KERAS_BACKEND=jax`, "
        f"{seconds:.0f} s on a CPU). Each preset is included with "
        '`@include "preset:NAME"` plus `@seed 7`; the expected standard deviation is the '
        "formula of the preset's source computed by hand from the model's dimensions "
        f"(d_model = {D}, d_ff = {FF}, {HEADS} heads, vocabulary {VOCAB}), not by this package. "
        f"A row passes when the measured std is within {TOLERANCE:.0%} of it (zeros: exactly 0). "
        "Biases (all zero) and normalization weights (Keras defaults) are left out. "
        "The presets' files, with their sources, are in `keras_initpolicy/presets/`.",
        "",
        "| preset | model | weights checked | all within 5 % | worst ratio |",
        "|---|---|---|---|---|",
    ]
    for name, label, rows, _ in results:
        ratios = [got / want for *_, want, got, _ in rows if want]
        worst = max(ratios, key=lambda r: abs(r - 1)) if ratios else 1.0
        passed = all(r[-1] for r in rows)
        lines.append(
            f"| `{name}` | {label} | {len(rows)} | {'yes' if passed else '**no**'} | {worst:.3f} |"
        )
    for name, label, rows, formulas in results:
        lines += ["", f"## `preset:{name}` — {label}", ""]
        if formulas:
            lines += ["`explain` shows the formulas with their values, e.g.:", "", "```text"]
            lines += formulas + ["```", ""]
        lines += [
            "| weight | shape | formula | expected std | measured std | ratio | ok |",
            "|---|---|---|---|---|---|---|",
        ]
        for path, shape, formula, want, got, ok in rows:
            ratio = f"{got / want:.3f}" if want else "—"
            shape_text = "×".join(map(str, shape))
            lines.append(
                f"| `{path}` | {shape_text} | {formula} | {want:.5g} | {got:.5g} | {ratio} | "
                f"{'✓' if ok else '✗'} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    # Llama has no biases, an MLP no attention: a preset's rule may have nothing to match.
    warnings.filterwarnings("ignore", message=".*matched no weight")
    start = time.time()
    results = []
    for name, build, expect, label in PRESETS:
        policy, model, rows = measure(name, build, expect)
        results.append((name, label, rows, explained_formulas(policy, model)))
        bad = [r for r in rows if not r[-1]]
        print(f"{name:14s} {len(rows):4d} weights, {len(bad)} outside {TOLERANCE:.0%}")
    out = ROOT / "docs" / "presets.md"
    out.write_text(markdown(results, time.time() - start), "utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if all(r[-1] for _, _, rows, _ in results for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
