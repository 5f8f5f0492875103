"""Deterministic, spreadsheet-safe CSV output."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from evidence.errors import InvalidParameterError

__all__ = ["write_csv"]

#: First characters that make Excel, LibreOffice or Google Sheets read a cell as
#: a formula (OWASP "CSV injection"), plus their full-width forms.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NEEDS_QUOTES = (",", '"', "\n", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _safe_text(text: str) -> str:
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def _float_text(value: float) -> str:
    if math.isnan(value):
        return ""
    return repr(float(value))


def _cell(value) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return _float_text(float(value))
    return _safe_text(str(value))


def _column_text(series: pd.Series) -> list[str]:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return [
            "" if v is None or v is pd.NA else ("true" if v else "false")
            for v in series.astype(object).tolist()
        ]
    if pd.api.types.is_integer_dtype(dtype):
        return ["" if v is None or v is pd.NA else str(int(v)) for v in series.astype(object)]
    if pd.api.types.is_float_dtype(dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        return [_float_text(v) for v in values.tolist()]
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return ["" if pd.isna(v) else v.isoformat() for v in series.tolist()]
    return [_cell(None if _is_missing(v) else v) for v in series.astype(object).tolist()]


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def write_csv(frame: pd.DataFrame, path) -> Path:
    """Write a DataFrame to CSV: UTF-8, ``\\n`` line ends, byte-for-byte deterministic.

    Parameters
    ----------
    frame : pandas.DataFrame
        Written with its columns and rows in the order given; the index is not
        written (call ``reset_index()`` first to keep it).
    path : str or os.PathLike
        Output file; its directory must exist.

    Returns
    -------
    pathlib.Path
        The path written.

    Notes
    -----
    - Floats are written with Python's shortest round-trip representation
      (``repr``: ``0.1``, ``0.3333333333333333``, ``3.0``, ``1e-07``), so
      reading the file back gives exactly the same float.  Missing values are
      empty cells; infinities are ``inf``/``-inf``.
    - Integers are written as integers and booleans as ``true``/``false``.
    - Text cells starting with ``=``, ``+``, ``-``, ``@``, a tab, CR or LF (or
      their full-width forms) are prefixed with ``'`` so spreadsheet programs
      show them as text instead of running them as formulas.  Numeric cells,
      negative ones included, and text that is a plain number (``-3``,
      ``+1.5e-3``) are written unchanged.  Column names are treated the same.
    - Quoting is minimal: only cells containing a comma, a double quote, CR or LF
      are quoted (RFC 4180, quotes doubled).  Every line ends with ``\n``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterError(
            f"The 'frame' argument of write_csv() must be a pandas DataFrame. "
            f"Got {type(frame).__name__}."
        )
    if not isinstance(path, str | os.PathLike):
        raise InvalidParameterError(
            f"The 'path' argument of write_csv() must be a file path. Got {type(path).__name__}."
        )
    path = Path(path)
    if not path.parent.is_dir():
        raise InvalidParameterError(
            f"The 'path' argument of write_csv() must be in an existing directory. Got '{path}'."
        )
    header = [_safe_text(str(c)) for c in frame.columns]
    columns = [_column_text(frame.iloc[:, i]) for i in range(frame.shape[1])]
    lines = [",".join(_quote(c) for c in header)]
    lines += [",".join(map(_quote, row)) for row in zip(*columns, strict=True)]
    if len(header) == 1:  # an empty single cell must not become a blank (skipped) line
        lines = [line if line else '""' for line in lines]
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def _quote(cell: str) -> str:
    if any(ch in cell for ch in _NEEDS_QUOTES):
        return '"' + cell.replace('"', '""') + '"'
    return cell
