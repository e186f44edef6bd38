"""How early a waiting weight's decision can be known, and whether it holds.

Run: KERAS_BACKEND=tensorflow python benchmarks/early_decisions.py [--models ConvNeXtBase,...]

A weight whose rule reads the activation after its layer waits, under a policy scope, until its
Functional graph completes (docs/reference.md, "The effective activation"); on TensorFlow its
draw then runs with nothing left to overlap (``bench_tf_overlap.py``). This measures what an
earlier decision would have: after every layer call of the build, each weight still waiting
whose effective activation is already reached on every path (no path ends at a layer without
consumers yet) is given that activation as its early one. Printed per model, under
``examples/policies/default.initpolicy``: the waiting weights, how many got an early activation,
when (the median share of the build's layer calls still to come), and how many early
activations differ from the one the completed graph gives (each would be drawn a second time).

It switches the package's own early decisions off (``weights.decide_early``, which acts on
this finding on TensorFlow), patches ``keras.layers.Layer.__call__`` and reads the package's
runtime modules, in its own process; nothing here is the package's behaviour.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = "ConvNeXtBase,ResNet50,EfficientNetB0,DenseNet121,MobileNetV3Small,Xception"


def _complete(layer, activation_module) -> tuple | None:
    """``(name, negative_slope)`` when every path from ``layer`` reaches an activation or a
    weighted consumer (``activation.reached_activation``, what the package decides early
    from); None while some path ends at a layer without consumers yet."""
    info = activation_module.own_activation(layer) or activation_module.reached_activation(layer)
    return None if info is None else (info.name, info.negative_slope)


def measure(name: str, build) -> dict:
    import keras

    import keras_initpolicy as kip
    from keras_initpolicy.runtime import activation, draw_thread, scope

    draw_thread._BACKENDS = frozenset()  # the package's own early decisions off: measured here

    policy = kip.parse((ROOT / "examples" / "policies" / "default.initpolicy").read_text("utf-8"))
    early: dict = {}  # id(record) -> (activation, calls so far)
    calls = [0]
    original = keras.layers.Layer.__call__

    def call(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        calls[0] += 1
        state = scope._current.get()
        if state is not None:
            for record in state.placeholders:
                if record.waiting and id(record) not in early:
                    found = _complete(record.request.layer, activation)
                    if found is not None:
                        early[id(record)] = (found, calls[0])
        return out

    keras.layers.Layer.__call__ = call
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with policy.scope() as active:
                waiting = []
                state = active.state
                placeholders = state.placeholders
                state.placeholders = _Recorder(placeholders, waiting)
                build()
    finally:
        keras.layers.Layer.__call__ = original
    total = calls[0]
    shares, differ = [], 0
    for record in waiting:
        if id(record) not in early:
            continue
        (act, at) = early[id(record)]
        shares.append((total - at) / total)
        final = record.decision.activation
        differ += act != (final.name, final.negative_slope)
    return {
        "model": name,
        "waiting": len(waiting),
        "early": len(shares),
        "left": statistics.median(shares) if shares else 0.0,
        "differ": differ,
        "calls": total,
    }


class _Recorder(list):
    """The scope's list of waiting records, also kept in ``seen`` (the scope clears its own)."""

    def __init__(self, items, seen: list) -> None:
        super().__init__(items)
        self._seen = seen

    def append(self, record) -> None:
        self._seen.append(record)
        super().append(record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=MODELS)
    args = parser.parse_args()
    import keras

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_models import _builder

    print(f"backend={keras.backend.backend()}, examples/policies/default.initpolicy")
    for name in args.models.split(","):
        r = measure(name, _builder(name))
        print(
            f"{name:<18} waiting {r['waiting']:>4}, decided early {r['early']:>4} "
            f"(median {r['left']:.0%} of {r['calls']} layer calls still to come), "
            f"early activation differs from the graph's {r['differ']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
