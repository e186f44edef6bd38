"""The language server's Keras-free helpers (doctests), and ``initpolicy lsp`` without pygls.

The server's behaviour is tested end to end over stdio in ``test_lsp_server.py``.
"""

from __future__ import annotations

import doctest
import importlib
import sys

import pytest

from keras_initpolicy.cli import EXIT_USAGE, main

HELPERS = ["text", "hover", "complete", "fixes", "presets"]


@pytest.mark.parametrize("name", HELPERS)
def test_doctests(name):
    module = importlib.import_module(f"keras_initpolicy.lsp.{name}")
    result = doctest.testmod(module)
    assert result.failed == 0


def test_lsp_without_pygls_says_how_to_install(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "keras_initpolicy.lsp.server", raising=False)
    monkeypatch.setitem(sys.modules, "pygls", None)
    monkeypatch.setitem(sys.modules, "pygls.lsp.server", None)
    assert main(["lsp"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "pip install 'keras-initpolicy[lsp]'" in err and "pygls" in err
