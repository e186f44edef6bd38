"""The layer catalogue: its API, that it needs no Keras, and that the committed JSON is fresh."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from keras_initpolicy.catalog import layers as lc

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tools" / "gen_layer_catalog.py"


@pytest.fixture(autouse=True)
def _no_custom_layers():
    lc.clear_custom()
    yield
    lc.clear_custom()


def test_json_ships_in_package_with_keras_version_and_sorted_keys():
    text = (
        resources.files("keras_initpolicy.catalog.data").joinpath("keras_layers.json").read_text()
    )
    data = json.loads(text)
    assert data["keras_version"] == lc.keras_version()
    assert list(data["classes"]) == sorted(data["classes"])
    assert text == json.dumps(data, indent=1, sort_keys=True) + "\n"
    assert "/work/" not in text and "site-packages" not in text


def test_mro_walks_all_bases_without_backend_classes():
    assert lc.mro("Conv2D")[:3] == ("Conv2D", "BaseConv", "Layer")
    assert "Operation" in lc.mro("Conv2D")
    assert lc.mro("Sequential")[:2] == ("Sequential", "Model")
    assert not any(n.startswith(("TF", "Jax", "Torch")) for n in lc.mro("Dense"))
    assert lc.mro("NoSuchLayer") == ()


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        ("Dense", {"kernel": (True, 2), "bias": (True, 1)}),
        ("Conv2D", {"kernel": (True, 4), "bias": (True, 1)}),
        ("LSTM", {"kernel": (True, 2), "recurrent_kernel": (True, 2), "bias": (True, 1)}),
        ("MultiHeadAttention", {"kernel": (True, 3), "bias": (True, 2)}),
        ("Embedding", {"embeddings": (True, 2)}),
        ("PReLU", {"alpha": (True, 1)}),
        (
            "BatchNormalization",
            {
                "gamma": (True, 1),
                "beta": (True, 1),
                "moving_mean": (False, 1),
                "moving_variance": (False, 1),
            },
        ),
        (
            "SeparableConv2D",
            {"depthwise_kernel": (True, 4), "pointwise_kernel": (True, 4), "bias": (True, 1)},
        ),
        ("Bidirectional", {"kernel": (True, 2), "recurrent_kernel": (True, 2), "bias": (True, 1)}),
        ("Dropout", {}),
    ],
)
def test_weights_include_sublayers(cls, expected):
    assert lc.weights(cls) == expected


def test_weight_entries_name_the_owner_and_every_rank():
    owners = {w.owner for w in lc.weight_entries("LSTM")}
    assert owners == {"LSTMCell"}
    assert lc.weight_ranks("MultiHeadAttention", "bias") == {1, 2}


def test_attributes_are_config_keys_plus_name_path_activation():
    attrs = lc.attributes("Conv2D")
    assert {"filters", "kernel_size", "groups", "use_bias", "name", "path", "activation"} <= attrs
    assert "activation" in lc.attributes("BatchNormalization")
    assert lc.attribute_kinds("Dense")["units"] == "int"
    assert lc.attribute_kinds("Conv2D")["kernel_size"] == "tuple"
    assert lc.has_activation("Dense") and not lc.has_activation("BatchNormalization")


def test_builtin_names_aliases_and_suggestions():
    assert lc.is_builtin("Dense") and lc.is_builtin("BaseConv") and lc.is_builtin("Model")
    assert lc.is_builtin("Convolution2D") and lc.canonical_class("Convolution2D") == "Conv2D"
    assert not lc.is_builtin("MyLayer")
    assert "Dense" in lc.class_names() and "Functional" in lc.class_names()
    assert lc.closest_classes("Dens")[0] == "Dense"
    assert lc.closest_classes("conv2d")[0] == "Conv2D"


def test_subclasses_follow_the_mro():
    assert set(lc.subclasses_of("BaseConv")) >= {"Conv1D", "Conv2D", "Conv3D"}
    assert "Dense" in lc.subclasses_of("Layer")
    assert "Conv2D" in lc.subclasses_of("Convolution2D")
    assert set(lc.subclasses_of("*")) >= {"Dense", "Layer"}


def test_activations_cover_keras_names():
    names = set(lc.activations())
    assert {
        "relu",
        "leaky_relu",
        "tanh",
        "sigmoid",
        "gelu",
        "silu",
        "swish",
        "selu",
        "elu",
        "softmax",
        "linear",
        "relu6",
        "hard_sigmoid",
        "softplus",
        "softsign",
        "mish",
        "exponential",
        "log_softmax",
    } <= names
    assert lc.canonical_activation("swish") == "silu"
    assert lc.canonical_activation("rleu") is None
    assert lc.closest_activations("rleu")[0] == "relu"


def test_add_custom_joins_the_catalogue():
    lc.add_custom(
        "MyDense",
        mro=("MyDense", "Dense", "Layer"),
        weights=[("w", True, 2)],
        attributes={"width": "int"},
        weights_known=True,
    )
    assert lc.is_known("MyDense") and not lc.is_builtin("MyDense")
    assert "MyDense" in lc.subclasses_of("Dense")
    assert lc.weights("MyDense") == {"w": (True, 2)}
    assert "width" in lc.attributes("MyDense")
    lc.clear_custom()
    assert not lc.is_known("MyDense") and "MyDense" not in lc.subclasses_of("Dense")


def test_catalogue_does_not_import_keras():
    code = (
        "import sys\n"
        "from keras_initpolicy.catalog import layers as lc\n"
        "lc.weights('LSTM'); lc.subclasses_of('Layer'); lc.closest_classes('Dens')\n"
        "bad = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.keras
def test_register_from_classes_introspects_custom_layers():
    keras = pytest.importorskip("keras")

    class ScaledDense(keras.layers.Dense):
        def __init__(self, units, scale=1.0, **kwargs):
            super().__init__(units, **kwargs)
            self.scale = scale

    assert lc.register_from_classes([ScaledDense]) == ["ScaledDense"]
    assert lc.mro("ScaledDense")[:3] == ("ScaledDense", "Dense", "Layer")
    assert {"scale", "units"} <= lc.attributes("ScaledDense")
    assert lc.is_open("ScaledDense")  # its weights are known only once built
    with pytest.raises(TypeError):
        lc.register_from_classes(["not a class"])


@pytest.mark.keras
@pytest.mark.slow
def test_committed_catalogue_matches_installed_keras():
    """Fails when keras_layers.json is stale: regenerate with tools/gen_layer_catalog.py."""
    pytest.importorskip("keras")
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
