"""Missing values: the two rules evigap uses to decide that a cell holds nothing.

* :func:`is_null` - the value is a null: ``None``, ``pandas.NA``, ``pandas.NaT`` or a float
  NaN (``numpy.nan`` included).  Text is never null.  For writing and displaying cells
  (:func:`evidence.export.write_csv`, the report): an empty string is written as it is.
* :func:`is_blank` - the cell says nothing: a null, or text that is empty after stripping or
  reads as a null once stringified (:data:`BLANK_TEXTS`, case-insensitive: what ``str()`` of
  a null gives, e.g. from a column that went through ``astype(str)``).  For reading
  judgements, names and options from a sheet (grading's records, risk of bias, overrides).

The missing-value *tokens* of a study sheet (``NA``, ``NR``, ...; what the reader turns into
nulls) are :data:`evidence.readers.NA_VALUES`.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["BLANK_TEXTS", "is_blank", "is_null"]

#: Texts (lower case, stripped) that :func:`is_blank` reads as an empty cell.
BLANK_TEXTS: frozenset[str] = frozenset({"", "nan", "<na>", "none"})

_NULL_TYPES = frozenset({"NAType", "NaTType"})


def is_null(value: Any) -> bool:
    """Whether ``value`` is a null (None, pandas.NA, pandas.NaT, a float NaN); text never is."""
    if value is None or type(value).__name__ in _NULL_TYPES:
        return True
    return isinstance(value, float) and math.isnan(value)


def is_blank(value: Any) -> bool:
    """Whether a cell says nothing: a null (:func:`is_null`) or text in :data:`BLANK_TEXTS`
    once stripped and lower-cased ("", "nan", "<na>", "none")."""
    if isinstance(value, str):
        return value.strip().lower() in BLANK_TEXTS
    return is_null(value)
