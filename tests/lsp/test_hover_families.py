"""Hover describes the variance-scaling families from their one declaration
(``catalog/initializers.py``), the same the compiler reads: change the declaration and the hover
text follows."""

from __future__ import annotations

from dataclasses import replace

import pytest

from keras_initpolicy.catalog import initializers as ic
from keras_initpolicy.lsp import hover

MEMBERS = [(f, m) for f in ic.VARIANCE_FAMILIES.values() for m in f.members]


def _sigma(scale: float, mode: str) -> str:
    scale = f"{(2 * scale if mode == 'fan_avg' else scale):g}"
    return f"√({scale}/(fan_in+fan_out))" if mode == "fan_avg" else f"√({scale}/{mode})"


@pytest.mark.parametrize(("fam", "member"), MEMBERS, ids=[m.name for _, m in MEMBERS])
def test_hover_shows_the_declared_class_title_and_formula(fam, member):
    text = hover.initializer_doc(member.name)
    assert text.splitlines()[0] == f"**{member.name}** — Keras `{member.class_name}` ({fam.title})"
    assert f"Scale {fam.scale:g}, mode {fam.mode}." in text
    if member.distribution == "uniform":
        assert "uniform U[-r, r]" in text
    else:
        assert f"truncated normal, σ = {_sigma(fam.scale, fam.mode)}" in text


def test_hover_follows_the_declaration(monkeypatch):
    he = ic.VARIANCE_FAMILIES["he"]
    changed = replace(he, title="a changed title", scale=3.0, mode="fan_out")
    monkeypatch.setitem(ic.VARIANCE_FAMILIES, "he", changed)
    monkeypatch.setitem(ic._MEMBERS, "he_normal", (changed, he.members[0]))
    text = hover.initializer_doc("he_normal")
    assert "a changed title" in text
    assert "σ = √(3/fan_out)" in text and "Scale 3, mode fan_out." in text


def test_extensions_are_the_declared_ones():
    for fam, member in MEMBERS:
        allowed = set(ic.spec(member.name).allowed)
        assert ("variant" in allowed) == (fam.kwon_mode is not None), member.name
        assert ("negative_slope" in allowed) == fam.negative_slope, member.name
        assert {"distribution", "fans", "seed"} <= allowed
    assert ic.VARIANCE_SCALING == {m.name for _, m in MEMBERS} | {"variance_scaling", "auto"}


def test_variant_message_names_the_families_that_have_one():
    from keras_initpolicy.language.nodes import Argument, InitCall

    [d] = ic.check_call(InitCall("lecun_normal", (Argument("variant", "kwon"),)))
    assert "exists only on glorot_* and he_*" in d.message
