"""Explicit initializers (docs/reference.md, "Explicit initializers"): what the model code chose
for a weight, however Keras carries it — into cells, wrapper copies, sublayers, and functions of
the attribute — is kept under ``@explicit keep``, and ``explain`` says ``explicit``; rules still
reach what the code left to defaults inside those layers."""

from __future__ import annotations

import types

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402
from keras.initializers import Constant  # noqa: E402

import keras_initpolicy as kip  # noqa: E402

pytestmark = pytest.mark.keras

BIAS_ZEROS = kip.parse("*.bias -> zeros")
#: a rule that visibly changes every bias it decides (``zeros`` is most layers' default anyway)
BIAS_HALF = kip.parse("*.bias -> constant(0.5)  # noqa: IP204")


def value(variable) -> np.ndarray:
    return keras.ops.convert_to_numpy(variable)


def reasons(policy, model) -> dict:
    return {(a.layer_path.split("/")[-1], a.weight): a.reason for a in policy.explain(model)}


def sequence(batch=1, steps=3, features=4):
    return np.ones((batch, steps, features), "float32")


# -- RNN layers hand their arguments to their cells ---------------------------------------------


def test_lstm_keeps_what_the_code_gave_its_cell():
    with BIAS_ZEROS.scope():
        lstm = layers.LSTM(2, kernel_initializer=Constant(0.01), bias_initializer=Constant(0.03))
        lstm(sequence())
    cell = lstm.cell
    np.testing.assert_allclose(value(cell.kernel), 0.01)
    # unit_forget_bias: the layer's own construction around the initializer still applies
    np.testing.assert_allclose(value(cell.bias), [0.03, 0.03, 1, 1, 0.03, 0.03, 0.03, 0.03])
    why = reasons(BIAS_ZEROS, lstm)
    assert why[("lstm_cell", "kernel")] == "explicit"  # no rule matches it: still explicit
    assert why[("lstm_cell", "bias")] == "explicit"
    assert why[("lstm_cell", "recurrent_kernel")] == "keras-default"


@pytest.mark.parametrize("make", [layers.LSTM, layers.LSTMCell], ids=["LSTM", "LSTMCell"])
def test_a_rule_replaces_the_lstm_bias_initializer_and_keeps_the_forget_gate(make):
    with BIAS_HALF.scope():
        layer = make(2)
        if make is layers.LSTM:
            layer(sequence())
            cell = layer.cell
        else:
            layer.build((None, 4))
            cell = layer
    np.testing.assert_allclose(value(cell.bias), [0.5, 0.5, 1, 1, 0.5, 0.5, 0.5, 0.5])
    config = cell.get_config()
    assert config["bias_initializer"]["class_name"] == "Constant"  # the config tells the truth
    assert config["unit_forget_bias"] is True


def _lstm():
    return layers.LSTM(2)


def _conv_lstm():
    return layers.ConvLSTM1D(2, 3)


@pytest.mark.parametrize("make", [_lstm, _conv_lstm], ids=["LSTM", "ConvLSTM1D"])
def test_apply_builds_the_forget_gate_as_the_scope_does(make):
    """``Policy.apply`` on a built model gives the bias Keras's own construction gives under
    the rule: the forget gate's ones stay, as they do when the model is built in a scope."""
    inputs = np.ones((1, 3, 5, 4), "float32") if make is _conv_lstm else sequence()
    with BIAS_HALF.scope():
        in_scope = make()
        in_scope(inputs)
    applied = make()
    applied(inputs)
    BIAS_HALF.apply(applied)
    np.testing.assert_array_equal(value(applied.cell.bias), value(in_scope.cell.bias))
    np.testing.assert_allclose(value(applied.cell.bias), [0.5, 0.5, 1, 1, 0.5, 0.5, 0.5, 0.5])
    assert applied.cell.get_config()["bias_initializer"]["class_name"] == "Constant"


def test_apply_draws_a_random_bias_rule_around_the_forget_gate():
    lstm = layers.LSTM(3)
    lstm(sequence())
    kip.parse("@seed 3\n*.bias -> random_normal(stddev=1.0)  # noqa").apply(lstm)
    bias = value(lstm.cell.bias)
    np.testing.assert_array_equal(bias[3:6], 1.0)
    assert np.all(bias[:3] != 0) and np.all(bias[6:] != 0) and np.all(np.abs(bias[:3]) != 1)


def test_apply_without_unit_forget_bias_draws_the_whole_bias_from_the_rule():
    lstm = layers.LSTM(2, unit_forget_bias=False)
    lstm(sequence())
    BIAS_HALF.apply(lstm)
    np.testing.assert_allclose(value(lstm.cell.bias), 0.5)


def test_zeros_on_every_bias_leaves_the_lstm_forget_gate_at_one():
    with BIAS_ZEROS.scope():
        lstm = layers.LSTM(3)
        lstm(sequence())
    np.testing.assert_allclose(value(lstm.cell.bias), [0, 0, 0, 1, 1, 1] + [0] * 6)


def test_conv_lstm_bias_keeps_its_forget_gate_under_a_rule():
    with BIAS_HALF.scope():
        conv = layers.ConvLSTM1D(2, 3, padding="same")
        conv(np.ones((1, 2, 5, 3), "float32"))
    np.testing.assert_allclose(value(conv.cell.bias), [0.5, 0.5, 1, 1, 0.5, 0.5, 0.5, 0.5])


def test_conv_lstm_keeps_an_explicit_bias():
    with BIAS_ZEROS.scope():
        conv = layers.ConvLSTM2D(2, 3, padding="same", bias_initializer=Constant(0.03))
        conv(np.ones((1, 2, 5, 5, 3), "float32"))
    np.testing.assert_allclose(value(conv.cell.bias), [0.03, 0.03, 1, 1, 0.03, 0.03, 0.03, 0.03])
    assert reasons(BIAS_ZEROS, conv)[("conv_lstm_cell", "bias")] == "explicit"


@pytest.mark.parametrize("make", [layers.SimpleRNN, layers.GRU])
def test_simple_rnn_and_gru_keep_explicit_initializers_in_their_cells(make):
    policy = kip.parse("* -> zeros  # noqa: IP201\n*.recurrent_kernel, *.bias -> zeros")
    with policy.scope():
        rnn = make(2, kernel_initializer=Constant(0.01), bias_initializer=Constant(0.03))
        rnn(sequence())
    np.testing.assert_allclose(value(rnn.cell.kernel), 0.01)
    np.testing.assert_allclose(value(rnn.cell.bias), 0.03)
    np.testing.assert_allclose(value(rnn.cell.recurrent_kernel), 0.0)  # left to the rule
    why = reasons(policy, rnn)
    assert why[(rnn.cell.name, "kernel")] == why[(rnn.cell.name, "bias")] == "explicit"
    assert why[(rnn.cell.name, "recurrent_kernel")] == "rule"


def test_stacked_lstm_cells_keep_explicit_biases_and_their_forget_gates():
    with BIAS_HALF.scope():
        cells = [layers.LSTMCell(2, bias_initializer=Constant(0.03)), layers.LSTMCell(2)]
        rnn = layers.RNN(layers.StackedRNNCells(cells))
        rnn(sequence())
    np.testing.assert_allclose(value(cells[0].bias), [0.03, 0.03, 1, 1, 0.03, 0.03, 0.03, 0.03])
    np.testing.assert_allclose(value(cells[1].bias), [0.5, 0.5, 1, 1, 0.5, 0.5, 0.5, 0.5])


# -- wrappers: copies from config, and the layers they wrap --------------------------------------


def test_bidirectional_copies_keep_what_the_code_gave_the_wrapped_layer():
    policy = kip.parse(
        "SimpleRNN -> zeros  # noqa: IP201\nSimpleRNN.recurrent_kernel -> zeros\n*.bias -> zeros"
    )
    with policy.scope():
        rnn = layers.SimpleRNN(
            2, kernel_initializer=Constant(0.01), bias_initializer=Constant(0.03)
        )
        bi = layers.Bidirectional(rnn)
        bi(sequence())
    for direction in (bi.forward_layer, bi.backward_layer):
        np.testing.assert_allclose(value(direction.cell.kernel), 0.01)
        np.testing.assert_allclose(value(direction.cell.bias), 0.03)
    explained = policy.explain(bi)
    assert {a.reason for a in explained if a.weight in ("kernel", "bias")} == {"explicit"}
    assert {a.reason for a in explained if a.weight == "recurrent_kernel"} == {"rule"}


def test_a_rule_reaches_both_directions_of_a_bidirectional_layer():
    policy = kip.parse("LSTM.recurrent_kernel -> orthogonal(gain=0.5)")
    with policy.scope():
        bi = layers.Bidirectional(layers.LSTM(4))
        bi(sequence())
    for direction in (bi.forward_layer, bi.backward_layer):
        recurrent = value(direction.cell.recurrent_kernel)  # (4, 16): rows orthogonal, gain 0.5
        np.testing.assert_allclose(recurrent @ recurrent.T, 0.25 * np.eye(4), atol=1e-5)
    assert {a.reason for a in policy.explain(bi) if a.weight == "recurrent_kernel"} == {"rule"}


def test_time_distributed_keeps_an_explicit_kernel_and_rules_reach_a_default_one():
    policy = kip.parse("Dense -> zeros  # noqa: IP201")
    with policy.scope():
        kept = layers.TimeDistributed(layers.Dense(2, kernel_initializer=Constant(0.01)))
        ruled = layers.TimeDistributed(layers.Dense(2))
        kept(sequence())
        ruled(sequence())
    np.testing.assert_allclose(value(kept.layer.kernel), 0.01)
    np.testing.assert_allclose(value(ruled.layer.kernel), 0.0)


def _wrapper_class(module: str):
    """A ``Wrapper`` subclass whose constructor makes its own Dense with an explicit kernel,
    defined in ``module`` (Keras's own tests define such classes in ``keras.src...`` modules)."""

    class DenseWrapper(layers.Wrapper):
        def __init__(self, **kwargs):
            super().__init__(layers.Dense(2, kernel_initializer=Constant(0.01)), **kwargs)

        def call(self, x):
            return self.layer(x)

    DenseWrapper.__module__ = module
    return DenseWrapper


@pytest.mark.parametrize("module", ["keras.src.layers.core.wrapper_test", "my_project.layers"])
def test_a_wrapper_subclass_keeps_its_choice_whatever_module_defines_it(module):
    policy = kip.parse("Dense -> zeros  # noqa: IP201")
    with policy.scope():
        wrapper = _wrapper_class(module)()
        wrapper(np.ones((1, 3), "float32"))
    np.testing.assert_allclose(value(wrapper.layer.kernel), 0.01)
    assert reasons(policy, wrapper)[(wrapper.layer.name, "kernel")] == "explicit"


# -- layers that build sublayers -----------------------------------------------------------------


def test_multi_head_attention_passes_explicit_initializers_to_its_projections():
    policy = kip.parse("EinsumDense -> zeros  # noqa: IP201")
    x = np.ones((1, 3, 4), "float32")
    with policy.scope():
        kept = layers.MultiHeadAttention(2, 2, kernel_initializer=Constant(0.01))
        ruled = layers.MultiHeadAttention(2, 2)
        kept(x, x)
        ruled(x, x)
    for projection in (kept.query_dense, kept.key_dense, kept.value_dense, kept.output_dense):
        np.testing.assert_allclose(value(projection.kernel), 0.01)
    for projection in (ruled.query_dense, ruled.key_dense, ruled.value_dense, ruled.output_dense):
        np.testing.assert_allclose(value(projection.kernel), 0.0)
    assert {a.reason for a in policy.explain(kept) if a.weight == "kernel"} == {"explicit"}
    assert {a.reason for a in policy.explain(ruled) if a.weight == "kernel"} == {"rule"}


def test_a_custom_layer_passing_its_arguments_to_sublayers():
    """Like keras-rs ``FeatureCross``: both arguments are carried the same way, so both are
    explicit when given and neither when left to the defaults."""

    class Cross(layers.Layer):
        def __init__(self, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kw):
            super().__init__(**kw)
            self.kernel_initializer = keras.initializers.get(kernel_initializer)
            self.bias_initializer = keras.initializers.get(bias_initializer)

        def build(self, shape):
            self.dense = layers.Dense(
                shape[-1],
                kernel_initializer=self.kernel_initializer.__class__.from_config(
                    self.kernel_initializer.get_config()
                ),
                bias_initializer=self.bias_initializer,
            )
            self.dense.build(shape)

        def call(self, x):
            return x * self.dense(x)

    policy = kip.parse("Dense -> zeros  # noqa: IP201\n*.bias -> constant(0.5)  # noqa: IP204")
    with policy.scope():
        given = Cross(kernel_initializer=Constant(0.01), bias_initializer=Constant(0.03))
        default = Cross()
        given(np.ones((1, 3), "float32"))
        default(np.ones((1, 3), "float32"))
    assert set(reasons(policy, given).values()) == {"explicit"}
    assert set(reasons(policy, default).values()) == {"rule"}
    np.testing.assert_allclose(value(given.dense.bias), 0.03)
    np.testing.assert_allclose(value(default.dense.bias), 0.5)


# -- the definition itself -----------------------------------------------------------------------


def test_giving_a_layer_its_own_default_is_the_same_as_giving_nothing():
    policy = kip.parse("Dense -> zeros  # noqa: IP201")
    with policy.scope():
        written = layers.Dense(2, kernel_initializer="glorot_uniform")
        instance = layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform())
        seeded = layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(seed=3))
        for layer in (written, instance, seeded):
            layer.build((None, 3))
    assert np.all(value(written.kernel) == 0) and np.all(value(instance.kernel) == 0)
    assert not np.all(value(seeded.kernel) == 0)  # a seed is a choice


def test_a_none_default_is_explicit_only_when_the_code_gives_a_value():
    class Scaled(layers.Layer):
        def __init__(self, kernel_initializer=None, **kw):
            super().__init__(**kw)
            self.kernel_initializer = keras.initializers.get(kernel_initializer or "ones")

        def build(self, shape):
            self.kernel = self.add_weight((shape[-1], 2), self.kernel_initializer, name="kernel")

    policy = kip.parse("Scaled -> zeros  # noqa: IP201")
    with policy.scope():
        given, left = Scaled(kernel_initializer="ones"), Scaled()
        given.build((None, 3))
        left.build((None, 3))
    assert np.all(value(given.kernel) == 1) and np.all(value(left.kernel) == 0)


def test_explain_finds_explicit_initializers_of_a_model_built_without_a_policy():
    model = keras.Sequential(
        [keras.Input((3,)), layers.Dense(2, kernel_initializer="ones"), layers.Dense(2)]
    )
    policy = kip.parse("Dense -> he_normal")
    why = {(a.layer_path, a.weight): a.reason for a in policy.explain(model)}
    assert why[(model.layers[0].path, "kernel")] == "explicit"
    assert why[(model.layers[1].path, "kernel")] == "rule"


def test_explicit_does_not_depend_on_the_constructing_frame():
    """The same constructor call gives the same answer from user code and from code whose module
    is named like Keras's."""
    source = "def make(layers, init):\n    return layers.Dense(2, kernel_initializer=init)\n"
    namespace: dict = {"__name__": "keras.src.fake_module"}
    exec(compile(source, "<keras-like>", "exec"), namespace)  # noqa: S102
    made_like_keras = types.FunctionType(namespace["make"].__code__, namespace)
    policy = kip.parse("Dense -> zeros  # noqa: IP201")
    with policy.scope():
        ours = layers.Dense(2, kernel_initializer=Constant(0.01))
        theirs = made_like_keras(layers, Constant(0.01))
        ours.build((None, 3))
        theirs.build((None, 3))
    np.testing.assert_array_equal(value(ours.kernel), value(theirs.kernel))
