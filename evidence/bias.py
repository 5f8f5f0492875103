"""Small-study effects and sensitivity: Egger's test, funnel data, trim-and-fill, leave-one-out.

Each function mirrors a metafor 3.8-1 function (``regtest``, ``funnel``, ``trimfill``,
``leave1out``) and is validated against it to 1e-6 relative (tests/reference/bias.R).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evidence import _distributions as dist
from evidence._validate import check_choice, check_int, check_level
from evidence.errors import ConvergenceError, InvalidParameterError, ValidationError
from evidence.moderators import (
    Display,
    check_yi_vi,
    fit_mods,
    fmt_p,
    normalise_ci_method,
    normalise_method,
    pool_options,
)
from evidence.pooling import PoolResult, pool

__all__ = [
    "EggerResult",
    "TrimFillResult",
    "egger_test",
    "funnel_data",
    "trim_and_fill",
    "leave_one_out",
]

#: GRADE/Cochrane: tests for funnel-plot asymmetry are meaningful only with at least 10 studies.
EGGER_MIN_K_ADVISED = 10


# --------------------------------------------------------------------------- Egger
@dataclass(frozen=True)
class EggerResult(Display):
    """Regression test for funnel-plot asymmetry (metafor ``regtest``, predictor ``sei``).

    Attributes
    ----------
    model : str
        "rma" (mixed-effects meta-regression on the standard error) or "lm" (classical Egger
        weighted regression with a multiplicative dispersion term).
    method, ci_method : str
        tau2 estimator and test of the "rma" model (``method`` is ignored by "lm").
    k : int
        Studies used.
    stat_name : str
        "z" or "t".
    stat, df, p_value : float
        Test of the slope on ``sei`` (asymmetry); ``df`` is NaN for z.
    slope, slope_se : float
        Coefficient of ``sei`` and its standard error.
    limit_estimate, limit_ci_low, limit_ci_high : float
        The intercept: the estimate as ``sei -> 0`` ("limit estimate"), with its CI.
    tau2 : float
        Residual heterogeneity of the "rma" model (NaN for "lm").
    level : float
        Confidence level.
    warning : str or None
        Set when k < 10: the test has too little power to be used for judging small-study
        effects (Cochrane Handbook 13.3.5.4; GRADE publication-bias domain).
    """

    model: str
    method: str
    ci_method: str
    k: int
    stat_name: str
    stat: float
    df: float
    p_value: float
    slope: float
    slope_se: float
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float
    tau2: float
    level: float
    warning: str | None = None

    def to_frame(self) -> pd.DataFrame:
        """One row: ``model, method, k, stat_name, stat, df, p_value, slope, slope_se,
        limit_estimate, limit_ci_low, limit_ci_high, tau2, warning``."""
        return pd.DataFrame(
            [
                {
                    "model": self.model,
                    "method": self.method,
                    "k": self.k,
                    "stat_name": self.stat_name,
                    "stat": self.stat,
                    "df": self.df,
                    "p_value": self.p_value,
                    "slope": self.slope,
                    "slope_se": self.slope_se,
                    "limit_estimate": self.limit_estimate,
                    "limit_ci_low": self.limit_ci_low,
                    "limit_ci_high": self.limit_ci_high,
                    "tau2": self.tau2,
                    "warning": self.warning,
                }
            ]
        )

    def _title(self) -> str:
        df_txt = "" if math.isnan(self.df) else f", df = {self.df:g}"
        txt = (
            f"Regression test for funnel plot asymmetry ({self.model}, predictor sei, "
            f"k = {self.k}): {self.stat_name} = {self.stat:.4f}{df_txt}, "
            f"p = {fmt_p(self.p_value)}; limit estimate {self.limit_estimate:.4f} "
            f"[{self.limit_ci_low:.4f}, {self.limit_ci_high:.4f}]"
        )
        return txt if self.warning is None else f"{txt} (warning: {self.warning})"


def egger_test(
    yi: Sequence[float] | np.ndarray | pd.Series,
    vi: Sequence[float] | np.ndarray | pd.Series,
    *,
    model: str = "rma",
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
) -> EggerResult:
    """Egger's regression test for funnel-plot asymmetry, as metafor ``regtest(res)``.

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes (log scale for ratio measures) and sampling variances.
    model : str
        "rma" (default; ``regtest(res)``: mixed-effects meta-regression of yi on
        ``sei = sqrt(vi)`` with the random-effects fit's ``method`` and ``ci_method``) or "lm"
        (``regtest(res, model="lm")``: the classical Egger test, weighted least squares with
        weights 1/vi and an estimated dispersion, t-test with k - 2 df).
    method : str
        tau2 estimator of the "rma" model ("REML" default; see :func:`meta_regression`).
    ci_method : str
        "z" (default), "t" or "hksj" (Knapp-Hartung, alias "knha") for the "rma" model.
    level : float
        Confidence level of the limit estimate's CI.

    Returns
    -------
    EggerResult
        ``stat``, ``p_value`` (asymmetry test), ``slope``, the limit estimate with its CI and a
        ``warning`` when k < 10 (the result is still returned).

    Raises
    ------
    ValidationError
        With fewer than 3 studies (the regression needs residual df).
    """
    func = "egger_test"
    model = check_choice(model, "model", func, ("rma", "lm"))
    method = normalise_method(method, func)
    ci_method = normalise_ci_method(ci_method, func)
    level = check_level(level, func)
    y, v, _ = check_yi_vi(yi, vi, func)
    k = y.size
    if k < 3:
        raise ValidationError(
            f"egger_test() needs at least 3 studies (the regression on the standard error has 2 "
            f"coefficients). Got k = {k}."
        )
    sei = np.sqrt(v)
    if np.ptp(sei) == 0:
        raise ValidationError(
            "egger_test(): all studies have the same standard error, so the regression on "
            "'sei' cannot be fitted."
        )
    X = np.column_stack([np.ones(k), sei])
    alpha = 1 - level
    if model == "rma":
        fit = fit_mods(
            y,
            v,
            X,
            names=("intrcpt", "sei"),
            method=method,
            ci_method=ci_method,
            level=level,
            func=func,
        )
        stat, pval, df = float(fit.stat[1]), float(fit.p_value[1]), fit.dfs
        slope, slope_se = float(fit.beta[1]), float(fit.se[1])
        est, lo, hi = float(fit.beta[0]), float(fit.ci_low[0]), float(fit.ci_high[0])
        tau2 = fit.tau2
        stat_name = "z" if ci_method == "z" else "t"
    else:
        if (v <= 0).any():
            raise ValidationError("egger_test(model='lm') needs positive sampling variances 'vi'.")
        # Egger's original weighted regression with a multiplicative dispersion term
        # (metafor regtest(model="lm")): ordinary WLS, scale estimated, t on k - 2 df
        from statsmodels.regression.linear_model import WLS  # heavy: imported on first use

        res = WLS(y, X, weights=1 / v).fit()
        df = float(res.df_resid)
        stat = float(res.tvalues[1])
        pval = float(res.pvalues[1])
        slope, slope_se = float(res.params[1]), float(res.bse[1])
        est = float(res.params[0])
        lo, hi = (float(b) for b in np.asarray(res.conf_int(alpha=alpha))[0])
        tau2 = math.nan
        stat_name = "t"
        method = "FE"
        ci_method = "t"
    warn = None
    if k < EGGER_MIN_K_ADVISED:
        warn = (
            f"only {k} studies: tests for funnel-plot asymmetry should be used only with at "
            f"least {EGGER_MIN_K_ADVISED} studies (Cochrane Handbook 13.3.5.4; GRADE)"
        )
    return EggerResult(
        model=model,
        method=method,
        ci_method=ci_method,
        k=k,
        stat_name=stat_name,
        stat=stat,
        df=df,
        p_value=pval,
        slope=slope,
        slope_se=slope_se,
        limit_estimate=est,
        limit_ci_low=lo,
        limit_ci_high=hi,
        tau2=tau2,
        level=level,
        warning=warn,
    )


# --------------------------------------------------------------------------- funnel
def funnel_data(
    yi: Sequence[float] | np.ndarray | pd.Series,
    vi: Sequence[float] | np.ndarray | pd.Series,
    *,
    estimate: float | None = None,
    level: float = 0.95,
    grid_size: int = 100,
) -> pd.DataFrame:
    """The points and the pseudo-confidence region of a funnel plot (metafor ``funnel``).

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and sampling variances.
    estimate : float, optional
        Centre of the funnel (the reference line).  Default: the inverse-variance
        (equal-effects) pooled estimate ``sum(yi/vi) / sum(1/vi)``.  Pass a random-effects
        estimate to centre the funnel on it.
    level : float
        Level of the pseudo-confidence region (``estimate +/- z_(1-(1-level)/2) * sei``).
    grid_size : int
        Number of standard-error values (from 0 to the largest ``sei``) for the region.

    Returns
    -------
    DataFrame
        Rows with ``kind == "study"`` (one per study, in input order) and then ``grid_size``
        rows with ``kind == "region"``.  Columns:

        * ``kind`` - "study" or "region";
        * ``study`` - the study's position in the input (``<NA>`` for region rows);
        * ``yi`` - the effect size (NaN for region rows);
        * ``sei`` - the standard error (the grid value for region rows);
        * ``ci_low``, ``ci_high`` - the pseudo-confidence bounds at that ``sei``;
        * ``outside`` - True when a study lies outside the region (``<NA>`` for region rows);
        * ``estimate`` - the funnel's centre (same on every row).
    """
    func = "funnel_data"
    level = check_level(level, func)
    if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 2:
        raise InvalidParameterError(
            f"The 'grid_size' argument of funnel_data() must be an integer >= 2. Got {grid_size!r}."
        )
    y, v, keep = check_yi_vi(yi, vi, func)
    sei = np.sqrt(v)
    if estimate is None:
        if (v <= 0).any():
            raise ValidationError(
                "funnel_data() needs positive 'vi' to compute the default centre; pass 'estimate'."
            )
        w = 1 / v
        centre = float(np.sum(w * y) / np.sum(w))
    else:
        try:
            centre = float(estimate)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"The 'estimate' argument of funnel_data() must be a number. Got {estimate!r}."
            ) from exc
        if not math.isfinite(centre):
            raise InvalidParameterError(
                f"The 'estimate' argument of funnel_data() must be finite. Got {estimate!r}."
            )

    crit = float(dist.norm_isf((1 - level) / 2))
    grid = np.linspace(0.0, float(sei.max()), grid_size)
    lo_s, hi_s = centre - crit * sei, centre + crit * sei
    studies = pd.DataFrame(
        {
            "kind": "study",
            "study": pd.array(np.flatnonzero(keep), dtype="Int64"),
            "yi": y,
            "sei": sei,
            "ci_low": lo_s,
            "ci_high": hi_s,
            "outside": pd.array((y < lo_s) | (y > hi_s), dtype="boolean"),
            "estimate": centre,
        }
    )
    region = pd.DataFrame(
        {
            "kind": "region",
            "study": pd.array([pd.NA] * grid_size, dtype="Int64"),
            "yi": np.nan,
            "sei": grid,
            "ci_low": centre - crit * grid,
            "ci_high": centre + crit * grid,
            "outside": pd.array([pd.NA] * grid_size, dtype="boolean"),
            "estimate": centre,
        }
    )
    return pd.concat([studies, region], ignore_index=True)


# --------------------------------------------------------------------------- trim and fill
@dataclass(frozen=True)
class TrimFillResult(Display):
    """Duval and Tweedie's trim-and-fill (metafor ``trimfill``).

    Attributes
    ----------
    k0, k0_se : int, float
        Estimated number of missing studies and its standard error.
    side : str
        Side of the funnel on which studies were imputed ("left" or "right").
    estimator : str
        "L0", "R0" or "Q0".
    p_k0 : float
        For R0, the p-value of the test of k0 = 0 (NaN otherwise).
    k : int
        Studies after filling (observed + k0).
    estimate, se, stat, p_value, ci_low, ci_high : float
        Pooled estimate of the filled data set (z test, as metafor).
    tau2, i2, h2, q, q_df, q_p : float
        Heterogeneity of the filled data set.
    method, level
        As given.
    data : DataFrame
        The filled data: ``yi, vi, filled`` (False for observed studies in input order, then
        True for the k0 imputed mirror images).
    """

    k0: int
    k0_se: float
    side: str
    estimator: str
    p_k0: float
    k: int
    estimate: float
    se: float
    stat: float
    p_value: float
    ci_low: float
    ci_high: float
    tau2: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_p: float
    method: str
    level: float
    data: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One row: ``k0, k0_se, side, estimator, p_k0, k, estimate, se, stat, p_value, ci_low,
        ci_high, tau2, i2, h2, q, q_df, q_p, method``."""
        cols = (
            "k0 k0_se side estimator p_k0 k estimate se stat p_value ci_low ci_high "
            "tau2 i2 h2 q q_df q_p method"
        ).split()
        return pd.DataFrame([{c: getattr(self, c) for c in cols}])

    def _title(self) -> str:
        return (
            f"Trim-and-fill ({self.estimator}): {self.k0} missing on the {self.side} side "
            f"(SE {self.k0_se:.4f}); filled estimate {self.estimate:.4f} "
            f"[{self.ci_low:.4f}, {self.ci_high:.4f}] (k = {self.k}, {self.method})"
        )


def trim_and_fill(
    yi: Sequence[float] | np.ndarray | pd.Series,
    vi: Sequence[float] | np.ndarray | pd.Series,
    *,
    estimator: str = "L0",
    side: str | None = None,
    method: str = "REML",
    level: float = 0.95,
    maxiter: int = 100,
) -> TrimFillResult:
    """Trim-and-fill, as metafor ``trimfill(rma(yi, vi, method=method), estimator, side)``.

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and sampling variances.
    estimator : str
        "L0" (default), "R0" or "Q0" estimator of the number of missing studies.
    side : str, optional
        "left" or "right": the side where studies are missing.  Default: chosen as metafor
        does, from the sign of the slope of a meta-regression on ``sqrt(vi)`` (negative slope
        -> "right").
    method : str
        tau2 estimator of the fits ("REML" default; "FE" for the fixed-effect version).
    level : float
        Confidence level of the filled estimate.
    maxiter : int
        Maximum iterations of the trim-and-fill algorithm (metafor default 100).

    Returns
    -------
    TrimFillResult
        ``k0`` and the pooled estimate, CI and heterogeneity of the filled data; ``data`` holds
        the filled yi/vi.  With k0 = 0 the estimate is that of the observed data.

    Notes
    -----
    The filled estimate is a sensitivity analysis, not a corrected effect (metafor's
    ``trimfill`` help page warns against treating it as "more valid").
    """
    func = "trim_and_fill"
    estimator = check_choice(estimator, "estimator", func, ("L0", "R0", "Q0"))
    if side is not None:
        side = check_choice(side, "side", func, ("left", "right"))
    method, _ = pool_options(method, "z", func)
    level = check_level(level, func)
    maxiter = check_int(maxiter, "maxiter", func, minimum=1)
    y0, v0, _ = check_yi_vi(yi, vi, func)
    k = y0.size
    if k < 2:
        raise ValidationError(f"trim_and_fill() needs at least 2 studies. Got k = {k}.")

    _check_positive(v0, func)

    def fit(y: np.ndarray, v: np.ndarray) -> PoolResult:
        return _quiet_pool(y, v, method=method, ci_method="z", level=level)

    if side is None:
        if k < 3:
            raise ValidationError(
                "trim_and_fill() needs at least 3 studies to choose 'side' itself; pass "
                f"side='left' or 'right'. Got k = {k}."
            )
        slope = fit_mods(
            y0,
            v0,
            np.column_stack([np.ones(k), np.sqrt(v0)]),
            names=("intrcpt", "sei"),
            method=method,
            ci_method="z",
            level=level,
            func=func,
        ).beta[1]
        side = "right" if slope < 0 else "left"
    y = -y0 if side == "right" else y0.copy()
    order = np.argsort(y, kind="stable")
    y, v = y[order], v0[order]
    k0_prev, k0, it = -1, 0, 0
    yi_c = y
    beta = math.nan
    se_k0 = math.nan
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import stats

    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise ConvergenceError(f"trim_and_fill() did not converge in {maxiter} iterations.")
        beta = fit(y[: k - k0], v[: k - k0]).estimate
        yi_c = y - beta
        ranks = stats.rankdata(np.abs(yi_c), method="ordinal")
        signed = np.sign(yi_c) * ranks
        if estimator == "R0":
            neg = signed[signed < 0]
            k0_raw = (k - (np.max(-neg) if neg.size else -np.inf)) - 1
            if not math.isfinite(k0_raw):
                k0_raw = k - 1  # no study below the estimate: R's max() of nothing is -Inf
            se_k0 = math.sqrt(2 * max(0.0, k0_raw) + 2)
        else:
            sr = float(signed[signed > 0].sum())
            if estimator == "L0":
                k0_raw = (4 * sr - k * (k + 1)) / (2 * k - 1)
            else:
                k0_raw = k - 0.5 - math.sqrt(2 * k**2 - 4 * sr + 0.25)
            var_sr = (
                k * (k + 1) * (2 * k + 1)
                + 10 * k0_raw**3
                + 27 * k0_raw**2
                + 17 * k0_raw
                - 18 * k * k0_raw**2
                - 18 * k * k0_raw
                + 6 * k**2 * k0_raw
            ) / 24
            if estimator == "L0":
                se_k0 = 4 * math.sqrt(var_sr) / (2 * k - 1)
            else:
                se_k0 = (
                    2
                    * math.sqrt(var_sr)
                    / math.sqrt((k - 0.5) ** 2 - k0_raw * (2 * k - k0_raw - 1))
                )
        k0 = max(0, int(_round_half_even(k0_raw)))
        se_k0 = max(0.0, se_k0)
    if k0 > 0:
        mirrored = -(yi_c - beta) if side == "right" else yi_c - beta
        y_fill = np.concatenate([y0, -mirrored[k - k0 :]])
        v_fill = np.concatenate([v0, v[k - k0 :]])
    else:
        y_fill, v_fill = y0, v0
    res = fit(y_fill, v_fill)
    p_k0 = 0.5 ** (k0 + 1) if estimator == "R0" else math.nan
    filled = np.r_[np.zeros(k, dtype=bool), np.ones(k0, dtype=bool)]
    return TrimFillResult(
        k0=k0,
        k0_se=float(se_k0),
        side=side,
        estimator=estimator,
        p_k0=p_k0,
        k=res.k,
        estimate=res.estimate,
        se=res.se,
        stat=res.stat,
        p_value=res.p_value,
        ci_low=res.ci_low,
        ci_high=res.ci_high,
        tau2=res.tau2,
        i2=res.i2,
        h2=res.h2,
        q=res.q,
        q_df=res.q_df,
        q_p=res.q_p,
        method=res.method,
        level=level,
        data=pd.DataFrame({"yi": y_fill, "vi": v_fill, "filled": filled}),
    )


def _round_half_even(x: float) -> float:
    """R's round(): IEC 60559 round half to even, as Python's round()."""
    return float(round(x))


# --------------------------------------------------------------------------- leave one out
def leave_one_out(
    yi: Sequence[float] | np.ndarray | pd.Series,
    vi: Sequence[float] | np.ndarray | pd.Series,
    *,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    labels: Sequence[object] | None = None,
) -> pd.DataFrame:
    """Leave-one-out sensitivity analysis, as metafor ``leave1out(rma(yi, vi, method=...))``.

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and sampling variances.
    method, ci_method, level
        Passed to each random-effects fit (see :func:`evidence.pooling.pool`).
    labels : sequence, optional
        One label per study (default: the 0-based position).

    Returns
    -------
    DataFrame
        One row per omitted study with columns ``omitted`` (its label), ``k`` (studies left),
        ``estimate, se, stat, p_value, ci_low, ci_high`` (pooled estimate without it),
        ``q, q_df, q_p`` (heterogeneity test), ``tau2, i2, h2``, ``pi_low, pi_high``
        (prediction interval) and ``method`` (estimator used; names a fallback), all as in
        :class:`evidence.pooling.PoolResult`.  With k = 2 each fit has one study and its
        heterogeneity columns are NaN (metafor reports 0 there).

    Raises
    ------
    ValidationError
        With a single study (nothing is left after omitting it).
    """
    func = "leave_one_out"
    method, ci_method = pool_options(method, ci_method, func)
    level = check_level(level, func)
    y, v, keep = check_yi_vi(yi, vi, func)
    if labels is None:
        lab: list = list(np.flatnonzero(keep))
    else:
        lab_all = list(labels)
        if len(lab_all) != keep.size:
            raise InvalidParameterError(
                f"The 'labels' argument of leave_one_out() must have one label per study "
                f"({keep.size}). Got {len(lab_all)}."
            )
        lab = [lab_all[i] for i in np.flatnonzero(keep)]
    k = y.size
    if k < 2:
        raise ValidationError(
            f"leave_one_out() needs at least 2 studies (omitting the only study leaves none). "
            f"Got k = {k}."
        )
    _check_positive(v, func)
    rows = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(k):
            mask = np.arange(k) != i
            r = pool(y[mask], v[mask], method=method, ci_method=ci_method, level=level)
            rows.append({"omitted": lab[i], **{c: getattr(r, c) for c in _L1O_FIELDS}})
    _reemit(caught, func)
    return pd.DataFrame(rows)


_L1O_FIELDS = (
    "k estimate se stat p_value ci_low ci_high q q_df q_p tau2 i2 h2 pi_low pi_high method"
).split()


def _check_positive(v: np.ndarray, func: str) -> None:
    if (v <= 0).any():
        i = int(np.flatnonzero(v <= 0)[0])
        raise ValidationError(
            f"The sampling variances 'vi' passed to {func}() must be positive. "
            f"Got {v[i]!r} at position {i}."
        )


def _reemit(caught: list[warnings.WarningMessage], func: str) -> None:
    """Re-issue the distinct warnings of the inner fits once each, naming the caller."""
    seen: set[str] = set()
    for w in caught:
        msg = str(w.message)
        if msg not in seen:
            seen.add(msg)
            warnings.warn(f"{func}(): {msg}", w.category, stacklevel=3)


def _quiet_pool(
    y: np.ndarray, v: np.ndarray, *, method: str, ci_method: str, level: float
) -> PoolResult:
    # metafor's trimfill() wraps its fits in suppressWarnings() too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pool(y, v, method=method, ci_method=ci_method, level=level)
