"""Real models under a policy (docs/zoo.md, issue 11): every keras.applications constructor and
every keras-hub backbone, built inside `examples/policies/default.initpolicy` and inside the
same policy under `@explicit override`.

Per model and policy, one test per invariant (a failure does not hide the others):

- builds inside the scope;
- `policy.explain(model)` has exactly one row per weight of `model.weights`;
- no two random weights share a stream (identical leading 8 values);
- a seeded rebuild is bit-identical, even after the global Keras seed changed;
- rule-decided relu-fed He kernels have std within 10 % of sqrt(2 / fan_in), with explain's fans;
- `model.save` + `keras.saving.load_model` in a fresh process that cannot import this package
  gives identical weights (all models of a run are saved, then one subprocess checks them all).

CI runs each model on the backend the catalogue assigns it to (see tests/zoo/catalog.py); the
others skip with that reason. `ZOO_FULL=1` runs every model on the current backend;
`tools/zoo_table.py` runs the full matrix and writes docs/zoo.md.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import catalog
import keras
import numpy as np
import pytest

import keras_initpolicy as kip
from keras_initpolicy.checks.diagnostics import CODES
from keras_initpolicy.runtime import hooks
from keras_initpolicy.runtime.records import layer_records
from keras_initpolicy.runtime.structure import model_layers

pytestmark = [
    pytest.mark.zoo,
    pytest.mark.keras,
    # The default policy has rules for layers a given model does not have (LSTM, Conv2D, ...).
    pytest.mark.filterwarnings("ignore::keras_initpolicy.UnusedRuleWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
POLICY_FILE = ROOT / "examples" / "policies" / "default.initpolicy"
BACKEND = keras.backend.backend()
FULL = os.environ.get("ZOO_FULL", "") not in ("", "0")
LEADING = 8  # values compared to detect a shared random stream
MIN_ELEMENTS_FOR_STD = 256
STD_TOLERANCE = 0.10


def _policies() -> dict[str, kip.Policy]:
    text = POLICY_FILE.read_text(encoding="utf-8")
    override = text.replace("@explicit keep", "@explicit override", 1)
    assert override != text, "the default policy no longer says `@explicit keep`"
    return {
        "keep": kip.load(POLICY_FILE),
        "override": kip.parse(override, source=f"{POLICY_FILE.name} (@explicit override)"),
    }


POLICIES = _policies()


def _entries():
    params = []
    for entry in catalog.MODELS:
        for mode in POLICIES:
            marks = []
            if not FULL and entry.backend != BACKEND:
                marks.append(
                    pytest.mark.skip(
                        reason=f"assigned to backend {entry.backend} in CI; "
                        "full matrix: tools/zoo_table.py (or ZOO_FULL=1)"
                    )
                )
            elif not FULL and mode != entry.ci_mode:
                marks.append(
                    pytest.mark.skip(
                        reason=f"runs under @explicit {entry.ci_mode} in CI; both: ZOO_FULL=1"
                    )
                )
            elif BACKEND in entry.cannot_build:
                marks.append(
                    pytest.mark.skip(
                        reason=f"{entry.library} itself: {entry.cannot_build[BACKEND]}"
                    )
                )
            params.append(pytest.param((entry, mode), id=f"{entry.name}-{mode}", marks=marks))
    return params


# --------------------------------------------------------------------------------------------
# Helpers: weights as bytes, one weight at a time (some models have 300M parameters).


def _array(variable) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable.value))


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _label(variable) -> str:
    return getattr(variable, "path", None) or variable.name


@dataclass
class Built:
    entry: catalog.ZooModel
    mode: str
    policy: kip.Policy
    model: object = None
    error: str | None = None
    digests: list = field(default_factory=list)
    waiting: list = field(default_factory=list)  # placeholders left when the model existed
    _explanation: object = None

    def explanation(self):
        """`policy.explain(model)`, computed once for the tests that read it."""
        if self._explanation is None:
            self._explanation = self.policy.explain(self.model)
        return self._explanation


def _build(entry, policy):
    """The model, and the weights still holding a placeholder once it exists (in its scope)."""
    with policy.scope():
        model = entry.build()
        waiting = [
            f"{_label(rec.variable)}"
            for layer in model_layers(model)
            for rec in layer_records(layer).values()
            if rec.waiting
        ]
    return model, waiting


def _global_seed(value: int) -> None:
    # A seeded policy must not depend on the global seed: change it before every build.
    keras.utils.set_random_seed(value)


@pytest.fixture(scope="module", params=_entries())
def built(request):
    entry, mode = request.param
    policy = POLICIES[mode]
    result = Built(entry, mode, policy)
    keras.backend.clear_session()
    gc.collect()
    _global_seed(11)
    try:
        result.model, result.waiting = _build(entry, policy)
    except Exception as exc:  # noqa: BLE001 - reported by test_builds, with the type
        result.error = f"{type(exc).__name__}: {exc}"
    else:
        result.digests = [(_label(v), _digest(_array(v))) for v in result.model.weights]
    yield result
    result.model = result._explanation = None
    keras.backend.clear_session()
    gc.collect()


def _model(built: Built):
    if built.error is not None:
        pytest.fail(f"not checked: the build failed ({built.error[:300]})", pytrace=False)
    return built.model


# --------------------------------------------------------------------------------------------
# The invariants.


def test_builds(built):
    assert built.error is None, f"{built.entry.name} does not build under the policy: {built.error}"
    assert built.model.weights, "built, but the model has no weights"


def test_the_model_is_usable_inside_its_scope(built):
    """Once the model exists no weight holds a placeholder: the model may be used (predict,
    fit) before its scope ends, and the end of the scope overwrites nothing."""
    _model(built)
    assert built.waiting == [], f"{len(built.waiting)} weights still wait: {built.waiting[:5]}"


def test_explain_has_one_row_per_weight(built):
    model = _model(built)
    rows = built.explanation()
    by_variable: dict[int, list] = {}
    for a in rows:
        assert a.variable is not None, f"row without its variable: {a.layer_path}/{a.weight}"
        by_variable.setdefault(id(a.variable), []).append(a)
    weights = {id(v): v for v in model.weights}
    missing = [_label(v) for k, v in weights.items() if k not in by_variable]
    extra = [f"{a.layer_path}/{a.weight}" for k, a in by_variable.items() if k not in weights]
    twice = [_label(weights[k]) for k, a in by_variable.items() if len(a) > 1 and k in weights]
    assert not (missing or extra or twice) and len(rows) == len(model.weights), (
        f"{len(rows)} rows for {len(model.weights)} weights; "
        f"missing: {missing[:10]}, not model weights: {extra[:10]}, twice: {twice[:10]}"
    )


def test_no_two_random_weights_share_a_stream(built):
    model = _model(built)
    seen: dict[bytes, str] = {}
    shared = []
    for v in model.weights:
        if not v.trainable or "float" not in str(v.dtype):
            continue
        flat = _array(v).reshape(-1)
        if flat.size < 2 or np.all(flat == flat[0]):
            continue  # constant: not a random draw
        key = flat[:LEADING].tobytes()
        if key in seen:
            shared.append(f"{seen[key]} == {_label(v)}")
        else:
            seen[key] = _label(v)
    assert not shared, f"{len(shared)} weights repeat another's leading values: {shared[:12]}"


def test_seeded_rebuild_is_bit_identical(built):
    _model(built)
    assert built.policy.seed is not None, "the zoo policies are seeded"
    _global_seed(29)
    again, _ = _build(built.entry, built.policy)
    digests = [(_label(v), _digest(_array(v))) for v in again.weights]
    del again
    assert len(digests) == len(built.digests), (len(digests), len(built.digests))
    # Compared by position: auto-generated layer names (conv2d_8 / conv2d_108) differ by design.
    differ = [a[0] for a, b in zip(built.digests, digests, strict=True) if a[1] != b[1]]
    assert not differ, (
        f"{len(differ)} of {len(digests)} weights differ between two builds with @seed "
        f"{built.policy.seed}: {differ[:12]}"
    )


def _he_family(a) -> bool:
    init = a.rule.init
    if init.name == "auto":
        return True  # auto on relu is He (docs/reference.md#auto)
    if init.name not in ("he_normal", "he_uniform"):
        return False
    kw = init.keywords
    slope = kw.get("negative_slope", 0)
    return "variant" not in kw and (slope == 0 or str(slope) == "auto")


def test_relu_kernels_decided_by_a_rule_have_he_variance(built):
    _model(built)
    checked, off = 0, []
    for a in built.explanation():
        if a.reason != "rule" or a.activation != "relu" or a.rule is None:
            continue
        if not a.variable.trainable or len(a.shape) < 2 or not _he_family(a):
            continue
        values = _array(a.variable).astype(np.float64).reshape(-1)
        if values.size < MIN_ELEMENTS_FOR_STD:
            continue
        expected = np.sqrt(2.0 / a.fan_in)
        measured = float(values.std())
        checked += 1
        if abs(measured / expected - 1) > STD_TOLERANCE:
            off.append(
                f"{a.layer_path}/{a.weight} {a.shape}: std {measured:.4g}, He {expected:.4g} "
                f"(fan_in {a.fan_in:g}, {a.rule.text})"
            )
    assert not off, f"{len(off)} of {checked} He kernels off by > 10 %: {off[:10]}"


# --------------------------------------------------------------------------------------------
# Saving: every model of the run is saved here; the last test loads them all in a fresh process.

_SAVED: list[dict] = []


@pytest.fixture(scope="session")
def save_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("zoo-saved")


def test_audit_runs_and_its_suggestion_lints_clean(built):
    """Issue 12: every zoo model runs through `kip.audit` (here the model the policy built, so
    the zoo builds each model once); each finding names a weight the model has, and the policy
    `--suggest` would print lints clean."""
    model = _model(built)
    findings = kip.audit(model, built.policy, source=built.entry.name)
    weights = {
        (layer.path or layer.name, variable.name)  # unbuilt: no path yet
        for layer in [model, *hooks.nested_layers(model)]
        for variable in hooks.own_weights(layer)
    }
    for f in findings:
        assert f.code in CODES and f.code.startswith("IP4")
        assert f.severity == CODES[f.code][0] and f.source == built.entry.name
        assert (f.layer_path, f.weight) in weights, f
    text = kip.suggest_policy(findings, model, source=built.entry.name)
    assert [d for d in kip.lint(text) if d.severity != "info"] == [], text


def test_save(built, save_dir):
    model = _model(built)
    path = save_dir / f"{built.entry.name}-{built.mode}.keras"
    model.save(path)
    _SAVED.append(
        {
            "id": f"{built.entry.name}-{built.mode}",
            "path": str(path),
            "library": built.entry.library,
            "digests": built.digests,
        }
    )


_FRESH_PROCESS = textwrap.dedent(
    """
    import hashlib, importlib.abc, json, sys

    class NoPlugin(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "keras_initpolicy":
                raise ImportError("this process must not import keras_initpolicy")
            return None

    sys.meta_path.insert(0, NoPlugin())
    import keras
    import numpy as np

    manifest = json.load(open(sys.argv[1]))
    if any(m["library"] == "keras_hub" for m in manifest):
        import keras_hub  # registers keras-hub's classes, as a user's script would

    report = {}
    for m in manifest:
        try:
            model = keras.saving.load_model(m["path"])
            got = []
            for v in model.weights:
                a = np.ascontiguousarray(keras.ops.convert_to_numpy(v.value))
                got.append([getattr(v, "path", None) or v.name, hashlib.sha256(a.tobytes()).hexdigest()])
            want = m["digests"]
            if len(got) != len(want):
                report[m["id"]] = f"{len(got)} weights loaded, {len(want)} saved"
            else:
                differ = [w[0] for w, g in zip(want, got) if w[1] != g[1]]
                if differ:
                    report[m["id"]] = f"{len(differ)} weights differ: {differ[:8]}"
        except Exception as exc:
            report[m["id"]] = f"{type(exc).__name__}: {str(exc)[:400]}"
        finally:
            keras.backend.clear_session()
    assert "keras_initpolicy" not in sys.modules
    print("ZOO-REPORT " + json.dumps(report))
    """
)


def test_saved_models_load_identically_in_a_fresh_process(save_dir):
    if not _SAVED:
        pytest.skip("no model of this run was saved (all assigned to other backends or failed)")
    manifest = save_dir / "manifest.json"
    manifest.write_text(json.dumps(_SAVED), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["KERAS_BACKEND"] = BACKEND
    proc = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, str(manifest)],
        capture_output=True,
        text=True,
        env=env,
        cwd=save_dir,
        timeout=1800,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("ZOO-REPORT ")]
    assert proc.returncode == 0 and lines, f"fresh process failed:\n{proc.stderr[-3000:]}"
    report = json.loads(lines[-1].removeprefix("ZOO-REPORT "))
    for m in _SAVED:
        Path(m["path"]).unlink(missing_ok=True)
    assert not report, (
        f"{len(report)} of {len(_SAVED)} saved models do not load identically without the "
        "plugin:\n" + "\n".join(f"  {k}: {v}" for k, v in sorted(report.items()))
    )
