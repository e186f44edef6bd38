"""The catalogue of Keras layer classes, read from ``data/keras_layers.json``. No Keras import.

The JSON is generated from the installed Keras by ``tools/gen_layer_catalog.py`` (a test fails
when it is stale). It records, per class: its MRO names, config attributes with value kinds,
whether it takes an ``activation``, and the weights it creates on a sample build (sublayers'
included: LSTM lists its cell's). Custom layers join the catalogue at run time through
``add_custom`` / ``register_from_classes`` (the CLI's ``--custom-layers``); only the latter
imports Keras, and only when called.

>>> mro("Conv2D")[:3]
('Conv2D', 'BaseConv', 'Layer')
>>> sorted(weights("LSTM"))
['bias', 'kernel', 'recurrent_kernel']
>>> closest_classes("Dens")
['Dense']
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..spelling import close_matches

__all__ = [
    "WeightInfo",
    "keras_version",
    "is_builtin",
    "is_known",
    "canonical_class",
    "class_names",
    "mro",
    "weights",
    "weight_entries",
    "weight_ranks",
    "weights_known",
    "is_open",
    "is_public",
    "attributes",
    "attribute_kinds",
    "has_activation",
    "activations",
    "canonical_activation",
    "closest_classes",
    "closest_activations",
    "subclasses_of",
    "add_custom",
    "register_from_classes",
    "clear_custom",
    "ALWAYS_ATTRIBUTES",
]

#: Attributes every layer has for a policy, whatever its config says (docs/reference.md#predicates).
ALWAYS_ATTRIBUTES = frozenset({"name", "path", "activation"})


@dataclass(frozen=True)
class WeightInfo:
    """One variable a class creates: ``owner`` is the (sub)layer class that adds it."""

    name: str
    trainable: bool
    rank: int
    owner: str


@lru_cache(maxsize=1)
def _data() -> dict:
    path = Path(__file__).resolve().parent / "data" / "keras_layers.json"
    if path.is_file():
        text = path.read_text("utf-8")
    else:  # zipped installs
        from importlib import resources

        text = (
            resources.files("keras_initpolicy.catalog.data").joinpath(path.name).read_text("utf-8")
        )
    return json.loads(text)


_custom: dict[str, dict] = {}
_lock = threading.Lock()
_generation = [0]  # bumped whenever the custom registry changes (invalidates the index)


def generation() -> int:
    """A number that changes whenever custom layer classes are registered or cleared: part of
    the key of every cache derived from this catalogue."""
    return _generation[0]


def keras_version() -> str:
    """The Keras version the catalogue was generated from."""
    return _data()["keras_version"]


def _builtin_classes() -> dict[str, dict]:
    return _data()["classes"]


def canonical_class(name: str) -> str | None:
    """The class name behind ``name`` (``Convolution2D`` -> ``Conv2D``), or None if unknown."""
    name = str(name)
    if name in _builtin_classes() or name in _custom:
        return name
    return _data()["aliases"].get(name)


def _entry(name: str) -> dict | None:
    canonical = canonical_class(name)
    if canonical is None:
        return None
    return _builtin_classes().get(canonical) or _custom.get(canonical)


def is_builtin(cls_name: str) -> bool:
    """True for a class (or exported alias, or base class) of Keras itself."""
    name = str(cls_name)
    return name in _builtin_classes() or name in _data()["aliases"]


def is_known(cls_name: str) -> bool:
    """Built-in, or a custom layer registered with ``add_custom``."""
    return canonical_class(cls_name) is not None


def class_names(*, public_only: bool = False) -> tuple[str, ...]:
    """Every known class name: Keras classes, their bases, exported aliases, custom layers."""
    classes = _builtin_classes()
    names = {n for n, e in classes.items() if e["public"] or not public_only}
    names.update(_data()["aliases"])
    names.update(_custom)
    return tuple(sorted(names))


def mro(cls_name: str) -> tuple[str, ...]:
    """Class names of ``cls_name`` and all its bases, most derived first; () if unknown."""
    entry = _entry(cls_name)
    return tuple(entry["mro"]) if entry else ()


def weight_entries(cls_name: str) -> tuple[WeightInfo, ...]:
    """Every variable the class creates, its sublayers' included."""
    entry = _entry(cls_name)
    if not entry:
        return ()
    return tuple(
        WeightInfo(w["name"], w["trainable"], w["rank"], w["owner"]) for w in entry["weights"]
    )


def weights(cls_name: str) -> dict[str, tuple[bool, int]]:
    """weight name -> (trainable, rank), sublayers' weights included (LSTM covers its cell's).

    When one name occurs more than once (MultiHeadAttention's projections) ``trainable`` is
    True if any is trainable and ``rank`` is the largest; ``weight_ranks`` gives them all.
    """
    out: dict[str, tuple[bool, int]] = {}
    for w in weight_entries(cls_name):
        trainable, rank = out.get(w.name, (False, -1))
        out[w.name] = (trainable or w.trainable, max(rank, w.rank))
    return out


def weight_ranks(cls_name: str, weight: str) -> frozenset[int]:
    """Every rank a weight of this name has in the class (sample build)."""
    return frozenset(w.rank for w in weight_entries(cls_name) if w.name == weight)


def is_public(cls_name: str) -> bool:
    """False for Keras's internal base classes (``BaseConv``, ``Merge`` ...)."""
    entry = _entry(cls_name)
    return bool(entry and entry["public"])


def weights_known(cls_name: str) -> bool:
    """False when the catalogue could not build the class (its weights are not listed)."""
    entry = _entry(cls_name)
    return bool(entry and entry["weights_known"] and not entry["open"])


def is_open(cls_name: str) -> bool:
    """True when a class's weights and attributes depend on user code (Layer, Model, RNN,
    wrappers ...): any weight name may appear in it."""
    entry = _entry(cls_name)
    return bool(entry and entry["open"])


def attribute_kinds(cls_name: str) -> dict[str, str]:
    """attribute -> value kind (``int``, ``float``, ``bool``, ``str``, ``tuple``, ``dict``,
    ``none``, ``object`` or ``unknown``) from the class's config and constructor."""
    entry = _entry(cls_name)
    return dict(entry["attributes"]) if entry else {}


def attributes(cls_name: str) -> set[str]:
    """Config keys and constructor parameters, plus ``name``, ``path`` and ``activation``."""
    return set(attribute_kinds(cls_name)) | ALWAYS_ATTRIBUTES


def has_activation(cls_name: str) -> bool:
    """Whether the class takes an ``activation`` argument of its own."""
    entry = _entry(cls_name)
    return bool(entry and entry["has_activation"])


def activations() -> tuple[str, ...]:
    """Every activation name of ``keras.activations`` (aliases such as ``swish`` included)."""
    return tuple(_data()["activations"])


def canonical_activation(name: str) -> str | None:
    """The canonical function name of an activation (``swish`` -> ``silu``), else None."""
    return _data()["activations"].get(str(name))


def closest_classes(name: str, n: int = 3) -> list[str]:
    """Known class names closest to ``name`` (public ones first), for "did you mean"."""
    public = [c for c in class_names(public_only=True)]
    found = close_matches(str(name), public, n=n, cutoff=0.6)
    if len(found) < n:
        rest = [c for c in class_names() if c not in found]
        found += close_matches(str(name), rest, n=n - len(found), cutoff=0.6)
    if not found:  # case slips: "dense" -> "Dense"
        lowered = {c.lower(): c for c in class_names()}
        if str(name).lower() in lowered:
            found = [lowered[str(name).lower()]]
    return found


def closest_activations(name: str, n: int = 3) -> list[str]:
    """Activation names closest to ``name``."""
    return close_matches(str(name).lower(), activations(), n=n, cutoff=0.5)


@lru_cache(maxsize=4)
def _subclass_index(generation: int) -> dict[str, tuple[str, ...]]:
    index: dict[str, set[str]] = {}
    for name in [*_builtin_classes(), *_custom]:
        for base in mro(name):
            index.setdefault(base, set()).add(name)
    return {k: tuple(sorted(v)) for k, v in index.items()}


def subclasses_of(cls_name: str) -> tuple[str, ...]:
    """Every known class whose MRO contains ``cls_name`` (itself included); ``*`` = all."""
    index = _subclass_index(_generation[0])
    if cls_name == "*":
        return tuple(sorted({c for v in index.values() for c in v}))
    canonical = canonical_class(cls_name)
    return index.get(canonical, ()) if canonical else ()


# ----------------------------------------------------------------------------- custom layers


def add_custom(
    name: str,
    *,
    mro: tuple[str, ...] | list[str] = (),
    weights: tuple | list = (),
    attributes: dict[str, str] | None = None,
    has_activation: bool = False,
    weights_known: bool = False,
) -> None:
    """Register a custom layer class so that validation knows it.

    ``mro`` lists class names most derived first (``name`` is prepended when missing);
    ``weights`` holds ``WeightInfo`` or ``(name, trainable, rank)`` items. Unless
    ``weights_known`` the class is *open*: any weight name is accepted for it.
    """
    names = [str(n) for n in mro]
    if not names or names[0] != name:
        names.insert(0, name)
    infos = []
    for w in weights:
        w = w if isinstance(w, WeightInfo) else WeightInfo(w[0], bool(w[1]), int(w[2]), name)
        infos.append({"name": w.name, "trainable": w.trainable, "rank": w.rank, "owner": w.owner})
    entry = {
        "mro": names,
        "public": True,
        "open": not weights_known,
        "has_activation": bool(has_activation),
        "weights_known": bool(weights_known),
        "weights": infos,
        "attributes": dict(attributes or {}),
    }
    with _lock:
        _custom[name] = entry
        _generation[0] += 1


def clear_custom() -> None:
    """Forget every registered custom layer (tests)."""
    with _lock:
        _custom.clear()
        _generation[0] += 1


def register_from_classes(classes) -> list[str]:
    """Register Keras layer classes (custom layers) by introspection; returns their names.

    Reads the classes only (the caller imported them, and Keras with them). A class's MRO keeps
    its own classes and Keras's, dropping backend-specific bases; attributes come from its ``__init__`` parameters and from its
    nearest built-in base. Weights are unknown (they appear in ``build``), so any weight name
    is accepted for a custom class.
    """
    import inspect

    registered = []
    for cls in classes:
        if not isinstance(cls, type):
            raise TypeError(f"register_from_classes expects classes; received {cls!r}")
        names = []
        for c in cls.__mro__:
            mod = c.__module__ or ""
            if c is object or mod.startswith(("keras.src.backend.", "tensorflow.", "torch.")):
                continue
            if c.__name__ not in names:
                names.append(c.__name__)
        kinds: dict[str, str] = {}
        for base in names[1:]:
            if base in _builtin_classes():
                kinds = {**attribute_kinds(base), **kinds}
        try:
            params = inspect.signature(cls.__init__).parameters.values()
        except (TypeError, ValueError):
            params = []
        for p in params:
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                kinds.setdefault(p.name, "unknown")
        add_custom(
            cls.__name__,
            mro=names,
            attributes=kinds,
            has_activation="activation" in kinds,
        )
        registered.append(cls.__name__)
    return registered
