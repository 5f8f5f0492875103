"""Per-row effect sizes for the accepted study sheet (one call, every data type)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from evidence._codes import combine, distinct, group_positions
from evidence._distributions import norm_ppf, t_isf
from evidence._validate import check_bool, check_frame
from evidence.effects import (
    TO_OPTIONS,
    check_cell_values,
    complete_table,
    effects_from_ci,
    mean_core,
    proportion_core,
    rows_text,
    table_core,
)
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError
from evidence.measures import DATA_TYPE_MEASURES, RATIO_MEASURES
from evidence.proportions import single_arm_columns
from evidence.schema import DATA_TYPES, indication_key

__all__ = ["study_effects", "NOTE_NO_RESULT"]

NOTE_NO_RESULT = "no numeric result reported"
_ADD = 0.5  # metafor's defaults: add=1/2, to="only0", drop00=FALSE

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
            f"row(s) {rows_text(_labels(frame, pos), bad)}."
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


def _missing_codes(
    values: dict[str, np.ndarray], cols: dict[str, str], notes: _NoteCodes
) -> np.ndarray:
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
            f"{rows_text(_labels(studies, rows), np.ones(len(rows)))}."
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


def study_effects(
    studies: pd.DataFrame,
    *,
    convert_medians: bool = False,
    orient: bool = True,
    add: float = _ADD,
    to: str = "only0",
    drop00: bool = False,
) -> pd.DataFrame:
    """Effect size ``yi`` and sampling variance ``vi`` for every row of the study sheet.

    Each row is computed from its ``data_type`` and ``measure`` (columns of
    :mod:`evidence.schema`), intervention versus control:

    * ``counts``: RR, OR or RD from ``events_int``, ``n_int``, ``events_ctrl``, ``n_ctrl``
      (by default metafor's ``escalc`` defaults: 0.5 added to all four cells of tables with a
      zero cell, double-zero tables kept; see ``add``, ``to``, ``drop00``).
    * ``continuous``: MD, SMD (Hedges' g) or ROM from ``mean_*``, ``sd_*``, ``n_*``.  An arm
      without an SD uses its standard error (``se_*``: SD = SE * sqrt(n)) or else the CI of its
      mean (``ci_low_*``/``ci_high_*`` at ``ci_level``, default 0.95: SD = sqrt(n) * (upper -
      lower) / (2 t), t the (1 + level)/2 quantile of Student's t with n - 1 df; Cochrane
      Handbook section 6.5.2.2).  An arm reported as a median with quartiles (``median_*``,
      ``q1_*``, ``q3_*``) gets no effect size unless ``convert_medians=True``, which estimates
      mean = (q1 + median + q3) / 3 and SD = (q3 - q1) / (2 Phi^-1((0.75 n - 0.125) / (n +
      0.25))) (Wan et al. 2014, BMC Med Res Methodol 14:135, scenario C3).  Every converted
      value is named in ``effect_note``.
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
    convert_medians : bool, default False
        Estimate mean and SD of arms given as median and quartiles (Wan 2014); off by default
        because the estimate assumes a roughly normal outcome.
    add : float, default 0.5
        Zero-cell correction for ``counts`` rows: the amount added to the cells (metafor
        ``escalc(add=)``).
    to : {"only0", "all", "if0all", "none"}, default "only0"
        Which ``counts`` rows get ``add`` (metafor ``escalc(to=)``): rows with a zero cell,
        every row, every row when some row has a zero cell, or none.  ``if0all`` looks at all
        counts rows of the same measure in ``studies``, as ``escalc`` on that table would.
    drop00 : bool, default False
        ``counts`` rows with no events (or no non-events) in both arms get no effect size
        (metafor ``escalc(drop00=TRUE)``), with a note.  ``single_arm`` rows keep metafor's
        defaults whatever these three say.
    orient : bool, default True
        Orient the rows of one outcome (same indication and outcome) to one
        ``outcome_direction`` when they disagree: the minority direction's effects change sign
        where the measure allows it (MD, SMD, OR, RD, PLO: the effect of the reversed scale or
        of the complementary event) and its ``outcome_direction`` is set to the majority's,
        with a note; rows of a measure that cannot be reversed (RR, HR, ROM, PR, GEN) get no
        effect size and a note saying why.  Ties go to the direction seen first.

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
            'counts'", ...) and any correction or conversion applied ("0.5 added to all cells
            (zero cell)", "sd_int from se_int (SD = SE x sqrt(n))", "sign reversed: ...").
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
    check_bool(convert_medians, "convert_medians", "study_effects")
    check_bool(orient, "orient", "study_effects")
    check_bool(drop00, "drop00", "study_effects")
    if to not in TO_OPTIONS:
        raise InvalidParameterError(
            f"The 'to' argument of study_effects() must be one of {list(TO_OPTIONS)}. Got {to!r}."
        )
    if (
        isinstance(add, bool)
        or not isinstance(add, int | float)
        or not (math.isfinite(add) and add >= 0)
    ):
        raise InvalidParameterError(
            f"The 'add' argument of study_effects() must be a number >= 0. Got {add!r}."
        )
    zero_cell = {"add": float(add), "to": to, "drop00": bool(drop00)}
    group, keys = _normalised(studies)
    n_corrected = 0
    for (dt, ms), pos in zip(keys, group_positions(group, len(keys)), strict=True):
        n_corrected += _group_effects(
            studies, dt, ms, pos, yi, vi, notes, convert_medians, zero_cell
        )
    direction = _orient(studies, yi, vi, notes, keys, group) if orient else None

    if n_corrected:
        warnings.warn(
            f"study_effects(): {_count_fix(zero_cell)} the cells of {n_corrected} row(s)"
            f"{' with a zero cell' if zero_cell['to'] == 'only0' else ''} "
            f"({k} rows in all; see 'effect_note').",
            StatisticalWarning,
            stacklevel=2,
        )
    # a shallow copy: the sheet's columns are shared, not copied (pandas copy-on-write)
    out = studies.copy(deep=False)
    out["yi"] = yi
    out["vi"] = vi
    out["effect_note"] = notes.column()
    if direction is not None:
        out["outcome_direction"] = direction
    # single_arm rows: observed proportion with a Wilson 95% CI, for display (issue 18)

    for name, col in single_arm_columns(studies).items():
        out[name] = col.to_numpy()
    return out


def _count_fix(zero_cell: dict | None) -> str:
    """ "0.5 added to" (or the ``add`` in use) for notes and the warning."""
    add = _ADD if zero_cell is None else zero_cell["add"]
    return f"{add:g} added to"


def _group_effects(
    studies: pd.DataFrame,
    dt: str,
    ms: str,
    pos: np.ndarray,
    yi: np.ndarray,
    vi: np.ndarray,
    notes: _NoteCodes,
    convert_medians: bool = False,
    zero_cell: dict | None = None,
) -> int:
    """Fill ``yi``, ``vi`` and the notes of the rows ``pos`` (one data_type x measure).

    Returns the number of rows that got a zero-cell correction.
    """
    if dt in ("", "none"):
        notes.set(pos, NOTE_NO_RESULT if dt == "none" else "data_type missing")
        return 0
    if ms == "":
        notes.set(
            pos,
            f"measure missing (one of {', '.join(DATA_TYPE_MEASURES[dt])} for data_type {dt!r})",
        )
        return 0
    if ms not in DATA_TYPE_MEASURES[dt]:
        notes.set(pos, f"measure {ms!r} does not apply to data_type {dt!r}")
        return 0
    labels = _row_labels(studies, pos)
    if dt == "estimate":
        _estimate_effects(studies, ms, pos, labels, yi, vi, notes)
        return 0

    cols = dict(_INPUTS[dt])
    values = {arg: _column(studies, col, pos) for arg, col in cols.items()}
    names = {arg: f"column {col!r}" for arg, col in cols.items()}
    converted = None
    if dt == "continuous":
        converted = _complete_arms(studies, pos, values, convert_medians)
    fam = {"counts": "table", "continuous": "mean"}.get(dt, "proportion")
    check_cell_values(values, names, labels, fam, "study_effects()")
    if dt == "counts":
        a, b, c, d = complete_table(values, names, labels, "study_effects()")
        zc = zero_cell or {"add": _ADD, "to": "only0", "drop00": False}
        comp = table_core(
            ms, a, b, c, d, add=zc["add"], to=zc["to"], drop00=zc["drop00"], vtype="LS"
        )
        fix = f"{_count_fix(zc)} all cells " + {
            "all": "(to='all')",
            "if0all": "(to='if0all': some table has a zero cell)",
        }.get(zc["to"], "(zero cell)")
        double0 = comp.corrected & (((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
        dropped = comp.dropped00
    elif dt == "continuous":
        comp = mean_core(
            ms, values["m1i"], values["sd1i"], values["n1i"],
            values["m2i"], values["sd2i"], values["n2i"], vtype="LS", correct=False,
        )  # fmt: skip
        fix, double0 = "", np.zeros(len(pos), dtype=bool)
        dropped = double0
    else:
        comp = proportion_core(ms, values["xi"], values["ni"], add=_ADD, to="only0", vtype="LS")
        fix = "0.5 added to events and non-events (zero cell)"
        double0 = np.zeros(len(pos), dtype=bool)
        dropped = double0
    yi[pos], vi[pos] = comp.yi, comp.vi
    code = _missing_codes(values, cols, notes)
    # precedence: no events in either arm > zero-cell correction > undefined > missing input
    code[comp.undefined] = notes.code(_UNDEFINED.get(ms, f"{ms} undefined for these inputs"))
    code[comp.corrected] = notes.code(fix)
    code[double0] = notes.code(fix + "; no events in either arm")
    code[dropped] = notes.code("no events (or no non-events) in either arm: not estimable (drop00)")
    if converted is not None and (converted != "").any():
        _add_notes(notes, code, converted)
    notes.codes[pos] = code
    return int(comp.corrected.sum())


def _add_notes(notes: _NoteCodes, code: np.ndarray, extra: np.ndarray) -> None:
    """Append ``extra`` (one text per row, "" for none) to the rows' notes, in place; a
    "missing input" note of a row whose extra says why the input is missing is replaced."""
    pairs, first = np.unique(np.stack([code, pd.factorize(extra)[0]]), axis=1, return_inverse=True)
    new = np.empty(pairs.shape[1], dtype=np.int32)
    for j in range(pairs.shape[1]):
        row = int(np.flatnonzero(first.ravel() == j)[0])
        old, more = notes.texts[int(pairs[0, j])], str(extra[row])
        if old.startswith("missing input") and more.startswith("median"):
            old = ""
        new[j] = notes.code("; ".join(t for t in (old, more) if t))
    code[:] = new[first.ravel()]


def _complete_arms(
    studies: pd.DataFrame, pos: np.ndarray, values: dict[str, np.ndarray], convert_medians: bool
) -> np.ndarray:
    """Fill the SD (and, for medians on request, the mean) of continuous arms reported
    another way, in ``values``; returns the note per row ("" where nothing was converted)."""
    k = len(pos)
    said = [np.full(k, "", dtype=object)]
    level = _column(studies, "ci_level", pos)
    level = np.where(np.isnan(level), 0.95, level)
    for arm, m, sd, n in (("int", "m1i", "sd1i", "n1i"), ("ctrl", "m2i", "sd2i", "n2i")):
        size = values[n]
        text = np.full(k, "", dtype=object)
        se = _column(studies, f"se_{arm}", pos)
        from_se = np.isnan(values[sd]) & ~np.isnan(se) & (size > 0)
        if from_se.any():
            values[sd] = np.where(from_se, se * np.sqrt(size), values[sd])
            text[from_se] = f"sd_{arm} from se_{arm} (SD = SE x sqrt(n))"
        lo, hi = _column(studies, f"ci_low_{arm}", pos), _column(studies, f"ci_high_{arm}", pos)
        from_ci = np.isnan(values[sd]) & ~np.isnan(lo) & ~np.isnan(hi) & (size >= 2)
        if from_ci.any():
            t = np.full(k, np.nan)
            t[from_ci] = t_isf((1 - level[from_ci]) / 2, size[from_ci] - 1)
            values[sd] = np.where(from_ci, np.sqrt(size) * (hi - lo) / (2 * t), values[sd])
            for lev in np.unique(level[from_ci]):
                at = from_ci & (level == lev)
                text[at] = (
                    f"sd_{arm} from the {100 * lev:g}% CI of the mean (SD = sqrt(n) x "
                    "(upper - lower) / (2 t), t with n - 1 df)"
                )
        med = _column(studies, f"median_{arm}", pos)
        q1, q3 = _column(studies, f"q1_{arm}", pos), _column(studies, f"q3_{arm}", pos)
        quartiles = np.isnan(values[m]) & ~np.isnan(med) & ~np.isnan(q1) & ~np.isnan(q3)
        if quartiles.any() and convert_medians:
            eta = 2 * norm_ppf((0.75 * size - 0.125) / (size + 0.25))
            values[m] = np.where(quartiles, (q1 + med + q3) / 3, values[m])
            values[sd] = np.where(quartiles & (size > 0), (q3 - q1) / eta, values[sd])
            text[quartiles] = (
                f"mean_{arm} and sd_{arm} estimated from median and quartiles (Wan 2014)"
            )
        elif quartiles.any():
            text[quartiles] = (
                f"median and quartiles in place of mean_{arm}: not converted "
                "(study_effects(convert_medians=True) estimates mean and SD, "
                "Wan 2014)"
            )
        said.append(text)
    first, second = said[1], said[2]
    has1, has2 = first != "", second != ""
    out = np.where(has1, first, second)
    both = np.flatnonzero(has1 & has2)
    out[both] = [f"{first[i]}; {second[i]}" for i in both]
    return out


def _estimate_effects(
    studies: pd.DataFrame,
    ms: str,
    pos: np.ndarray,
    labels: Callable[[], np.ndarray],
    yi: np.ndarray,
    vi: np.ndarray,
    notes: _NoteCodes,
) -> None:
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
    table = np.array(
        [
            notes.code(""),
            notes.code("missing input: estimate"),
            notes.code("missing input: se or ci_low/ci_high"),
            notes.code("missing input: estimate; missing input: se or ci_low/ci_high"),
        ],
        dtype=np.int32,
    )
    notes.codes[pos] = table[no_est.astype(np.intp) + 2 * no_var.astype(np.intp)]


def _check_estimate_rows(measure, est, lo, hi, lev, se, labels) -> None:
    """Row-named checks for 'estimate' rows (effects_from_ci only knows positions)."""
    where = "study_effects()"
    if measure in RATIO_MEASURES:
        for name, arr in (("estimate", est), ("ci_low", lo), ("ci_high", hi)):
            if (arr <= 0).any():
                raise ValidationError(
                    f"{where}: column {name!r} must be > 0 for ratio measure {measure!r} (given "
                    f"on the natural scale) in row(s) {rows_text(labels, arr <= 0)}."
                )
    if measure == "PLO":
        for name, arr in (("estimate", est), ("ci_low", lo), ("ci_high", hi)):
            bad = (arr <= 0) | (arr >= 1)
            if bad.any():
                raise ValidationError(
                    f"{where}: column {name!r} must be a proportion in (0, 1) for measure 'PLO' "
                    f"in row(s) {rows_text(labels, bad)}."
                )
    if (lo > hi).any():
        raise ValidationError(
            f"{where}: column 'ci_low' is above 'ci_high' in row(s) {rows_text(labels, lo > hi)}."
        )
    if ((lev <= 0) | (lev >= 1)).any():
        raise ValidationError(
            f"{where}: column 'ci_level' must be a fraction in (0, 1), e.g. 0.95, in row(s) "
            f"{rows_text(labels, (lev <= 0) | (lev >= 1))}."
        )
    if (se <= 0).any():
        raise ValidationError(
            f"{where}: column 'se' must be > 0 in row(s) {rows_text(labels, se <= 0)}."
        )


#: Measures whose effect on the reversed scale (or for the complementary event) is the same
#: effect with the opposite sign and the same variance: MD and SMD (x -> c - x), log OR and
#: logit (events <-> non-events), RD (p -> 1 - p).
_REVERSIBLE = ("MD", "SMD", "OR", "RD", "PLO")


def _orient(
    studies: pd.DataFrame,
    yi: np.ndarray,
    vi: np.ndarray,
    notes: _NoteCodes,
    keys: list[tuple[str, str]],
    group: np.ndarray,
) -> pd.Series | None:
    """Orient the rows of each outcome to its majority ``outcome_direction`` (in place);
    returns the new ``outcome_direction`` column, or None when nothing changed.

    Works on codes: only the rows of outcomes whose rows disagree are looked at one by one."""
    if len(studies) == 0:
        return None
    if "outcome_direction" not in studies.columns or "outcome" not in studies.columns:
        return None
    if "indication" not in studies.columns and "indication_label" not in studies.columns:
        return None
    d_codes, d_reps = distinct(studies["outcome_direction"])
    d_text = d_reps.astype("string").str.strip()
    names = [d for d in dict.fromkeys(d_text.dropna().tolist()) if d != ""]
    if len(names) < 2:
        return None
    # a code per distinct direction text, -1 where missing
    rep_code = np.array(
        [names.index(t) if isinstance(t, str) and t in names else -1 for t in d_text.tolist()],
        dtype=np.int64,
    )
    direction = rep_code[d_codes]
    outcome, _ = combine([distinct(indication_key(studies))[0], distinct(studies["outcome"])[0]])
    known = direction >= 0
    n_out, n_dir = int(outcome.max()) + 1, len(names)
    counts = np.bincount(
        outcome[known] * n_dir + direction[known], minlength=n_out * n_dir
    ).reshape(n_out, n_dir)
    mixed = np.flatnonzero((counts > 0).sum(axis=1) > 1)
    if not len(mixed):
        return None
    new = direction.copy()
    changed = False
    rows_of = group_positions(np.where(np.isin(outcome, mixed) & known, outcome, n_out), n_out + 1)
    for o in mixed:
        rows = rows_of[o]
        seen = direction[rows]
        first = {d: i for i, d in enumerate(dict.fromkeys(seen.tolist()))}
        target = max(first, key=lambda d: (counts[o, d], -first[d]))
        label = f"{int(counts[o, target])} of {len(rows)}"
        for r in rows[seen != target]:
            dt, ms = keys[group[r]]
            if ms == "" or dt in ("", "none"):
                continue  # no effect to orient
            old = names[direction[r]]
            if ms in _REVERSIBLE:
                if np.isfinite(yi[r]):
                    yi[r] = -yi[r]
                text = (
                    f"sign reversed: outcome_direction '{old}' oriented to "
                    f"'{names[target]}' like the other rows of this outcome ({label})"
                )
                new[r] = target
                changed = True
            else:
                yi[r] = vi[r] = np.nan
                text = (
                    f"outcome_direction '{old}' is opposite to '{names[target]}' of the "
                    f"other rows of this outcome ({label}) and measure '{ms}' cannot be "
                    "reversed: not pooled; orient the row in the sheet"
                )
            prior = notes.texts[notes.codes[r]]
            notes.codes[r] = notes.code("; ".join(t for t in (prior, text) if t))
    if not changed:
        return None
    original = studies["outcome_direction"]
    moved = np.flatnonzero(new != direction)
    out = original.copy()
    out.iloc[moved] = [names[new[r]] for r in moved]
    return out
