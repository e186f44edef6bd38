"""``kip.audit(model)``: what is wrong with a built model's initial weights (IP401–IP405).

The command and its codes: docs/audit.md, docs/diagnostics.md.

Every finding comes from what the model holds now — the weights' values, the layers' initializer
configs and the graph — never from provenance records, so a model built before this package was
imported, or loaded from a ``.keras`` file, is audited the same way.

- IP401: random weights whose leading values coincide up to one scale factor drew one stream.
- IP402: a ``VarianceScaling`` initializer (He, Glorot, LeCun, ...) on a layer whose true fans
  (``catalog.fans.layer_fans``: depthwise, grouped, transposed, einsum) differ from the fans
  Keras computed from the kernel's shape, so the variance is off by the ratio of the two; the
  measured variance must confirm it.
- IP403: a kernel-like weight whose values are all equal.
- IP404: chains (``chains.py``) of ≥ 4 weighted layers with nothing but activations, dropout,
  reshaping or pooling between them; each layer's gain is its measured variance over the
  variance of the family for its effective activation; a chain whose gains multiply to ≥ 10 or
  ≤ 1/10 reports the layers that push it that way.
- IP405: a bias with values that differ (drawn at random).

Keras internals are reached through ``hooks`` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import keras
import numpy as np

from ..catalog.fans import layer_fans, shape_fans
from ..checks.diagnostics import CODES, SEVERITY_RANK, Diagnostics, Finding
from ..policy import as_policy
from ..resolve import is_kernel_like
from ..runtime import hooks
from ..runtime.activation import class_names
from ..runtime.compile import fan_denominator
from .chains import chain_findings, fan_config

__all__ = ["audit", "Findings", "WeightValues", "initializer_of", "model_weights"]

#: relative variance error IP402 needs before it speaks (1.5x, docs/diagnostics.md, IP402)
IP402_FACTOR = 1.5
#: leading values compared by IP401
_LEADING = 16
#: scales a ``VarianceScaling`` is written with; one equal to such a scale times the fan ratio
#: was written by a fan correction (a policy's ``fans=layer`` or by hand), not by mistake
_STANDARD_SCALES = (1.0, 2.0, 16.0) + tuple(2.0 / (1.0 + a * a) for a in (0.01, 0.1, 0.2, 0.3))
_DEPTHWISE = {"BaseDepthwiseConv", "DepthwiseConv1D", "DepthwiseConv2D"}
_NAMED_ATTR = {
    "kernel": "kernel_initializer",
    "bias": "bias_initializer",
    "recurrent_kernel": "recurrent_initializer",
    "embeddings": "embeddings_initializer",
    "depthwise_kernel": "depthwise_initializer",
    "pointwise_kernel": "pointwise_initializer",
}


@dataclass
class WeightValues:
    """One weight of the audited model, with its values as a flat array (its own float dtype)."""

    layer: object
    layer_path: str
    name: str
    shape: tuple[int, ...]
    trainable: bool
    flat: np.ndarray = field(repr=False)
    ordinal: int = 0
    _moment: float | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return f"{self.layer_path}/{self.name}"

    @property
    def kernel_like(self) -> bool:
        """Trainable, rank >= 2, not ``recurrent_kernel`` (nor a rank-2 ``bias``).

        docs/reference.md#weight-parts-and-kernel-like-weights."""
        return self.trainable and is_kernel_like(self.name, self.shape)

    @property
    def constant(self) -> bool:
        return self.flat.size > 0 and bool(np.all(self.flat == self.flat[0]))

    def second_moment(self) -> float:
        """Mean of the squared values (the variance of a zero-mean initializer)."""
        if self._moment is None:
            flat = self.flat
            self._moment = float(np.dot(flat, flat)) / flat.size if flat.size else 0.0
        return self._moment


class Findings(Diagnostics):
    """The list ``kip.audit`` returns: ``Finding`` records in model order (a table in notebooks)."""

    def at_least(self, severity: str) -> Findings:
        """The findings of ``severity`` or worse."""
        rank = SEVERITY_RANK[severity]
        return Findings(f for f in self if SEVERITY_RANK[f.severity] >= rank)

    def codes(self) -> set[str]:
        return {f.code for f in self}


def _layer_path(layer) -> str:
    return getattr(layer, "path", None) or layer.name


def model_weights(model) -> list[WeightValues]:
    """Every variable of ``model`` once, with its owning layer, in the order Keras tracks them."""
    out: list[WeightValues] = []
    seen: set[int] = set()
    layers = [model, *hooks.nested_layers(model)]
    for layer in layers:
        for var in hooks.own_weights(layer):
            if id(var) in seen:
                continue
            seen.add(id(var))
            values = np.asarray(keras.ops.convert_to_numpy(var)).reshape(-1)
            if not np.issubdtype(values.dtype, np.floating) or values.dtype.itemsize < 4:
                values = values.astype(np.float32)  # integers, bfloat16, float16
            out.append(
                WeightValues(
                    layer=layer,
                    layer_path=_layer_path(layer),
                    name=var.name.split("/")[-1],
                    shape=tuple(int(d) for d in var.shape),
                    trainable=bool(var.trainable),
                    flat=values,
                    ordinal=len(out),
                )
            )
    return out


def initializer_of(layer, weight: str):
    """The initializer object ``layer`` keeps for ``weight`` (``kernel_initializer``...), or None."""
    names = [_NAMED_ATTR.get(weight), f"{weight}_initializer"]
    if weight == "kernel" and _DEPTHWISE & set(class_names(layer)):
        names.insert(0, "depthwise_initializer")  # Keras 3 names the depthwise weight `kernel`
    for name in names:
        value = getattr(layer, name, None) if name else None
        if isinstance(value, keras.initializers.Initializer):
            return value
    return None


# -- IP401 -------------------------------------------------------------------------------------


def _stream_key(w: WeightValues):
    """``(bucket, leading values up to a common scale)``, or None when the weight is not random.

    Two weights that drew one stream have leading values equal up to a positive scale, but only
    up to float rounding once divided by their largest: they are bucketed by what that rounding
    cannot change (count, signs, position of the largest) and compared within a tolerance, never
    hashed as rounded values (a value near a rounding boundary would split them)."""
    if not w.trainable or w.flat.size < 4:
        return None
    lead = w.flat[:_LEADING].astype(np.float64)
    peak_at = int(np.argmax(np.abs(lead)))
    peak = abs(float(lead[peak_at]))
    if peak == 0.0 or len(np.unique(lead)) < min(4, lead.size):
        return None
    return (lead.size, peak_at, tuple(np.signbit(lead).tolist())), lead / peak


#: relative agreement of two weights' scaled leading values that counts as one stream: float32
#: rounding leaves about 1e-7; independent draws never agree on 16 values this closely
_SAME_STREAM_RTOL = 1e-4


def _shared_streams(weights, source) -> list[Finding]:
    buckets: dict[tuple, list] = {}
    for w in weights:
        found = _stream_key(w)
        if found is not None:
            buckets.setdefault(found[0], []).append((w, found[1]))
    groups: list[list[WeightValues]] = []
    for members in buckets.values():
        clusters: list[list] = []
        for w, values in members:
            for cluster in clusters:
                if np.allclose(cluster[0][1], values, rtol=_SAME_STREAM_RTOL, atol=0.0):
                    cluster.append((w, values))
                    break
            else:
                clusters.append([(w, values)])
        groups.extend([w for w, _ in cluster] for cluster in clusters)
    found = []
    for members in groups:
        if len(members) < 2:
            continue
        for w in members:
            others = [o.path for o in members if o is not w]
            shown = ", ".join(others[:3]) + (
                f" and {len(others) - 3} more" if len(others) > 3 else ""
            )
            found.append(
                Finding.about(
                    "IP401",
                    source,
                    w.layer_path,
                    w.name,
                    f"{w.path}: its first {min(_LEADING, w.flat.size)} values repeat those of "
                    f"{shown} (up to scale): the weights drew one random stream, so their units "
                    "start as copies of each other; give each weight its own seed (@seed)",
                )
            )
    return found


# -- IP402 -------------------------------------------------------------------------------------


def _keras_fans(init, layer, shape, true_fans) -> tuple[int, int]:
    """The fans Keras's ``VarianceScaling`` used: from its ``input_axes``/``output_axes`` when
    set (Keras 3.15 fills them in for ``EinsumDense`` at build), else from the shape."""
    in_axes, out_axes = getattr(init, "input_axes", None), getattr(init, "output_axes", None)
    if in_axes is not None and out_axes is not None:
        return math.prod(shape[a] for a in in_axes), math.prod(shape[a] for a in out_axes)
    if hasattr(init, "input_axes") and "EinsumDense" in class_names(layer):
        return true_fans  # the layer passed its equation's axes to a copy of `init`
    return shape_fans(shape)


def _is_standard(scale: float) -> bool:
    return any(math.isclose(scale, s, rel_tol=1e-6) for s in _STANDARD_SCALES)


def _fan_kind(layer, weight: str) -> str:
    names = set(class_names(layer))
    config = fan_config(layer)
    if weight == "depthwise_kernel" or names & _DEPTHWISE:
        return "depthwise"
    if "EinsumDense" in names:
        return f"einsum ({config.get('equation')})"
    if any(n.endswith("Transpose") for n in names):
        return "transposed"
    if isinstance(config.get("groups"), int) and config["groups"] > 1:
        return f"grouped (groups={config['groups']})"
    return "layer"


def _factor_text(factor: float) -> str:
    return f"{factor:.3g}x" if factor >= 1 else f"1/{1 / factor:.3g}"


def _initializer_text(init) -> str:
    name = type(init).__name__
    if name == "VarianceScaling":
        return f"VarianceScaling(scale={init.scale:g}, mode={init.mode}, {init.distribution})"
    return name


def _wrong_fans(w: WeightValues, source: str, decided: set) -> Finding | None:
    if not w.kernel_like or (w.layer_path, w.name) in decided:
        return None
    init = initializer_of(w.layer, w.name)
    if not isinstance(init, keras.initializers.VarianceScaling):
        return None
    fan_in, fan_out = layer_fans(class_names(w.layer), fan_config(w.layer), w.name, w.shape)
    keras_in, keras_out = _keras_fans(init, w.layer, w.shape, (fan_in, fan_out))
    ratio = fan_denominator(init.mode, keras_in, keras_out) / fan_denominator(
        init.mode, fan_in, fan_out
    )  # intended variance / Keras's variance
    if max(ratio, 1 / ratio) < IP402_FACTOR:
        return None
    scale = float(init.scale)
    if _is_standard(scale / ratio) and not _is_standard(scale):
        return None  # already corrected for the true fans
    intended = scale / fan_denominator(init.mode, fan_in, fan_out)
    measured = w.second_moment()
    if measured <= 0 or max(intended / measured, measured / intended) < IP402_FACTOR:
        return None  # the values are not what the initializer drew (loaded, changed)
    return Finding.about(
        "IP402",
        source,
        w.layer_path,
        w.name,
        f"{w.path}: variance {measured:.3g} is {_factor_text(1 / ratio)} of what "
        f"{_initializer_text(init)} intends ({intended:.3g}): Keras counted fan_in/fan_out "
        f"{keras_in:g}/{keras_out:g} from the kernel's shape, but this {_fan_kind(w.layer, w.name)} "
        f"layer's true fans are {fan_in:g}/{fan_out:g}",
    )


# -- IP403 / IP405 -----------------------------------------------------------------------------


def _symmetric(w: WeightValues, source: str) -> Finding | None:
    if not w.kernel_like or w.flat.size < 2 or not w.constant:
        return None
    return Finding.about(
        "IP403",
        source,
        w.layer_path,
        w.name,
        f"{w.path}: all {w.flat.size} values equal {w.flat[0]:g}: every unit computes the same "
        "function and receives the same gradient, so the units never become different",
    )


def _random_bias(w: WeightValues, source: str) -> Finding | None:
    if not w.trainable or not w.name.endswith("bias") or w.flat.size < 2:
        return None
    lead = w.flat[:64]
    if len(np.unique(lead)) < max(3, lead.size // 2):
        return None  # constant, or a few set values (LSTM's unit forget bias): not drawn
    return Finding.about(
        "IP405",
        source,
        w.layer_path,
        w.name,
        f"{w.path}: the bias is drawn at random (standard deviation {np.std(w.flat):.3g}); "
        "biases usually start at zero, since the kernels already break the symmetry",
    )


# -- entry point -------------------------------------------------------------------------------


def _rule_decided(policy, model) -> set:
    """(layer_path, weight) pairs a rule of ``policy`` decided: their fans are the rule's."""
    if policy is None:
        return set()
    return {(a.layer_path, a.weight) for a in policy.explain(model) if a.reason == "rule"}


def audit(model, policy=None, *, source: str | None = None) -> Findings:
    """Report what is wrong with ``model``'s initial weights (codes IP401–IP405, docs/audit.md).

    ``policy`` is the policy the model was built under, if any (a ``Policy`` or the path of its
    file, ``str`` or ``os.PathLike``): weights one of its rules decided already use the layer's
    true fans and are not reported by IP402. ``source`` names the model in the findings
    (default: ``model.name``). Returns ``Findings`` (a list of ``Finding``), sorted by the order
    of the weights in the model, then by code.
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            f"kip.audit expects a built Keras model or layer; received {type(model).__name__}. "
            "Build the model first (call it on data, or give it an Input)."
        )
    if not getattr(model, "built", True) or not model.weights:
        raise ValueError(
            f"kip.audit: model {model.name!r} has no weights yet; build it first "
            "(e.g. model.build(input_shape) or call it on a batch)."
        )
    if policy is not None:
        policy = as_policy(policy, caller="kip.audit")
    label = source or model.name
    weights = model_weights(model)
    decided = _rule_decided(policy, model)
    order = {(w.layer_path, w.name): w.ordinal for w in weights}
    found: list[Finding] = _shared_streams(weights, label)
    for w in weights:
        for check in (_symmetric, _random_bias):
            finding = check(w, label)
            if finding is not None:
                found.append(finding)
        finding = _wrong_fans(w, label, decided)
        if finding is not None:
            found.append(finding)
    found.extend(chain_findings(model, {(w.layer_path, w.name): w for w in weights}, label))
    codes = list(CODES)
    found.sort(key=lambda f: (order.get((f.layer_path, f.weight), 0), codes.index(f.code)))
    return Findings(found)
