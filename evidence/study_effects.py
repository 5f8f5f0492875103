"""Per-row effect sizes for the accepted study sheet (one call, every data type)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

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


def _column(frame: pd.DataFrame, name: str, pos: np.ndarray) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(pos), np.nan)
    raw = frame[name].iloc[pos]
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


def _missing_note(values: dict[str, np.ndarray], cols: dict[str, str]) -> np.ndarray:
    """'missing input: a, b' per row (vectorised over rows)."""
    k = len(next(iter(values.values())))
    listed = np.full(k, "", dtype=object)
    for arg, arr in values.items():
        listed = listed + np.where(np.isnan(arr), cols[arg] + ", ", "")
    has = listed != ""
    text = np.char.rstrip(listed.astype(str), ", ")
    return np.where(has, np.char.add("missing input: ", text), "").astype(object)


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
        A copy of ``studies`` (same index and row order) with three columns added:

        ``yi``
            Effect size. **Log scale for RR, OR, HR and ROM** (exponentiate to report),
            log odds for PLO, natural scale otherwise.
        ``vi``
            Sampling variance of ``yi``.
        ``effect_note``
            Empty string, or why ``yi`` is NaN ("no numeric result reported",
            "missing input: events_ctrl", "measure 'SMD' does not apply to data_type
            'counts'", ...) and any correction applied ("0.5 added to all cells (zero cell)").

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
    out = studies.copy()
    k = len(out)
    yi = np.full(k, np.nan)
    vi = np.full(k, np.nan)
    note = np.full(k, "", dtype=object)

    dtype = out["data_type"].astype("string").str.strip().str.lower()
    if "measure" in out.columns:
        measure = out["measure"].astype("string").str.strip().str.upper()
    else:
        measure = pd.Series(pd.NA, index=out.index, dtype="string")
    unknown = dtype.notna() & ~dtype.isin(DATA_TYPES)
    if unknown.any():
        raise ValidationError(
            f"study_effects(): column 'data_type' must be one of {list(DATA_TYPES)}; got "
            f"{sorted(set(dtype[unknown]))} in row(s) "
            f"{_rows_text(_labels(out, np.flatnonzero(unknown)), np.ones(int(unknown.sum())))}."
        )
    # single_arm rows without a measure default to PLO
    measure = measure.mask((dtype == "single_arm") & measure.isna(), "PLO")

    n_corrected = 0
    keys = pd.DataFrame({"d": dtype.fillna(""), "m": measure.fillna("")})
    for (dt, ms), pos in keys.groupby(["d", "m"], sort=False).indices.items():
        pos = np.asarray(pos)
        labels = _labels(out, pos)
        if dt in ("", "none"):
            note[pos] = NOTE_NO_RESULT if dt == "none" else "data_type missing"
            continue
        if ms == "":
            note[pos] = f"measure missing (one of {', '.join(_ALLOWED[dt])} for data_type {dt!r})"
            continue
        if ms not in _ALLOWED[dt]:
            note[pos] = f"measure {ms!r} does not apply to data_type {dt!r}"
            continue

        if dt == "estimate":
            est, lo, hi, lev, se = (
                _column(out, c, pos) for c in ("estimate", "ci_low", "ci_high", "ci_level", "se")
            )
            lev = np.where(np.isnan(lev), 0.95, lev)
            _check_estimate_rows(ms, est, lo, hi, lev, se, labels)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)
                y, v = effects_from_ci(est, lo, hi, measure=ms, level=lev, se=se)
            yi[pos], vi[pos] = y, v
            no_var = np.isnan(se) & (np.isnan(lo) | np.isnan(hi))
            miss = np.where(np.isnan(est), "missing input: estimate", "")
            miss = np.where(
                no_var,
                np.char.add(np.where(np.isnan(est), "missing input: estimate; ", ""),
                            "missing input: se or ci_low/ci_high"),
                miss,
            )  # fmt: skip
            note[pos] = miss.astype(object)
            continue

        cols = dict(_INPUTS[dt])
        values = {arg: _column(out, col, pos) for arg, col in cols.items()}
        names = {arg: f"column {col!r}" for arg, col in cols.items()}
        if dt == "counts":
            fam = "table"
        elif dt == "continuous":
            fam = "mean"
        else:
            fam = "proportion"
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
            comp = _proportion_core(
                ms, values["xi"], values["ni"], add=_ADD, to="only0", vtype="LS"
            )
            fix = "0.5 added to events and non-events (zero cell)"
            double0 = np.zeros(len(pos), dtype=bool)
        yi[pos], vi[pos] = comp.yi, comp.vi
        n_corrected += int(comp.corrected.sum())
        rownote = _missing_note(values, cols)
        rownote = np.where(
            comp.undefined, _UNDEFINED.get(ms, f"{ms} undefined for these inputs"), rownote
        )
        rownote = np.where(comp.corrected, fix, rownote)
        rownote = np.where(double0, fix + "; no events in either arm", rownote)
        note[pos] = rownote.astype(object)

    if n_corrected:
        warnings.warn(
            f"study_effects(): 0.5 added to the cells of {n_corrected} row(s) with a zero cell "
            f"({k} rows in all; see 'effect_note').",
            StatisticalWarning,
            stacklevel=2,
        )
    out["yi"] = yi
    out["vi"] = vi
    out["effect_note"] = pd.array(note.astype(str), dtype="string")
    return out


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
