"""Generate ``keras_initpolicy/catalog/data/keras_layers.json`` from the installed Keras.

The linter and validator read this catalogue instead of importing Keras (docs/architecture.md: lint
never imports Keras). For every public class in ``keras.layers`` plus ``keras.Model``,
``keras.Sequential`` and ``Functional`` it records:

- ``mro``: class names, most derived first, without backend-specific and foreign bases (so the
  file is the same whichever backend generated it) and without ``object``;
- ``attributes``: config keys of a minimally constructed instance and ``__init__`` parameters,
  each with a value kind (``int``, ``float``, ``bool``, ``str``, ``tuple``, ``dict``, ``none``,
  ``object`` or ``unknown``);
- ``has_activation``: whether ``__init__`` takes an ``activation`` argument;
- ``weights``: every variable the layer creates when built on a small sample input, including its
  sublayers' (``owner`` names the class that called ``add_weight``), as name/trainable/rank;
- ``open``: the class wraps user-supplied layers or code, so any weight name may appear.

Every base class seen in an MRO gets an entry too (``public: false`` when not exported).
Also: ``aliases`` (exported name -> class name, e.g. ``Convolution2D`` -> ``Conv2D``) and
``activations`` (every name in ``keras.activations`` -> its canonical function name).

Usage::

    python tools/gen_layer_catalog.py           # rewrite the JSON
    python tools/gen_layer_catalog.py --check   # exit 1 when the committed JSON is stale
    python tools/gen_layer_catalog.py --stdout  # print instead of writing
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import inspect
import io
import json
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

OUTPUT = (
    Path(__file__).resolve().parent.parent
    / "keras_initpolicy"
    / "catalog"
    / "data"
    / "keras_layers.json"
)

# Classes whose weights depend on a user-supplied layer, cell, module or function.
OPEN_CLASSES = {
    "Layer",
    "Operation",
    "KerasSaveable",
    "Trainer",
    "Model",
    "Sequential",
    "Functional",
    "Function",
    "Wrapper",
    "TimeDistributed",
    "Bidirectional",
    "RNN",
    "StackedRNNCells",
    "SpectralNormalization",
    "TorchModuleWrapper",
    "JaxLayer",
    "FlaxLayer",
    "TFSMLayer",
    "Pipeline",
    "Lambda",
}

_NON_LAYER_EXPORTS = {"Input", "InputSpec"}


def _sample_specs(keras):
    """class name -> (constructor, inputs). ``inputs`` is a list of (shape, dtype) to call on."""
    L = keras.layers
    f = "float32"
    seq = [((2, 5, 4), f)]
    vec = [((2, 4), f)]
    img = [((1, 8, 8, 3), f)]
    qv = [((2, 5, 8), f), ((2, 5, 8), f)]
    pair = [((2, 4), f), ((2, 4), f)]
    return {
        "Dense": (lambda: L.Dense(3), vec),
        "EinsumDense": (lambda: L.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="c"), vec),
        "Conv1D": (lambda: L.Conv1D(2, 3), [((1, 8, 3), f)]),
        "Conv2D": (lambda: L.Conv2D(2, 3), img),
        "Conv3D": (lambda: L.Conv3D(2, 3), [((1, 8, 8, 8, 3), f)]),
        "Conv1DTranspose": (lambda: L.Conv1DTranspose(2, 3), [((1, 8, 3), f)]),
        "Conv2DTranspose": (lambda: L.Conv2DTranspose(2, 3), img),
        "Conv3DTranspose": (lambda: L.Conv3DTranspose(2, 3), [((1, 8, 8, 8, 3), f)]),
        "DepthwiseConv1D": (lambda: L.DepthwiseConv1D(3), [((1, 8, 3), f)]),
        "DepthwiseConv2D": (lambda: L.DepthwiseConv2D(3), img),
        "SeparableConv1D": (lambda: L.SeparableConv1D(2, 3), [((1, 8, 3), f)]),
        "SeparableConv2D": (lambda: L.SeparableConv2D(2, 3), img),
        "ConvLSTM1D": (lambda: L.ConvLSTM1D(2, 3), [((1, 4, 8, 3), f)]),
        "ConvLSTM2D": (lambda: L.ConvLSTM2D(2, 3), [((1, 4, 8, 8, 3), f)]),
        "ConvLSTM3D": (lambda: L.ConvLSTM3D(2, 3), [((1, 4, 6, 6, 6, 3), f)]),
        "LSTM": (lambda: L.LSTM(3), seq),
        "GRU": (lambda: L.GRU(3), seq),
        "SimpleRNN": (lambda: L.SimpleRNN(3), seq),
        "LSTMCell": (lambda: L.LSTMCell(3), (2, 4)),
        "GRUCell": (lambda: L.GRUCell(3), (2, 4)),
        "SimpleRNNCell": (lambda: L.SimpleRNNCell(3), (2, 4)),
        "StackedRNNCells": (lambda: L.StackedRNNCells([L.LSTMCell(3), L.LSTMCell(3)]), (2, 4)),
        "RNN": (lambda: L.RNN(L.LSTMCell(3)), seq),
        "Bidirectional": (lambda: L.Bidirectional(L.LSTM(3)), seq),
        "TimeDistributed": (lambda: L.TimeDistributed(L.Dense(3)), seq),
        "Wrapper": (lambda: L.Wrapper(L.Dense(3)), None),
        "Dropout": (lambda: L.Dropout(0.5), vec),
        "AlphaDropout": (lambda: L.AlphaDropout(0.5), vec),
        "GaussianDropout": (lambda: L.GaussianDropout(0.5), vec),
        "GaussianNoise": (lambda: L.GaussianNoise(0.1), vec),
        "SpatialDropout1D": (lambda: L.SpatialDropout1D(0.5), [((2, 8, 3), f)]),
        "SpatialDropout2D": (lambda: L.SpatialDropout2D(0.5), img),
        "SpatialDropout3D": (lambda: L.SpatialDropout3D(0.5), [((1, 4, 4, 4, 3), f)]),
        "SpectralNormalization": (lambda: L.SpectralNormalization(L.Dense(3)), vec),
        "MultiHeadAttention": (lambda: L.MultiHeadAttention(num_heads=2, key_dim=4), qv),
        "GroupedQueryAttention": (
            lambda: L.GroupQueryAttention(head_dim=4, num_query_heads=2, num_key_value_heads=1),
            qv,
        ),
        "Attention": (lambda: L.Attention(), [((2, 5, 8), f), ((2, 5, 8), f)]),
        "AdditiveAttention": (lambda: L.AdditiveAttention(), [((2, 5, 8), f), ((2, 5, 8), f)]),
        "Embedding": (lambda: L.Embedding(10, 3), [((2, 5), "int32")]),
        "ReversibleEmbedding": (lambda: L.ReversibleEmbedding(10, 3), [((2, 5), "int32")]),
        "BatchNormalization": (lambda: L.BatchNormalization(), vec),
        "LayerNormalization": (lambda: L.LayerNormalization(), vec),
        "GroupNormalization": (lambda: L.GroupNormalization(groups=2), vec),
        "RMSNormalization": (lambda: L.RMSNormalization(), vec),
        "Normalization": (lambda: L.Normalization(), vec),
        "PReLU": (lambda: L.PReLU(), vec),
        "Dot": (lambda: L.Dot(axes=1), pair),
        "Add": (lambda: L.Add(), pair),
        "Subtract": (lambda: L.Subtract(), pair),
        "Multiply": (lambda: L.Multiply(), pair),
        "Average": (lambda: L.Average(), pair),
        "Maximum": (lambda: L.Maximum(), pair),
        "Minimum": (lambda: L.Minimum(), pair),
        "Concatenate": (lambda: L.Concatenate(), pair),
        "Lambda": (lambda: L.Lambda(_identity), vec),
        "InputLayer": (lambda: L.InputLayer(shape=(4,)), None),
        "Reshape": (lambda: L.Reshape((4,)), vec),
        "Permute": (lambda: L.Permute((2, 1)), seq),
        "RepeatVector": (lambda: L.RepeatVector(2), vec),
        "Activation": (lambda: L.Activation("relu"), vec),
        "Discretization": (lambda: L.Discretization(bin_boundaries=[0.0, 1.0]), vec),
        "CategoryEncoding": (lambda: L.CategoryEncoding(num_tokens=4), [((2,), "int32")]),
        "Hashing": (lambda: L.Hashing(num_bins=4), None),
        "HashedCrossing": (lambda: L.HashedCrossing(num_bins=4), None),
        "IntegerLookup": (lambda: L.IntegerLookup(vocabulary=[1, 2]), None),
        "StringLookup": (lambda: L.StringLookup(vocabulary=["a", "b"]), None),
        "TextVectorization": (lambda: L.TextVectorization(), None),
        "Resizing": (lambda: L.Resizing(4, 4), img),
        "CenterCrop": (lambda: L.CenterCrop(4, 4), img),
        "RandomCrop": (lambda: L.RandomCrop(4, 4), img),
        "Rescaling": (lambda: L.Rescaling(0.5), img),
        "MaxNumBoundingBoxes": (lambda: L.MaxNumBoundingBoxes(max_number=2), None),
        "Model": (None, None),
        "Sequential": (None, None),
        "Functional": (None, None),
        "TFSMLayer": (None, None),
        "JaxLayer": (None, None),
        "FlaxLayer": (None, None),
        "TorchModuleWrapper": (None, None),
        "Pipeline": (lambda: L.Pipeline([]), None),
        "MelSpectrogram": (lambda: L.MelSpectrogram(), [((2, 1024), f)]),
        "STFTSpectrogram": (lambda: L.STFTSpectrogram(), [((2, 1024, 1), f)]),
    }


def _identity(x):
    return x


# Weights of classes that cannot be built generically (hand-written; name -> (trainable, rank)).
FALLBACK_WEIGHTS: dict[str, list[tuple[str, bool, int]]] = {
    "LSTMCell": [("kernel", True, 2), ("recurrent_kernel", True, 2), ("bias", True, 1)],
    "GRUCell": [("kernel", True, 2), ("recurrent_kernel", True, 2), ("bias", True, 2)],
    "SimpleRNNCell": [("kernel", True, 2), ("recurrent_kernel", True, 2), ("bias", True, 1)],
    "TextVectorization": [],  # lookup tables, no variables
}

# Sample input for classes not in the table: try these shapes in order.
_GENERIC_INPUTS = (
    [((1, 8, 8, 3), "float32")],
    [((2, 8, 3), "float32")],
    [((1, 4, 4, 4, 3), "float32")],
    [((2, 4), "float32")],
)


def _kind(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (tuple, list)):
        return "tuple"
    if isinstance(value, dict):
        return "dict"
    return "object"


def _mro_names(cls) -> list[str]:
    out = []
    for c in cls.__mro__:
        mod = c.__module__ or ""
        if c is object or not mod.startswith("keras.src.") or mod.startswith("keras.src.backend."):
            continue
        if c.__name__ not in out:
            out.append(c.__name__)
    return out


def _quiet():
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def _call(keras, layer, inputs):
    tensors = [keras.Input(shape=s[1:], batch_size=s[0], dtype=d) for s, d in inputs]
    if type(layer).__name__ in {"MultiHeadAttention", "GroupedQueryAttention"}:
        layer(tensors[0], tensors[1])
    elif len(tensors) > 1:
        layer(tensors)
    else:
        layer(tensors[0])


def _weights_of(layer) -> list[dict]:
    entries = set()
    for sub in layer._flatten_layers(include_self=True, recursive=True):
        own = list(getattr(sub, "_trainable_variables", [])) + list(
            getattr(sub, "_non_trainable_variables", [])
        )
        for v in own:
            entries.add((v.name, bool(v.trainable), len(v.shape), type(sub).__name__))
    return [{"name": n, "trainable": t, "rank": r, "owner": o} for n, t, r, o in sorted(entries)]


def _defines_build(keras, cls) -> bool:
    """Whether a class below ``Layer`` in the MRO defines ``build`` (and so may add weights)."""
    for c in cls.__mro__:
        if c is keras.layers.Layer:
            return False
        if "build" in vars(c):
            return True
    return False


def _describe(keras, name: str, cls, spec) -> dict:
    ctor, inputs = spec if spec else (cls, "generic")
    attributes: dict[str, str] = {}
    try:
        params = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        params = []
    for p in params:
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        attributes[p.name] = "unknown" if p.default is p.empty else _kind(p.default)
    entry = {
        "mro": _mro_names(cls),
        "public": True,
        "open": name in OPEN_CLASSES,
        "has_activation": "activation" in attributes,
    }
    layer = None
    if ctor is not None:
        with _quiet():
            try:
                layer = ctor()
            except Exception:
                layer = None
    if layer is not None:
        try:
            with _quiet():
                config = layer.get_config()
        except Exception:
            config = {}
        for key, value in config.items():
            kind = _kind(value)
            if kind != "none" or attributes.get(key) in (None, "unknown"):
                attributes[key] = kind
    weights = None
    if layer is not None:
        if isinstance(inputs, tuple):  # a cell or container: build() on an input shape
            with _quiet():
                try:
                    layer.build(inputs)
                    weights = _weights_of(layer)
                except Exception:
                    weights = None
        if inputs == "generic":
            candidates = _GENERIC_INPUTS
        else:
            candidates = (inputs,) if isinstance(inputs, list) else ()
        for cand in candidates:
            with _quiet():
                try:
                    _call(keras, layer, cand)
                except Exception:
                    continue
            weights = _weights_of(layer)
            break
    if weights is None and not entry["open"] and not _defines_build(keras, cls):
        weights = []  # no build() of its own: creates no weights
    if weights is None and name in FALLBACK_WEIGHTS:
        weights = [
            {"name": n, "trainable": t, "rank": r, "owner": name}
            for n, t, r in FALLBACK_WEIGHTS[name]
        ]
    entry["weights_known"] = weights is not None or entry["open"]
    entry["weights"] = weights or []
    entry["attributes"] = dict(sorted(attributes.items()))
    return entry


def generate() -> dict:
    """Build the catalogue dictionary from the installed Keras."""
    with _quiet():
        import keras
        from keras.src.models.functional import Functional

    exported = {}
    for attr in sorted(dir(keras.layers)):
        obj = getattr(keras.layers, attr)
        if attr.startswith("_") or attr in _NON_LAYER_EXPORTS or not inspect.isclass(obj):
            continue
        if issubclass(obj, keras.layers.Layer):
            exported[attr] = obj
    exported.update(
        {"Model": keras.Model, "Sequential": keras.Sequential, "Functional": Functional}
    )

    specs = _sample_specs(keras)
    classes: dict[str, dict] = {}
    aliases: dict[str, str] = {}
    for export_name, cls in sorted(exported.items()):
        if export_name != cls.__name__:
            aliases[export_name] = cls.__name__
        if cls.__name__ in classes:
            continue
        classes[cls.__name__] = _describe(keras, cls.__name__, cls, specs.get(cls.__name__))
    for cls in [c for _, c in sorted(exported.items())]:
        for base in cls.__mro__[1:]:
            names = _mro_names(base)
            if names and names[0] == base.__name__ and base.__name__ not in classes:
                classes[base.__name__] = {
                    "mro": names,
                    "public": False,
                    "open": base.__name__ in OPEN_CLASSES,
                    "has_activation": False,
                    "weights_known": False,
                    "weights": [],
                    "attributes": {},
                }
    for export_name in list(aliases):
        if export_name in classes:  # exported under its own name too: not an alias
            del aliases[export_name]

    skip = {"deserialize", "serialize", "get"}
    activations = {}
    for attr in sorted(dir(keras.activations)):
        fn = getattr(keras.activations, attr)
        if attr.startswith("_") or attr in skip or not callable(fn):
            continue
        activations[attr] = getattr(fn, "__name__", attr)
    return {
        "keras_version": keras.__version__,
        "generated_by": "tools/gen_layer_catalog.py",
        "aliases": dict(sorted(aliases.items())),
        "activations": activations,
        "classes": dict(sorted(classes.items())),
    }


def render(catalog: dict) -> str:
    return json.dumps(catalog, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is stale")
    ap.add_argument("--stdout", action="store_true", help="print the JSON instead of writing it")
    ap.add_argument("--output", type=Path, default=OUTPUT, help="where to write the JSON")
    args = ap.parse_args(argv)
    text = render(generate())
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        old = args.output.read_text("utf-8") if args.output.exists() else ""
        if old == text:
            return 0
        diff = difflib.unified_diff(
            old.splitlines(True), text.splitlines(True), "committed", "generated", n=1
        )
        sys.stdout.writelines(list(diff)[:200])
        print(
            f"\n{args.output.name} is stale: run python tools/gen_layer_catalog.py", file=sys.stderr
        )
        return 1
    args.output.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
