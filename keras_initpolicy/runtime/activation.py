"""The effective activation of a layer (SPEC §2): its own, or what its output flows into.

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
    if fn is None:
        return "linear"
    try:
        return _NAMES[fn]
    except (KeyError, TypeError):
        pass
    name = _serialize_name(fn)
    if getattr(fn, "__module__", "").startswith("keras."):
        _NAMES[fn] = name  # Keras's own activation functions: a small, fixed set
    return name


_NAMES: dict = {}


def _serialize_name(fn) -> str:
    """The canonical name of any activation callable; never raises.

    Keras serializes its own functions as a name or as ``{"class_name": "function", "config":
    "relu", ...}``; activation objects as ``{"class_name": ..., "config": {...}}``; anything else
    (a lambda, a ``functools.partial``, a user function) falls back to its ``__name__``.
    """
    try:
        name = keras.activations.serialize(fn)
    except Exception:  # noqa: BLE001 - any callable may be an activation; never fail a build
        name = None
    if isinstance(name, dict):
        config = name.get("config")
        if isinstance(config, str):
            name = config
        elif isinstance(config, dict) and isinstance(config.get("name"), str):
            name = config["name"]
        else:
            name = name.get("class_name")
    if not isinstance(name, str) or not name:
        inner = getattr(fn, "func", fn)  # functools.partial
        name = getattr(inner, "__name__", None) or type(fn).__name__
    return name if name != "<lambda>" else "custom"


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
        if getattr(consumer, "trainable_weights", None) and not is_activation_layer(consumer):
            found.append((ActivationInfo("linear", None, "weighted consumer"), step))
            continue
        act = own_activation(consumer)
        found.append((act or ActivationInfo("linear", None, "consumer"), step))
    return found


def is_activation_layer(layer) -> bool:
    return _activation_layer_kind(type(layer)) is not None or "Activation" in class_names(layer)


def effective_activation(layer) -> ActivationInfo:
    """Own activation if any; else the one applied downstream (SPEC §2), else ``linear``."""
    own = own_activation(layer)
    if own is not None:
        return own
    reached = _follow(layer, (layer.name,), 0)
    if not reached:
        return ActivationInfo("linear", None, "default (no consumer)")
    kinds = {(a.name, a.negative_slope) for a, _ in reached}
    if len(kinds) == 1:
        act, trail = reached[0]
        return ActivationInfo(act.name, act.negative_slope, "graph: " + " -> ".join(trail))
    listed = ", ".join(f"{a.name} via {' -> '.join(t)}" for a, t in reached)
    return ActivationInfo("linear", None, f"ambiguous: consumers disagree ({listed})")
