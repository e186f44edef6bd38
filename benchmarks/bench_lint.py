"""Lint latency (issue 4).

Run: python benchmarks/bench_lint.py [--repeat 15] [--rules 10000] [--python PYTHON]

1. Whole process: `initpolicy lint examples/policies/` vs `python -c "import lark"` (the floor:
   an interpreter that loads our only parsing dependency), alternated, median wall time of each,
   ratio (target <= 1.6, issue 10). Both run with the same interpreter: this script's, or
   ``--python``, e.g. the interpreter of a venv with a regular (non-editable) install:
       python -m venv /tmp/kip && /tmp/kip/bin/pip install --no-deps . lark
       python benchmarks/bench_lint.py --python /tmp/kip/bin/python
   The lint command is the installed `initpolicy` script next to that interpreter when there is
   one (what a pre-commit hook runs), else `python -m keras_initpolicy`.
2. A 10,000-rule policy linted in-process (`kip.lint`), median of several runs (target <= 3 s).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def big_policy(n: int) -> str:
    rng = random.Random(0)
    classes = ["Dense", "Conv2D", "Conv1D", "LSTM", "Embedding", "DepthwiseConv2D", "GRU"]
    acts = ["relu", "tanh", "sigmoid", "gelu", "linear"]
    inits = ["he_normal", "glorot_uniform", "lecun_normal", "auto", "orthogonal"]
    lines = ["@seed 1"]
    for i in range(n):
        cls = rng.choice(classes)
        lines.append(f'{cls}[activation={rng.choice(acts)}, name~="b{i}_*"] -> {rng.choice(inits)}')
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure")
    args = parser.parse_args()

    script = Path(args.python).parent / "initpolicy"
    launcher = [str(script)] if script.is_file() else [args.python, "-m", "keras_initpolicy"]
    lint_cmd = [*launcher, "lint", "examples/policies/"]
    base_cmd = [args.python, "-c", "import lark"]
    wall(lint_cmd), wall(base_cmd)  # warm the file cache
    lint_t, base_t = [], []
    for _ in range(args.repeat):
        lint_t.append(wall(lint_cmd))
        base_t.append(wall(base_cmd))
    lt, bt = statistics.median(lint_t), statistics.median(base_t)
    print(f"initpolicy lint examples/policies/: median {lt * 1e3:.0f} ms")
    print(f"python -c 'import lark':            median {bt * 1e3:.0f} ms")
    print(f"ratio: {lt / bt:.2f} (target <= 1.6)  [{' '.join(lint_cmd)}]")

    import keras_initpolicy as kip

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.initpolicy"
        path.write_text(big_policy(args.rules))
        kip.lint(path)  # warm: grammar, catalogue
        times = []
        for _ in range(max(3, args.repeat // 3)):
            t0 = time.perf_counter()
            findings = kip.lint(path)
            times.append(time.perf_counter() - t0)
    print(
        f"kip.lint on {args.rules} rules: median {statistics.median(times):.2f} s "
        f"({len(findings)} findings; target <= 3 s)"
    )


if __name__ == "__main__":
    main()
