"""Inverse-variance pooling: fixed- and random-effects meta-analysis, validated against metafor.

``pool(yi, vi)`` fits one intercept-only model (metafor ``rma.uni``) and returns a frozen
:class:`PoolResult`; ``pool_groups(data, by)`` fits one model per group of a long table,
vectorised across groups (array arithmetic on batches of many groups; no loop over groups)
and gives numerically the same numbers as calling ``pool`` on every group.

Conventions (all as metafor 3.8-1): tau2 and I^2 are truncated at 0; I^2 and H^2 are computed
from tau2 and the typical within-study variance ``(k-1) sum(w) / ((sum w)^2 - sum(w^2))``
(conventional Q-based I^2/H^2 for the fixed-effect model); the tau2 interval is the Q-profile
interval; the prediction interval is ``estimate +/- crit * sqrt(se^2 + tau2)`` with ``crit``
from the normal distribution, or t(k-1) with Knapp-Hartung.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from evidence import _tau2
from evidence._codes import stable_order
from evidence._display import fields_html
from evidence._validate import (
    as_vector,
    check_choice,
    check_frame,
    check_level,
    numeric_column,
)
from evidence.errors import (
    ConvergenceWarning,
    InvalidParameterError,
    StatisticalWarning,
    ValidationError,
)
from evidence.mantel_haenszel import MHResult, mh_pool_groups, pool_two_by_two

__all__ = ["METHODS", "CI_METHODS", "PoolResult", "pool", "pool_groups"]

#: tau2 estimators accepted by ``method`` (``"EE"`` and ``"CE"`` are aliases of ``"FE"``).
METHODS: tuple[str, ...] = ("FE", "DL", "REML", "PM", "HE", "SJ", "ML")
#: metafor spellings accepted for ``method`` -> the name evigap uses.
METHOD_ALIASES = {"EE": "FE", "CE": "FE"}
#: Inference for the pooled estimate accepted by ``ci_method``.
CI_METHODS: tuple[str, ...] = ("z", "hksj", "hksj_adhoc")
#: metafor spellings accepted for ``ci_method`` (``test="knha"``, ``"adhoc"``) -> evigap's.
CI_ALIASES = {"knha": "hksj", "kh": "hksj", "adhoc": "hksj_adhoc"}
#: Scalar result fields, in output order (``pool_groups`` columns after the group columns).
SCALAR_FIELDS: tuple[str, ...] = (
    "k",
    "estimate",
    "se",
    "stat",
    "p_value",
    "ci_low",
    "ci_high",
    "tau2",
    "tau2_ci_low",
    "tau2_ci_high",
    "i2",
    "h2",
    "q",
    "q_df",
    "q_p",
    "pi_low",
    "pi_high",
    "method",
    "ci_method",
    "level",
)
#: Cells (studies x groups, padding included) per block in :func:`pool_groups` (see
#: :func:`_fit_batches`).
_BLOCK_CELLS = 1 << 17


# --------------------------------------------------------------------------------------------
# argument checking
# --------------------------------------------------------------------------------------------
_check_choice = check_choice
_check_level = check_level


def as_float_array(x: Any, arg: str, func: str) -> np.ndarray:
    """A one-dimensional float array from numbers only.

    Booleans and strings (also numeric ones such as ``"0.3"``) are refused with an
    :class:`InvalidParameterError`: an effect size typed as text or a True/False column passed
    by mistake is a wrong argument, not a number to guess. ``None``/NaN mark missing values.
    """
    arr = as_vector(x, arg, func)  # shape and type checks, names the first non-number
    raw = x.to_numpy() if isinstance(x, pd.Series | pd.Index) else np.asarray(x, dtype=object)
    raw = np.asarray(raw).ravel()
    if raw.dtype.kind == "b":
        raise InvalidParameterError(
            f"The '{arg}' argument of {func}() must contain numbers, not booleans (True/False)."
        )
    if raw.dtype.kind in "OUS":
        for i, val in enumerate(raw):
            if isinstance(val, bool | np.bool_ | str | bytes):
                labels = x.index if isinstance(x, pd.Series) else range(len(raw))
                kind = "a boolean" if isinstance(val, bool | np.bool_) else "text"
                raise InvalidParameterError(
                    f"The '{arg}' argument of {func}() must contain numbers only; row "
                    f"{labels[i]!r} has {kind} ({val!r}). Convert the values to numbers first."
                )
    return arr


#: Data with every |yi| <= 2**200 and every vi in [2**-200, 2**200] (about 1e+-60) are pooled
#: as given: every power up to w**3 r**2 that the solvers form stays within double range.
_SAFE_EXP = 200


def _safe_transform(y: np.ndarray, v: np.ndarray, func: str) -> tuple[float, float]:
    """A shift and a power-of-two scale ``(m, c)`` so that ``(y - m) / c`` and ``v / c**2``
    can be pooled in doubles; ``(0.0, 1.0)`` (nothing done) for ordinary data.

    Pooling is location- and scale-equivariant: estimate, CI and PI move with ``m`` and scale
    with ``c``, se with ``c``, tau2 and its CI with ``c**2``; Q, I^2, H^2, weights and p-values
    are unchanged. Dividing by a power of two is exact. Raises :class:`ValidationError` with
    the reason when no scale works: the variances span more than 2**400 (~1e120) or the
    estimates differ by more than ~1e60 standard errors, where the squared standardised
    differences or the weights leave double range (metafor would return Q = Inf with tau2 = 0
    and I^2 = 0).
    """
    lim = 2.0**_SAFE_EXP
    ay_max = max(float(y.max(initial=0.0)), -float(y.min(initial=0.0)))  # no |y| temporary
    vmin, vmax = (float(v.min()), float(v.max())) if v.size else (1.0, 1.0)
    if ay_max <= lim and 1.0 / lim <= vmin and vmax <= lim:
        return 0.0, 1.0
    shift = float(np.median(y)) if ay_max > lim else 0.0
    spread = float(np.abs(y - shift).max(initial=0.0))
    log_ratio = math.log2(vmax) - math.log2(vmin)
    c = 2.0 ** round(0.25 * (math.log2(vmin) + math.log2(vmax)))  # geometric middle of the se
    if log_ratio <= 2 * _SAFE_EXP and (spread == 0.0 or math.log2(spread / c) <= _SAFE_EXP):
        return shift, c
    if log_ratio > 2 * _SAFE_EXP:
        why = (
            f"the sampling variances range from {vmin:.3g} to {vmax:.3g}, a ratio beyond "
            f"2**{2 * _SAFE_EXP}"
        )
    else:
        why = (
            f"the estimates (up to {ay_max:.3g}) differ by about {spread / c:.3g} standard "
            f"errors (sampling variances {vmin:.3g} to {vmax:.3g})"
        )
    raise ValidationError(
        f"{func}(): the values cannot be pooled in double precision: {why}, so the squared "
        f"standardised differences and the inverse-variance weights overflow or underflow "
        f"(Q would be infinite and tau2 and I^2 meaningless). Check the units of 'yi' and "
        f"'vi' (e.g. a standard error entered as a variance, or a missing-value code such as "
        f"1e300)."
    )


def check_effect_values(
    y: np.ndarray,
    v: np.ndarray,
    func: str,
    labels: Sequence[Any],
    yname: str = "yi",
    vname: str = "vi",
) -> np.ndarray:
    """Validate finite values; return the mask of usable rows (both yi and vi present).

    Values that are present but unusable (infinite, vi <= 0) are data problems:
    :class:`ValidationError` naming the argument (or column) and the row.
    """
    keep = ~(np.isnan(y) | np.isnan(v))
    for arr, name in ((y, yname), (v, vname)):
        bad = np.flatnonzero(np.isinf(arr))
        if bad.size:
            raise ValidationError(
                f"The '{name}' argument of {func}() contains infinite values "
                f"(row {labels[bad[0]]!r}: {arr[bad[0]]}). Use NaN for a missing value."
            )
    bad = np.flatnonzero(keep & (v <= 0))
    if bad.size:
        what = "negative" if v[bad[0]] < 0 else "zero"
        raise ValidationError(
            f"The '{vname}' argument of {func}() must contain sampling variances > 0; row "
            f"{labels[bad[0]]!r} has a {what} variance ({v[bad[0]]!r}) and {bad.size} row(s) in "
            f"all are <= 0. Inverse-variance weights 1/vi are undefined for them (metafor stops "
            f"as well); fix or drop these rows."
        )
    return keep


# --------------------------------------------------------------------------------------------
# the vectorised engine (one value per group)
# --------------------------------------------------------------------------------------------
#: Warnings of a fit, in the order they are raised: flag -> (category, text).  A fit reports a
#: per-group mask under each flag that applies to its method; the warning is given when any
#: group is flagged ({count}: "this analysis" or "n groups").
_MESSAGES: dict[str, tuple[str, str]] = {
    "pm_failed": (
        "CONV",
        "The Paule-Mandel iteration did not converge for {count}; the "
        "DerSimonian-Laird estimate of tau2 was used instead (method column 'DL').",
    ),
    "likelihood_failed": (
        "CONV",
        "The {method} score iteration did not converge for {count}; "
        "tau2 from the Paule-Mandel estimator (DerSimonian-Laird if that "
        "failed too) was used instead and is named in the 'method' field.",
    ),
    "stuck": (
        "STAT",
        "The {method} iteration stopped at a local maximum below the likelihood "
        "at tau2 = 0 for {count}; tau2 was set to 0 (as metafor does).",
    ),
    "kh_fixed": (
        "STAT",
        "The Knapp-Hartung method is not meant to be used with a "
        "fixed-effect model (computed anyway, as metafor does).",
    ),
    "kh_single": (
        "STAT",
        "The Knapp-Hartung interval needs k >= 2 studies; se, test and "
        "interval are NaN for {count} with k = 1.",
    ),
    "qprofile_failed": (
        "CONV",
        "The Q-profile interval for tau2 did not converge for {count}; its bounds are NaN.",
    ),
    "nonfinite": (
        "STAT",
        "Floating-point overflow or underflow in {count}: the estimate, "
        "tau2, Q or I2 is not finite and must not be interpreted (check the units "
        "of yi and vi).",
    ),
    "single": (
        "STAT",
        "Only one study in {count}: tau2, its interval, I2, H2, Q and the "
        "prediction interval cannot be estimated and are NaN; the estimate is that "
        "study's own result.",
    ),
}


def _fit(
    seg: _tau2.Segments, method: str, ci_method: str, level: float, weights: bool = True
) -> tuple[dict[str, np.ndarray], np.ndarray | None, dict[str, np.ndarray]]:
    """Fit every group of ``seg``.

    Returns (columns, per-study percent weights, per-group warning flags of :data:`_MESSAGES`).
    numpy's floating-point RuntimeWarnings are silenced here: every non-finite result that
    can arise is either expected (NaN for k = 1, an infinite KH statistic when s2w = 0) or
    reported as the evigap warning "nonfinite".
    """
    with np.errstate(all="ignore"):
        cols, w, flags = _fit_arrays(seg, method, ci_method, level, weights)
    multi = seg.k > 1
    bad = np.zeros(len(seg.k), dtype=bool)
    for name in ("estimate", "tau2", "q", "i2"):
        col = cols[name].astype(float)
        bad |= multi & ~np.isfinite(col)
    flags["nonfinite"] = bad
    return cols, w, flags


def _fit_arrays(
    seg: _tau2.Segments, method: str, ci_method: str, level: float, want_weights: bool = True
) -> tuple[dict[str, np.ndarray], np.ndarray | None, dict[str, np.ndarray]]:
    """The arithmetic of :func:`_fit` (per-study weights only if ``want_weights``)."""
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import special

    flags: dict[str, np.ndarray] = {}
    k = seg.k
    n = len(k)
    multi = k > 1
    methods_used = _object_column(method, n)

    if method == "FE":
        tau2 = _tau2.tau2_fixed(seg)
    elif method == "DL":
        tau2 = _tau2.tau2_dl(seg)
    elif method == "HE":
        tau2 = _tau2.tau2_he(seg)
    elif method == "SJ":
        tau2 = _tau2.tau2_sj(seg)
    elif method == "PM":
        tau2, conv = _tau2.tau2_pm(seg)
        failed = flags["pm_failed"] = multi & ~conv
        if failed.any():
            tau2_dl = _tau2.tau2_dl(seg)
            tau2 = np.where(failed, tau2_dl, tau2)
            methods_used[failed] = "DL"
    else:  # ML, REML
        tau2, conv, stuck = _tau2.tau2_likelihood(seg, reml=method == "REML")
        failed = flags["likelihood_failed"] = multi & ~conv
        flags["stuck"] = stuck
        if failed.any():
            tau2_pm, conv_pm = _tau2.tau2_pm(seg)
            tau2_dl = _tau2.tau2_dl(seg)
            use_pm = failed & conv_pm
            use_dl = failed & ~conv_pm
            tau2 = np.where(use_pm, tau2_pm, np.where(use_dl, tau2_dl, tau2))
            methods_used[use_pm] = "PM"
            methods_used[use_dl] = "DL"
    tau2 = np.where(multi, np.maximum(tau2, 0.0), 0.0)

    # pooled estimate and, at the same tau2, the generalised Q (Knapp-Hartung's residual sum
    # of squares) and its slope (the first Newton step of the tau2 CI): one pass
    sw, est, rss, dq = _tau2.final_sums(seg, tau2)
    var = 1.0 / sw
    df = (k - 1).astype(float)
    df_nan = np.where(multi, df, np.nan)

    if ci_method == "z":
        se = np.sqrt(var)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = est / se
        p = 2.0 * special.ndtr(-np.abs(stat))
        crit = np.full(n, -special.ndtri((1.0 - level) / 2.0))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            s2w = np.where(rss <= _tau2.EPS, 0.0, rss / df)
        if ci_method == "hksj_adhoc":
            s2w = np.maximum(s2w, 1.0)
        s2w = np.where(multi, s2w, np.nan)
        se = np.sqrt(s2w * var)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = est / se
            p = 2.0 * special.stdtr(df_nan, -np.abs(stat))
            uniq, inv = np.unique(df_nan, return_inverse=True)  # one quantile per distinct k
            crit = -special.stdtrit(uniq, (1.0 - level) / 2.0)[inv.reshape(-1)]
        if method == "FE":
            flags["kh_fixed"] = np.ones(n, dtype=bool)
        flags["kh_single"] = ~multi
    ci_low = est - crit * se
    ci_high = est + crit * se

    # heterogeneity (from the fixed-effect weights, computed once per block)
    sw0, _, q_raw, sw20, _ = seg.fixed  # q_raw: generalised Q at tau2 = 0
    q = np.maximum(q_raw, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q_p = special.chdtrc(df_nan, q)
        if method == "FE":
            i2 = np.maximum(100.0 * (q - df) / q, 0.0)
            i2 = np.where(np.isnan(i2), 0.0, i2)
            h2 = q / df
        else:
            vt = df / (sw0 - sw20 / sw0)
            i2 = 100.0 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1.0

    if method == "FE":
        tau2_lo = tau2_hi = np.full(n, np.nan)
        pi_low = pi_high = np.full(n, np.nan)
    else:
        tau2_lo, tau2_hi, ci_conv = _tau2.qprofile_ci(
            seg,
            level,
            start=tau2,
            q0=q_raw,
            q_start=rss,
            dq_start=dq,  # -Q'(tau2)
        )
        flags["qprofile_failed"] = multi & ~ci_conv
        if flags["qprofile_failed"].any():
            tau2_lo = np.where(ci_conv, tau2_lo, np.nan)
            tau2_hi = np.where(ci_conv, tau2_hi, np.nan)
        half = crit * np.sqrt(se * se + tau2)
        pi_low, pi_high = est - half, est + half

    nan = np.nan
    cols = {
        "k": k.astype(np.int64),
        "estimate": est,
        "se": se,
        "stat": stat,
        "p_value": p,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "tau2": np.where(multi, tau2, nan),
        "tau2_ci_low": np.where(multi, tau2_lo, nan),
        "tau2_ci_high": np.where(multi, tau2_hi, nan),
        "i2": np.where(multi, i2, nan),
        "h2": np.where(multi, h2, nan),
        "q": np.where(multi, q, nan),
        "q_df": (k - 1).astype(np.int64),
        "q_p": np.where(multi, q_p, nan),
        "pi_low": np.where(multi, pi_low, nan),
        "pi_high": np.where(multi, pi_high, nan),
        "method": methods_used,
    }
    flags["single"] = ~multi
    weights = seg.flat(100.0 / (seg.v + tau2) / sw) if want_weights else None
    return cols, weights, flags


def _fit_batches(
    y: np.ndarray, v: np.ndarray, k: np.ndarray, method: str, ci_method: str, level: float
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """:func:`_fit` of the groups of sizes ``k`` (studies sorted by group) in blocks.

    Groups are fitted independently of each other, so the results are those of one call.
    Each block is a dense (studies x groups) array of about :data:`_BLOCK_CELLS` cells: small
    enough for the solvers' temporaries to stay in cache and be recycled by the allocator
    (fresh megabyte-sized temporaries cost more in page faults than in arithmetic), large
    enough for numpy's per-call overhead not to matter. Groups of different sizes are taken
    in order of k (stable), so a block pads its columns to at most about twice their size.
    Returns (columns, flags) over all groups, in the input order.
    """
    n = len(k)
    starts = np.cumsum(k) - k
    kmax = int(k.max())
    equal = bool(np.all(k == kmax))
    order = None if equal else np.argsort(k, kind="stable")
    ks = k if order is None else k[order]
    cols: list[dict[str, np.ndarray]] = []
    flags: list[dict[str, np.ndarray]] = []
    work = _tau2.Workspace()
    first = 0
    while first < n:
        kb = int(ks[first])
        last = min(n, first + max(1, _BLOCK_CELLS // kb))
        if not equal:  # at most ~2x padding: stop before the first group with k > 2 kb
            last = min(last, max(first + 1, int(np.searchsorted(ks, 2 * kb, side="right"))))
        if order is None:
            start, stop = int(starts[first]), int(starts[last - 1] + k[last - 1])
            seg = _tau2.Segments.from_sorted(y[start:stop], v[start:stop], k[first:last], work)
        else:
            g = order[first:last]
            kg = k[g]
            ends = np.cumsum(kg)
            rows = np.repeat(starts[g] - (ends - kg), kg) + np.arange(ends[-1])
            seg = _tau2.Segments.from_sorted(y[rows], v[rows], kg, work)
        c, _, f = _fit(seg, method, ci_method, level, weights=False)
        cols.append(c)
        flags.append(f)
        first = last
    out_cols = {name: np.concatenate([c[name] for c in cols]) for name in cols[0]}
    out_flags = {name: np.concatenate([f[name] for f in flags]) for name in flags[0]}
    if order is not None:
        for d in (out_cols, out_flags):
            for name, col in d.items():
                back = np.empty_like(col)
                back[order] = col
                d[name] = back
    return out_cols, out_flags


def _messages(flags: dict[str, np.ndarray], method: str) -> list[str]:
    """The warnings ("CATEGORY:text") for the groups flagged by a fit."""
    out = []
    for name, (kind, text) in _MESSAGES.items():
        if name in flags and flags[name].any():
            out.append(f"{kind}:" + text.format(count=_count(flags[name]), method=method))
    return out


def _count(mask: np.ndarray) -> str:
    m = int(np.count_nonzero(mask))
    if len(mask) == 1:
        return "this analysis"
    return f"{m} group{'s' if m != 1 else ''}"


def _emit(messages: list[str], func: str) -> None:
    for msg in messages:
        kind, text = msg.split(":", 1)
        category = ConvergenceWarning if kind == "CONV" else StatisticalWarning
        warnings.warn(f"{func}(): {text}", category, stacklevel=3)


# --------------------------------------------------------------------------------------------
# result object
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)  # eq=False: results hold an array; compare fields instead
class PoolResult:
    """Result of :func:`pool` (full precision; rounding happens only in :meth:`summary`).

    Attributes
    ----------
    k : int
        Number of studies used (rows with a missing ``yi`` or ``vi`` are dropped).
    estimate, se : float
        Pooled estimate and its standard error (Knapp-Hartung-scaled with ``ci_method="hksj"``).
    stat, p_value : float
        z statistic (or t on k - 1 df with Knapp-Hartung) and its two-sided p-value.
    ci_low, ci_high : float
        Confidence interval of the pooled estimate at ``level``.
    tau2 : float
        Between-study variance (0 for ``method="FE"``; NaN when k = 1).
    tau2_ci_low, tau2_ci_high : float
        Q-profile confidence interval for tau2 (NaN for FE and k = 1).
    i2, h2 : float
        I^2 (percent) and H^2 from tau2 as in metafor (Q-based for FE).
    q, q_df, q_p : float, int, float
        Cochran's Q (fixed-effect weights), its degrees of freedom k - 1 and p-value.
    pi_low, pi_high : float
        Prediction interval for the effect in a new study (NaN for FE and k = 1).
    method, ci_method : str
        tau2 estimator actually used (a fallback is named here) and the CI method.
    level : float
        Confidence level as a fraction.
    weights : numpy.ndarray
        Read-only percent weights, one per input row (NaN for rows that were dropped).
    """

    k: int
    estimate: float
    se: float
    stat: float
    p_value: float
    ci_low: float
    ci_high: float
    tau2: float
    tau2_ci_low: float
    tau2_ci_high: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_p: float
    pi_low: float
    pi_high: float
    method: str
    ci_method: str
    level: float
    weights: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy DataFrame with every scalar field as a column (weights excluded):
        ``k, estimate, se, stat, p_value, ci_low, ci_high, tau2, tau2_ci_low, tau2_ci_high, i2,
        h2, q, q_df, q_p, pi_low, pi_high, method, ci_method, level``."""
        return pd.DataFrame([{name: getattr(self, name) for name in SCALAR_FIELDS}])

    def summary(self, digits: int = 4) -> str:
        """Printable metafor-like block (the only place where numbers are rounded)."""
        d = digits

        def f(x: float) -> str:
            return "NA" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"

        def pv(x: float) -> str:
            if isinstance(x, float) and math.isnan(x):
                return "NA"
            return f"< {10**-d:.{d}f}" if x < 10**-d else f"{x:.{d}f}"

        pct = f"{100 * self.level:g}%"
        head = (
            f"Fixed-Effects Model (k = {self.k})"
            if self.method == "FE"
            else f"Random-Effects Model (k = {self.k}; tau^2 estimator: {self.method})"
        )
        lines = [head, ""]
        if self.method != "FE" and self.k > 1:
            lines += [
                f"tau^2 (estimated amount of total heterogeneity): {f(self.tau2)} "
                f"({pct} Q-profile CI: {f(self.tau2_ci_low)} to {f(self.tau2_ci_high)})",
                f"tau (square root of estimated tau^2 value):      {f(math.sqrt(self.tau2))}",
            ]
        if self.k > 1:
            lines += [
                f"I^2 (total heterogeneity / total variability):   {self.i2:.2f}%",
                f"H^2 (total variability / sampling variability):  {self.h2:.2f}",
                "",
                "Test for Heterogeneity:",
                f"Q(df = {self.q_df}) = {f(self.q)}, p-val {pv(self.q_p)}",
            ]
        else:
            lines.append("Heterogeneity: not estimable with k = 1")
        ci_name = {
            "z": "normal (z)",
            "hksj": "Knapp-Hartung t",
            "hksj_adhoc": "Knapp-Hartung t (ad hoc, s2w >= 1)",
        }[self.ci_method]
        stat_name = "zval" if self.ci_method == "z" else "tval"
        lines += [
            "",
            f"Model Results ({ci_name}, {pct} CI):",
            "",
            f"{'estimate':>10} {'se':>10} {stat_name:>10} {'pval':>10} {'ci.lb':>10} {'ci.ub':>10}",
            f"{f(self.estimate):>10} {f(self.se):>10} {f(self.stat):>10} {pv(self.p_value):>10} "
            f"{f(self.ci_low):>10} {f(self.ci_high):>10}",
        ]
        if self.method != "FE" and self.k > 1:
            lines += ["", f"{pct} prediction interval: {f(self.pi_low)} to {f(self.pi_high)}"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        het = "" if self.method == "FE" else f", tau2={self.tau2:.4g}"
        return (
            f"PoolResult(k={self.k}, method={self.method!r}, ci_method={self.ci_method!r}, "
            f"estimate={self.estimate:.4g}, ci=[{self.ci_low:.4g}, {self.ci_high:.4g}], "
            f"p={self.p_value:.3g}{het}, i2={self.i2:.3g})"
        )

    def _repr_html_(self) -> str:
        note = f" ({escape(self.method)}, {escape(self.ci_method)})"
        return fields_html(self, SCALAR_FIELDS, "PoolResult", note=note)


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------
@overload
def pool(
    yi: Any,
    vi: None = None,
    *,
    method: Literal["MH", "PETO"],
    ci_method: str = "z",
    level: float = 0.95,
    **counts: Any,
) -> MHResult: ...


@overload
def pool(
    yi: Any,
    vi: Any,
    *,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
) -> PoolResult: ...


def pool(
    yi: Any,
    vi: Any = None,
    *,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    **counts: Any,
) -> PoolResult | MHResult:
    """Pool study effects with an inverse-variance fixed- or random-effects model, or 2x2
    tables by Mantel-Haenszel or Peto (``pool(data, method="MH", measure="OR")``).

    Parameters
    ----------
    yi : array-like of float
        Study effect sizes (ratio measures on the log scale). NaN marks a missing value.
    vi : array-like of float
        Sampling variances, > 0. Rows where ``yi`` or ``vi`` is NaN are dropped with a
        :class:`~evidence.errors.StatisticalWarning` saying how many.
    method : {"REML", "FE", "EE", "DL", "PM", "HE", "SJ", "ML"}
        tau2 estimator (metafor ``method``); ``"FE"``/``"EE"`` fit the fixed-effect model.
        ML/REML solve the score equation by bracketed Newton from the HE start; PM solves
        the generalised Q equation. If ML/REML fail to converge, PM (else DL) is used with a
        :class:`~evidence.errors.ConvergenceWarning` and the ``method`` field says so.
    ci_method : {"z", "hksj", "hksj_adhoc"}
        ``"z"``: normal-theory inference (metafor ``test="z"``). ``"hksj"``: Knapp-Hartung,
        ``se * sqrt(s2w)`` with ``s2w = sum w (y - mu)^2 / (k - 1)`` and t on k - 1 df
        (``test="knha"``); ``"hksj_adhoc"``: the same with ``s2w`` floored at 1
        (``test="adhoc"``). Also used for the prediction interval.
    level : float
        Confidence level, a fraction (0.95).
    **counts
        Only with ``method="MH"`` or ``"PETO"``: ``yi`` is then a DataFrame of 2x2 tables (one
        row per study; ``vi`` not given) and ``counts`` are the keyword arguments of
        :func:`evidence.mantel_haenszel` / :func:`evidence.peto`: ``measure`` ("OR", "RR",
        "RD", "IRR", "IRD"; Peto: "OR"), the count columns (``ai, bi, ci, di, n1i, n2i`` or
        ``x1i, t1i, x2i, t2i``; default the study sheet's ``events_int, n_int, events_ctrl,
        n_ctrl``), ``add``, ``to``, ``drop00`` (metafor ``rma.mh`` zero-cell rules) and
        ``correct``. ``ci_method`` must be ``"z"``.

    Returns
    -------
    PoolResult
        Frozen result with fields ``k, estimate, se, stat, p_value, ci_low, ci_high, tau2,
        tau2_ci_low, tau2_ci_high, i2, h2, q, q_df, q_p, pi_low, pi_high, method, ci_method,
        level, weights`` (see :class:`PoolResult`).  With ``method="MH"``/``"PETO"`` an
        :class:`evidence.MHResult` (``k, k_yi, k_pos, estimate, se, stat, p_value, ci_low,
        ci_high, tau2, q, q_df, q_p, i2, h2, cmh, cmh_p, bd, bd_p, tarone, tarone_p, method,
        measure, level`` and the arrays ``yi, vi, weights``; ``pi_low``/``pi_high`` NaN).

    Raises
    ------
    InvalidParameterError
        Unknown option, mismatched lengths, non-numeric or infinite values, ``vi <= 0``, or
        no study with both ``yi`` and ``vi``.

    Notes
    -----
    With k = 1 the estimate, se and z interval are the study's own; heterogeneity statistics,
    the tau2 interval and the prediction interval are NaN (with a StatisticalWarning).
    """
    func = "pool"
    # --- Mantel-Haenszel / Peto pooling of counts lives in evidence.mantel_haenszel ----------
    if isinstance(method, str) and method.strip().upper() in ("MH", "PETO"):
        if vi is not None:
            raise InvalidParameterError(
                f"With method={method!r}, pool() takes a DataFrame of 2x2 counts as its only "
                "positional argument; the 'vi' argument is not used (the per-study variances "
                "come from the counts)."
            )
        return pool_two_by_two(
            yi, method=method.strip().upper(), ci_method=ci_method, level=level, **counts
        )
    if counts:
        raise InvalidParameterError(
            f"The '{next(iter(counts))}' argument of pool() is used only with method='MH' or "
            "method='PETO' (pooling of 2x2 tables)."
        )
    if vi is None:
        raise InvalidParameterError("pool() needs the 'vi' argument (sampling variances).")
    # -----------------------------------------------------------------------------------------
    method = _check_choice(method, "method", func, METHODS, METHOD_ALIASES)
    ci_method = _check_choice(ci_method, "ci_method", func, CI_METHODS, CI_ALIASES)
    level = _check_level(level, func)
    y = as_float_array(yi, "yi", func)
    v = as_float_array(vi, "vi", func)
    if len(y) != len(v):
        raise InvalidParameterError(
            f"The 'yi' and 'vi' arguments of pool() must have the same length. "
            f"Got {len(y)} and {len(v)}."
        )
    keep = check_effect_values(y, v, func, range(len(y)))
    n_drop = int(len(y) - keep.sum())
    if keep.sum() == 0:
        raise ValidationError(
            f"pool() needs at least one study with both 'yi' and 'vi'; all {len(y)} rows have "
            f"a missing value."
        )
    if n_drop:
        warnings.warn(
            f"pool(): {n_drop} of {len(y)} rows dropped because 'yi' or 'vi' is "
            f"missing (NaN); k = {int(keep.sum())} studies remain.",
            StatisticalWarning,
            stacklevel=2,
        )
    m, c = _safe_transform(y[keep], v[keep], func)
    seg = _tau2.Segments.from_sorted((y[keep] - m) / c, v[keep] / (c * c), np.array([keep.sum()]))
    cols, w, flags = _fit(seg, method, ci_method, level)
    if c != 1.0 or m != 0.0:
        _unscale(cols, m, c, ci_method)
    _emit(_messages(flags, method), func)
    weights = np.full(len(y), np.nan)
    weights[keep] = w
    weights.setflags(write=False)
    values = {name: col[0] for name, col in cols.items()}
    return PoolResult(
        k=int(values["k"]),
        estimate=float(values["estimate"]),
        se=float(values["se"]),
        stat=float(values["stat"]),
        p_value=float(values["p_value"]),
        ci_low=float(values["ci_low"]),
        ci_high=float(values["ci_high"]),
        tau2=float(values["tau2"]),
        tau2_ci_low=float(values["tau2_ci_low"]),
        tau2_ci_high=float(values["tau2_ci_high"]),
        i2=float(values["i2"]),
        h2=float(values["h2"]),
        q=float(values["q"]),
        q_df=int(values["q_df"]),
        q_p=float(values["q_p"]),
        pi_low=float(values["pi_low"]),
        pi_high=float(values["pi_high"]),
        method=str(values["method"]),
        ci_method=ci_method,
        level=level,
        weights=weights,
    )


def pool_groups(
    data: pd.DataFrame,
    by: str | Sequence[str],
    *,
    yi: str = "yi",
    vi: str = "vi",
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    **counts: Any,
) -> pd.DataFrame:
    """Pool every group of a long table at once (vectorised across groups).

    Gives the same numbers as calling :func:`pool` on each group (to ~1e-12), but all groups
    are solved together, in blocks laid out as dense (studies x groups) arrays, so 10,000
    groups of 20 studies take a few tens of milliseconds.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per study.
    by : str or list of str
        Grouping column(s). Missing keys form their own group (no row is lost).
    yi, vi : str
        Names of the effect-size and sampling-variance columns. Rows with a missing value are
        dropped with one StatisticalWarning; a group left with no study has ``k = 0`` and NaN.
    method, ci_method, level
        As in :func:`pool`. ``method="MH"`` or ``"PETO"`` pools 2x2 tables (or person-time)
        per group with :func:`evidence.mantel_haenszel` / :func:`evidence.peto` instead.
    **counts
        Only with ``method="MH"``/``"PETO"``: ``measure`` and the count columns (``ai, bi, ci,
        di, n1i, n2i`` or ``x1i, t1i, x2i, t2i``; default the sheet's ``events_int, n_int,
        events_ctrl, n_ctrl``), ``add``, ``to``, ``drop00``, ``correct``. The result then has
        the columns of :func:`evidence.mantel_haenszel.mh_pool_groups`.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by the group keys, with the group columns followed by
        ``k`` (studies used), ``estimate``, ``se``, ``stat``, ``p_value``, ``ci_low``,
        ``ci_high``, ``tau2``, ``tau2_ci_low``, ``tau2_ci_high`` (Q-profile), ``i2``, ``h2``,
        ``q``, ``q_df``, ``q_p``, ``pi_low``, ``pi_high``, ``method`` (estimator actually
        used; names a fallback), ``ci_method`` and ``level`` (definitions as in
        :class:`PoolResult`). Groups with k = 1 have NaN heterogeneity statistics.
    """
    func = "pool_groups"
    # --- engine-a: Mantel-Haenszel / Peto pooling lives in evidence.mantel_haenszel --------
    if isinstance(method, str) and method.strip().upper() in ("MH", "PETO"):
        if (yi, vi) != ("yi", "vi"):
            raise InvalidParameterError(
                f"The '{'yi' if yi != 'yi' else 'vi'}' argument of pool_groups() is not used "
                f"with method={method!r}: Mantel-Haenszel and Peto pool the 2x2 counts (name "
                "them with ai, bi, ci, di, n1i, n2i)."
            )
        return mh_pool_groups(
            data, by, method=method.strip().upper(), ci_method=ci_method, level=level, **counts
        )
    if counts:
        raise InvalidParameterError(
            f"The '{next(iter(counts))}' argument of pool_groups() is used only with "
            "method='MH' or method='PETO' (pooling of 2x2 tables)."
        )
    # ---------------------------------------------------------------------------------------
    check_frame(data, "data", func)
    by_list = [by] if isinstance(by, str) else list(by) if isinstance(by, Sequence) else None
    if not by_list or not all(isinstance(b, str) for b in by_list):
        raise InvalidParameterError(
            f"The 'by' argument of pool_groups() must be a column name or a list of column "
            f"names. Got {by!r}."
        )
    for arg, col in [("by", b) for b in by_list] + [("yi", yi), ("vi", vi)]:
        if not isinstance(col, str) or col not in data.columns:
            raise InvalidParameterError(
                f"The '{arg}' argument of pool_groups() names column {col!r}, which is not in "
                f"data. Columns: {list(map(str, data.columns))}."
            )
    check_frame(data, "data", func, columns=[*by_list, yi, vi])
    if yi in by_list or vi in by_list:
        raise InvalidParameterError(
            "The 'by' argument of pool_groups() must not include the 'yi' or 'vi' column."
        )
    method = _check_choice(method, "method", func, METHODS, METHOD_ALIASES)
    ci_method = _check_choice(ci_method, "ci_method", func, CI_METHODS, CI_ALIASES)
    level = _check_level(level, func)
    y = numeric_data_column(data, yi, "yi")
    v = numeric_data_column(data, vi, "vi")
    keep = check_effect_values(y, v, func, data.index, yname=yi, vname=vi)

    presorted = _presorted_sizes(data, by_list)
    order: np.ndarray | None  # None: the rows are already grouped (one sorted numeric key)
    if presorted is not None:  # no hashing, no sort, no per-row code or order array
        rows_per_group = presorted
        n_groups = len(rows_per_group)
        order = None
        first = np.cumsum(rows_per_group) - rows_per_group
    else:
        codes, n_groups = _group_codes(data, by_list)
        order = stable_order(codes, n_groups)
        rows_per_group = np.bincount(codes, minlength=n_groups)
        first = order[np.cumsum(rows_per_group) - rows_per_group]
    keys = {b: data[b].take(first).reset_index(drop=True) for b in dict.fromkeys(by_list)}

    n_drop = int(len(y) - keep.sum())
    if n_drop:
        warnings.warn(
            f"pool_groups(): {n_drop} of {len(y)} rows dropped because '{yi}' or "
            f"'{vi}' is missing (NaN).",
            StatisticalWarning,
            stacklevel=2,
        )
    all_rows = bool(keep.all())
    if all_rows:
        k_all = rows_per_group
    else:
        if order is None:
            order = np.arange(len(y))
            codes = np.repeat(np.arange(n_groups), rows_per_group)
        order = order[keep[order]]  # the usable rows, grouped, in their original order per group
        k_all = np.bincount(codes[keep], minlength=n_groups)
    present = k_all > 0
    out = {name: np.full(n_groups, np.nan) for name in SCALAR_FIELDS[:-3]}
    out["k"] = k_all.astype(np.int64)
    out["q_df"] = np.maximum(k_all - 1, 0).astype(np.int64)
    out["method"] = _object_column(method, n_groups)
    if present.any():
        ys, vs = (y, v) if order is None else (y[order], v[order])
        m, c = _safe_transform(ys, vs, func)
        if c != 1.0 or m != 0.0:
            ys, vs = (ys - m) / c, vs / (c * c)
        cols, flags = _fit_batches(ys, vs, k_all[present], method, ci_method, level)
        if c != 1.0 or m != 0.0:
            _unscale(cols, m, c, ci_method)
        every = bool(present.all())
        for name, fitted in cols.items():
            if every:
                out[name] = fitted
            else:
                out[name][present] = fitted
        _emit(_messages(flags, method), func)
    if (~present).any():
        warnings.warn(
            f"pool_groups(): {int((~present).sum())} group(s) have no study with both "
            f"'{yi}' and '{vi}'; their row has k = 0 and NaN results.",
            StatisticalWarning,
            stacklevel=2,
        )
    # one DataFrame from whole columns (no insertions, each of which copies pandas' block
    # layout); a group column named like a result column is replaced by the result
    columns: dict[str, Any] = {b: keys[b] for b in by_list if b not in SCALAR_FIELDS}
    columns.update({name: out[name] for name in SCALAR_FIELDS[:-3]})
    same = (out["method"] == method).all()
    columns["method"] = _constant_text(method, n_groups) if same else out["method"]
    columns["ci_method"] = _constant_text(ci_method, n_groups)
    columns["level"] = np.full(n_groups, level)
    return pd.DataFrame(columns)


def _object_column(text: str, n: int) -> np.ndarray:
    """``n`` copies of ``text`` as an object array (5x faster than ``np.full``)."""
    return np.array([text], dtype=object).repeat(n)


def _constant_text(text: str, n: int) -> Any:
    """A column of ``n`` copies of ``text``, with the dtype pandas infers for text, without
    inferring it n times."""
    return pd.Series(np.array([text], dtype=object)).array.take(np.zeros(n, dtype=np.intp))


def _presorted_sizes(data: pd.DataFrame, by: list[str]) -> np.ndarray | None:
    """Rows per group when the table is already sorted by a single numeric key (common for
    long tables written group by group), in the numbering of :func:`_group_codes`; None
    otherwise."""
    if len(by) != 1 or len(data) == 0:
        return None
    col = data[by[0]]
    dtype = col.dtype
    if (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or not is_numeric_dtype(dtype)
        or not isinstance(dtype, np.dtype)
    ):
        return None
    a = col.to_numpy()
    if a.dtype.kind == "f" and np.isnan(a).any():
        return None
    if not bool(np.all(a[1:] >= a[:-1])):
        return None
    ends = np.flatnonzero(a[1:] != a[:-1]) + 1  # the first row of every group but the first
    return np.diff(ends, prepend=0, append=len(a))


def _group_codes(data: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, int]:
    """Group number per row and the number of groups.

    The numbering of ``data.groupby(by, sort=True, dropna=False).ngroup()`` (groups sorted by
    the keys, categoricals in category order, missing keys last), from the codes of each key
    column, which is much faster than the groupby for string and categorical keys.
    """
    combined = np.zeros(len(data), dtype=np.int64)
    size = 1  # number of possible values of ``combined``
    for col in by:
        codes, n = _sorted_codes(data[col])
        if size * n >= 2**62:  # renumber so that the mixed-radix code cannot overflow
            combined, size = _dense(combined, size)
        combined = combined * n + codes
        size *= n
    return _dense(combined, size)


def _dense(codes: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """``codes`` (in ``0 .. size - 1``) renumbered 0, 1, ... in the same order, and how many."""
    if size <= 4 * len(codes) + 1024:  # a lookup table is cheaper than hashing
        present = np.bincount(codes, minlength=size) > 0
        rank = np.cumsum(present) - 1
        return rank[codes], int(present.sum())
    dense = pd.factorize(codes, sort=True)[0]
    return dense, int(dense.max()) + 1 if len(dense) else 0


def _sorted_codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Codes of one key column in groupby's sort order, and how many codes there can be."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        n = len(values.dtype.categories)
        codes = values.cat.codes.to_numpy().astype(np.int64)
        return np.where(codes < 0, n, codes), n + 1
    # factorize(sort=True) sorts the codes of every row; ranking the few distinct values and
    # renumbering the rows is the same numbering with less memory
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    rank = pd.factorize(uniques, sort=True, use_na_sentinel=False)[0]
    return rank[codes], len(uniques)


def numeric_data_column(
    data: pd.DataFrame, col: str, arg: str, func: str = "pool_groups"
) -> np.ndarray:
    """Column ``col`` as floats: numbers only (a text or boolean cell is a ValidationError
    naming the column and the row); :func:`evidence._validate.numeric_column` with
    ``error=ValidationError``."""
    return numeric_column(data, col, arg, func, error=ValidationError)


#: Result columns in the units of yi (shifted back by m, multiplied by c) and of vi (c**2).
_LOCATION_COLS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
_VARIANCE_COLS = ("tau2", "tau2_ci_low", "tau2_ci_high")


def _unscale(cols: dict[str, np.ndarray], m: float, c: float, ci_method: str) -> None:
    """Undo :func:`_safe_transform` on the result columns (in place); the test statistic and
    its p-value are recomputed when the data were shifted (they are not shift-invariant)."""
    for name in _LOCATION_COLS:
        cols[name] = cols[name] * c + m
    cols["se"] = cols["se"] * c
    for name in _VARIANCE_COLS:
        cols[name] = cols[name] * (c * c)
    if m != 0.0:
        # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
        from scipy import special

        with np.errstate(all="ignore"):
            stat = cols["estimate"] / cols["se"]
            if ci_method == "z":
                p = 2.0 * special.ndtr(-np.abs(stat))
            else:
                df = np.where(cols["k"] > 1, cols["k"] - 1, np.nan).astype(float)
                p = 2.0 * special.stdtr(df, -np.abs(stat))
        cols["stat"], cols["p_value"] = stat, p
