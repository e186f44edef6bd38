"""Which initializers the model code chose (docs/reference.md, "Explicit initializers").

A layer's ``*_initializer`` constructor argument is *explicit* when the code gave it a value
that is not the layer class's own default for that argument, compared as initializers (same
class, same configuration). That is a property of the values, not of who called the
constructor, so it survives everything Keras does to carry a value along:

- an RNN layer hands its arguments to its cell (``LSTM`` -> ``LSTMCell``): the cell receives
  the code's value, or the same default;
- a wrapper re-creates its layer from config (``Bidirectional``): the copy receives every
  argument, and only those that differ from the defaults are explicit;
- a layer clones its initializers for its sublayers (``MultiHeadAttention`` -> ``EinsumDense``):
  a clone has the same configuration as what it was cloned from;
- a layer draws a weight through a function of its attribute (LSTM's ``unit_forget_bias``
  bias): the weight belongs to the attribute (:func:`weight_attribute`), whatever function
  wraps it.

Giving an argument its default value is the same choice as giving nothing.
"""

from __future__ import annotations

import functools
import inspect
import random

import keras

from . import hooks

__all__ = [
    "ATTR_FOR_WEIGHT",
    "given_initializers",
    "explicit_attributes",
    "weight_attribute",
    "look_up_initializer",
]

#: Keras's attribute names for the initializer of each standard weight.
ATTR_FOR_WEIGHT = {
    "kernel": "kernel_initializer",
    "bias": "bias_initializer",
    "recurrent_kernel": "recurrent_initializer",
    "embeddings": "embeddings_initializer",
    "gamma": "gamma_initializer",
    "beta": "beta_initializer",
    "depthwise_kernel": "depthwise_initializer",
    "pointwise_kernel": "pointwise_initializer",
    "alpha": "alpha_initializer",
    "moving_mean": "moving_mean_initializer",
    "moving_variance": "moving_variance_initializer",
}

_NO_DEFAULT = inspect.Parameter.empty


def given_initializers(cls, args: tuple, kwargs: dict) -> dict:
    """``{parameter: value}`` of the ``*_initializer`` arguments a constructor call of ``cls``
    received with a value other than None (by keyword or by position)."""
    given = {k: v for k, v in kwargs.items() if v is not None and k.endswith("_initializer")}
    if args:
        for position, name in _initializer_params(cls):
            if position < len(args) and args[position] is not None:
                given[name] = args[position]
    return given


def explicit_attributes(layer, given: dict | None) -> frozenset:
    """The ``*_initializer`` arguments of ``layer`` its code chose.

    ``given``: the arguments its constructor received (:func:`given_initializers`), or None
    when the layer was made where nothing saw its constructor (outside every scope); then its
    attributes stand for them, for the arguments whose class default is not None (an attribute
    cannot tell a ``None`` default filled in by the layer from a value the code gave).
    """
    defaults = _initializer_defaults(type(layer))
    if given is None:
        given = {
            name: value
            for name, default in defaults.items()
            if default is not None and (value := getattr(layer, name, None)) is not None
        }
    return frozenset(
        name for name, value in given.items() if not _same_initializer(value, defaults.get(name))
    )


def weight_attribute(layer, initializer, weight: str) -> tuple[str | None, bool]:
    """``(attribute, derived)``: the attribute (``kernel_initializer``...) that holds the
    initializer ``layer`` was given for ``weight``, and whether the layer draws the weight
    through a function of it rather than the attribute itself (``derived``: LSTM's bias with
    ``unit_forget_bias`` concatenates draws of ``bias_initializer`` with ones)."""
    usual = ATTR_FOR_WEIGHT.get(weight)
    if usual is not None:
        value = getattr(layer, usual, None)
        if value is not None and _is_value_of(initializer, value):
            return usual, False
    if initializer is None:
        return None, False
    for key, value in hooks.initializer_attributes(layer):
        if _is_value_of(initializer, value):
            return key, False
    if usual is not None and _is_function_of_attribute(initializer, getattr(layer, usual, None)):
        return usual, True
    return None, False


def _is_value_of(initializer, value) -> bool:
    return value is initializer or (isinstance(initializer, str) and value == initializer)


def _is_function_of_attribute(initializer, attribute) -> bool:
    """A plain function or lambda passed to ``add_weight`` where the layer holds an initializer
    for that weight: Keras layers build such functions around the attribute."""
    return attribute is not None and inspect.isfunction(initializer)


@functools.lru_cache(maxsize=1024)
def _initializer_params(cls) -> tuple[tuple[int, str], ...]:
    """``(position, name)`` of the constructor parameters of ``cls`` named ``*_initializer``."""
    try:
        params = tuple(inspect.signature(cls.__init__).parameters)[1:]
    except (TypeError, ValueError):
        return ()
    return tuple((i, p) for i, p in enumerate(params) if p.endswith("_initializer"))


@functools.lru_cache(maxsize=1024)
def _initializer_defaults(cls) -> dict:
    """``{parameter: default}`` of every ``*_initializer`` constructor parameter of ``cls`` or
    a base class (the nearest class that names it decides; a subclass passing ``**kwargs`` on
    inherits its base's default). ``_NO_DEFAULT`` for a parameter without one."""
    defaults: dict = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        for p in params:
            if p.name.endswith("_initializer") and p.name not in defaults:
                defaults[p.name] = p.default
    return defaults


def _same_initializer(value, default) -> bool:
    """Is ``value`` the same initializer as ``default`` (same class and configuration)?"""
    if default is _NO_DEFAULT:
        return False
    if value is default:
        return True
    a, b = _resolved(value), _resolved(default)
    if a is None or b is None:
        return False
    return type(a) is type(b) and _config(a) == _config(b)


def _resolved(value):
    if isinstance(value, str):
        return _resolved_name(value)
    if isinstance(value, keras.initializers.Initializer):
        return value
    if isinstance(value, dict):
        try:
            return look_up_initializer(value)
        except (ValueError, TypeError):
            return None
    return None


@functools.lru_cache(maxsize=256)
def _resolved_name(name: str):
    try:
        return look_up_initializer(name)
    except (ValueError, TypeError):
        return None


def look_up_initializer(value):
    """``keras.initializers.get(value)``, to look at, not to draw from: Keras gives a new
    unseeded random initializer a default seed from Python's global ``random``, and looking
    must not move that state (the seeds of every later initializer would change)."""
    state = random.getstate()
    try:
        return keras.initializers.get(value)
    finally:
        random.setstate(state)


def _config(initializer):
    try:
        return initializer.get_config()
    except Exception:  # noqa: BLE001 - a user initializer's get_config may fail or be missing
        return id(initializer)
