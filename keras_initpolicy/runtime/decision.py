"""One weight's decision under a policy: facts about its layer, the winning rule, fans, seed,
and the compiled Keras initializer. Used at build time (``scope.py``) and by ``explain``.

Nothing here changes Keras state; Keras is imported only to read layer attributes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import keras

from ..catalog.fans import fan_attributes, layer_fans, shape_fans
from ..errors import PolicyError
from ..resolve import LayerFacts, Match, Resolver, is_kernel_like, reads_activation
from . import hooks
from .activation import ActivationInfo, class_names, own_activation
from .compile import WeightContext, formula_arguments, recipe, rule_seed
from .seeding import derive_seed
from .structure import block_variables

if TYPE_CHECKING:  # annotations only: policy.py reaches this module through its facade
    from ..policy import Policy

__all__ = [
    "Decision",
    "WeightRequest",
    "decide",
    "compile_decision",
    "facts_for",
    "resolver_for",
]


@dataclass(slots=True)
class Decision:
    """What the policy decided for one weight."""

    initializer: object  # a keras Initializer (or whatever the layer passed, when not ours)
    reason: str  # "rule" | "explicit" | "keras-default"
    match: Match | None
    activation: ActivationInfo
    fan_in: float
    fan_out: float
    depends_on_graph: bool = False
    #: dtype -> compiled recipe, shared by the weights whose layers look the same to the policy
    #: (one memo entry): they compile alike but for the seed. None: compile from scratch.
    recipes: dict | None = None


@functools.lru_cache(maxsize=32)
def resolver_for(policy: Policy) -> Resolver:
    return Resolver(policy.rules)


# -- facts about layers ------------------------------------------------------------------------


class _LayerAttrs:
    """Attributes a predicate may read, as a read-only mapping computed on demand
    (``get_config`` only if needed)."""

    __slots__ = ("_layer", "_activation", "_config")

    def __init__(self, layer, activation: ActivationInfo) -> None:
        self._layer = layer
        self._activation = activation
        self._config = None

    def __bool__(self) -> bool:
        return True

    def __contains__(self, key) -> bool:
        return self._lookup(key) is not _ABSENT

    def get(self, key, default=None):
        value = self._lookup(key)
        return default if value is _ABSENT else value

    def __getitem__(self, key):
        value = self._lookup(key)
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def _lookup(self, key):
        if key == "activation":
            return self._activation.name
        if key == "name":
            return self._layer.name
        if key == "path":
            return getattr(self._layer, "path", None) or self._layer.name
        value = getattr(self._layer, key, _ABSENT)
        if value is _ABSENT or not _is_plain(value):
            if self._config is None:
                try:
                    self._config = self._layer.get_config()
                except Exception:  # noqa: BLE001 - a user layer's get_config may fail mid-build
                    self._config = {}
            value = self._config.get(key, _ABSENT)
            if value is not _ABSENT and not _is_plain(value):
                return _ABSENT
        return value


_ABSENT = object()


class _Attributes:
    """``layer.<key>`` as a read-only mapping (fans read ``groups``, ``equation``...)."""

    __slots__ = ("_layer",)

    def __init__(self, layer) -> None:
        self._layer = layer

    def __bool__(self) -> bool:
        return True

    def get(self, key, default=None):
        return plain_attribute(self._layer, key, default)

    def __getitem__(self, key):
        value = self.get(key, _ABSENT)
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def __contains__(self, key) -> bool:
        return self.get(key, _ABSENT) is not _ABSENT


def plain_attribute(layer, key, default=None):
    """``layer.<key>`` when it is a plain value (numbers, strings, tuples of them), else
    ``default``; what the fans read (``_Attributes``) and the decision memo keys on."""
    value = getattr(layer, key, default)
    return value if _is_plain(value) else default


def _is_plain(value) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(v) for v in value)
    return False


def facts_for(layer, activation: ActivationInfo) -> LayerFacts:
    return LayerFacts(class_names(layer), _LayerAttrs(layer, activation))


def enclosing_layers(layer) -> tuple:
    """Enclosing non-model layers whose build is running, innermost first."""
    stack = hooks.building_stack()
    if not stack or (len(stack) == 1 and stack[0] is layer):
        return ()  # the common case: a layer of a Functional graph building itself
    return tuple(
        lyr for lyr in reversed(stack) if lyr is not layer and not isinstance(lyr, keras.Model)
    )


# -- the decision ------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class WeightRequest:
    """Everything a decision needs to know about one weight, captured when Keras creates it.

    Decisions are made from a request (never from positional arguments replayed later), so a
    weight decided provisionally and re-decided when its graph completes or its scope ends is
    decided from exactly the facts it was created with. Keyword-only, and never changed once
    made (not ``frozen``: one is made per weight, and a frozen dataclass costs nearly three
    times as much to make).
    """

    layer: object
    chain: tuple  # enclosing non-model layers whose build was running, innermost first
    weight: str
    shape: tuple[int, ...]
    dtype: object
    trainable: bool
    original: object  # the initializer the layer was given for the weight
    attr: str | None  # the layer attribute that holds ``original`` (``kernel_initializer``...)
    explicit: bool  # the code chose ``attr``'s initializer (``explicit.py``)
    ordinal: int  # the order of the layer's first weight in its scope: part of derived seeds
    occurrence: int = 0  # the n-th weight of this name on this layer
    #: The function of ``attr`` the layer draws the weight through (LSTM's ``unit_forget_bias``
    #: bias), or None when it draws ``original`` itself. With one, ``original`` is the
    #: attribute's initializer: a rule or a new seed replaces the attribute, and the weight is
    #: still drawn through this function.
    construction: object = None

    @property
    def key(self) -> str:
        return self.weight if self.occurrence == 0 else f"{self.weight}#{self.occurrence}"

    @property
    def kernel_like(self) -> bool:
        return is_kernel_like(self.weight, self.shape)


def decide(
    policy: Policy,
    resolver: Resolver,
    request: WeightRequest,
    activation: ActivationInfo,
    *,
    compile: bool = True,
    blocks: Mapping[str, int] | None = None,
    memo: dict | None = None,
) -> Decision:
    """Decide one weight's initializer under ``policy`` (pure with respect to Keras state).

    With ``compile=False`` a rule decision carries no initializer yet (``initializer=None``):
    used for weights whose rule may still change once their graph is known. ``blocks`` counts
    the model's ``@blocks`` blocks per stack (``structure.count_blocks``), for formulas.
    ``memo`` (a dict the caller keeps, one per scope) remembers the winning rule and fans of
    weights whose layers look the same to the policy, so a model's 24 identical blocks are
    resolved once.
    """
    shape = request.shape
    unmatched = "explicit" if request.explicit else "keras-default"  # what stays, and why
    if not request.trainable:
        return Decision(request.original, unmatched, None, activation, *shape_fans(shape))
    key = _memo_key(resolver, request, activation) if memo is not None else None
    found = memo.get(key) if key is not None else None
    if found is None:
        found = (*_match_and_fans(resolver, request, activation), {} if key is not None else None)
        if key is not None:
            memo[key] = found
    match, fan_in, fan_out, graph_dep, recipes = found
    if match is None:
        return Decision(request.original, unmatched, None, activation, fan_in, fan_out)
    if request.explicit and policy.explicit == "keep":
        return Decision(request.original, "explicit", match, activation, fan_in, fan_out, graph_dep)
    decision = Decision(None, "rule", match, activation, fan_in, fan_out, graph_dep, recipes)
    if not compile:
        return decision
    return compile_decision(policy, decision, request, blocks)


def _match_and_fans(resolver: Resolver, request: WeightRequest, activation: ActivationInfo):
    """``(winning rule or None, fan_in, fan_out, its initializer reads the activation)``:
    layer-aware fans when a rule matched."""
    layer, shape = request.layer, request.shape
    layer_facts = [facts_for(layer, activation)]
    for outer in request.chain:
        layer_facts.append(facts_for(outer, own_activation(outer) or _LINEAR_OWN))
    match = resolver.resolve(layer_facts, request.weight, request.kernel_like)
    if match is None:
        return None, *shape_fans(shape), False
    try:
        fans = layer_fans(
            class_names(layer),
            _Attributes(layer),
            request.weight,
            shape,
            _fans_mode(match.rule.init),
        )
    except Exception:  # noqa: BLE001 - fall back to Keras's own rule on odd shapes
        fans = shape_fans(shape)
    return match, *fans, reads_activation(match.rule.init)


_LINEAR_OWN = ActivationInfo("linear", None, "own")
#: Attributes no two layers share: a policy whose predicates read them decides without the memo.
_IDENTITY_ATTRIBUTES = frozenset({"name", "path"})


def _memo_key(resolver: Resolver, request: WeightRequest, activation: ActivationInfo):
    """Everything ``_match_and_fans`` reads, or None when some of it is not hashable: the
    layer classes, the attributes the rules' predicates read, the attributes the fans read
    (``fan_attributes``: ``groups`` of a conv kernel, ``equation`` of an EinsumDense's)."""
    layer = request.layer
    names = _predicate_attributes(resolver)
    if names is None:
        return None  # keyed on each layer's name or path: every key would be new
    cls = type(layer)
    key = [request.weight, request.shape, cls, activation.name, activation.negative_slope]
    for name in fan_attributes(class_names(layer), request.weight):
        try:
            key.append(plain_attribute(layer, name))
        except Exception:  # noqa: BLE001 - a user layer's property may fail mid-build: no memo
            return None
    if names:
        facts = _LayerAttrs(layer, activation)
        key.extend(facts.get(a) for a in names)
    for outer in request.chain:
        own = own_activation(outer) or _LINEAR_OWN
        key.append(type(outer))
        key.append(own.name)
        if names:
            facts = _LayerAttrs(outer, own)
            key.extend(facts.get(a) for a in names)
    key = tuple(key)
    try:
        hash(key)
    except TypeError:  # a list-valued attribute: decide without the memo
        return None
    return key


@functools.lru_cache(maxsize=32)
def _predicate_attributes(resolver: Resolver) -> tuple[str, ...] | None:
    """The attributes the memo key reads besides the activation (already part of it), or None
    when a predicate reads a layer's name or path."""
    names = resolver.attributes
    if not _IDENTITY_ATTRIBUTES.isdisjoint(names):
        return None
    return tuple(a for a in names if a != "activation")


@functools.lru_cache(maxsize=4096)  # read for every matched weight
def _fans_mode(init) -> str:
    return str(init.keywords.get("fans", "layer"))


def compile_decision(
    policy: Policy,
    decision: Decision,
    request: WeightRequest,
    blocks: Mapping[str, int] | None = None,
) -> Decision:
    """Turn a matched, not yet compiled rule decision into a Keras initializer (formulas read
    the layer's ``depth`` and, from ``blocks``, its stack's number of blocks)."""
    match = decision.match
    init = match.rule.init
    formulas = bool(init.args) and bool(formula_arguments(init))
    # Formulas may read the layer's depth and blocks, which the memo does not key on.
    shared = decision.recipes if not formulas else None
    try:
        found = shared.get(request.dtype) if shared is not None else None
        if found is None:
            found = recipe(init, _context(policy, decision, request, blocks, formulas))
            if shared is not None:
                shared[request.dtype] = found
        seed = (
            derive_seed(
                policy.seed, rule_seed(init), request.ordinal, request.weight, request.occurrence
            )
            if found.seeded
            else None
        )
        decision.initializer = found.make(seed)
    except PolicyError as exc:
        raise build_error(request, match, exc.message) from None
    except (ValueError, TypeError) as exc:
        raise build_error(request, match, str(exc)) from None
    return decision


def _context(policy, decision: Decision, request: WeightRequest, blocks, formulas: bool):
    shape = request.shape
    activation = decision.activation
    shape_fan_in, shape_fan_out = shape_fans(shape)
    return WeightContext(
        shape=shape,
        dtype=request.dtype,
        fan_in=decision.fan_in,
        fan_out=decision.fan_out,
        shape_fan_in=shape_fan_in,
        shape_fan_out=shape_fan_out,
        activation=activation.name,
        negative_slope=activation.negative_slope,
        seed=None,  # derived by the caller, only for an initializer that draws from one
        variables=block_variables(policy, request.layer, blocks) if formulas else {},
    )


def build_error(request: WeightRequest, match: Match, why: str) -> PolicyError:
    layer = request.layer
    path = getattr(layer, "path", None) or layer.name
    rule = match.rule
    return PolicyError(
        f"rule `{rule.text}` ({rule.source}:{rule.line}) cannot initialize weight "
        f"`{request.weight}` of layer `{path}` ({type(layer).__name__}) with shape "
        f"{tuple(request.shape)}: {why}",
        source=rule.source,
        line=rule.line,
        column=rule.column,
        code="IP108",
    )
