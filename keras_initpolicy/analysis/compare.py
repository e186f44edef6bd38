"""``compare``: train one model briefly under several policies and compare the loss curves.

Every run builds the model with ``builder()`` (which returns a **compiled** model) under one
policy, or outside any policy for ``"keras"`` (the model's own initializers), and trains it with
Keras's own ``Model.fit`` and the model's own loss and optimizer, for ``steps`` steps on the same
data in the same order (``shuffle=False``). Each policy runs once per seed; per policy the report
gives the loss curve (median, minimum and maximum over seeds), the final loss and the runs that
diverged.

- **Seeds.** Before each build ``keras.utils.set_random_seed(seed)`` seeds Keras (the model's
  own initializers, dropout, anything random in the builder). A policy without ``@seed`` runs
  with ``@seed seed``; a policy with ``@seed P`` runs with ``@seed P + seed``, so seed 0 builds
  exactly the policy as written and the other seeds draw other weights.
- **The curve.** One point every ``log_every`` steps: the mean training loss over those steps (an
  "epoch" of ``steps_per_epoch=log_every`` in Keras's terms; with arrays the data wraps around
  when it runs out, and that epoch is shorter). With ``validation_data`` the held-out loss is
  evaluated at every point too.
- **Divergence.** A run diverged when a logged loss is not finite (training stops at that point)
  or when its final training loss is above its first logged one.

>>> report = compare(["keras", "preset:gpt2", "my.initpolicy"], build, data, steps=200)  # doctest: +SKIP
>>> print(report.to_table())                                                      # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras

from ..errors import InitPolicyError, PolicyError
from ..policy import PRESET_PREFIX, Policy, as_policy, parse
from .diagnose import PlotUnavailableError

__all__ = [
    "compare",
    "plot",
    "CompareError",
    "CompareReport",
    "PolicyRuns",
    "RunResult",
    "KERAS_RUN",
    "FIT_KEYS",
]

KERAS_RUN = "keras"
#: keys a data dictionary may hold: the ``Model.fit`` arguments that describe data
FIT_KEYS = ("x", "y", "sample_weight", "batch_size", "validation_data", "class_weight")
_DATA_HELP = (
    "what Model.fit accepts: an (x, y) tuple of arrays, a dict of fit arguments "
    f"({', '.join(FIT_KEYS)}), or a dataset (tf.data.Dataset, keras.utils.PyDataset, "
    "torch DataLoader)"
)


class CompareError(InitPolicyError, ValueError):
    """The inputs of ``compare`` cannot be used: bad data, a builder that does not return a
    compiled model, an unknown policy name. The message says what was received."""


# -- records ------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """One training run: a policy, a seed. ``steps[i]`` is the step count at log point ``i``."""

    policy: str
    seed: int
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    diverged: bool = False
    reason: str | None = None
    seconds: float = 0.0

    @property
    def final_loss(self) -> float:
        return self.loss[-1] if self.loss else math.nan

    @property
    def final_val_loss(self) -> float | None:
        return self.val_loss[-1] if self.val_loss else None

    def to_dict(self) -> dict:
        return {
            "policy": self.policy,
            "seed": self.seed,
            "steps": list(self.steps),
            "loss": [_finite(v) for v in self.loss],
            "val_loss": [_finite(v) for v in self.val_loss],
            "final_loss": _finite(self.final_loss),
            "final_val_loss": _finite(self.final_val_loss),
            "diverged": self.diverged,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class PolicyRuns:
    """Every seed's run of one policy, and their summary over seeds."""

    name: str
    source: str
    runs: list[RunResult] = field(default_factory=list)

    @property
    def diverged(self) -> int:
        return sum(r.diverged for r in self.runs)

    def curve(self, key: str = "loss") -> dict[str, list]:
        """Per log point: the step, and median/min/max over the seeds' finite values."""
        length = max((len(r.steps) for r in self.runs), default=0)
        out = {"steps": [], "median": [], "min": [], "max": []}
        for i in range(length):
            step = next(r.steps[i] for r in self.runs if len(r.steps) > i)
            values = [getattr(r, key)[i] for r in self.runs if len(getattr(r, key)) > i]
            stats = _spread(values)
            out["steps"].append(step)
            for k in ("median", "min", "max"):
                out[k].append(stats[k])
        return out

    def final(self, key: str = "final_loss") -> dict[str, float | None]:
        """Median, minimum and maximum of the runs' final values that are finite."""
        return _spread([getattr(r, key) for r in self.runs])

    def to_dict(self) -> dict:
        out = {
            "name": self.name,
            "source": self.source,
            "diverged": self.diverged,
            "final_loss": self.final(),
            "curve": self.curve(),
            "runs": [r.to_dict() for r in self.runs],
        }
        if any(r.val_loss for r in self.runs):
            out["final_val_loss"] = self.final("final_val_loss")
            out["val_curve"] = self.curve("val_loss")
        return out


def _finite(value):
    return value if value is not None and math.isfinite(value) else None


def _spread(values) -> dict[str, float | None]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(finite), "min": min(finite), "max": max(finite)}


@dataclass
class CompareReport:
    """The result of ``compare``: one ``PolicyRuns`` per policy, in the order given."""

    policies: list[PolicyRuns]
    steps: int
    log_every: int
    seeds: list[int]
    seconds: float = 0.0

    def policy(self, name: str) -> PolicyRuns:
        for p in self.policies:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.policies)
        raise KeyError(f"no policy named {name!r}; policies: {known}")

    @property
    def has_validation(self) -> bool:
        return any(r.val_loss for p in self.policies for r in p.runs)

    def to_dict(self) -> dict:
        return {
            "steps": self.steps,
            "log_every": self.log_every,
            "seeds": list(self.seeds),
            "seconds": round(self.seconds, 3),
            "loss": "the model's own loss; each point is the mean training loss since the last",
            "policies": [p.to_dict() for p in self.policies],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_table(self, max_points: int = 10) -> str:
        return "\n\n".join([_curve_table(self, max_points), _summary_table(self)])

    def __str__(self) -> str:
        return self.to_table()


# -- text tables ----------------------------------------------------------------------------


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _spread_text(stats: dict) -> str:
    if stats["median"] is None:
        return "-"
    return f"{_fmt(stats['median'])} [{_fmt(stats['min'])}, {_fmt(stats['max'])}]"


def _render(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _summary_table(report: CompareReport) -> str:
    header = ["policy", "runs", "diverged", "final loss: median [min, max]"]
    if report.has_validation:
        header.append("held-out loss: median [min, max]")
    rows = [tuple(header)]
    for p in report.policies:
        row = [p.name, str(len(p.runs)), str(p.diverged), _spread_text(p.final())]
        if report.has_validation:
            row.append(_spread_text(p.final("final_val_loss")))
        rows.append(tuple(row))
    seeds = ", ".join(map(str, report.seeds))
    title = f"after {report.steps} steps, seeds {seeds} (diverged: non-finite, or above start)"
    return f"{title}\n{_render(rows)}"


def _curve_table(report: CompareReport, max_points: int) -> str:
    key = "val_loss" if report.has_validation else "loss"
    curves = [p.curve(key) for p in report.policies]
    length = max((len(c["steps"]) for c in curves), default=0)
    stride = max(1, math.ceil(length / max_points))
    picked = sorted({*range(0, length, stride), length - 1} - {-1})
    rows = [("step", *(p.name for p in report.policies))]
    for i in picked:
        step = next(c["steps"][i] for c in curves if len(c["steps"]) > i)
        cells = []
        for c in curves:
            stats = {k: c[k][i] for k in ("median", "min", "max")} if len(c["steps"]) > i else None
            cells.append("-" if stats is None else _spread_text(stats))
        rows.append((str(step), *cells))
    what = "held-out loss" if key == "val_loss" else "training loss"
    return f"{what}: median [min, max] over seeds\n{_render(rows)}"


# -- policies -------------------------------------------------------------------------------


def resolve_policy(spec) -> tuple[str, Policy | None]:
    """``(name, policy)`` for ``"keras"`` (no policy), ``"preset:NAME"``, a file path or a
    ``Policy``; a missing file is a ``CompareError``, an invalid policy a ``PolicyError``."""
    if isinstance(spec, Policy):
        src = spec.source
        return (Path(src).stem if src and not src.startswith("<") else "policy"), spec
    if not isinstance(spec, str | os.PathLike):
        raise CompareError(
            f"a policy must be a path, 'preset:NAME', 'keras' or a Policy; "
            f"received {type(spec).__name__}"
        )
    text = os.fspath(spec)
    if text == KERAS_RUN:
        return KERAS_RUN, None
    if text.startswith(PRESET_PREFIX):
        return text, parse(f'@include "{text}"\n', source=text)
    if not Path(text).is_file():
        raise CompareError(
            f"no such policy file: {text!r}; give a policy file, 'preset:NAME' or 'keras'"
        )
    return Path(text).stem, as_policy(text, caller="kip.compare")


def _named(policies) -> list[tuple[str, Policy | None]]:
    items = policies.items() if isinstance(policies, Mapping) else [(None, p) for p in policies]
    out, names = [], set()
    for name, spec in items:
        default, policy = resolve_policy(spec)
        unique, k = name or default, 2
        while unique in names:
            unique, k = f"{name or default}-{k}", k + 1
        names.add(unique)
        out.append((unique, policy))
    if not out:
        raise CompareError("compare needs at least one policy; received none")
    return out


def seeded(policy: Policy | None, seed: int) -> Policy | None:
    """The policy a run with ``seed`` uses: ``@seed seed``, or ``@seed P + seed``."""
    if policy is None:
        return None
    base = 0 if policy.seed is None else policy.seed
    return dataclasses.replace(policy, seed=(base + seed) % 2**31)


# -- data -----------------------------------------------------------------------------------


def _describe(value) -> str:
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__


def fit_arguments(data, source: str = "the data") -> dict:
    """The ``Model.fit`` keyword arguments for ``data`` (a tuple, a dict or a dataset)."""
    if data is None or isinstance(data, str | bytes | int | float | bool):
        raise CompareError(f"{source} returned {_describe(data)}; expected {_DATA_HELP}")
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - set(FIT_KEYS))
        if unknown or "x" not in data:
            what = f"unknown keys {unknown}" if unknown else "no 'x'"
            raise CompareError(
                f"{source} returned a dict with {what}; allowed keys: {', '.join(FIT_KEYS)}"
            )
        return dict(data)
    if isinstance(data, tuple | list):
        if len(data) not in (2, 3):
            raise CompareError(
                f"{source} returned {_describe(data)}; expected (x, y) or (x, y, sample_weight),"
                f" or {_DATA_HELP}"
            )
        return dict(zip(("x", "y", "sample_weight"), data, strict=False))
    return {"x": data}


def _is_one_shot(data) -> bool:
    """A generator or iterator: exhausted by one run, so the data function is called anew."""
    try:
        return iter(data) is data
    except TypeError:
        return False


# -- training -------------------------------------------------------------------------------


class _Recorder(keras.callbacks.Callback):
    """Counts steps, stops training after ``steps`` and at the first non-finite loss, and
    records the mean loss of every ``log_every`` steps (one Keras epoch)."""

    def __init__(self, result: RunResult, steps: int):
        super().__init__()
        self.result, self.steps, self.seen = result, steps, 0

    def on_train_batch_begin(self, batch, logs=None):
        self.seen += 1
        if self.seen >= self.steps:
            self.model.stop_training = True  # checked by fit after this step

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss = float(logs.get("loss", math.nan))
        self.result.steps.append(self.seen)
        self.result.loss.append(loss)
        if "val_loss" in logs:
            self.result.val_loss.append(float(logs["val_loss"]))
        bad = [v for v in (loss, *self.result.val_loss[-1:]) if not math.isfinite(v)]
        if bad:
            self.result.diverged = True
            self.result.reason = f"non-finite loss at step {self.seen}"
            self.model.stop_training = True


def _build(builder, policy: Policy | None, seed: int):
    keras.utils.set_random_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unused-rule warnings: a preset meets many models
        if policy is None:
            return builder()
        with policy.scope():
            return builder()


def _check_model(model, builder) -> None:
    name = getattr(builder, "__name__", repr(builder))
    if not isinstance(model, keras.Model):
        raise CompareError(
            f"the builder {name} returned {type(model).__name__}; expected a compiled keras.Model"
        )
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise CompareError(
            f"the builder {name} returned a model that is not compiled; call "
            "model.compile(optimizer=..., loss=...) in it, so every policy trains alike"
        )


def train_once(builder, policy, seed, arguments: dict, *, steps: int, log_every: int, name: str):
    """One run: build under ``policy`` (``None``: the model's own initializers), then ``fit``."""
    result = RunResult(name, seed)
    start = time.perf_counter()
    model = _build(builder, seeded(policy, seed), seed)
    _check_model(model, builder)
    recorder = _Recorder(result, steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "ran out of data": arrays wrap around, on purpose
        model.fit(
            **arguments,
            epochs=steps,  # an upper bound: the recorder stops training after `steps` steps
            steps_per_epoch=log_every,
            shuffle=False,
            callbacks=[recorder],
            verbose=0,
        )
    result.seconds = time.perf_counter() - start
    _judge(result)
    del model
    gc.collect()
    return result


def _judge(result: RunResult) -> None:
    if result.diverged:
        return
    if not result.loss:
        result.diverged, result.reason = True, "no loss was logged (no data?)"
    elif result.loss[-1] > result.loss[0]:
        result.diverged = True
        result.reason = f"final loss {result.loss[-1]:.4g} above the first {result.loss[0]:.4g}"


def compare(
    policies,
    builder: Callable,
    data,
    *,
    steps: int = 100,
    log_every: int | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    batch_size: int | None = None,
    on_run: Callable[[RunResult], None] | None = None,
    data_name: str | None = None,
) -> CompareReport:
    """Train ``builder()`` under each policy and seed; see the module docstring.

    ``policies``: a list (or a ``{name: policy}`` dict) of ``"keras"``, ``"preset:NAME"``, policy
    file paths or ``Policy`` objects. ``data``: what ``Model.fit`` accepts, or a function
    returning it (called once; again per run when it returns a generator). ``batch_size`` is
    passed to ``fit`` for array data. ``on_run`` is called with every finished ``RunResult``.
    ``data_name`` names the data in error messages (default: the function's name).
    """
    steps, log_every = _check_counts(steps, log_every)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise CompareError("compare needs at least one seed; received none")
    named = _named(policies)
    source = data_name or f"the data function {getattr(data, '__name__', '')}".rstrip()
    fetch = data if callable(data) else (lambda: data)
    arguments = _arguments(fetch, source, batch_size)
    report = CompareReport([PolicyRuns(n, _source(p)) for n, p in named], steps, log_every, seeds)
    start = time.perf_counter()
    for (name, policy), runs in zip(named, report.policies, strict=True):
        for seed in seeds:
            if _is_one_shot(arguments["x"]):
                arguments = _arguments(fetch, source, batch_size)
            result = _train_checked(builder, policy, seed, arguments, steps, log_every, name)
            runs.runs.append(result)
            if on_run is not None:
                on_run(result)
    report.seconds = time.perf_counter() - start
    return report


def _source(policy: Policy | None) -> str:
    return "the model's own initializers" if policy is None else policy.source


def _check_counts(steps, log_every) -> tuple[int, int]:
    if not isinstance(steps, int) or steps < 1:
        raise CompareError(f"steps must be a positive integer; received {steps!r}")
    if log_every is None:
        log_every = max(1, steps // 20)
    if not isinstance(log_every, int) or log_every < 1:
        raise CompareError(f"log_every must be a positive integer; received {log_every!r}")
    return steps, min(log_every, steps)


def _arguments(fetch, source: str, batch_size: int | None) -> dict:
    try:
        data = fetch()
    except Exception as exc:  # noqa: BLE001 - user code: reported, not traced
        raise CompareError(f"{source} raised {type(exc).__name__}: {exc}") from None
    arguments = fit_arguments(data, source)
    if batch_size is not None and not _is_dataset(arguments["x"]):
        arguments.setdefault("batch_size", batch_size)
    return arguments


def _is_dataset(x) -> bool:
    """Not an array, a tensor, a tuple or a dict of them: ``fit`` refuses ``batch_size``."""
    return not (hasattr(x, "shape") or isinstance(x, list | tuple | Mapping))


def _train_checked(builder, policy, seed, arguments, steps, log_every, name) -> RunResult:
    try:
        return train_once(
            builder, policy, seed, arguments, steps=steps, log_every=log_every, name=name
        )
    except (CompareError, PolicyError):
        raise
    except Exception as exc:  # noqa: BLE001 - user code and user data: reported, not traced
        raise CompareError(
            f"training {name!r} (seed {seed}) failed: {type(exc).__name__}: {_first_line(exc)}; "
            f"the data must be {_DATA_HELP}, matching the model's inputs and loss"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


# -- plot -----------------------------------------------------------------------------------


def _figure(report: CompareReport, title: str | None):
    """Loss against step, one median line and min-max band per policy (pyplot-free)."""
    try:
        import matplotlib  # noqa: F401  (checked first: a loaded submodule would hide its absence)
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailableError(
            "plotting needs matplotlib; install it with: pip install 'keras-initpolicy[plot]'"
        ) from None
    keys = ["loss", "val_loss"] if report.has_validation else ["loss"]
    fig = Figure(figsize=(5.2 * len(keys), 3.8))
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys, strict=True):
        _plot_curves(ax, report, key)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _plot_curves(ax, report: CompareReport, key: str) -> None:
    for p in report.policies:
        c = p.curve(key)
        nan = [math.nan if v is None else v for v in c["median"]]
        (line,) = ax.plot(c["steps"], nan, label=f"{p.name} ({p.diverged} diverged)")
        low = [math.nan if v is None else v for v in c["min"]]
        high = [math.nan if v is None else v for v in c["max"]]
        ax.fill_between(c["steps"], low, high, color=line.get_color(), alpha=0.15)
    ax.set_xlabel("step")
    ax.set_ylabel("held-out loss" if key == "val_loss" else "training loss (interval mean)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def plot(report: CompareReport, path, *, title: str | None = None) -> Path:
    """Save a PNG of the loss curves: median over seeds, the band from minimum to maximum."""
    out = Path(path)
    _figure(report, title).savefig(out, dpi=100)
    return out
