"""Mantel-Haenszel and Peto pooling of 2x2 tables and person-time data, as metafor.

``mantel_haenszel(data, measure=...)`` is metafor's ``rma.mh()`` (OR, RR, RD from 2x2 tables;
IRR, IRD from events and person-time) and ``peto(data)`` is ``rma.peto()`` (Peto's one-step
odds ratio). Both are fixed-effect methods for sparse binary outcomes (Cochrane Handbook
10.4.4): the pooled estimate uses the counts themselves, so single-zero tables need no
continuity correction and double-zero tables drop out of the odds and risk ratios.

Zero-cell rules, exactly as metafor 3.8-1 (``add``, ``to`` and ``drop00`` take one value or a
pair, the first for the per-study ``yi``/``vi`` behind Cochran's Q, the second for the cells
of the Mantel-Haenszel / Peto computation):

* ``yi``/``vi``: ``add=0.5`` to every cell of tables with a zero cell, double-zero tables
  (no events, or only events, in both arms) set to NaN (``drop00=True``); they leave Q.
* MH / Peto cells: no correction (``add=0``, ``to="none"``, ``drop00=False``).
* When every table has a zero in the same place (for example no events in one arm), the MH
  odds and risk ratios are undefined: estimate, se, CI and Q are NaN with a
  StatisticalWarning (metafor gives NA). The MH risk difference and Peto's odds ratio stay
  defined. Peto's method raises when no table has both outcomes.

Values were checked against metafor 3.8-1 (``tests/reference/mh_peto.R``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from evidence._display import fields_html
from evidence._validate import check_bool, check_frame, check_level, numeric_column
from evidence.effects import (
    check_cell_values,
    complete_table,
    rate_core,
    rows_text,
    table_core,
    zero_correction,
)
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError

__all__ = [
    "MHResult",
    "mantel_haenszel",
    "peto",
    "mh_pool_groups",
    "pool_two_by_two",
    "MH_MEASURES",
    "TWO_BY_TWO_METHODS",
]

#: Measures accepted by :func:`mantel_haenszel`.
MH_MEASURES: tuple[str, ...] = ("OR", "RR", "RD", "IRR", "IRD")
#: ``method`` values of :func:`evidence.pool` / :func:`evidence.pool_groups` that pool counts.
TWO_BY_TWO_METHODS: tuple[str, ...] = ("MH", "PETO")
_TO = ("only0", "all", "if0all", "none")
#: Default columns of the evigap study sheet (evidence.schema) for 2x2 tables.
SHEET_COLUMNS = {"ai": "events_int", "n1i": "n_int", "ci": "events_ctrl", "n2i": "n_ctrl"}

#: Scalar fields of :class:`MHResult`, in output order.
MH_FIELDS: tuple[str, ...] = (
    "k",
    "k_yi",
    "k_pos",
    "estimate",
    "se",
    "stat",
    "p_value",
    "ci_low",
    "ci_high",
    "tau2",
    "q",
    "q_df",
    "q_p",
    "i2",
    "h2",
    "cmh",
    "cmh_p",
    "bd",
    "bd_p",
    "tarone",
    "tarone_p",
    "method",
    "measure",
    "level",
)


@dataclass(frozen=True, eq=False)
class MHResult:
    """Result of :func:`mantel_haenszel` or :func:`peto` (full precision).

    Attributes
    ----------
    k : int
        Tables used (complete tables; double zeros removed only with ``drop00[1]``).
    k_yi : int
        Tables with a per-study ``yi``/``vi`` (those behind Q).
    k_pos : int
        OR: tables in the Breslow-Day / Tarone tests; Peto: tables with a variance > 0.
        NaN where not applicable.
    estimate, se, stat, p_value, ci_low, ci_high : float
        Pooled estimate (log scale for OR, RR, IRR and Peto's OR), its standard error, the z
        statistic, its two-sided p-value and the Wald CI at ``level``.
    tau2 : float
        Always 0 (fixed-effect methods).
    q, q_df, q_p : float, int, float
        Cochran's Q of the per-study ``yi`` about the pooled estimate (Peto: Peto's Q), its
        df ``k_yi - 1`` and p-value.
    i2, h2 : float
        I^2 (percent) and H^2 from Q.
    cmh, cmh_p : float
        Cochran-Mantel-Haenszel test of no association (OR, IRR; with ``correct``), else NaN.
    bd, bd_p, tarone, tarone_p : float
        Breslow-Day test and Tarone's corrected test of homogeneous odds ratios (OR only).
    method : str
        ``"MH"`` or ``"PETO"``.
    measure : str
        ``"OR"``, ``"RR"``, ``"RD"``, ``"IRR"``, ``"IRD"`` (``"PETO"`` for Peto's OR).
    level : float
        Confidence level as a fraction.
    yi, vi : numpy.ndarray
        Per-study effect sizes and variances (one per input row, NaN where not computed).
    weights : numpy.ndarray
        Percent weights of each study in the pooled estimate (metafor ``weights()``), NaN
        for rows not used.
    """

    k: int
    k_yi: int
    k_pos: float
    estimate: float
    se: float
    stat: float
    p_value: float
    ci_low: float
    ci_high: float
    tau2: float
    q: float
    q_df: int
    q_p: float
    i2: float
    h2: float
    cmh: float
    cmh_p: float
    bd: float
    bd_p: float
    tarone: float
    tarone_p: float
    method: str
    measure: str
    level: float
    yi: np.ndarray
    vi: np.ndarray
    weights: np.ndarray

    # PoolResult vocabulary for code that reads either result (a forest plot's footer, ...)
    @property
    def ci_method(self) -> str:
        """Always ``"z"`` (normal-theory CI)."""
        return "z"

    @property
    def pi_low(self) -> float:
        """NaN: no prediction interval for a fixed-effect method."""
        return math.nan

    @property
    def pi_high(self) -> float:
        """NaN: no prediction interval for a fixed-effect method."""
        return math.nan

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame with the scalar fields as columns: ``k, k_yi, k_pos, estimate,
        se, stat, p_value, ci_low, ci_high, tau2, q, q_df, q_p, i2, h2, cmh, cmh_p, bd, bd_p,
        tarone, tarone_p, method, measure, level``."""
        return pd.DataFrame([{name: getattr(self, name) for name in MH_FIELDS}])

    def summary(self, digits: int = 4) -> str:
        """Printable metafor-like block (the only place where numbers are rounded)."""
        d = digits

        def f(x: float) -> str:
            return "NA" if isinstance(x, float) and math.isnan(x) else f"{x:.{d}f}"

        def pv(x: float) -> str:
            if isinstance(x, float) and math.isnan(x):
                return "NA"
            return f"< {10**-d:.{d}f}" if x < 10**-d else f"{x:.{d}f}"

        name = (
            "Fixed-Effects Model (Peto's method)"
            if self.method == "PETO"
            else "Fixed-Effects Model (Mantel-Haenszel method)"
        )
        lines = [f"{name}, measure {self.measure} (k = {self.k})", ""]
        if self.k_yi > 1:
            lines += [
                f"I^2 (total heterogeneity / total variability):  {f(self.i2)}%",
                f"H^2 (total variability / sampling variability): {f(self.h2)}",
                "",
                "Test for Heterogeneity:",
                f"Q(df = {self.q_df}) = {f(self.q)}, p-val {pv(self.q_p)}",
            ]
        pct = f"{100 * self.level:g}%"
        lines += [
            "",
            f"Model Results ({pct} CI):",
            "",
            f"{'estimate':>10} {'se':>10} {'zval':>10} {'pval':>10} {'ci.lb':>10} {'ci.ub':>10}",
            f"{f(self.estimate):>10} {f(self.se):>10} {f(self.stat):>10} "
            f"{pv(self.p_value):>10} {f(self.ci_low):>10} {f(self.ci_high):>10}",
        ]
        if self.measure in ("OR", "RR", "IRR", "PETO"):
            lines += [
                "",
                f"Ratio scale: {f(math.exp(self.estimate))} "
                f"[{f(math.exp(self.ci_low))}, {f(math.exp(self.ci_high))}]",
            ]
        if not math.isnan(self.cmh):
            lines += [
                "",
                f"Cochran-Mantel-Haenszel Test:    CMH = {f(self.cmh)}, df = 1, "
                f"p-val {pv(self.cmh_p)}",
            ]
        if not math.isnan(self.tarone):
            lines += [
                f"Tarone's Test for Heterogeneity: X^2 = {f(self.tarone)}, "
                f"df = {int(self.k_pos) - 1}, p-val {pv(self.tarone_p)}"
            ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"MHResult(method={self.method!r}, measure={self.measure!r}, k={self.k}, "
            f"estimate={self.estimate:.4g}, ci=[{self.ci_low:.4g}, {self.ci_high:.4g}], "
            f"p={self.p_value:.3g}, q={self.q:.4g})"
        )

    def _repr_html_(self) -> str:
        note = f" ({escape(self.method)}, {escape(self.measure)})"
        return fields_html(self, MH_FIELDS, "MHResult", note=note)


# --------------------------------------------------------------------------- arguments
def _pair(value: Any, arg: str, func: str, second: Any) -> tuple[Any, Any]:
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise InvalidParameterError(
                f"The '{arg}' argument of {func}() must be one value or a pair (per-study "
                f"yi/vi, {func} cells). Got {value!r}."
            )
        return value[0], value[1]
    return value, second


#: Checked arguments of :func:`_core` after ``method``: measure, count arrays, add, to,
#: drop00 (pairs: per-study yi/vi, MH/Peto cells), correct, level.
_Prep = tuple[
    str, list[np.ndarray], tuple[float, float], tuple[str, str], tuple[bool, bool], bool, float
]


def _options(func: str, add, to, drop00, level) -> tuple:
    add0, add1 = _pair(add, "add", func, 0.0)
    to0, to1 = _pair(to, "to", func, "none")
    d0, d1 = _pair(drop00, "drop00", func, False)
    for a in (add0, add1):
        if isinstance(a, bool) or not isinstance(a, int | float) or not np.isfinite(a) or a < 0:
            raise InvalidParameterError(
                f"The 'add' argument of {func}() must be a number >= 0 (or a pair). Got {add!r}."
            )
    for t in (to0, to1):
        if t not in _TO:
            raise InvalidParameterError(
                f"The 'to' argument of {func}() must be one of {list(_TO)} (or a pair). Got {to!r}."
            )
    d0, d1 = check_bool(d0, "drop00", func), check_bool(d1, "drop00", func)
    return (float(add0), float(add1)), (to0, to1), (d0, d1), check_level(level, func)


def _read(
    data: pd.DataFrame, func: str, cols: dict[str, str | None], rate: bool
) -> list[np.ndarray]:
    """The count columns as float arrays (validated; bi/di completed from n1i/n2i)."""
    check_frame(data, "data", func)
    given = {k: v for k, v in cols.items() if v is not None}
    needed = ("x1i", "t1i", "x2i", "t2i") if rate else ("ai", "ci")
    for arg in needed:
        if arg not in given:
            raise InvalidParameterError(f"{func}() needs the '{arg}' argument (a column name).")
    if not rate:
        for non, tot in (("bi", "n1i"), ("di", "n2i")):
            if non not in given and tot not in given:
                raise InvalidParameterError(
                    f"{func}() needs the '{non}' or the '{tot}' argument (a column name)."
                )
    values, names = {}, {}
    for arg, col in given.items():
        if not isinstance(col, str) or col not in data.columns:
            raise InvalidParameterError(
                f"The '{arg}' argument of {func}() names column {col!r}, which is not in data. "
                f"Columns: {[str(c) for c in data.columns][:20]}."
            )
        values[arg] = numeric_column(data, col, arg, func, error=ValidationError)
        names[arg] = f"column {col!r} (argument '{arg}')"
    family = "rate" if rate else "table"
    check_cell_values(values, names, data.index, family, f"{func}()")
    if rate:
        return [values["x1i"], values["t1i"], values["x2i"], values["t2i"]]
    a, b, c, d = complete_table(values, names, data.index, f"{func}()")
    check_cell_values(
        {"bi": b, "di": d},
        {"bi": "non-events of group 1 (n1i - ai)", "di": "non-events of group 2 (n2i - ci)"},
        data.index,
        "table",
        f"{func}()",
    )
    return [a, b, c, d]


# --------------------------------------------------------------------------- core
def _chi2_sf(x: float, df: float) -> float:
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy.special import chdtrc

    return float(chdtrc(df, x)) if np.isfinite(x) else math.nan


def _z_parts(beta: float, se: float, level: float) -> tuple[float, float, float, float]:
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy.special import ndtr, ndtri

    if not (np.isfinite(beta) and np.isfinite(se)):
        return (math.nan,) * 4
    if se == 0:  # e.g. a risk difference of tables without any event: metafor gives NaN z
        return math.nan, math.nan, beta, beta
    z = beta / se
    crit = float(ndtri((1 + level) / 2))
    return z, float(2 * ndtr(-abs(z))), beta - crit * se, beta + crit * se


def _core(
    method: str,
    measure: str,
    arrays: list[np.ndarray],
    add,
    to,
    drop00,
    correct: bool,
    level: float,
    labels,
    func: str,
) -> MHResult:
    rate = measure in ("IRR", "IRD")
    nan = math.nan
    k_all = len(arrays[0])
    # per-study yi / vi (first element of add, to, drop00)
    if rate:
        x1, t1, x2, t2 = (a.copy() for a in arrays)
        comp = rate_core(measure, x1, t1, x2, t2, add=add[0], to=to[0], drop00=drop00[0])
    else:
        a, b, c, d = (x.copy() for x in arrays)
        comp = table_core(
            "PETO" if method == "PETO" else measure,
            a,
            b,
            c,
            d,
            add=add[0],
            to=to[0],
            drop00=drop00[0],
            vtype="LS",
        )
    yi_all, vi_all = comp.yi, comp.vi
    # cells of the MH / Peto computation
    if rate:
        cells = [x1, x2]
        if drop00[1]:
            dz = (x1 == 0) & (x2 == 0)
            cells = [np.where(dz, np.nan, z) for z in cells]
        used = ~(np.isnan(cells[0]) | np.isnan(cells[1]) | np.isnan(t1) | np.isnan(t2))
        (x1, x2), _ = zero_correction([z[used] for z in cells], add[1], to[1])
        t1, t2 = t1[used], t2[used]
    else:
        cells = [a, b, c, d]
        if drop00[1]:
            dz = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
            cells = [np.where(dz, np.nan, z) for z in cells]
        used = ~np.isnan(np.vstack(cells)).any(axis=0)
        (a, b, c, d), _ = zero_correction([z[used] for z in cells], add[1], to[1])
    k = int(used.sum())
    if k == 0:
        raise ValidationError(
            f"{func}(): no complete table to pool (every row has a missing count)."
        )
    if k < k_all:
        warnings.warn(
            f"{func}(): {k_all - k} of {k_all} tables omitted (missing counts"
            f"{' or no events in both groups' if drop00[1] else ''}): row(s) "
            f"{rows_text(labels, ~used)}.",
            StatisticalWarning,
            stacklevel=3,
        )
    has_yi = ~(np.isnan(yi_all) | np.isnan(vi_all))
    yi, vi = yi_all[has_yi], vi_all[has_yi]
    k_yi = int(has_yi.sum())

    cmh = cmh_p = bd = bd_p = ta = ta_p = nan
    k_pos: float = nan
    with np.errstate(all="ignore"):
        if method == "PETO":
            n1, n2 = a + b, c + d
            ni = n1 + n2
            xt, yt = a + c, b + d
            ei = xt * n1 / ni
            vpeto = xt * yt * (n1 / ni) * (n2 / ni) / (ni - 1)
            vsum = float(vpeto.sum())
            if vsum == 0:
                raise ValidationError(
                    f"{func}(): one of the two outcomes never occurred in any of the tables; "
                    "Peto's method cannot be used."
                )
            beta = float((a - ei).sum() / vsum)
            se = math.sqrt(1 / vsum)
            pos = vpeto > 0
            k_pos = int(pos.sum())
            q = max(
                0.0,
                float(
                    ((a - ei)[pos] ** 2 / vpeto[pos]).sum() - (a - ei).sum() ** 2 / vpeto[pos].sum()
                ),
            )
            wi = vpeto
            het_ok = k_pos > 1
        else:
            if rate:
                tt = t1 + t2
            else:
                n1, n2 = a + b, c + d
                ni = n1 + n2
            beta = se = nan
            if measure == "OR":
                pi_, qi = a / ni + d / ni, b / ni + c / ni
                ri, si = (a / ni) * d, (b / ni) * c
                r, s = float(ri.sum()), float(si.sum())
                if r != 0 and s != 0:
                    beta = math.log(r / s)
                    se = math.sqrt(
                        0.5
                        * (
                            (pi_ * ri).sum() / r**2
                            + (pi_ * si + qi * ri).sum() / (r * s)
                            + (qi * si).sum() / s**2
                        )
                    )
                xt, yt = a + c, b + d
                if xt.sum() != 0 and yt.sum() != 0:
                    num = (abs(float((a - (n1 / ni) * xt).sum())) - (0.5 if correct else 0)) ** 2
                    cmh = num / float(((n1 / ni) * (n2 / ni) * (xt * (yt / (ni - 1)))).sum())
                    cmh_p = _chi2_sf(cmh, 1)
                if math.isnan(beta):
                    k_pos = 0
                else:
                    psi = math.exp(beta)
                    if psi == 1:
                        n11 = (n1 / ni) * xt
                    else:
                        big_a = psi * (n1 + xt) + (n2 - xt)
                        big_b = np.sqrt(big_a**2 - 4 * n1 * xt * psi * (psi - 1))
                        n11 = (big_a - big_b) / (2 * (psi - 1))
                    pos = (n11 > 0) & (xt > 0) & (yt > 0)
                    k_pos = int(pos.sum())
                    n11 = n11[pos]
                    n12 = n1[pos] - n11
                    n21 = xt[pos] - n11
                    n22 = n11 - n1[pos] - xt[pos] + ni[pos]
                    inv = 1 / (1 / n11 + 1 / n12 + 1 / n21 + 1 / n22)
                    bd = max(0.0, float(((a[pos] - n11) ** 2 / inv).sum()))
                    ta = max(0.0, bd - float((a[pos] - n11).sum()) ** 2 / float(inv.sum()))
                    if k_pos > 1:
                        bd_p, ta_p = _chi2_sf(bd, k_pos - 1), _chi2_sf(ta, k_pos - 1)
                wi = (b / ni) * c
            elif measure == "RR":
                r, s = float((a * (n2 / ni)).sum()), float((c * (n1 / ni)).sum())
                if a.sum() != 0 and c.sum() != 0:
                    beta = math.log(r / s)
                    se = math.sqrt(
                        float(((n1 / ni) * (n2 / ni) * (a + c) - (a / ni) * c).sum()) / (r * s)
                    )
                wi = (c / ni) * n1
            elif measure == "RD":
                sw = float((n1 * (n2 / ni)).sum())
                beta = float((a * (n2 / ni) - c * (n1 / ni)).sum()) / sw
                se = math.sqrt(
                    (
                        beta
                        * float(
                            (
                                c * (n1 / ni) ** 2
                                - a * (n2 / ni) ** 2
                                + (n1 / ni) * (n2 / ni) * (n2 - n1) / 2
                            ).sum()
                        )
                        + float((a * (n2 - c) / ni + c * (n1 - a) / ni).sum()) / 2
                    )
                    / sw**2
                )
                wi = (n1 / ni) * n2
            elif measure == "IRR":
                r, s = float((x1 * (t2 / tt)).sum()), float((x2 * (t1 / tt)).sum())
                if x1.sum() != 0 and x2.sum() != 0:
                    beta = math.log(r / s)
                    se = math.sqrt(float(((t1 / tt) * (t2 / tt) * (x1 + x2)).sum()) / (r * s))
                xt = x1 + x2
                if xt.sum() != 0:
                    num = (abs(float((x1 - xt * (t1 / tt)).sum())) - (0.5 if correct else 0)) ** 2
                    cmh = num / float((xt * (t1 / tt) * (t2 / tt)).sum())
                    cmh_p = _chi2_sf(cmh, 1)
                wi = (x2 / tt) * t1
            else:  # IRD
                sw = float(((t1 / tt) * t2).sum())
                beta = float(((x1 * t2 - x2 * t1) / tt).sum()) / sw
                wt = (t1 / tt) * t2
                se = math.sqrt(float((wt**2 * (x1 / t1**2 + x2 / t2**2)).sum())) / sw
                wi = (t1 / tt) * t2
            q = max(0.0, float((((yi - beta) ** 2) / vi).sum())) if np.isfinite(beta) else nan
            het_ok = k_yi > 1
    stat, p, lo, hi = _z_parts(beta, se, level)
    if math.isnan(beta):
        warnings.warn(
            f"{func}(): the Mantel-Haenszel {measure} is undefined because every "
            "table has a zero in the same arm or outcome (metafor gives NA); estimate, "
            "se, CI and Q are NaN. The risk difference or Peto's method stay defined.",
            StatisticalWarning,
            stacklevel=3,
        )
    if het_ok and np.isfinite(q):
        q_p = _chi2_sf(q, k_yi - 1)
        i2 = max(0.0, 100 * (q - (k_yi - 1)) / q) if q > 0 else 0.0
        h2 = q / (k_yi - 1)
    else:
        q_p = i2 = h2 = nan
        if not het_ok:
            q = nan
    weights = np.full(k_all, np.nan)
    with np.errstate(all="ignore"):
        weights[used] = 100 * wi / wi.sum()
    for arr in (yi_all, vi_all, weights):
        arr.setflags(write=False)
    return MHResult(
        k=k,
        k_yi=k_yi,
        k_pos=k_pos,
        estimate=float(beta),
        se=float(se),
        stat=float(stat),
        p_value=float(p),
        ci_low=float(lo),
        ci_high=float(hi),
        tau2=0.0,
        q=float(q),
        q_df=max(k_yi - 1, 0),
        q_p=float(q_p),
        i2=float(i2),
        h2=float(h2),
        cmh=float(cmh),
        cmh_p=float(cmh_p),
        bd=float(bd),
        bd_p=float(bd_p),
        tarone=float(ta),
        tarone_p=float(ta_p),
        method=method,
        measure="PETO" if method == "PETO" else measure,
        level=level,
        yi=yi_all,
        vi=vi_all,
        weights=weights,
    )


# --------------------------------------------------------------------------- public
def mantel_haenszel(
    data: pd.DataFrame,
    *,
    measure: str = "OR",
    ai: str | None = None,
    bi: str | None = None,
    ci: str | None = None,
    di: str | None = None,
    n1i: str | None = None,
    n2i: str | None = None,
    x1i: str | None = None,
    t1i: str | None = None,
    x2i: str | None = None,
    t2i: str | None = None,
    add: float | Sequence[float] = 0.5,
    to: str | Sequence[str] = "only0",
    drop00: bool | Sequence[bool] = True,
    correct: bool = True,
    level: float = 0.95,
) -> MHResult:
    """Mantel-Haenszel fixed-effect pooling, as metafor ``rma.mh()``.

    Parameters
    ----------
    data : DataFrame
        One row per study.
    measure : {"OR", "RR", "RD", "IRR", "IRD"}
        Odds ratio, risk ratio, risk difference (2x2 tables) or incidence-rate ratio and
        difference (events and person-time).
    ai, bi, ci, di, n1i, n2i : str, optional
        Columns of the 2x2 tables (as :func:`evidence.effect_sizes`); ``bi``/``di`` may be
        replaced by the group totals ``n1i``/``n2i``. When none of them is given, the study
        sheet's ``events_int``, ``n_int``, ``events_ctrl``, ``n_ctrl`` are used.
    x1i, t1i, x2i, t2i : str, optional
        Events and person-time of the two groups (IRR, IRD).
    add, to, drop00 : value or pair
        Zero-cell rules; a single value applies to the per-study ``yi``/``vi`` (for Q) and
        the MH cells get ``0``, ``"none"``, ``False`` (metafor's defaults). A pair sets both.
    correct : bool, default True
        Continuity correction of the Cochran-Mantel-Haenszel test.
    level : float, default 0.95
        Confidence level (a fraction).

    Returns
    -------
    MHResult
        Frozen result; ``to_frame()`` gives one row with the columns ``k, k_yi, k_pos,
        estimate, se, stat, p_value, ci_low, ci_high, tau2, q, q_df, q_p, i2, h2, cmh, cmh_p,
        bd, bd_p, tarone, tarone_p, method, measure, level`` (see :class:`MHResult`).

    Raises
    ------
    InvalidParameterError
        Unknown measure or option, a column missing from ``data``.
    ValidationError
        Negative counts, events > total, person-time <= 0, non-numeric values (the message
        names the column and rows), or no complete table.
    """
    func = "mantel_haenszel"
    prep = _prepare_mh(
        func,
        data,
        measure=measure,
        add=add,
        to=to,
        drop00=drop00,
        correct=correct,
        level=level,
        ai=ai,
        bi=bi,
        ci=ci,
        di=di,
        n1i=n1i,
        n2i=n2i,
        x1i=x1i,
        t1i=t1i,
        x2i=x2i,
        t2i=t2i,
    )
    return _core("MH", *prep, data.index, func)


def _prepare_mh(
    func: str, data, *, measure, add, to, drop00, correct, level, **cols: str | None
) -> _Prep:
    """Checked options and count arrays of :func:`mantel_haenszel` (the arguments of _core);
    ``cols`` are its count-column arguments (:data:`_TABLE_ARGS`, :data:`_PERSON_ARGS`)."""
    if not isinstance(measure, str) or measure.upper() not in MH_MEASURES:
        raise InvalidParameterError(
            f"The 'measure' argument of {func}() must be one of {list(MH_MEASURES)}. "
            f"Got {measure!r}."
        )
    measure = measure.upper()
    add_, to_, d00, level = _options(func, add, to, drop00, level)
    correct = check_bool(correct, "correct", func)
    rate = measure in ("IRR", "IRD")
    arrays = _read(data, func, _columns(data, rate, func=func, **cols), rate)
    return measure, arrays, add_, to_, d00, correct, level


def peto(
    data: pd.DataFrame,
    *,
    ai: str | None = None,
    bi: str | None = None,
    ci: str | None = None,
    di: str | None = None,
    n1i: str | None = None,
    n2i: str | None = None,
    add: float | Sequence[float] = 0.5,
    to: str | Sequence[str] = "only0",
    drop00: bool | Sequence[bool] = True,
    level: float = 0.95,
) -> MHResult:
    """Peto's one-step odds ratio (fixed effect), as metafor ``rma.peto()``.

    ``estimate = sum(O - E) / sum(V)`` with ``O`` the events in group 1, ``E`` their
    expectation and ``V`` the hypergeometric variance; Q is Peto's heterogeneity statistic.
    Arguments and output as :func:`mantel_haenszel` (``measure`` is ``"PETO"``; ``cmh``,
    ``bd`` and ``tarone`` are NaN; ``k_pos`` counts tables with ``V > 0``).

    Returns
    -------
    MHResult
        ``to_frame()`` columns ``k, k_yi, k_pos, estimate, se, stat, p_value, ci_low,
        ci_high, tau2, q, q_df, q_p, i2, h2, cmh, cmh_p, bd, bd_p, tarone, tarone_p, method,
        measure, level``.

    Raises
    ------
    InvalidParameterError, ValidationError
        As :func:`mantel_haenszel`; also when no table has both outcomes (sum V = 0).
    """
    func = "peto"
    prep = _prepare_peto(
        func,
        data,
        ai=ai,
        bi=bi,
        ci=ci,
        di=di,
        n1i=n1i,
        n2i=n2i,
        add=add,
        to=to,
        drop00=drop00,
        level=level,
    )
    return _core("PETO", *prep, data.index, func)


def _prepare_peto(
    func: str,
    data,
    *,
    ai=None,
    bi=None,
    ci=None,
    di=None,
    n1i=None,
    n2i=None,
    add=0.5,
    to="only0",
    drop00=True,
    level=0.95,
) -> _Prep:
    """Checked options and count arrays of :func:`peto` (the arguments of _core)."""
    add_, to_, d00, level = _options(func, add, to, drop00, level)
    cols = _columns(data, False, func=func, ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i)
    arrays = _read(data, func, cols, False)
    return "OR", arrays, add_, to_, d00, False, level


#: Count-column arguments of 2x2 tables and of person-time data.
_TABLE_ARGS = ("ai", "bi", "ci", "di", "n1i", "n2i")
_PERSON_ARGS = ("x1i", "t1i", "x2i", "t2i")


def _columns(data, rate: bool, *, func: str, **given: str | None) -> dict[str, str | None]:
    table = {k: given.get(k) for k in _TABLE_ARGS}
    person = {k: given.get(k) for k in _PERSON_ARGS}
    if rate:
        extra = [k for k, v in table.items() if v is not None]
        if extra:
            raise InvalidParameterError(
                f"The '{extra[0]}' argument of {func}() is not used with person-time measures "
                "(they use x1i, t1i, x2i, t2i)."
            )
        return person
    extra = [k for k, v in person.items() if v is not None]
    if extra:
        raise InvalidParameterError(
            f"The '{extra[0]}' argument of {func}() is used only with measure='IRR' or 'IRD'."
        )
    if all(v is None for v in table.values()) and isinstance(data, pd.DataFrame):
        absent = [c for c in SHEET_COLUMNS.values() if c not in data.columns]
        if absent:
            raise InvalidParameterError(
                f"{func}() pools 2x2 tables and needs count columns: no ai, bi, ci, di, n1i "
                "or n2i argument names them, and data lacks the study sheet's "
                f"{', '.join(repr(c) for c in absent)} (events_int, n_int, events_ctrl, "
                "n_ctrl are read by default). Effect sizes alone (yi/vi) cannot be pooled by "
                "Mantel-Haenszel or Peto; use an inverse-variance method."
            )
        return dict(SHEET_COLUMNS)
    return table


_COUNT_ARGS = ("measure", *_TABLE_ARGS, *_PERSON_ARGS, "add", "to", "drop00", "correct")


def _prepare_options(
    func: str, data: pd.DataFrame, method: str, ci_method: Any, level: Any, options: dict
) -> _Prep:
    """Checked options and count arrays for ``method`` "MH" or "PETO" (the arguments of
    :func:`_core` after the method), as :func:`pool` and :func:`evidence.pool_groups` take
    them."""
    if ci_method != "z":
        raise InvalidParameterError(
            f"The 'ci_method' argument of {func}() must be 'z' with method={method!r} "
            f"(Mantel-Haenszel and Peto use normal-theory intervals). Got {ci_method!r}."
        )
    unknown = [k for k in options if k not in _COUNT_ARGS]
    if unknown:
        raise InvalidParameterError(
            f"The '{unknown[0]}' argument of {func}() is not used with method={method!r} "
            f"(it uses {', '.join(_COUNT_ARGS)})."
        )
    if method == "PETO" and "measure" in options:
        if str(options["measure"]).upper() not in ("OR", "PETO"):
            raise InvalidParameterError(
                f"The 'measure' argument of {func}() must be 'OR' with method='PETO' (Peto's "
                f"method pools odds ratios only). Got {options['measure']!r}."
            )
        options = {k: v for k, v in options.items() if k != "measure"}
    if method == "PETO" and "correct" in options:
        raise InvalidParameterError(
            f"The 'correct' argument of {func}() is used only with method='MH'."
        )
    if method == "PETO":
        defaults = {"add": 0.5, "to": "only0", "drop00": True, "level": level}
        return _prepare_peto(func, data, **{**defaults, **options})
    cols = {k: options.get(k) for k in (*_TABLE_ARGS, *_PERSON_ARGS)}
    return _prepare_mh(
        func,
        data,
        measure=options.get("measure", "OR"),
        **cols,
        add=options.get("add", 0.5),
        to=options.get("to", "only0"),
        drop00=options.get("drop00", True),
        correct=options.get("correct", True),
        level=level,
    )


def pool_two_by_two(
    data: Any,
    *,
    method: str = "MH",
    ci_method: str = "z",
    level: float = 0.95,
    func: str = "pool",
    **options: Any,
) -> MHResult:
    """:func:`mantel_haenszel` (``method="MH"``) or :func:`peto` (``"PETO"``) with the
    arguments of :func:`evidence.pool` (``pool(data, method="MH", measure="OR", ...)``).

    ``options`` are the keyword arguments of those functions (``measure``, the count
    columns, ``add``, ``to``, ``drop00``, ``correct``); errors name ``func``'s arguments.

    Returns
    -------
    MHResult
        ``to_frame()`` columns ``k, k_yi, k_pos, estimate, se, stat, p_value, ci_low,
        ci_high, tau2, q, q_df, q_p, i2, h2, cmh, cmh_p, bd, bd_p, tarone, tarone_p, method,
        measure, level``.
    """
    method = str(method).upper()
    if not isinstance(data, pd.DataFrame):
        raise InvalidParameterError(
            f"With method={method!r}, the first argument of {func}() must be a DataFrame of "
            "2x2 counts (one row per study; columns events_int, n_int, events_ctrl, n_ctrl, "
            "or name them with ai/bi/ci/di/n1i/n2i). "
            f"Got {type(data).__name__}."
        )
    prep = _prepare_options(func, data, method, ci_method, level, options)
    return _core(method, *prep, data.index, func)


def mh_pool_groups(
    data: pd.DataFrame,
    by: str | Sequence[str],
    *,
    method: str = "MH",
    ci_method: str = "z",
    level: float = 0.95,
    **options: Any,
) -> pd.DataFrame:
    """:func:`mantel_haenszel` (``method="MH"``) or :func:`peto` (``"PETO"``) per group.

    Called by :func:`evidence.pool_groups` with ``method="MH"`` or ``"PETO"``. ``options``
    are the keyword arguments of those functions (``measure``, the count columns, ``add``,
    ``to``, ``drop00``, ``correct``). ``ci_method`` must be ``"z"`` (MH and Peto use normal
    theory). A group without any complete table gets a row with ``k = 0`` and NaN results
    (with a StatisticalWarning), so no group is lost.

    Returns
    -------
    DataFrame
        One row per group, sorted by the group keys (missing keys last), with the group
        columns followed by ``k, k_yi, k_pos, estimate, se, stat, p_value, ci_low, ci_high,
        tau2, q, q_df, q_p, i2, h2, cmh, cmh_p, bd, bd_p, tarone, tarone_p, method, measure,
        level``.
    """
    func = "pool_groups"
    check_frame(data, "data", func)
    by_list = [by] if isinstance(by, str) else list(by) if isinstance(by, Sequence) else None
    if not by_list or not all(isinstance(b, str) and b in data.columns for b in by_list):
        raise InvalidParameterError(
            f"The 'by' argument of {func}() must name column(s) of data. Got {by!r}."
        )
    prep = _prepare_options(func, data, method, ci_method, level, options)
    measure, arrays, add_, to_, d00, correct, level = prep
    rows = []
    codes = data.groupby(by_list, sort=True, dropna=False, observed=True).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    keys = list(data[by_list].iloc[order[starts]].itertuples(index=False, name=None))
    for key, pos in zip(keys, np.split(order, starts[1:]), strict=True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", StatisticalWarning)
            try:
                fit = _core(
                    method,
                    measure,
                    [a[pos] for a in arrays],
                    add_,
                    to_,
                    d00,
                    correct,
                    level,
                    data.index[pos],
                    func,
                )
                res = {f: getattr(fit, f) for f in MH_FIELDS}
            except ValidationError as exc:
                if "no complete table" not in str(exc):
                    raise
                warnings.warn(
                    f"{exc} The group's row has k = 0 and NaN results.",
                    StatisticalWarning,
                    stacklevel=2,
                )
                res = {f: math.nan for f in MH_FIELDS}
                res.update(
                    k=0,
                    k_yi=0,
                    q_df=0,
                    tau2=0.0,
                    method=method,
                    level=level,
                    measure="PETO"
                    if method == "PETO"
                    else str(options.get("measure", "OR")).upper(),
                )
        for w in caught:
            warnings.warn(f"{func}() group {key!r}: {w.message}", w.category, stacklevel=2)
        rows.append({**dict(zip(by_list, key, strict=True)), **res})
    out = pd.DataFrame(rows, columns=[*by_list, *MH_FIELDS])
    return out


# keep dataclass field names and MH_FIELDS in sync
assert set(MH_FIELDS) <= {f.name for f in fields(MHResult)}
