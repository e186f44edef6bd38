"""``kip.lint`` results: still a plain list, and an escaped HTML table for notebooks (no Keras).

The real notebook run of every report is ``test_notebook_html.py``.
"""

from __future__ import annotations

import pickle

import keras_initpolicy as kip
from keras_initpolicy.checks.diagnostics import Diagnostic, Diagnostics


def test_lint_returns_a_list_that_compares_as_one():
    found = kip.lint("Dnse -> he_normal")
    assert isinstance(found, Diagnostics) and isinstance(found, list)
    assert found == [Diagnostic.make("IP101", 1, 1, found[0].message)]
    assert kip.lint("Dense -> auto") == []
    assert pickle.loads(pickle.dumps(found)) == found
    assert found[:1] == list(found)


def test_html_escapes_and_counts():
    found = kip.lint('Dense[name~="<b>*"] -> zeros\n*.bias -> ones')
    html = found._repr_html_()
    assert "&lt;b&gt;" in html and "<b>" not in html
    assert html.count("<tr>") == len(found) + 1  # header + one row per finding
    assert "<caption>2 findings: 1 warning, 1 info</caption>" in html
    assert Diagnostics()._repr_html_().count("<tr>") == 1
