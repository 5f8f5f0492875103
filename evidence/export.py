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
    lines_of = _arrow_lines if _arrow_compute() is not None else _python_lines
    with path.open("wb") as handle:
        handle.write((header + "\n").encode("utf-8"))
        if frame.shape[1]:  # no columns: only the (empty) header line
            for start in range(0, len(frame), _CHUNK_ROWS):
                handle.write(lines_of(frame.iloc[start:start + _CHUNK_ROWS]))
    return path


#: rows formatted at a time (bounds the memory of the text columns)
_CHUNK_ROWS = 50_000


def _arrow_compute():
    try:
        import pyarrow.compute as pc
    except ImportError:
        return None
    return pc


def _python_lines(part: pd.DataFrame) -> bytes:
    """The chunk's CSV lines, formatted cell by cell (used when pyarrow is missing)."""
    cells = [[_quote(c) for c in _column_text(part.iloc[:, i])] for i in range(part.shape[1])]
    lines = [",".join(row) for row in zip(*cells, strict=True)]
    if part.shape[1] == 1:  # an empty single cell must not become a blank line
        lines = [line if line else '""' for line in lines]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _arrow_lines(part: pd.DataFrame) -> bytes:
    """The chunk's CSV lines, formatted column by column in Arrow (no Python str per cell)."""
    import pyarrow.compute as pc

    cells = [_arrow_cells(part.iloc[:, i]) for i in range(part.shape[1])]
    lines = pc.binary_join_element_wise(*cells, _lit(","), null_handling="replace",
                                        null_replacement="")
    if part.shape[1] == 1:  # an empty single cell must not become a blank line
        lines = pc.if_else(pc.equal(lines, _lit("")), _lit('""'), lines)
    lines = pc.binary_join_element_wise(lines, _lit("\n"), _lit(""))
    return _string_bytes(lines)


def _string_bytes(array) -> bytes:
    """The concatenated UTF-8 bytes of a large_string array's values."""
    array = array.combine_chunks() if hasattr(array, "combine_chunks") else array
    if len(array) == 0:
        return b""
    _, offsets, data = array.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[array.offset:array.offset + len(array) + 1]
    return data.to_pybytes()[bounds[0]:bounds[-1]]


def _arrow_cells(series: pd.Series):
    """One column as an Arrow ``large_string`` array of CSV cells (missing = null)."""
    import pyarrow as pa

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # format each category once
        cats = pa.array([_quote(_cell(c)) for c in dtype.categories.astype(object).tolist()],
                        type=pa.large_string())
        codes = series.cat.codes.to_numpy()
        return cats.take(pa.array(codes, mask=codes < 0))
    missing = series.isna().to_numpy()
    if missing.all():
        return pa.nulls(len(series), pa.large_string())
    if pd.api.types.is_bool_dtype(dtype):
        flags = series.to_numpy(dtype=bool, na_value=False)
        return pa.array(np.where(flags, "true", "false"), type=pa.large_string(), mask=missing)
    if pd.api.types.is_integer_dtype(dtype) and _fits_int64(series, missing):
        values = series.to_numpy(dtype=np.int64, na_value=0)
        return _cast_text(pa.array(values, mask=missing))
    if pd.api.types.is_float_dtype(dtype):
        return _float_cells(series.to_numpy(dtype=float, na_value=np.nan))
    if isinstance(dtype, pd.StringDtype) or (
        pd.api.types.is_object_dtype(dtype)
        and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
    ):
        return _text_cells(series)
    cells = [_quote(c) for c in _column_text(series)]
    return pa.array(cells, type=pa.large_string())


def _fits_int64(series: pd.Series, missing: np.ndarray) -> bool:
    """True unless an unsigned column holds values above the int64 range."""
    if series.dtype.kind != "u":
        return True
    values = series.to_numpy(dtype=np.uint64, na_value=0)[~missing]
    return not len(values) or int(values.max()) <= np.iinfo(np.int64).max


def _cast_text(array):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(array, pa.large_string())


def _lit(text: str):
    """A ``large_string`` Arrow scalar (Arrow kernels do not mix string widths)."""
    import pyarrow as pa

    return pa.scalar(text, pa.large_string())


def _flags(mask) -> np.ndarray:
    """An Arrow boolean array as a numpy bool array, null as False."""
    import pyarrow.compute as pc

    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _float_cells(values: np.ndarray):
    """Floats as Python's shortest round-trip ``repr`` (``3.0``, ``1e-07``); NaN is null.

    Arrow's float-to-text cast gives the same shortest digits in fixed notation but writes
    ``52`` for ``52.0`` and chooses between fixed and exponent notation differently, so plain
    integers get ``.0`` appended, and values Arrow writes with an exponent, infinities and
    values where ``repr`` uses an exponent (below 1e-4 or from 1e16 in magnitude) are formatted
    by ``repr`` itself.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    nan = np.isnan(values)
    text = _cast_text(pa.array(values, mask=nan))
    size = np.abs(np.where(nan, 1.0, values))
    exotic = _flags(pc.match_substring_regex(text, "[ein]"))  # exponent, inf
    exotic |= ((size < 1e-4) & (size > 0)) | (size >= 1e16)  # where repr switches notation
    plain = pc.invert(pc.match_substring(text, "."))
    text = pc.if_else(plain, pc.binary_join_element_wise(text, _lit(".0"), _lit("")), text)
    if exotic.any():
        pos = np.flatnonzero(exotic)
        fixed = pa.array([repr(v) for v in values[pos].tolist()], type=pa.large_string())
        text = pc.replace_with_mask(text, pa.array(exotic), fixed)
    return text


def _text_cells(series: pd.Series):
    """Text as cells: formula-like text neutralised, quoted where RFC 4180 needs it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if getattr(series.dtype, "storage", None) == "pyarrow":
        text = pc.cast(pa.chunked_array(series.array.__arrow_array__()).combine_chunks(),
                       pa.large_string())
    else:
        text = pa.array(series.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    lead = np.zeros(len(text), dtype=bool)
    for start in _FORMULA_START:
        lead |= _flags(pc.starts_with(text, start))
    if lead.any():  # rare: the exact Python rule (plain numbers stay as they are)
        pos = np.flatnonzero(lead)
        cells = text.take(pa.array(pos)).to_pylist()
        text = pc.replace_with_mask(text, pa.array(lead),
                                    pa.array([_safe_text(c) for c in cells], pa.large_string()))
    need = pc.match_substring_regex(text, '[,"\r\n]')
    quoted = pc.binary_join_element_wise(
        _lit('"'), pc.replace_substring(text, '"', '""'), _lit('"'), _lit(""))
    return pc.if_else(need, quoted, text)


def _quote(cell: str) -> str:
    if any(ch in cell for ch in _NEEDS_QUOTES):
        return '"' + cell.replace('"', '""') + '"'
    return cell
