"""The ``initpolicy`` executable and ``python -m keras_initpolicy``.

This module imports nothing heavy (``config.py``, for ``command_of``), so the process can be set up before the command line
(``cli.py``), Lark and the checks load. Short-lived commands (``lint``, ``fmt``: a pre-commit
hook runs them on every commit) run without the cycle collector: what they allocate is freed by
reference counting, and the process ends right after. Every command moves what it loaded to the
permanent generation before exiting, so the interpreter's last collections skip it. Together
that takes about 20 ms off a 95 ms ``initpolicy lint`` (``benchmarks/bench_lint.py``). Tests call
``cli.main``, which leaves the collector alone.
"""

from __future__ import annotations

import gc
import sys

from .config import command_of

__all__ = ["SHORT_LIVED", "command_of", "script"]

#: Commands that read a few files and exit.
SHORT_LIVED = frozenset({"lint", "fmt"})


def script() -> int:
    """Run the command named in ``sys.argv``; return its exit status."""
    if command_of(sys.argv[1:]) in SHORT_LIVED:
        gc.disable()
    from .cli import main  # late: loaded once the collector is set up (the point of this module)

    code = main()
    gc.freeze()
    return code
