"""Read and validate a study sheet (CSV, Excel, Parquet or a DataFrame).

Validation is lazy: every problem of every row is collected in one pass and
reported in :attr:`IngestResult.rejected`; a row with at least one problem is
not accepted.  Only a table that cannot be used at all (a missing or
unreadable file, a missing required column, an empty header) raises
:class:`~evidence.errors.ValidationError`.  Rows in always equal rows accepted
plus rows rejected.

All checks are pandas/numpy column operations, so large sheets validate fast.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evidence._codes import combine
from evidence.dictionary import DATA_TYPE_REQUIREMENTS, schema_dtypes
from evidence.errors import InvalidParameterError, ValidationError
from evidence.schema import COLUMNS, MODEL_STREAM, RATIO_MEASURES, REQUIRED_COLUMNS

__all__ = ["IngestResult", "read_studies"]

_CSV_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": ","}
_EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")
_KEY_COLUMNS = ("study_id", "outcome", "comparison", "timepoint")
_REJECTED_COLUMNS = ("row", "study_id", "column", "value", "reason")
#: Text columns the row rules (_row_rules, _duplicates, the citation check) read after parsing.
_RULE_TEXT = frozenset({"model", "stream", "data_type", "measure", "citation_key",
                        *_KEY_COLUMNS})
_UNNAMED = re.compile(r"^Unnamed: \d+$")


@dataclass(frozen=True, eq=False)
class IngestResult:
    """The outcome of :func:`read_studies`.

    Attributes
    ----------
    studies : pandas.DataFrame
        The accepted rows, in input order with a fresh 0..n-1 index.  Every
        schema column is present in schema order with its nullable dtype
        (``string``, ``Int64``, ``Float64``, ``boolean``, or a categorical of the
        schema vocabulary); columns not in the schema follow, as read.
    rejected : pandas.DataFrame
        One row per problem: ``row`` (0-based position of the row in the input
        table; in a CSV file that is line ``row + 2``), ``study_id``, ``column``,
        ``value`` (the offending cell as text, missing when the cell was empty)
        and ``reason``.  A row with several problems appears several times.
    n_in : int
        Number of data rows in the input.
    source : str
        The file read, or ``"<DataFrame>"``.
    """

    studies: pd.DataFrame
    rejected: pd.DataFrame
    n_in: int
    source: str

    @property
    def n_accepted(self) -> int:
        """Number of accepted rows."""
        return len(self.studies)

    @property
    def n_rejected(self) -> int:
        """Number of distinct input rows with at least one problem."""
        return int(self.rejected["row"].nunique())

    def to_frame(self) -> pd.DataFrame:
        """The row ledger: one row per input row, so that no row is unaccounted for.

        Returns
        -------
        pandas.DataFrame
            ``row`` (0-based position in the input table), ``study_id``, ``status``
            (``"accepted"`` or ``"rejected"``), ``studies_index`` (the row's index in
            :attr:`studies`; missing when rejected) and ``reasons`` (``"column: reason"``
            joined by ``"; "``; empty when accepted).  Sorted by ``row``.
        """
        rej = self.rejected
        bad_rows = sorted({int(r) for r in rej["row"]})
        good_rows = sorted(set(range(self.n_in)) - set(bad_rows))
        reasons = (
            rej.assign(_text=rej["column"].astype(str) + ": " + rej["reason"].astype(str))
            .groupby("row", sort=True)["_text"].agg("; ".join)
        )
        rej_ids = rej.groupby("row", sort=True)["study_id"].first()
        accepted = pd.DataFrame({
            "row": good_rows,
            "study_id": self.studies["study_id"].astype("string").to_numpy()
            if "study_id" in self.studies.columns else pd.NA,
            "status": "accepted",
            "studies_index": pd.array(range(len(good_rows)), dtype="Int64"),
            "reasons": "",
        })
        rejected = pd.DataFrame({
            "row": bad_rows,
            "study_id": pd.array([rej_ids.get(r) for r in bad_rows], dtype="string"),
            "status": "rejected",
            "studies_index": pd.array([pd.NA] * len(bad_rows), dtype="Int64"),
            "reasons": [reasons.get(r, "") for r in bad_rows],
        })
        frames = [f for f in (accepted, rejected) if len(f)]
        if not frames:
            return accepted
        out = pd.concat(frames, ignore_index=True).sort_values("row", kind="stable")
        return out.reset_index(drop=True)

    def summary(self, max_problems: int = 20) -> str:
        """A plain-text account: rows in, accepted, rejected, and the first problems."""
        lines = [
            f"Read {self.source}: {self.n_in} rows in, {self.n_accepted} accepted, "
            f"{self.n_rejected} rejected."
        ]
        if len(self.rejected):
            lines.append("Problems (row is the 0-based position in the input table):")
            for rec in self.rejected.head(max_problems).itertuples(index=False):
                sid = "" if pd.isna(rec.study_id) else f" ({rec.study_id})"
                lines.append(f"  row {rec.row}{sid}, column '{rec.column}': {rec.reason}")
            more = len(self.rejected) - max_problems
            if more > 0:
                lines.append(f"  ... and {more} more problems (see .rejected).")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"IngestResult(source={self.source!r}, n_in={self.n_in}, "
            f"n_accepted={self.n_accepted}, n_rejected={self.n_rejected})"
        )

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>{html.escape(self.source)}</b>: {self.n_in} rows in, "
            f"{self.n_accepted} accepted, {self.n_rejected} rejected.</p>"
        )
        if not len(self.rejected):
            return head
        return head + self.rejected.head(50).to_html(index=False, na_rep="", escape=True)


# ---------------------------------------------------------------------------
# Loading


def _fail(label: str, message: str) -> ValidationError:
    return ValidationError(f"{label}: {message}")


def _names_from_header(values, label: str) -> list[str]:
    names = []
    for v in values:
        names.append("" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
    return names


def _kept_columns(names: list[str], label: str, has_data) -> list[int]:
    """Positions of the named columns; raises on an empty header, an unnamed column holding
    values (``has_data(i)``) or duplicate names."""
    if not names or all(n == "" for n in names):
        raise _fail(
            label,
            "the header row is empty; expected column names such as "
            + ", ".join(REQUIRED_COLUMNS)
            + ".",
        )
    keep = []
    for i, name in enumerate(names):
        if name == "" or _UNNAMED.match(name):
            if has_data(i):
                raise _fail(
                    label,
                    f"column {i + 1} holds values but has no name in the header row; "
                    "give it a name or delete it.",
                )
            continue
        keep.append(i)
    seen: dict[str, list[int]] = {}
    for i in keep:
        seen.setdefault(names[i], []).append(i + 1)
    dups = {n: pos for n, pos in seen.items() if len(pos) > 1}
    if dups:
        detail = "; ".join(f"'{n}' (columns {', '.join(map(str, p))})" for n, p in dups.items())
        raise _fail(label, f"duplicate column names in the header: {detail}. Names must be unique.")
    return keep


def _apply_header(frame: pd.DataFrame, names: list[str], label: str) -> pd.DataFrame:
    """Check the header names, drop unnamed empty columns, return the named frame."""

    def has_data(i: int) -> bool:
        col = frame.iloc[:, i]
        return bool((col.notna() & (col.astype("string").str.strip() != "")).fillna(False).any())

    keep = _kept_columns(names, label, has_data)
    out = frame.iloc[:, keep]
    out.columns = [names[i] for i in keep]
    return out.reset_index(drop=True)


class _ArrowSheet:
    """The named columns of a CSV file parsed by Arrow, as text.

    Each column becomes a pandas ``string`` Series only when :meth:`pop` hands it out, and the
    sheet lets go of it then: the raw text of a column is released as soon as it is parsed
    instead of the whole file being held as a DataFrame until validation ends.  It offers the
    few DataFrame methods :func:`read_studies` needs (``columns``, ``in``, ``len``, ``[]``,
    ``pop``).
    """

    def __init__(self, columns: dict, n_rows: int) -> None:
        self._columns = columns
        self._n = n_rows

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, name: str) -> pd.Series:
        # pandas keeps text with 64-bit offsets: the 32-bit ones Arrow parsed into are widened
        # here, one column at a time (the text bytes are shared, not copied)
        return pd.Series(pd.arrays.ArrowStringArray(self._columns[name]), name=name,
                         index=pd.RangeIndex(self._n))

    def pop(self, name: str) -> pd.Series:
        out = self[name]
        del self._columns[name]
        return out


def _read_csv_arrow(path: Path, sep: str, label: str) -> tuple[_ArrowSheet, list[str]] | None:
    """Fast multi-threaded read of a well-formed file into an :class:`_ArrowSheet`, with
    the header names.

    Returns None whenever pyarrow is missing or the file is not a clean
    rectangular UTF-8 table; the pandas reader then reads it or raises the
    explanatory ValidationError.
    """
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pcsv

        with path.open(encoding="utf-8-sig", newline="") as handle:
            n_columns = len(next(csv.reader(handle, delimiter=sep)))
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(autogenerate_column_names=True, encoding="utf8"),
            parse_options=pcsv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                # 32-bit offsets: half the index memory of large_string while the file is held
                column_types={f"f{i}": pa.string() for i in range(n_columns)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        if table.num_columns != n_columns or table.num_rows == 0:
            return None
    except Exception:  # any problem: let the pandas reader explain it
        return None
    names = _names_from_header([c[0].as_py() for c in table.columns], label)
    body = [table.column(i).slice(1) for i in range(n_columns)]

    def has_data(i: int) -> bool:
        return bool(pc.any(pc.not_equal(pc.utf8_trim_whitespace(body[i]), "")).as_py())

    keep = _kept_columns(names, label, has_data)
    columns = {names[i]: body[i] for i in keep}
    return _ArrowSheet(columns, len(body[0])), names


def _read_csv(path: Path, label: str) -> pd.DataFrame | _ArrowSheet:
    sep = _CSV_SEPARATORS[path.suffix.lower()]
    parsed = _read_csv_arrow(path, sep, label)
    if parsed is not None:
        sheet, names = parsed
        return _check_single_column(sheet, names, path, sep, label)
    try:
        raw = pd.read_csv(
            path,
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
            skip_blank_lines=True,
        )
    except UnicodeDecodeError as exc:
        raise _fail(
            label,
            f"cannot be decoded as UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} at "
            f"offset {exc.start}); save the sheet as 'CSV UTF-8'.",
        ) from None
    except pd.errors.EmptyDataError:
        raise _fail(
            label, "the file is empty; expected a header row naming the columns."
        ) from None
    except pd.errors.ParserError as exc:
        raise _fail(label, f"is not a rectangular {sep!r}-separated table ({exc}).") from None
    if len(raw) == 0:
        raise _fail(label, "the file is empty; expected a header row naming the columns.")
    names = _names_from_header(raw.iloc[0].tolist(), label)
    return _check_single_column(_apply_header(raw.iloc[1:], names, label), names, path, sep, label)


def _check_single_column(frame, names, path: Path, sep: str, label: str) -> pd.DataFrame:
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        delimiter = "';'" if ";" in names[0] else "tab"
        raise _fail(
            label,
            f"the header is a single column '{names[0][:60]}'; the file looks {delimiter}-"
            f"separated but a {path.suffix} file must be {sep!r}-separated.",
        )
    return frame


def _read_excel(path: Path, label: str) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401
    except ImportError:  # pragma: no cover - openpyxl is installed with the test extra
        raise ImportError(
            "Reading .xlsx files needs openpyxl: pip install 'evigap[excel]'."
        ) from None
    try:
        raw = pd.read_excel(path, sheet_name=0, header=None, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        why = f"{type(exc).__name__}: {exc}"
        raise _fail(label, f"cannot be read as an Excel workbook ({why}).") from None
    if raw.shape[1] == 0 or len(raw) == 0:
        raise _fail(label, "the first sheet is empty; expected a header row naming the columns.")
    names = _names_from_header(raw.iloc[0].tolist(), label)
    return _apply_header(raw.iloc[1:], names, label)


def _read_parquet(path: Path, label: str) -> pd.DataFrame:
    try:
        raw = pd.read_parquet(path)
    except ImportError as exc:  # pragma: no cover
        raise ImportError(f"Reading .parquet files needs pyarrow: {exc}") from None
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise _fail(label, f"cannot be read as a Parquet table ({why}).") from None
    names = _names_from_header(list(raw.columns), label)
    return _apply_header(raw, names, label)


def _load(source) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        label = "<DataFrame>"
        names = _names_from_header(list(source.columns), label)
        frame = source.reset_index(drop=True)
        if source.shape[1] == 0:
            raise _fail(label, "the table has no columns; expected " + ", ".join(REQUIRED_COLUMNS))
        return _apply_header(frame, names, label), label
    if not isinstance(source, str | os.PathLike):
        raise InvalidParameterError(
            "The 'source' argument of read_studies() must be a path to a .csv, .tsv, .xlsx or "
            f".parquet file or a pandas DataFrame. Got {type(source).__name__}."
        )
    path = Path(source)
    label = f"File '{path}'"
    if not path.exists():
        raise ValidationError(f"{label} does not exist.")
    if not path.is_file():
        raise ValidationError(f"{label} is not a file; expected a .csv, .xlsx or .parquet table.")
    suffix = path.suffix.lower()
    if suffix in _CSV_SEPARATORS:
        frame = _read_csv(path, label)
    elif suffix in _EXCEL_SUFFIXES:
        frame = _read_excel(path, label)
    elif suffix in _PARQUET_SUFFIXES:
        frame = _read_parquet(path, label)
    else:
        raise ValidationError(
            f"{label} has the extension '{path.suffix}'; expected .csv, .tsv, .xlsx or .parquet."
        )
    return frame, str(path)


def _check_required_columns(frame: pd.DataFrame, label: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if not missing:
        return
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, [str(c) for c in frame.columns], n=1, cutoff=0.7)
        if close:
            hints.append(f"'{close[0]}' looks like '{name}'")
    hint = f" ({'; '.join(hints)})" if hints else ""
    raise _fail(
        label,
        f"missing required column(s) {', '.join(repr(m) for m in missing)}{hint}. "
        f"A study sheet needs the columns {', '.join(REQUIRED_COLUMNS)}; "
        "see data/SCHEMA.md or `evigap template`.",
    )


# ---------------------------------------------------------------------------
# Column parsing (vectorised)


def _text(raw: pd.Series) -> pd.Series:
    """Cells as stripped ``string`` values; empty text becomes missing."""
    if isinstance(raw.dtype, pd.StringDtype) or raw.dtype == object:
        s = raw.astype(pd.StringDtype())
    else:
        s = raw.map(_fmt_value, na_action="ignore").astype(pd.StringDtype())
    if getattr(s.dtype, "storage", None) == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.chunked_array(s.array.__arrow_array__())
        trimmed = pc.utf8_trim_whitespace(arr)
        # trimming only removes bytes: equal totals mean nothing was trimmed, so keep the
        # original buffers instead of a copy of the column
        if pc.sum(pc.binary_length(trimmed)) != pc.sum(pc.binary_length(arr)):
            arr = trimmed
        del trimmed
        arr = pa.chunked_array([_empty_as_null(chunk) for chunk in arr.chunks], type=arr.type)
        return pd.Series(pd.arrays.ArrowStringArray(arr), index=s.index)
    s = s.str.strip()
    return s.where(s != "")


def _empty_as_null(chunk):
    """A string chunk with empty text as missing, sharing the chunk's text buffers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keep = pc.fill_null(pc.not_equal(chunk, ""), False)
    if keep.null_count == 0 and pc.all(keep).as_py():
        return chunk
    if chunk.offset or keep.offset:  # pragma: no cover - sliced input: copy instead
        return pc.if_else(keep, chunk, pa.scalar(None, chunk.type))
    # the comparison's bit-packed result is a ready-made validity bitmap
    return pa.Array.from_buffers(chunk.type, len(chunk),
                                 [keep.buffers()[1], *chunk.buffers()[1:]])


class _Masks:
    """Per-column boolean masks stored bit-packed (an eighth of the memory of bool arrays);
    ``masks[name]`` unpacks one."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._bits: dict[str, np.ndarray] = {}

    def __setitem__(self, name: str, mask: np.ndarray) -> None:
        self._bits[name] = np.packbits(np.asarray(mask, dtype=bool))

    def __getitem__(self, name: str) -> np.ndarray:
        return np.unpackbits(self._bits[name], count=self._n).view(bool)


def _no_text_like(no_text: pd.Series):
    """An all-missing text column sharing ``no_text``'s (immutable) Arrow buffers when it has
    them; its own array object, so that setting a cell of one column leaves the others alone."""
    if getattr(no_text.dtype, "storage", None) == "pyarrow":
        return pd.arrays.ArrowStringArray(no_text.array._pa_array)
    return no_text.array.copy()


def _empty(n: int, dtype):
    """An all-missing column of ``dtype`` (an array; a Series for strings)."""
    missing = np.ones(n, dtype=bool)
    if isinstance(dtype, pd.Float64Dtype):
        return pd.arrays.FloatingArray(np.zeros(n), missing)
    if isinstance(dtype, pd.Int64Dtype):
        return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), missing)
    if isinstance(dtype, pd.BooleanDtype):
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), missing)
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Categorical.from_codes(np.full(n, -1), dtype=dtype)
    return pd.Series(index=pd.RangeIndex(n), dtype=dtype)


def _equal_cell_codes(values: pd.Series) -> np.ndarray:
    """An integer per cell, shared by equal cells (missing ones included), as compact as the
    column allows: Arrow text is dictionary-encoded in place into 32-bit codes."""
    if getattr(values.dtype, "storage", None) == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.chunked_array(values.array.__arrow_array__())
        # one dictionary is shared by every chunk, so the codes agree across chunks
        encoded = pc.dictionary_encode(arr, null_encoding="encode")
        if encoded.num_chunks == 0:
            return np.zeros(0, dtype=np.int32)
        return np.concatenate([c.indices.to_numpy(zero_copy_only=False)
                               for c in encoded.chunks])
    # missing comparison / timepoint cells match each other, as in DataFrame.duplicated()
    return pd.factorize(values, use_na_sentinel=False)[0]


def _duplicates(problems: _Problems, text, present, n: int) -> None:
    """Reject later rows repeating (study_id, outcome, comparison, timepoint)."""
    usable = present["study_id"] & present["outcome"]
    if not usable.any():
        return
    # only rows sharing their study_id with another usable row can repeat a key
    study = _equal_cell_codes(text["study_id"])
    usable &= np.bincount(study[usable], minlength=int(study.max()) + 1)[study] > 1
    if not usable.any():
        return
    pos = np.flatnonzero(usable)
    every = len(pos) == n

    def codes(column: str) -> np.ndarray:
        return _equal_cell_codes(text[column] if every else text[column].take(pos))

    group, first = study[pos], None
    del study
    for column in _KEY_COLUMNS[1:]:  # one column at a time: a few code arrays alive, not all
        group, first = combine([group, codes(column)])
    dup_sub = np.ones(len(pos), dtype=bool)
    dup_sub[first] = False
    if not dup_sub.any():
        return
    first_in_group = pos[first]
    dup = np.zeros(n, dtype=bool)
    dup[pos[dup_sub]] = True
    why = [
        f"duplicate of row {first_in_group[g]} (same study_id, outcome, comparison and "
        "timepoint); the first occurrence is kept"
        for g in group[dup_sub]
    ]
    problems.add(dup, "study_id", text["study_id"], why)


def _fmt_value(v) -> str:
    if isinstance(v, float | np.floating):
        v = float(v)
        return str(int(v)) if v.is_integer() and abs(v) < 1e16 else repr(v)
    return str(v)


def _shown(v):
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    return _fmt_value(v)


class _CompactText:
    """The stripped cells of a numeric column, kept only to show the offending ones: Arrow
    text with 32-bit offsets, half the index memory of a ``string`` Series."""

    def __init__(self, text: pd.Series) -> None:
        import pyarrow as pa

        self._text = pa.chunked_array(text.array.__arrow_array__()).cast(pa.string())

    def take(self, rows: np.ndarray) -> np.ndarray:
        return np.array(self._text.take(rows).to_pylist(), dtype=object)


class _SomeCells:
    """The shown cells of the few rows a row rule can flag; every other row is dropped."""

    def __init__(self, rows: np.ndarray, cells: np.ndarray) -> None:
        self._rows, self._cells = rows, cells

    def take(self, rows: np.ndarray) -> np.ndarray:
        at = np.searchsorted(self._rows, rows)
        kept = at < len(self._rows)
        if not (kept.all() and (self._rows[at] == rows).all()):  # pragma: no cover - a bug
            raise AssertionError("a row rule showed a cell _SHOWN_BY_RULES did not keep")
        return self._cells[at]


#: The numeric cells the row rules (:func:`_row_rules`) show, with the columns their rules
#: compare them with.  Each such rule flags a value below 1 (k_studies < 1, negative counts,
#: sample sizes < 1, sd, se, means and ratio limits <= 0) or, for ci_level, outside (0, 1),
#: or the comparison with those columns; :func:`_may_be_shown` keeps those rows only.
_SHOWN_BY_RULES = {
    "k_studies": (), "events_int": ("n_int",), "n_int": (), "events_ctrl": ("n_ctrl",),
    "n_ctrl": (), "n_total": (), "mean_int": (), "sd_int": (), "mean_ctrl": (),
    "sd_ctrl": (), "estimate": ("ci_low", "ci_high"), "ci_low": ("ci_high",), "ci_high": (),
    "ci_level": (), "se": (),
}


def _may_be_shown(name: str, num: dict[str, np.ndarray]) -> np.ndarray:
    """Rows whose ``name`` cell a row rule can show (a superset of those it flags)."""
    v = num[name]
    if name == "ci_level":
        return (v <= 0) | (v >= 1)
    mask = v < 1
    if name in ("events_int", "events_ctrl"):
        mask |= v > num[_SHOWN_BY_RULES[name][0]]
    elif name == "ci_low":
        mask |= v > num["ci_high"]
    elif name == "estimate":
        mask |= (v < num["ci_low"]) | (v > num["ci_high"])
    return mask


def _drop_unshown(shown: dict, num: dict[str, np.ndarray]) -> None:
    """Keep, of each parsed numeric column whose rule partners are parsed too, only the cells
    a row rule can show: a full text column per numeric column would double what validating
    a large sheet holds."""
    for name in [c for c in num if c in shown and not isinstance(shown[c], _SomeCells)]:
        partners = _SHOWN_BY_RULES.get(name)
        if partners is None:
            shown[name] = None  # no row rule shows this column
        elif all(p in num for p in partners):
            rows = np.flatnonzero(_may_be_shown(name, num))
            cells = (shown[name].take(rows) if isinstance(shown[name], _CompactText)
                     else shown[name].iloc[rows].astype(object).to_numpy())
            shown[name] = _SomeCells(rows, cells)


def _compact(text: pd.Series | None, raw: pd.Series):
    """What problems show of a numeric column: its text (compact when Arrow holds it)."""
    if text is None:
        return raw
    if getattr(text.dtype, "storage", None) == "pyarrow":
        return _CompactText(text)
    return text


class _Problems:
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
        elif isinstance(values, _CompactText | _SomeCells):
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
            out = pd.DataFrame({c: pd.Series(dtype=object) for c in _REJECTED_COLUMNS})
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
        out = out[list(_REJECTED_COLUMNS)]
        out["row"] = out["row"].astype("int64")
        for c in _REJECTED_COLUMNS[1:]:
            out[c] = out[c].astype(pd.StringDtype())
        return out


def _numeric(raw: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Series | None]:
    """Parse a numeric column: (values with NaN, present, bad, text or None)."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        present = ~np.isnan(values)
        bad = np.isinf(values)
        return np.where(bad, np.nan, values), present, bad, None
    text = _text(raw)
    present = text.notna().to_numpy()
    values = _to_float(text)
    bad = present & ~np.isfinite(values)
    values = np.where(bad, np.nan, values)
    return values, present, bad, text


_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def _to_float(text: pd.Series) -> np.ndarray:
    """Stripped text -> float64 with NaN where missing or not a plain decimal number."""
    if getattr(text.dtype, "storage", None) == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.chunked_array(text.array.__arrow_array__())
        is_number = pc.match_substring_regex(arr, _NUMBER)
        try:
            cast = pc.cast(pc.if_else(is_number, arr, None), pa.float64())
            return cast.to_numpy().astype(float, copy=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # pragma: no cover
            pass
    num = pd.to_numeric(text.astype(object), errors="coerce")
    return pd.Series(num).astype("Float64").to_numpy(dtype=float, na_value=np.nan)


#: Common words for a model tag that string similarity alone does not find.
_MODEL_SYNONYMS: dict[str, str] = {
    "mice": "mouse",
    "murine": "mouse",
    "rats": "rat",
    "rabbits": "rabbit",
    "pigs": "pig",
    "swine": "pig",
    "porcine": "pig",
    "minipig": "pig",
    "ovine": "sheep",
    "dogs": "dog",
    "canine": "dog",
    "monkey": "non_human_primate",
    "monkeys": "non_human_primate",
    "macaque": "non_human_primate",
    "primate": "non_human_primate",
    "nhp": "non_human_primate",
    "in_vitro": "cell_culture",
    "cells": "cell_culture",
    "cell_line": "cell_culture",
    "rct": "clinical_trial",
}


def _suggest(value: str, vocabulary: tuple[str, ...]) -> str | None:
    """The closest vocabulary entry (case, spaces and hyphens ignored), or None."""
    lowered = {v.lower(): v for v in vocabulary}
    key = re.sub(r"[\s\-]+", "_", value.strip().lower())
    if key in lowered:
        return lowered[key]
    synonym = _MODEL_SYNONYMS.get(key)
    if synonym in vocabulary:
        return synonym
    close = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def _vocabulary_reason(column: str, vocabulary: tuple[str, ...]):
    cache: dict[str, str] = {}

    def reason(value: str) -> str:
        if value not in cache:
            guess = _suggest(value, vocabulary)
            if guess is not None:
                tail = f"did you mean '{guess}'?"
            else:
                tail = "expected one of " + ", ".join(vocabulary) + "."
            cache[value] = f"unknown {column} '{value}'; {tail}"
        return cache[value]

    return reason


# ---------------------------------------------------------------------------
# Validation


def _resolve_bib(bib):
    if bib is None:
        return None, None
    from evidence.references import Bibliography, read_bib, read_ris

    if isinstance(bib, Bibliography):
        name = Path(bib.source).name if bib.source else "the bibliography"
        return frozenset(bib.keys()), name
    if isinstance(bib, str | os.PathLike):
        path = Path(bib)
        parsed = read_ris(path) if path.suffix.lower() == ".ris" else read_bib(path)
        return frozenset(parsed.keys()), path.name
    raise InvalidParameterError(
        "The 'bib' argument of read_studies() must be None, a path to a .bib or .ris file or a "
        f"Bibliography. Got {type(bib).__name__}."
    )


def read_studies(source, *, bib=None, checks=()) -> IngestResult:
    """Read a study sheet and validate every row against :mod:`evidence.schema`.

    Parameters
    ----------
    source : str, os.PathLike or pandas.DataFrame
        A ``.csv`` (comma-separated, UTF-8), ``.tsv``, ``.xlsx`` (first sheet;
        needs openpyxl) or ``.parquet`` file, or a DataFrame.  The first row of
        a file is the header.
    bib : None, str, os.PathLike or Bibliography, optional
        The reference list.  When given, every ``citation_key`` must be one of
        its keys.  A path ending in ``.ris`` is read with
        :func:`~evidence.references.read_ris`, any other with
        :func:`~evidence.references.read_bib`.
    checks : sequence of callables, optional
        Further row checks, each called with the typed table of every input row (before
        any is rejected, fresh 0..n-1 index) and returning a DataFrame with columns
        ``row`` (0-based position), ``column``, ``value`` and ``reason``: those rows are
        rejected with those reasons too.  ``evigap run`` and ``evigap validate`` pass
        :func:`grading.rob.rob_problems` (an unknown ``rob_tool``, ``rob_domains`` that do
        not parse for the row's tool).

    Returns
    -------
    IngestResult
        ``studies`` (accepted rows, typed, every schema column in schema order
        then any extra columns), ``rejected`` (columns ``row``, ``study_id``,
        ``column``, ``value``, ``reason``), ``n_in`` and ``source``.
        ``n_in == n_accepted + n_rejected`` always holds.

    Raises
    ------
    ValidationError
        When the table cannot be used at all: a missing, empty, undecodable or
        non-tabular file, an empty header, duplicate or unnamed non-empty
        columns, or missing required columns.  The message names the file and
        the columns.
    InvalidParameterError
        When ``source``, ``bib`` or ``checks`` has an unsupported type, or a check
        returns something other than the frame described above.

    Notes
    -----
    Cells are stripped of surrounding spaces and an empty cell is a missing
    value; no other text (``NA``, ``n/a``) is read as missing and no bad value
    is coerced: it is rejected with a reason naming the column and the value.
    The row rules are listed in ``data/SCHEMA.md``.
    """
    checks = _check_checks(checks)
    with _returning_allocator():
        result = _read_and_validate(source, bib, checks)
        _release_arrow_memory()
    if result.n_accepted + result.n_rejected != result.n_in:  # pragma: no cover - a bug
        raise AssertionError("read_studies lost rows: please report this as a bug")
    return result


def _check_checks(checks) -> tuple:
    if callable(checks):
        checks = (checks,)
    try:
        checks = tuple(checks)
    except TypeError:
        checks = (checks,)
    for check in checks:
        if not callable(check):
            raise InvalidParameterError(
                "The 'checks' argument of read_studies() must be a sequence of callables. "
                f"Got {type(check).__name__}."
            )
    return checks


_CHECK_COLUMNS = ("row", "column", "value", "reason")


def _add_check_problems(problems: _Problems, check, studies: pd.DataFrame) -> None:
    """Reject the rows a ``read_studies(checks=...)`` callable reports."""
    name = getattr(check, "__name__", type(check).__name__)
    found = check(studies)
    if not isinstance(found, pd.DataFrame) or not set(_CHECK_COLUMNS) <= set(found.columns):
        raise InvalidParameterError(
            f"read_studies(): the check {name}() must return a DataFrame with columns "
            f"{list(_CHECK_COLUMNS)}. Got {type(found).__name__}."
        )
    if len(found) == 0:
        return
    rows = pd.to_numeric(found["row"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    n = len(studies)
    if not (np.isfinite(rows).all() and (rows == np.floor(rows)).all()
            and (rows >= 0).all() and (rows < n).all()):
        raise InvalidParameterError(
            f"read_studies(): the check {name}() returned a 'row' that is not a position "
            f"0..{n - 1} of the table."
        )
    found = found.assign(row=rows.astype(np.int64)).sort_values("row", kind="stable")
    for column, part in found.groupby("column", sort=False):
        at = part["row"].to_numpy()
        mask = np.zeros(n, dtype=bool)
        mask[at] = True
        if mask.sum() != len(at):
            raise InvalidParameterError(
                f"read_studies(): the check {name}() reported a row twice for column "
                f"{column!r}."
            )
        values = np.full(n, None, dtype=object)
        values[at] = part["value"].astype(object).where(part["value"].notna(), None).to_numpy()
        problems.add(mask, str(column), values, [str(r) for r in part["reason"]])


def _read_and_validate(source, bib, checks: tuple = ()) -> IngestResult:
    frame, label_path = _load(source)
    label = label_path if label_path == "<DataFrame>" else f"File '{label_path}'"
    _check_required_columns(frame, label)
    bib_keys, bib_name = _resolve_bib(bib)
    n = len(frame)

    study_text = _text(frame["study_id"])
    problems = _Problems(study_text)
    dtypes = schema_dtypes()
    typed: dict[str, object] = {}
    present = _Masks(n)
    num: dict[str, np.ndarray] = {}
    text: dict[str, pd.Series] = {}
    shown: dict[str, pd.Series] = {}
    no_text = _empty(n, pd.StringDtype())

    for col in COLUMNS:
        name = col.name
        if name not in frame:
            present[name] = np.zeros(n, dtype=bool)
            typed[name] = (_no_text_like(no_text) if col.dtype == "string"
                           else _empty(n, dtypes[name]))
            text[name] = shown[name] = no_text
            if col.dtype in ("int", "float"):
                num[name] = np.full(n, np.nan)
            continue
        raw = frame.pop(name)  # the frame is ours (see _load): release each column once parsed
        if col.dtype in ("int", "float"):
            values, here, bad, t = _numeric(raw)
            shown[name] = _compact(t, raw)
            del raw
            problems.add(
                bad, name, shown[name],
                lambda v, c=name: f"non-numeric value '{v}' in numeric column '{c}'",
            )
            if col.dtype == "int":
                filled = np.nan_to_num(values)
                frac = ~bad & here & (np.floor(filled) != filled)
                problems.add(
                    frac, name, shown[name],
                    lambda v, c=name: f"non-integer value '{v}' in integer column '{c}'",
                )
                huge = ~bad & ~frac & (np.abs(filled) >= 2.0**53)
                problems.add(
                    huge, name, shown[name],
                    lambda v, c=name: f"value '{v}' in integer column '{c}' is too large",
                )
                values = np.where(frac | huge, np.nan, values)
                missing = np.isnan(values)
                ints = np.where(missing, 0, values).astype(np.int64)
                typed[name] = pd.arrays.IntegerArray(ints, missing)
            else:
                typed[name] = pd.arrays.FloatingArray(values, np.isnan(values))
            num[name] = values
            present[name] = here
            text[name] = no_text  # the row rules read these columns as numbers only
            _drop_unshown(shown, num)
            continue
        if col.dtype == "bool" and pd.api.types.is_bool_dtype(raw):
            typed[name] = raw.astype("boolean").array
            present[name] = raw.notna().to_numpy()
            text[name] = shown[name] = no_text
            continue
        t = _text(raw)
        here = t.notna().to_numpy()
        text[name], shown[name], present[name] = t, t, here
        if col.dtype == "string":
            typed[name] = t.array if here.any() else _no_text_like(no_text)
        elif col.dtype == "bool":
            low = t.str.lower()
            if pd.api.types.is_numeric_dtype(raw):
                low = low.replace({"1.0": "1", "0.0": "0"})
            is_true = low.isin(_TRUE).to_numpy(dtype=bool, na_value=False)
            is_false = low.isin(_FALSE).to_numpy(dtype=bool, na_value=False)
            bad = here & ~is_true & ~is_false
            problems.add(
                bad, name, t,
                lambda v, c=name: f"value '{v}' in true/false column '{c}'; "
                "expected true/false, yes/no or 1/0",
            )
            typed[name] = pd.arrays.BooleanArray(is_true, ~(is_true | is_false))
        else:  # category
            codes, uniques = pd.factorize(t)
            lut = pd.Index(list(col.vocabulary or ()), dtype=object).get_indexer(
                pd.Index(uniques, dtype=object)
            )
            cat_codes = np.where(codes >= 0, lut[codes] if len(lut) else -1, -1)
            ok = cat_codes >= 0
            problems.add(here & ~ok, name, t, _vocabulary_reason(name, col.vocabulary or ()))
            typed[name] = pd.Categorical.from_codes(cat_codes, dtype=dtypes[name])
            # the rules read the valid values only: the categorical holds exactly those
            text[name] = pd.Series(typed[name], index=t.index)
        shown[name] = no_text  # the row rules show numeric cells only
        if name not in _RULE_TEXT:  # only the row rules below read text of these columns
            text[name] = no_text

    for name in REQUIRED_COLUMNS:
        problems.add(~present[name], name, None, f"required value missing in column '{name}'")

    _row_rules(problems, text, num, present, shown)
    _duplicates(problems, text, present, n)

    if bib_keys is not None:
        cited = text["citation_key"]
        missing_key = present["citation_key"] & ~cited.isin(bib_keys).to_numpy(
            dtype=bool, na_value=False
        )
        problems.add(
            missing_key, "citation_key", cited,
            lambda v: f"citation key '{v}' not found in {bib_name}",
        )

    data = {name: typed[name] for name in dtypes}
    for c in frame.columns:
        if c not in dtypes:
            col = frame[c]
            if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
                col = _text(col)
            data[c] = col.array
    del text, shown, num, typed
    studies = pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)
    for check in checks:
        _add_check_problems(problems, check, studies)
    rejected = problems.frame()
    if len(rejected):
        keep = np.ones(n, dtype=bool)
        keep[rejected["row"].to_numpy()] = False
        studies = studies.iloc[np.flatnonzero(keep)].reset_index(drop=True)

    return IngestResult(studies=studies, rejected=rejected, n_in=n, source=label_path)


@contextlib.contextmanager
def _returning_allocator():
    """Let Arrow allocate from an allocator that hands freed memory straight back while a
    sheet is read and validated.

    Parsing a large sheet column by column frees about as much text as it keeps.  Arrow's
    default allocator (mimalloc) keeps the freed memory cached, and the C library's keeps
    it fragmented; for a million rows either leaves the process about 0.3 GB larger than
    jemalloc told to return freed pages at once (see benchmarks/README.md).  That setting
    concerns Arrow's own jemalloc only, which nothing else uses unless chosen.  Buffers
    remember their allocator, so restoring the default afterwards is safe.  Without a
    jemalloc build of pyarrow the default allocator is kept.
    """
    try:
        import pyarrow as pa

        pool = pa.jemalloc_memory_pool()
        pa.jemalloc_set_decay_ms(0)
    except (ImportError, NotImplementedError):  # no pyarrow, or built without jemalloc
        yield
        return
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _release_arrow_memory() -> None:
    """Give the memory freed while parsing back to the system: what Arrow's allocator keeps
    cached and, through the C library's pool (``malloc_trim``), the free pages between
    NumPy's arrays (for a large sheet each can reach a quarter of the table itself)."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pandas without pyarrow
        return
    pa.default_memory_pool().release_unused()
    pa.system_memory_pool().release_unused()


def _cells(values: pd.Series, rows: np.ndarray) -> list:
    """The cells at ``rows`` (ascending positions) as Python objects, missing as None."""
    return values.take(rows).astype(object).where(lambda v: v.notna(), None).tolist()


def _row_rules(problems: _Problems, text, num, present, shown) -> None:
    """The cross-column rules (listed in data/SCHEMA.md)."""
    model = text["model"]
    stream = text["stream"]
    data_type = text["data_type"]
    measure = text["measure"]

    # model / stream
    # judged once per distinct (model, stream) pair, not once per row
    m_codes, m_values = pd.factorize(model)
    s_codes, s_values = pd.factorize(stream)
    valid = np.array([[sv in MODEL_STREAM.get(mv, ()) for sv in s_values] for mv in m_values],
                     dtype=bool).reshape(len(m_values), len(s_values))
    both = (m_codes >= 0) & (s_codes >= 0)
    mismatch = both.copy()
    mismatch[both] = ~valid[m_codes[both], s_codes[both]]
    if mismatch.any():
        streams_of = {m: " or ".join(f"'{s}'" for s in s_) for m, s_ in MODEL_STREAM.items()}
        rows = np.flatnonzero(mismatch)
        pairs = zip(_cells(model, rows), _cells(stream, rows), strict=True)
        why = [f"model '{m}' belongs to stream {streams_of[m]}, not '{s}'" for m, s in pairs]
        problems.add(mismatch, "model", model, why)

    # meta-analysis records
    k = num["k_studies"]
    is_meta = (model == "meta_analysis").to_numpy(dtype=bool, na_value=False)
    problems.add(
        is_meta & ~present["k_studies"], "k_studies", None,
        "model 'meta_analysis' needs k_studies >= 1; k_studies is missing",
    )
    problems.add(
        k < 1, "k_studies", shown["k_studies"],
        lambda v: f"k_studies must be >= 1 (number of pooled studies); got {v}",
    )

    # data_type requirements
    for dt, (needed, measures) in DATA_TYPE_REQUIREMENTS.items():
        rows_dt = (data_type == dt).to_numpy(dtype=bool, na_value=False)
        if not rows_dt.any():
            continue
        for col in needed:
            problems.add(
                rows_dt & ~present[col], col, None,
                f"data_type '{dt}' needs a value in '{col}'",
            )
        if measures is not None:
            allowed = ", ".join(measures)
            has_measure = present["measure"]
            problems.add(
                rows_dt & ~has_measure, "measure", None,
                f"data_type '{dt}' needs measure {allowed}; measure is missing",
            )
            wrong = rows_dt & measure.notna().to_numpy() & ~measure.isin(measures).to_numpy(
                dtype=bool, na_value=False
            )
            problems.add(
                wrong, "measure", measure,
                lambda v, dt=dt, allowed=allowed: f"data_type '{dt}' needs measure {allowed}; "
                f"got '{v}'",
            )
        if dt == "estimate":
            ci = present["ci_low"] & present["ci_high"]
            lacking = rows_dt & ~ci & ~present["se"]
            has_low = present["ci_low"]  # the limit reported missing is the one not given
            for c, flagged in (("ci_low", lacking & ~has_low), ("ci_high", lacking & has_low)):
                problems.add(
                    flagged, c, None,
                    "data_type 'estimate' needs both 'ci_low' and 'ci_high', or 'se'",
                )

    # value ranges
    for col in ("events_int", "n_int", "events_ctrl", "n_ctrl", "n_total"):
        problems.add(
            num[col] < 0, col, shown[col],
            lambda v, c=col: f"negative count {v} in column '{c}'",
        )
    for events, total in (("events_int", "n_int"), ("events_ctrl", "n_ctrl")):
        over = num[events] > num[total]
        why = [
            f"events '{events}' ({_fmt_value(num[events][r])}) exceed the total "
            f"'{total}' ({_fmt_value(num[total][r])})"
            for r in np.flatnonzero(over)
        ]
        problems.add(over, events, shown[events], why)
    for col in ("n_int", "n_ctrl", "n_total"):
        small = (num[col] >= 0) & (num[col] < 1)
        problems.add(
            small, col, shown[col], lambda v, c=col: f"sample size '{c}' must be >= 1; got {v}"
        )
    for col in ("sd_int", "sd_ctrl"):
        problems.add(
            num[col] <= 0, col, shown[col],
            lambda v, c=col: f"standard deviation '{c}' must be > 0; got {v}",
        )
    problems.add(
        num["se"] <= 0, "se", shown["se"], lambda v: f"standard error 'se' must be > 0; got {v}"
    )
    lo, hi, est = num["ci_low"], num["ci_high"], num["estimate"]
    inverted = lo > hi
    why = [
        f"CI lower limit 'ci_low' ({_fmt_value(lo[r])}) is above the upper limit "
        f"'ci_high' ({_fmt_value(hi[r])})"
        for r in np.flatnonzero(inverted)
    ]
    problems.add(inverted, "ci_low", shown["ci_low"], why)
    outside = ~inverted & ((est < lo) | (est > hi))
    why = [
        f"estimate {_fmt_value(est[r])} lies outside its confidence interval "
        f"({_fmt_value(lo[r])}, {_fmt_value(hi[r])})"
        for r in np.flatnonzero(outside)
    ]
    problems.add(outside, "estimate", shown["estimate"], why)
    is_ratio = measure.isin(RATIO_MEASURES).to_numpy(dtype=bool, na_value=False)
    for col in ("estimate", "ci_low", "ci_high"):
        bad = is_ratio & (num[col] <= 0)
        rows = np.flatnonzero(bad)
        why = [
            f"ratio measure '{m}' needs '{col}' > 0 (natural scale); got {_fmt_value(num[col][r])}"
            for m, r in zip(_cells(measure, rows), rows, strict=True)
        ]
        problems.add(bad, col, shown[col], why)
    is_rom = (measure == "ROM").to_numpy(dtype=bool, na_value=False)
    for col in ("mean_int", "mean_ctrl"):
        problems.add(
            is_rom & (num[col] <= 0), col, shown[col],
            lambda v, c=col: f"measure 'ROM' needs positive means; '{c}' is {v}",
        )
    level = num["ci_level"]
    problems.add(
        (level <= 0) | (level >= 1), "ci_level", shown["ci_level"],
        lambda v: f"ci_level must be a fraction strictly between 0 and 1 (e.g. 0.95); got {v}",
    )
