"""Precedence (docs/reference.md#precedence), checked on examples and against a brute-force
oracle."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_initpolicy.language.parser import parse_file
from keras_initpolicy.policy import load_unvalidated
from keras_initpolicy.resolve import (
    LayerFacts,
    Resolver,
    predicate_holds,
    resolve_by_definition,
)

DENSE = ("Dense", "Layer", "Operation")
LSTM_CELL = ("LSTMCell", "DropoutRNNCell", "Layer", "Operation")
LSTM = ("LSTM", "RNN", "Layer", "Operation")


def resolve(text, chain, weight="kernel", kernel_like=True):
    rules = load_unvalidated(text, is_text=True).rules  # numbered in order, not validated
    match = Resolver(rules).resolve(chain, weight, kernel_like)
    return None if match is None else match.rule.text


def dense(**attrs):
    return LayerFacts(DENSE, {"activation": "linear", "name": "dense", **attrs})


def test_more_specific_rule_wins_regardless_of_order():
    text = "Dense[activation=relu] -> he_normal\nDense -> glorot_uniform"
    assert resolve(text, [dense(activation="relu")]) == "Dense[activation=relu] -> he_normal"
    assert resolve(text, [dense()]) == "Dense -> glorot_uniform"


def test_class_name_beats_predicates_on_star():
    text = "Dense -> ones\n*[activation=relu, units=3] -> zeros"
    assert resolve(text, [dense(activation="relu", units=3)]) == "Dense -> ones"


def test_later_rule_wins_a_tie():
    assert resolve("Dense -> ones\nDense -> zeros", [dense()]) == "Dense -> zeros"


def test_base_class_names_match_through_the_mro():
    assert resolve("Layer -> ones", [dense()]) == "Layer -> ones"
    assert (
        resolve(
            "RNN.recurrent_kernel -> orthogonal",
            [LayerFacts(LSTM_CELL), LayerFacts(LSTM)],
            "recurrent_kernel",
            False,
        )
        == "RNN.recurrent_kernel -> orthogonal"
    )


def test_rule_without_weight_part_only_targets_kernel_like_weights():
    assert resolve("Dense -> ones", [dense()], "bias", False) is None
    assert resolve("Dense -> ones\n*.bias -> zeros", [dense()], "bias", False) == "*.bias -> zeros"


def test_owner_beats_enclosing_layer_at_equal_specificity():
    text = "LSTMCell -> ones\nLSTM -> zeros"
    chain = [LayerFacts(LSTM_CELL), LayerFacts(LSTM)]
    assert resolve(text, chain) == "LSTMCell -> ones"
    assert resolve("LSTM -> zeros", chain) == "LSTM -> zeros"  # covers the cell


def test_more_specific_enclosing_rule_beats_owner_rule():
    text = "LSTMCell -> ones\nLSTM.kernel -> zeros"
    chain = [LayerFacts(LSTM_CELL), LayerFacts(LSTM)]
    assert resolve(text, chain) == "LSTM.kernel -> zeros"


def test_alias_selectors_match_the_real_class():
    conv = LayerFacts(("Conv2D", "BaseConv", "Layer"), {})
    assert resolve("Convolution2D -> he_normal", [conv]) == "Convolution2D -> he_normal"


@pytest.mark.parametrize(
    "op, value, actual, holds",
    [
        ("=", 3, 3, True),
        ("=", 3, (3, 3), True),
        ("=", (3, 3), (3, 3), True),
        ("=", 3, (3, 5), False),
        ("!=", 3, 4, True),
        ("<", 5, 4, True),
        ("<", 5, "x", False),
        (">=", 2, 2.0, True),
        ("in", ("relu", "gelu"), "gelu", True),
        ("not in", ("relu",), "tanh", True),
        ("~=", "head*", "head_out", True),
        ("~=", "head*", "x_head", False),
        ("=", True, True, True),
        ("=", True, 1, False),
        ("=", None, None, True),
    ],
)
def test_predicate_semantics(op, value, actual, holds):
    from keras_initpolicy.language.nodes import Predicate

    assert predicate_holds(Predicate("a", op, value), actual) is holds


@pytest.mark.parametrize(
    "text",
    [
        "Dense[activation=swish] -> ones",
        "Dense[activation in (relu, swish)] -> ones",
        "Dense[activation=silu] -> ones",
    ],
)
def test_activation_aliases_match_the_canonical_effective_activation(text):
    """The effective activation is canonical (``silu``); a policy may name an alias."""
    assert resolve(text, [dense(activation="silu")]) == text.split(" -> ")[0] + " -> ones"
    assert resolve("Dense[activation!=swish] -> ones", [dense(activation="silu")]) is None


def test_missing_attribute_never_matches():
    assert resolve("Dense[filters=3] -> ones", [dense()]) is None
    assert resolve("Dense[filters!=3] -> ones", [dense()]) is None


# -- the indexed resolver against the definition applied by brute force -------------------------------------------

CLASSES = ["Dense", "Conv2D", "LSTM", "LSTMCell", "Layer", "*"]
WEIGHTS = ["kernel", "bias", "recurrent_kernel"]


selector = st.builds(
    lambda cls, preds, weight: (
        cls + (f"[{', '.join(preds)}]" if preds else "") + (f".{weight}" if weight else "")
    ),
    st.sampled_from(CLASSES),
    st.lists(
        st.sampled_from(
            ["activation=relu", "units>=16", "units<64", 'name~="d*"', "activation in (relu, tanh)"]
        ),
        max_size=2,
        unique=True,
    ),
    st.sampled_from([None, *WEIGHTS]),
)
rule = st.builds(
    lambda sels, init: f"{', '.join(sels)} -> {init}",
    st.lists(selector, min_size=1, max_size=2),
    st.sampled_from(["ones", "zeros", "he_normal"]),
)
layer = st.builds(
    lambda cls, act, units, name: LayerFacts(
        cls, {"activation": act, "units": units, "name": name}
    ),
    st.sampled_from([DENSE, LSTM_CELL, LSTM, ("Conv2D", "Layer")]),
    st.sampled_from(["relu", "tanh", "linear"]),
    st.sampled_from([8, 16, 32, 64, 128]),
    st.sampled_from(["dense", "d1", "x"]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(rule, min_size=1, max_size=12),
    st.lists(layer, min_size=1, max_size=3),
    st.sampled_from(WEIGHTS),
    st.booleans(),
)
def test_resolver_agrees_with_the_brute_force_definition_300_examples(
    rules_text, chain, weight, kernel_like
):
    rules = parse_file("\n".join(rules_text)).rules
    rules = tuple(r.__class__(**{**r.__dict__, "index": i}) for i, r in enumerate(rules))
    got = Resolver(rules).resolve(chain, weight, kernel_like)
    want = resolve_by_definition(rules, chain, weight, kernel_like)
    assert (got and got.key) == (want and want.key)
