"""The problems ledger of :func:`evidence.read_studies`: every problem of every row, kept until
the rejected table is built, and the cell text shown with each problem."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["Problems", "REJECTED_COLUMNS", "fmt_value", "cells", "compact"]

REJECTED_COLUMNS = ("row", "study_id", "column", "value", "reason")


def fmt_value(v) -> str:
    if isinstance(v, float | np.floating):
        v = float(v)
        return str(int(v)) if v.is_integer() and abs(v) < 1e16 else repr(v)
    return str(v)


def _shown(v):
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    return fmt_value(v)


class CompactText:
    """The stripped cells of a numeric column, kept only to show the offending ones: Arrow
    text with 32-bit offsets, half the index memory of a ``string`` Series."""

    def __init__(self, text: pd.Series) -> None:
        # pyarrow is optional (the parquet extra): imported only on its fast path
        import pyarrow as pa

        self._text = pa.chunked_array(text.array.__arrow_array__()).cast(pa.string())

    def take(self, rows: np.ndarray) -> np.ndarray:
        return np.array(self._text.take(rows).to_pylist(), dtype=object)


class SomeCells:
    """The shown cells of the few rows a row rule can flag; every other row is dropped."""

    def __init__(self, rows: np.ndarray, cells: np.ndarray) -> None:
        self._rows, self._cells = rows, cells

    def take(self, rows: np.ndarray) -> np.ndarray:
        at = np.searchsorted(self._rows, rows)
        kept = at < len(self._rows)
        if not (kept.all() and (self._rows[at] == rows).all()):  # pragma: no cover - a bug
            raise AssertionError("a row rule showed a cell _SHOWN_BY_RULES did not keep")
        return self._cells[at]


def compact(text: pd.Series | None, raw: pd.Series):
    """What problems show of a numeric column: its text (compact when Arrow holds it)."""
    if text is None:
        return raw
    if getattr(text.dtype, "storage", None) == "pyarrow":
        return CompactText(text)
    return text


class Problems:
    def __init__(self, study_id: pd.Series):
        self._study_id = study_id
        self._parts: list[tuple[np.ndarray, str, np.ndarray, list[str]]] = []

    def add(self, mask, column: str, values, reasons) -> None:
        """Record a problem for every row where ``mask`` is true.

        ``values``: a full-length Series/array (the cell shown), or None.
        ``reasons``: a string, a full-length object array, a list with one reason per
        flagged row, or a callable applied to the shown value of each flagged row.
        """
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        rows = np.flatnonzero(mask)
        if isinstance(values, pd.Series):
            vals = values.iloc[rows].astype(object).to_numpy()
        elif isinstance(values, CompactText | SomeCells):
            vals = values.take(rows)
        elif isinstance(values, np.ndarray):
            vals = values[rows].astype(object)
        else:
            vals = np.full(len(rows), None, dtype=object)
        vals = np.array([_shown(v) for v in vals], dtype=object)
        if callable(reasons):
            why = [reasons(v) for v in vals]
        elif isinstance(reasons, np.ndarray):
            why = list(reasons[rows])
        elif isinstance(reasons, list):
            if len(reasons) != len(rows):  # pragma: no cover - a bug, never data
                raise AssertionError("one reason per flagged row expected")
            why = reasons
        else:
            why = [reasons] * len(rows)
        self._parts.append((rows, column, vals, why))

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            out = pd.DataFrame({c: pd.Series(dtype=object) for c in REJECTED_COLUMNS})
        else:
            out = pd.DataFrame(
                {
                    "row": np.concatenate([p[0] for p in self._parts]),
                    "column": [p[1] for p in self._parts for _ in p[0]],
                    "value": np.concatenate([p[2] for p in self._parts]),
                    "reason": [r for p in self._parts for r in p[3]],
                }
            )
            out = out.sort_values("row", kind="stable").reset_index(drop=True)
            out["study_id"] = self._study_id.iloc[out["row"].to_numpy()].to_numpy()
        out = out[list(REJECTED_COLUMNS)]
        out["row"] = out["row"].astype("int64")
        for c in REJECTED_COLUMNS[1:]:
            out[c] = out[c].astype(pd.StringDtype())
        return out


def cells(values: pd.Series, rows: np.ndarray) -> list:
    """The cells at ``rows`` (ascending positions) as Python objects, missing as None."""
    return values.take(rows).astype(object).where(lambda v: v.notna(), None).tolist()
