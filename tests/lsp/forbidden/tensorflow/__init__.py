"""Stands in for `tensorflow` on the language server's path in tests/lsp: importing it is a bug.

The import is written to the file named by KIP_FORBIDDEN_LOG before failing, so that a server
that catches the ImportError still fails the test.
"""

import os

with open(os.environ["KIP_FORBIDDEN_LOG"], "a", encoding="utf-8") as log:
    log.write("tensorflow\n")
raise ModuleNotFoundError("the language server must not import tensorflow", name="tensorflow")
