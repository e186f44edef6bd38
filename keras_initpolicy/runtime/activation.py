"""The effective activation of a layer: its own, or what its output flows into.

The definition: docs/reference.md#the-effective-activation.

Graph access goes through ``hooks`` (the one module that knows Keras internals).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import keras

from . import hooks

__all__ = [
    "ActivationInfo",
    "own_activation",
    "effective_activation",
    "reached_activation",
    "class_names",
    "is_transparent",
    "is_activation_layer",
]

# Layers an activation "looks through": they do not change which nonlinearity follows.
_TRANSPARENT = frozenset(
    {
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "RMSNormalization",
        "Dropout",
        "BaseSpatialDropout",
        "GaussianDropout",
        "GaussianNoise",
        "AlphaDropout",
        "ActivityRegularization",
        "Reshape",
        "Flatten",
        "Permute",
        "RepeatVector",
        "BasePooling",
        "BaseGlobalPooling",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "UpSampling1D",
        "UpSampling2D",
        "UpSampling3D",
        "Add",
        "Identity",
        "Masking",
    }
)
_MAX_HOPS = 64


@dataclass(frozen=True)
class ActivationInfo:
    """``name`` is a canonical Keras activation name; ``negative_slope`` is set for rectifiers;
    ``source`` says where it came from ("own", "graph: a -> b", "default", "ambiguous: ...")."""

    name: str
    negative_slope: float | None
    source: str


def class_names(layer) -> tuple[str, ...]:
    return _class_names(type(layer))


@functools.lru_cache(maxsize=4096)
def _class_names(cls) -> tuple[str, ...]:
    return tuple(k.__name__ for k in cls.__mro__ if k is not object)


def _slope_for(name: str, default: float | None = None) -> float | None:
    if name in ("relu", "relu6"):
        return 0.0
    if name == "leaky_relu":
        return 0.2 if default is None else default
    return default


def _name_of(fn) -> str:
    """The canonical Keras name of any activation callable; never raises, never imports a backend
    (``keras.activations.serialize`` would import TensorFlow)."""
    if fn is None:
        return "linear"
    try:
        return _keras_activations()[fn]
    except (KeyError, TypeError):  # not one of Keras's own, or unhashable
        pass
    inner = getattr(fn, "func", fn)  # functools.partial
    name = getattr(inner, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        name = getattr(type(fn), "__name__", "custom") if name != "<lambda>" else "custom"
    return _canonical(name)


@functools.cache
def _keras_activations() -> dict:
    """Keras's own activation functions -> their names (aliases: the first name wins in sorted
    order, so ``silu`` over ``swish``)."""
    table: dict = {}
    for name in sorted(dir(keras.activations)):
        fn = getattr(keras.activations, name)
        if name.startswith("_") or name in ("get", "serialize", "deserialize") or not callable(fn):
            continue
        table.setdefault(fn, name)
    return table


@functools.cache
def _canonical(name: str) -> str:
    """``keras_hub>gelu_approximate`` -> ``gelu``: a registered prefix dropped, and a variant of a
    Keras activation (``<name>_...``) counted as that activation; other names stay as they are."""
    name = name.rpartition(">")[2]
    known = set(_keras_activations().values())
    if name in known:
        return name
    if name.lower() in known:  # an activation object: ReLU, Softmax
        return name.lower()
    family = [k for k in known if name.startswith(k + "_")]
    return max(family, key=len) if family else name


_ACTIVATION_LAYERS = ("LeakyReLU", "ReLU", "PReLU", "ELU", "Softmax")


@functools.lru_cache(maxsize=4096)
def _activation_layer_kind(cls) -> str | None:
    names = set(_class_names(cls))
    return next((n for n in _ACTIVATION_LAYERS if n in names), None)


def own_activation(layer) -> ActivationInfo | None:
    """The nonlinearity ``layer`` applies itself, or None when it applies none (linear)."""
    kind = _activation_layer_kind(type(layer))
    if kind == "LeakyReLU":
        return ActivationInfo("leaky_relu", float(layer.negative_slope), "own")
    if kind == "ReLU":
        slope = float(getattr(layer, "negative_slope", 0.0) or 0.0)
        return ActivationInfo("leaky_relu" if slope else "relu", slope, "own")
    if kind == "PReLU":
        return ActivationInfo("relu", 0.0, "own (PReLU starts at slope 0)")
    if kind == "ELU":
        return ActivationInfo("elu", None, "own")
    if kind == "Softmax":
        return ActivationInfo("softmax", None, "own")
    try:
        fn = getattr(layer, "activation", None)
    except Exception:  # noqa: BLE001 - a property of a user layer may fail mid-build
        return None
    if isinstance(fn, str):  # some layers keep the name they were given
        name = fn or "linear"
    elif fn is None or not callable(fn):
        return None
    else:
        name = _name_of(fn)
    if name == "linear":
        return None
    return _own_info(name)


@functools.lru_cache(maxsize=256)  # read for every weight: one immutable instance per name
def _own_info(name: str) -> ActivationInfo:
    return ActivationInfo(name, _slope_for(name), "own")


def is_transparent(layer) -> bool:
    return not _TRANSPARENT.isdisjoint(class_names(layer))


def _follow(
    layer, trail: tuple[str, ...], hops: int
) -> list[tuple[ActivationInfo, tuple[str, ...]]]:
    """Terminal activations reached from ``layer``'s output, each with the layers walked."""
    found = []
    for consumer in hooks.consumers(layer):
        step = trail + (consumer.name,)
        if isinstance(consumer, keras.Model) or hops > _MAX_HOPS:
            found.append((ActivationInfo("linear", None, "model boundary"), step))
            continue
        if is_transparent(consumer) and own_activation(consumer) is None:
            sub = _follow(consumer, step, hops + 1)
            found.extend(sub or [(ActivationInfo("linear", None, "output"), step)])
            continue
        if not is_activation_layer(consumer) and getattr(consumer, "trainable_weights", None):
            found.append((ActivationInfo("linear", None, "weighted consumer"), step))
            continue
        act = own_activation(consumer)
        found.append((act or ActivationInfo("linear", None, "consumer"), step))
    return found


def is_activation_layer(layer) -> bool:
    return _activation_layer_kind(type(layer)) is not None or "Activation" in class_names(layer)


def effective_activation(layer) -> ActivationInfo:
    """Own activation if any; else the one applied downstream, else ``linear``
    (docs/reference.md#the-effective-activation)."""
    own = own_activation(layer)
    if own is not None:
        return own
    return _downstream(_follow(layer, (layer.name,), 0))


def reached_activation(layer) -> ActivationInfo | None:
    """``effective_activation(layer)`` once every path from the output of ``layer`` (a layer
    without an activation of its own) has reached its end — an activation, a weighted layer, a
    model; None while some path still ends at a layer nothing consumes yet, or none starts."""
    reached = _follow(layer, (layer.name,), 0)
    if not reached or any(a.source == "output" for a, _ in reached):
        return None
    return _downstream(reached)


def _downstream(reached: list) -> ActivationInfo:
    if not reached:
        return ActivationInfo("linear", None, "default (no consumer)")
    kinds = {(a.name, a.negative_slope) for a, _ in reached}
    if len(kinds) == 1:
        act, trail = reached[0]
        return ActivationInfo(act.name, act.negative_slope, "graph: " + " -> ".join(trail))
    listed = ", ".join(f"{a.name} via {' -> '.join(t)}" for a, t in reached)
    return ActivationInfo("linear", None, f"ambiguous: consumers disagree ({listed})")
