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
    header = ",".join(_quote(_safe_text(str(c))) for c in frame.columns)
    if frame.shape[1] == 1 and not header:
        header = '""'
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(header + "\n")
        for start in range(0, len(frame), _CHUNK_ROWS):
            part = frame.iloc[start:start + _CHUNK_ROWS]
            if not part.shape[1]:  # no columns: only the (empty) header line, as before
                break
            cells = [_column_cells(part.iloc[:, i]) for i in range(part.shape[1])]
            lines = _join_rows(cells)
            if part.shape[1] == 1:  # an empty single cell must not become a blank line
                lines = [line if line else '""' for line in lines]
            handle.write("\n".join(lines) + "\n")
    return path


def _join_rows(cells: list[pd.Series]) -> list[str]:
    """The CSV lines of a chunk: its formatted columns joined with commas, row by row."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # pandas without pyarrow: join in Python
        return [",".join(row) for row in zip(*(c.tolist() for c in cells), strict=True)]
    arrays = [pa.array(c, type=pa.large_string()) for c in cells]
    sep = pa.scalar(",", type=pa.large_string())
    return pc.binary_join_element_wise(*arrays, sep).to_pylist()


#: rows formatted at a time (bounds the memory of the text columns)
_CHUNK_ROWS = 100_000
_QUOTE_CHARS = ",\"\r\n"


def _column_cells(series: pd.Series) -> pd.Series:
    """One column as CSV cells (formatted, neutralised and quoted), vectorised for numpy
    numbers/booleans and text columns; other columns go through the per-cell formatter."""
    dtype = series.dtype
    index = pd.RangeIndex(len(series))
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return pd.Series(np.where(series.to_numpy(), "true", "false"), index=index, dtype=str)
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pd.Series(series.to_numpy().astype(str), index=index, dtype=str)
    if isinstance(dtype, pd.CategoricalDtype):  # format each category once
        cats = [_quote(_cell(c)) for c in dtype.categories.astype(object).tolist()]
        text = np.asarray([*cats, ""], dtype=object)[series.cat.codes.to_numpy()]  # -1: missing
        return pd.Series(text, index=index, dtype=str)
    if isinstance(dtype, pd.BooleanDtype):
        text = np.where(series.to_numpy(dtype=bool, na_value=False), "true", "false")
        text[series.isna().to_numpy()] = ""
        return pd.Series(text, index=index, dtype=str)
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(
        dtype
    ) and hasattr(dtype, "numpy_dtype"):  # nullable Int64 & co.
        text = series.to_numpy(dtype=dtype.numpy_dtype, na_value=0).astype(str)
        text[series.isna().to_numpy()] = ""
        return pd.Series(text, index=index, dtype=str)
    if pd.api.types.is_float_dtype(dtype):  # numpy floats and nullable Float64 & co.
        values = series.to_numpy(dtype=float, na_value=np.nan)
        text = values.astype(str)  # numpy's float str is Python's shortest round-trip repr
        text[np.isnan(values)] = ""
        return pd.Series(text, index=index, dtype=str)
    is_text = isinstance(dtype, pd.StringDtype) or (
        pd.api.types.is_object_dtype(dtype)
        and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
    )
    if is_text:
        text = pd.Series(series.to_numpy(dtype=object), index=index, dtype=str).fillna("")
        lead = text.str.startswith(_FORMULA_START)
        if lead.any():
            pos = np.flatnonzero(lead.to_numpy())
            cells = text.iloc[pos].tolist()
            text.iloc[pos] = [_safe_text(c) for c in cells]
        need = np.zeros(len(text), dtype=bool)
        for ch in _QUOTE_CHARS:
            need |= text.str.contains(ch, regex=False).to_numpy()
        if need.any():
            pos = np.flatnonzero(need)
            text.iloc[pos] = [_quote(c) for c in text.iloc[pos].tolist()]
        return text
    cells = [_quote(c) for c in _column_text(series)]
    return pd.Series(cells, index=index, dtype=str)


def _quote(cell: str) -> str:
    if any(ch in cell for ch in _NEEDS_QUOTES):
        return '"' + cell.replace('"', '""') + '"'
    return cell
