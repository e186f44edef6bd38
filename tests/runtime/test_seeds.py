"""docs/reference.md#seeds: `@seed` covers every random weight; shared initializer instances get
their own stream under any policy; `explain` says which weights were reseeded."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

import keras_initpolicy as kip  # noqa: E402

pytestmark = [
    pytest.mark.keras,
    pytest.mark.filterwarnings("ignore::keras_initpolicy.UnusedRuleWarning"),
]

# Rules that decide nothing in the models below: every weight keeps the code's or Keras's choice.
BYSTANDER = "Conv3D -> he_normal  # noqa"


def values(model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


class Shared(layers.Layer):
    """Model code that hands ONE initializer instance to four projections (as some keras-hub
    attention layers do for query/key/value/output)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        init = keras.initializers.RandomNormal(stddev=0.02, seed=seed)
        self.projections = [layers.Dense(8, kernel_initializer=init) for _ in range(4)]

    def call(self, x):
        return sum(p(x) for p in self.projections)


def build_shared(seed=None):
    inputs = keras.Input((8,))
    return keras.Model(inputs, Shared(seed)(inputs))


def build_explicit_and_default():
    inputs = keras.Input((16,))
    x = layers.Dense(16, kernel_initializer=keras.initializers.RandomUniform(-0.3, 0.3))(inputs)
    x = layers.Embedding(50, 4)(keras.ops.cast(x, "int32"))  # Keras default: RandomUniform
    return keras.Model(inputs, layers.Dense(3)(x))  # Keras default: GlorotUniform


def kernels(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights if v.name == "kernel"]


def test_without_a_policy_shared_instances_share_a_stream():
    first, *rest = kernels(build_shared())  # the bug the policy fixes, shown on plain Keras
    assert all(np.array_equal(first, k) for k in rest)


@pytest.mark.parametrize("policy", [BYSTANDER, "@seed 3\n" + BYSTANDER])
def test_any_policy_gives_each_user_of_a_shared_instance_its_own_stream(policy):
    with kip.parse(policy).scope():
        model = build_shared()
    ks = kernels(model)
    assert len(ks) == 4
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.array_equal(ks[i], ks[j])
    for k in ks:  # class and parameters as written: N(0, 0.02)
        assert np.std(k) == pytest.approx(0.02, rel=0.25)
    for dense in model.layers[1].projections:
        init = dense.kernel_initializer
        assert type(init).__name__ == "RandomNormal" and init.stddev == 0.02


def test_a_seed_written_in_code_is_kept_for_its_first_use():
    with kip.parse("@seed 3\n" + BYSTANDER).scope():
        model = build_shared(seed=42)
    projections = model.layers[1].projections
    assert projections[0].kernel_initializer.seed == 42
    assert all(p.kernel_initializer.seed != 42 for p in projections[1:])  # no shared stream
    plain = keras.initializers.RandomNormal(stddev=0.02, seed=42)((8, 8))
    np.testing.assert_array_equal(kernels(model)[0], keras.ops.convert_to_numpy(plain))


def test_seed_covers_explicit_kept_and_keras_default_weights():
    policy = kip.parse("@seed 11\n" + BYSTANDER)
    with policy.scope():
        a = build_explicit_and_default()
    with policy.scope():
        b = build_explicit_and_default()
    for x, y in zip(values(a), values(b), strict=True):
        np.testing.assert_array_equal(x, y)
    with kip.parse("@seed 12\n" + BYSTANDER).scope():
        c = build_explicit_and_default()
    assert not np.array_equal(values(a)[0], values(c)[0])
    # the code's class and parameters are kept; only the seed is new
    init = a.layers[1].kernel_initializer
    assert type(init).__name__ == "RandomUniform"
    assert (init.minval, init.maxval) == (-0.3, 0.3) and isinstance(init.seed, int)


def test_seeded_rebuilds_match_in_a_fresh_config_load():
    """Configs tell the truth: the reseeded initializer is in the layer's config."""
    with kip.parse("@seed 5\n" + BYSTANDER).scope():
        model = build_explicit_and_default()
    clone = keras.Model.from_config(model.get_config())
    for x, y in zip(values(model), values(clone), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("copy", ["from_config", "deserialize", "clone_model"])
def test_a_copy_built_in_the_same_seeded_scope_draws_its_own_stream(copy):
    """The config of a layer a rule decided under `@seed` names its derived seed, so a copy made
    from it carries that seed "in code". Built in the same scope, the copy is a second use of
    the stream and gets its own seed — the first copy as much as the second. (Before, the rule's
    draw did not hold its stream: the first copy drew the original's values, the second not.)
    Built in another scope, or without one, a copy draws what the config says."""
    policy = kip.parse("@seed 5\nDense -> glorot_normal")

    def make_copy(model):
        if copy == "from_config":
            return keras.Model.from_config(model.get_config())
        if copy == "deserialize":
            return keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
        return keras.models.clone_model(model)

    with policy.scope():
        original = build_explicit_and_default()
        copies = [make_copy(original) for _ in range(2)]
    drawn = [kernels(m)[-1] for m in (original, *copies)]  # the rule's Dense(3)
    assert len({k.tobytes() for k in drawn}) == 3
    seeds = [m.layers[-1].kernel_initializer.seed for m in (original, *copies)]
    assert len(set(seeds)) == 3  # each config names the seed its weight was drawn from

    with policy.scope():
        elsewhere = make_copy(original)
    outside = make_copy(original)
    for model in (elsewhere, outside):
        np.testing.assert_array_equal(kernels(model)[-1], drawn[0])
        assert model.layers[-1].kernel_initializer.seed == seeds[0]


def test_explain_reports_reseeded_weights():
    policy = kip.parse("@seed 1\nDense -> he_normal\n*.bias -> zeros")
    with policy.scope():
        model = build_explicit_and_default()
    rows = {(a.layer_path.split("/")[-1], a.weight): a for a in policy.explain(model)}
    embedding = next(a for (p, w), a in rows.items() if w == "embeddings")
    assert embedding.reason == "keras-default" and embedding.reseeded
    explicit = [a for a in rows.values() if a.reason == "explicit"]
    assert explicit and all(a.reseeded for a in explicit)
    ruled = [a for a in rows.values() if a.reason == "rule"]
    assert ruled and not any(a.reseeded for a in ruled)
    assert '"reseeded": true' in policy.explain(model).to_json()
    assert "reseeded" in policy.explain(model).to_table()


def test_unseeded_policies_follow_set_random_seed():
    policy = kip.parse(BYSTANDER)
    keras.utils.set_random_seed(1)
    with policy.scope():
        a = build_shared()
    keras.utils.set_random_seed(1)
    with policy.scope():
        b = build_shared()
    with policy.scope():
        c = build_shared()
    np.testing.assert_array_equal(kernels(a)[3], kernels(b)[3])
    assert not np.array_equal(kernels(a)[3], kernels(c)[3])


def test_explicit_majority_warns_once_with_the_count():
    policy = kip.parse("Dense -> he_normal\n*.bias -> zeros")
    with pytest.warns(
        kip.ExplicitKeepWarning,
        match=r"4 of the 4 kernel-like weights the policy's rules matched .*@explicit override",
    ):
        with policy.scope():
            build_shared()
    with warnings.catch_warnings():
        warnings.simplefilter("error", kip.ExplicitKeepWarning)
        with kip.parse("@explicit override\nDense -> he_normal\n*.bias -> zeros").scope():
            build_shared()
        with policy.scope():  # the policy decides most weights: nothing to say
            keras.Sequential([keras.Input((4,)), layers.Dense(4), layers.Dense(4)])


class SharedEinsum(layers.Layer):
    """One GlorotUniform instance for four EinsumDense projections: Keras's EinsumDense draws
    from a copy that carries the instance's concrete seed, so the four copies are distinct
    objects with one stream (keras-hub's Gemma attention)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        init = keras.initializers.GlorotUniform()
        self.projections = [
            layers.EinsumDense("bd,df->bf", output_shape=(8,), kernel_initializer=init)
            for _ in range(4)
        ]

    def call(self, x):
        return sum(p(x) for p in self.projections)


def build_shared_einsum():
    inputs = keras.Input((8,))
    return keras.Model(inputs, SharedEinsum()(inputs))


def test_without_a_policy_einsum_copies_share_a_stream():
    first, *rest = kernels(build_shared_einsum())
    assert all(np.array_equal(first, k) for k in rest)


@pytest.mark.parametrize("policy", [BYSTANDER, "@seed 3\n" + BYSTANDER])
def test_einsum_copies_of_one_instance_get_their_own_streams(policy):
    with kip.parse(policy).scope():
        model = build_shared_einsum()
    ks = kernels(model)
    assert len({k.tobytes() for k in ks}) == 4
    limit = np.sqrt(6 / 16)  # GlorotUniform as written, for fans 8 + 8
    assert all(np.abs(k).max() <= limit for k in ks)


def test_einsum_default_initializers_are_reproducible_under_seed():
    """EinsumDense writes its default initializer's concrete seed into the copy it draws from;
    that seed is Keras's random default, not one the code set, so `@seed` replaces it."""
    policy = kip.parse("@seed 9\n" + BYSTANDER)

    def build():
        inputs = keras.Input((8,))
        return keras.Model(inputs, layers.EinsumDense("bd,df->bf", output_shape=(8,))(inputs))

    with policy.scope():
        a = build()
    with policy.scope():
        b = build()
    np.testing.assert_array_equal(kernels(a)[0], kernels(b)[0])


class RandomState(layers.Layer):
    """Non-trainable random state, as keras-hub's SAM draws its Fourier feature matrix."""

    def build(self, shape):
        self.gaussian = self.add_weight(
            name="gaussian", shape=(2, 16), initializer="random_normal", trainable=False
        )
        self.moving = self.add_weight(
            name="moving", shape=(16,), initializer="zeros", trainable=False
        )

    def call(self, x):
        return x


def test_seed_covers_non_trainable_random_state_and_leaves_it_rule_free():
    policy = kip.parse("@seed 4\n*.gaussian -> zeros  # noqa")

    def build():
        inputs = keras.Input((2,))
        return keras.Model(inputs, RandomState()(inputs))

    with policy.scope():
        a = build()
    with policy.scope():
        b = build()
    ga, gb = (keras.ops.convert_to_numpy(m.layers[1].gaussian) for m in (a, b))
    np.testing.assert_array_equal(ga, gb)
    assert np.std(ga) > 0  # the rule never applies to state: still its own random normal
    rows = {r.weight: r for r in policy.explain(a)}
    assert rows["gaussian"].reseeded and rows["gaussian"].reason == "keras-default"
    assert not rows["moving"].reseeded
