"""``diagnose``: activation/gradient statistics at initialization, the plot, the CLI, the examples.

The depth test is the He et al. (2015) argument: in a 20-layer ReLU MLP the activation std stays
roughly constant under He initialization and halves in variance per layer under Keras's default
Glorot (expected last/first std ratio 2**-9.5 ~ 0.0014). Over seeds 0-7 at width 64 we measured
He ratios 0.36-1.7 and Keras ratios 0.0006-0.0023 (TensorFlow and JAX), hence the thresholds.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import keras_initpolicy as kip  # noqa: E402
from keras_initpolicy.analysis import backends  # noqa: E402
from keras_initpolicy.analysis.diagnose import (  # noqa: E402
    KERAS_RUN,
    DiagnoseReport,
    PlotUnavailableError,
    diagnose,
    plot,
)
from keras_initpolicy.cli import main  # noqa: E402

pytestmark = pytest.mark.keras

ROOT = Path(__file__).resolve().parents[2]
DEPTH, WIDTH = 20, 64
HE = "@seed 0\nDense[activation=relu] -> he_normal\n"
LAYER_KEYS = {
    "layer_path",
    "layer_class",
    "activation",
    "output_of",
    "activation_mean",
    "activation_std",
    "saturated_fraction",
    "dead_fraction",
    "gradient_std",
}

MODULE_SOURCE = f"""
import keras

def relu_mlp():
    model = keras.Sequential([keras.Input(({WIDTH},))])
    for _ in range({DEPTH}):
        model.add(keras.layers.Dense({WIDTH}, activation="relu"))
    return model

def conv_bn_relu():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="act")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))

def tanh_mlp():
    model = keras.Sequential([keras.Input((32,))])
    for _ in range(4):
        model.add(keras.layers.Dense(32, activation="tanh"))
    return model
"""


def relu_mlp():
    model = keras.Sequential([keras.Input((WIDTH,))])
    for _ in range(DEPTH):
        model.add(keras.layers.Dense(WIDTH, activation="relu"))
    return model


@pytest.fixture(scope="module")
def he_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("policies") / "he.initpolicy"
    path.write_text(HE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def report(he_file) -> DiagnoseReport:
    return diagnose(he_file, relu_mlp, compare="keras", batch=64, seed=0)


@pytest.fixture
def user_module(tmp_path, monkeypatch) -> str:
    (tmp_path / "diag_models.py").write_text(MODULE_SOURCE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("diag_models", None)
    return "diag_models"


# -- the He et al. result --------------------------------------------------------------------


def test_he_keeps_the_activation_scale(report):
    ratio = report.run("he").activation_std_ratio()
    assert 0.3 <= ratio <= 3, ratio


def test_keras_default_shrinks_the_activations(report):
    ratio = report.run(KERAS_RUN).activation_std_ratio()
    assert ratio < 0.02, ratio


def test_gradients_vanish_under_the_keras_default(report):
    he = np.median(report.run("he").column("gradient_std"))
    default = np.median(report.run(KERAS_RUN).column("gradient_std"))
    assert default < he / 1000


def test_layers_in_model_order_with_relu_statistics(report):
    run = report.run("he")
    assert len(run.layers) == DEPTH
    paths = [s.layer_path for s in run.layers]
    assert paths[0].endswith("dense") or paths[0].split("/")[-1].startswith("dense")
    assert all(s.activation == "relu" for s in run.layers)
    assert all(s.saturated_fraction is None for s in run.layers)
    assert all(0.0 <= s.dead_fraction <= 1.0 for s in run.layers)
    assert all(s.activation_mean > 0 for s in run.layers)  # ReLU outputs are non-negative


# -- JSON and text ------------------------------------------------------------------------------


def test_json_schema(report):
    data = json.loads(report.to_json())
    assert [r["name"] for r in data["runs"]] == ["he", "keras"]
    for run in data["runs"]:
        assert len(run["layers"]) == DEPTH
        for layer in run["layers"]:
            assert set(layer) == LAYER_KEYS
            assert isinstance(layer["activation_std"], float)
            assert isinstance(layer["gradient_std"], float)


def test_text_table_names_runs_and_layers(report):
    text = report.to_table()
    assert "run: he" in text and "run: keras" in text
    assert text.count("dead 0.") + text.count("dead 1.") == 2 * DEPTH
    assert report.run("he").layers[-1].layer_path in text


def test_compare_with_another_policy_names_both_runs(he_file, tmp_path):
    other = tmp_path / "lecun.initpolicy"
    other.write_text("@seed 1\nDense -> lecun_normal\n", encoding="utf-8")
    result = diagnose(he_file, relu_mlp, compare=other, batch=16)
    assert [r.name for r in result.runs] == ["he", "lecun"]
    same = diagnose(he_file, relu_mlp, compare=he_file, batch=16)
    assert [r.name for r in same.runs] == ["he", "he-2"]


# -- effective activation, saturation, given inputs ----------------------------------------------


def test_conv_bn_relu_reports_after_the_relu(user_module):
    module = importlib.import_module(user_module)
    policy = kip.parse("@seed 0\nConv2D[activation=relu] -> he_normal\n")
    run = diagnose(policy, module.conv_bn_relu, batch=8).runs[0]
    conv, head = run.layers
    assert conv.layer_class == "Conv2D" and conv.activation == "relu"
    assert conv.output_of.split("/")[-1] == "act"
    assert conv.activation_mean > 0 and conv.dead_fraction is not None
    assert head.activation == "linear" and head.output_of.split("/")[-1] == "head"
    assert head.saturated_fraction is None and head.dead_fraction is None


def test_wide_uniform_saturates_tanh(user_module):
    module = importlib.import_module(user_module)
    wide = kip.parse("@seed 0\nDense -> random_uniform(-2, 2)  # noqa: IP205\n", source="wide")
    result = diagnose(wide, module.tanh_mlp, compare="keras", batch=64)
    assert min(result.run("wide").column("saturated_fraction")) > 0.5
    assert max(result.run(KERAS_RUN).column("saturated_fraction")) < 0.05


def test_given_inputs_are_used():
    policy = kip.parse(HE)
    x = np.zeros((5, WIDTH), "float32")
    result = diagnose(policy, relu_mlp, inputs=x)
    assert result.batch == 5
    first = result.runs[0].layers[0]
    assert first.activation_std == 0.0  # zero input, zero bias


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.out = keras.layers.Dense(2)

    def call(self, x):  # no ``training`` argument
        return self.out(self.hidden(x))


def test_subclassed_model_reports_gradients_only():
    policy = kip.parse("@seed 0\nDense -> auto\n")
    run = diagnose(policy, _Subclassed, inputs=np.ones((4, 3), "float32")).runs[0]
    assert [s.activation for s in run.layers] == ["relu", "linear"]
    assert all(s.activation_std is None and s.gradient_std > 0 for s in run.layers)
    with pytest.raises(ValueError, match="inputs="):
        diagnose(policy, _Subclassed)


# -- the gradient adapter -------------------------------------------------------------------------


def test_gradients_match_finite_differences():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(3)]
    )
    x = np.random.default_rng(0).standard_normal((8, 5)).astype("float32")

    def loss_fn(outputs):
        return keras.ops.mean(keras.ops.square(outputs[0]))

    _, grads = backends.value_and_grads(model, x, loss_fn)
    assert list(grads) == [layer.path for layer in model.layers]
    kernel = model.layers[0].kernel
    w = keras.ops.convert_to_numpy(kernel).astype("float64")

    def loss_at(values):
        kernel.assign(values.astype("float32"))
        y = keras.ops.convert_to_numpy(model(x)).astype("float64")
        return np.mean(y**2)

    eps, numeric = 1e-3, np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        up, down = w.copy(), w.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (loss_at(up) - loss_at(down)) / (2 * eps)
    np.testing.assert_allclose(grads[model.layers[0].path], numeric, atol=1e-4)


# -- the plot ---------------------------------------------------------------------------------------


def test_plot_is_a_real_png(report, tmp_path):
    image = pytest.importorskip("matplotlib.image")
    out = plot(report, tmp_path / "diag.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    pixels = image.imread(out)
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 400
    assert pixels[..., :3].std() > 0.05  # not a blank canvas


def test_plot_without_matplotlib_says_how_to_install(report, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PlotUnavailableError, match=r"keras-initpolicy\[plot\]"):
        plot(report, tmp_path / "x.png")
    assert issubclass(PlotUnavailableError, RuntimeError)
    assert issubclass(PlotUnavailableError, kip.InitPolicyError)
    assert issubclass(backends.UnsupportedBackendError, kip.InitPolicyError)


# -- the command line -------------------------------------------------------------------------------


def test_cli_json_and_plot(user_module, he_file, tmp_path, capsys):
    png = tmp_path / "cli.png"
    argv = ["diagnose", str(he_file), "--model", f"{user_module}:relu_mlp"]
    argv += ["--compare", "keras", "--format", "json", "--plot", str(png), "--batch", "16"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in data["runs"]] == ["he", "keras"]
    assert data["batch"] == 16
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_text_with_inputs_file(user_module, he_file, tmp_path, capsys):
    inputs = tmp_path / "batch.npy"
    np.save(inputs, np.ones((3, WIDTH), "float32"))
    argv = ["diagnose", str(he_file), "--model", f"{user_module}:relu_mlp"]
    assert main([*argv, "--inputs", str(inputs)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("run: he") and "keras" not in out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "diag_models:missing"], "no function"),
        (["--model", "no_colon"], "MODULE:FUNCTION"),
        (["--model", "diag_models:relu_mlp", "--compare", "nope.initpolicy"], "no such policy"),
        (["--model", "diag_models:relu_mlp", "--inputs", "nope.npy"], "cannot read --inputs"),
        (["--model", "diag_models:relu_mlp", "--batch", "0"], "--batch"),
        (["--model", "diag_models:relu_mlp", "--calibrate", "x"], "unsupported calibration"),
    ],
    ids=[
        "missing-function",
        "bad-spec",
        "missing-compare",
        "missing-inputs",
        "bad-batch",
        "bad-calibration",
    ],
)
def test_cli_usage_errors(user_module, he_file, capsys, extra, message):
    assert main(["diagnose", str(he_file), *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_missing_policy(user_module, capsys):
    assert main(["diagnose", "missing.initpolicy", "--model", "diag_models:relu_mlp"]) == 2
    assert "no such policy file" in capsys.readouterr().err


# -- the examples (smoke) ---------------------------------------------------------------------------


def _example(name: str):
    path = ROOT / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_he2015_example_quick(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path / "he.png"
    results = _example("he2015_depth30").main(["--quick", "--out", str(out)])
    assert set(results) == {"keras", "he", "auto"}
    assert all(len(r["loss"]) == 1 for r in results.values())
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "keras loss" in capsys.readouterr().out


def test_glorot2010_example_quick(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "glorot.png"
    reports = _example("glorot2010_saturation").main(["--quick", "--out", str(out)])
    assert set(reports) == {"tanh", "sigmoid"}
    tanh = reports["tanh"]
    assert [r.name for r in tanh.runs] == ["wide", "glorot", "keras"]
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "wide sat" in capsys.readouterr().out
