"""``compare``: the same model trained briefly under several policies, and the command line.

Tiny models and a few steps, so the file runs in well under a minute per backend. The diverging
policy is ``Dense -> random_normal(stddev=100)`` on nine ReLU layers: each multiplies the scale
by about 100·√(16/2) ≈ 280, the outputs reach about 10^22 and their squared error overflows
float32 at the first step, so the loss is not finite on every backend and training stops. (With
stddev=10 the loss is about 10^25: finite, and under Adam on torch it can even fall a little, so
the rule "non-finite or above its start" does not always call it diverged.)
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import keras_initpolicy as kip  # noqa: E402
from keras_initpolicy.analysis.compare import (  # noqa: E402
    CompareError,
    CompareReport,
    compare,
    fit_arguments,
    plot,
    seeded,
)
from keras_initpolicy.cli import main  # noqa: E402

pytestmark = pytest.mark.keras

ROOT = Path(__file__).resolve().parents[2]
HE = "Dense -> he_normal\n*.bias -> zeros\n"
EXPLODE = "Dense -> random_normal(stddev=100)\n"

MODULE_SOURCE = """
import keras
import numpy as np

def mlp():
    model = keras.Sequential([keras.Input((8,))])
    for _ in range(8):
        model.add(keras.layers.Dense(16, activation="relu"))
    model.add(keras.layers.Dense(1))
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="mse")
    return model

def uncompiled():
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])

def not_a_model():
    return 42

def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype("float32")
    return x, (0.5 * x[:, :1] - x[:, 1:2]).astype("float32")

def held_out():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((224, 8)).astype("float32")
    y = (0.5 * x[:, :1] - x[:, 1:2]).astype("float32")
    return {"x": x[:192], "y": y[:192], "validation_data": (x[192:], y[192:]), "batch_size": 8}

def raises():
    raise RuntimeError("no such dataset on this machine")

def text():
    return "train.csv"

def wrong_shape():
    return np.zeros((16, 3), "float32"), np.zeros((16, 1), "float32")

def unknown_key():
    x, y = data()
    return {"x": x, "y": y, "epochs": 3}
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The user's folder: a module of builders and data functions, and two policy files."""
    folder = tmp_path_factory.mktemp("compare")
    (folder / "cmp_models.py").write_text(MODULE_SOURCE, encoding="utf-8")
    (folder / "he.initpolicy").write_text(HE, encoding="utf-8")
    (folder / "explode.initpolicy").write_text(EXPLODE, encoding="utf-8")
    sys.path.insert(0, str(folder))
    sys.modules.pop("cmp_models", None)
    yield folder
    sys.path.remove(str(folder))
    sys.modules.pop("cmp_models", None)


@pytest.fixture(scope="module")
def models(workdir):
    import importlib

    return importlib.import_module("cmp_models")


@pytest.fixture
def user_module(workdir, monkeypatch) -> str:
    monkeypatch.chdir(workdir)
    return "cmp_models"


@pytest.fixture(scope="module")
def report(models, workdir) -> CompareReport:
    policies = ["keras", *(str(workdir / f) for f in ("he.initpolicy", "explode.initpolicy"))]
    return compare(policies, models.mlp, models.held_out, steps=12, log_every=4, seeds=[0, 1])


# -- the report -------------------------------------------------------------------------------


def test_every_policy_and_seed_runs(report):
    assert [p.name for p in report.policies] == ["keras", "he", "explode"]
    for p in report.policies:
        assert [r.seed for r in p.runs] == [0, 1]
    keras_runs = report.policy("keras").runs
    assert all(r.steps == [4, 8, 12] for r in keras_runs)
    assert all(len(r.val_loss) == 3 for r in keras_runs)


def test_the_exploding_policy_is_reported_as_diverged(report):
    explode = report.policy("explode")
    assert explode.diverged == 2
    assert all("non-finite" in r.reason for r in explode.runs)
    assert explode.final()["median"] is None
    # He trains (12 steps of a 9-layer net may end a little above their start on some backend)
    assert all(math.isfinite(r.final_loss) for r in report.policy("he").runs)


def test_policies_draw_different_weights(report):
    finals = {p.name: p.final()["median"] for p in report.policies if p.name != "explode"}
    assert len(set(finals.values())) == 2
    assert all(math.isfinite(v) for v in finals.values())


def test_json_is_strict_and_complete(report):
    data = json.loads(report.to_json())  # no NaN: non-finite values are null
    assert "NaN" not in report.to_json()
    assert data["steps"] == 12 and data["seeds"] == [0, 1]
    names = [p["name"] for p in data["policies"]]
    assert names == ["keras", "he", "explode"]
    he = data["policies"][1]
    assert set(he) >= {"curve", "final_loss", "final_val_loss", "val_curve", "diverged", "runs"}
    assert he["curve"]["steps"] == [4, 8, 12]
    assert he["curve"]["min"][-1] <= he["curve"]["median"][-1] <= he["curve"]["max"][-1]
    assert data["policies"][2]["runs"][0]["final_loss"] is None


def test_table_shows_curve_and_summary(report):
    table = report.to_table()
    assert "held-out loss: median [min, max] over seeds" in table
    assert "after 12 steps, seeds 0, 1" in table
    line = next(ln for ln in table.splitlines() if ln.startswith("explode "))
    assert line.split()[1:3] == ["2", "2"]  # runs, diverged


def test_plot_is_a_png(report, tmp_path):
    pytest.importorskip("matplotlib")
    out = plot(report, tmp_path / "curves.png", title="test")
    assert out.read_bytes()[:4] == b"\x89PNG"


# -- seeds and data ---------------------------------------------------------------------------


def test_steps_count_past_the_end_of_the_data(models):
    """64 samples in batches of 32 are 2 batches: the data starts again, training goes on."""
    r = compare(["keras"], models.mlp, models.data, steps=6, log_every=3, seeds=[0])
    assert r.policies[0].runs[0].steps[-1] == 6


def test_seeds_are_reproducible_and_differ(models, workdir):
    he = str(workdir / "he.initpolicy")

    def run(policies, seeds):
        r = compare(policies, models.mlp, models.data, steps=2, log_every=1, seeds=seeds)
        return [run.loss for p in r.policies for run in p.runs]

    first = run([he, "keras"], [0, 1])
    assert run([he], [1]) == first[1:2]  # the same seed: the same run
    assert run(["keras"], [0]) == first[2:3]
    assert first[0] != first[1]  # seed 0 and seed 1 of the policy draw other weights
    assert first[2] != first[3]  # and of the model's own initializers


def test_policy_seed_derivation():
    policy = kip.parse("@seed 7\nDense -> he_normal\n")
    assert seeded(policy, 0).seed == 7 and seeded(policy, 2).seed == 9
    assert seeded(kip.parse("Dense -> he_normal\n"), 3).seed == 3
    assert seeded(None, 3) is None


def test_a_generator_is_asked_for_again_for_every_run(models):
    calls = []

    def batches():
        calls.append(1)
        x, y = models.data()
        return ((x[i : i + 8], y[i : i + 8]) for i in range(0, 64, 8))

    r = compare(["keras"], models.mlp, batches, steps=3, seeds=[0, 1])
    assert len(calls) == 3  # one to check, one per run after the first consumed it
    assert all(run.steps == [1, 2, 3] for run in r.policies[0].runs)


@pytest.mark.parametrize(
    "data, message",
    [
        (None, "returned NoneType"),
        ("x.csv", "returned str"),
        ((1, 2, 3, 4), "a tuple of 4"),
        ({"y": 1}, "no 'x'"),
        ({"x": 1, "epochs": 2}, "unknown keys ['epochs']"),
    ],
)
def test_data_that_fit_cannot_take_is_refused(data, message):
    with pytest.raises(CompareError, match=message.replace("[", r"\[").replace("]", r"\]")):
        fit_arguments(data, "the data")


def test_builder_must_return_a_compiled_model(models):
    with pytest.raises(CompareError, match="not compiled"):
        compare(["keras"], models.uncompiled, models.data, steps=1, seeds=[0])
    with pytest.raises(CompareError, match="returned int"):
        compare(["keras"], models.not_a_model, models.data, steps=1, seeds=[0])


# -- the command line -------------------------------------------------------------------------


def test_cli_table_json_and_plot(user_module, tmp_path, capsys):
    png = tmp_path / "out.png"
    model = ["--model", f"{user_module}:mlp", "--data", f"{user_module}:data"]
    argv = ["compare", "keras", "preset:megatron", *model, "--steps", "4", "--log-every", "2"]
    assert main([*argv, "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "training loss: median [min, max] over seeds" in out and "preset:megatron" in out
    argv = ["compare", "he.initpolicy", "explode.initpolicy", "he.initpolicy", *model]
    argv += ["--steps", "4", "--seeds", "1", "--format", "json", "--plot", str(png)]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in data["policies"]] == ["he", "explode", "he-2"]
    assert [p["diverged"] for p in data["policies"]] == [0, 1, 0]
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "data, message",
    [
        ("no_such_module:data", "cannot import 'no_such_module'"),
        ("cmp_models:missing", "has no function 'missing'"),
        ("no_colon", "--data expects MODULE:FUNCTION"),
        ("cmp_models:raises", "raised RuntimeError: no such dataset on this machine"),
        ("cmp_models:text", "returned str; expected what Model.fit accepts"),
        ("cmp_models:unknown_key", "unknown keys ['epochs']"),
        ("cmp_models:wrong_shape", "training 'keras' (seed 0) failed"),
    ],
    ids=["missing-module", "missing-function", "bad-spec", "raises", "text", "key", "shape"],
)
def test_cli_bad_data_is_a_usage_error(user_module, capsys, data, message):
    argv = ["compare", "keras", "--model", f"{user_module}:mlp", "--data", data, "--steps", "2"]
    assert main([*argv, "--seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("initpolicy: error:") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "policy, extra, message",
    [
        ("missing.initpolicy", [], "no such policy file"),
        ("keras", ["--steps", "0"], "--steps must be a positive integer"),
        ("keras", ["--model", "cmp_models:uncompiled"], "not compiled"),
    ],
)
def test_cli_usage_errors(user_module, capsys, policy, extra, message):
    argv = ["compare", policy, "--model", f"{user_module}:mlp", "--data", f"{user_module}:data"]
    assert main([*argv, "--seeds", "1", "--steps", "2", *extra]) == 2
    assert message in capsys.readouterr().err


# -- the evidence script (smoke) --------------------------------------------------------------


def test_evidence_script_smoke(tmp_path, capsys, monkeypatch):
    pytest.importorskip("keras_hub")
    path = ROOT / "examples" / "evidence_text.py"
    spec = importlib.util.spec_from_file_location("_example_evidence_text", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "results" / "smoke.json"
    out.parent.mkdir()
    assert module.main(["--smoke", "--out", str(out)]) == 0
    results = json.loads(out.read_text("utf-8"))
    # the recorded command names no folder of this machine: the path inside it is relative
    expected = "python examples/evidence_text.py --smoke --out " + os.path.join(
        "results", "smoke.json"
    )
    assert results["setup"]["command"] == expected
    (entry,) = results["configurations"]
    assert [r["policy"] for r in entry["runs"]] == ["keras", "preset:gpt2"]
    assert all(r["final_val_loss"] is not None for r in entry["runs"])
    assert "| gpt2 | 2 | 0.001 | `keras` |" in capsys.readouterr().out
    assert results["setup"]["corpus_bytes"] > 400_000
    data = module.corpus()
    assert data.dtype == np.uint8 and len(data) == results["setup"]["corpus_bytes"]
