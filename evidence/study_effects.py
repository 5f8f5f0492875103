"""Per-row effect sizes for the accepted study sheet (one call, every data type)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from evidence._codes import distinct, group_positions
from evidence._validate import check_frame
from evidence.effects import (
    _check_values,
    _complete_table,
    _mean_core,
    _proportion_core,
    _rows_text,
    _table_core,
    effects_from_ci,
)
from evidence.errors import StatisticalWarning, ValidationError
from evidence.schema import DATA_TYPES, MEASURES

__all__ = ["study_effects", "NOTE_NO_RESULT"]

NOTE_NO_RESULT = "no numeric result reported"
_ADD = 0.5  # metafor's defaults: add=1/2, to="only0", drop00=FALSE

#: data_type -> measures that can be computed from it (first = default when measure is empty).
_ALLOWED: dict[str, tuple[str, ...]] = {
    "counts": ("RR", "OR", "RD"),
    "continuous": ("MD", "SMD", "ROM"),
    "single_arm": ("PLO", "PR"),
    "estimate": MEASURES,
}
#: data_type -> (argument, sheet column) pairs it needs.
_INPUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "counts": (("ai", "events_int"), ("n1i", "n_int"), ("ci", "events_ctrl"), ("n2i", "n_ctrl")),
    "continuous": (
        ("m1i", "mean_int"),
        ("sd1i", "sd_int"),
        ("n1i", "n_int"),
        ("m2i", "mean_ctrl"),
        ("sd2i", "sd_ctrl"),
        ("n2i", "n_ctrl"),
    ),
    "single_arm": (("xi", "events_int"), ("ni", "n_int")),
}
_UNDEFINED: dict[str, str] = {
    "ROM": "log ratio of means undefined (a mean <= 0)",
    "SMD": "Hedges' g undefined (n_int + n_ctrl <= 3)",
}


class _NoteCodes:
    """Per-row effect notes kept as codes into a table of distinct texts (code 0 = "")."""

    def __init__(self, k: int) -> None:
        self.texts: list[str] = [""]
        self._code: dict[str, int] = {"": 0}
        self.codes = np.zeros(k, dtype=np.int32)

    def code(self, text: str) -> int:
        if text not in self._code:
            self._code[text] = len(self.texts)
            self.texts.append(text)
        return self._code[text]

    def set(self, pos: np.ndarray, text: str) -> None:
        self.codes[pos] = self.code(text)

    def column(self) -> pd.api.extensions.ExtensionArray:
        return pd.array(self.texts, dtype="string").take(self.codes)


def _column(frame: pd.DataFrame, name: str, pos: np.ndarray) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(pos), np.nan)
    raw = frame[name].iloc[pos]
    if is_numeric_dtype(raw.dtype):  # nothing to parse, nothing non-numeric to report
        return raw.to_numpy(dtype=float, na_value=np.nan)
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna().to_numpy() & raw.notna().to_numpy()
    if bad.any():
        raise ValidationError(
            f"study_effects(): column {name!r} must be numeric; non-numeric values in "
            f"row(s) {_rows_text(_labels(frame, pos), bad)}."
        )
    return num.to_numpy(dtype=float, na_value=np.nan)


def _labels(frame: pd.DataFrame, pos: np.ndarray) -> np.ndarray:
    """Row labels for messages: "<index> (study_id)" where study_id exists."""
    idx = np.asarray(frame.index[pos], dtype=object).astype(str)
    if "study_id" not in frame.columns:
        return idx
    sid = frame["study_id"].iloc[pos].astype("string").fillna("?").to_numpy(dtype=str)
    return np.char.add(np.char.add(idx, " ("), np.char.add(sid, ")")).astype(object)


def _row_labels(frame: pd.DataFrame, pos: np.ndarray) -> Callable[[], np.ndarray]:
    """:func:`_labels`, deferred until an error message needs them."""
    return lambda: _labels(frame, pos)


def _missing_codes(values: dict[str, np.ndarray], cols: dict[str, str],
                   notes: _NoteCodes) -> np.ndarray:
    """Note code per row for 'missing input: a, b' (one text per pattern of missing inputs)."""
    k = len(next(iter(values.values())))
    pattern = np.zeros(k, dtype=np.int64)
    for bit, arr in enumerate(values.values()):
        pattern |= np.isnan(arr).astype(np.int64) << bit
    table = np.zeros(1 << len(values), dtype=np.int32)
    for p in np.flatnonzero(np.bincount(pattern)):
        missing = [cols[arg] for bit, arg in enumerate(values) if p >> bit & 1]
        table[p] = notes.code("missing input: " + ", ".join(missing) if missing else "")
    return table[pattern]


def _normalised(studies: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Group per row and the groups' (data_type, measure) in order of first appearance.

    data_type is stripped and lower-cased, measure stripped and upper-cased, missing values
    are ""; single_arm rows without a measure get PLO.  The strings are normalised once per
    distinct value, not per row.
    """
    d_codes, d_reps = distinct(studies["data_type"])
    dtype = d_reps.astype("string").str.strip().str.lower()
    present = np.bincount(d_codes, minlength=len(dtype)) > 0
    unknown = (dtype.notna() & ~dtype.isin(DATA_TYPES)).to_numpy(dtype=bool) & present
    if unknown.any():
        rows = np.flatnonzero(unknown[d_codes])
        raise ValidationError(
            f"study_effects(): column 'data_type' must be one of {list(DATA_TYPES)}; got "
            f"{sorted(set(dtype[unknown]))} in row(s) "
            f"{_rows_text(_labels(studies, rows), np.ones(len(rows)))}."
        )
    if "measure" in studies.columns:
        m_codes, m_reps = distinct(studies["measure"])
        measure = m_reps.astype("string").str.strip().str.upper()
    else:
        m_codes = np.zeros(len(studies), dtype=np.int64)
        measure = pd.Series([pd.NA], dtype="string")
    pair_codes, pairs = pd.factorize(d_codes.astype(np.int64) * len(measure) + m_codes)
    d_text, m_text = dtype.fillna("").tolist(), measure.fillna("").tolist()
    m_missing = measure.isna().tolist()
    keys: dict[tuple[str, str], int] = {}
    group_of_pair = np.empty(len(pairs), dtype=np.int64)
    for i, pair in enumerate(pairs.tolist()):
        d, m = divmod(pair, len(measure))
        ms = "PLO" if d_text[d] == "single_arm" and m_missing[m] else m_text[m]
        group_of_pair[i] = keys.setdefault((d_text[d], ms), len(keys))
    return group_of_pair[pair_codes], list(keys)


def study_effects(studies: pd.DataFrame) -> pd.DataFrame:
    """Effect size ``yi`` and sampling variance ``vi`` for every row of the study sheet.

    Each row is computed from its ``data_type`` and ``measure`` (columns of
    :mod:`evidence.schema`), intervention versus control:

    * ``counts``: RR, OR or RD from ``events_int``, ``n_int``, ``events_ctrl``, ``n_ctrl``
      (metafor's defaults: 0.5 added to all four cells of tables with a zero cell,
      double-zero tables kept).
    * ``continuous``: MD, SMD (Hedges' g) or ROM from ``mean_*``, ``sd_*``, ``n_*``.
    * ``estimate``: from ``estimate`` with ``ci_low``/``ci_high`` (at ``ci_level``, default
      0.95) or ``se`` (preferred when given; on the log scale for ratio measures); see
      :func:`evidence.effects_from_ci`.
    * ``single_arm``: PLO (log odds; the default when ``measure`` is empty) or PR from
      ``events_int`` and ``n_int``.
    * ``none``: no numbers; ``yi``/``vi`` NaN.

    Parameters
    ----------
    studies : DataFrame
        The accepted study sheet (at least ``data_type``; the data columns a row's
        data type needs).

    Returns
    -------
    DataFrame
        A copy of ``studies`` (same index and row order) with these columns added:

        ``yi``
            Effect size. **Log scale for RR, OR, HR and ROM** (exponentiate to report),
            log odds for PLO, natural scale otherwise.
        ``vi``
            Sampling variance of ``yi``.
        ``effect_note``
            Empty string, or why ``yi`` is NaN ("no numeric result reported",
            "missing input: events_ctrl", "measure 'SMD' does not apply to data_type
            'counts'", ...) and any correction applied ("0.5 added to all cells (zero cell)").
        ``proportion``, ``proportion_ci_low``, ``proportion_ci_high``, ``proportion_ci_method``
            single_arm rows only: ``events_int / n_int`` with its Wilson score 95% CI and the
            method's name (no continuity correction; see :func:`evidence.proportion_ci`);
            NaN / "" for other rows.

    Raises
    ------
    ValidationError
        Missing ``data_type`` column, unknown data types, non-numeric data, or impossible
        values (negative counts, events > n, SD <= 0, ratio estimates <= 0); the message names
        the column and the rows (index and study_id).

    Warns
    -----
    StatisticalWarning
        When zero-cell corrections were applied (how many rows).
    """
    if not isinstance(studies, pd.DataFrame):
        raise ValidationError(
            f"study_effects() needs the study sheet as a pandas DataFrame. "
            f"Got {type(studies).__name__}."
        )
    check_frame(studies, "studies", "study_effects", error=ValidationError)
    if "data_type" not in studies.columns:
        raise ValidationError("study_effects(): the study sheet has no 'data_type' column.")
    k = len(studies)
    yi = np.full(k, np.nan)
    vi = np.full(k, np.nan)
    notes = _NoteCodes(k)
    group, keys = _normalised(studies)
    n_corrected = 0
    for (dt, ms), pos in zip(keys, group_positions(group, len(keys)), strict=True):
        n_corrected += _group_effects(studies, dt, ms, pos, yi, vi, notes)

    if n_corrected:
        warnings.warn(
            f"study_effects(): 0.5 added to the cells of {n_corrected} row(s) with a zero cell "
            f"({k} rows in all; see 'effect_note').",
            StatisticalWarning,
            stacklevel=2,
        )
    # a shallow copy: the sheet's columns are shared, not copied (pandas copy-on-write)
    out = studies.copy(deep=False)
    out["yi"] = yi
    out["vi"] = vi
    out["effect_note"] = notes.column()
    # single_arm rows: observed proportion with a Wilson 95% CI, for display (issue 18)
    from evidence.proportions import single_arm_columns

    for name, col in single_arm_columns(studies).items():
        out[name] = col.to_numpy()
    return out


def _group_effects(studies: pd.DataFrame, dt: str, ms: str, pos: np.ndarray, yi: np.ndarray,
                   vi: np.ndarray, notes: _NoteCodes) -> int:
    """Fill ``yi``, ``vi`` and the notes of the rows ``pos`` (one data_type x measure).

    Returns the number of rows that got a zero-cell correction.
    """
    if dt in ("", "none"):
        notes.set(pos, NOTE_NO_RESULT if dt == "none" else "data_type missing")
        return 0
    if ms == "":
        notes.set(pos, f"measure missing (one of {', '.join(_ALLOWED[dt])} for data_type {dt!r})")
        return 0
    if ms not in _ALLOWED[dt]:
        notes.set(pos, f"measure {ms!r} does not apply to data_type {dt!r}")
        return 0
    labels = _row_labels(studies, pos)
    if dt == "estimate":
        _estimate_effects(studies, ms, pos, labels, yi, vi, notes)
        return 0

    cols = dict(_INPUTS[dt])
    values = {arg: _column(studies, col, pos) for arg, col in cols.items()}
    names = {arg: f"column {col!r}" for arg, col in cols.items()}
    fam = {"counts": "table", "continuous": "mean"}.get(dt, "proportion")
    _check_values(values, names, labels, fam, "study_effects()")
    if dt == "counts":
        a, b, c, d = _complete_table(values, names, labels, "study_effects()")
        comp = _table_core(ms, a, b, c, d, add=_ADD, to="only0", drop00=False, vtype="LS")
        fix = "0.5 added to all cells (zero cell)"
        double0 = comp.corrected & (((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
    elif dt == "continuous":
        comp = _mean_core(
            ms, values["m1i"], values["sd1i"], values["n1i"],
            values["m2i"], values["sd2i"], values["n2i"], vtype="LS", correct=False,
        )  # fmt: skip
        fix, double0 = "", np.zeros(len(pos), dtype=bool)
    else:
        comp = _proportion_core(ms, values["xi"], values["ni"], add=_ADD, to="only0", vtype="LS")
        fix = "0.5 added to events and non-events (zero cell)"
        double0 = np.zeros(len(pos), dtype=bool)
    yi[pos], vi[pos] = comp.yi, comp.vi
    code = _missing_codes(values, cols, notes)
    # precedence: no events in either arm > zero-cell correction > undefined > missing input
    code[comp.undefined] = notes.code(_UNDEFINED.get(ms, f"{ms} undefined for these inputs"))
    code[comp.corrected] = notes.code(fix)
    code[double0] = notes.code(fix + "; no events in either arm")
    notes.codes[pos] = code
    return int(comp.corrected.sum())


def _estimate_effects(studies: pd.DataFrame, ms: str, pos: np.ndarray,
                      labels: Callable[[], np.ndarray], yi: np.ndarray, vi: np.ndarray,
                      notes: _NoteCodes) -> None:
    """'estimate' rows: effect and variance from the estimate with its CI or SE."""
    est, lo, hi, lev, se = (
        _column(studies, c, pos) for c in ("estimate", "ci_low", "ci_high", "ci_level", "se")
    )
    lev = np.where(np.isnan(lev), 0.95, lev)
    _check_estimate_rows(ms, est, lo, hi, lev, se, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        y, v = effects_from_ci(est, lo, hi, measure=ms, level=lev, se=se)
    yi[pos], vi[pos] = y, v
    no_est = np.isnan(est)
    no_var = np.isnan(se) & (np.isnan(lo) | np.isnan(hi))
    table = np.array([
        notes.code(""),
        notes.code("missing input: estimate"),
        notes.code("missing input: se or ci_low/ci_high"),
        notes.code("missing input: estimate; missing input: se or ci_low/ci_high"),
    ], dtype=np.int32)
    notes.codes[pos] = table[no_est.astype(np.intp) + 2 * no_var.astype(np.intp)]


def _check_estimate_rows(measure, est, lo, hi, lev, se, labels) -> None:
    """Row-named checks for 'estimate' rows (effects_from_ci only knows positions)."""
    where = "study_effects()"
    if measure in ("RR", "OR", "HR", "ROM"):
        for name, arr in (("estimate", est), ("ci_low", lo), ("ci_high", hi)):
            if (arr <= 0).any():
                raise ValidationError(
                    f"{where}: column {name!r} must be > 0 for ratio measure {measure!r} (given "
                    f"on the natural scale) in row(s) {_rows_text(labels, arr <= 0)}."
                )
    if measure == "PLO":
        for name, arr in (("estimate", est), ("ci_low", lo), ("ci_high", hi)):
            bad = (arr <= 0) | (arr >= 1)
            if bad.any():
                raise ValidationError(
                    f"{where}: column {name!r} must be a proportion in (0, 1) for measure 'PLO' "
                    f"in row(s) {_rows_text(labels, bad)}."
                )
    if (lo > hi).any():
        raise ValidationError(
            f"{where}: column 'ci_low' is above 'ci_high' in row(s) {_rows_text(labels, lo > hi)}."
        )
    if ((lev <= 0) | (lev >= 1)).any():
        raise ValidationError(
            f"{where}: column 'ci_level' must be a fraction in (0, 1), e.g. 0.95, in row(s) "
            f"{_rows_text(labels, (lev <= 0) | (lev >= 1))}."
        )
    if (se <= 0).any():
        raise ValidationError(
            f"{where}: column 'se' must be > 0 in row(s) {_rows_text(labels, se <= 0)}."
        )
