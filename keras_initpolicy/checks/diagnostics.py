"""Diagnostic records and the table of codes (docs/diagnostics.md). Formatters: ``report.py``.

``Diagnostic`` is a finding about a policy, positioned in its source; ``Finding`` (IP4xx, from
``kip.audit``) is the same record about a built model, plus the ``layer_path`` and ``weight`` it
concerns. Its ``source`` names the model and its ``line``/``column`` are 0 (no text position), so
the formatters, ``--select``/``--ignore`` and ``--fail-on`` treat both alike.

Codes are stable: new ones are added, none is ever renumbered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = [
    "Diagnostic",
    "Diagnostics",
    "Finding",
    "CODES",
    "ERROR",
    "WARNING",
    "INFO",
    "SEVERITY_RANK",
]

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITY_RANK = {INFO: 0, WARNING: 1, ERROR: 2}

#: code -> (severity, one-line meaning)
CODES: dict[str, tuple[str, str]] = {
    "IP001": (ERROR, "syntax error"),
    "IP002": (ERROR, "@include not found, unreadable, too deep, or an include cycle"),
    "IP101": (ERROR, "unknown layer class"),
    "IP102": (ERROR, "weight name that the class never creates"),
    "IP103": (ERROR, "attribute the class does not have"),
    "IP104": (ERROR, "invalid value (unknown activation, wrong type, ordering on a string)"),
    "IP105": (ERROR, "unknown initializer"),
    "IP106": (ERROR, "bad initializer arguments"),
    "IP107": (ERROR, "unknown or malformed directive"),
    "IP108": (ERROR, "initializer cannot fit the targeted weights"),
    "IP201": (WARNING, "symmetric start: constant/zeros/ones on kernel-like weights"),
    "IP202": (WARNING, "initializer family does not match the activation"),
    "IP203": (WARNING, "Kwon variant on an activation it is not defined for"),
    "IP204": (INFO, "bias not started at zero"),
    "IP205": (WARNING, "uniform range wider than the saturation guidance for sigmoid/tanh"),
    "IP301": (WARNING, "dead rule: every weight it matches is taken by another rule"),
    "IP302": (WARNING, "duplicate rule"),
    "IP303": (WARNING, "rule targets no weight: the class has no kernel-like weights"),
    "IP401": (ERROR, "random weights drawn from the same stream (identical leading values)"),
    "IP402": (WARNING, "variance off by >= 1.5x because Keras's shape-based fans are wrong here"),
    "IP403": (WARNING, "symmetric start: a kernel-like weight whose values are all equal"),
    "IP404": (WARNING, "scale does not fit the effective activation along a deep chain"),
    "IP405": (INFO, "a bias drawn at random"),
}


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a policy, positioned in its source file."""

    code: str
    severity: str
    line: int
    column: int
    message: str
    source: str = "<string>"

    @classmethod
    def make(cls, code: str, line: int, column: int, message: str, source: str = "<string>"):
        """Build a diagnostic whose severity comes from the code table."""
        return cls(code, CODES[code][0], line, column, message, source)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Finding(Diagnostic):
    """One finding of ``kip.audit`` about a weight of a built model (codes IP4xx).

    >>> f = Finding.about("IP403", "mlp", "mlp/dense", "kernel", "all 64 values equal 0")
    >>> (f.severity, f.line, f.column, f.layer_path, f.weight)
    ('warning', 0, 0, 'mlp/dense', 'kernel')
    """

    layer_path: str = ""
    weight: str = ""

    @classmethod
    def about(cls, code: str, source: str, layer_path: str, weight: str, message: str):
        """A finding on ``layer_path``'s ``weight``; severity from the code table."""
        return cls(code, CODES[code][0], 0, 0, message, source, layer_path, weight)


class Diagnostics(list):
    """The list ``kip.lint`` returns: ``Diagnostic`` records, rendered as a table in notebooks.

    A plain ``list`` in every other way (it equals a list with the same records). Records with a
    ``layer_path`` (audit findings) show their layer and weight instead of a text position.

    >>> found = Diagnostics([Diagnostic.make("IP105", 2, 10, "Unknown initializer `x`.")])
    >>> found == [Diagnostic.make("IP105", 2, 10, "Unknown initializer `x`.")]
    True
    >>> "<td>&lt;string&gt;:2:10</td>" in found._repr_html_()
    True
    """

    def _repr_html_(self) -> str:
        from ..html import html_table  # plain Python: no Keras, no third-party import

        if any(getattr(d, "layer_path", "") for d in self):
            columns = ("code", "severity", "layer", "weight", "message")
            rows = [(d.code, d.severity, d.layer_path, d.weight, d.message) for d in self]
        else:
            columns = ("code", "severity", "where", "message")
            rows = [
                (d.code, d.severity, f"{d.source}:{d.line}:{d.column}", d.message) for d in self
            ]
        counts: dict[str, int] = {}
        for d in self:
            counts[d.severity] = counts.get(d.severity, 0) + 1
        summary = ", ".join(
            f"{n} {s}" + ("s" if n != 1 and s != INFO else "") for s, n in counts.items()
        )
        caption = f"{len(self)} finding{'s' if len(self) != 1 else ''}: {summary}"
        caption = caption if self else "no findings"
        return html_table(columns, rows, caption=caption)
