"""The README's keras-hub recipe (issue 11, item 4): keras-hub passes an initializer to every layer,
so under `@explicit keep` a policy decides little — the scope says so once — and
`@explicit override` (or a preset, which sets it) lets the policy decide."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

import keras_initpolicy as kip  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.filterwarnings("ignore::UserWarning")]

DEFAULT = Path(__file__).resolve().parents[2] / "examples" / "policies" / "default.initpolicy"


def gpt2():
    return keras_hub.models.GPT2Backbone(
        vocabulary_size=64,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=8,
    )


def build(policy):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with policy.scope():
            model = gpt2()
    return model, [w for w in caught if issubclass(w.category, kip.ExplicitKeepWarning)]


def test_keep_says_once_that_the_code_decided_most_weights():
    model, said = build(kip.load(DEFAULT))
    assert len(said) == 1
    assert "@explicit override" in str(said[0].message)
    reasons = [a.reason for a in kip.load(DEFAULT).explain(model)]
    assert reasons.count("rule") < reasons.count("explicit")


def test_override_lets_the_policy_decide_and_says_nothing(tmp_path):
    text = DEFAULT.read_text("utf-8").replace("@explicit keep", "@explicit override")
    policy = kip.parse(text)
    model, said = build(policy)
    assert said == []
    rows = policy.explain(model)
    assert all(a.reason == "rule" for a in rows if a.rule is not None)
    # what no rule reaches stays as the code chose it, and says so
    assert {a.reason for a in rows if a.rule is None} == {"explicit", "keras-default"}


def test_preset_recipe(tmp_path):
    (tmp_path / "hub.initpolicy").write_text('@include "preset:gpt2"\n@seed 0\n', "utf-8")
    policy = kip.load(tmp_path / "hub.initpolicy")
    model, said = build(policy)
    assert said == []
    rows = policy.explain(model)
    out = [a for a in rows if a.layer_path.endswith("attention_output") and a.weight == "kernel"]
    assert len(out) == 2
    assert all(a.reason == "rule" and abs(a.initializer.stddev - 0.01) < 1e-9 for a in out)
    again, _ = build(policy)
    for a, b in zip(model.weights, again.weights, strict=True):
        assert (keras.ops.convert_to_numpy(a) == keras.ops.convert_to_numpy(b)).all()
