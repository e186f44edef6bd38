"""Layer-aware fans (docs/reference.md#fans): each special case, the shape-rule fallback, and
real layers."""

from __future__ import annotations

import pytest

from keras_initpolicy.catalog.fans import einsum_fans, fan_attributes, layer_fans, shape_fans

SHAPES = [(), (7,), (256, 512), (5, 16, 32), (3, 3, 64, 128), (2, 3, 3, 8, 4)]


@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
def test_shape_rule_matches_keras(shape):
    compute_fans = pytest.importorskip("keras.src.initializers.random_initializers").compute_fans
    assert shape_fans(shape) == compute_fans(shape)


@pytest.mark.parametrize(
    "classes,config,weight,shape,expected",
    [
        # dense / plain conv: the shape rule
        (("Dense", "Layer"), {"units": 512}, "kernel", (256, 512), (256, 512)),
        (("Conv2D", "BaseConv"), {"groups": 1}, "kernel", (3, 3, 64, 128), (576, 1152)),
        # depthwise: per-channel receptive field
        (("DepthwiseConv2D", "BaseDepthwiseConv"), {}, "depthwise_kernel", (3, 3, 64, 1), (9, 9)),
        (("DepthwiseConv2D", "BaseDepthwiseConv"), {}, "depthwise_kernel", (3, 3, 64, 4), (9, 36)),
        (("DepthwiseConv1D", "BaseDepthwiseConv"), {}, "depthwise_kernel", (5, 16, 2), (5, 10)),
        (("DepthwiseConv2D", "BaseDepthwiseConv"), {}, "kernel", (3, 3, 64, 1), (9, 9)),
        (("SeparableConv2D", "BaseSeparableConv"), {}, "depthwise_kernel", (3, 3, 4, 2), (9, 18)),
        # a separable conv's pointwise kernel is an ordinary 1x1 conv
        (("SeparableConv2D", "BaseSeparableConv"), {}, "pointwise_kernel", (1, 1, 8, 8), (8, 8)),
        # grouped: one group
        (("Conv2D", "BaseConv"), {"groups": 4}, "kernel", (3, 3, 4, 64), (36, 144)),
        (("Conv1D", "BaseConv"), {"groups": 2}, "kernel", (3, 8, 16), (24, 24)),
        # transposed: kernel (..., out, in)
        (("Conv2DTranspose", "BaseConvTranspose"), {}, "kernel", (3, 3, 8, 4), (36, 72)),
        (("Conv1DTranspose", "BaseConvTranspose"), {}, "kernel", (5, 6, 2), (10, 30)),
        # EinsumDense: MHA query / output projections and a plain dense equation
        (("EinsumDense",), {"equation": "abc,cde->abde"}, "kernel", (32, 4, 16), (32, 64)),
        (("EinsumDense",), {"equation": "abcd,cde->abe"}, "kernel", (4, 16, 32), (64, 32)),
        (("EinsumDense",), {"equation": "ab,bc->ac"}, "kernel", (10, 20), (10, 20)),
        (("EinsumDense",), {"equation": "...b,bc->...c"}, "kernel", (8, 3), (8, 3)),
        # malformed equation: fall back to the shape rule
        (("EinsumDense",), {"equation": "ab,bcd->acd"}, "kernel", (10, 20), (10, 20)),
        (("EinsumDense",), {}, "kernel", (4, 16, 32), (64, 128)),
        # biases and other weights: shape rule
        (("Conv2D", "BaseConv"), {"groups": 4}, "bias", (64,), (64, 64)),
        (("EinsumDense",), {"equation": "abc,cde->abde"}, "bias", (4, 16), (4, 16)),
        (("LSTM", "RNN"), {}, "recurrent_kernel", (32, 128), (32, 128)),
        # a user's subclass is recognised through its MRO
        (("MyDepthwise", "DepthwiseConv2D", "BaseDepthwiseConv"), {}, "depthwise_kernel",
         (3, 3, 8, 1), (9, 9)),
    ],
    ids=[
        "dense", "conv2d", "depthwise-dm1", "depthwise-dm4", "depthwise1d", "depthwise-keras3-kernel", "separable-depthwise",
        "separable-pointwise", "grouped-conv2d", "grouped-conv1d", "conv2d-transpose",
        "conv1d-transpose", "mha-query", "mha-output", "einsum-dense", "einsum-ellipsis",
        "einsum-mismatch", "einsum-no-equation", "grouped-bias", "einsum-bias",
        "lstm-recurrent", "subclass-mro",
    ],
)  # fmt: skip
def test_layer_fans(classes, config, weight, shape, expected):
    assert layer_fans(classes, config, weight, shape) == expected
    assert layer_fans(classes, config, weight, shape, mode="shape") == shape_fans(shape)


def test_bad_mode():
    with pytest.raises(ValueError, match="Received: mode='kernel'"):
        layer_fans(("Dense",), {}, "kernel", (2, 3), mode="kernel")


def test_einsum_fans_rejects_nonsense():
    assert einsum_fans("not an equation", (2, 3)) is None
    assert einsum_fans("a,b,c->a", (2,)) is None
    assert einsum_fans("ab,bb->ab", (2, 2)) is None


def _mro(layer):
    return tuple(c.__name__ for c in type(layer).__mro__)


@pytest.mark.parametrize(
    "make,input_shape,weight,expected",
    [
        (lambda k: k.layers.DepthwiseConv2D(3, depth_multiplier=2), (None, 8, 8, 16),
         "kernel", (9, 18)),
        (lambda k: k.layers.DepthwiseConv1D(5), (None, 8, 6), "kernel", (5, 5)),
        (lambda k: k.layers.SeparableConv2D(8, 3), (None, 8, 8, 4), "depthwise_kernel", (9, 9)),
        (lambda k: k.layers.Conv2D(64, 3, groups=4), (None, 8, 8, 16), "kernel", (36, 144)),
        (lambda k: k.layers.Conv2DTranspose(8, 3), (None, 5, 5, 4), "kernel", (36, 72)),
        (lambda k: k.layers.EinsumDense("abc,cde->abde", (None, 4, 16)), (None, 3, 32),
         "kernel", (32, 64)),
        (lambda k: k.layers.Dense(512), (None, 256), "kernel", (256, 512)),
    ],
    ids=["depthwise2d", "depthwise1d", "separable", "grouped", "transpose", "einsum", "dense"],
)  # fmt: skip
def test_real_keras_layers(make, input_shape, weight, expected):
    keras = pytest.importorskip("keras")
    layer = make(keras)
    layer.build(input_shape)
    variable = getattr(layer, weight)
    fans = layer_fans(_mro(layer), layer.get_config(), weight, tuple(variable.shape))
    assert fans == expected


def test_real_multi_head_attention_projections():
    keras = pytest.importorskip("keras")
    mha = keras.layers.MultiHeadAttention(num_heads=4, key_dim=16)
    mha.build((None, 3, 32), (None, 3, 32))
    found = {}
    for name in ("_query_dense", "_key_dense", "_value_dense", "_output_dense"):
        sub = getattr(mha, name)
        found[name] = layer_fans(_mro(sub), sub.get_config(), "kernel", tuple(sub.kernel.shape))
    assert found == {
        "_query_dense": (32, 64),
        "_key_dense": (32, 64),
        "_value_dense": (32, 64),
        "_output_dense": (64, 32),
    }


class _Recording(dict):
    """A config that remembers which keys were read."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


@pytest.mark.parametrize(
    "classes,weight,shape",
    [
        (("Dense",), "kernel", (4, 8)),
        (("Conv2D", "BaseConv"), "kernel", (3, 3, 4, 8)),
        (("Conv2DTranspose", "BaseConvTranspose"), "kernel", (3, 3, 4, 8)),
        (("DepthwiseConv2D", "BaseDepthwiseConv"), "kernel", (3, 3, 4, 1)),
        (("SeparableConv2D", "BaseSeparableConv"), "depthwise_kernel", (3, 3, 4, 1)),
        (("EinsumDense",), "kernel", (4, 2, 8)),
        (("LSTM",), "recurrent_kernel", (8, 32)),
    ],
)
def test_fans_read_only_the_attributes_fan_attributes_names(classes, weight, shape):
    """runtime/decision.py remembers fans per layer class, weight, shape and the attributes
    ``fan_attributes`` names for them; a fan rule that read another attribute would be
    remembered wrongly."""
    config = _Recording(groups=2, equation="abc,cde->abe", units=8, filters=8)
    layer_fans(classes, config, weight, shape)
    assert config.read <= set(fan_attributes(classes, weight))


def test_fan_attributes_name_what_changes_the_fans():
    assert fan_attributes(("Conv2D", "BaseConv"), "kernel") == ("groups",)
    assert fan_attributes(("EinsumDense",), "kernel") == ("equation",)
    assert fan_attributes(("DepthwiseConv2D", "BaseDepthwiseConv"), "kernel") == ()
    assert fan_attributes(("Conv2D", "BaseConv"), "bias") == ()
