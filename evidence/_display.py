"""Display helpers shared by the result objects' ``summary()`` and ``_repr_html_``."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["fmt_cell"]


def fmt_cell(x: Any) -> str:
    """One result field as text: floats to 6 significant digits (``NaN`` when missing)."""
    if isinstance(x, float):
        return "NaN" if math.isnan(x) else f"{x:.6g}"
    return str(x)
