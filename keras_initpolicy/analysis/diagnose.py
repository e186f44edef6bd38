"""``diagnose``: what a policy does to a network at initialization, layer by layer.

The model is built under the policy (and under a comparison: another policy, or ``"keras"`` =
Keras's own defaults, i.e. built outside any policy scope), then one forward and one backward pass
run on one batch. For every weighted layer, in model order, the report gives:

- ``activation_mean``, ``activation_std``: over all elements of the layer's **output after its
  effective activation**: the layer's own output when it applies a nonlinearity itself; otherwise
  the output of the first activation layer (``Activation``, ``ReLU``, ``LeakyReLU``, ...) reached
  through normalization/dropout/reshaping layers (``Conv2D -> BatchNormalization -> ReLU`` reports
  the ReLU's output); otherwise the layer's own (linear) output.
- ``saturated_fraction`` (tanh: ``|a| > 0.99``; sigmoid: ``a < 0.01`` or ``a > 0.99``; fraction
  of all elements) or ``dead_fraction`` (ReLU family: fraction of units, i.e. output positions,
  that are exactly 0 for every sample of the batch); ``None`` where it does not apply.
- ``gradient_std``: the std of the gradient of the loss w.r.t. the layer's kernel.

The loss is ``mean(y ** 2)`` summed over the model's outputs: a label-free scalar whose gradient
is the output itself, so gradient magnitudes reflect only how the signal propagates. The pass
runs in inference mode (dropout off, normalization with its initial moving statistics). Inputs
are N(0, 1) of the model's input shape (integer inputs: 0/1) unless given. Activation statistics
need a Sequential or Functional model; for a subclassed model only gradients are reported.

``calibrate="lsuv"`` adds a run named ``POLICY+lsuv``: the policy's model rebuilt with the same
seed, calibrated by ``kip.calibrate`` on the same batch, then measured like the others; the
calibration's own report is kept in ``DiagnoseReport.calibration``.

>>> report = diagnose("policy.initpolicy", build_model, compare="keras")  # doctest: +SKIP
>>> print(report.to_table())                                              # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from ..errors import CalibrationError, PlotUnavailableError
from ..html import html_table
from ..policy import as_policy
from ..runtime import hooks
from ..runtime.activation import effective_activation, is_activation_layer, is_transparent
from . import backends
from .calibrate import METHODS as CALIBRATION_METHODS
from .calibrate import calibrate as _calibrate

if TYPE_CHECKING:  # annotations only: the runtime never needs policy.py's class at run time
    from ..policy import Policy

__all__ = [
    "diagnose",
    "plot",
    "plot_png",
    "DiagnoseReport",
    "RunStats",
    "LayerStats",
    "PlotUnavailableError",
    "KERAS_RUN",
]

KERAS_RUN = "keras"
RELU_FAMILY = frozenset({"relu", "relu6", "leaky_relu"})
SATURATING = {
    "tanh": lambda a: np.abs(a) > 0.99,
    "sigmoid": lambda a: (a < 0.01) | (a > 0.99),
    "hard_sigmoid": lambda a: (a < 0.01) | (a > 0.99),
}
_MAX_HOPS = 64


# -- records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerStats:
    """Statistics of one weighted layer at initialization (see the module docstring)."""

    layer_path: str
    layer_class: str
    activation: str
    output_of: str
    activation_mean: float | None
    activation_std: float | None
    saturated_fraction: float | None
    dead_fraction: float | None
    gradient_std: float


@dataclass
class RunStats:
    """One build of the model: ``name`` is the policy file's stem, or ``"keras"``."""

    name: str
    layers: list[LayerStats] = field(default_factory=list)

    def column(self, key: str) -> list[float | None]:
        return [getattr(s, key) for s in self.layers]

    def activation_std_ratio(self) -> float:
        """Last over first weighted layer's ``activation_std``."""
        stds = self.column("activation_std")
        return float(stds[-1] / stds[0])


@dataclass
class DiagnoseReport:
    """The runs of one ``diagnose`` call, the policy run first."""

    runs: list[RunStats]
    batch: int
    loss: str = "mean(y**2) summed over outputs"
    calibration: object | None = None  # the CalibrationReport of the ``+lsuv`` run, if any

    def run(self, name: str) -> RunStats:
        for r in self.runs:
            if r.name == name:
                return r
        raise KeyError(f"no run named {name!r}; runs: {', '.join(r.name for r in self.runs)}")

    def to_dict(self) -> dict:
        out = {
            "batch": self.batch,
            "loss": self.loss,
            "runs": [{"name": r.name, "layers": [asdict(s) for s in r.layers]} for r in self.runs],
        }
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_dict()
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_table(self) -> str:
        header = (
            "#",
            "layer",
            "class",
            "activation",
            "act mean",
            "act std",
            "sat/dead",
            "grad std",
        )
        blocks = []
        for r in self.runs:
            rows = [header]
            for i, s in enumerate(r.layers, start=1):
                if s.saturated_fraction is not None:
                    frac = f"sat {s.saturated_fraction:.2f}"
                elif s.dead_fraction is not None:
                    frac = f"dead {s.dead_fraction:.2f}"
                else:
                    frac = "-"
                rows.append(
                    (
                        str(i),
                        s.layer_path,
                        s.layer_class,
                        s.activation,
                        _num(s.activation_mean),
                        _num(s.activation_std),
                        frac,
                        _num(s.gradient_std),
                    )
                )
            widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
            lines = [f"run: {r.name}"]
            for row in rows:
                lines.append(
                    "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                )
            blocks.append("\n".join(lines))
        if self.calibration is not None:
            blocks.append(f"calibration: {self.calibration.summary()}")
        return "\n\n".join(blocks)

    def __str__(self) -> str:
        return self.to_table()

    def _repr_html_(self) -> str:
        """One table of every run's layers, with the plot inline when matplotlib is installed."""
        columns = ("run", "#", "layer", "class", "activation")
        columns += ("act mean", "act std", "saturated", "dead", "grad std")
        rows = [
            (r.name, i, s.layer_path, s.layer_class, s.activation, s.activation_mean)
            + (s.activation_std, s.saturated_fraction, s.dead_fraction, s.gradient_std)
            for r in self.runs
            for i, s in enumerate(r.layers, start=1)
        ]
        caption = f"diagnose: {', '.join(r.name for r in self.runs)} (batch {self.batch})"
        if self.calibration is not None:
            caption += f"; calibration: {self.calibration.summary()}"
        try:
            png = base64.b64encode(plot_png(self)).decode("ascii")
        except PlotUnavailableError:
            footer = None
        else:
            footer = f'<img alt="diagnose plot" src="data:image/png;base64,{png}"/>'
        return html_table(columns, rows, caption=caption, footer=footer)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


# -- the model side ---------------------------------------------------------------------------


def _graph_output_layer(layer):
    """The layer whose output is ``layer``'s output after its effective activation."""
    if effective_activation(layer).source == "own":
        return layer
    current, hops = layer, 0
    while hops < _MAX_HOPS:
        nxt = hooks.consumers(current)
        if len(nxt) != 1 or isinstance(nxt[0], keras.Model):
            return layer
        (current,) = nxt
        if is_activation_layer(current):
            return current
        if not is_transparent(current):
            return layer
        hops += 1
    return layer


def _layers_by_path(model) -> dict[str, object]:
    return {getattr(lyr, "path", None) or lyr.name: lyr for lyr in hooks.nested_layers(model)}


def _make_inputs(model, batch: int, rng: np.random.Generator):
    shapes = [tuple(t.shape) for t in model.inputs]
    arrays = []
    for t, shape in zip(model.inputs, shapes, strict=True):
        if any(d is None for d in shape[1:]):
            raise ValueError(
                f"input `{t.name}` has an unknown dimension (shape {shape}); "
                "pass inputs= (or --inputs file.npy) with a concrete batch"
            )
        full = (batch, *shape[1:])
        if "int" in str(t.dtype):
            arrays.append(rng.integers(0, 2, size=full).astype(str(t.dtype)))
        else:
            arrays.append(rng.standard_normal(full).astype("float32"))
    return arrays[0] if len(arrays) == 1 else arrays


def _loss(n_outputs: int):
    def loss_fn(outputs):
        total = 0.0
        for y in outputs[:n_outputs]:
            total = total + keras.ops.mean(keras.ops.square(keras.ops.cast(y, "float32")))
        return total

    return loss_fn


def _fraction_stats(name: str, a: np.ndarray) -> tuple[float | None, float | None]:
    if name in SATURATING:
        return float(np.mean(SATURATING[name](a))), None
    if name in RELU_FAMILY:
        if a.ndim < 2:
            return None, float(np.all(a == 0))
        return None, float(np.mean(np.all(a.reshape(a.shape[0], -1) == 0, axis=0)))
    return None, None


def measure(model, x, name: str) -> RunStats:
    """Per-weighted-layer statistics of ``model`` (already built) on the batch ``x``."""
    if not getattr(model, "built", False) or not _has_graph(model):
        model(x)  # Sequential without Input: builds it (and its graph) now
    variables = backends.kernel_variables(model)
    by_path = _layers_by_path(model)
    probe, taps = model, {}
    if _has_graph(model):
        for path in variables:
            taps[path] = _graph_output_layer(by_path[path])
        extra = []
        for tap in taps.values():
            try:
                extra.append(tap.output)
            except (AttributeError, ValueError):  # shared or nested layer: no single output
                extra = None
                break
        if extra is not None:
            inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
            probe = keras.Model(inputs, [*model.outputs, *extra])
        else:
            taps = {}
    n_out = len(model.outputs) if _has_graph(model) else None
    outputs, grads = backends.value_and_grads(probe, x, _loss(n_out or 10**9), variables=variables)
    acts = outputs[n_out:] if taps else []
    stats = RunStats(name)
    for i, path in enumerate(variables):
        layer = by_path[path]
        eff = effective_activation(layer).name
        if taps:
            a = acts[i]
            sat, dead = _fraction_stats(eff, a)
            mean, std = float(np.mean(a)), float(np.std(a))
            output_of = getattr(taps[path], "path", None) or taps[path].name
        else:
            sat = dead = mean = std = None
            output_of = "-"
        stats.layers.append(
            LayerStats(
                layer_path=path,
                layer_class=type(layer).__name__,
                activation=eff,
                output_of=output_of,
                activation_mean=mean,
                activation_std=std,
                saturated_fraction=sat,
                dead_fraction=dead,
                gradient_std=float(np.std(grads[path])),
            )
        )
    return stats


def _has_graph(model) -> bool:
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def _policy_and_name(policy_or_path) -> tuple[Policy, str]:
    """The policy (``as_policy``) and its run name: the stem of its file, else ``policy``."""
    policy = as_policy(policy_or_path, caller="diagnose")
    src = policy.source
    return policy, Path(src).stem if src and not src.startswith("<") else "policy"


def _build(policy: Policy | None, builder, seed: int):
    keras.utils.set_random_seed(seed)
    if policy is None:
        return builder()
    with policy.scope():
        return builder()


def diagnose(
    policy_or_path,
    builder,
    *,
    compare=None,
    batch: int = 32,
    inputs=None,
    seed: int = 0,
    calibrate: str | None = None,
) -> DiagnoseReport:
    """Build ``builder()`` under the policy (and under ``compare``: ``"keras"``, a Policy or a
    path) and report per-layer activation and gradient statistics at initialization.
    ``calibrate`` (a ``kip.calibrate`` method, ``"lsuv"``) adds the policy's model after
    calibration on the same batch, as the run ``POLICY+METHOD`` right after the policy's run.

    ``inputs`` (an array, or a list for several inputs) replaces the random N(0, 1) batch of size
    ``batch``. ``seed`` seeds Keras (``keras.utils.set_random_seed``) before each build and the
    random inputs, so the runs are reproducible and share one batch.
    """
    if calibrate is not None and calibrate not in CALIBRATION_METHODS:
        raise CalibrationError(
            f"unsupported calibration method {calibrate!r}; "
            f"supported: {', '.join(CALIBRATION_METHODS)}"
        )
    candidates: list[tuple[Policy | None, str]] = [_policy_and_name(policy_or_path)]
    if compare is not None:
        if isinstance(compare, str) and compare == KERAS_RUN:
            candidates.append((None, KERAS_RUN))
        else:
            candidates.append(_policy_and_name(compare))
    names: set[str] = set()
    runs = []
    calibration = None
    x = None if inputs is None else inputs
    for policy, name in candidates:
        unique, k = name, 2
        while unique in names:
            unique, k = f"{name}-{k}", k + 1
        names.add(unique)
        model = _build(policy, builder, seed)
        if x is None:
            if not _has_graph(model):
                raise ValueError(
                    f"model `{model.name}` has no known input shape (not built, or subclassed); "
                    "pass inputs= (or --inputs file.npy)"
                )
            x = _make_inputs(model, batch, np.random.default_rng(seed))
        # A Sequential without Input builds in ``measure``: it follows the policy it was
        # constructed under (docs/reference.md#applying-a-policy), so no scope is needed here.
        runs.append(measure(model, x, unique))
        if calibrate is not None and len(runs) == 1:
            calibration = _calibrated_run(policy, builder, seed, x, calibrate)
            runs.append(measure(calibration[0], x, f"{unique}+{calibrate}"))
            names.add(runs[-1].name)
    first = x[0] if isinstance(x, list) else x
    return DiagnoseReport(
        runs,
        batch=int(np.shape(first)[0]),
        calibration=None if calibration is None else calibration[1],
    )


def _calibrated_run(policy, builder, seed, x, method):
    """The policy's model rebuilt with the same seed and calibrated on ``x``."""
    model = _build(policy, builder, seed)
    if not model.built:
        model(x)  # a Sequential without Input: built now, as ``measure`` would
    return model, _calibrate(model, x, method=method)


# -- plot ---------------------------------------------------------------------------------------


def _figure(report: DiagnoseReport, metrics: tuple[str, ...], title: str | None):
    """The plot as a matplotlib ``Figure``, built without pyplot (no global backend switch, so
    plotting inside a notebook leaves the notebook's own backend alone)."""
    try:
        import matplotlib  # noqa: F401  (checked first: a loaded submodule would hide its absence)
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailableError(
            "plotting needs matplotlib; install it with: pip install 'keras-initpolicy[plot]'"
        ) from None
    fig = Figure(figsize=(4.2 * len(metrics), 3.4))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for r in report.runs:
            values = [math.nan if v is None else v for v in r.column(metric)]
            depth = range(1, len(values) + 1)
            ax.plot(depth, values, marker="o", markersize=3, label=r.name)
        if metric.endswith("_std"):
            ax.set_yscale("log")
        ax.set_xlabel("depth (weighted layer)")
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot(
    report: DiagnoseReport,
    path,
    *,
    metrics: tuple[str, ...] = ("activation_std", "gradient_std"),
    title: str | None = None,
) -> Path:
    """Save a PNG: one panel per metric against depth, one line per run (log y-scale for stds)."""
    out = Path(path)
    _figure(report, metrics, title).savefig(out, dpi=90)
    return out


def plot_png(
    report: DiagnoseReport, *, metrics: tuple[str, ...] = ("activation_std", "gradient_std")
) -> bytes:
    """The plot of ``plot`` as PNG bytes (for notebooks)."""
    buffer = io.BytesIO()
    _figure(report, metrics, None).savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
