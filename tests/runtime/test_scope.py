"""A policy applies itself while Keras builds any kind of model.

docs/reference.md#applying-a-policy.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

import keras_initpolicy as kip  # noqa: E402

pytestmark = pytest.mark.keras

HE = kip.parse("@seed 1\nDense[activation=relu] -> he_normal\n*.bias -> zeros")


def kernel_std(layer) -> float:
    return float(np.std(keras.ops.convert_to_numpy(layer.kernel)))


def init_class(layer, attr="kernel_initializer") -> str:
    return type(getattr(layer, attr)).__name__


# -- every model style -------------------------------------------------------------------------


def test_sequential_with_input():
    with HE.scope():
        model = keras.Sequential([keras.Input((64,)), layers.Dense(256, activation="relu")])
    assert init_class(model.layers[0]) == "HeNormal"
    assert kernel_std(model.layers[0]) == pytest.approx(np.sqrt(2 / 64), rel=0.05)


def test_sequential_without_input_built_later_outside_the_scope():
    with HE.scope():
        model = keras.Sequential([layers.Dense(256, activation="relu")])
    assert not model.built
    model.build((None, 64))
    assert init_class(model.layers[0]) == "HeNormal"
    assert kernel_std(model.layers[0]) == pytest.approx(np.sqrt(2 / 64), rel=0.05)


def test_functional():
    with HE.scope():
        inputs = keras.Input((64,))
        outputs = layers.Dense(256, activation="relu")(inputs)
        model = keras.Model(inputs, outputs)
    assert init_class(model.layers[1]) == "HeNormal"


def test_subclassed_model_first_called_outside_the_scope():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(256, activation="relu")

        def call(self, x):
            return self.hidden(x)

    with HE.scope():
        net = Net()
    net(np.zeros((2, 64), "float32"))
    assert init_class(net.hidden) == "HeNormal"


def test_nested_models():
    with HE.scope():
        inner = keras.Sequential([keras.Input((64,)), layers.Dense(128, activation="relu")])
        inputs = keras.Input((64,))
        outer = keras.Model(inputs, layers.Dense(10, activation="relu")(inner(inputs)))
    assert init_class(inner.layers[0]) == "HeNormal"
    assert init_class(outer.layers[-1]) == "HeNormal"


def test_models_built_outside_any_scope_are_untouched():
    with HE.scope():
        pass
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="relu")])
    assert init_class(model.layers[0]) == "GlorotUniform"


def test_custom_layer_add_weight_with_string_initializer():
    class Scale(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], 32), initializer="ones", name="w")
            self.b = self.add_weight(shape=(32,), initializer="ones", name="b")

        def call(self, x):
            return x @ self.w + self.b

    policy = kip.parse("Scale -> orthogonal; Scale.b -> zeros")
    with policy.scope():
        layer = Scale()
        layer.build((None, 32))
    w = keras.ops.convert_to_numpy(layer.w)
    np.testing.assert_allclose(w.T @ w, np.eye(32), atol=1e-4)
    assert not np.any(keras.ops.convert_to_numpy(layer.b))


@pytest.mark.parametrize("rnn", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_layers_cover_their_cell(rnn):
    policy = kip.parse(f"{rnn} -> he_uniform; {rnn}.recurrent_kernel -> identity")
    with policy.scope():
        model = keras.Sequential([keras.Input((5, 8)), getattr(layers, rnn)(16)])
    cell = model.layers[0].cell
    assert init_class(cell) == "HeUniform"
    assert init_class(cell, "recurrent_initializer") == "Identity"
    config = model.layers[0].get_config()
    assert config["kernel_initializer"]["class_name"] == "HeUniform"


def test_bidirectional():
    policy = kip.parse("LSTM -> he_normal")
    with policy.scope():
        model = keras.Sequential([keras.Input((5, 8)), layers.Bidirectional(layers.LSTM(16))])
    bidi = model.layers[0]
    assert init_class(bidi.forward_layer.cell) == "HeNormal"
    assert init_class(bidi.backward_layer.cell) == "HeNormal"


def test_multi_head_attention_projections_and_distinct_draws():
    policy = kip.parse("@seed 3\nMultiHeadAttention -> glorot_uniform")
    with policy.scope():
        x = keras.Input((6, 32))
        mha = layers.MultiHeadAttention(num_heads=4, key_dim=8)
        model = keras.Model(x, mha(x, x))
    q, k, v = (
        keras.ops.convert_to_numpy(d.kernel)
        for d in (mha._query_dense, mha._key_dense, mha._value_dense)
    )
    assert q.shape == k.shape == v.shape
    assert not np.array_equal(q, k) and not np.array_equal(k, v)
    # Fans follow the einsum equation: 32 in, 4*8 out -> limit sqrt(6/64).
    assert np.abs(q).max() <= np.sqrt(6 / 64) + 1e-6
    explanation = policy.explain(model)
    a = explanation.find("query", "kernel")
    assert (a.fan_in, a.fan_out) == (32, 32)
    assert a.rule is not None and a.rule.line == 2


def test_embedding_and_batchnorm_moving_statistics_untouched():
    policy = kip.parse(
        "Embedding -> random_normal(stddev=0.5); BatchNormalization.gamma -> constant(2.0); * -> zeros"
    )
    with policy.scope():
        model = keras.Sequential(
            [
                keras.Input((4,), dtype="int32"),
                layers.Embedding(100, 64),
                layers.BatchNormalization(),
            ]
        )
    emb = keras.ops.convert_to_numpy(model.layers[0].embeddings)
    assert emb.std() == pytest.approx(0.5, rel=0.1)
    bn = model.layers[1]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.gamma), 2.0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.moving_variance), 1.0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.moving_mean), 0.0)


@pytest.mark.parametrize(
    "make, weight, fan_in",
    [
        (lambda: layers.Conv2D(8, 3), "kernel", 3 * 3 * 4),
        (lambda: layers.Conv2DTranspose(8, 3), "kernel", 3 * 3 * 4),
        (lambda: layers.DepthwiseConv2D(3), "kernel", 3 * 3),
        (lambda: layers.SeparableConv2D(8, 3), "depthwise_kernel", 3 * 3),
        (lambda: layers.SeparableConv2D(8, 3), "pointwise_kernel", 4),
    ],
    ids=["conv2d", "conv2d-transpose", "depthwise", "separable-depthwise", "separable-pointwise"],
)
def test_convolutions_use_layer_aware_fans(make, weight, fan_in):
    policy = kip.parse(
        "@seed 5\n* -> he_uniform; *.depthwise_kernel -> he_uniform; *.pointwise_kernel -> he_uniform"
    )
    with policy.scope():
        layer = make()
        keras.Sequential([keras.Input((16, 16, 4)), layer])
    values = keras.ops.convert_to_numpy(getattr(layer, weight))
    limit = np.sqrt(6 / fan_in)
    assert np.abs(values).max() <= limit + 1e-6
    assert np.abs(values).max() > 0.8 * limit


# -- effective activation from the graph -------------------------------------------------------


def conv_bn_relu(policy):
    with policy.scope():
        x = inputs = keras.Input((8, 8, 3))
        x = layers.Conv2D(16, 3, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        return keras.Model(inputs, x)


def test_conv_bn_relu_is_relu_and_gets_he():
    policy = kip.parse("Conv2D[activation=relu] -> he_normal; Conv2D -> lecun_uniform")
    model = conv_bn_relu(policy)
    conv = model.layers[1]
    assert init_class(conv) == "HeNormal"
    a = policy.explain(model).find(conv.name, "kernel")
    assert a.activation == "relu"
    assert "batch_normalization" in a.activation_source


def test_graph_dependent_weight_is_initialized_at_most_once_more(monkeypatch):
    calls = []
    original = keras.initializers.HeNormal.__call__

    def counting(self, shape, dtype=None):
        calls.append(shape)
        return original(self, shape, dtype)

    monkeypatch.setattr(keras.initializers.HeNormal, "__call__", counting)
    conv_bn_relu(kip.parse("Conv2D -> auto"))
    assert len(calls) == 1  # provisional Glorot once, then He exactly once


def test_sequential_add_gives_the_last_layer_its_activation():
    policy = kip.parse("Dense[activation=relu] -> he_normal; Dense -> lecun_uniform")
    with policy.scope():
        model = keras.Sequential([keras.Input((64,))])
        model.add(layers.Dense(256))  # rebuilt: for now the output, so linear
        model.add(layers.ReLU())  # rebuilt again: now it feeds a ReLU
        model.add(layers.Dense(10))
    assert init_class(model.layers[0]) == "HeNormal"
    assert init_class(model.layers[2]) == "LecunUniform"
    assert kernel_std(model.layers[0]) == pytest.approx(np.sqrt(2 / 64), rel=0.05)


def test_outputs_are_final_once_the_scope_has_ended():
    policy = kip.parse("Dense[activation=relu] -> he_normal; Dense -> lecun_uniform")
    with policy.scope():
        model = keras.Sequential([keras.Input((8,)), layers.Dense(8)])
    before = keras.ops.convert_to_numpy(model.layers[0].kernel)
    model.add(layers.ReLU())  # after the scope: nothing is re-initialized
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.layers[0].kernel), before)
    assert init_class(model.layers[0]) == "LecunUniform"


def test_ambiguous_consumers_are_linear_and_explained():
    policy = kip.parse("Dense -> auto")
    with policy.scope():
        inputs = keras.Input((8,))
        h = layers.Dense(8)(inputs)
        model = keras.Model(inputs, [layers.Activation("relu")(h), layers.Activation("tanh")(h)])
    a = policy.explain(model).find(model.layers[1].name, "kernel")
    assert a.activation == "linear"
    assert "ambiguous" in a.activation_source and "relu" in a.activation_source
    assert init_class(model.layers[1]) == "GlorotNormal"


def test_leaky_relu_slope_reaches_he():
    policy = kip.parse("Dense -> he_uniform(negative_slope=auto)")
    with policy.scope():
        inputs = keras.Input((100,))
        model = keras.Model(inputs, layers.LeakyReLU(negative_slope=1.0)(layers.Dense(50)(inputs)))
    kernel = keras.ops.convert_to_numpy(model.layers[1].kernel)
    # slope 1 halves the variance of plain He: limit sqrt(6 / ((1 + 1) * 100)).
    assert np.abs(kernel).max() <= np.sqrt(6 / 200) + 1e-6
    assert np.abs(kernel).max() > 0.9 * np.sqrt(6 / 200)


# -- explicit initializers ---------------------------------------------------------------------


@pytest.mark.parametrize("mode, expected", [("keep", "Zeros"), ("override", "HeNormal")])
def test_explicit_initializers(mode, expected):
    policy = kip.parse(f"@explicit {mode}\nDense -> he_normal")
    with policy.scope():
        model = keras.Sequential([keras.Input((4,)), layers.Dense(3, kernel_initializer="zeros")])
    assert init_class(model.layers[0]) == expected
    reason = policy.explain(model).find(model.layers[0].name, "kernel").reason
    assert reason == ("explicit" if mode == "keep" else "rule")


def test_explicit_initializer_on_lstm_reaches_its_cell():
    policy = kip.parse("LSTM -> he_normal")
    with policy.scope():
        model = keras.Sequential([keras.Input((3, 4)), layers.LSTM(8, kernel_initializer="ones")])
    cell = model.layers[0].cell
    assert init_class(cell) == "Ones"
    assert init_class(cell, "recurrent_initializer") == "Orthogonal"  # not named in code, no rule


# -- seeds -------------------------------------------------------------------------------------


def mlp_weights(policy):
    with policy.scope():
        model = keras.Sequential(
            [
                keras.Input((16,)),
                layers.Dense(16, activation="relu"),
                layers.Dense(16, activation="relu"),
            ]
        )
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def test_seeded_builds_are_bit_identical_and_weights_distinct():
    first, second = mlp_weights(HE), mlp_weights(HE)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][:, :16], first[2])  # two same-shaped kernels differ


def test_a_different_seed_gives_different_weights():
    other = kip.parse("@seed 2\nDense[activation=relu] -> he_normal\n*.bias -> zeros")
    assert not np.array_equal(mlp_weights(HE)[0], mlp_weights(other)[0])


def test_unseeded_builds_differ_and_follow_set_random_seed():
    policy = kip.parse("Dense[activation=relu] -> he_normal")
    assert not np.array_equal(mlp_weights(policy)[0], mlp_weights(policy)[0])
    keras.utils.set_random_seed(11)
    a = mlp_weights(policy)[0]
    keras.utils.set_random_seed(11)
    b = mlp_weights(policy)[0]
    np.testing.assert_array_equal(a, b)


def test_configs_name_the_concrete_seeded_initializer():
    with HE.scope():
        model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="relu")])
    config = model.layers[0].get_config()["kernel_initializer"]
    assert config["class_name"] == "HeNormal"
    assert isinstance(config["config"]["seed"], int)
    rebuilt = keras.Sequential.from_config(model.get_config())
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(rebuilt.layers[0].kernel),
        keras.ops.convert_to_numpy(model.layers[0].kernel),
    )


def test_clone_model_draws_from_the_same_distribution():
    policy = kip.parse("Dense[activation=relu] -> he_normal")
    with policy.scope():
        model = keras.Sequential([keras.Input((400,)), layers.Dense(400, activation="relu")])
    clone = keras.models.clone_model(model)
    assert init_class(clone.layers[0]) == "HeNormal"
    assert kernel_std(clone.layers[0]) == pytest.approx(np.sqrt(2 / 400), rel=0.05)


# -- loading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_loading_inside_a_scope_never_reinitializes(tmp_path, suffix):
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="relu")])
    model.layers[0].kernel.assign(np.full((4, 3), 7.0, "float32"))
    path = tmp_path / f"m{suffix}"
    model.save(path)
    model.save_weights(tmp_path / "m.weights.h5")
    policy = kip.parse("@explicit override\nDense -> zeros")
    with policy.scope():
        loaded = keras.saving.load_model(path)
        rebuilt = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="relu")])
        rebuilt.load_weights(tmp_path / "m.weights.h5")
    for m in (loaded, rebuilt):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(m.layers[0].kernel), 7.0)
    assert init_class(loaded.layers[0]) == "GlorotUniform"  # the loaded config is not rewritten


# -- scopes ------------------------------------------------------------------------------------


def test_scope_is_restored_after_an_error():
    from keras_initpolicy.runtime.scope import current_scope

    with pytest.raises(RuntimeError), HE.scope():
        raise RuntimeError("boom")
    assert current_scope() is None
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="relu")])
    assert init_class(model.layers[0]) == "GlorotUniform"


def test_nested_scopes_inner_wins_then_outer_returns():
    outer, inner = kip.parse("Dense -> ones"), kip.parse("Dense -> he_normal")
    with outer.scope():
        with inner.scope():
            a = layers.Dense(2)
            a.build((None, 2))
        b = layers.Dense(2)
        b.build((None, 2))
    assert init_class(a) == "HeNormal" and init_class(b) == "Ones"


def test_unused_rules_warn_when_the_scope_ends():
    policy = kip.parse("Dense -> he_normal\nConv3D -> he_normal")
    with pytest.warns(kip.UnusedRuleWarning, match="Conv3D"), policy.scope():
        keras.Sequential([keras.Input((4,)), layers.Dense(2)])


def test_threads_do_not_share_scopes():
    import threading

    results = {}
    barrier = threading.Barrier(2)

    def build(name, text):
        policy = kip.parse(text)
        with policy.scope():
            barrier.wait()
            model = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
            barrier.wait()
        results[name] = init_class(model.layers[0])

    threads = [
        threading.Thread(target=build, args=("a", "Dense -> ones")),
        threading.Thread(target=build, args=("b", "Dense -> zeros  # noqa")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": "Ones", "b": "Zeros"}


# -- errors ------------------------------------------------------------------------------------


def test_build_time_misfit_raises_policy_error_with_context():
    class Cube(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(2, 3, 4), initializer="ones", name="w")

    policy = kip.parse("Cube.w -> identity", source="team.initpolicy")
    with pytest.raises(kip.PolicyError) as info, policy.scope():
        layer = Cube(name="cube")
        layer.build((None, 2))
    message = str(info.value)
    assert "team.initpolicy:1" in message and "cube" in message and "(2, 3, 4)" in message
    assert "`w`" in message
    # Keras keeps working afterwards.
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3)])
    assert model.layers[0].kernel.shape == (4, 3)


# -- apply and explain -------------------------------------------------------------------------


def test_apply_reinitializes_an_existing_model():
    model = keras.Sequential(
        [keras.Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(2)]
    )
    policy = kip.parse("Dense[activation=relu] -> ones")
    explanation = policy.apply(model)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.layers[0].kernel), 1.0)
    assert init_class(model.layers[0]) == "Ones"
    assert init_class(model.layers[1]) == "GlorotUniform"
    assert [a.reason for a in explanation].count("rule") == 1


def test_explain_fields_and_table():
    with HE.scope():
        model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="relu")])
    explanation = HE.explain(model)
    kernel = explanation.find("dense", "kernel") if False else explanation[0]
    assert kernel.weight == "kernel" and kernel.shape == (4, 3)
    assert kernel.layer_class == "Dense" and kernel.activation == "relu"
    assert (kernel.fan_in, kernel.fan_out) == (4, 3)
    assert kernel.reason == "rule" and kernel.rule.line == 2 and kernel.rule.source == "<string>"
    assert type(kernel.initializer).__name__ == "HeNormal"
    table = explanation.to_table()
    assert "HeNormal" in table and "<string>:2" in table
    data = explanation.to_dict()["assignments"][1]
    assert data["weight"] == "bias" and data["rule"]["text"] == "*.bias -> zeros"


def test_a_weight_no_rule_can_target_keeps_keras_initialization_and_is_counted():
    """BatchNormalization's gamma and beta draw from no seed and no rule names them: they go
    straight to Keras (no request, no record), and still count as weights built in the scope."""
    from keras_initpolicy.runtime.records import layer_records

    policy = kip.parse("Dense -> he_normal  # noqa: IP201")
    scope = policy.scope()
    with scope:
        inputs = keras.Input((4, 4, 2))
        norm = layers.BatchNormalization()
        keras.Model(inputs, layers.Dense(3)(norm(inputs)))
    assert layer_records(norm) == {}
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(norm.gamma), np.ones(2))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(norm.beta), np.zeros(2))
    assert scope.state.weights == 4  # gamma, beta, and the Dense's kernel and bias


def test_an_initializer_passed_positionally_is_explicit():
    """``Dense(units, activation, use_bias, kernel_initializer)``: the fourth positional argument
    is written in code as surely as ``kernel_initializer=``, and ``@explicit keep`` keeps it."""
    policy = kip.parse("Dense -> zeros  # noqa: IP201")
    mine = keras.initializers.Orthogonal(seed=1)
    with policy.scope():
        inputs = keras.Input((4,))
        positional = layers.Dense(4, None, True, mine)
        keyword = layers.Dense(4, kernel_initializer=None)
        keras.Model(inputs, keyword(positional(inputs)))
    assert positional.kernel_initializer is mine
    assert np.abs(keras.ops.convert_to_numpy(positional.kernel)).sum() > 0
    assert np.all(keras.ops.convert_to_numpy(keyword.kernel) == 0)  # None is not a choice
