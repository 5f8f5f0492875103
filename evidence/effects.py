"""Effect sizes and their sampling variances, computed the way R metafor's ``escalc()`` does.

Two entry points:

* :func:`effect_sizes` - per-row effect sizes from a table of counts, means/SDs,
  proportions or given estimates (metafor's argument names).
* :func:`effects_from_ci` - an effect size and its variance from a reported
  estimate with its confidence interval (metafor's ``conv.wald()``) or standard error.

Ratio measures (RR, OR, HR, ROM, IRR; Peto's OR) are returned on the log scale, as are PLO
(log odds) and PLN (log proportion).
Values were checked against metafor 3.8-1 on real datasets (``tests/reference/``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evidence._validate import numeric_column
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError
from evidence.measures import EFFECT_MEASURES as _EFFECT_MEASURES
from evidence.measures import MEASURE_INFO, MEASURES, RATIO_MEASURES

__all__ = ["effect_sizes", "effects_from_ci", "EFFECT_MEASURES", "hedges_correction"]


def _of_family(family: str) -> tuple[str, ...]:
    return tuple(n for n, m in MEASURE_INFO.items() if m.family == family)


TABLE_MEASURES: tuple[str, ...] = _of_family("table")
MEAN_MEASURES: tuple[str, ...] = _of_family("mean")
PROPORTION_MEASURES: tuple[str, ...] = _of_family("proportion")
CORRELATION_MEASURES: tuple[str, ...] = _of_family("correlation")
RATE_MEASURES: tuple[str, ...] = _of_family("rate")
#: Measures :func:`effect_sizes` computes (:data:`evidence.measures.EFFECT_MEASURES`).
EFFECT_MEASURES: tuple[str, ...] = _EFFECT_MEASURES
#: Measures whose ``add`` defaults to 0 (metafor: the variance-stabilising transformations).
_ADD_ZERO: tuple[str, ...] = ("PAS", "PFT")
#: Measures :func:`effects_from_ci` accepts and how the estimate is transformed.
LOG_MEASURES: tuple[str, ...] = RATIO_MEASURES
CI_MEASURES: tuple[str, ...] = (*RATIO_MEASURES, *(m for m in MEASURES if m not in RATIO_MEASURES))

TO_OPTIONS: tuple[str, ...] = ("only0", "all", "if0all", "none")
_VTYPES: dict[str, tuple[str, ...]] = {
    "RR": ("LS",),
    "OR": ("LS",),
    "RD": ("LS", "UB"),
    "MD": ("LS", "UB", "HO"),
    "SMD": ("LS", "UB", "LS2"),
    "ROM": ("LS", "HO"),
    "PLO": ("LS",),
    "PR": ("LS", "UB"),
    "PETO": ("LS",),
    "SMDH": ("LS", "LS2"),
    "PLN": ("LS",),
    "PAS": ("LS",),
    "PFT": ("LS",),
    "COR": ("LS",),
    "ZCOR": ("LS",),
    "IRR": ("LS",),
    "IRD": ("LS",),
    "GEN": ("LS",),
}
# Which keyword arguments each family uses (required ones first).
_ARGS: dict[str, tuple[str, ...]] = {
    "table": ("ai", "ci", "bi", "di", "n1i", "n2i"),
    "mean": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "proportion": ("xi", "ni"),
    "correlation": ("ri", "ni"),
    "rate": ("x1i", "t1i", "x2i", "t2i"),
    "GEN": ("yi", "vi", "sei"),
}


def _family(measure: str) -> str:
    if measure in TABLE_MEASURES:
        return "table"
    if measure in MEAN_MEASURES:
        return "mean"
    if measure in PROPORTION_MEASURES:
        return "proportion"
    if measure in CORRELATION_MEASURES:
        return "correlation"
    if measure in RATE_MEASURES:
        return "rate"
    return "GEN"


# --------------------------------------------------------------------------- core
@dataclass(frozen=True, slots=True)
class _Computed:
    """Internal result of one vectorised computation (positional arrays)."""

    yi: np.ndarray
    vi: np.ndarray
    corrected: np.ndarray  # bool: ``add`` was added to this row's cells
    dropped00: np.ndarray  # bool: set to NaN by drop00
    undefined: np.ndarray  # bool: complete inputs but yi/vi infinite/NaN (recoded to NaN)


def hedges_correction(m: Any) -> np.ndarray:
    """Hedges' exact small-sample correction factor ``c(m)`` for ``m`` degrees of freedom.

    ``c(m) = exp(lgamma(m/2) - log(sqrt(m/2)) - lgamma((m-1)/2))`` (metafor's ``.cmicalc``);
    NaN where ``m <= 1`` or ``m`` is missing.
    """
    from scipy.special import gammaln  # lazy: scipy.special costs ~0.1 s to import

    m = np.asarray(m, dtype=float)
    ok = m > 1
    safe = np.where(ok, m, 2.0)
    with np.errstate(all="ignore"):
        c = np.exp(gammaln(safe / 2) - np.log(np.sqrt(safe / 2)) - gammaln((safe - 1) / 2))
    return np.where(ok, c, np.nan)


def _finish(yi, vi, complete, corrected, dropped00) -> _Computed:
    """metafor's last step: +-Inf and NaN become NaN, negative variances become NaN."""
    yi = np.asarray(yi, dtype=float).copy()
    vi = np.asarray(vi, dtype=float).copy()
    bad = ~np.isfinite(yi) | ~np.isfinite(vi)
    yi[bad] = np.nan
    vi[bad] = np.nan
    neg = vi < 0
    vi[neg] = np.nan
    undefined = (bad | neg) & complete & ~dropped00
    return _Computed(yi, vi, corrected & complete & ~dropped00, dropped00, undefined)


def zero_correction(cells: list[np.ndarray], add: float, to: str):
    """Add ``add`` to every cell of the rows chosen by ``to``; returns (cells, mask)."""
    k = len(cells[0])
    if to == "none" or add == 0:
        return cells, np.zeros(k, dtype=bool)
    if to == "all":
        mask = np.ones(k, dtype=bool)
    else:
        any0 = np.zeros(k, dtype=bool)
        for c in cells:
            any0 |= c == 0
        mask = np.full(k, bool(any0.any())) if to == "if0all" else any0
    return [np.where(mask, c + add, c) for c in cells], mask


def table_core(measure, ai, bi, ci, di, *, add, to, drop00, vtype) -> _Computed:
    """RR/OR/RD/PETO from 2x2 tables (escalc), with the zero-cell rule."""
    complete = ~(np.isnan(ai) | np.isnan(bi) | np.isnan(ci) | np.isnan(di))
    dropped = np.zeros(len(ai), dtype=bool)
    if drop00:
        dropped = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
        ai, bi, ci, di = (np.where(dropped, np.nan, x) for x in (ai, bi, ci, di))
    (ai, bi, ci, di), corrected = zero_correction([ai, bi, ci, di], add, to)
    n1, n2 = ai + bi, ci + di
    with np.errstate(all="ignore"):
        p1, p2 = ai / n1, ci / n2
        if measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / ai - 1 / n1 + 1 / ci - 1 / n2
        elif measure == "OR":
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / ai + 1 / bi + 1 / ci + 1 / di
        elif measure == "PETO":  # Peto's one-step log odds ratio (metafor escalc "PETO")
            xt, yt = ai + ci, bi + di
            ni = n1 + n2
            e1 = xt * n1 / ni
            v1 = xt * yt * (n1 / ni) * (n2 / ni) / (ni - 1)
            yi = (ai - e1) / v1
            vi = 1 / v1
        else:  # RD
            yi = p1 - p2
            if vtype == "UB":
                vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
            else:
                vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    return _finish(yi, vi, complete, corrected, dropped)


def mean_core(measure, m1, sd1, n1, m2, sd2, n2, *, vtype, correct) -> _Computed:
    """MD/SMD/SMDH/ROM from two groups' means, SDs and sizes (escalc)."""
    complete = ~np.isnan(np.vstack([m1, sd1, n1, m2, sd2, n2])).any(axis=0)
    with np.errstate(all="ignore"):
        mi = n1 + n2 - 2
        sdp = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / mi)
        if measure == "MD":
            yi = m1 - m2
            if vtype == "HO":
                vi = sdp**2 * (1 / n1 + 1 / n2)
            else:  # LS and UB coincide for MD
                vi = sd1**2 / n1 + sd2**2 / n2
        elif measure == "SMD":
            d = (m1 - m2) / sdp
            cmi = hedges_correction(mi)
            yi = cmi * d
            if vtype == "UB":
                vi = 1 / n1 + 1 / n2 + (1 - (mi - 2) / (mi * cmi**2)) * yi**2
            elif vtype == "LS2":
                vi = cmi**2 * (1 / n1 + 1 / n2 + d**2 / (2 * (n1 + n2)))
            else:
                vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
        elif measure == "SMDH":  # Bonett (2008): SD = sqrt of the mean of the two variances
            cmi = hedges_correction(mi)
            s1, s2 = sd1**2, sd2**2
            yi = cmi * (m1 - m2) / np.sqrt((s1 + s2) / 2)
            if vtype == "LS2":
                vi = (
                    yi**2 * s1 / (2 * n1 * (s1 + s2) ** 2)
                    + yi**2 * s2 / (2 * n2 * (s1 + s2) ** 2)
                    + 2 * s1 / (n1 * (s1 + s2))
                    + 2 * s2 / (n2 * (s1 + s2))
                )
            else:
                vi = cmi**2 * (
                    yi**2 * (sd1**4 / (n1 - 1) + sd2**4 / (n2 - 1)) / (2 * (s1 + s2) ** 2)
                    + (s1 / (n1 - 1) + s2 / (n2 - 1)) / ((s1 + s2) / 2)
                )
        else:  # ROM
            yi = np.log(m1 / m2)
            if correct:  # Lajeunesse (2015) eq. 8; metafor >= 5.0-1 correct=TRUE
                yi = yi + 0.5 * (sd1**2 / (n1 * m1**2) - sd2**2 / (n2 * m2**2))
            if vtype == "HO":
                vi = sdp**2 / (n1 * m1**2) + sdp**2 / (n2 * m2**2)
            else:
                vi = sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)
    k = len(m1)
    return _finish(yi, vi, complete, np.zeros(k, dtype=bool), np.zeros(k, dtype=bool))


def proportion_core(measure, xi, ni, *, add, to, vtype) -> _Computed:
    """PR/PLN/PLO/PAS/PFT from single-arm events and sizes (escalc), with the zero-cell rule."""
    complete = ~(np.isnan(xi) | np.isnan(ni))
    (xi, mi), corrected = zero_correction([xi, ni - xi], add, to)
    ni = xi + mi
    with np.errstate(all="ignore"):
        pr = xi / ni
        if measure == "PR":
            yi = pr
            vi = pr * (1 - pr) / (ni - 1) if vtype == "UB" else pr * (1 - pr) / ni
        elif measure == "PLN":
            yi = np.log(pr)
            vi = 1 / xi - 1 / ni
        elif measure == "PAS":
            yi = np.arcsin(np.sqrt(pr))
            vi = 1 / (4 * ni)
        elif measure == "PFT":  # Freeman-Tukey double arcsine
            yi = 0.5 * (np.arcsin(np.sqrt(xi / (ni + 1))) + np.arcsin(np.sqrt((xi + 1) / (ni + 1))))
            vi = 1 / (4 * ni + 2)
        else:  # PLO
            yi = np.log(pr / (1 - pr))
            vi = 1 / xi + 1 / mi
    return _finish(yi, vi, complete, corrected, np.zeros(len(xi), dtype=bool))


def _correlation_core(measure, ri, ni) -> _Computed:
    complete = ~(np.isnan(ri) | np.isnan(ni))
    with np.errstate(all="ignore"):
        if measure == "COR":
            yi = ri.copy()
            vi = (1 - ri**2) ** 2 / (ni - 1)
        else:  # ZCOR: Fisher's z
            yi = 0.5 * np.log((1 + ri) / (1 - ri))
            vi = 1 / (ni - 3)
    vi = np.where(ni <= 3, np.nan, vi)  # metafor: no variance with ni <= 3
    k = len(ri)
    return _finish(yi, vi, complete, np.zeros(k, dtype=bool), np.zeros(k, dtype=bool))


def rate_core(measure, x1, t1, x2, t2, *, add, to, drop00) -> _Computed:
    """IRR/IRD from event counts and person-times (escalc), with the zero-cell rule."""
    complete = ~(np.isnan(x1) | np.isnan(t1) | np.isnan(x2) | np.isnan(t2))
    dropped = np.zeros(len(x1), dtype=bool)
    if drop00:
        dropped = (x1 == 0) & (x2 == 0)
        x1, x2 = (np.where(dropped, np.nan, x) for x in (x1, x2))
    (x1, x2), corrected = zero_correction([x1, x2], add, to)
    with np.errstate(all="ignore"):
        ir1, ir2 = x1 / t1, x2 / t2
        if measure == "IRR":
            yi = np.log(ir1) - np.log(ir2)
            vi = 1 / x1 + 1 / x2
        else:  # IRD
            yi = ir1 - ir2
            vi = ir1 / t1 + ir2 / t2
    return _finish(yi, vi, complete, corrected, dropped)


def _gen_core(yi, vi, sei) -> _Computed:
    vi = np.where(np.isnan(vi), sei**2, vi)
    complete = ~(np.isnan(yi) | np.isnan(vi))
    k = len(yi)
    return _finish(yi, vi, complete, np.zeros(k, dtype=bool), np.zeros(k, dtype=bool))


# --------------------------------------------------------------------------- checks
def rows_text(labels, mask, limit: int = 5) -> str:
    """The labels of the rows in ``mask`` for a message, at most ``limit`` of them."""
    if callable(labels):  # labels built only now that a message needs them
        labels = labels()
    hit = [str(x) for x in np.asarray(labels, dtype=object)[np.asarray(mask, dtype=bool)]]
    more = f" (and {len(hit) - limit} more)" if len(hit) > limit else ""
    return ", ".join(hit[:limit]) + more


def check_cell_values(
    values: dict[str, np.ndarray],
    names: dict[str, str],
    labels,
    family: str,
    where: str,
    row_word: str = "row",
) -> None:
    """Raise ValidationError for impossible inputs; ``names`` maps argument -> column label."""

    def fail(arg: str, mask, what: str) -> None:
        raise ValidationError(
            f"{where}: {names[arg]} {what} in {row_word}(s) {rows_text(labels, mask)}."
        )

    if family == "table":
        for arg in ("ai", "bi", "ci", "di", "n1i", "n2i"):
            if arg in values and (values[arg] < 0).any():
                fail(arg, values[arg] < 0, "has negative counts")
        for ev, tot in (("ai", "n1i"), ("ci", "n2i")):
            if tot in values and (values[ev] > values[tot]).any():
                fail(ev, values[ev] > values[tot], f"is larger than {names[tot]} (events > total)")
    elif family == "mean":
        for arg in ("n1i", "n2i"):
            if (values[arg] <= 0).any():
                fail(arg, values[arg] <= 0, "must be > 0 (group size)")
        for arg in ("sd1i", "sd2i"):
            if (values[arg] <= 0).any():
                fail(arg, values[arg] <= 0, "must be > 0 (standard deviation)")
    elif family == "correlation":
        if (np.abs(values["ri"]) > 1).any():
            fail("ri", np.abs(values["ri"]) > 1, "must be between -1 and 1 (a correlation)")
        if (values["ni"] <= 0).any():
            fail("ni", values["ni"] <= 0, "must be > 0 (sample size)")
    elif family == "rate":
        for arg in ("x1i", "x2i"):
            if (values[arg] < 0).any():
                fail(arg, values[arg] < 0, "has negative counts")
        for arg in ("t1i", "t2i"):
            if (values[arg] <= 0).any():
                fail(arg, values[arg] <= 0, "must be > 0 (person-time)")
    elif family == "proportion":
        if (values["xi"] < 0).any():
            fail("xi", values["xi"] < 0, "has negative counts")
        if (values["ni"] <= 0).any():
            fail("ni", values["ni"] <= 0, "must be > 0 (group size)")
        if (values["xi"] > values["ni"]).any():
            more = values["xi"] > values["ni"]
            fail("xi", more, f"is larger than {names['ni']} (events > total)")
    else:
        for arg in ("vi", "sei"):
            if arg in values and (values[arg] < 0).any():
                fail(arg, values[arg] < 0, "must be >= 0")


def complete_table(values, names, labels, where, row_word="row"):
    """Fill bi/di from n1i/n2i (metafor: bi = n1i - ai) and check consistency."""
    k = len(values["ai"])
    out = {}
    for ev, non, tot in (("ai", "bi", "n1i"), ("ci", "di", "n2i")):
        b = values.get(non, np.full(k, np.nan))
        if tot in values:
            n = values[tot]
            both = ~np.isnan(b) & ~np.isnan(n)
            bad = both & ~np.isclose(n, values[ev] + b, rtol=0, atol=1e-9)
            if bad.any():
                raise ValidationError(
                    f"{where}: {names[tot]} is not equal to {names[ev]} + {names[non]} in "
                    f"{row_word}(s) {rows_text(labels, bad)}."
                )
            b = np.where(np.isnan(b), n - values[ev], b)
        out[non] = b
    return values["ai"], out["bi"], values["ci"], out["di"]


def _check_options(fn: str, measure, add, to, drop00, vtype, correct) -> tuple[str, float]:
    if not isinstance(measure, str) or measure not in EFFECT_MEASURES:
        raise InvalidParameterError(
            f"The 'measure' argument of {fn}() must be one of {list(EFFECT_MEASURES)}. "
            f"Got {measure!r}."
        )
    if to not in TO_OPTIONS:
        raise InvalidParameterError(
            f"The 'to' argument of {fn}() must be one of {list(TO_OPTIONS)}. Got {to!r}."
        )
    if add is None:
        add = 0.0 if measure in _ADD_ZERO else 0.5
    if isinstance(add, bool) or not isinstance(add, int | float) or not np.isfinite(add) or add < 0:
        raise InvalidParameterError(
            f"The 'add' argument of {fn}() must be a number >= 0. Got {add!r}."
        )
    for name, val in (("drop00", drop00), ("correct", correct)):
        if not isinstance(val, bool | np.bool_):
            raise InvalidParameterError(
                f"The '{name}' argument of {fn}() must be True or False. Got {val!r}."
            )
    allowed = _VTYPES[measure]
    if vtype not in allowed:
        raise InvalidParameterError(
            f"The 'vtype' argument of {fn}() must be one of {list(allowed)} for "
            f"measure={measure!r}. Got {vtype!r}."
        )
    return _family(measure), float(add)


def _correction_message(comp: _Computed, add: float, to: str, family: str, k: int) -> str | None:
    n = int(comp.corrected.sum())
    if n == 0:
        return None
    cells = {"table": "all four cells", "rate": "the event counts of both groups"}.get(
        family, "the events and non-events"
    )
    why = {
        "only0": "rows with a zero cell",
        "all": "rows (to='all')",
        "if0all": "rows because at least one row has a zero cell (to='if0all')",
    }[to]
    return f"{add:g} added to {cells} of {n} of {k} {why}."


# --------------------------------------------------------------------------- public
def effect_sizes(
    data: pd.DataFrame,
    measure: str,
    *,
    ai: str | None = None,
    bi: str | None = None,
    ci: str | None = None,
    di: str | None = None,
    n1i: str | None = None,
    n2i: str | None = None,
    m1i: str | None = None,
    m2i: str | None = None,
    sd1i: str | None = None,
    sd2i: str | None = None,
    xi: str | None = None,
    ni: str | None = None,
    ri: str | None = None,
    x1i: str | None = None,
    x2i: str | None = None,
    t1i: str | None = None,
    t2i: str | None = None,
    yi: str | None = None,
    vi: str | None = None,
    sei: str | None = None,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
    vtype: str = "LS",
    correct: bool = False,
) -> pd.DataFrame:
    """Compute effect sizes and sampling variances, row by row, as metafor's ``escalc()``.

    Parameters
    ----------
    data : DataFrame
        One row per study (or comparison).
    measure : str
        ``"RR"`` (log risk ratio), ``"OR"`` (log odds ratio), ``"RD"`` (risk difference),
        ``"PETO"`` (Peto's log odds ratio) from 2x2 tables; ``"MD"`` (mean difference),
        ``"SMD"`` (Hedges' g, exact gamma-function correction), ``"SMDH"`` (Bonett's SMD with
        heteroscedastic variances, bias-corrected), ``"ROM"`` (log ratio of means) from
        means/SDs; ``"PR"`` (raw proportion), ``"PLN"`` (log proportion), ``"PLO"`` (log
        odds), ``"PAS"`` (arcsine square root), ``"PFT"`` (Freeman-Tukey double arcsine) from
        one arm's events and total; ``"COR"`` (raw correlation) and ``"ZCOR"`` (Fisher's z)
        from ``ri`` and ``ni``; ``"IRR"`` (log incidence rate ratio) and ``"IRD"`` (incidence
        rate difference) from events and person-time; ``"GEN"`` (given ``yi`` with ``vi`` or
        ``sei``).
    ai, bi, ci, di : str, optional
        Columns of the 2x2 table: events and non-events in group 1 (``ai``, ``bi``) and
        group 2 (``ci``, ``di``). ``bi``/``di`` may be replaced by the totals ``n1i``/``n2i``.
    n1i, n2i : str, optional
        Group sizes (2x2 tables and means).
    m1i, m2i, sd1i, sd2i : str, optional
        Means and standard deviations of groups 1 and 2.
    xi, ni : str, optional
        Events and total of a single arm (PR, PLN, PLO, PAS, PFT); ``ni`` is also the sample
        size of a correlation.
    ri : str, optional
        Correlation coefficients (COR, ZCOR); ``vi`` is NaN where ``ni <= 3``.
    x1i, t1i, x2i, t2i : str, optional
        Events and person-time of groups 1 and 2 (IRR, IRD).
    yi, vi, sei : str, optional
        Given estimates and their variances or standard errors (GEN). Where ``vi`` is missing
        ``sei**2`` is used.
    add : float, optional
        Continuity correction added to the cells (2x2 tables; events and non-events for
        single-arm proportions; the event counts for IRR/IRD). Default 0.5, but 0 for PAS
        and PFT (as metafor).
    to : {"only0", "all", "if0all", "none"}, default "only0"
        Which rows get ``add``: rows with a zero cell; all rows; all rows if any row has a
        zero cell; none (zero cells then give NaN where the measure is undefined).
    drop00 : bool, default False
        Set rows with no events in both groups (or only events in both) to NaN.
    vtype : str, default "LS"
        Variance estimator: RD "LS"/"UB"; MD "LS"/"UB"/"HO"; SMD "LS" (Hedges 1982),
        "UB" (Hedges 1983 unbiased), "LS2" (Borenstein); SMDH "LS"/"LS2"; ROM "LS"/"HO";
        PR "LS"/"UB"; "LS" for every other measure.
    correct : bool, default False
        ROM only: apply Lajeunesse's (2015) bias correction to ``yi`` (metafor >= 5.0-1
        default; metafor 3.8-1 has no correction).

    Returns
    -------
    DataFrame
        A copy of ``data`` (same index and columns) with two float columns added or replaced:

        ``yi``
            Effect size; log scale for RR, OR, PETO, ROM and IRR, log odds for PLO, log
            proportion for PLN, radians for PAS/PFT, Fisher's z for ZCOR. Group 1 versus
            group 2 (difference ``1 - 2`` or ratio ``1 / 2``).
        ``vi``
            Sampling variance of ``yi``.

        Rows with missing inputs, or where the measure is undefined (a zero cell with
        ``to="none"``, a negative ratio of means, too few participants for Hedges' g),
        get NaN.

    Raises
    ------
    InvalidParameterError
        Unknown measure/option, a needed column argument missing, or a column not in ``data``.
    ValidationError
        Negative counts, events > total, group size <= 0, SD <= 0, non-numeric values; the
        message names the column and the rows.

    Warns
    -----
    StatisticalWarning
        When a continuity correction was applied (how many rows), when rows were set to
        NaN by ``drop00`` or because the measure is undefined for them.
    """
    fn = "effect_sizes"
    if not isinstance(data, pd.DataFrame):
        raise InvalidParameterError(
            f"The 'data' argument of {fn}() must be a pandas DataFrame. Got {type(data).__name__}."
        )
    family, add = _check_options(fn, measure, add, to, drop00, vtype, correct)
    given = {
        "ai": ai, "bi": bi, "ci": ci, "di": di, "n1i": n1i, "n2i": n2i, "m1i": m1i,
        "m2i": m2i, "sd1i": sd1i, "sd2i": sd2i, "xi": xi, "ni": ni, "ri": ri, "x1i": x1i,
        "x2i": x2i, "t1i": t1i, "t2i": t2i, "yi": yi, "vi": vi, "sei": sei,
    }  # fmt: skip
    given = {k: v for k, v in given.items() if v is not None}
    used = _ARGS[family]
    extra = [k for k in given if k not in used]
    if extra:
        raise InvalidParameterError(
            f"The '{extra[0]}' argument of {fn}() is not used with measure={measure!r} "
            f"(it uses {', '.join(used)})."
        )
    if family == "table":
        required = ["ai", "ci"]
        for ev, non, tot in (("ai", "bi", "n1i"), ("ci", "di", "n2i")):
            if non not in given and tot not in given:
                raise InvalidParameterError(
                    f"{fn}() with measure={measure!r} needs the '{non}' or the '{tot}' argument "
                    f"(non-events or total of the group whose events are '{ev}')."
                )
    elif family == "GEN":
        required = ["yi"]
        if "vi" not in given and "sei" not in given:
            raise InvalidParameterError(
                f"{fn}() with measure='GEN' needs the 'vi' or the 'sei' argument."
            )
    else:
        required = list(used)
    for arg in required:
        if arg not in given:
            raise InvalidParameterError(
                f"{fn}() with measure={measure!r} needs the '{arg}' argument (a column name)."
            )
    values: dict[str, np.ndarray] = {}
    names: dict[str, str] = {}
    for arg, col in given.items():
        if not isinstance(col, str):
            raise InvalidParameterError(
                f"The '{arg}' argument of {fn}() must be a column name (str). Got {col!r}."
            )
        if col not in data.columns:
            cols = [str(c) for c in data.columns][:20]
            raise InvalidParameterError(
                f"The '{arg}' argument of {fn}() names column {col!r}, which is not in data. "
                f"Columns: {cols}."
            )
        values[arg] = numeric_column(data, col, arg, fn, error=ValidationError)
        names[arg] = f"column {col!r} (argument '{arg}')"

    labels = data.index
    check_cell_values(values, names, labels, family, f"{fn}()")
    if family == "table":
        a, b, c, d = complete_table(values, names, labels, f"{fn}()")
        derived = {
            "bi": names.get("bi", "non-events of group 1 (n1i - ai)"),
            "di": names.get("di", "non-events of group 2 (n2i - ci)"),
        }
        check_cell_values({"bi": b, "di": d}, derived, labels, family, f"{fn}()")
        comp = table_core(measure, a, b, c, d, add=add, to=to, drop00=drop00, vtype=vtype)
    elif family == "mean":
        comp = mean_core(
            measure, values["m1i"], values["sd1i"], values["n1i"],
            values["m2i"], values["sd2i"], values["n2i"], vtype=vtype, correct=correct,
        )  # fmt: skip
    elif family == "proportion":
        comp = proportion_core(measure, values["xi"], values["ni"], add=add, to=to, vtype=vtype)
    elif family == "correlation":
        comp = _correlation_core(measure, values["ri"], values["ni"])
    elif family == "rate":
        comp = rate_core(
            measure, values["x1i"], values["t1i"], values["x2i"], values["t2i"],
            add=add, to=to, drop00=drop00,
        )  # fmt: skip
    else:
        k = len(data)
        none = np.full(k, np.nan)
        comp = _gen_core(values["yi"], values.get("vi", none), values.get("sei", none))

    k = len(data)
    msg = _correction_message(comp, add, to, family, k)
    if msg:
        warnings.warn(f"{fn}(): {msg}", StatisticalWarning, stacklevel=2)
    if comp.dropped00.any():
        warnings.warn(
            f"{fn}(): drop00=True set {int(comp.dropped00.sum())} row(s) with no events (or only "
            f"events) in both groups to NaN: row(s) {rows_text(labels, comp.dropped00)}.",
            StatisticalWarning,
            stacklevel=2,
        )
    if comp.undefined.any():
        warnings.warn(
            f"{fn}(): measure={measure!r} is undefined (infinite or NaN) for "
            f"{int(comp.undefined.sum())} row(s) with complete inputs; set to NaN: row(s) "
            f"{rows_text(labels, comp.undefined)}.",
            StatisticalWarning,
            stacklevel=2,
        )
    out = data.copy()
    out["yi"] = comp.yi
    out["vi"] = comp.vi
    return out


def _as_float_array(x, name: str, fn: str) -> np.ndarray:
    if x is None:
        return np.array(np.nan)
    if isinstance(x, np.ndarray) and x.ndim and x.dtype.kind == "f":
        return x.astype(float)  # already parsed: skip the round trip through objects
    try:
        arr = pd.to_numeric(pd.Series(np.atleast_1d(np.asarray(x, dtype=object)).ravel()),
                            errors="raise")  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"The '{name}' argument of {fn}() must be numeric. Got {x!r}."
        ) from exc
    out = arr.to_numpy(dtype=float, na_value=np.nan)
    return out.reshape(np.shape(x)) if np.ndim(x) else out[0]


def effects_from_ci(
    estimate,
    ci_low,
    ci_high,
    *,
    measure: str,
    level=0.95,
    se=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Effect size and sampling variance from a reported estimate and its Wald-type CI.

    The formula of metafor's ``conv.wald()``: ``yi = f(estimate)`` and
    ``vi = ((f(ci_high) - f(ci_low)) / (2 * z))**2`` with ``z = Phi^-1((1 + level) / 2)``,
    where ``f`` is ``log`` for the ratio measures RR, OR, HR and ROM, the logit for PLO
    (estimate and CI given as proportions), and the identity otherwise. Where a standard
    error is given it is preferred: ``vi = se**2`` (``se`` on the analysis scale, i.e. of the
    log ratio for ratio measures).

    Parameters
    ----------
    estimate, ci_low, ci_high : float or array-like
        Reported estimate and confidence limits on the natural scale (ratios as ratios).
        NaN where not reported.
    measure : str
        One of RR, OR, HR, ROM, RD, MD, SMD, PLO, PR, GEN.
    level : float or array-like, default 0.95
        Level of the CI as a fraction (per row if array-like).
    se : float or array-like, optional
        Standard error of the estimate on the analysis scale (log scale for ratio measures).

    Returns
    -------
    yi, vi : ndarray
        Float arrays (broadcast shape of the inputs; 1-D at least). ``yi`` is NaN where the
        estimate is missing; ``vi`` is NaN where neither ``se`` nor both CI limits are given.

    Raises
    ------
    InvalidParameterError
        Unknown measure, a level outside (0, 1), non-numeric input.
    ValidationError
        Non-positive values for a ratio measure, a lower limit above the upper, se <= 0.

    Warns
    -----
    StatisticalWarning
        When the estimate is outside its CI or more than 10% of the CI width away from its
        midpoint on the analysis scale (as ``conv.wald()`` checks), which suggests a CI that is
        not Wald-type or is on another scale.
    """
    fn = "effects_from_ci"
    if not isinstance(measure, str) or measure not in CI_MEASURES:
        raise InvalidParameterError(
            f"The 'measure' argument of {fn}() must be one of {list(CI_MEASURES)}. Got {measure!r}."
        )
    est = _as_float_array(estimate, "estimate", fn)
    lo = _as_float_array(ci_low, "ci_low", fn)
    hi = _as_float_array(ci_high, "ci_high", fn)
    lev = _as_float_array(level, "level", fn)
    s = _as_float_array(se, "se", fn)
    try:
        est, lo, hi, lev, s = (np.atleast_1d(a) for a in np.broadcast_arrays(est, lo, hi, lev, s))
    except ValueError as exc:
        raise InvalidParameterError(
            f"The 'estimate', 'ci_low', 'ci_high', 'level' and 'se' arguments of {fn}() must "
            f"have the same length (or be scalars). Got lengths "
            f"{[int(np.size(a)) for a in (est, lo, hi, lev, s)]}."
        ) from exc
    est, lo, hi, lev, s = (a.astype(float).copy() for a in (est, lo, hi, lev, s))
    if np.any((lev <= 0) | (lev >= 1)):
        raise InvalidParameterError(
            f"The 'level' argument of {fn}() must be a fraction in (0, 1), e.g. 0.95. "
            f"Got {np.unique(lev[(lev <= 0) | (lev >= 1)]).tolist()}."
        )
    rows = np.arange(len(est))
    if measure in LOG_MEASURES or measure == "PLO":
        for name, arr in (("estimate", est), ("ci_low", lo), ("ci_high", hi)):
            bad = arr <= 0 if measure in LOG_MEASURES else (arr <= 0) | (arr >= 1)
            if bad.any():
                need = (
                    "> 0 (ratio scale)" if measure in LOG_MEASURES else "in (0, 1) (a proportion)"
                )
                raise ValidationError(
                    f"{fn}(): '{name}' must be {need} for measure={measure!r}; "
                    f"row(s) {rows_text(rows, bad)}."
                )
    if (lo > hi).any():
        raise ValidationError(
            f"{fn}(): 'ci_low' is above 'ci_high' in row(s) {rows_text(rows, lo > hi)}."
        )
    if (s <= 0).any():
        raise ValidationError(f"{fn}(): 'se' must be > 0; row(s) {rows_text(rows, s <= 0)}.")

    if measure in LOG_MEASURES:

        def f(x):
            return np.log(x)
    elif measure == "PLO":

        def f(p):
            return np.log(p / (1 - p))
    else:

        def f(x):
            return x

    yi, flo, fhi = f(est), f(lo), f(hi)
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy.special import ndtri

    z = ndtri((1 + lev) / 2)
    vi_ci = ((fhi - flo) / (2 * z)) ** 2
    vi = np.where(np.isnan(s), vi_ci, s**2)

    width = fhi - flo
    with np.errstate(all="ignore"):
        off = np.abs((fhi + flo) / 2 - yi) / width
    check = np.isnan(s) & (width > 0)
    outside = check & ((yi < flo) | (yi > fhi))
    skewed = check & (off > 0.1)
    if (outside | skewed).any():
        warnings.warn(
            f"{fn}(): the estimate is outside its CI or not halfway between the CI limits "
            f"(on the {'log' if measure in LOG_MEASURES else 'analysis'} scale) in row(s) "
            f"{rows_text(rows, outside | skewed)}; check that the CI is a Wald-type interval "
            "on the stated scale.",
            StatisticalWarning,
            stacklevel=2,
        )
    return yi, vi
