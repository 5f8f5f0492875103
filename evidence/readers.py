"""Readers of a study sheet: CSV/TSV (strict), Excel/OpenDocument, Parquet or a DataFrame, into
named text columns; the cell parsers (missing-value tokens, numbers) the validation uses."""

from __future__ import annotations

import contextlib
import csv
import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evidence.errors import InvalidParameterError, ValidationError
from evidence.problems import fmt_value
from evidence.schema import COLUMN_NAMES, REQUIRED_COLUMNS

_CSV_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": ","}


_EXCEL_SUFFIXES = (".xlsx", ".xlsm")


_PARQUET_SUFFIXES = (".parquet", ".pq")


_UNNAMED = re.compile(r"^Unnamed: \d+$")


def fail(label: str, message: str) -> ValidationError:
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
        raise fail(
            label,
            "the header row is empty; expected column names such as "
            + ", ".join(REQUIRED_COLUMNS)
            + ".",
        )
    keep = []
    for i, name in enumerate(names):
        if name == "" or _UNNAMED.match(name):
            if has_data(i):
                raise fail(
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
        raise fail(label, f"duplicate column names in the header: {detail}. Names must be unique.")
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
        return pd.Series(
            pd.arrays.ArrowStringArray(self._columns[name]), name=name, index=pd.RangeIndex(self._n)
        )

    def pop(self, name: str) -> pd.Series:
        out = self[name]
        del self._columns[name]
        return out

    def rename(self, columns: dict[str, str]) -> _ArrowSheet:
        self._columns = {columns.get(k, k): v for k, v in self._columns.items()}
        return self

    def __setitem__(self, name: str, value: str) -> None:
        # pyarrow is optional (the parquet extra): imported only on its fast path
        import pyarrow as pa

        self._columns[name] = pa.chunked_array([pa.array([value] * self._n, pa.string())])


@dataclass
class Loaded:
    """What a reader hands to the validation: the named columns, the source label and what
    reading found before any cell was parsed."""

    frame: pd.DataFrame | _ArrowSheet
    source: str
    #: (0-based row, column, cell text or None, reason): rows that must be rejected whatever
    #: their cells hold (a ragged CSV row, an Excel formula without a cached value).
    flagged: list[tuple[int, str, str | None, str]] = field(default_factory=list)
    #: Plain-text remarks for the summary (e.g. a ';'-separated file read with decimal commas).
    notes: list[str] = field(default_factory=list)
    #: True when numbers may be written with a decimal comma (a ';'-separated file).
    decimal_comma: bool = False


def _read_csv_arrow(path: Path, sep: str, label: str) -> tuple[_ArrowSheet, list[str]] | None:
    """Fast multi-threaded read of a well-formed file into an :class:`_ArrowSheet`, with
    the header names.

    Returns None whenever pyarrow is missing or the file is not a clean
    rectangular UTF-8 table; the strict reader then reads it or raises the
    explanatory ValidationError.  Arrow's parser is lenient about quoting (it reads past an
    unclosed quote to the end of the file and joins text after a closing quote to the cell),
    so a file with a quoted cell must first pass the strict check (:func:`_read_csv` runs
    :func:`_rectangular` whenever :func:`_quote_opens_cell` finds one).
    """
    try:
        # pyarrow is optional (the parquet extra): imported only on its fast path
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pcsv

        with path.open(encoding="utf-8-sig", newline="") as handle:
            n_columns = len(next(csv.reader(handle, delimiter=sep)))
        table = pcsv.read_csv(
            path,
            # one thread: the parallel reader leaves ~50 MB more freed-but-resident memory for a
            # million rows (per-thread blocks) at the moment the columns are parsed, for ~0.3 s
            read_options=pcsv.ReadOptions(
                autogenerate_column_names=True, encoding="utf8", use_threads=False
            ),
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
    except PermissionError:
        raise
    except Exception:  # any problem: let the strict reader explain it
        return None
    names = _names_from_header([c[0].as_py() for c in table.columns], label)
    body = [table.column(i).slice(1) for i in range(n_columns)]

    def has_data(i: int) -> bool:
        return bool(pc.any(pc.not_equal(pc.utf8_trim_whitespace(body[i]), "")).as_py())

    keep = _kept_columns(names, label, has_data)
    columns = {names[i]: body[i] for i in keep}
    return _ArrowSheet(columns, len(body[0])), names


def _quote_opens_cell(path: Path, sep: str) -> bool:
    """Whether any '"' stands where a quoted cell can open: at the start of the file (after a
    byte-order mark), after the delimiter or after a line break.

    Without such a quote the file has no quoted cell, every '"' is a literal character of an
    unquoted cell (``5" needle``, which the strict and the Arrow reader both keep as it is), and
    neither an unclosed quote nor text after a closing quote can occur: the fast reader reads
    exactly the records the strict reader sees.  With one, the file needs the strict pass,
    whatever the number of quotes (an even count can still hold a quote left open, or ``""S0``
    whose text follows a closing quote).  Read in blocks, not held whole.
    """
    marks = (sep.encode() + b'"', b'\n"', b'\r"')
    previous = b"\n"  # the file's first byte follows a virtual line break
    with path.open("rb") as handle:
        first = True
        while block := handle.read(1 << 24):
            if first and block.startswith(b"\xef\xbb\xbf"):
                block = block[3:]
            first = False
            if b'"' in block:
                joined = previous + block
                if any(m in joined for m in marks):
                    return True
            previous = block[-1:] or previous
    return False


def _strict_records(path: Path, sep: str, label: str):
    """Every record of the file, parsed strictly (RFC 4180 quoting), as (line, fields), one
    at a time.

    Raises a ValidationError naming the line of a quote that is never closed or of text after
    a closing quote.  Blank lines are skipped, as a spreadsheet shows no row for them.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=sep, strict=True)
            line = 1
            try:
                for fields in reader:
                    if fields:
                        yield line, fields
                    line = reader.line_num + 1
            except csv.Error as exc:
                if "end of data" in str(exc):
                    raise fail(
                        label,
                        f"line {line}: a quoted cell opened on this line is never closed "
                        "(an unmatched '\"'); every record after it would be read into that "
                        "cell. Close the quote or remove it.",
                    ) from None
                where = (
                    f"line {reader.line_num}"
                    if reader.line_num == line
                    else f"line {reader.line_num} (in the record that starts on line {line})"
                )
                raise fail(
                    label,
                    f"{where}: text follows the closing quote of a quoted cell ({exc}): a quote "
                    f"opened on line {line} may be unmatched, or a quoted cell has text after "
                    "its closing quote; quote the whole cell and double any '\"' inside it.",
                ) from None
    except UnicodeDecodeError as exc:
        raise fail(
            label,
            f"cannot be decoded as UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} at "
            f"offset {exc.start}); save the sheet as 'CSV UTF-8'.",
        ) from None


def _rectangular(path: Path, sep: str, label: str) -> bool:
    """Whether every record has as many cells as the header, read strictly without keeping
    the records (raises as :func:`_strict_records` does).

    The record widths are collected at C speed (``set(map(len, reader))``); only a file the
    strict reader refuses is read again, record by record, to name the line in the error.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            widths = set(map(len, csv.reader(handle, delimiter=sep, strict=True)))
    except (csv.Error, UnicodeDecodeError):
        for _ in _strict_records(path, sep, label):  # raises the error naming the line
            pass
        return False  # pragma: no cover - the second pass raises as the first did
    widths.discard(0)  # blank lines: a spreadsheet shows no row for them
    return len(widths) <= 1


def _read_csv_strict(path: Path, sep: str, label: str) -> Loaded:
    """The strict reader: every record kept; a ragged record becomes a rejected row."""
    records = list(_strict_records(path, sep, label))
    if not records:
        raise fail(label, "the file is empty; expected a header row naming the columns.")
    (_, header), body = records[0], records[1:]
    width = len(header)
    flagged: list[tuple[int, str, str | None, str]] = []
    rows = []
    for i, (line, fields) in enumerate(body):
        if len(fields) != width:
            what = (
                "a stray delimiter or an unquoted " + repr(sep) + " inside a cell"
                if len(fields) > width
                else "a missing delimiter or cells left out"
            )
            flagged.append(
                (
                    i,
                    "<row>",
                    None,
                    f"line {line} has {len(fields)} cells but the header has {width} "
                    f"({what}); the row is not read",
                )
            )
            fields = [""] * width
        rows.append(fields)
    raw = (
        pd.DataFrame(rows, columns=range(width), dtype=object)
        if rows
        else pd.DataFrame({i: pd.Series(dtype=object) for i in range(width)})
    )
    names = _names_from_header(header, label)
    return Loaded(_apply_header(raw, names, label), str(path), flagged)


def _sniff_semicolon(path: Path, sep: str) -> bool:
    """Whether a ','-separated file's header is one cell that ';' splits into several."""
    if sep != ",":
        return False
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = next(csv.reader(handle, delimiter=","), [])
    except (UnicodeDecodeError, csv.Error):
        return False
    return len(first) == 1 and ";" in first[0]


def _read_csv(path: Path, label: str) -> Loaded:
    sep = _CSV_SEPARATORS[path.suffix.lower()]
    notes: list[str] = []
    decimal_comma = False
    if _sniff_semicolon(path, sep):
        sep, decimal_comma = ";", True
        notes.append(
            "the header is ';'-separated: read as a ';'-separated file whose numbers may use a "
            "decimal comma (1,5); save it as 'CSV UTF-8 (comma delimited)' to avoid the guess"
        )
    # a quoted cell may be left open or have text after its closing quote, which Arrow reads
    # leniently: a strict pass without keeping the records checks the quoting (raising a
    # ValidationError naming the line) and the fast reader is used when the table is sound
    parsed = None
    if not _quote_opens_cell(path, sep) or _rectangular(path, sep, label):
        parsed = _read_csv_arrow(path, sep, label)
    if parsed is not None:
        loaded = Loaded(parsed[0], str(path))
    else:
        loaded = _read_csv_strict(path, sep, label)
    _check_single_column(list(loaded.frame.columns), path, sep, label)
    loaded.notes, loaded.decimal_comma = notes, decimal_comma
    return loaded


def _check_single_column(names: list[str], path: Path, sep: str, label: str) -> None:
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        delimiter = "';'" if ";" in names[0] else "tab"
        raise fail(
            label,
            f"the header is a single column '{names[0][:60]}'; the file looks {delimiter}-"
            f"separated but a {path.suffix} file must be {sep!r}-separated.",
        )


def _sheet_name(sheet, names: list[str], label: str):
    """The sheet to read: ``None`` (the first), a 0-based position or a name of ``names``."""
    if sheet is None:
        return names[0] if names else 0
    if isinstance(sheet, int) and not isinstance(sheet, bool):
        if 0 <= sheet < len(names):
            return names[sheet]
        raise fail(label, f"has no sheet number {sheet} (0-based); its sheets are {names}.")
    if isinstance(sheet, str):
        if sheet in names:
            return sheet
        close = difflib.get_close_matches(sheet, names, n=1, cutoff=0.6)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise fail(label, f"has no sheet named '{sheet}'; its sheets are {names}.{hint}")
    raise InvalidParameterError(
        "The 'sheet' argument of read_studies() must be None, a sheet name or a 0-based sheet "
        f"number. Got {type(sheet).__name__}."
    )


def _uncalculated_formulas(path: Path, sheet: str) -> list[tuple[int, int, str]]:
    """(sheet row, column, formula) of every formula cell without a cached value, 0-based."""
    # openpyxl is optional (the excel extra) and ~0.1 s to import
    import openpyxl

    found = []
    formulas = openpyxl.load_workbook(path, read_only=True, data_only=False)
    values = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        f_rows = formulas[sheet].iter_rows(values_only=True)
        v_rows = values[sheet].iter_rows(values_only=True)
        for r, (f_row, v_row) in enumerate(zip(f_rows, v_rows, strict=False)):
            for c, f in enumerate(f_row):
                if (
                    isinstance(f, str)
                    and f.startswith("=")
                    and (c >= len(v_row) or v_row[c] is None)
                ):
                    found.append((r, c, f))
    finally:
        formulas.close()
        values.close()
    return found


def _read_excel(path: Path, label: str, sheet=None) -> Loaded:
    ods = path.suffix.lower() == ".ods"
    engine = "odf" if ods else "openpyxl"
    try:
        __import__("odf" if ods else "openpyxl")
    except ImportError:
        need = "odfpy" if ods else "openpyxl"
        raise ImportError(
            f"Reading {path.suffix} files needs {need}: pip install 'evigap[excel]'."
        ) from None
    try:
        with pd.ExcelFile(path, engine=engine) as book:
            name = _sheet_name(sheet, [str(s) for s in book.sheet_names], label)
            raw = book.parse(name, header=None, dtype=object)
    except (ValidationError, InvalidParameterError, PermissionError):
        raise
    except Exception as exc:  # the engines raise many types for a broken workbook
        why = f"{type(exc).__name__}: {exc}"
        kind = "an OpenDocument spreadsheet" if ods else "an Excel workbook"
        raise fail(label, f"cannot be read as {kind} ({why}).") from None
    if raw.shape[1] == 0 or len(raw) == 0:
        raise fail(label, f"the sheet '{name}' is empty; expected a header row naming the columns.")
    names = _names_from_header(raw.iloc[0].tolist(), label)
    flagged: list[tuple[int, str, str | None, str]] = []
    if not ods:
        cells = _uncalculated_formulas(path, name)
        if cells:
            last = max(r for r, _, _ in cells)
            if last >= len(raw):  # a row pandas trimmed because its only cells are uncalculated
                extra = pd.DataFrame(None, index=range(len(raw), last + 1), columns=raw.columns)
                raw = pd.concat([raw, extra.astype(object)])
            for r, c, formula in cells:
                column = names[c] if c < len(names) and names[c] else f"column {c + 1}"
                if r == 0:
                    raise fail(
                        label,
                        f"the header cell of {column} is a formula ({formula}) "
                        "without a calculated value; type the column name instead.",
                    )
                flagged.append(
                    (
                        r - 1,
                        column,
                        formula,
                        f"formula {formula} has no calculated value (the workbook was "
                        "saved by a program that does not calculate); open and save it "
                        "in a spreadsheet program, or paste the values",
                    )
                )
    return Loaded(_apply_header(raw.iloc[1:], names, label), str(path), flagged)


def _read_parquet(path: Path, label: str) -> Loaded:
    try:
        raw = pd.read_parquet(path)
    except ImportError as exc:  # pragma: no cover
        raise ImportError(f"Reading .parquet files needs pyarrow: {exc}") from None
    except PermissionError:
        raise
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise fail(label, f"cannot be read as a Parquet table ({why}).") from None
    names = _names_from_header(list(raw.columns), label)
    return Loaded(_apply_header(raw, names, label), str(path))


def load(source, *, sheet=None) -> Loaded:
    """Read ``source`` (a path or a DataFrame) into named columns; see :func:`read_studies`."""
    if isinstance(source, pd.DataFrame):
        label = "<DataFrame>"
        names = _names_from_header(list(source.columns), label)
        frame = source.reset_index(drop=True)
        if source.shape[1] == 0:
            raise fail(label, "the table has no columns; expected " + ", ".join(REQUIRED_COLUMNS))
        return Loaded(_apply_header(frame, names, label), label)
    if not isinstance(source, str | os.PathLike):
        raise InvalidParameterError(
            "The 'source' argument of read_studies() must be a path to a .csv, .tsv, .xlsx, "
            f".ods or .parquet file or a pandas DataFrame. Got {type(source).__name__}."
        )
    path = Path(source)
    label = f"File '{path}'"
    if not path.exists():
        raise ValidationError(f"{label} does not exist.")
    if not path.is_file():
        raise ValidationError(
            f"{label} is not a file; expected a .csv, .xlsx, .ods or .parquet table."
        )
    suffix = path.suffix.lower()
    if sheet is not None and suffix not in _EXCEL_SUFFIXES + (".ods",):
        raise InvalidParameterError(
            f"The 'sheet' argument of read_studies() applies to .xlsx and .ods workbooks; "
            f"{path.name} is a {suffix} file. Got {sheet!r}."
        )
    try:
        if suffix in _CSV_SEPARATORS:
            return _read_csv(path, label)
        if suffix in _EXCEL_SUFFIXES or suffix == ".ods":
            return _read_excel(path, label, sheet)
        if suffix in _PARQUET_SUFFIXES:
            return _read_parquet(path, label)
    except PermissionError as exc:
        raise unreadable(label, exc) from None
    raise ValidationError(
        f"{label} has the extension '{path.suffix}'; expected .csv, .tsv, .xlsx, .ods or .parquet."
    )


def unreadable(label: str, exc: OSError) -> ValidationError:
    """The error for a file the operating system will not let evigap read."""
    why = exc.strerror or type(exc).__name__
    return ValidationError(
        f"{label} cannot be read ({why}); check that you may read it (file permissions) and "
        "that no other program holds it locked."
    )


def check_required_columns(frame, label: str, *, citation_key: bool = False) -> None:
    """Every required column is in the sheet (and ``citation_key`` when ``citation_key``)."""
    wanted = REQUIRED_COLUMNS + (("citation_key",) if citation_key else ())
    missing = [c for c in wanted if c not in frame.columns]
    if not missing:
        return
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, [str(c) for c in frame.columns], n=1, cutoff=0.7)
        if close:
            hints.append(f"'{close[0]}' looks like '{name}'")
    hint = f" ({'; '.join(hints)})" if hints else ""
    why = " (a bibliography was given)" if citation_key and "citation_key" in missing else ""
    raise fail(
        label,
        f"missing required column(s) {', '.join(repr(m) for m in missing)}{hint}{why}. "
        f"A study sheet needs the columns {', '.join(REQUIRED_COLUMNS)}; "
        "see data/SCHEMA.md or `evigap template`. Name your own headers with "
        "read_studies(columns={...}) or a [columns] table in the config file.",
    )


def check_column_map(columns, func: str = "read_studies") -> dict[str, str]:
    """``columns`` as a dict of sheet name -> schema name (None: no mapping)."""
    if columns is None:
        return {}
    if not isinstance(columns, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
    ):
        raise InvalidParameterError(
            f"The 'columns' argument of {func}() must be a mapping of the sheet's column names "
            f"to schema column names, e.g. {{'x.nrt': 'events_int'}}. Got {columns!r}."
        )
    out = {k.strip(): v.strip() for k, v in columns.items() if k.strip() != v.strip()}
    unknown = [v for v in out.values() if v not in COLUMN_NAMES]
    if unknown:
        hints = []
        for v in unknown:
            close = difflib.get_close_matches(v, COLUMN_NAMES, n=1, cutoff=0.6)
            hints.append(f"'{v}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise InvalidParameterError(
            f"The 'columns' argument of {func}() maps to {', '.join(hints)}, not a column of "
            "the study sheet schema (data/SCHEMA.md)."
        )
    targets: dict[str, list[str]] = {}
    for k, v in out.items():
        targets.setdefault(v, []).append(k)
    twice = {v: ks for v, ks in targets.items() if len(ks) > 1}
    if twice:
        detail = "; ".join(f"{ks} -> '{v}'" for v, ks in twice.items())
        raise InvalidParameterError(
            f"The 'columns' argument of {func}() maps several columns to one: {detail}."
        )
    return out


def rename_columns(frame, columns: dict[str, str], label: str):
    """The frame with its header renamed by ``columns`` (checked against the header)."""
    if not columns:
        return frame
    have = [str(c) for c in frame.columns]
    absent = [k for k in columns if k not in have]
    if absent:
        hints = []
        for k in absent:
            close = difflib.get_close_matches(k, have, n=1, cutoff=0.6)
            hints.append(f"'{k}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise fail(
            label,
            f"the column mapping names {', '.join(hints)}, which the header does "
            f"not have; its columns are {have}.",
        )
    clash = [v for k, v in columns.items() if v in have and v not in columns]
    if clash:
        raise fail(
            label,
            f"the column mapping renames a column to {clash}, which the header "
            "already has; map or rename that column too.",
        )
    return frame.rename(columns=columns)


def check_defaults(defaults, func: str = "read_studies") -> dict[str, str]:
    """``defaults`` as a dict of schema column -> cell text."""
    if defaults is None:
        return {}
    ok = isinstance(defaults, Mapping) and all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in defaults.items()
    )
    if not ok:
        raise InvalidParameterError(
            f"The 'defaults' argument of {func}() must be a mapping of schema column names to "
            f"single values, e.g. {{'stream': 'human'}}. Got {defaults!r}."
        )
    unknown = [k for k in defaults if k not in COLUMN_NAMES]
    if unknown:
        raise InvalidParameterError(
            f"The 'defaults' argument of {func}() names {unknown}, not columns of the study "
            "sheet schema (data/SCHEMA.md)."
        )
    return {k: str(v).lower() if isinstance(v, bool) else fmt_value(v) for k, v in defaults.items()}


def add_defaults(frame, defaults: dict[str, str], label: str):
    """The frame with a constant column for each of ``defaults``."""
    there = [k for k in defaults if k in frame.columns]
    if there:
        raise fail(
            label,
            f"the sheet has column(s) {there} given in defaults too; a default "
            "only supplies a column the sheet does not have.",
        )
    for name, value in defaults.items():
        frame[name] = value
    return frame


def sheet_options(config) -> dict:
    """The reading options of a TOML config file, as keyword arguments of :func:`read_studies`.

    Parameters
    ----------
    config : str, os.PathLike or mapping
        A TOML file (or its parsed content).  Tables read (others are ignored, so the file
        can hold the options of a whole run)::

            [sheet]
            name = "Studies"              # workbook sheet: name or 0-based number
            na_values = ["NA", "NR", "."] # replaces the default list

            [columns]                     # the sheet's header -> schema column
            "x.nrt" = "events_int"
            author = "study_id"

            [defaults]                    # a value for a column the sheet does not have
            stream = "human"
            data_type = "counts"

    Returns
    -------
    dict
        Some of ``columns``, ``na_values``, ``sheet``, ``defaults`` (only those the file
        sets), checked: ``read_studies(path, **sheet_options(config))``.

    Raises
    ------
    ValidationError
        An unreadable or malformed file, or an unknown key in ``[sheet]``.
    InvalidParameterError
        A value of the wrong kind (the message names the table and the key).
    """
    func = "sheet_options"
    if isinstance(config, str | os.PathLike):
        path = Path(config)
        label = f"Config file '{path}'"
        try:
            with path.open("rb") as handle:
                config = tomllib.load(handle)
        except FileNotFoundError:
            raise ValidationError(f"{label} does not exist.") from None
        except PermissionError as exc:
            raise unreadable(label, exc) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValidationError(f"{label} is not valid TOML ({exc}).") from None
    if not isinstance(config, Mapping):
        raise InvalidParameterError(
            f"The 'config' argument of {func}() must be a TOML file path or a mapping. "
            f"Got {type(config).__name__}."
        )
    out: dict = {}
    table = config.get("sheet", {})
    if not isinstance(table, Mapping):
        raise ValidationError("Config: [sheet] must be a table (name = ..., na_values = [...]).")
    extra = sorted(set(table) - {"name", "na_values"})
    if extra:
        raise ValidationError(
            f"Config: unknown key(s) {extra} in [sheet]; expected 'name' and 'na_values'."
        )
    if "name" in table:
        if not isinstance(table["name"], str | int) or isinstance(table["name"], bool):
            raise InvalidParameterError(
                f"Config: [sheet] name must be a sheet name or a 0-based number. "
                f"Got {table['name']!r}."
            )
        out["sheet"] = table["name"]
    if "na_values" in table:
        na_set(table["na_values"], func)
        out["na_values"] = list(table["na_values"])
    if "columns" in config:
        out["columns"] = check_column_map(config["columns"], func)
    if "defaults" in config:
        check_defaults(config["defaults"], func)
        out["defaults"] = dict(config["defaults"])
    return out


#: Cell texts read as a missing value (besides an empty cell), matched after surrounding
#: spaces are stripped, as written or in lower, upper or title case.  ``read_studies(...,
#: na_values=...)`` replaces the list.
NA_VALUES: tuple[str, ...] = ("NA", "N/A", "NaN", "NR", ".", "-", "not reported")


def na_set(na_values, func: str = "read_studies") -> frozenset[str]:
    """The cell texts that mean "missing" for ``na_values`` (None: :data:`NA_VALUES`)."""
    if na_values is None:
        na_values = NA_VALUES
    if isinstance(na_values, str) or not all(isinstance(v, str) for v in _iterable(na_values)):
        raise InvalidParameterError(
            f"The 'na_values' argument of {func}() must be a list of strings, e.g. "
            f"['NA', 'NR']. Got {na_values!r}."
        )
    out: set[str] = set()
    for v in na_values:
        v = v.strip()
        if v:
            out |= {v, v.lower(), v.upper(), v.title(), v.capitalize()}
    return frozenset(out)


def _iterable(value) -> tuple:
    try:
        return tuple(value)
    except TypeError:
        return (value,)


def text_cells(raw: pd.Series, na: frozenset[str] = frozenset()) -> pd.Series:
    """Cells as stripped ``string`` values; empty text and the texts in ``na`` become missing."""
    if isinstance(raw.dtype, pd.StringDtype) or raw.dtype == object:
        s = raw.astype(pd.StringDtype())
    else:
        s = raw.map(fmt_value, na_action="ignore").astype(pd.StringDtype())
    if getattr(s.dtype, "storage", None) == "pyarrow":
        # pyarrow is optional (the parquet extra): imported only on its fast path
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.chunked_array(s.array.__arrow_array__())
        trimmed = pc.utf8_trim_whitespace(arr)
        # trimming only removes bytes: equal totals mean nothing was trimmed, so keep the
        # original buffers instead of a copy of the column
        if pc.sum(pc.binary_length(trimmed)) != pc.sum(pc.binary_length(arr)):
            arr = trimmed
        del trimmed
        if na:
            is_na = pc.is_in(arr, value_set=pa.array(sorted(na), type=arr.type))
            if pc.any(is_na).as_py():
                arr = pc.if_else(is_na, pa.scalar(None, arr.type), arr)
        arr = pa.chunked_array([_empty_as_null(chunk) for chunk in arr.chunks], type=arr.type)
        return pd.Series(pd.arrays.ArrowStringArray(arr), index=s.index)
    s = s.str.strip()
    missing = s == ""
    if na:
        missing |= s.isin(na)
    return s.where(~missing.fillna(False))


def _empty_as_null(chunk):
    """A string chunk with empty text as missing, sharing the chunk's text buffers."""
    # pyarrow is optional (the parquet extra): imported only on its fast path
    import pyarrow as pa
    import pyarrow.compute as pc

    keep = pc.fill_null(pc.not_equal(chunk, ""), False)
    if keep.null_count == 0 and pc.all(keep).as_py():
        return chunk
    if chunk.offset or keep.offset:  # pragma: no cover - sliced input: copy instead
        return pc.if_else(keep, chunk, pa.scalar(None, chunk.type))
    # the comparison's bit-packed result is a ready-made validity bitmap
    return pa.Array.from_buffers(chunk.type, len(chunk), [keep.buffers()[1], *chunk.buffers()[1:]])


_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def _to_float(text: pd.Series, decimal_comma: bool = False) -> np.ndarray:
    """Stripped text -> float64 with NaN where missing or not a plain decimal number.

    With ``decimal_comma`` a column holding a ',' reads it as the decimal mark, and a cell of
    that column holding a '.' (a thousands separator?) is not a number."""
    if getattr(text.dtype, "storage", None) == "pyarrow":
        # pyarrow is optional (the parquet extra): imported only on its fast path
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.chunked_array(text.array.__arrow_array__())
        if decimal_comma and pc.any(pc.match_substring(arr, ",")).as_py():
            arr = pc.if_else(
                pc.match_substring(arr, "."),
                pa.scalar(None, arr.type),
                pc.replace_substring(arr, ",", "."),
            )
        is_number = pc.match_substring_regex(arr, _NUMBER)
        try:
            cast = pc.cast(pc.if_else(is_number, arr, None), pa.float64())
            return cast.to_numpy().astype(float, copy=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # pragma: no cover
            pass
    obj = text.astype(object)
    if decimal_comma and text.str.contains(",", regex=False).fillna(False).any():
        dotted = text.str.contains(".", regex=False).fillna(False).to_numpy(dtype=bool)
        obj = text.str.replace(",", ".", regex=False).astype(object).where(~dotted, None)
    num = pd.to_numeric(
        pd.Series(obj).where(
            pd.Series(obj).astype("string").str.fullmatch(_NUMBER).fillna(False), None
        ),
        errors="coerce",
    )
    return pd.Series(num).astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def parse_numeric(
    raw: pd.Series, na: frozenset[str] = frozenset(), decimal_comma: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Series | None]:
    """Parse a numeric column: (values with NaN, present, bad, text or None)."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        present = ~np.isnan(values)
        bad = np.isinf(values)
        return np.where(bad, np.nan, values), present, bad, None
    text = text_cells(raw)
    present = text.notna().to_numpy()
    values = _to_float(text, decimal_comma)
    bad = present & ~np.isfinite(values)
    if na and bad.any():  # a missing-value token is among the cells that are not numbers
        rows = np.flatnonzero(bad)
        token = rows[text.take(rows).isin(na).to_numpy(dtype=bool, na_value=False)]
        present = present.copy()  # the mask may be a read-only view of Arrow's validity
        present[token] = False
        bad[token] = False
    values = np.where(bad, np.nan, values)
    return values, present, bad, text


@contextlib.contextmanager
def returning_allocator():
    """Let Arrow allocate from jemalloc while a sheet is read and validated.

    Parsing a large sheet column by column frees about as much text as it keeps.  Arrow's
    default allocator (mimalloc) keeps the freed memory cached and the C library's keeps it
    fragmented: for a million rows the read peaks about 0.15 GB (mimalloc) or 0.4 GB (C
    library) higher than with jemalloc, whose background threads return freed pages (see
    benchmarks/README.md).  jemalloc is the default pool only for the duration of the call:
    the previous default is restored when the read ends, also on error, and no jemalloc
    setting is changed (its page decay is process-wide and cannot be read back, so it could
    not be restored).  Buffers remember their allocator, so restoring the default is safe.
    Without a jemalloc build of pyarrow the default allocator is kept.
    """
    try:
        # pyarrow is optional (the parquet extra): imported only on its fast path
        import pyarrow as pa

        pool = pa.jemalloc_memory_pool()
    except (ImportError, NotImplementedError):  # no pyarrow, or built without jemalloc
        yield
        return
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def release_arrow_memory() -> None:
    """Give the memory freed while parsing back to the system: what Arrow's allocator keeps
    cached and, through the C library's pool (``malloc_trim``), the free pages between
    NumPy's arrays (for a large sheet each can reach a quarter of the table itself)."""
    try:
        # pyarrow is optional (the parquet extra): imported only on its fast path
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pandas without pyarrow
        return
    pa.default_memory_pool().release_unused()
    pa.system_memory_pool().release_unused()
