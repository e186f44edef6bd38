"""Build time and memory of real models under a policy, each build in a fresh process.

Run: KERAS_BACKEND=jax python benchmarks/bench_models.py [--repeat 3] [--models ResNet50,...]
     [--variants plain,same,default,default-fast] [--without memo|host-constants|draw-thread]

A first build is what a user waits for (JAX compiles, caches are cold), so every build runs in
a new Python process (``--one MODEL VARIANT``, which prints one JSON line), the variants
alternating, ``--repeat`` rounds; the package's bytecode is compiled beforehand, as an installed
package's is. Printed per model: the median wall time of each variant
(until every weight's value exists: on JAX after ``block_until_ready``), its ratio to
``plain``, and the ratio of the processes' peak RSS to ``plain``'s. Variants:

- ``plain``: the model's own code, no policy (Keras alone: the package is not even imported);
- ``same``: a policy whose one rule matches nothing, with ``@seed``: every random weight keeps
  its initializer but gets a derived seed — what the plugin costs;
- ``default``: ``examples/policies/default.initpolicy`` (different initializers);
- ``default-fast``: the same with ``@sampler fast``;
- ``auto``, ``auto-fast``: ``@explicit override; Dense, EinsumDense -> auto`` (for the
  keras-hub models, whose code passes an initializer to every layer).

Models: keras.applications from the zoo catalogue (``tests/zoo/catalog.py``; ``EfficientNetB0``
at 64x64), GPT2Backbone and LlamaBackbone with 4 blocks of width 256, and ``Llama200M`` (32,000
vocabulary, 8 blocks, width 1024, about 200 M parameters).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MODELS = ("ResNet50", "EfficientNetB0", "ConvNeXtTiny", "GPT2Backbone", "LlamaBackbone")
VARIANTS = ("plain", "same", "default", "default-fast")
DEFAULT_POLICY = ROOT / "examples" / "policies" / "default.initpolicy"
AUTO = "@explicit override\nDense, EinsumDense -> auto\n"
POLICIES = {
    "same": lambda: "@seed 1234\nConv3DTranspose -> he_normal  # noqa\n",
    "default": lambda: DEFAULT_POLICY.read_text("utf-8"),
    "default-fast": lambda: DEFAULT_POLICY.read_text("utf-8") + "\n@sampler fast\n",
    "auto": lambda: AUTO,
    "auto-fast": lambda: AUTO + "@sampler fast\n",
}
# keras-hub backbones at a size where a build takes long enough to time (the zoo's are tiny)
_HUB = dict(vocabulary_size=5000, num_layers=4, hidden_dim=256, intermediate_dim=1024)


def _builder(name: str):
    import keras

    if name == "GPT2Backbone":
        import keras_hub

        return lambda: keras_hub.models.GPT2Backbone(num_heads=4, max_sequence_length=128, **_HUB)
    if name == "LlamaBackbone":
        import keras_hub

        return lambda: keras_hub.models.LlamaBackbone(
            num_query_heads=4, num_key_value_heads=2, **_HUB
        )
    if name == "Llama200M":
        import keras_hub

        return lambda: keras_hub.models.LlamaBackbone(
            vocabulary_size=32000,
            num_layers=8,
            num_query_heads=8,
            num_key_value_heads=8,
            hidden_dim=1024,
            intermediate_dim=4096,
        )
    if name == "EfficientNetB0":
        return lambda: keras.applications.EfficientNetB0(weights=None, input_shape=(64, 64, 3))
    sys.path.insert(0, str(ROOT / "tests" / "zoo"))
    from catalog import BY_NAME

    return BY_NAME[name].build


def _switch_off(mechanisms) -> None:
    from keras_initpolicy.runtime import constants, decision, draw_thread

    if "memo" in mechanisms:
        decision._memo_key = lambda *args: None  # every weight decided from scratch
    if "host-constants" in mechanisms:
        constants._HOST_CONSTANTS = frozenset()
        constants._host_constants.cache_clear()
    if "draw-thread" in mechanisms:
        draw_thread._BACKENDS = frozenset()  # decided when the graph completes, drawn there


def one(model: str, variant: str, without) -> dict:
    """Build ``model`` once under ``variant`` in this process; its time and peak RSS."""
    warnings.simplefilter("ignore")
    import keras

    keras.utils.set_random_seed(1)
    build = _builder(model)
    policy = None
    if variant != "plain":
        import keras_initpolicy as kip

        _switch_off(without)
        policy = kip.parse(POLICIES[variant](), source=variant)
    t0 = time.perf_counter()
    if policy is None:
        built = build()
    else:
        with policy.scope():
            built = build()
    if keras.backend.backend() == "jax":  # JAX draws asynchronously
        import jax

        jax.block_until_ready([w.value for w in built.weights])
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": seconds, "peak_rss": peak, "weights": len(built.weights)}


def _run_one(model: str, variant: str, without) -> dict:
    command = [sys.executable, __file__, "--one", model, variant]
    for w in without:
        command += ["--without", w]
    out = subprocess.run(command, capture_output=True, text=True, env=os.environ, check=False)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"{model} {variant} failed:\n{out.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--without",
        choices=("memo", "host-constants", "draw-thread"),
        action="append",
        default=[],
        help="switch an optimization off, to measure what it is worth (memo: decision.py's "
        "memo of layers that look the same; host-constants: constants.py's NumPy-filled "
        "constants; draw-thread: TensorFlow's early decisions and draw thread)",
    )
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one, args.without)))
        return
    variants = args.variants.split(",")
    if "plain" not in variants:
        variants.insert(0, "plain")
    # What an installed package has: its bytecode compiled once (pip does it at install; an
    # editable checkout run with PYTHONDONTWRITEBYTECODE would compile every module each time)
    compileall.compile_dir(ROOT / "keras_initpolicy", quiet=1)
    import keras

    print(
        f"backend={keras.backend.backend()} repeat={args.repeat} without={args.without} "
        "(fresh process per build; time and peak RSS ratios to plain)"
    )
    for model in args.models.split(","):
        runs: dict = {v: [] for v in variants}
        for _ in range(args.repeat):
            for variant in variants:
                runs[variant].append(_run_one(model, variant, args.without))
        seconds = {v: statistics.median(r["seconds"] for r in runs[v]) for v in variants}
        peak = {v: statistics.median(r["peak_rss"] for r in runs[v]) for v in variants}
        cells = [f"plain {seconds['plain']:.2f} s"]
        for v in variants[1:]:
            cells.append(
                f"{v} {seconds[v]:.2f} s = {seconds[v] / seconds['plain']:.3f}x "
                f"(RSS {peak[v] / peak['plain']:.3f}x)"
            )
        print(f"{model:<16} " + "; ".join(cells), flush=True)


if __name__ == "__main__":
    main()
