"""Resolution scaling: 10,000 layers against 1,000 rules (issue: "well under 2 s").

Run: python benchmarks/bench_resolve.py [--layers 10000] [--rules 1000] [--repeat 5]

Pure Python, no Keras. Rules are spread over 40 layer classes with mixed predicates
(activation, units, name globs, weight parts); layers are drawn from the same classes with
varied attributes and unique names/paths. Prints the median of several runs, each with a
fresh resolver (cold cache), and the same run against a naive linear scan over every rule
(the baseline, in the same process) for the ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from keras_initpolicy.language.nodes import Rule
from keras_initpolicy.language.parser import parse_file
from keras_initpolicy.resolve import LayerFacts, Resolver, resolve_by_definition

CLASSES = [f"Layer{i}" for i in range(40)]
ACTS = ["relu", "tanh", "sigmoid", "gelu", "linear", "selu"]
INITS = ["he_normal", "glorot_uniform", "lecun_normal", "orthogonal", "zeros", "auto"]


def make_policy(n_rules: int, rng: random.Random) -> tuple[Rule, ...]:
    lines = []
    for _ in range(n_rules):
        cls = rng.choice(CLASSES + ["*"])
        preds = []
        if rng.random() < 0.6:
            preds.append(f"activation={rng.choice(ACTS)}")
        if rng.random() < 0.3:
            preds.append(f"units>={rng.choice([16, 64, 256])}")
        if rng.random() < 0.1:
            preds.append(f'name~="block{rng.randrange(100)}_*"')
        weight = rng.choice(["", "", "", ".bias", ".kernel"])
        sel = cls + (f"[{', '.join(preds)}]" if preds else "") + weight
        lines.append(f"{sel} -> {rng.choice(INITS)}")
    return parse_file("\n".join(lines)).rules


def make_layers(n_layers: int, rng: random.Random) -> list[tuple[list[LayerFacts], str, bool]]:
    out = []
    for i in range(n_layers):
        cls = rng.choice(CLASSES)
        facts = LayerFacts(
            (cls, "Layer", "Operation"),
            {
                "activation": rng.choice(ACTS),
                "units": rng.choice([8, 16, 32, 64, 128, 256, 512]),
                "name": f"block{i % 100}_{cls.lower()}_{i}",
                "path": f"model/block{i % 100}_{cls.lower()}_{i}",
            },
        )
        weight, kernel_like = rng.choice([("kernel", True), ("bias", False)])
        out.append(([facts], weight, kernel_like))
    return out


def run(args) -> None:
    rng = random.Random(0)
    rules = make_policy(args.rules, rng)
    items = make_layers(args.layers, rng)
    indexed, baseline = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        resolver = Resolver(rules)
        got = [resolver.resolve(c, w, k) for c, w, k in items]
        indexed.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        want = [resolve_by_definition(rules, c, w, k) for c, w, k in items[: args.layers // 10]]
        baseline.append((time.perf_counter() - t0) * 10)  # scaled from a 10% sample
    mismatches = sum(
        (a.rule.index if a else None) != (b.rule.index if b else None)
        for a, b in zip(got[: len(want)], want, strict=True)
    )
    med, base = statistics.median(indexed), statistics.median(baseline)
    print(f"layers={args.layers} rules={args.rules} repeat={args.repeat}")
    print(f"indexed resolver: median {med:.3f} s ({1e6 * med / args.layers:.1f} us/layer)")
    print(f"naive linear scan (baseline, extrapolated from 10%): median {base:.3f} s")
    print(f"ratio indexed/naive: {med / base:.3f}; disagreements with naive: {mismatches}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    run(parser.parse_args())
