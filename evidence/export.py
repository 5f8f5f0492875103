"""Deterministic, spreadsheet-safe CSV output."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pandas as pd

from evidence.errors import InvalidParameterError
from evidence.missing import is_null

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["write_csv", "terminal_text"]

#: First characters that make Excel, LibreOffice or Google Sheets read a cell as
#: a formula (OWASP "CSV injection"), plus their full-width forms.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NEEDS_QUOTES = (",", '"', "\n", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
#: Terminal escape sequences (ECMA-48): CSI (ESC [ ... final byte, or its 8-bit form U+009B),
#: OSC/DCS/SOS/PM/APC strings up to BEL or ST, and any other two-character ESC sequence.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x7e]?"
)
#: C0/C1 control characters other than tab and newline, DEL, and the Unicode bidirectional
#: controls that reorder what a terminal shows ("Trojan Source", CVE-2021-42574).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


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
    return [_cell(None if is_null(v) else v) for v in series.astype(object).tolist()]


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
    with path.open("wb") as handle:
        handle.write((header + "\n").encode("utf-8"))
        if frame.shape[1]:  # no columns: only the (empty) header line
            write_rows = _write_arrow if _has_arrow() else _write_python
            write_rows(frame, handle)
    return path


#: cells formatted at a time: bounds the memory of the formatted text and of Arrow's
#: intermediates (~40 MB in all for the 1M-row, 51-column evidence table)
_CHUNK_CELLS = 500_000
#: CSV bytes formatted at a time, roughly: a few rows can hold long cells (the 600 graded
#: bodies of a million-row sheet list 13 MB of study ids and row numbers), and formatting
#: them at once cost ~50 MB of intermediates.  The first chunk has at most
#: :data:`_FIRST_CHUNK_ROWS` rows; each next one as many rows as the bytes per row seen so
#: far fit in this budget (at most :data:`_CHUNK_CELLS` cells).
_CHUNK_BYTES = 1 << 20
_FIRST_CHUNK_ROWS = 64


def _chunk_rows(frame: pd.DataFrame) -> int:
    """At most how many rows of the frame to format at a time."""
    return max(1, _CHUNK_CELLS // frame.shape[1])


def _write_chunks(frame: pd.DataFrame, write_part: Callable[[int, int], int]) -> None:
    """Call ``write_part(start, stop)`` (which returns the bytes it wrote) over consecutive
    row ranges covering the frame, sized to :data:`_CHUNK_BYTES` and :data:`_CHUNK_CELLS`."""
    limit = _chunk_rows(frame)
    rows = min(limit, _FIRST_CHUNK_ROWS)
    done, written = 0, 0
    while done < len(frame):
        stop = min(done + rows, len(frame))
        written += write_part(done, stop)
        done = stop
        rows = max(1, min(limit, _CHUNK_BYTES * done // max(written, 1)))


def _has_arrow() -> bool:
    try:
        import pyarrow.compute  # noqa: F401
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


# --- pure-Python writer (pandas without pyarrow) ------------------------------------------


def _write_python(frame: pd.DataFrame, handle: BinaryIO) -> None:
    def write_part(start: int, stop: int) -> int:
        return handle.write(_python_lines(frame.iloc[start:stop]))

    _write_chunks(frame, write_part)


def _python_lines(part: pd.DataFrame) -> bytes:
    """The chunk's CSV lines, formatted cell by cell."""
    cells = [[_quote(c) for c in _column_text(part.iloc[:, i])] for i in range(part.shape[1])]
    lines = [",".join(row) for row in zip(*cells, strict=True)]
    if part.shape[1] == 1:  # an empty single cell must not become a blank line
        lines = [line if line else '""' for line in lines]
    return ("\n".join(lines) + "\n").encode("utf-8")


# --- Arrow writer ---------------------------------------------------------------------------
#
# Columns are formatted chunk by chunk into Arrow arrays (text, or int64/bool that Arrow
# formats itself exactly as Python does) and Arrow's CSV writer joins the rows in C++,
# so no Python object is made per cell.  Its writer can only quote every text cell or none,
# and without quoting it rejects cells containing a comma, quote, CR or LF.  So cells that
# need quoting are quoted here, and their quoting characters swapped for bytes that never
# occur in UTF-8 (0xF8-0xFB); the written bytes are swapped back afterwards.

_STRUCTURAL = b'",\r\n'
_HIDDEN = b"\xf8\xf9\xfa\xfb"
_HIDE = bytes.maketrans(_STRUCTURAL, _HIDDEN)
_REVEAL = bytes.maketrans(_HIDDEN, _STRUCTURAL)

#: first bytes of text that may need the formula prefix (0xEF leads the full-width forms)
_MAYBE_FORMULA = np.zeros(256, dtype=bool)
_MAYBE_FORMULA[[ord(c) for c in "=+-@\t\r\n"] + [0xEF]] = True

ColumnCells = Callable[[int, int], "pa.Array"]


def _write_arrow(frame: pd.DataFrame, handle: BinaryIO) -> None:
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    options = pa_csv.WriteOptions(include_header=False, quoting_style="none", batch_size=4096)
    columns = [_column_cells(frame.iloc[:, i]) for i in range(frame.shape[1])]
    names = [str(i) for i in range(len(columns))]

    def write_part(start: int, stop: int) -> int:
        cells = [column(start, stop) for column in columns]
        if len(cells) == 1:
            cells = [_no_blank_lines(cells[0])]
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(pa.Table.from_arrays(cells, names=names), sink, options)
        return handle.write(_revealed(sink.getvalue()))

    _write_chunks(frame, write_part)


def _revealed(written: pa.Buffer) -> pa.Buffer | bytes:
    """The writer's bytes with hidden quoting characters put back."""
    if not (np.frombuffer(written, dtype=np.uint8) == _HIDDEN[0]).any():  # no quoted cell
        return written
    return written.to_pybytes().translate(_REVEAL)


def _column_cells(series: pd.Series) -> ColumnCells:
    """A function giving the cells of rows ``start:stop`` of a column as an Arrow array."""
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow as pa

    dtype = series.dtype
    if not pd.api.types.is_object_dtype(dtype) and series.isna().all():  # nothing to format
        return lambda start, stop: pa.nulls(stop - start, pa.large_string())
    if isinstance(dtype, pd.CategoricalDtype):
        return _category_cells(series)
    return lambda start, stop: _arrow_cells(series.iloc[start:stop])


def _category_cells(series: pd.Series) -> ColumnCells:
    """Each category is formatted once; the rows take their category's cell."""
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow as pa

    categories = series.dtype.categories.astype(object).tolist()
    text = _writer_safe(pa.array([_cell(c) for c in categories], type=pa.large_string()))
    codes = series.cat.codes.to_numpy()

    def cells(start: int, stop: int) -> pa.Array:
        part = codes[start:stop]
        return text.take(pa.array(part, mask=part < 0))

    return cells


def _arrow_cells(series: pd.Series) -> pa.Array:
    """One column (a chunk of it) as CSV cells, missing values as nulls."""
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow as pa

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        missing = series.isna().to_numpy()
        return pa.array(series.to_numpy(dtype=bool, na_value=False), mask=missing)
    if pd.api.types.is_integer_dtype(dtype) and _fits_int64(series):
        missing = series.isna().to_numpy()
        return pa.array(series.to_numpy(dtype=np.int64, na_value=0), mask=missing)
    if pd.api.types.is_float_dtype(dtype):
        return _float_cells(series.to_numpy(dtype=float, na_value=np.nan))
    if isinstance(dtype, pd.StringDtype) or (
        pd.api.types.is_object_dtype(dtype)
        and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
    ):
        return _writer_safe(_text_cells(series))
    return _writer_safe(pa.array(_column_text(series), type=pa.large_string()))


def _fits_int64(series: pd.Series) -> bool:
    """True unless an unsigned column holds values above the int64 range."""
    if series.dtype.kind != "u":
        return True
    values = series.dropna().to_numpy(dtype=np.uint64)
    return not len(values) or int(values.max()) <= np.iinfo(np.int64).max


def _float_cells(values: np.ndarray) -> pa.Array:
    """Floats as Python's shortest round-trip ``repr`` (``3.0``, ``1e-07``); NaN is null.

    Arrow's float-to-text cast gives the same shortest digits as ``repr`` in fixed notation,
    but writes ``52`` for ``52.0``, ``-0`` for ``-0.0`` and uses exponents at other
    magnitudes.  So integral values are formatted as integers plus ``.0``, values where
    ``repr`` uses an exponent (below 1e-4 or from 1e16 in magnitude), infinities and -0.0 by
    ``repr`` itself, and the rest by Arrow; the three groups are then put back in row order.
    """
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow as pa
    import pyarrow.compute as pc

    nan = np.isnan(values)
    size = np.abs(values)
    by_repr = ((size < 1e-4) & (size > 0)) | (size >= 1e16) | ((values == 0) & np.signbit(values))
    fixed = ~nan & ~by_repr
    with np.errstate(invalid="ignore"):  # signalling NaNs
        integral = fixed & (values == np.trunc(values))
    fraction = fixed & ~integral
    groups = [
        pc.binary_join_element_wise(
            _cast_text(pa.array(values[integral].astype(np.int64))), _lit(".0"), _lit("")
        ),
        _fixed_notation(values[fraction]),
        pa.array([repr(v) for v in values[by_repr].tolist()], type=pa.large_string()),
    ]
    order = np.zeros(len(values), dtype=np.int64)
    first = 0
    for mask, group in zip((integral, fraction, by_repr), groups, strict=True):
        order[mask] = np.arange(first, first + len(group))
        first += len(group)
    return pa.concat_arrays(groups).take(pa.array(order, mask=nan))


def _fixed_notation(values: np.ndarray) -> pa.Array:
    """Non-integral floats with 1e-4 <= |x| < 1e16 as ``repr`` writes them."""
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow as pa

    text = _cast_text(pa.array(values))
    if (_value_bytes(text) == ord("e")).any():  # not seen: Arrow chose an exponent after all
        return pa.array([repr(v) for v in values.tolist()], type=pa.large_string())
    return text


def _text_cells(series: pd.Series) -> pa.Array:
    """Text with formula-like cells neutralised (not yet quoted), missing as null."""
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow as pa
    import pyarrow.compute as pc

    if getattr(series.dtype, "storage", None) == "pyarrow":
        text = pc.cast(
            pa.chunked_array(series.array.__arrow_array__()).combine_chunks(), pa.large_string()
        )
    else:
        text = pa.array(series.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    lead = _maybe_formula(text)
    if lead.any():  # the exact Python rule for these (plain numbers stay as they are)
        pos = np.flatnonzero(lead)
        cells = [None if c is None else _safe_text(c) for c in text.take(pos).to_pylist()]
        text = pc.replace_with_mask(text, pa.array(lead), pa.array(cells, pa.large_string()))
    return text


def _maybe_formula(text: pa.Array) -> np.ndarray:
    """Which cells start with a byte that may begin a formula (checked exactly afterwards)."""
    offsets = _offsets(text)
    _, _, data = text.buffers()
    lead = np.zeros(len(text), dtype=bool)
    if data is None or not data.size:
        return lead
    starts = offsets[:-1]
    filled = np.flatnonzero(offsets[1:] > starts)  # null cells included: filtered later
    lead[filled] = _MAYBE_FORMULA[np.frombuffer(data, dtype=np.uint8)[starts[filled]]]
    return lead


def _writer_safe(text: pa.Array) -> pa.Array:
    """Text cells quoted where RFC 4180 needs it, quoting characters hidden for the writer."""
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow.compute as pc

    span = _value_bytes(text).tobytes()
    if not any(char in span for char in _STRUCTURAL):
        return text
    need = pc.match_substring_regex(text, '[,"\r\n]')
    quoted = pc.binary_join_element_wise(
        _lit('"'), pc.replace_substring(text, '"', '""'), _lit('"'), _lit("")
    )
    return _translated(pc.if_else(need, quoted, text), _HIDE)


def _no_blank_lines(cells: pa.Array) -> pa.Array:
    """A single column's empty cells as ``""`` so that they do not become blank lines."""
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.fill_null(pc.cast(cells, pa.large_string()), _lit(""))
    empty = pc.equal(text, _lit(""))
    if not pc.any(empty).as_py():
        return text
    # any other structural character in the column is already hidden
    return _translated(pc.if_else(empty, _lit('""'), text), _HIDE)


def _translated(text: pa.Array, table: bytes) -> pa.Array:
    """``text`` with each byte of its values mapped through ``table`` (``bytes.translate``)."""
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow as pa

    validity, offsets, data = text.buffers()
    data = pa.py_buffer(data.to_pybytes().translate(table))
    return pa.LargeStringArray.from_buffers(
        len(text), offsets, data, validity, text.null_count, text.offset
    )


def _offsets(text: pa.Array) -> np.ndarray:
    """The ``len(text) + 1`` value offsets of a ``large_string`` array."""
    buffer = text.buffers()[1]
    return np.frombuffer(buffer, dtype=np.int64)[text.offset : text.offset + len(text) + 1]


def _value_bytes(text: pa.Array) -> np.ndarray:
    """The bytes of a ``large_string`` array's values, concatenated (a view)."""
    data = text.buffers()[2]
    if data is None or not len(text):
        return np.zeros(0, dtype=np.uint8)
    offsets = _offsets(text)
    return np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]


def _cast_text(array: pa.Array) -> pa.Array:
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(array, pa.large_string())


def _lit(text: str) -> pa.Scalar:
    """A ``large_string`` Arrow scalar (Arrow kernels do not mix string widths)."""
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow as pa

    return pa.scalar(text, pa.large_string())


def _quote(cell: str) -> str:
    if any(ch in cell for ch in _NEEDS_QUOTES):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def terminal_text(text: object) -> str:
    """``text`` made safe to print on a terminal.

    Escape sequences (colours, cursor moves, OSC window titles and hyperlinks, ...) are removed
    whole; other control characters (C0 except tab and newline, DEL, C1, carriage return) and
    Unicode bidirectional controls are replaced by ``?`` so that a hidden character stays
    visible.  Ordinary text, including non-ASCII letters, is unchanged.
    """
    out = _ESCAPE_SEQUENCE.sub("", str(text))
    return _CONTROL.sub("?", out)
