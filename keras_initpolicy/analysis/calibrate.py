"""``kip.calibrate``: data-dependent calibration of a built model's kernels (docs/lsuv.md).

LSUV (layer-sequential unit variance, Mishkin & Matas, "All you need is a good init", ICLR 2016):
layer by layer, in the order the forward pass reaches them, rescale each kernel until its layer's
**pre-activation** output has variance ``target`` (within ``tol``) on one batch of data.

- Which layers: every layer with a trainable kernel — Dense, Conv1D/2D/3D, their transposed and
  depthwise forms, EinsumDense (so MultiHeadAttention's projections), custom layers with a
  ``kernel`` weight — and SeparableConv, whose ``pointwise_kernel`` is the one scaled. Recurrent
  cells (a ``recurrent_kernel``) are left alone. Biases, normalization weights and non-trainable
  state are never written; the passes run with ``training=False``, so moving statistics and
  random layers (dropout, noise) do not move either.
- Pre-activation: during a pass each calibrated layer's ``activation`` is replaced by a recorder
  that stores its input and applies the real activation (``hooks.capture_preactivations``), so
  the model computes exactly what it did, and every layer's state is restored afterwards. A
  layer whose call runs no activation attribute is measured at its output.
- Cost: every pass is one forward pass of the whole model that records all calibrated layers at
  once; no sub-model is ever built. Each rescaling is followed by one pass, whose values also
  serve the next layers, so a run costs ``1 + sum(iterations)`` passes (one more with
  ``orthonormal=True``) — at most ``max_iter`` passes per layer. A layer with a zero bias is
  exactly linear in its kernel and converges after one rescaling.
- Orthonormal start: ``orthonormal=True`` first redraws every calibrated kernel from Keras's
  ``Orthogonal`` initializer (seeded by ``seed``: same seed, same kernels); otherwise the kernels
  the model has (for example from a policy's ``orthogonal`` rule) are the start.

>>> report = kip.calibrate(model, x_batch)        # doctest: +SKIP
>>> print(report)                                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import keras

from ..errors import CalibrationError
from ..html import html_table
from ..runtime import hooks
from ..spelling import close_matches

__all__ = ["calibrate", "CalibrationReport", "LayerCalibration", "CalibrationError", "METHODS"]

METHODS = ("lsuv",)
#: Weight names scaled, most specific first (a separable conv has both kinds of kernel).
_KERNEL_NAMES = ("pointwise_kernel", "kernel")


# -- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerCalibration:
    """One calibrated layer. Variances are of the layer's pre-activation output on the batch:
    ``variance_before`` on the model as given, ``variance_after`` once every layer is done.
    ``scale`` is the product of the factors applied to ``weight``; ``iterations`` the number of
    rescalings; ``note`` says why a layer could not be calibrated."""

    layer_path: str
    layer_class: str
    weight: str
    variance_before: float | None
    variance_after: float | None
    iterations: int
    scale: float
    converged: bool
    note: str | None = None


@dataclass(frozen=True)
class CalibrationReport:
    """What ``calibrate`` did, one row per calibrated layer in forward order."""

    method: str
    target: float
    tol: float
    max_iter: int
    orthonormal: bool
    seed: int | None
    forward_passes: int
    batch: int
    layers: tuple[LayerCalibration, ...]

    COLUMNS = ("#", "layer", "class", "weight", "var before", "var after", "iters", "scale", "ok")

    @property
    def converged(self) -> bool:
        """Every layer ended within ``tol`` of ``target``."""
        return all(row.converged for row in self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, layer_path: str) -> LayerCalibration:
        for row in self.layers:
            if row.layer_path == layer_path:
                return row
        raise KeyError(
            f"no calibrated layer {layer_path!r}; layers: "
            + ", ".join(row.layer_path for row in self.layers)
        )

    def _rows(self) -> list[tuple]:
        return [
            (
                i,
                r.layer_path,
                r.layer_class,
                r.weight,
                r.variance_before,
                r.variance_after,
                r.iterations,
                r.scale,
                "yes" if r.converged else f"no: {r.note}" if r.note else "no",
            )
            for i, r in enumerate(self.layers, start=1)
        ]

    def summary(self) -> str:
        done = sum(r.converged for r in self.layers)
        start = ", orthonormal start" if self.orthonormal else ""
        return (
            f"{self.method}: {done}/{len(self.layers)} layers at variance {self.target:g} "
            f"± {self.tol:g} on a batch of {self.batch}{start}; "
            f"{self.forward_passes} forward passes"
        )

    def to_table(self) -> str:
        rows = [self.COLUMNS] + [tuple(_text(v) for v in row) for row in self._rows()]
        widths = [max(len(row[c]) for row in rows) for c in range(len(self.COLUMNS))]
        lines = [self.summary()]
        lines += [
            "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "layers"}
        out["converged"] = self.converged
        out["layers"] = [asdict(r) for r in self.layers]
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def _repr_html_(self) -> str:
        return html_table(self.COLUMNS, self._rows(), caption=self.summary())

    def __str__(self) -> str:
        return self.to_table()


def _text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# -- inputs -------------------------------------------------------------------------------------


def _is_array(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _host(value):
    """A tf.data tensor becomes NumPy, so that every backend can take it."""
    if type(value).__module__.startswith("tensorflow") and hasattr(value, "numpy"):
        return value.numpy()
    return value


def _first_batch(data):
    """The inputs ``x`` of the first batch of ``data`` (see ``calibrate``)."""
    if data is None:
        raise CalibrationError(_data_help("received None"))
    if isinstance(data, (str, bytes)):
        raise CalibrationError(_data_help(f"received a {type(data).__name__}"))
    if _is_array(data) or isinstance(data, dict):
        x = data
    elif isinstance(data, (list, tuple)):
        if not data:
            raise CalibrationError(_data_help(f"received an empty {type(data).__name__}"))
        x = data
    elif isinstance(data, keras.utils.PyDataset):
        if len(data) == 0:
            raise CalibrationError(_data_help("received a PyDataset with no batches"))
        x = keras.utils.unpack_x_y_sample_weight(data[0])[0]
    elif hasattr(data, "__iter__") or hasattr(data, "__next__"):
        try:
            first = next(iter(data))
        except StopIteration:
            raise CalibrationError(
                _data_help(f"the {type(data).__name__} yielded no batch")
            ) from None
        x = keras.utils.unpack_x_y_sample_weight(first)[0]
    else:
        raise CalibrationError(_data_help(f"received a {type(data).__name__}"))
    x = keras.tree.map_structure(_host, x)
    leaves = keras.tree.flatten(x)
    if not leaves:
        raise CalibrationError(_data_help("the batch holds no array"))
    for leaf in leaves:
        if not _is_array(leaf) or len(leaf.shape) == 0:
            raise CalibrationError(
                _data_help(f"the batch holds a {type(leaf).__name__} without a batch axis")
            )
        if leaf.shape[0] == 0:
            raise CalibrationError(_data_help(f"the batch is empty (shape {tuple(leaf.shape)})"))
    return x, int(leaves[0].shape[0])


def _data_help(problem: str) -> str:
    return (
        f"calibrate needs a batch of inputs; {problem}. Pass an array, a tuple/list of arrays "
        "(one per model input), a dict of arrays, a tf.data.Dataset, a keras.utils.PyDataset, "
        "or an iterator/generator of batches (its first batch is used; `(x, y)` uses x)"
    )


# -- the model side -----------------------------------------------------------------------------


def _kernel_of(layer):
    """The weight LSUV scales for ``layer``, or None when the layer has none."""
    if isinstance(layer, keras.Model):
        return None
    owned = {}
    for var in hooks.own_weights(layer):
        owned.setdefault(var.name.split("/")[-1], var)
    if "recurrent_kernel" in owned:
        return None
    for name in _KERNEL_NAMES:
        var = owned.get(name)
        if var is not None and var.trainable and len(var.shape) >= 2:
            return var
    return None


def _path(layer) -> str:
    return getattr(layer, "path", None) or layer.name


def _variance(outputs) -> float:
    tensors = keras.tree.flatten(outputs)  # a custom layer may return several tensors
    flat = [keras.ops.reshape(keras.ops.cast(t, "float32"), (-1,)) for t in tensors]
    joined = flat[0] if len(flat) == 1 else keras.ops.concatenate(flat)
    return float(keras.ops.convert_to_numpy(keras.ops.var(joined)))


def _check_arguments(model, method, target, tol, max_iter, seed) -> None:
    if not isinstance(model, keras.layers.Layer):
        raise CalibrationError(f"calibrate needs a Keras model; received a {type(model).__name__}")
    if not model.built:
        raise CalibrationError(
            f"model {model.name!r} is not built, so its weights do not exist yet; build it "
            "first (call it on a batch, or model.build(input_shape)), then calibrate"
        )
    if method not in METHODS:
        close = close_matches(str(method), METHODS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise CalibrationError(
            f"unsupported calibration method {method!r}; supported: {', '.join(METHODS)}{hint}"
        )
    for name, value in (("target", target), ("tol", tol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CalibrationError(f"`{name}` must be a number; received {name}={value!r}")
        if not math.isfinite(value) or value <= 0:
            raise CalibrationError(f"`{name}` must be positive; received {name}={value!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise CalibrationError(
            f"`max_iter` must be an integer >= 1; received max_iter={max_iter!r}"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise CalibrationError(f"`seed` must be an integer or None; received seed={seed!r}")


class _Passes:
    """Runs the model once per call, recording every calibrated layer's pre-activation."""

    def __init__(self, model, x, layers) -> None:
        self.model, self.x, self.layers = model, x, layers
        self.count = 0

    def __call__(self) -> hooks.capture_preactivations:
        with hooks.capture_preactivations(self.layers) as capture:
            try:
                self.model(self.x, training=False)
            except Exception as exc:  # the user's data does not fit the user's model
                shapes = keras.tree.map_structure(lambda a: tuple(a.shape), self.x)
                raise CalibrationError(
                    f"calling model {self.model.name!r} on the calibration batch failed "
                    f"(batch shapes: {shapes}): {type(exc).__name__}: {exc}"
                ) from exc
        self.count += 1
        return capture


def _orthonormal_start(kernels, seed) -> None:
    generator = keras.random.SeedGenerator(seed)
    for var in kernels:
        init = keras.initializers.Orthogonal(seed=generator)
        var.assign(init(tuple(var.shape), dtype=var.dtype))


def calibrate(
    model,
    data,
    method: str = "lsuv",
    target: float = 1.0,
    tol: float = 0.1,
    max_iter: int = 10,
    seed: int | None = None,
    *,
    orthonormal: bool = False,
) -> CalibrationReport:
    """Rescale ``model``'s kernels in place so that each layer's pre-activation output variance
    on ``data`` is ``target`` within ``tol`` (see the module docstring); returns the report.

    ``data``: an array, a tuple/list of arrays (one per model input), a dict, a
    ``tf.data.Dataset``, a ``keras.utils.PyDataset`` or an iterator/generator of batches (the
    first batch is used; ``(x, y)`` and ``(x, y, sample_weight)`` batches use ``x``).
    ``max_iter`` bounds the rescalings of one layer. ``seed`` seeds the orthonormal start
    (``orthonormal=True``); LSUV itself draws nothing.
    """
    _check_arguments(model, method, target, tol, max_iter, seed)
    x, batch = _first_batch(data)
    kernels = {}
    for layer in hooks.nested_layers(model):
        var = _kernel_of(layer)
        if var is not None:
            kernels[layer] = var
    if not kernels:
        raise CalibrationError(
            f"model {model.name!r} has no layer with a trainable kernel to calibrate "
            "(Dense, convolutions, EinsumDense)"
        )
    passes = _Passes(model, x, list(kernels))
    capture = passes()
    before = {id(lyr): _variance(out) for lyr, out in _outputs(capture)}
    # Forward order; kernel layers the pass never reached keep their tracking order, last.
    order = list(capture.order) + [lyr for lyr in kernels if id(lyr) not in capture.outputs]
    if orthonormal:
        _orthonormal_start([kernels[lyr] for lyr in order], seed)
        capture = passes()
    iterations, scales, notes = {}, {}, {}
    for layer in order:
        key, var = id(layer), kernels[layer]
        iterations[key], scales[key] = 0, 1.0
        if key not in capture.outputs:
            notes[key] = "not called by the forward pass"
            continue
        value = _variance(capture.outputs[key])
        # ``not <=``: a NaN variance is outside the band, enters the loop and gets its note.
        while not abs(value - target) <= tol and iterations[key] < max_iter:
            if not math.isfinite(value) or value <= 0:
                notes[key] = f"variance {value:g} cannot be rescaled"
                break
            factor = math.sqrt(target / value)
            var.assign(keras.ops.multiply(var.value, keras.ops.cast(factor, var.dtype)))
            scales[key] *= factor
            iterations[key] += 1
            capture = passes()
            value = _variance(capture.outputs[key])
    after = {id(lyr): _variance(out) for lyr, out in _outputs(capture)}
    rows = []
    for layer in order:
        key = id(layer)
        value = after.get(key)
        converged = value is not None and abs(value - target) <= tol
        note = notes.get(key)
        if not converged and note is None and value is not None:
            note = (
                f"max_iter={max_iter} reached"
                if iterations[key] >= max_iter
                else "moved after its calibration (a later layer feeds it)"
            )
        rows.append(
            LayerCalibration(
                layer_path=_path(layer),
                layer_class=type(layer).__name__,
                weight=kernels[layer].name.split("/")[-1],
                variance_before=before.get(key),
                variance_after=value,
                iterations=iterations[key],
                scale=scales[key],
                converged=converged,
                note=note,
            )
        )
    return CalibrationReport(
        method=method,
        target=float(target),
        tol=float(tol),
        max_iter=max_iter,
        orthonormal=bool(orthonormal),
        seed=seed,
        forward_passes=passes.count,
        batch=batch,
        layers=tuple(rows),
    )


def _outputs(capture):
    return [(lyr, capture.outputs[id(lyr)]) for lyr in capture.order]
