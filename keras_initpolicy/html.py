"""HTML tables for notebooks (``_repr_html_``). No Keras, no third-party imports.

Every report object (explanations, lint and audit findings, calibration and diagnose reports)
renders through :func:`html_table`, so they look alike in Jupyter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

__all__ = ["html_table"]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


def html_table(
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    caption: str | None = None,
    footer: str | None = None,
) -> str:
    """A plain ``<table>``: header ``columns``, one ``<tr>`` per row, values escaped.

    ``footer`` is raw HTML placed after the table (e.g. an inline ``<img>`` of a plot); callers
    build it from escaped or generated content only.
    """
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    table = (
        '<table class="keras-initpolicy">'
        f"{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
    return table + (footer or "")
