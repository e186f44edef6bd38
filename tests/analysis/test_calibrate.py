"""``kip.calibrate`` (LSUV, docs/lsuv.md): variance within tolerance, measured independently of the
report; every kernel layer type; only kernels written; one forward pass per rescaling; data
forms; clear errors; the report's formats; ``diagnose --calibrate``."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import keras_initpolicy as kip  # noqa: E402
from keras_initpolicy.analysis.calibrate import CalibrationError, calibrate  # noqa: E402
from keras_initpolicy.analysis.diagnose import diagnose  # noqa: E402
from keras_initpolicy.cli import main  # noqa: E402

pytestmark = pytest.mark.keras

TOL = 0.1
RNG = np.random.default_rng(0)
X16 = RNG.normal(size=(64, 16)).astype("float32")


class NumpyNormal(keras.initializers.Initializer):
    """N(0, stddev) kernels drawn by NumPy: JAX compiles its random ops once per shape, which
    would make building these small models most of the test's time."""

    rng = np.random.default_rng(0)

    def __init__(self, stddev=0.5):
        self.stddev = stddev

    def __call__(self, shape, dtype=None):
        return self.rng.normal(0.0, self.stddev, size=shape).astype("float32")

    def get_config(self):
        return {"stddev": self.stddev}


K = {"kernel_initializer": NumpyNormal()}
KB = {**K, "bias_initializer": NumpyNormal(0.3)}
DW = {"depthwise_initializer": NumpyNormal()}
SEP = {**DW, "pointwise_initializer": NumpyNormal()}


def _seeded(fn):
    keras.utils.set_random_seed(0)
    NumpyNormal.rng = np.random.default_rng(0)
    return fn()


def _np(value):
    return np.asarray(keras.ops.convert_to_numpy(value))


# -- independent oracle: a NumPy forward pass through Dense layers --------------------------------

ACTS = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "linear": lambda z: z}


def _numpy_preactivation_variances(dense_layers, x):
    h, out = x.astype("float64"), []
    for layer in dense_layers:
        z = h @ _np(layer.kernel) + _np(layer.bias)
        out.append(float(np.var(z)))
        h = ACTS[layer.activation.__name__](z)
    return out


def _dense_stack(activation):
    return [keras.layers.Dense(24, activation=activation, **KB) for _ in range(6)]


def _sequential(activation):
    return keras.Sequential([keras.Input((16,)), *_dense_stack(activation)])


def _functional(activation):
    inputs = keras.Input((16,))
    h = inputs
    for layer in _dense_stack(activation):
        h = layer(h)
    return keras.Model(inputs, h)


class Stack(keras.Model):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.stack = _dense_stack(activation)

    def call(self, x):
        for layer in self.stack:
            x = layer(x)
        return x


def _subclassed(activation):
    model = Stack(activation)
    model(X16[:2])
    return model


KINDS = {"sequential": _sequential, "functional": _functional, "subclassed": _subclassed}


def _dense_layers(model):
    return [
        lyr for lyr in model._flatten_layers(include_self=False) if type(lyr).__name__ == "Dense"
    ]


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_layer_ends_within_tol_of_target_by_an_independent_measure(kind, activation):
    model = _seeded(lambda: KINDS[kind](activation))
    dense = _dense_layers(model)
    assert len(dense) == 6
    before = _numpy_preactivation_variances(dense, X16)
    assert any(abs(v - 1.0) > TOL for v in before)  # the test has something to fix
    report = calibrate(model, X16)
    after = _numpy_preactivation_variances(dense, X16)
    assert all(abs(v - 1.0) <= TOL for v in after), after
    assert report.converged and len(report) == 6
    assert [r.variance_after for r in report] == pytest.approx(after, rel=1e-3)
    assert [r.variance_before for r in report] == pytest.approx(before, rel=1e-3)


def test_target_other_than_one():
    model = _seeded(lambda: _sequential("tanh"))
    calibrate(model, X16, target=0.25, tol=0.02)
    after = _numpy_preactivation_variances(_dense_layers(model), X16)
    assert all(abs(v - 0.25) <= 0.02 for v in after), after


# -- every kernel layer type -----------------------------------------------------------------------

L = keras.layers
LAYERS = {
    "Dense": ((6,), lambda: L.Dense(5, activation="relu", **K), "kernel"),
    "Conv1D": ((8, 3), lambda: L.Conv1D(4, 3, activation="relu", **K), "kernel"),
    "Conv2D": ((6, 6, 3), lambda: L.Conv2D(4, 3, activation="tanh", **K), "kernel"),
    "Conv3D": ((4, 4, 4, 2), lambda: L.Conv3D(3, 2, activation="relu", **K), "kernel"),
    "DepthwiseConv1D": ((8, 3), lambda: L.DepthwiseConv1D(3, activation="relu", **DW), "kernel"),
    "DepthwiseConv2D": ((6, 6, 3), lambda: L.DepthwiseConv2D(3, activation="relu", **DW), "kernel"),
    "SeparableConv1D": ((8, 3), lambda: L.SeparableConv1D(4, 3, **SEP), "pointwise_kernel"),
    "SeparableConv2D": ((6, 6, 3), lambda: L.SeparableConv2D(4, 3, **SEP), "pointwise_kernel"),
    "Conv1DTranspose": ((5, 3), lambda: L.Conv1DTranspose(4, 3, activation="relu", **K), "kernel"),
    "Conv2DTranspose": ((4, 4, 3), lambda: L.Conv2DTranspose(4, 3, **K), "kernel"),
    "Conv3DTranspose": ((3, 3, 3, 2), lambda: L.Conv3DTranspose(2, 2, **K), "kernel"),
    "EinsumDense": (
        (4, 6),
        lambda: L.EinsumDense("abc,cd->abd", (4, 5), activation="relu", **K),
        "kernel",
    ),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_kernel_layer_type(name):
    shape, make, weight = LAYERS[name]

    def build():
        inputs = keras.Input(shape)
        layer = make()
        return keras.Model(inputs, layer(inputs)), layer

    model, layer = _seeded(build)
    x = RNG.normal(size=(16, *shape)).astype("float32")
    report = calibrate(model, x)
    assert [(r.layer_class, r.weight) for r in report] == [(name, weight)]
    assert report.converged
    # Independently: the layer's output with its activation made linear, on the same batch.
    activation = layer.activation
    layer.activation = keras.activations.linear
    try:
        pre = _np(layer(x))
    finally:
        layer.activation = activation
    assert abs(float(np.var(pre)) - 1.0) <= TOL


def test_multi_head_attention_projections_in_call_order():
    def build():
        inputs = keras.Input((5, 8))
        mha = L.MultiHeadAttention(num_heads=2, key_dim=4, **K)
        return keras.Model(inputs, mha(inputs, inputs)), mha

    model, mha = _seeded(build)
    x = RNG.normal(size=(8, 5, 8)).astype("float32")
    report = calibrate(model, x)
    assert [r.layer_path.split("/")[-1] for r in report] == [
        "query",
        "key",
        "value",
        "attention_output",
    ]
    assert report.converged
    assert abs(float(np.var(_np(mha.query_dense(x)))) - 1.0) <= TOL
    assert abs(float(np.var(_np(model(x)))) - 1.0) <= TOL


class CustomKernel(keras.layers.Layer):
    """A user's layer: a ``kernel`` weight, and an ``activation`` attribute its call ignores."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get("tanh")  # kept for its config only

    def build(self, shape):
        self.kernel = self.add_weight(
            shape=(shape[-1], self.units), initializer=NumpyNormal(), name="kernel"
        )

    def call(self, x):
        return keras.ops.matmul(x, self.kernel)


def test_custom_layer_with_a_kernel_is_measured_at_its_output():
    def build():
        inputs = keras.Input((16,))
        layer = CustomKernel(6)
        return keras.Model(inputs, L.Dense(3, **K)(layer(inputs))), layer

    model, layer = _seeded(build)
    report = calibrate(model, X16)
    assert [r.layer_class for r in report] == ["CustomKernel", "Dense"] and report.converged
    assert abs(float(np.var(X16 @ _np(layer.kernel))) - 1.0) <= TOL


# -- only kernels are written ------------------------------------------------------------------------


def _guarded_model():
    inputs = keras.Input((16,))
    h = L.Dense(12, activation="relu", name="first", **KB)(inputs)
    h = L.BatchNormalization()(h)
    frozen = L.Dense(12, activation="tanh", name="frozen", **KB)
    frozen.trainable = False
    h = frozen(h)
    h = L.Dropout(0.5)(h)
    h = L.LayerNormalization()(h)
    h = L.Conv1D(4, 3, padding="same", name="last", **K)(L.Reshape((3, 4))(h))
    return keras.Model(inputs, h)


def test_biases_normalization_and_non_trainable_state_are_untouched_bitwise():
    model = _seeded(_guarded_model)
    bn = model.get_layer(index=2)
    bn.moving_mean.assign(np.full((12,), 0.3, "float32"))
    bn.moving_variance.assign(np.full((12,), 2.0, "float32"))
    before = {v.path: _np(v).copy() for v in model.weights}
    (dropout,) = [lyr for lyr in model.layers if isinstance(lyr, L.Dropout)]
    seed_state = _np(dropout.seed_generator.state).copy()
    report = calibrate(model, X16)
    np.testing.assert_array_equal(_np(dropout.seed_generator.state), seed_state)
    scaled = {r.layer_path: r for r in report}
    assert sorted(scaled) == ["first", "last"]  # the frozen Dense is not calibrated
    assert all(r.iterations >= 1 and r.scale != 1.0 for r in report)
    for v in model.weights:
        layer_path, _, name = v.path.rpartition("/")
        if name == "kernel" and layer_path in scaled:
            expected = before[v.path] * scaled[layer_path].scale
            np.testing.assert_allclose(_np(v), expected, rtol=1e-5)
        else:
            assert np.array_equal(_np(v), before[v.path]), v.path


def test_layer_state_restored_even_when_the_forward_pass_fails():
    model = _seeded(lambda: _sequential("tanh"))
    activations = [lyr.__dict__["activation"] for lyr in _dense_layers(model)]
    with pytest.raises(CalibrationError, match=r"calling model .* failed .*\(7, 5\)"):
        calibrate(model, np.ones((7, 5), "float32"))
    assert [lyr.__dict__["activation"] for lyr in _dense_layers(model)] == activations
    assert all("call" not in lyr.__dict__ for lyr in _dense_layers(model))


# -- cost: one forward pass per rescaling, no sub-model -----------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_one_forward_pass_per_iteration(kind):
    model = _seeded(lambda: KINDS[kind]("tanh"))
    first = _dense_layers(model)[0]
    counts = {"model": 0, "first": 0}
    model_call, first_call = model.call, first.call

    def counting_model(*args, **kwargs):
        counts["model"] += 1
        return model_call(*args, **kwargs)

    def counting_first(*args, **kwargs):
        counts["first"] += 1
        return first_call(*args, **kwargs)

    object.__setattr__(model, "call", counting_model)
    object.__setattr__(first, "call", counting_first)
    report = calibrate(model, X16, max_iter=4)
    iterations = sum(r.iterations for r in report)
    assert report.forward_passes == 1 + iterations
    # A sub-model per layer would run the first layer without running the model.
    assert counts == {"model": report.forward_passes, "first": report.forward_passes}
    assert report.forward_passes <= 1 + 4 * len(report)


def test_zero_bias_layers_converge_in_one_rescaling():
    def build():
        return keras.Sequential(
            [keras.Input((16,)), *[L.Dense(24, activation="tanh", **K) for _ in range(5)]]
        )

    report = calibrate(_seeded(build), X16)
    assert [r.iterations for r in report] == [1] * 5
    assert report.forward_passes == 6


# -- options -----------------------------------------------------------------------------------------


def test_orthonormal_start_is_deterministic_given_seed():
    kernels = []
    for build_seed in (1, 2):  # different starting weights, same calibration seed
        keras.utils.set_random_seed(build_seed)
        model = keras.Sequential([keras.Input((16,)), L.Dense(24), L.Dense(8)])
        report = calibrate(model, X16, orthonormal=True, seed=7)
        assert report.orthonormal and report.forward_passes == 2 + sum(r.iterations for r in report)
        kernels.append([_np(lyr.kernel) for lyr in model.layers])
        w = kernels[-1][1] / report.layers[1].scale  # the orthonormal start of the 24x8 kernel
        np.testing.assert_allclose(w.T @ w, np.eye(8), atol=1e-5)
    for a, b in zip(*kernels, strict=True):
        np.testing.assert_array_equal(a, b)


def test_max_iter_reached_is_reported_not_converged():
    def build():
        return keras.Sequential(
            [
                keras.Input((16,)),
                L.Dense(8, kernel_initializer=NumpyNormal(), bias_initializer=NumpyNormal(0.9)),
            ]
        )

    report = calibrate(_seeded(build), X16, max_iter=1, tol=0.01)
    (row,) = report.layers
    assert row.iterations == 1 and not row.converged and not report.converged
    assert "max_iter=1" in row.note


@pytest.mark.parametrize(
    ("fill", "note"), [(0.0, "variance 0 cannot be rescaled"), (np.nan, "variance nan cannot")]
)
def test_a_variance_that_cannot_be_rescaled_is_reported(fill, note):
    model = _seeded(lambda: keras.Sequential([keras.Input((16,)), L.Dense(8, **K)]))
    kernel = _np(model.layers[0].kernel).copy()
    report = calibrate(model, np.full((4, 16), fill, "float32"))
    (row,) = report.layers
    assert not row.converged and row.note.startswith(note) and row.iterations == 0
    np.testing.assert_array_equal(_np(model.layers[0].kernel), kernel)


def test_a_kernel_layer_the_forward_pass_never_reaches_is_reported():
    class Unused(keras.Model):
        def __init__(self):
            super().__init__()
            self.used = L.Dense(4, **K)
            self.spare = L.Dense(4, **K)

        def call(self, x):
            return self.used(x)

    model = Unused()
    model.spare.build((None, 16))
    model(X16[:2])
    report = calibrate(model, X16)
    used, spare = report.layers
    assert report[used.layer_path] is used and used.converged
    assert not spare.converged and spare.note == "not called by the forward pass"


def test_rows_follow_the_forward_order_not_the_construction_order():
    class Reversed(keras.Model):
        def __init__(self):
            super().__init__()
            self.second = L.Dense(4, name="second", **K)
            self.first = L.Dense(8, name="first", **K)

        def call(self, x):
            return self.second(self.first(x))

    model = Reversed()
    model(X16[:2])
    assert [r.layer_path for r in calibrate(model, X16)][:2] == [
        "reversed/first",
        "reversed/second",
    ]


# -- data forms ---------------------------------------------------------------------------------------


def _two_inputs():
    a, b = keras.Input((6,), name="a"), keras.Input((4,), name="b")
    h = L.Concatenate()([L.Dense(5, name="da", **K)(a), L.Dense(5, name="db", **K)(b)])
    return keras.Model([a, b], L.Dense(3, name="head", **K)(h))


XA = RNG.normal(size=(32, 6)).astype("float32")
XB = RNG.normal(size=(32, 4)).astype("float32") * 3.0
Y = np.zeros((32, 3), "float32")


def _generator():
    yield (XA, XB), Y
    raise AssertionError("calibrate reads the first batch only")


class Batches(keras.utils.PyDataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (XA, XB), Y


DATA_FORMS = {
    "tuple": lambda: (XA, XB),
    "list": lambda: [XA, XB],
    "dict": lambda: {"a": XA, "b": XB},
    "generator of (x, y)": _generator,
    "iterator of dicts": lambda: iter([{"a": XA, "b": XB}] * 3),
    "PyDataset": Batches,
    "tf.data": lambda: (
        pytest.importorskip("tensorflow").data.Dataset.from_tensor_slices(((XA, XB), Y)).batch(32)
    ),
}


@pytest.mark.parametrize("form", sorted(DATA_FORMS))
def test_data_forms(form):
    model = _seeded(_two_inputs)
    report = calibrate(model, DATA_FORMS[form]())
    assert report.batch == 32 and report.converged
    assert [r.layer_path for r in report] == ["da", "db", "head"]
    pre = _np(XB @ _np(model.get_layer("db").kernel) + _np(model.get_layer("db").bias))
    assert abs(float(np.var(pre)) - 1.0) <= TOL


def test_array_from_another_backend_and_single_input_dataset_batches():
    model = _seeded(lambda: _sequential("tanh"))
    assert calibrate(model, iter([(X16, np.zeros(64))])).converged


# -- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"method": "lsvu"}, r"unsupported calibration method 'lsvu'; supported: lsuv; did you"),
        ({"target": 0}, r"`target` must be positive; received target=0"),
        ({"tol": -1.0}, r"`tol` must be positive"),
        ({"target": "1"}, r"`target` must be a number"),
        ({"max_iter": 0}, r"`max_iter` must be an integer >= 1; received max_iter=0"),
        ({"seed": 1.5}, r"`seed` must be an integer or None"),
    ],
    ids=["method", "target", "tol", "target-type", "max_iter", "seed"],
)
def test_bad_arguments(kwargs, pattern):
    model = _seeded(lambda: _sequential("tanh"))
    with pytest.raises(CalibrationError, match=pattern):
        calibrate(model, X16, **kwargs)


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (None, "received None"),
        (np.zeros((0, 16), "float32"), r"the batch is empty \(shape \(0, 16\)\)"),
        ([], "received an empty list"),
        (iter(()), "yielded no batch"),
        ("x.npy", "received a str"),
        (3.0, "received a float"),
    ],
    ids=["none", "empty-array", "empty-list", "empty-iterator", "string", "scalar"],
)
def test_bad_data(data, pattern):
    model = _seeded(lambda: _sequential("tanh"))
    with pytest.raises(CalibrationError, match=pattern) as info:
        calibrate(model, data)
    assert "Pass an array" in str(info.value)


def test_unbuilt_model_and_model_without_kernels():
    unbuilt = keras.Sequential([L.Dense(4)])
    with pytest.raises(CalibrationError, match=r"is not built.*model.build\(input_shape\)"):
        calibrate(unbuilt, X16)
    plain = keras.Sequential([keras.Input((16,)), L.BatchNormalization()])
    with pytest.raises(CalibrationError, match="no layer with a trainable kernel"):
        calibrate(plain, X16)
    with pytest.raises(CalibrationError, match="needs a Keras model; received a str"):
        calibrate("model.keras", X16)
    assert issubclass(CalibrationError, ValueError)
    assert CalibrationError is kip.CalibrationError
    assert issubclass(CalibrationError, kip.InitPolicyError)


# -- the report --------------------------------------------------------------------------------------


def test_report_formats():
    model = _seeded(lambda: _sequential("relu"))
    report = kip.calibrate(model, X16)
    assert isinstance(report, kip.CalibrationReport)
    data = json.loads(report.to_json())
    assert data["converged"] is True and data["forward_passes"] == report.forward_passes
    assert len(data["layers"]) == 6 and set(data["layers"][0]) == {
        "layer_path",
        "layer_class",
        "weight",
        "variance_before",
        "variance_after",
        "iterations",
        "scale",
        "converged",
        "note",
    }
    text = str(report)
    assert text.splitlines()[0] == report.summary() and "6/6 layers" in text
    assert text.splitlines()[1].split()[:3] == ["#", "layer", "class"]
    assert len(text.splitlines()) == 8
    html = report._repr_html_()
    assert html.startswith('<table class="keras-initpolicy"><caption>lsuv: 6/6')
    assert html.count("<tr>") == 7
    first = report.layers[0].layer_path
    assert report[first] is report.layers[0]
    with pytest.raises(KeyError, match="no calibrated layer 'nope'"):
        report["nope"]


# -- diagnose --calibrate ------------------------------------------------------------------------------

MODULE = """
import keras

def tanh_mlp():
    model = keras.Sequential([keras.Input((16,))])
    for _ in range(5):
        model.add(keras.layers.Dense(32))
    return model
"""


def test_diagnose_adds_the_calibrated_run_after_the_policy_run(tmp_path, monkeypatch, capsys):
    (tmp_path / "cal_models.py").write_text(MODULE, encoding="utf-8")
    policy = tmp_path / "small.initpolicy"
    policy.write_text("@seed 0\nDense -> glorot_normal\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("cal_models", None)
    code = main(
        [
            "diagnose",
            str(policy),
            "--model",
            "cal_models:tanh_mlp",
            "--compare",
            "keras",
            "--calibrate",
            "lsuv",
            "--batch",
            "64",
            "--format",
            "json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in data["runs"]] == ["small", "small+lsuv", "keras"]
    calibrated = [s["activation_std"] for s in data["runs"][1]["layers"]]
    assert all(abs(s**2 - 1.0) <= TOL for s in calibrated), calibrated  # linear: output = pre-act
    plain = [s["activation_std"] for s in data["runs"][0]["layers"]]
    assert any(abs(s**2 - 1.0) > TOL for s in plain)
    assert data["calibration"]["converged"] is True
    report = diagnose(str(policy), sys.modules["cal_models"].tanh_mlp, calibrate="lsuv")
    assert "calibration: lsuv: 5/5 layers" in report.to_table()
    with pytest.raises(CalibrationError, match="unsupported calibration method 'x'"):
        diagnose(str(policy), sys.modules["cal_models"].tanh_mlp, calibrate="x")


# -- the example (smoke) -------------------------------------------------------------------------------


def test_lsuv_depth50_example_quick(capsys):
    pytest.importorskip("sklearn")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "lsuv_depth50.py"
    spec = importlib.util.spec_from_file_location("_example_lsuv_depth50", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--quick", "--depth", "6", "--width", "16", "--calibration-batch", "64"]
    results = module.main(argv)
    assert len(results) == 6
    for activation in ("relu", "tanh"):
        calibrated = results[(activation, "policy+lsuv")]
        assert all(0.9 <= v <= 1.1 for v in calibrated["variance_after"])
        assert calibrated["report"].converged and len(calibrated["report"]) == 7
    assert "| 6× tanh | policy+lsuv |" in capsys.readouterr().out
