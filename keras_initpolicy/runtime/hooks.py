"""The one module that touches Keras internals.

Written against Keras 3.15 (checked with 3.10–3.15 source layouts): it relies on
- ``keras.layers.Layer.__new__`` (to see each layer's constructor arguments),
- the name-scope stack (``global_state`` ``name_scope_stack``, entries with ``.caller``) that
  ``Layer.__call__``/``build`` open, to know which layers are building or calling,
- ``keras.layers.Layer.add_weight(shape=..., initializer=..., name=..., trainable=...)``,
- ``keras.layers.Layer._maybe_build(call_spec)``, run by every ``Layer.__call__`` before ``call``,
  and ``CallSpec.eager`` (its tensor arguments are backend tensors, not ``KerasTensor``s), with
  the symbolic and stateless scopes (a trace, not a computation),
- ``keras.src.models.functional.Functional.__init__`` (a graph is complete when it returns),
- ``keras.src.saving.saving_lib.load_model`` and
  ``keras.src.legacy.saving.legacy_h5_format.load_model_from_hdf5`` (loading runs without any
  policy),
- ``Operation._outbound_nodes`` / ``Node.operation`` (who consumes a layer's output),
- ``Layer._flatten_layers`` (sublayers), ``Layer._trainable_variables`` /
  ``Layer._non_trainable_variables`` (a layer's own weights),
- how ``LSTMCell`` and ``ConvLSTMCell`` build their bias under ``unit_forget_bias``
  (``constructed_value``, for ``Policy.apply``).
``tests/runtime/test_hooks.py`` fails loudly if any of these changes shape.

Every patch is installed once, is a no-op for layers that no policy scope has seen, and calls
back into ``scope.py`` for all decisions.
"""

from __future__ import annotations

import functools
import inspect
import threading
from contextvars import ContextVar

import keras
from keras.src import backend as keras_backend
from keras.src.backend.common import global_state
from keras.src.backend.common.stateless_scope import in_stateless_scope
from keras.src.backend.common.symbolic_scope import in_symbolic_scope
from keras.src.layers.rnn.conv_lstm import ConvLSTMCell
from keras.src.legacy.saving import legacy_h5_format
from keras.src.models.functional import Functional
from keras.src.saving import saving_lib

__all__ = [
    "install",
    "installed",
    "uninstall",
    "HOOKED_SURFACE",
    "consumers",
    "sublayers",
    "own_weights",
    "building_stack",
    "building_graph",
    "suspend_policies",
    "route_backend_random",
    "backend_random_routed",
    "torch_device",
]

Layer = keras.layers.Layer

#: What we rely on, checked by tests/runtime/test_hooks.py against the installed Keras.
HOOKED_SURFACE = {
    "Layer.__new__": lambda: "__new__" in Layer.__dict__,
    "Layer.add_weight(shape, initializer, name, trainable)": lambda: (
        {"shape", "initializer", "name", "trainable"}
        <= set(inspect.signature(_ORIGINAL["add_weight"]).parameters)
    ),
    "Functional.__init__": lambda: "__init__" in Functional.__dict__,
    "Layer._maybe_build(call_spec), CallSpec.eager": lambda: _maybe_build_works(),
    "saving_lib.load_model": lambda: callable(getattr(saving_lib, "load_model", None)),
    "legacy_h5_format.load_model_from_hdf5": lambda: callable(
        getattr(legacy_h5_format, "load_model_from_hdf5", None)
    ),
    "Operation._outbound_nodes": lambda: hasattr(keras.layers.Dense(1), "_outbound_nodes"),
    "Layer._flatten_layers": lambda: callable(getattr(Layer, "_flatten_layers", None)),
    "Layer._trainable_variables": lambda: hasattr(keras.layers.Dense(1), "_trainable_variables"),
    "name_scope_stack callers": lambda: _name_scope_callers_work(),
    "keras.random calls backend.random.<op> at call time": lambda: _backend_random_works(),
}


def _backend_random_works() -> bool:
    source = inspect.getsource(keras.src.random.random)
    ops = ("normal", "uniform", "truncated_normal")
    return all(f"backend.random.{op}(" in source for op in ops) and all(
        callable(getattr(keras_backend.random, op, None)) for op in ops
    )


def _name_scope_callers_work() -> bool:
    seen = []

    class Probe(Layer):
        def build(self, shape):
            seen.append(building_stack())

        def call(self, x):
            return x

    Probe()(keras.ops.zeros((1, 2)))
    return bool(seen) and any(isinstance(x, Probe) for x in seen[0])


def _maybe_build_works() -> bool:
    seen = []

    class Probe(Layer):
        def _maybe_build(self, call_spec):
            seen.append(call_spec.eager)
            return super()._maybe_build(call_spec)

        def call(self, x):
            return x

    Probe()(keras.Input((2,)))
    Probe()(keras.ops.zeros((1, 2)))
    params = list(inspect.signature(_ORIGINAL["maybe_build"]).parameters)
    return params == ["self", "call_spec"] and seen == [False, True]


_ORIGINAL = {
    "new": Layer.__dict__["__new__"],
    "add_weight": Layer.add_weight,
    "maybe_build": Layer._maybe_build,
    "functional_init": Functional.__init__,
    "load_model": saving_lib.load_model,
    "load_model_h5": legacy_h5_format.load_model_from_hdf5,
}
_lock = threading.Lock()
_installed = False

# True while a model is being loaded: policies do not apply to what is loaded.
_suspended: ContextVar[bool] = ContextVar("keras_initpolicy_suspended", default=False)
# True while a layer builds because a Functional graph is being constructed (called on
# KerasTensors, outside any symbolic trace): its graph completes before its weights are used.
_graph_build: ContextVar[bool] = ContextVar("keras_initpolicy_graph_build", default=False)


def installed() -> bool:
    return _installed


def building_stack() -> tuple:
    """Layers whose ``build`` or ``call`` is running in this thread, outermost first.

    Keras opens a name scope with ``caller=layer`` around both; its stack is the
    ``name_scope_stack`` global attribute (thread-local).
    """
    stack = global_state.get_global_attribute("name_scope_stack") or ()
    out = []
    for scope in stack:
        caller = getattr(scope, "caller", None)
        if isinstance(caller, Layer) and (not out or out[-1] is not caller):
            out.append(caller)
    return tuple(out)


def building_graph() -> bool:
    """Is the innermost layer build running for a Functional graph under construction (its
    ``__call__`` received KerasTensors outside a symbolic trace)? Such a layer computes nothing
    until its graph is complete; a layer built by an eager call or a trace computes at once."""
    return _graph_build.get()


class suspend_policies:
    """Context manager: no policy applies inside (used while loading saved models)."""

    def __enter__(self):
        self._token = _suspended.set(True)
        return self

    def __exit__(self, *exc):
        _suspended.reset(self._token)
        return False


def install(callbacks) -> None:
    """Install the hooks once. ``callbacks`` provides ``current`` (a ContextVar: the active
    scope's state, or None), ``awaiting`` (a container, non-empty while some placeholder waits
    to be drawn), ``on_new_layer(layer, cls, args, kwargs)`` (a layer is being constructed
    with these arguments), ``on_add_weight(layer, original, args, kwargs)``,
    ``on_functional(model)`` (a Functional graph was made),
    ``on_graph_call()`` (a layer is about to be called on KerasTensors while some placeholder
    waits), and ``on_eager_call(layer, first_arg)`` (a layer is about to be called on backend
    tensors).

    Once installed they stay (a model created in a scope may build later, outside it), so every
    layer of the process goes through them: outside every scope each patch costs a ContextVar
    read or two before Keras's own code."""
    global _installed
    with _lock:
        if _installed:
            return
        new_orig = _ORIGINAL["new"].__func__
        add_weight_orig = _ORIGINAL["add_weight"]
        functional_init = _ORIGINAL["functional_init"]
        load_model_orig = _ORIGINAL["load_model"]
        maybe_build_orig = _ORIGINAL["maybe_build"]
        current = callbacks.current
        awaiting = callbacks.awaiting

        def __new__(cls, *args, **kwargs):
            obj = new_orig(cls, *args, **kwargs)
            if current.get() is not None and not _suspended.get():
                callbacks.on_new_layer(obj, cls, args, kwargs)
            return obj

        @functools.wraps(add_weight_orig)
        def add_weight(self, *args, **kwargs):
            if (_STATE_ATTR not in self.__dict__ and current.get() is None) or _suspended.get():
                return add_weight_orig(self, *args, **kwargs)  # no policy has seen this layer
            return callbacks.on_add_weight(self, add_weight_orig, args, kwargs)

        @functools.wraps(maybe_build_orig)
        def _maybe_build(self, call_spec):
            eager = call_spec.eager
            if eager and awaiting and not _suspended.get():
                if not in_stateless_scope():  # a computation may follow, not a trace of one
                    callbacks.on_eager_call(self, call_spec.first_arg)
            if not eager and awaiting and not _suspended.get() and not in_symbolic_scope():
                callbacks.on_graph_call()  # a Functional graph grows: its earlier layers'
                # consumers are known (weights.decide_early)
            if self.built or current.get() is None:
                return maybe_build_orig(self, call_spec)
            token = _graph_build.set(not eager and not in_symbolic_scope())
            try:
                return maybe_build_orig(self, call_spec)
            finally:
                _graph_build.reset(token)

        @functools.wraps(functional_init)
        def __init__(self, *args, **kwargs):
            functional_init(self, *args, **kwargs)
            if not _suspended.get():
                callbacks.on_functional(self)

        def without_policies(loader):
            @functools.wraps(loader)
            def load(*args, **kwargs):
                with suspend_policies():
                    return loader(*args, **kwargs)

            return load

        Layer.__new__ = staticmethod(__new__)
        Layer.add_weight = add_weight
        Layer._maybe_build = _maybe_build
        Functional.__init__ = __init__
        saving_lib.load_model = without_policies(load_model_orig)
        legacy_h5_format.load_model_from_hdf5 = without_policies(_ORIGINAL["load_model_h5"])
        _installed = True


def uninstall() -> None:
    """Put Keras's own methods back (for measurements: ``benchmarks/bench_build.py`` builds its
    hand-written variant with plain Keras). Layers a scope saw stop following their policy until
    the next scope installs the hooks again."""
    global _installed
    with _lock:
        if not _installed:
            return
        Layer.__new__ = _ORIGINAL["new"]
        Layer.add_weight = _ORIGINAL["add_weight"]
        Layer._maybe_build = _ORIGINAL["maybe_build"]
        Functional.__init__ = _ORIGINAL["functional_init"]
        saving_lib.load_model = _ORIGINAL["load_model"]
        legacy_h5_format.load_model_from_hdf5 = _ORIGINAL["load_model_h5"]
        for name, original in _ROUTED.items():
            setattr(keras_backend.random, name, original)
        _ROUTED.clear()
        _installed = False


# -- random ops (runtime/draw.py) -------------------------------------------------------------------

#: backend random op name -> Keras's own function, for the ops routed through ``draw.py``
_ROUTED: dict = {}


def route_backend_random(name: str, replacement) -> None:
    """Make Keras's backend random op ``name`` (``normal``, ``uniform``, ``truncated_normal``:
    what ``keras.random`` calls) call ``replacement(original, *args, **kwargs)``. Once per name;
    ``replacement`` calls ``original`` for every draw that is not one of ours.
    :func:`uninstall` puts Keras's own back."""
    with _lock:
        if name in _ROUTED:
            return
        original = getattr(keras_backend.random, name)

        @functools.wraps(original)
        def routed(*args, **kwargs):
            return replacement(original, *args, **kwargs)

        setattr(keras_backend.random, name, routed)
        _ROUTED[name] = original


def backend_random_routed() -> bool:
    return bool(_ROUTED)


def torch_device():
    """The device Keras's torch backend makes new tensors on (``draw.py``'s own generator
    must draw there)."""
    from keras.src.backend.torch.core import get_device  # late: the torch backend only

    return get_device()


def keras_torch_generator(seed):
    """The ``torch.Generator`` Keras's torch backend draws from for ``seed`` (an int, a
    ``SeedGenerator``, or None for the global one, which it advances as one Keras draw
    would); None on the meta device, where Keras draws without one."""
    from keras.src.backend.torch.random import torch_seed_generator  # late: torch only

    return torch_seed_generator(seed)


def torch_storage(variable):
    """The tensor holding a torch-backend variable's value, to be written in place (no
    autograd), or None when there is none to write: not a torch variable, not yet
    initialized, on the meta device, or inside a stateless scope (where ``assign`` records an
    update instead of writing)."""
    from keras.src.backend.common.stateless_scope import in_stateless_scope

    value = getattr(variable, "_value", None)
    if value is None or in_stateless_scope() or str(value.device) == "meta":
        return None
    return value.data


# -- state kept on layers ----------------------------------------------------------------------
# The only place that stores anything on a Keras layer. ``object.__setattr__`` bypasses Keras's
# attribute tracking (and torch.nn.Module's), so nothing we store becomes part of the layer.

_STATE_ATTR = "_keras_initpolicy"


def layer_state(layer):
    """What the runtime attached to ``layer`` with :func:`attach_state`, or None."""
    return layer.__dict__.get(_STATE_ATTR)


def attach_state(layer, state) -> None:
    object.__setattr__(layer, _STATE_ATTR, state)


def set_initializer(layer, attr: str, initializer) -> None:
    """Make ``layer.<attr>`` (``kernel_initializer``...) name the initializer actually used, so
    the layer's config tells the truth."""
    object.__setattr__(layer, attr, initializer)


def constructed_value(layer, weight: str, initializer, shape, dtype):
    """The value ``layer``'s own build gives ``weight`` when its initializer attribute holds
    ``initializer``, for a weight that is already built (``Policy.apply``). A layer usually
    draws the weight from the attribute, and that is ``initializer(shape)``. Keras's LSTM and
    ConvLSTM cells with ``unit_forget_bias`` build their bias around it instead, as
    ``[initializer(n), ones(n), initializer(2n)]`` (``lstm.py`` and ``conv_lstm.py``, ``build``);
    a scope sees that function at ``add_weight`` and keeps it, and this keeps it here.
    ``tests/runtime/test_explicit.py`` checks both paths give the same value."""
    if weight == "bias" and getattr(layer, "unit_forget_bias", False):
        if isinstance(layer, _FORGET_GATE_CELLS):
            n = shape[0] // 4
            ones = keras.initializers.get("ones")
            return keras.ops.concatenate(
                [
                    initializer((n,), dtype=dtype),
                    ones((n,), dtype=dtype),
                    initializer((2 * n,), dtype=dtype),
                ]
            )
    return initializer(shape, dtype=dtype)


_FORGET_GATE_CELLS = (keras.layers.LSTMCell, ConvLSTMCell)


def initializer_attributes(layer):
    """``(name, value)`` of the layer's instance attributes that hold initializers."""
    return [(k, v) for k, v in vars(layer).items() if k.endswith("initializer")]


def consumers(layer) -> list:
    """Layers that consume ``layer``'s output in the graphs built so far."""
    out = []
    for node in getattr(layer, "_outbound_nodes", ()):
        op = getattr(node, "operation", None)
        if op is not None and op not in out:
            out.append(op)
    return out


def sublayers(layer) -> list:
    """Direct sublayers (not recursive)."""
    try:
        return list(layer._flatten_layers(include_self=False, recursive=False))
    except (AttributeError, TypeError):  # pragma: no cover - not a Layer
        return []


def own_weights(layer) -> list:
    """The variables created by ``layer`` itself (not by its sublayers)."""
    return list(getattr(layer, "_trainable_variables", [])) + list(
        getattr(layer, "_non_trainable_variables", [])
    )


def graph_operations(model) -> list:
    """The operations of a Functional/Sequential graph, in order (empty for subclassed models)."""
    ops = getattr(model, "_operations", None)
    if ops is None:
        inner = getattr(model, "_functional", None)
        ops = getattr(inner, "_operations", None) if inner is not None else None
    return list(ops or ())


# -- calibration (analysis/calibrate.py): pre-activation capture --------------------------------
#
# Relies on (Keras 3.15): ``Layer._flatten_layers``; ``Operation.__call__`` looking ``call`` up
# on the instance (``self.call``); Dense, EinsumDense and every convolution applying
# ``self.activation`` last in ``call``. Checked by the "calibration capture" entry below.


def nested_layers(model) -> list:
    """Every layer inside ``model`` (nested models and layers flattened, each once, in the order
    Keras tracks them); ``model`` itself excluded."""
    return list(model._flatten_layers(include_self=False, recursive=True))


class capture_preactivations:
    """Within the block, record the pre-activation output of every call of each layer in
    ``layers``; every layer's state is restored on exit, whatever happens inside.

    A layer with an ``activation`` attribute gets a recorder in its place that stores its input
    and returns ``activation(input)``, so the layer computes exactly what it did before. Every
    layer also gets an instance-level ``call`` that stores its output when no activation was
    recorded during that call (no ``activation`` attribute, or a custom layer that does not use
    it). ``outputs[id(layer)]`` is the list of recorded tensors, ``order`` the layers in the
    order they were first recorded.
    """

    def __init__(self, layers) -> None:
        self.layers = list(layers)
        self.outputs: dict[int, list] = {}
        self.order: list = []
        self._restore: list = []

    def _record(self, layer, value) -> None:
        key = id(layer)
        if key not in self.outputs:
            self.outputs[key] = []
            self.order.append(layer)
        self.outputs[key].append(value)

    def _wrap_activation(self, layer, activation):
        def recorder(x, *args, **kwargs):
            self._record(layer, x)
            return activation(x, *args, **kwargs)

        return recorder

    def _wrap_call(self, layer, call):
        @functools.wraps(call)
        def recorder(*args, **kwargs):
            seen = len(self.outputs.get(id(layer), ()))
            out = call(*args, **kwargs)
            if len(self.outputs.get(id(layer), ())) == seen:  # its activation did not record
                self._record(layer, out)
            return out

        return recorder

    def __enter__(self):
        try:
            for layer in self.layers:
                own = layer.__dict__
                activation = own.get("activation")
                if callable(activation):
                    # ``object.__setattr__``: a plain attribute swap, no Keras tracking involved.
                    object.__setattr__(
                        layer, "activation", self._wrap_activation(layer, activation)
                    )
                    self._restore.append((layer, "activation", activation))
                previous = own.get("call", _MISSING)
                object.__setattr__(layer, "call", self._wrap_call(layer, layer.call))
                self._restore.append((layer, "call", previous))
        except BaseException:
            self._undo()
            raise
        return self

    def _undo(self) -> None:
        while self._restore:
            layer, name, value = self._restore.pop()
            if value is _MISSING:
                object.__delattr__(layer, name)
            else:
                object.__setattr__(layer, name, value)

    def __exit__(self, *exc):
        self._undo()
        return False


_MISSING = object()


def _capture_works() -> bool:
    dense = keras.layers.Dense(2, activation="relu", kernel_initializer="ones")
    plain = keras.layers.Identity()
    x = keras.ops.convert_to_tensor([[-1.0, -2.0]])
    before = dense.__dict__["activation"]
    with capture_preactivations([dense, plain]) as cap:
        plain(dense(x))
    pre = keras.ops.convert_to_numpy(cap.outputs[id(dense)][0])
    return (
        float(pre.min()) == -3.0
        and len(cap.outputs[id(plain)]) == 1
        and dense.__dict__["activation"] is before
        and "call" not in plain.__dict__
        and "call" not in dense.__dict__
        and callable(getattr(Layer, "_flatten_layers", None))
    )


HOOKED_SURFACE["calibration capture (Layer.call, activation attribute)"] = _capture_works
