"""The exceptions and warnings users see, all in this one module (it imports nothing).

Every exception the package raises on purpose derives from ``InitPolicyError``, and every warning
from ``InitPolicyWarning``, so ``except kip.InitPolicyError`` catches all of them. Each also keeps
the built-in base a caller would expect: ``PolicyError`` (a policy that cannot be used; it
carries a source, line and column) and ``CalibrationError`` are ``ValueError``s,
``PolicySyntaxError`` narrows ``PolicyError`` to text that does not parse, and
``UnsupportedBackendError`` and ``PlotUnavailableError`` are ``RuntimeError``s.
``TypeError`` for an argument of the wrong type stays a plain ``TypeError`` (a programming error).
"""

from __future__ import annotations

__all__ = [
    "InitPolicyError",
    "InitPolicyWarning",
    "PolicyError",
    "PolicySyntaxError",
    "UsageError",
    "CalibrationError",
    "UnsupportedBackendError",
    "PlotUnavailableError",
    "UnusedRuleWarning",
    "ExplicitKeepWarning",
    "caret_excerpt",
]


def caret_excerpt(text: str | None, line: int | None, column: int | None) -> str:
    """Return the source line ``line`` (1-based) followed by a caret under ``column``.

    >>> print(caret_excerpt("Dense -> he_normel", 1, 10))
        Dense -> he_normel
                 ^
    """
    if not text or not line:
        return ""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return ""
    src = lines[line - 1].expandtabs(1)
    col = max(1, column or 1)
    return f"    {src}\n    {' ' * (col - 1)}^"


class InitPolicyError(Exception):
    """The root of every exception keras-initpolicy raises on purpose."""


class InitPolicyWarning(UserWarning):
    """The root of every warning keras-initpolicy issues."""


class PolicyError(InitPolicyError, ValueError):
    """A policy that cannot be used: bad syntax, bad names, bad arguments, or a build-time misfit.

    Attributes ``source`` (a file path or ``"<string>"``), ``line`` and ``column`` (1-based, or
    None when the problem has no position) and ``message`` (the bare message) are always set.
    ``str(error)`` reads ``source:line:col: CODE message`` followed by a caret excerpt.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        text: str | None = None,
        code: str | None = None,
    ) -> None:
        self.message = message
        # An error about no particular text (e.g. "no project policy") prints without a location.
        self._no_location = source is None and line is None
        self.source = source or "<string>"
        self.line = line
        self.column = column
        self.code = code
        self.excerpt = caret_excerpt(text, line, column)
        super().__init__(self._render())

    def _render(self) -> str:
        if self._no_location:
            return f"{self.code} {self.message}" if self.code else self.message
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        code = f"{self.code} " if self.code else ""
        head = f"{where}: {code}{self.message}"
        return f"{head}\n{self.excerpt}" if self.excerpt else head

    def __reduce__(self):  # keep pickling (multiprocessing, pytest-xdist) working
        return (
            _rebuild,
            (type(self), self.message, self.source, self.line, self.column, self.code),
        )


def _rebuild(cls, message, source, line, column, code):
    return cls(message, source=source, line=line, column=column, code=code)


class PolicySyntaxError(PolicyError):
    """Policy text that does not follow the grammar (diagnostic IP001)."""


class UsageError(InitPolicyError):
    """A problem with the command line, the configuration or the input files (``initpolicy``
    exits 2)."""


class CalibrationError(InitPolicyError, ValueError):
    """``calibrate`` cannot run on what it was given (the message says what and how to fix it)."""


class UnsupportedBackendError(InitPolicyError, RuntimeError):
    """The active Keras backend has no gradient adapter."""


class PlotUnavailableError(InitPolicyError, RuntimeError):
    """Plotting needs matplotlib, which is not installed."""


class UnusedRuleWarning(InitPolicyWarning):
    """A rule matched no weight while a policy scope or decorator was active."""


class ExplicitKeepWarning(InitPolicyWarning):
    """Most weights built in a scope kept the initializer their model code passed explicitly
    (``@explicit keep``), so the policy decided few of them; ``@explicit override`` lets it."""
