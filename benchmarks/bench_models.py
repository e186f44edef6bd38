"""Build overhead of a policy on five representative real models (issue 11).

Run: KERAS_BACKEND=jax python benchmarks/bench_models.py [--repeat 5] [--models ResNet50,...]

For each model the builds alternate in one process, after one warm-up build of each variant:
- ``plain``: the model's own code, no policy;
- ``same``: under a policy that keeps every initializer the code or Keras chose (its one rule
  matches nothing) but, with ``@seed``, reseeds every random weight — the same initializers,
  so the difference is what the plugin costs;
- ``default``: under ``examples/policies/default.initpolicy`` (different initializers for many
  weights; shown for information).
Prints the median wall time of each (until every weight's value exists: on JAX the clock
stops after ``block_until_ready``, since 2026-11-30's fourth session) and the ratios to
``plain``. The models come from the zoo
catalogue (``tests/zoo/catalog.py``): keras.applications at their real size with a small input;
GPT2Backbone and LlamaBackbone with 4 blocks of width 256 (``BUILDERS``).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "zoo"))

import keras  # noqa: E402
from catalog import BY_NAME  # noqa: E402

import keras_initpolicy as kip  # noqa: E402

MODELS = ("ResNet50", "EfficientNetB0", "ConvNeXtTiny", "GPT2Backbone", "LlamaBackbone")
# keras-hub backbones at a size where a build takes long enough to time (the zoo's are tiny)
_HUB = dict(vocabulary_size=5000, num_layers=4, hidden_dim=256, intermediate_dim=1024)


def _gpt2():
    import keras_hub

    return keras_hub.models.GPT2Backbone(num_heads=4, max_sequence_length=128, **_HUB)


def _llama():
    import keras_hub

    return keras_hub.models.LlamaBackbone(num_query_heads=4, num_key_value_heads=2, **_HUB)


BUILDERS = {"GPT2Backbone": _gpt2, "LlamaBackbone": _llama}
SAME = kip.parse("@seed 1234\nConv3DTranspose -> he_normal  # noqa")
DEFAULT = kip.load(ROOT / "examples" / "policies" / "default.initpolicy")


def timed(build, policy) -> float:
    gc.collect()
    t0 = time.perf_counter()
    if policy is None:
        model = build()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with policy.scope():
                model = build()
    _wait_for(model)
    return time.perf_counter() - t0


def _wait_for(model) -> None:
    """Until every weight's value exists (as ``bench_build.py``): JAX draws asynchronously, and
    without this the draws one variant queued are paid by the next variant's build."""
    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready([w.value for w in model.weights])


def _switch_off(mechanisms) -> None:
    from keras_initpolicy.runtime import constants, decision

    if "memo" in mechanisms:
        decision._memo_key = lambda *args: None  # every weight decided from scratch
    if "host-constants" in mechanisms:
        constants._HOST_CONSTANTS = frozenset()
        constants._host_constants.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument(
        "--without",
        choices=("memo", "host-constants"),
        action="append",
        default=[],
        help="switch an optimization off for the whole run, to measure what it is worth "
        "(memo: decision.py's memo of layers that look the same; host-constants: "
        "constants.py's NumPy-filled constants)",
    )
    args = parser.parse_args()
    _switch_off(args.without)
    variants = {"plain": None, "same": SAME, "default": DEFAULT}
    print(f"backend={keras.backend.backend()} repeat={args.repeat} without={args.without}")
    print(
        f"{'model':<16} {'plain ms':>9} {'same ms':>9} {'default ms':>10} {'same/plain':>10} "
        f"{'default/plain':>13}"
    )
    for name in args.models.split(","):
        build = BUILDERS.get(name) or BY_NAME[name].build
        for policy in variants.values():
            timed(build, policy)  # warm-up
        runs = {k: [] for k in variants}
        for _ in range(args.repeat):
            for key, policy in variants.items():
                runs[key].append(timed(build, policy))
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(
            f"{name:<16} {med['plain'] * 1e3:9.0f} {med['same'] * 1e3:9.0f} "
            f"{med['default'] * 1e3:10.0f} {med['same'] / med['plain']:10.3f} "
            f"{med['default'] / med['plain']:13.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
