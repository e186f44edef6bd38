"""The hooked Keras surface: fails loudly when a Keras release changes what we rely on."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
from keras_initpolicy.runtime import hooks  # noqa: E402

pytestmark = pytest.mark.keras


@pytest.mark.parametrize("name", sorted(hooks.HOOKED_SURFACE))
def test_hooked_surface_exists(name):
    assert hooks.HOOKED_SURFACE[name](), (
        f"Keras {keras.__version__} changed `{name}`, which hooks.py relies on; "
        "update hooks.py and the version range in its docstring"
    )


def test_consumers_and_sublayers_see_the_graph():
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(3)
    act = keras.layers.Activation("relu")
    keras.Model(inputs, act(dense(inputs)))
    assert hooks.consumers(dense) == [act]
    lstm = keras.layers.LSTM(2)
    assert lstm.cell in hooks.sublayers(lstm)


def test_own_weights_are_the_layers_own():
    lstm = keras.layers.LSTM(2)
    lstm.build((None, 3, 4))
    assert hooks.own_weights(lstm) == []
    assert {v.name for v in hooks.own_weights(lstm.cell)} == {
        "kernel",
        "recurrent_kernel",
        "bias",
    }


def test_hooks_are_installed_once_and_keras_works_without_a_scope():
    import keras_initpolicy as kip
    from keras_initpolicy.runtime.hooks import Functional, Layer
    from keras_initpolicy.runtime.scope import _Callbacks

    with kip.parse("Dense -> ones").scope():
        pass
    patched = (Layer.__dict__["__new__"], Layer.add_weight, Functional.__init__)
    with kip.parse("Dense -> zeros  # noqa").scope():
        pass
    hooks.install(_Callbacks)  # a second install leaves the one patch in place
    assert hooks.installed()
    assert (Layer.__dict__["__new__"], Layer.add_weight, Functional.__init__) == patched
    # one wrapper, wrapping Keras's own method (not a wrapper of a wrapper)
    assert Layer.add_weight.__wrapped__ is hooks._ORIGINAL["add_weight"]
    assert not hasattr(Layer.add_weight.__wrapped__, "__wrapped__")
    layer = keras.layers.Dense(2, kernel_initializer="ones")
    layer.build((None, 2))
    assert float(keras.ops.sum(layer.kernel)) == 4.0


def test_uninstall_restores_keras_and_the_next_scope_installs_again():
    import keras_initpolicy as kip
    from keras_initpolicy.runtime.hooks import Functional, Layer

    policy = kip.parse("Dense -> ones")
    with policy.scope():
        pass
    hooks.uninstall()
    assert not hooks.installed()
    assert Layer.add_weight is hooks._ORIGINAL["add_weight"]
    assert Layer.__dict__["__new__"] is hooks._ORIGINAL["new"]
    assert Layer._maybe_build is hooks._ORIGINAL["maybe_build"]
    assert Functional.__init__ is hooks._ORIGINAL["functional_init"]
    with policy.scope():
        inputs = keras.Input((2,))
        model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    assert hooks.installed()
    assert float(keras.ops.sum(model.layers[1].kernel)) == 6.0
