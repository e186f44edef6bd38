"""``initpolicy lsp``: a language server for policy files (docs/editors.md), over stdio.

Needs the ``[lsp]`` extra (pygls). Modules: ``text`` (tokens and cursor context), ``findings``
(lint with ranges), ``hover``, ``complete``, ``fixes`` (quick fixes for "Did you mean"),
``presets`` (shipped presets by name) and ``server`` (the pygls handlers). None imports Keras.
"""
