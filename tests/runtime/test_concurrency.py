"""Scopes are per thread and per asyncio task, always restored, and nest by replacement
(docs/reference.md#applying-a-policy).

Behaviour documented in ``docs/errors.md`` ("Scopes: threads, tasks, nesting, errors").
"""

from __future__ import annotations

import asyncio
import threading
import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

import keras_initpolicy as kip  # noqa: E402
from keras_initpolicy.runtime.scope import current_scope  # noqa: E402

pytestmark = pytest.mark.keras

ONES = kip.parse("Dense -> constant(1.0)  # noqa: IP201")
TWOS = kip.parse("Dense -> constant(2.0)  # noqa: IP201")
CONV_THREES = kip.parse("Conv2D -> constant(3.0)  # noqa: IP201")
SEEDED_A = kip.parse("@seed 11\nDense -> he_normal")
SEEDED_B = kip.parse("@seed 22\nDense -> glorot_uniform")

TIMEOUT = 60  # seconds; a barrier that times out fails the test instead of hanging it


def kernel(layer) -> np.ndarray:
    return keras.ops.convert_to_numpy(layer.kernel)


def dense_model(width: int = 8) -> keras.Model:
    return keras.Sequential(
        [keras.Input((4,)), layers.Dense(width, activation="relu"), layers.Dense(3)]
    )


def constant_of(model) -> set[float]:
    """The distinct values of all Dense kernels (one value when a constant rule applied)."""
    return {float(v) for lyr in model.layers for v in np.unique(kernel(lyr))}


def is_keras_default(layer) -> bool:
    return (
        type(layer.kernel_initializer).__name__ == "GlorotUniform"
        and np.unique(kernel(layer)).size > 1
    )


def run_threads(targets) -> list:
    """Run ``targets`` in threads; return their results, re-raising the first exception."""
    results: list = [None] * len(targets)
    errors: list = []

    def runner(i, fn):
        try:
            results[i] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(i, fn)) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    if errors:
        raise errors[0]
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results


# -- threads -----------------------------------------------------------------------------------


def test_two_threads_building_at_the_same_time_each_get_their_own_policy():
    barrier = threading.Barrier(2, timeout=TIMEOUT)

    def build(policy):
        models = []
        with policy.scope():
            barrier.wait()  # both scopes are active now
            for _ in range(3):
                models.append(dense_model())
                barrier.wait()  # interleave the builds step by step
            assert current_scope().policy is policy
        assert current_scope() is None
        return models

    ones, twos = run_threads([lambda: build(ONES), lambda: build(TWOS)])
    assert all(constant_of(m) == {1.0} for m in ones)
    assert all(constant_of(m) == {2.0} for m in twos)


def test_a_scope_in_one_thread_does_not_leak_into_another():
    inside = threading.Event()
    built = threading.Event()

    def scoped():
        with ONES.scope():
            inside.set()
            assert built.wait(TIMEOUT)
            return dense_model()

    def plain():
        assert inside.wait(TIMEOUT)
        assert current_scope() is None
        model = dense_model()
        built.set()
        return model

    scoped_model, plain_model = run_threads([scoped, plain])
    assert constant_of(scoped_model) == {1.0}
    assert all(is_keras_default(lyr) for lyr in plain_model.layers)


def test_seeded_builds_are_bit_identical_with_or_without_a_concurrent_build():
    with SEEDED_A.scope():
        alone = [kernel(lyr) for lyr in dense_model(64).layers]
    barrier = threading.Barrier(2, timeout=TIMEOUT)

    def build(policy):
        with policy.scope():
            barrier.wait()
            model = dense_model(64)
        return [kernel(lyr) for lyr in model.layers]

    together, other = run_threads([lambda: build(SEEDED_A), lambda: build(SEEDED_B)])
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(together[0], other[0])


def test_decorated_builders_called_from_many_threads():
    barrier = threading.Barrier(4, timeout=TIMEOUT)

    def builder():
        barrier.wait()
        return dense_model()

    ones = kip.apply_policy(ONES)(builder)
    twos = kip.apply_policy(TWOS)(builder)
    models = run_threads([ones, twos, ones, twos])
    assert [constant_of(m) for m in models] == [{1.0}, {2.0}, {1.0}, {2.0}]


def test_parsing_from_many_threads_keeps_comments_apart():
    """The parser collects comments per thread; concurrent parses never mix them."""
    from keras_initpolicy.language.parser import parse_file

    barrier = threading.Barrier(8, timeout=TIMEOUT)

    def parse(i):
        barrier.wait()
        text = "\n".join(
            f"Dense[units={i}] -> he_normal  # thread {i} line {n}" for n in range(200)
        )
        return parse_file(text)

    files = run_threads([lambda i=i: parse(i) for i in range(8)])
    for i, pfile in enumerate(files):
        assert len(pfile.comments) == 200
        assert all(c.text.startswith(f"# thread {i} ") for c in pfile.comments)


# -- asyncio tasks -----------------------------------------------------------------------------


def test_two_asyncio_tasks_each_get_their_own_scope():
    async def build(policy, mine: asyncio.Event, theirs: asyncio.Event):
        with policy.scope():
            mine.set()
            await asyncio.wait_for(theirs.wait(), TIMEOUT)  # the other task is in its scope
            first = dense_model()
            await asyncio.sleep(0)  # let the other task build in between
            second = dense_model()
            assert current_scope().policy is policy
        return first, second

    async def main():
        a_in, b_in = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(build(ONES, a_in, b_in), build(TWOS, b_in, a_in))

    (a1, a2), (b1, b2) = asyncio.run(main())
    assert constant_of(a1) == constant_of(a2) == {1.0}
    assert constant_of(b1) == constant_of(b2) == {2.0}
    assert current_scope() is None


def test_a_task_started_inside_a_scope_inherits_it_but_cannot_change_it():
    async def child():
        assert current_scope().policy is ONES  # contextvars are copied into the task
        with TWOS.scope():
            return dense_model()

    async def main():
        with ONES.scope():
            inner = await asyncio.create_task(child())
            after = dense_model()  # the child's scope did not leak back
        return inner, after

    inner, after = asyncio.run(main())
    assert constant_of(inner) == {2.0}
    assert constant_of(after) == {1.0}


# -- errors ------------------------------------------------------------------------------------


def assert_everything_restored():
    assert current_scope() is None
    plain = dense_model()
    assert all(is_keras_default(lyr) for lyr in plain.layers)  # Keras builds its defaults
    with TWOS.scope():  # and the hooks still work
        assert constant_of(dense_model()) == {2.0}


def test_an_exception_inside_a_scope_restores_everything():
    with warnings.catch_warnings():
        warnings.simplefilter("error", kip.UnusedRuleWarning)  # no report for a failed scope
        with pytest.raises(RuntimeError, match="boom"):
            with ONES.scope():
                assert constant_of(dense_model()) == {1.0}
                raise RuntimeError("boom")
    assert_everything_restored()


class Kernel4D(layers.Layer):
    """A user layer (unknown to validation) with a rank-4 kernel: `identity` fails at build."""

    def build(self, shape):
        self.kernel = self.add_weight(shape=(3, 3, int(shape[-1]), 4), name="kernel")

    def call(self, x):
        return x


def test_a_build_time_policy_error_restores_everything():
    bad = kip.parse("Kernel4D -> identity", source="bad.initpolicy")
    with pytest.raises(kip.PolicyError) as info:
        with bad.scope():
            keras.Sequential([keras.Input((8, 8, 3)), Kernel4D(name="k4")])
    assert info.value.code == "IP108"
    message = str(info.value)
    assert "bad.initpolicy:1" in message and "k4" in message and "(3, 3, 3, 4)" in message
    assert_everything_restored()


def test_an_exception_in_one_thread_does_not_disturb_the_other():
    barrier = threading.Barrier(2, timeout=TIMEOUT)

    def failing():
        try:
            with TWOS.scope():
                barrier.wait()
                raise ValueError("thread failure")
        except ValueError:
            pass
        barrier.wait()
        return current_scope()

    def working():
        with ONES.scope():
            barrier.wait()
            barrier.wait()  # the other thread's scope has failed and closed by now
            return dense_model()

    leftover, model = run_threads([failing, working])
    assert leftover is None
    assert constant_of(model) == {1.0}
    assert current_scope() is None


def test_an_exception_in_a_decorated_builder_restores_everything():
    @kip.apply_policy(ONES)
    def builder():
        dense_model()
        raise KeyError("builder failed")

    with pytest.raises(KeyError):
        builder()
    assert_everything_restored()


# -- nesting -----------------------------------------------------------------------------------


def test_inner_scope_replaces_outer_for_its_duration():
    with ONES.scope():
        before = dense_model()
        with CONV_THREES.scope():
            # Policies do not merge: Dense has no rule in the inner policy -> Keras's default.
            inner_dense = dense_model()
            conv = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(2, 3)])
            assert current_scope().policy is CONV_THREES
        after = dense_model()
        assert current_scope().policy is ONES
    assert current_scope() is None
    assert constant_of(before) == constant_of(after) == {1.0}
    assert all(is_keras_default(lyr) for lyr in inner_dense.layers)
    assert set(np.unique(kernel(conv.layers[0]))) == {3.0}


def test_the_same_policy_can_be_nested_but_one_scope_object_cannot_be_reentered():
    with ONES.scope():
        with ONES.scope():
            assert constant_of(dense_model()) == {1.0}
    scope = ONES.scope()
    with scope:
        with pytest.raises(RuntimeError, match="already active"):
            with scope:
                pass
        assert current_scope() is scope.state  # the failed re-entry changed nothing
    assert current_scope() is None


def test_layers_follow_the_scope_they_were_created_in():
    """A model created in one scope and built later, inside another, keeps its own policy."""
    with ONES.scope():
        model = keras.Sequential([layers.Dense(8), layers.Dense(3)])  # no Input: built later
    with TWOS.scope():
        model.build((None, 4))
        fresh = dense_model()
    assert constant_of(model) == {1.0}
    assert constant_of(fresh) == {2.0}
