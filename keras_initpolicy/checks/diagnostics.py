"""Diagnostic records and the table of codes (SPEC §5). Formatters live in ``formatting.py``.

Codes are stable: new ones are added, none is ever renumbered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Diagnostic", "CODES", "ERROR", "WARNING", "INFO", "SEVERITY_RANK"]

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
