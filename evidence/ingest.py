"""Read and validate a study sheet (CSV, Excel, OpenDocument, Parquet or a DataFrame).

Validation is lazy: every problem of every row is collected in one pass and
reported in :attr:`IngestResult.rejected`; a row with at least one problem is
not accepted.  Only a table that cannot be used at all (a missing or
unreadable file, a missing required column, an empty header) raises
:class:`~evidence.errors.ValidationError`.  Rows in always equal rows accepted
plus rows rejected.

All checks are pandas/numpy column operations, so large sheets validate fast.  Reading
lives in :mod:`evidence.readers`, the row rules in :mod:`evidence.rules` (declared once in
``RULES``) and the problems ledger in :mod:`evidence.problems`; this module parses each
column by its schema type and puts them together.
"""

from __future__ import annotations

import html
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evidence.dictionary import schema_dtypes
from evidence.errors import EvigapWarning, InvalidParameterError
from evidence.problems import Problems, compact
from evidence.readers import (
    add_defaults,
    check_column_map,
    check_defaults,
    check_required_columns,
    load,
    na_set,
    parse_numeric,
    release_arrow_memory,
    rename_columns,
    returning_allocator,
    text_cells,
)
from evidence.references import Bibliography, read_bib, read_ris
from evidence.rules import (
    FALSE_TEXT,
    RULE_TEXT,
    TRUE_TEXT,
    drop_unshown,
    row_rules,
    vocabulary_reason,
)
from evidence.schema import COLUMNS

__all__ = ["IngestResult", "read_studies"]

#: Magnitudes whose square leaves double precision's normal range (about 1.34e154 and
#: 1.49e-154): such a value's variance or weight would be infinite, zero or imprecise.
_SQUARE_MAX = 1e154
_SQUARE_MIN = 1e-154


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
    notes : tuple of str
        Remarks on how the sheet was read that are not problems of a row: a ';'-separated file
        read with decimal commas, records without a ``citation_key`` when no bibliography was
        given, arms given as a median and quartiles (no effect size unless converted).
    """

    studies: pd.DataFrame
    rejected: pd.DataFrame
    n_in: int
    source: str
    notes: tuple[str, ...] = ()

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
            .groupby("row", sort=True)["_text"]
            .agg("; ".join)
        )
        rej_ids = rej.groupby("row", sort=True)["study_id"].first()
        accepted = pd.DataFrame(
            {
                "row": good_rows,
                "study_id": self.studies["study_id"].astype("string").to_numpy()
                if "study_id" in self.studies.columns
                else pd.NA,
                "status": "accepted",
                "studies_index": pd.array(range(len(good_rows)), dtype="Int64"),
                "reasons": "",
            }
        )
        rejected = pd.DataFrame(
            {
                "row": bad_rows,
                "study_id": pd.array([rej_ids.get(r) for r in bad_rows], dtype="string"),
                "status": "rejected",
                "studies_index": pd.array([pd.NA] * len(bad_rows), dtype="Int64"),
                "reasons": [reasons.get(r, "") for r in bad_rows],
            }
        )
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
        lines += [f"Note: {note}." for note in self.notes]
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


def _tokens(text: pd.Series, candidates: np.ndarray, na: frozenset[str]) -> np.ndarray:
    """Which of the ``candidates`` cells (a mask) are missing-value tokens."""
    out = np.zeros(len(candidates), dtype=bool)
    if na and candidates.any():
        rows = np.flatnonzero(candidates)
        out[rows] = text.take(rows).isin(na).to_numpy(dtype=bool, na_value=False)
    return out


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


def _resolve_bib(bib):
    if bib is None:
        return None, None

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


def read_studies(
    source, *, bib=None, checks=(), columns=None, na_values=None, sheet=None, defaults=None
) -> IngestResult:
    """Read a study sheet and validate every row against :mod:`evidence.schema`.

    Parameters
    ----------
    source : str, os.PathLike or pandas.DataFrame
        A ``.csv`` (comma-separated, UTF-8; a file whose header is ';'-separated is read as
        ';'-separated with decimal commas, and :attr:`IngestResult.notes` says so), ``.tsv``,
        ``.xlsx`` (needs openpyxl), ``.ods`` (needs odfpy) or ``.parquet`` file, or a
        DataFrame.  The first row of a file is the header.  CSV quoting is read strictly
        (RFC 4180): a quote that is never closed is a :class:`ValidationError` naming its
        line, and a record with more or fewer cells than the header is a rejected row.
    bib : None, str, os.PathLike or Bibliography, optional
        The reference list.  When given, every row needs a ``citation_key`` that is one of
        its keys.  Without it ``citation_key`` is optional, and rows lacking one are counted
        in a warning (and in :attr:`IngestResult.notes`): they cannot be traced to a
        source.  A path ending in ``.ris`` is read with
        :func:`~evidence.references.read_ris`, any other with
        :func:`~evidence.references.read_bib`.
    checks : sequence of callables, optional
        Further row checks, each called with the typed table of every input row (before
        any is rejected, fresh 0..n-1 index) and returning a DataFrame with columns
        ``row`` (0-based position), ``column``, ``value`` and ``reason``: those rows are
        rejected with those reasons too.  ``evigap run`` and ``evigap validate`` pass
        :func:`grading.rob.rob_problems` (an unknown ``rob_tool``, ``rob_domains`` that do
        not parse for the row's tool).
    columns : mapping of str to str, optional
        The sheet's own header names mapped to schema column names, e.g.
        ``{"x.nrt": "events_int", "author": "study_id"}``: the sheet is read as if its
        header said so, without editing the file.  A name not in the sheet, a target not
        in the schema or two names mapped to one column is a ValidationError.
    na_values : sequence of str, optional
        Cell texts read as a missing value, besides an empty cell (matched after stripping
        surrounding spaces, as written or in lower, upper or title case).  Default
        :data:`evidence.readers.NA_VALUES`: ``NA``, ``N/A``, ``NaN``, ``NR``, ``.``, ``-``,
        ``not reported``.  Pass ``[]`` to read only empty cells as missing.  Applies to the
        schema columns; extra columns are kept as read.
    sheet : str or int, optional
        The sheet of an ``.xlsx`` / ``.ods`` workbook, by name or 0-based position (default:
        the first).
    defaults : mapping of str to scalar, optional
        Values for schema columns the sheet does not have, the same for every row (e.g.
        ``{"stream": "human", "data_type": "counts", "measure": "RR"}``).  A column the
        sheet has is a ValidationError: map it with ``columns`` or fill it in the sheet.

    :func:`evidence.readers.sheet_options` reads ``columns``, ``na_values``, ``sheet`` and
    ``defaults`` from a TOML config file.

    Returns
    -------
    IngestResult
        ``studies`` (accepted rows, typed, every schema column in schema order
        then any extra columns), ``rejected`` (columns ``row``, ``study_id``,
        ``column``, ``value``, ``reason``), ``n_in``, ``source`` and ``notes``.
        ``n_in == n_accepted + n_rejected`` always holds.

    Raises
    ------
    ValidationError
        When the table cannot be used at all: a missing, unreadable (permissions), empty,
        undecodable or non-tabular file, a quote never closed, an empty header, duplicate
        or unnamed non-empty columns, missing required columns, a bad ``columns`` mapping
        or ``sheet``.  The message names the file, the line or the columns.
    InvalidParameterError
        When ``source``, ``bib``, ``checks``, ``columns``, ``na_values``, ``sheet`` or
        ``defaults`` has an unsupported type, or a check returns something other than the
        frame described above.

    Warns
    -----
    EvigapWarning
        Once, when no bibliography is given and rows have no ``citation_key``.

    Notes
    -----
    Cells are stripped of surrounding spaces; an empty cell or one of ``na_values`` is a
    missing value.  No bad value is coerced: it is rejected with a reason naming the column
    and the value.  A number whose square over- or underflows double precision (magnitude
    at least 1e154, or non-zero below 1e-154) is rejected, not computed with.  An Excel
    formula cell without a calculated (cached) value rejects its row.  The row rules are
    listed in ``data/SCHEMA.md``.
    """
    checks = _check_checks(checks)
    with returning_allocator():
        result = _read_and_validate(
            source,
            bib,
            checks,
            columns=columns,
            na_values=na_values,
            sheet=sheet,
            defaults=defaults,
        )
        release_arrow_memory()
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


def _add_check_problems(problems: Problems, check, studies: pd.DataFrame) -> None:
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
    if not (
        np.isfinite(rows).all()
        and (rows == np.floor(rows)).all()
        and (rows >= 0).all()
        and (rows < n).all()
    ):
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
                f"read_studies(): the check {name}() reported a row twice for column {column!r}."
            )
        values = np.full(n, None, dtype=object)
        values[at] = part["value"].astype(object).where(part["value"].notna(), None).to_numpy()
        problems.add(mask, str(column), values, [str(r) for r in part["reason"]])


def _read_and_validate(
    source, bib, checks: tuple = (), *, columns=None, na_values=None, sheet=None, defaults=None
) -> IngestResult:
    na = na_set(na_values)
    columns = check_column_map(columns)
    defaults = check_defaults(defaults)
    loaded = load(source, sheet=sheet)
    frame, label_path = loaded.frame, loaded.source
    label = label_path if label_path == "<DataFrame>" else f"File '{label_path}'"
    frame = rename_columns(frame, columns, label)
    frame = add_defaults(frame, defaults, label)
    bib_keys, bib_name = _resolve_bib(bib)
    check_required_columns(frame, label, citation_key=bib_keys is not None)
    n = len(frame)
    notes = list(loaded.notes)

    study_text = text_cells(frame["study_id"], na)
    problems = Problems(study_text)
    for row, column, value, reason in loaded.flagged:
        mask = np.zeros(n, dtype=bool)
        mask[row] = True
        problems.add(mask, column, np.array([value] * n, dtype=object), reason)
    dtypes = schema_dtypes()
    typed: dict[str, object] = {}
    present = _Masks(n)
    num: dict[str, np.ndarray] = {}
    text: dict[str, pd.Series] = {}
    shown: dict[str, pd.Series] = {}
    no_text = _empty(n, pd.StringDtype())
    # one read-only all-NaN array for every absent numeric column (not 8 MB per column and
    # million rows: the rules only read these arrays)
    no_number = np.full(n, np.nan)
    no_number.flags.writeable = False

    for col in COLUMNS:
        name = col.name
        if name not in frame:
            present[name] = np.zeros(n, dtype=bool)
            typed[name] = (
                _no_text_like(no_text) if col.dtype == "string" else _empty(n, dtypes[name])
            )
            text[name] = shown[name] = no_text
            if col.dtype in ("int", "float"):
                num[name] = no_number
            continue
        raw = frame.pop(name)  # the frame is ours (see load): release each column once parsed
        if col.dtype in ("int", "float"):
            values, here, bad, t = parse_numeric(raw, na, loaded.decimal_comma)
            shown[name] = compact(t, raw)
            del raw
            problems.add(
                bad,
                name,
                shown[name],
                lambda v, c=name: f"non-numeric value '{v}' in numeric column '{c}'",
            )
            if col.dtype == "int":
                filled = np.nan_to_num(values)
                frac = ~bad & here & (np.floor(filled) != filled)
                problems.add(
                    frac,
                    name,
                    shown[name],
                    lambda v, c=name: f"non-integer value '{v}' in integer column '{c}'",
                )
                huge = ~bad & ~frac & (np.abs(filled) >= 2.0**53)
                problems.add(
                    huge,
                    name,
                    shown[name],
                    lambda v, c=name: f"value '{v}' in integer column '{c}' is too large",
                )
                values = np.where(frac | huge, np.nan, values)
                missing = np.isnan(values)
                ints = np.where(missing, 0, values).astype(np.int64)
                typed[name] = pd.arrays.IntegerArray(ints, missing)
            else:
                extreme = ~bad & here & (np.abs(np.nan_to_num(values)) >= _SQUARE_MAX)
                tiny = (
                    ~bad
                    & here
                    & (values != 0)
                    & (np.abs(np.nan_to_num(values, nan=1.0)) < _SQUARE_MIN)
                )
                problems.add(
                    extreme,
                    name,
                    shown[name],
                    lambda v, c=name: (
                        f"value {v} in column '{c}' is too large to compute with "
                        "(its square overflows double precision)"
                    ),
                )
                problems.add(
                    tiny,
                    name,
                    shown[name],
                    lambda v, c=name: (
                        f"value {v} in column '{c}' is too small to compute with "
                        "(its square underflows double precision to 0 or a subnormal number)"
                    ),
                )
                values = np.where(extreme | tiny, np.nan, values)
                typed[name] = pd.arrays.FloatingArray(values, np.isnan(values))
            num[name] = values
            present[name] = here
            text[name] = no_text  # the row rules read these columns as numbers only
            drop_unshown(shown, num)
            continue
        if col.dtype == "bool" and pd.api.types.is_bool_dtype(raw):
            typed[name] = raw.astype("boolean").array
            present[name] = raw.notna().to_numpy()
            text[name] = shown[name] = no_text
            continue
        # a missing-value token can only hide among the cells of a bool or category column
        # that are not valid values: only those are looked up (see _tokens)
        t = text_cells(raw, na if col.dtype == "string" else frozenset())
        here = t.notna().to_numpy()
        text[name], shown[name], present[name] = t, t, here
        if col.dtype == "string":
            typed[name] = t.array if here.any() else _no_text_like(no_text)
        elif col.dtype == "bool":
            low = t.str.lower()
            if pd.api.types.is_numeric_dtype(raw):
                low = low.replace({"1.0": "1", "0.0": "0"})
            is_true = low.isin(TRUE_TEXT).to_numpy(dtype=bool, na_value=False)
            is_false = low.isin(FALSE_TEXT).to_numpy(dtype=bool, na_value=False)
            bad = here & ~is_true & ~is_false
            token = _tokens(t, bad, na)
            bad &= ~token
            present[name] = here & ~token
            problems.add(
                bad,
                name,
                t,
                lambda v, c=name: (
                    f"value '{v}' in true/false column '{c}'; expected true/false, yes/no or 1/0"
                ),
            )
            typed[name] = pd.arrays.BooleanArray(is_true, ~(is_true | is_false))
        else:  # category
            codes, uniques = pd.factorize(t)
            lut = pd.Index(list(col.vocabulary or ()), dtype=object).get_indexer(
                pd.Index(uniques, dtype=object)
            )
            cat_codes = np.where(codes >= 0, lut[codes] if len(lut) else -1, -1)
            ok = cat_codes >= 0
            token = _tokens(t, here & ~ok, na)
            present[name] = here & ~token
            problems.add(
                here & ~ok & ~token, name, t, vocabulary_reason(name, col.vocabulary or ())
            )
            typed[name] = pd.Categorical.from_codes(cat_codes, dtype=dtypes[name])
            # the rules read the valid values only: the categorical holds exactly those
            text[name] = pd.Series(typed[name], index=t.index)
        shown[name] = no_text  # the row rules show numeric cells only
        if name not in RULE_TEXT:  # only the row rules below read text of these columns
            text[name] = no_text

    row_rules(problems, text, num, present, shown, n)
    medians = sum(
        int((present[f"median_{a}"] & ~present[f"mean_{a}"]).sum()) for a in ("int", "ctrl")
    )
    if medians:
        notes.append(
            f"{medians} arm(s) give a median and quartiles instead of a mean: they get no effect "
            "size unless study_effects(convert_medians=True) estimates mean and SD (Wan 2014)"
        )

    if bib_keys is None:
        untraceable = int((~present["citation_key"]).sum())
        if untraceable:
            msg = (
                f"{untraceable} of {n} records have no citation_key and no bibliography was "
                "given: they cannot be traced to a source (give each row a citation_key and "
                "pass bib= to check the keys)"
            )
            notes.append(msg)
            warnings.warn(f"read_studies(): {msg}.", EvigapWarning, stacklevel=3)
    else:
        problems.add(
            ~present["citation_key"],
            "citation_key",
            None,
            "citation_key missing; with a bibliography every row must cite one of its keys",
        )
        cited = text["citation_key"]
        missing_key = present["citation_key"] & ~cited.isin(bib_keys).to_numpy(
            dtype=bool, na_value=False
        )
        problems.add(
            missing_key,
            "citation_key",
            cited,
            lambda v: f"citation key '{v}' not found in {bib_name}",
        )

    data = {name: typed[name] for name in dtypes}
    for c in frame.columns:
        if c not in dtypes:
            col = frame[c]
            if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
                col = text_cells(col)
            data[c] = col.array
    del text, shown, num, typed
    studies = pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)
    for check in checks:
        _add_check_problems(problems, check, studies)
    rejected = problems.frame()
    unread = [row for row, column, _, _ in loaded.flagged if column == "<row>"]
    if unread:  # a row that could not be read has no cells to find other problems in
        drop = rejected["row"].isin(unread).to_numpy() & (rejected["column"] != "<row>").to_numpy()
        rejected = rejected[~drop].reset_index(drop=True)
    if len(rejected):
        keep = np.ones(n, dtype=bool)
        keep[rejected["row"].to_numpy()] = False
        studies = studies.iloc[np.flatnonzero(keep)].reset_index(drop=True)

    return IngestResult(
        studies=studies, rejected=rejected, n_in=n, source=label_path, notes=tuple(notes)
    )
