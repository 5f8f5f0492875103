"""Subgroups, meta-regression and cluster-robust pooling (metafor ``rma(mods=)``, ``robust()``).

The mixed-effects model ``yi = X b + u_i + e_i`` with ``u_i ~ N(0, tau2)`` and
``e_i ~ N(0, vi)`` is fitted here exactly as metafor 3.8-1 ``rma.uni()`` fits it: the
tau2 estimators (EE, DL, HE, SJ, HS, ML, REML, EB, PM) follow ``R/rma.uni.r`` and live in one
place, :func:`evidence._tau2.tau2_mods` (intercept-only models use the vectorised solvers of
:func:`evidence.pooling.pool`); the fixed part is weighted least squares with a fixed scale,
fitted and tested by statsmodels ``WLS(...).fit(cov_type="fixed scale")``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np
import pandas as pd

from evidence import _distributions as dist
from evidence._tau2 import Proj, loglik_mods, tau2_mods
from evidence._validate import (
    check_bool,
    check_choice,
    check_frame,
    check_level,
)
from evidence.errors import (
    ConvergenceError,
    InvalidParameterError,
    StatisticalWarning,
    ValidationError,
)
from evidence.pooling import (
    CI_ALIASES,
    METHOD_ALIASES,
    as_float_array,
    numeric_data_column,
    pool,
    pool_groups,
)
from evidence.pooling import CI_METHODS as POOL_CI_METHODS
from evidence.pooling import METHODS as POOL_METHODS
from evidence.robust import cr2

__all__ = [
    "MetaRegressionResult",
    "SubgroupResult",
    "ClusteredPoolResult",
    "meta_regression",
    "subgroup_analysis",
    "pool_clustered",
]

#: tau2 estimators of the moderator-capable fitter: those of :func:`evidence.pooling.pool` plus
#: "EB" (empirical Bayes) and "HS" (Hunter-Schmidt).  "EE" and "CE" are aliases of "FE".
METHODS: tuple[str, ...] = ("FE", "DL", "REML", "PM", "HE", "SJ", "ML", "EB", "HS")
#: Inference for the coefficients: normal ("z"), t with k - p df ("t"), Knapp-Hartung ("hksj",
#: metafor test="knha") or Knapp-Hartung with s2w floored at 1 ("hksj_adhoc", test="adhoc").
CI_METHODS: tuple[str, ...] = ("z", "t", "hksj", "hksj_adhoc")


# --------------------------------------------------------------------------- argument checks
def _check_choice(
    value: object,
    allowed: Sequence[str],
    arg: str,
    func: str,
    aliases: dict[str, str] | None = None,
) -> str:
    return check_choice(value, arg, func, allowed, aliases)


_check_level = check_level


def normalise_ci_method(ci_method: object, func: str) -> str:
    """Check ``ci_method`` against :data:`CI_METHODS` (metafor aliases accepted)."""
    return _check_choice(ci_method, CI_METHODS, "ci_method", func, CI_ALIASES)


def normalise_method(method: object, func: str) -> str:
    """Check ``method`` against :data:`METHODS` (metafor aliases accepted)."""
    return _check_choice(method, METHODS, "method", func, METHOD_ALIASES)


def pool_options(method: object, ci_method: object, func: str) -> tuple[str, str]:
    """Check 'method'/'ci_method' against the vocabulary of pool() (with metafor aliases)."""

    m = _check_choice(method, POOL_METHODS, "method", func, METHOD_ALIASES)
    c = _check_choice(ci_method, POOL_CI_METHODS, "ci_method", func, CI_ALIASES)
    return m, c


def _as_vector(x: object, arg: str, func: str) -> np.ndarray:
    """Numbers only, as :func:`evidence.pool` (booleans and text are a wrong argument)."""

    return as_float_array(x, arg, func)


def check_yi_vi(yi: object, vi: object, func: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate yi/vi; drop rows with a missing value (with a warning) like metafor's na.omit.

    Returns yi, vi and the boolean mask of the rows kept.
    """
    y = _as_vector(yi, "yi", func)
    v = _as_vector(vi, "vi", func)
    if y.shape != v.shape:
        raise InvalidParameterError(
            f"The 'yi' and 'vi' arguments of {func}() must have the same length. "
            f"Got {y.size} and {v.size}."
        )
    if np.isinf(y).any() or np.isinf(v).any():
        raise ValidationError(f"'yi' and 'vi' passed to {func}() must be finite (no inf).")
    keep = ~(np.isnan(y) | np.isnan(v))
    if not keep.all():
        warnings.warn(
            f"{func}(): {int((~keep).sum())} row(s) with missing yi or vi omitted "
            f"(positions {np.flatnonzero(~keep).tolist()}).",
            StatisticalWarning,
            stacklevel=3,
        )
    y, v = y[keep], v[keep]
    if (v < 0).any():
        raise ValidationError(
            f"The sampling variances 'vi' passed to {func}() must be non-negative. "
            f"Got {v[v < 0][0]!r} at position {int(np.flatnonzero(v < 0)[0])}."
        )
    if y.size == 0:
        raise ValidationError(f"{func}() needs at least one study with yi and vi. Got none.")
    return y, v, keep


# --------------------------------------------------------------------------- the fitter
@dataclass(frozen=True)
class _Fit:
    """One rma.uni-style fit (private; public results are built from it)."""

    names: tuple[str, ...]
    beta: np.ndarray
    vb: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    tau2: float
    tau2_se: float
    qe: float
    qe_df: int
    qe_p: float
    qm: float
    qm_df: int
    qm_df2: float
    qm_p: float
    i2: float
    h2: float
    k: int
    p: int
    dfs: float
    method: str
    ci_method: str
    level: float
    weights: np.ndarray
    ll_ml: float
    ll_reml: float


def _wls(y: np.ndarray, w: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    WX = X * w[:, None]
    vb = np.linalg.inv(X.T @ WX)
    return vb @ (WX.T @ y), vb


def _tau2(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, func: str
) -> tuple[float, float]:
    """tau2 and its standard error as metafor rma.uni() estimates them: the one estimator,
    :func:`evidence._tau2.tau2_mods` (intercept-only models go through the same vectorised
    solvers as :func:`evidence.pooling.pool`)."""

    tau2, se, stuck = tau2_mods(y, v, X, method, func)
    if stuck:
        warnings.warn(
            f"{func}(): the {method} iteration stopped at a local maximum below the likelihood "
            f"at tau2 = 0; tau2 set to 0 (as metafor does).",
            StatisticalWarning,
            stacklevel=3,
        )
    return tau2, se


def _loglik(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, method: str) -> float:

    return loglik_mods(y, v, X, tau2, method)


def _wls_inference(y, X, w, scale, ci_method, level, btt):
    """Coefficients, covariance, tests and CIs of the weighted least-squares fit with a fixed
    scale, by statsmodels ``WLS(...).fit(cov_type="fixed scale")`` (z tests, or t on k - p df)
    and its Wald test of the coefficients ``btt`` (chi-square, or F for t tests).

    metafor's variance of the coefficients is ``scale * (X'WX)^-1`` with scale 1 (z, t) or the
    Knapp-Hartung factor ``s2w``; that is exactly statsmodels' fixed-scale covariance.
    """
    from statsmodels.regression.linear_model import WLS  # heavy: imported on first use

    use_t = ci_method != "z"
    res = WLS(y, X, weights=w).fit(cov_type="fixed scale", cov_kwds={"scale": scale}, use_t=use_t)
    beta = np.asarray(res.params, dtype=float)
    vb = np.asarray(res.cov_params(), dtype=float)
    se = np.asarray(res.bse, dtype=float)
    stat = np.asarray(res.tvalues, dtype=float)
    pval = np.asarray(res.pvalues, dtype=float)
    ci = np.asarray(res.conf_int(alpha=1 - level), dtype=float)
    qm = qm_p = math.nan
    if btt:
        R = np.zeros((len(btt), X.shape[1]))
        R[np.arange(len(btt)), btt] = 1.0
        try:
            wald = res.wald_test(R, use_f=use_t, scalar=True)
            qm, qm_p = float(wald.statistic), float(wald.pvalue)
        except (np.linalg.LinAlgError, ValueError):
            pass
    return beta, vb, se, stat, pval, ci[:, 0], ci[:, 1], qm, qm_p


def fit_mods(
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    *,
    names: Sequence[str],
    method: str,
    ci_method: str,
    level: float,
    func: str,
    btt: Sequence[int] | None = None,
) -> _Fit:
    """Fit the (mixed-effects) meta-regression like rma.uni(yi, vi, mods=X, intercept=FALSE)."""
    k, p = X.shape
    if k < p:
        raise ValidationError(
            f"{func}(): {k} studies cannot estimate {p} coefficients "
            "(need at least as many studies as coefficients)."
        )
    if np.linalg.matrix_rank(X) < p:
        raise ValidationError(
            f"{func}(): the moderators are collinear (model matrix not of full rank: "
            f"columns {list(names)})."
        )
    tau2, tau2_se = _tau2(y, v, X, method, func)
    w = 1 / (v + tau2)
    if np.isinf(w).any():
        raise ValidationError(
            f"{func}(): a study has vi = 0 and tau2 = 0 (division by zero in the weights)."
        )
    beta, vb = _wls(y, w, X)
    rss_f = float(np.sum(w * (y - X @ beta) ** 2))
    scale = 1.0
    if ci_method in ("hksj", "hksj_adhoc"):
        s2w = 0.0 if rss_f <= np.finfo(float).eps else rss_f / (k - p) if k > p else math.nan
        if ci_method == "hksj_adhoc" and s2w < 1:
            s2w = 1.0
        scale = s2w
    btt = list(range(1, p) if p > 1 and names[0] == "intrcpt" else range(p)) if btt is None else btt
    m = len(btt)
    alpha = 1 - level

    dfs = float(k - p) if ci_method != "z" else math.nan
    qm_df2 = dfs
    if scale > 0 and math.isfinite(scale) and (ci_method == "z" or k > p):
        beta, vb, se, stat, pval, ci_low, ci_high, qm, qm_p = _wls_inference(
            y, X, w, scale, ci_method, level, btt
        )
        if not m:
            qm = math.nan
    else:  # s2w = 0 (all residuals 0) or no residual df: metafor's arithmetic, no library
        vb = scale * vb
        se = np.sqrt(np.diag(vb))
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = beta / se
            try:
                qm = float(beta[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], beta[btt]))
            except np.linalg.LinAlgError:
                qm = math.nan
        if ci_method != "z":
            qm = qm / m if m else math.nan
            ok = dfs > 0
            qm_p = float(dist.f_sf(qm, m, dfs)) if ok and m else math.nan
            pval = 2 * dist.t_sf(np.abs(stat), dfs) if ok else np.full(p, math.nan)
            crit = float(dist.t_isf(alpha / 2, dfs)) if ok else math.nan
        else:
            qm_p = float(dist.chi2_sf(qm, m)) if m else math.nan
            pval = 2 * dist.norm_sf(np.abs(stat))
            crit = float(dist.norm_isf(alpha / 2))
        ci_low, ci_high = beta - crit * se, beta + crit * se

    if (v > 0).all() and k > p:
        ymc = y - y.mean()
        pfe = Proj(X, 1 / v)
        qe = max(0.0, float(ymc @ pfe.Py(ymc)))
        qe_p = float(dist.chi2_sf(qe, k - p))
        vt = (k - p) / pfe.tr()
        if method == "FE":
            i2 = max(0.0, 100 * (qe - (k - p)) / qe) if qe > 0 else 0.0
            h2 = qe / (k - p)
        else:
            i2 = 100 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1
    elif k <= p:
        qe, qe_p, i2, h2 = 0.0, 1.0, 0.0, 1.0
    else:
        qe = qe_p = i2 = h2 = math.nan
    ll_ml = -0.5 * k * math.log(2 * math.pi) - 0.5 * float(np.log(v + tau2).sum()) - 0.5 * rss_f
    ll_reml = (
        -0.5 * (k - p) * math.log(2 * math.pi)
        - 0.5 * float(np.log(v + tau2).sum())
        - 0.5 * float(np.linalg.slogdet(X.T @ (X * w[:, None]))[1])
        - 0.5 * rss_f
    )
    return _Fit(
        names=tuple(names),
        beta=beta,
        vb=vb,
        se=se,
        stat=stat,
        p_value=np.asarray(pval, dtype=float),
        ci_low=ci_low,
        ci_high=ci_high,
        tau2=tau2,
        tau2_se=tau2_se,
        qe=qe,
        qe_df=k - p,
        qe_p=qe_p,
        qm=qm,
        qm_df=m,
        qm_df2=qm_df2,
        qm_p=qm_p,
        i2=i2,
        h2=h2,
        k=k,
        p=p,
        dfs=dfs,
        method=method,
        ci_method=ci_method,
        level=level,
        weights=w,
        ll_ml=ll_ml,
        ll_reml=ll_reml,
    )


# --------------------------------------------------------------------------- display helpers
class Display:
    """``summary()`` and ``_repr_html_`` from ``to_frame()`` and ``_title()``."""

    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - overridden
        raise NotImplementedError

    def _title(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def summary(self, digits: int = 4) -> str:
        """Human-readable text: a title line and the result table rounded to ``digits``."""
        with pd.option_context("display.width", 120, "display.max_columns", 50):
            return f"{self._title()}\n{self.to_frame().round(digits).to_string()}"

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:

        return f"<p><b>{escape(self._title())}</b></p>" + self.to_frame().round(4).to_html(
            escape=True
        )


def fmt_p(p: float) -> str:
    """A p-value as metafor prints it (``<.0001``, 4 decimals, ``NA``)."""
    return "NA" if p is None or math.isnan(p) else ("<.0001" if p < 1e-4 else f"{p:.4f}")


# --------------------------------------------------------------------------- design matrices
def _design(
    data: pd.DataFrame, moderators: Sequence[str], *, intercept: bool, func: str
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Model matrix as R's ``model.matrix(~ m1 + m2)``.

    Numeric columns enter as they are; text, categorical and boolean columns are dummy coded
    with their sorted levels and the first level as reference (R ``factor()`` treatment
    contrasts), named ``<column><level>``.  Returns X, the column names and the mask of rows
    without missing moderator values.
    """
    cols: list[np.ndarray] = []
    names: list[str] = []
    keep = np.ones(len(data), dtype=bool)
    for mod in moderators:
        if mod not in data.columns:
            raise InvalidParameterError(
                f"The moderator column {mod!r} given to {func}() is not in the data. "
                f"Available columns: {list(data.columns)}."
            )
        keep &= data[mod].notna().to_numpy()
    if intercept:
        cols.append(np.ones(len(data)))
        names.append("intrcpt")
    for mod in moderators:
        s = data[mod]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            _check_not_mixed(s, mod, func)
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = [lev for lev in s.cat.categories if (s[keep] == lev).any()]
            else:
                levels = sorted(s[keep].unique().tolist(), key=str)
            dummies = levels[1:] if intercept else levels
            for lev in dummies:
                cols.append((s == lev).to_numpy(dtype=float))
                names.append(f"{mod}{lev}")
        else:
            cols.append(s.to_numpy(dtype=float))
            names.append(mod)
    if not cols:
        raise InvalidParameterError(
            f"{func}() needs at least one term: the 'moderators' argument is empty and "
            f"intercept=False. Got neither."
        )
    return np.column_stack(cols), names, keep


def _check_not_mixed(s: pd.Series, mod: str, func: str) -> None:
    """A text column where most values are numbers is a typo, not a factor."""
    if isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s):
        return
    present = s.dropna()
    num = pd.to_numeric(present, errors="coerce")
    text = num.isna()
    if num.notna().any() and text.any() and num.notna().sum() >= text.sum():
        row = text[text].index[0]
        raise ValidationError(
            f"The moderator column {mod!r} given to {func}() mixes numbers and text (row "
            f"{row!r} has {present[row]!r}); fix the value(s), or convert the column with "
            f"astype('category') if it really is categorical."
        )


def _check_positive_vi(v: np.ndarray, func: str) -> None:
    bad = np.flatnonzero(~np.isnan(v) & (v <= 0))
    if bad.size:
        raise ValidationError(
            f"The sampling variances 'vi' passed to {func}() must be > 0 (inverse-variance "
            f"weights). Got {v[bad[0]]!r} at position {int(bad[0])}."
        )


def _data_yi_vi(
    data: pd.DataFrame, yi: str, vi: str, extra: Sequence[str], func: str
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    data = check_frame(data, "data", func)
    for arg, col in (("yi", yi), ("vi", vi)):
        if not isinstance(col, str) or col not in data.columns:
            raise InvalidParameterError(
                f"The {arg!r} column {col!r} given to {func}() is not in the data. "
                f"Available columns: {list(data.columns)}."
            )
    for col in extra:
        if col not in data.columns:
            raise InvalidParameterError(
                f"The column {col!r} given to {func}() is not in the data. "
                f"Available columns: {list(data.columns)}."
            )
    check_frame(data, "data", func, columns=[yi, vi, *extra])

    y = numeric_data_column(data, yi, "yi", func)
    v = numeric_data_column(data, vi, "vi", func)
    return data, y, v


# --------------------------------------------------------------------------- meta-regression
@dataclass(frozen=True)
class MetaRegressionResult(Display):
    """Mixed-effects meta-regression (metafor ``rma(yi, vi, mods=~...)``).

    Attributes
    ----------
    coefficients : DataFrame
        One row per model coefficient (``term``: ``intrcpt``, numeric moderators by name,
        dummy codes as ``<column><level>``) with columns ``term, estimate, se, stat, p_value,
        ci_low, ci_high``.  ``stat`` is z, or t with ``dfs`` df for ``ci_method`` "t"/"hksj".
    k, p : int
        Studies used and coefficients estimated.
    tau2, tau2_se : float
        Residual heterogeneity and its standard error (NaN where metafor gives none).
    i2, h2 : float
        Residual I² (%) and H².
    r2 : float
        Pseudo-R² (%): proportional reduction of tau2 against the intercept-only model with the
        same method (``max(0, 100 (tau2_0 - tau2) / tau2_0)``); for EE, the adjusted R² of the
        weighted regression.  NaN without an intercept or with only an intercept.
    qe, qe_df, qe_p : float, int, float
        Test for residual heterogeneity.
    qm, qm_df, qm_df2, qm_p : float, int, float, float
        Omnibus test of the moderators (all coefficients but the intercept): chi-square with
        ``qm_df`` df, or F(``qm_df``, ``qm_df2``) for ``ci_method`` "t"/"hksj".
    dfs : float
        t-test df (k - p), NaN for z.
    vcov : DataFrame
        Variance-covariance matrix of the coefficients.
    method, ci_method, level
        As given.
    """

    coefficients: pd.DataFrame
    k: int
    p: int
    tau2: float
    tau2_se: float
    i2: float
    h2: float
    r2: float
    qe: float
    qe_df: int
    qe_p: float
    qm: float
    qm_df: int
    qm_df2: float
    qm_p: float
    dfs: float
    method: str
    ci_method: str
    level: float
    vcov: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (``term, estimate, se, stat, p_value, ci_low, ci_high``)."""
        return self.coefficients.copy()

    def _title(self) -> str:
        qm_txt = (
            f"QM(df = {self.qm_df}) = {self.qm:.4f}"
            if math.isnan(self.qm_df2)
            else f"F(df1 = {self.qm_df}, df2 = {self.qm_df2:g}) = {self.qm:.4f}"
        )
        return (
            f"Meta-regression ({self.method}, k = {self.k}): tau2 = {self.tau2:.4f}, "
            f"I2 = {self.i2:.2f}%, R2 = {self.r2:.2f}%; QE({self.qe_df}) = {self.qe:.4f}, "
            f"p = {fmt_p(self.qe_p)}; {qm_txt}, p = {fmt_p(self.qm_p)}"
        )


def _coef_frame(fit: _Fit) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "term": list(fit.names),
            "estimate": fit.beta,
            "se": fit.se,
            "stat": fit.stat,
            "p_value": fit.p_value,
            "ci_low": fit.ci_low,
            "ci_high": fit.ci_high,
        }
    )


def _r2(y: np.ndarray, v: np.ndarray, X: np.ndarray, fit: _Fit, func: str) -> float:
    if fit.p < 2 or fit.names[0] != "intrcpt":
        return math.nan
    if fit.method == "FE":
        if np.var(y) == 0:
            return 0.0
        w = fit.weights
        beta, _ = _wls(y, w, X)
        ss_res = float(np.sum(w * (y - X @ beta) ** 2))
        ybar = float(np.sum(w * y) / w.sum())
        ss_tot = float(np.sum(w * (y - ybar) ** 2))
        r2 = 1 - ss_res / ss_tot
        adj = 1 - (1 - r2) * (fit.k - 1) / (fit.k - fit.p)
        return max(0.0, 100 * adj)
    try:
        tau2_0, _ = _tau2(y, v, np.ones((y.size, 1)), fit.method, func)
    except (ValidationError, ConvergenceError):
        return math.nan
    if tau2_0 == 0:
        return 0.0
    return max(0.0, 100 * (tau2_0 - fit.tau2) / tau2_0)


def meta_regression(
    data: pd.DataFrame,
    moderators: str | Sequence[str],
    *,
    yi: str = "yi",
    vi: str = "vi",
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    intercept: bool = True,
) -> MetaRegressionResult:
    """Mixed-effects meta-regression, as metafor ``rma(yi, vi, mods=~m1 + m2, method=...)``.

    Parameters
    ----------
    data : DataFrame
        One row per study with the effect sizes, their sampling variances and the moderators.
    moderators : str or sequence of str
        Moderator column(s).  Numeric columns enter linearly; text, categorical and boolean
        columns are dummy coded (sorted levels, first level as reference, like R ``factor``).
    yi, vi : str
        Columns with the effect sizes and sampling variances.
    method : str
        tau2 estimator: "REML" (default), "ML", "EB", "PM", "DL", "HE", "SJ", "HS" or "FE"
        (aliases "EE", "CE") for a fixed-effects model.
    ci_method : str
        "z" (default, as metafor), "t" (t with k - p df), "hksj" (Knapp-Hartung, metafor
        test="knha"; aliases "knha", "kh") or "hksj_adhoc" (s2w floored at 1; alias "adhoc").
    level : float
        Confidence level as a fraction.
    intercept : bool
        Include an intercept (default True).

    Returns
    -------
    MetaRegressionResult
        ``coefficients`` (columns ``term, estimate, se, stat, p_value, ci_low, ci_high``), tau2,
        I², H², pseudo-R², QE and QM tests; see :class:`MetaRegressionResult`.  Rows with a
        missing yi, vi or moderator are omitted with a :class:`StatisticalWarning`.
    """
    func = "meta_regression"
    mods = (
        [moderators]
        if isinstance(moderators, str)
        else list(moderators)
        if isinstance(moderators, Sequence)
        else [None]
    )
    if not all(isinstance(m, str) for m in mods):
        raise InvalidParameterError(
            f"The 'moderators' argument of {func}() must be a column name or a list of column "
            f"names. Got {moderators!r}."
        )
    method = normalise_method(method, func)
    ci_method = normalise_ci_method(ci_method, func)
    level = _check_level(level, func)
    intercept = check_bool(intercept, "intercept", func)
    data, y, v = _data_yi_vi(data, yi, vi, mods, func)
    X, names, keep_mod = _design(data, mods, intercept=intercept, func=func)
    keep = keep_mod & ~(np.isnan(y) | np.isnan(v))
    if not keep.all():
        warnings.warn(
            f"{func}(): {int((~keep).sum())} row(s) with a missing yi, vi or moderator omitted "
            f"(rows {np.flatnonzero(~keep).tolist()}).",
            StatisticalWarning,
            stacklevel=2,
        )
    y, v, X = y[keep], v[keep], X[keep]
    y, v, _ = check_yi_vi(y, v, func)
    fit = fit_mods(y, v, X, names=names, method=method, ci_method=ci_method, level=level, func=func)
    return MetaRegressionResult(
        coefficients=_coef_frame(fit),
        k=fit.k,
        p=fit.p,
        tau2=fit.tau2,
        tau2_se=fit.tau2_se,
        i2=fit.i2,
        h2=fit.h2,
        r2=_r2(y, v, X, fit, func),
        qe=fit.qe,
        qe_df=fit.qe_df,
        qe_p=fit.qe_p,
        qm=fit.qm,
        qm_df=fit.qm_df,
        qm_df2=fit.qm_df2,
        qm_p=fit.qm_p,
        dfs=fit.dfs,
        method=method,
        ci_method=ci_method,
        level=level,
        vcov=pd.DataFrame(fit.vb, index=list(names), columns=list(names)),
    )


# --------------------------------------------------------------------------- subgroups
#: Corrections accepted by ``subgroup_analysis(p_adjust=)`` (statsmodels ``multipletests``).
P_ADJUST: tuple[str, ...] = (
    "bonferroni",
    "sidak",
    "holm-sidak",
    "holm",
    "simes-hochberg",
    "hommel",
    "fdr_bh",
    "fdr_by",
    "fdr_tsbh",
    "fdr_tsbky",
)


def _adjust_p(groups: pd.DataFrame, how: str) -> pd.DataFrame:
    """Add ``p_value_adj`` (statsmodels multipletests over the subgroups with a p-value)."""
    from statsmodels.stats.multitest import multipletests  # heavy: imported on first use

    out = groups.copy()
    p = out["p_value"].to_numpy(dtype=float)
    ok = np.isfinite(p)
    adj = np.full(p.shape, np.nan)
    if ok.any():
        adj[ok] = multipletests(p[ok], method=how)[1]
    out["p_value_adj"] = adj
    out["p_adjust"] = how
    return out


@dataclass(frozen=True)
class SubgroupResult(Display):
    """Subgroup analysis: one model per subgroup plus two tests of subgroup differences.

    Attributes
    ----------
    groups : DataFrame
        One row per subgroup (sorted by the ``by`` column(s); a missing key is its own group),
        from :func:`evidence.pooling.pool_groups`: the ``by`` column(s), then ``k, estimate,
        se, stat, p_value, ci_low, ci_high, tau2, tau2_ci_low, tau2_ci_high, i2, h2, q, q_df,
        q_p, pi_low, pi_high, method, ci_method, level``.  Each subgroup has its own tau2
        (metafor ``rma(..., subset=)``).
    q_between, q_between_df, q_between_p : float, int, float
        Test for subgroup differences with separate tau2 per subgroup: Cochran's Q of a
        fixed-effect meta-analysis of the subgroup estimates with their standard errors
        (metafor ``rma(yi=est, sei=se, method="FE")``; RevMan's "test for subgroup
        differences"), chi-square on (number of subgroups - 1) df.
    qm, qm_df, qm_df2, qm_p : float, int, float, float
        Moderator test of a single mixed-effects model ``mods=~factor(by)`` with one common
        tau2 (metafor ``rma(yi, vi, mods=~factor(by))``): chi-square on ``qm_df`` df, or
        F(``qm_df``, ``qm_df2``) with Knapp-Hartung.
    tau2_common : float
        The common (residual) tau2 of that model.
    qe, qe_df, qe_p : float, int, float
        Test for residual heterogeneity within subgroups (same model).
    by : tuple of str
        The grouping column(s).
    method, ci_method, level
        As given.
    """

    groups: pd.DataFrame
    q_between: float
    q_between_df: int
    q_between_p: float
    qm: float
    qm_df: int
    qm_df2: float
    qm_p: float
    tau2_common: float
    qe: float
    qe_df: int
    qe_p: float
    by: tuple[str, ...]
    method: str
    ci_method: str
    level: float

    def to_frame(self) -> pd.DataFrame:
        """The per-subgroup table ``groups``: the ``by`` columns, then ``k, estimate, se, stat,
        p_value, ci_low, ci_high, tau2, tau2_ci_low, tau2_ci_high, i2, h2, q, q_df, q_p, pi_low,
        pi_high, method, ci_method, level`` (as :func:`evidence.pooling.pool_groups`)."""
        return self.groups.copy()

    def tests(self) -> pd.DataFrame:
        """The two tests of subgroup differences.

        Returns
        -------
        DataFrame
            Two rows, ``test`` = "between (separate tau2)" and "moderator (common tau2)",
            with columns ``test, stat, df, df2, p_value, tau2`` (``df2`` is NaN for
            chi-square tests; ``tau2`` is NaN for the separate-tau2 test).
        """
        return pd.DataFrame(
            {
                "test": ["between (separate tau2)", "moderator (common tau2)"],
                "stat": [self.q_between, self.qm],
                "df": [self.q_between_df, self.qm_df],
                "df2": [math.nan, self.qm_df2],
                "p_value": [self.q_between_p, self.qm_p],
                "tau2": [math.nan, self.tau2_common],
            }
        )

    def _title(self) -> str:
        return (
            f"Subgroups by {', '.join(self.by)} ({self.method}): test for subgroup differences "
            f"Q = {self.q_between:.4f}, df = {self.q_between_df}, p = {fmt_p(self.q_between_p)}"
            f" (separate tau2); QM = {self.qm:.4f}, p = {fmt_p(self.qm_p)} (common tau2)"
        )


def subgroup_analysis(
    data: pd.DataFrame,
    by: str | Sequence[str],
    *,
    yi: str = "yi",
    vi: str = "vi",
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    p_adjust: str | None = None,
) -> SubgroupResult:
    """Random-effects model per subgroup and the tests for subgroup differences.

    Parameters
    ----------
    data : DataFrame
        One row per study.
    by : str or sequence of str
        Grouping column(s).  A missing key forms its own subgroup (no row is lost).
    yi, vi : str
        Effect-size and sampling-variance columns.
    method, ci_method, level
        As in :func:`evidence.pooling.pool` (``method`` "REML" default; ``ci_method`` "z" or
        "hksj"), for the subgroup fits and for the common-tau2 model.
    p_adjust : str, optional
        Multiple-testing correction of the per-subgroup tests (each subgroup's estimate
        against 0), by statsmodels ``multipletests``: "holm", "bonferroni", "fdr_bh", "hommel",
        ... (any of its ``method`` names). Adds the columns ``p_value_adj`` and ``p_adjust`` to
        ``groups``; default None adds nothing.

    Returns
    -------
    SubgroupResult
        ``groups`` (one pooled row per subgroup, each with its own tau2), the between-subgroup
        Q test with separate tau2 (``q_between``, as RevMan and a fixed-effect meta-analysis
        of the subgroup estimates in metafor) and the moderator test QM of one mixed-effects
        model with a common tau2 (``qm``, as ``rma(yi, vi, mods=~factor(by))``).  Both are
        reported because they answer slightly different questions: the first lets
        heterogeneity differ between subgroups, the second assumes it is equal.  With a
        single subgroup both tests are NaN (with a :class:`StatisticalWarning`).
    """

    func = "subgroup_analysis"
    by_list = [by] if isinstance(by, str) else list(by) if isinstance(by, Sequence) else []
    if not by_list or not all(isinstance(b, str) for b in by_list):
        raise InvalidParameterError(
            f"The 'by' argument of {func}() must be a column name or a list of column names. "
            f"Got {by!r}."
        )
    data, y, v = _data_yi_vi(data, yi, vi, by_list, func)
    method, ci_method = pool_options(method, ci_method, func)
    level = _check_level(level, func)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)  # pool_groups warns about NaN rows
        check_yi_vi(y, v, func)
    _check_positive_vi(v, func)
    if p_adjust is not None:
        p_adjust = _check_choice(p_adjust, P_ADJUST, "p_adjust", func)
    groups = pool_groups(
        data, by_list, yi=yi, vi=vi, method=method, ci_method=ci_method, level=level
    )
    if p_adjust is not None:
        groups = _adjust_p(groups, p_adjust)
    ok = (groups["k"] > 0) & np.isfinite(groups["se"].to_numpy(dtype=float))
    n_groups = int(ok.sum())
    nan_res: dict = dict(
        qm=math.nan,
        qm_df=0,
        qm_df2=math.nan,
        qm_p=math.nan,
        tau2_common=math.nan,
        qe=math.nan,
        qe_df=0,
        qe_p=math.nan,
    )
    if n_groups < 2:
        warnings.warn(
            f"{func}(): only {n_groups} subgroup with data; there is no test of subgroup "
            "differences.",
            StatisticalWarning,
            stacklevel=2,
        )
        return SubgroupResult(
            groups=groups,
            q_between=math.nan,
            q_between_df=0,
            q_between_p=math.nan,
            by=tuple(by_list),
            method=method,
            ci_method=ci_method,
            level=level,
            **nan_res,
        )
    est = groups.loc[ok, "estimate"].to_numpy(dtype=float)
    w = 1 / groups.loc[ok, "se"].to_numpy(dtype=float) ** 2
    mu = float(np.sum(w * est) / w.sum())
    q_between = float(np.sum(w * (est - mu) ** 2))

    q_between_p = float(dist.chi2_sf(q_between, n_groups - 1))

    codes = data.groupby(by_list, sort=True, dropna=False).ngroup().to_numpy()
    keep = ~(np.isnan(y) | np.isnan(v))
    labels = ["/".join(str(x) for x in row) for row in groups[by_list].itertuples(index=False)]
    present = sorted(set(codes[keep].tolist()))
    X = np.column_stack(
        [np.ones(int(keep.sum()))] + [(codes[keep] == c).astype(float) for c in present[1:]]
    )
    names = ["intrcpt"] + ["/".join(by_list) + labels[c] for c in present[1:]]
    mixed = dict(nan_res)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)  # pool_groups already warned
            yk, vk, _ = check_yi_vi(y[keep], v[keep], func)
        fit = fit_mods(
            yk, vk, X, names=names, method=method, ci_method=ci_method, level=level, func=func
        )
        mixed = dict(
            qm=fit.qm,
            qm_df=fit.qm_df,
            qm_df2=fit.qm_df2,
            qm_p=fit.qm_p,
            tau2_common=fit.tau2,
            qe=fit.qe,
            qe_df=fit.qe_df,
            qe_p=fit.qe_p,
        )
    except (ValidationError, ConvergenceError) as exc:
        warnings.warn(
            f"{func}(): the common-tau2 moderator test could not be computed ({exc}).",
            StatisticalWarning,
            stacklevel=2,
        )
    return SubgroupResult(
        groups=groups,
        q_between=q_between,
        q_between_df=n_groups - 1,
        q_between_p=q_between_p,
        by=tuple(by_list),
        method=method,
        ci_method=ci_method,
        level=level,
        **mixed,
    )


# --------------------------------------------------------------------------- cluster-robust
@dataclass(frozen=True)
class ClusteredPoolResult(Display):
    """Random-effects pooling with cluster-robust (sandwich) inference (metafor ``robust``).

    Attributes
    ----------
    k : int
        Rows (arms/outcomes) used.
    n_clusters : int
        Number of clusters (studies).
    estimate : float
        Pooled estimate of the working random-effects model (as :func:`evidence.pooling.pool`).
    se : float
        Cluster-robust standard error (CR1 with ``small_sample``, else CR0).
    stat, df, p_value : float
        t statistic on n_clusters - 1 df (Satterthwaite df with CR2) and its two-sided
        p-value.
    ci_low, ci_high : float
        t-based confidence interval.
    pi_low, pi_high : float
        Prediction interval ``estimate +/- t * sqrt(se^2 + tau2)`` (as metafor ``predict``).
    tau2, i2, h2, q, q_df, q_p : float
        Heterogeneity of the working model (rows treated as independent).
    se_model : float
        The model-based (non-robust) standard error, for comparison.
    vcov_type : str
        "CR1" (small-sample factor n/(n - 1), metafor ``adjust=TRUE``), "CR0" or "CR2"
        (clubSandwich bias-reduced linearisation).
    method, level
        As given.
    """

    k: int
    n_clusters: int
    estimate: float
    se: float
    stat: float
    df: float
    p_value: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    tau2: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_p: float
    se_model: float
    vcov_type: str
    method: str
    level: float

    def to_frame(self) -> pd.DataFrame:
        """One row with every field as a column: ``k, n_clusters, estimate, se, stat, df,
        p_value, ci_low, ci_high, pi_low, pi_high, tau2, i2, h2, q, q_df, q_p, se_model,
        vcov_type, method, level``."""
        return pd.DataFrame([{f: getattr(self, f) for f in self.__dataclass_fields__}])

    def _title(self) -> str:
        return (
            f"Cluster-robust pooling ({self.method}, {self.vcov_type}; k = {self.k} in "
            f"{self.n_clusters} clusters): {self.estimate:.4f} [{self.ci_low:.4f}, "
            f"{self.ci_high:.4f}], t({self.df}) = {self.stat:.4f}, p = {fmt_p(self.p_value)}"
        )


def pool_clustered(
    data: pd.DataFrame,
    *,
    cluster: str,
    yi: str = "yi",
    vi: str = "vi",
    method: str = "REML",
    small_sample: bool = True,
    level: float = 0.95,
    vcov: str | None = None,
) -> ClusteredPoolResult:
    """Pool several arms/outcomes per study with cluster-robust inference.

    Fits the working random-effects model with :func:`evidence.pooling.pool` (rows treated as
    independent) and replaces its standard error with the cluster-robust sandwich estimator,
    as metafor 3.8-1 ``robust(rma(yi, vi, method=method), cluster=cluster,
    adjust=small_sample, clubSandwich=FALSE)``: ``V = B M B'`` with bread ``B = (X'WX)^-1 X'W``,
    ``W = diag(1/(vi + tau2))`` and meat ``M`` built from the residuals summed within clusters;
    ``small_sample=True`` multiplies by n/(n - 1) (CR1, n clusters); tests and CIs use t with
    n - 1 df.

    Parameters
    ----------
    data : DataFrame
        One row per arm/outcome.
    cluster : str
        Column identifying the cluster (usually the study).  Must have no missing values.
    yi, vi : str
        Effect-size and sampling-variance columns.
    method : str
        tau2 estimator of the working model (as :func:`evidence.pooling.pool`).
    small_sample : bool
        Apply the n/(n - 1) small-sample factor (default True, metafor ``adjust=TRUE``).
        Ignored when ``vcov`` is given.
    level : float
        Confidence level.
    vcov : {None, "CR0", "CR1", "CR2"}
        Sandwich estimator. ``None`` (default): "CR1" if ``small_sample`` else "CR0".
        ``"CR2"``: the bias-reduced CR2 estimator with a t test on Satterthwaite df (R
        clubSandwich, metafor ``robust(..., clubSandwich=TRUE)``; ``df`` is then not an
        integer). For several comparisons per study, :func:`evidence.pool_multilevel` models
        the within-study correlation instead of only correcting the standard error.

    Returns
    -------
    ClusteredPoolResult
        Fields ``k, n_clusters, estimate, se, stat, df, p_value, ci_low, ci_high, pi_low,
        pi_high, tau2, i2, h2, q, q_df, q_p, se_model, vcov_type, method, level``.
    """

    func = "pool_clustered"
    if not isinstance(cluster, str):
        raise InvalidParameterError(
            f"The 'cluster' argument of {func}() must be a column name. Got {cluster!r}."
        )
    if not isinstance(small_sample, bool):
        raise InvalidParameterError(
            f"The 'small_sample' argument of {func}() must be True or False. Got {small_sample!r}."
        )
    vcov_type = (
        ("CR1" if small_sample else "CR0")
        if vcov is None
        else _check_choice(vcov, ("CR0", "CR1", "CR2"), "vcov", func)
    )
    data, y, v = _data_yi_vi(data, yi, vi, [cluster], func)
    method, _ = pool_options(method, "z", func)
    level = _check_level(level, func)
    cl = data[cluster]
    if cl.isna().any():
        raise ValidationError(
            f"The cluster column {cluster!r} given to {func}() has missing values "
            f"(rows {np.flatnonzero(cl.isna().to_numpy()).tolist()})."
        )
    y, v, keep = check_yi_vi(y, v, func)
    codes = pd.factorize(cl[keep])[0]
    n = int(codes.max()) + 1
    if n < 2:
        raise ValidationError(
            f"{func}() needs at least 2 clusters in {cluster!r} (the number of clusters must "
            f"exceed the number of coefficients, 1). Got {n}."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)  # check_yi_vi warned already
        res = pool(y, v, method=method, ci_method="z", level=level)
    tau2 = 0.0 if res.method == "FE" or not math.isfinite(res.tau2) else res.tau2
    resid = y - res.estimate
    dfs: float = n - 1
    if vcov_type == "CR2":
        rows = [np.flatnonzero(codes == j) for j in range(n)]
        cr = cr2(np.ones((y.size, 1)), resid, [np.diag(v[r] + tau2) for r in rows], rows)
        var = float(cr.vcov[0, 0])
        dfs = float(cr.df[0])
    else:
        w = 1 / (v + tau2)
        bread = w / w.sum()
        score = np.bincount(codes, weights=bread * resid, minlength=n)
        var = float(np.sum(score**2))
        if vcov_type == "CR1":
            var *= n / dfs
    se = math.sqrt(var)
    if se > 0:
        stat = res.estimate / se
    else:  # every residual is 0 (identical estimates): an infinite t, as metafor reports
        stat = math.copysign(math.inf, res.estimate) if res.estimate != 0 else math.nan

    crit = float(dist.t_isf((1 - level) / 2, dfs))
    half_pi = crit * math.sqrt(se**2 + tau2)
    return ClusteredPoolResult(
        k=res.k,
        n_clusters=n,
        estimate=res.estimate,
        se=se,
        stat=stat,
        df=dfs,
        p_value=float(2 * dist.t_sf(abs(stat), dfs)),
        ci_low=res.estimate - crit * se,
        ci_high=res.estimate + crit * se,
        pi_low=res.estimate - half_pi,
        pi_high=res.estimate + half_pi,
        tau2=res.tau2,
        i2=res.i2,
        h2=res.h2,
        q=res.q,
        q_df=res.q_df,
        q_p=res.q_p,
        se_model=res.se,
        vcov_type=vcov_type,
        method=res.method,
        level=level,
    )
