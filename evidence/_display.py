"""Display helpers shared by the result objects' ``summary()`` and ``_repr_html_``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from html import escape
from typing import Any

__all__ = ["fields_html", "fmt_cell"]


def fmt_cell(x: Any) -> str:
    """One result field as text: floats to 6 significant digits (``NaN`` when missing)."""
    if isinstance(x, float):
        return "NaN" if math.isnan(x) else f"{x:.6g}"
    return str(x)


def fields_html(
    obj: Any,
    names: Iterable[str],
    title: str,
    *,
    note: str = "",
    cell: Callable[[Any], str] = fmt_cell,
) -> str:
    """A result object's fields as an HTML table (its ``_repr_html_``): ``title`` in bold,
    then ``note`` (already escaped), then one row per name with ``cell(value)``."""
    rows = "".join(
        f"<tr><th style='text-align:left'>{escape(name)}</th>"
        f"<td>{escape(cell(getattr(obj, name)))}</td></tr>"
        for name in names
    )
    return f"<div><strong>{title}</strong>{note}<table>{rows}</table></div>"
