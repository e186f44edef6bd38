"""Weights decided while their graph is still being built, drawn on the draw thread
(runtime/draw_thread.py, ``weights.decide_early``): TensorFlow only.

What must hold: the values and configs are those of the same build without the draw thread; a
weight is decided as soon as every path from its layer reaches an activation, and the completed
graph decides it again (drawn again only when a later consumer changed its activation); every
value exists once the graph completes, and before any layer computes on real tensors; an error
in a draw surfaces in the build.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

import keras_initpolicy as kip  # noqa: E402
from keras_initpolicy.runtime import draw_thread, weights  # noqa: E402
from keras_initpolicy.runtime.records import layer_records  # noqa: E402
from keras_initpolicy.runtime.weights import Stage  # noqa: E402

pytestmark = pytest.mark.keras

ON_TF = keras.backend.backend() == "tensorflow"
tf_only = pytest.mark.skipif(not ON_TF, reason="the draw thread serves TensorFlow only")

POLICY = """@seed 11
Dense[activation=relu] -> he_normal
Dense[activation=tanh] -> glorot_normal
Dense -> lecun_normal
*.bias -> zeros
"""


def _numpy(variable) -> np.ndarray:
    return keras.ops.convert_to_numpy(variable)


def _mlp():
    inputs = keras.Input((6,))
    x = layers.Dense(16)(inputs)
    x = layers.ReLU()(x)
    x = layers.Dense(16)(x)
    x = layers.Activation("tanh")(x)
    x = layers.LayerNormalization()(x)
    outputs = layers.Dense(3)(x)
    return keras.Model(inputs, outputs)


def _build(monkeypatch, policy_text: str, builder, *, thread: bool = True, early: bool = True):
    """``builder()`` in a scope; ``thread=False``: weights decided early are drawn at once, on
    this thread; ``early=False``: every waiting weight waits for its completed graph."""
    monkeypatch.setattr(draw_thread, "_BACKENDS", frozenset({"tensorflow"} if early else ()))
    monkeypatch.setattr(draw_thread, "usable", draw_thread.usable if thread else lambda: False)
    keras.utils.set_random_seed(2)
    with kip.parse(policy_text).scope():
        return builder()


def _configs(model) -> list:
    return [
        json.dumps({k: v for k, v in layer.get_config().items() if k != "name"}, default=str)
        for layer in model.layers
    ]


@tf_only
@pytest.mark.parametrize("seeded", [True, False], ids=["seed", "no-seed"])
@pytest.mark.parametrize("sampler", ["keras", "fast"])
def test_values_and_configs_are_those_of_a_build_without_the_draw_thread(
    monkeypatch, sampler, seeded
):
    text = (POLICY if seeded else POLICY.replace("@seed 11", "")) + f"@sampler {sampler}\n"
    plain = _build(monkeypatch, text, _mlp, thread=False)
    threaded = _build(monkeypatch, text, _mlp)
    for a, b in zip(plain.weights, threaded.weights, strict=True):
        np.testing.assert_array_equal(_numpy(a), _numpy(b))
    assert _configs(plain) == _configs(threaded)
    kinds = [
        type(lyr.kernel_initializer).__name__ for lyr in threaded.layers if "dense" in lyr.name
    ]
    assert kinds == ["HeNormal", "GlorotNormal", "LecunNormal"]


@tf_only
def test_a_weight_is_decided_once_its_activation_is_reached_and_final_when_the_graph_completes():
    with kip.parse(POLICY).scope():
        inputs = keras.Input((6,))
        hidden = layers.Dense(8)
        x = layers.ReLU()(hidden(inputs))
        record = next(iter(layer_records(hidden).values()))
        assert record.stage is Stage.WAITING  # nothing consumes the ReLU's output yet
        head = layers.Dense(2)
        y = head(x)  # the graph grows: every path from `hidden` now reaches the ReLU
        assert record.stage is Stage.PROVISIONAL
        assert record.decision.activation.name == "relu"
        model = keras.Model(inputs, y)
        assert record.stage is Stage.FINAL and record.pending is None
    assert type(hidden.kernel_initializer).__name__ == "HeNormal"
    assert np.abs(_numpy(model.layers[1].kernel)).sum() > 0


def _two_branches():
    inputs = keras.Input((6,))
    shared = layers.Dense(8, name="shared")
    h = shared(inputs)
    a = layers.Dense(2)(layers.ReLU()(h))  # here `shared` is decided early, from the ReLU
    b = layers.Dense(2)(layers.Activation("tanh")(h))  # a second consumer disagrees
    return keras.Model(inputs, [a, b])


@tf_only
def test_a_consumer_added_later_has_the_weight_decided_and_drawn_again(monkeypatch):
    calls = []
    original = weights._draw

    def counting(record, initializer, **kwargs):
        if record.request.layer.name == "shared":
            calls.append(type(initializer).__name__)
        return original(record, initializer, **kwargs)

    monkeypatch.setattr(weights, "_draw", counting)
    threaded = _build(monkeypatch, POLICY, _two_branches)
    assert calls == ["HeNormal", "LecunNormal"]  # early from the ReLU, then from the graph
    shared = threaded.get_layer("shared")
    assert type(shared.kernel_initializer).__name__ == "LecunNormal"  # ambiguous: linear
    calls.clear()
    plain = _build(monkeypatch, POLICY, _two_branches, early=False)
    assert calls == ["LecunNormal"]  # decided once, when the graph completed
    np.testing.assert_array_equal(_numpy(plain.get_layer("shared").kernel), _numpy(shared.kernel))


def _slow_draws(monkeypatch, seconds: float = 0.3) -> list:
    """Every draw on the draw thread waits ``seconds`` first; returns the threads that drew."""
    threads = []
    submit = draw_thread.submit

    def slow(fn, *args):
        def later():
            threads.append(threading.current_thread().name)
            time.sleep(seconds)
            return fn(*args)

        return submit(later)

    monkeypatch.setattr(draw_thread, "submit", slow)
    return threads


@tf_only
def test_every_value_exists_when_the_graph_completes(monkeypatch):
    threads = _slow_draws(monkeypatch)
    with kip.parse(POLICY).scope():
        model = _mlp()
        records = [r for lyr in model.layers for r in layer_records(lyr).values()]
        assert all(r.pending is None for r in records)
        kernels = [_numpy(lyr.kernel) for lyr in model.layers if "dense" in lyr.name]
    assert threads and all(name.startswith("keras-initpolicy-draw") for name in threads)
    assert all(np.abs(k).sum() > 0 for k in kernels)


@tf_only
def test_a_layer_computing_on_real_data_first_waits_for_the_draws(monkeypatch):
    _slow_draws(monkeypatch)
    with kip.parse(POLICY).scope():
        inputs = keras.Input((6,))
        hidden = layers.Dense(8)
        x = layers.ReLU()(hidden(inputs))
        layers.Dense(2)(x)  # `hidden` decided early; its draw sleeps on the draw thread
        record = next(iter(layer_records(hidden).values()))
        assert record.pending is not None
        out = _numpy(hidden(np.ones((1, 6), "float32")))  # an eager call: it waits first
        assert record.pending is None
        expected = np.ones((1, 6), "float32") @ _numpy(hidden.kernel)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
        assert np.abs(out).sum() > 0


@tf_only
def test_an_error_in_a_draw_on_the_draw_thread_surfaces_in_the_build(monkeypatch):
    def failing(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("the draw failed")
        raise AssertionError("only draws on the draw thread are expected here")

    futures = []
    submit = draw_thread.submit

    def keeping(fn, *args):
        futures.append(submit(fn, *args))
        return futures[-1]

    monkeypatch.setattr(weights, "draw_into", failing)
    monkeypatch.setattr(draw_thread, "submit", keeping)
    with pytest.raises(RuntimeError, match="the draw failed"):
        with kip.parse(POLICY).scope() as scope:
            _mlp()
    # every draw finished, and the scope is forgotten: no later eager call waits on it
    assert len(futures) == 2 and all(f.done() for f in futures)  # the two hidden Dense
    assert id(scope.state) not in weights.awaiting


@tf_only
def test_not_under_a_tensorflow_distribution_strategy():
    import tensorflow as tf

    assert draw_thread.usable()
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        assert not draw_thread.usable()


def test_only_an_integer_seed_is_drawn_on_the_draw_thread():
    assert draw_thread.seeded_by_int(keras.initializers.HeNormal(seed=3))
    generator = keras.random.SeedGenerator(1)
    assert not draw_thread.seeded_by_int(keras.initializers.HeNormal(seed=generator))
    assert not draw_thread.seeded_by_int(keras.initializers.Zeros())


@pytest.mark.skipif(ON_TF, reason="JAX and torch build without it")
def test_other_backends_decide_when_the_graph_completes(monkeypatch):
    from keras_initpolicy.runtime import scope

    assert not draw_thread.serves_backend() and not draw_thread.usable()
    monkeypatch.setattr(scope, "decide_early", None)  # any early decision would fail
    monkeypatch.setattr(draw_thread, "submit", None)  # any use of the thread too
    with kip.parse(POLICY).scope():
        model = _mlp()
    assert all(np.abs(_numpy(lyr.kernel)).sum() > 0 for lyr in model.layers if "dense" in lyr.name)
