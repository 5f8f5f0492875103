"""Three-level random-effects model: comparisons nested in studies (metafor ``rma.mv``).

``y_ij = mu + u_i + w_ij + e_ij`` with ``u_i ~ N(0, sigma2_study)`` shared by the comparisons
(arms, outcomes, doses, time points) of study ``i``, ``w_ij ~ N(0, sigma2_comparison)`` and
``e_ij ~ N(0, v_ij)``: metafor 3.8-1 ``rma.mv(yi, vi, random = ~ 1 | study/comparison)``.
The variance components are estimated by REML (default) or ML, solving the score equations by
Fisher scoring to full precision (with an active set for a component on the boundary 0);
profile-likelihood confidence intervals for each component follow ``confint.rma.mv``; I^2 per
level uses the typical within-study variance of the fixed-effect model (Cheung 2014, as on
metafor's web site). ``ci_method="cr2"`` replaces the model-based inference for ``mu`` with
the cluster-robust CR2 variance and Satterthwaite df (``robust(fit, cluster=study,
clubSandwich=TRUE)``, see :mod:`evidence.robust`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd

from evidence import _distributions as dist
from evidence import _tau2
from evidence._validate import check_choice, check_frame, check_level
from evidence.errors import (
    ConvergenceError,
    InvalidParameterError,
    StatisticalWarning,
    ValidationError,
)
from evidence.pooling import check_effect_values, numeric_data_column
from evidence.robust import cr2

__all__ = ["MultilevelResult", "pool_multilevel"]

METHODS: tuple[str, ...] = ("REML", "ML")
CI_METHODS: tuple[str, ...] = ("z", "cr2")
_MAXITER = 10_000

FIELDS: tuple[str, ...] = (
    "k",
    "n_studies",
    "n_comparisons",
    "estimate",
    "se",
    "stat",
    "df",
    "p_value",
    "ci_low",
    "ci_high",
    "sigma2_study",
    "sigma2_study_ci_low",
    "sigma2_study_ci_high",
    "sigma2_comparison",
    "sigma2_comparison_ci_low",
    "sigma2_comparison_ci_high",
    "i2_study",
    "i2_comparison",
    "i2",
    "q",
    "q_df",
    "q_p",
    "pi_low",
    "pi_high",
    "se_model",
    "loglik",
    "method",
    "ci_method",
    "level",
)


# ------------------------------------------------------------------------------ the model
class _Blocks:
    """The studies as padded blocks: (S, m) arrays, padding rows decoupled (y = x = 0)."""

    def __init__(self, y: np.ndarray, v: np.ndarray, study: np.ndarray, inner: np.ndarray):
        order = np.argsort(study, kind="stable")
        counts = np.bincount(study)
        self.S = len(counts)
        self.m = int(counts.max())
        pos = np.arange(len(y)) - np.repeat(np.cumsum(counts) - counts, counts)
        s_sorted = study[order]
        self.index = (s_sorted, pos)
        self.order = order
        self.mask = np.zeros((self.S, self.m), dtype=bool)
        self.mask[self.index] = True
        self.y = np.zeros((self.S, self.m))
        self.y[self.index] = y[order]
        self.v = np.ones((self.S, self.m))
        self.v[self.index] = v[order]
        inn = np.full((self.S, self.m), -1, dtype=np.int64)
        inn[self.index] = inner[order]
        z = self.mask.astype(float)
        self.V1 = z[:, :, None] * z[:, None, :]  # study level: all rows of a study
        self.V2 = (
            (inn[:, :, None] == inn[:, None, :]) & self.mask[:, :, None] & self.mask[:, None, :]
        ).astype(float)  # same comparison
        self.X = z[:, :, None]  # intercept only, (S, m, p)
        self.k = len(y)
        self.p = 1

    def V(self, theta: np.ndarray) -> np.ndarray:
        vv = np.where(self.mask, self.v, 1.0)
        V = theta[0] * self.V1 + theta[1] * self.V2
        idx = np.arange(self.m)
        V[:, idx, idx] += vv
        return V


def _gls(b: _Blocks, theta: np.ndarray):
    V = b.V(theta)
    L = np.linalg.cholesky(V)
    W = np.linalg.inv(V)
    WX = W @ b.X
    XtWX = np.einsum("sip,siq->pq", b.X, WX)
    M = np.linalg.inv(XtWX)
    beta = M @ np.einsum("sip,si->p", WX, b.y)
    r = b.y - b.X @ beta
    Wr = np.einsum("sij,sj->si", W, r)
    logdet_v = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
    return V, W, WX, M, beta, r, Wr, logdet_v, XtWX


def _ll_from(b: _Blocks, reml: bool, r, Wr, logdet_v, XtWX) -> float:
    rss = float(np.sum(r * Wr))
    if not reml:
        return -0.5 * b.k * math.log(2 * math.pi) - 0.5 * logdet_v - 0.5 * rss
    XtX = np.einsum("sip,siq->pq", b.X, b.X)
    return (
        -0.5 * (b.k - b.p) * math.log(2 * math.pi)
        + 0.5 * np.linalg.slogdet(XtX)[1]
        - 0.5 * logdet_v
        - 0.5 * np.linalg.slogdet(XtWX)[1]
        - 0.5 * rss
    )


def _eval(b: _Blocks, theta: np.ndarray, reml: bool):
    """(Restricted) log-likelihood, score vector and Fisher information, from one GLS solve."""
    _, W, WX, M, _, r, Wr, logdet_v, XtWX = _gls(b, theta)
    ll = _ll_from(b, reml, r, Wr, logdet_v, XtWX)
    A = [W @ b.V1, W @ b.V2]  # W V_j, per block
    g = np.empty(2)
    F = np.empty((2, 2))
    B = []
    for j in range(2):
        quad = float(np.einsum("si,sij,sj->", Wr, [b.V1, b.V2][j], Wr))
        tr = float(np.einsum("sii->", A[j]))
        if reml:
            Bj = np.einsum("sip,sij,sjq->pq", b.X, A[j], WX)  # X'W V_j W X
            B.append(Bj)
            tr -= float(np.trace(M @ Bj))
        g[j] = 0.5 * (quad - tr)
    for j in range(2):
        for k in range(j, 2):
            AA = A[j] @ A[k]
            val = float(np.einsum("sii->", AA))
            if reml:
                C = np.einsum("sip,sij,sjq->pq", b.X, AA, WX)
                val += -2.0 * float(np.trace(M @ C)) + float(np.trace(M @ B[j] @ M @ B[k]))
            F[j, k] = F[k, j] = 0.5 * val
    return ll, g, F


def _maximise(
    b: _Blocks, reml: bool, start: np.ndarray, fixed: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Fisher scoring with an active set at 0; components in ``fixed`` are held.

    Returns the maximiser and the (restricted) log-likelihood there. Each iteration costs one
    GLS solve (likelihood, score and information from the same factorisation); a step that
    lowers the likelihood is halved.
    """
    theta = np.maximum(np.asarray(start, float), 0.0)
    hold = np.zeros(2, bool) if fixed is None else fixed
    scale = max(float(np.mean(b.v[b.mask])), 1e-300)
    ll, g, F = _eval(b, theta, reml)
    for _ in range(_MAXITER):
        free = ~hold & ((theta > 0) | (g > 0))
        step = np.zeros(2)
        if free.any():
            Ff = F[np.ix_(free, free)]
            try:
                step[free] = np.linalg.solve(Ff, g[free])
            except np.linalg.LinAlgError:
                step[free] = g[free] / np.maximum(np.diag(Ff), 1e-300)
        new = np.maximum(theta + step, 0.0)
        ll_new, g_new, F_new = _eval(b, new, reml)
        h = 0
        while ll_new < ll - 1e-12 * abs(ll) - 1e-12 and h < 60:
            step *= 0.5
            new = np.maximum(theta + step, 0.0)
            ll_new, g_new, F_new = _eval(b, new, reml)
            h += 1
        rel = np.abs(new - theta) / (np.abs(theta) + scale)
        if np.all(rel <= 1e-14):
            return new, ll_new
        # at the maximum to rounding: the likelihood no longer rises and the step is at the
        # level of floating-point noise (the score only flips sign), so keep the better point
        if ll_new <= ll and np.all(rel <= 1e-10):
            return theta, ll
        theta, ll, g, F = new, ll_new, g_new, F_new
    raise ConvergenceError(
        f"pool_multilevel(): Fisher scoring for the variance components did not converge in "
        f"{_MAXITER} iterations."
    )


def _profile_ci(
    b: _Blocks, reml: bool, theta: np.ndarray, ll_max: float, j: int, level: float
) -> tuple[float, float]:
    """Profile-likelihood CI for component j (metafor ``confint(res, sigma2=j)``)."""
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import optimize, special

    target = 0.5 * float(special.chdtri(1, 1.0 - level))
    other = 1 - j
    fixed = np.zeros(2, bool)
    fixed[j] = True
    cache: dict[float, np.ndarray] = {}

    def gap(c: float) -> float:
        start = theta.copy()
        start[j] = c
        if cache:
            near = min(cache, key=lambda x: abs(x - c))
            start[other] = cache[near][other]
        t, ll_c = _maximise(b, reml, start, fixed=fixed)
        cache[c] = t
        return ll_max - ll_c - target

    est = float(theta[j])
    if est <= 0 or gap(0.0) <= 0:
        low = 0.0
    else:
        low = optimize.brentq(gap, 0.0, est, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    hi_end = max(10.0 * est, float(np.mean(b.v[b.mask])))
    tries = 0
    while gap(hi_end) < 0:
        hi_end *= 4.0
        tries += 1
        if tries > 60:
            return low, math.nan
    high = optimize.brentq(gap, est, hi_end, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    return float(low), float(high)


# ------------------------------------------------------------------------------ result
@dataclass(frozen=True)
class MultilevelResult:
    """Result of :func:`pool_multilevel` (full precision; rounding only in :meth:`summary`).

    Attributes
    ----------
    k, n_studies, n_comparisons : int
        Rows used, studies (level 3) and distinct comparisons (level 2).
    estimate, se, stat, df, p_value, ci_low, ci_high : float
        Pooled estimate and its inference: model-based z (``df`` NaN) or, with
        ``ci_method="cr2"``, the CR2 cluster-robust se with a t test on Satterthwaite ``df``.
    sigma2_study, sigma2_comparison : float
        Between-study and within-study (between-comparison) variance components, each with a
        profile-likelihood interval ``*_ci_low``, ``*_ci_high``.
    i2_study, i2_comparison, i2 : float
        Percent of total variance at each level and in all (multilevel I^2).
    q, q_df, q_p : float, int, float
        Cochran's Q of the fixed-effect model (metafor ``QE``), df k - 1, p-value.
    pi_low, pi_high : float
        Prediction interval ``estimate +/- crit * sqrt(se^2 + sigma2_study +
        sigma2_comparison)`` (metafor ``predict``; crit z or t(df)).
    se_model : float
        The model-based standard error (equal to ``se`` with ``ci_method="z"``).
    loglik : float
        (Restricted) log-likelihood at the estimate (metafor ``logLik``).
    method, ci_method, level
        As given.
    """

    k: int
    n_studies: int
    n_comparisons: int
    estimate: float
    se: float
    stat: float
    df: float
    p_value: float
    ci_low: float
    ci_high: float
    sigma2_study: float
    sigma2_study_ci_low: float
    sigma2_study_ci_high: float
    sigma2_comparison: float
    sigma2_comparison_ci_low: float
    sigma2_comparison_ci_high: float
    i2_study: float
    i2_comparison: float
    i2: float
    q: float
    q_df: int
    q_p: float
    pi_low: float
    pi_high: float
    se_model: float
    loglik: float
    method: str
    ci_method: str
    level: float

    def to_frame(self) -> pd.DataFrame:
        """One row with every field as a column: ``k, n_studies, n_comparisons, estimate, se,
        stat, df, p_value, ci_low, ci_high, sigma2_study, sigma2_study_ci_low,
        sigma2_study_ci_high, sigma2_comparison, sigma2_comparison_ci_low,
        sigma2_comparison_ci_high, i2_study, i2_comparison, i2, q, q_df, q_p, pi_low, pi_high,
        se_model, loglik, method, ci_method, level``."""
        return pd.DataFrame([{f: getattr(self, f) for f in FIELDS}])

    def components(self) -> pd.DataFrame:
        """The variance components: columns ``level, sigma2, ci_low, ci_high, i2``."""
        return pd.DataFrame(
            {
                "level": ["study", "comparison"],
                "sigma2": [self.sigma2_study, self.sigma2_comparison],
                "ci_low": [self.sigma2_study_ci_low, self.sigma2_comparison_ci_low],
                "ci_high": [self.sigma2_study_ci_high, self.sigma2_comparison_ci_high],
                "i2": [self.i2_study, self.i2_comparison],
            }
        )

    def _title(self) -> str:
        test = "z" if self.ci_method == "z" else f"t({self.df:.2f}), CR2"
        return (
            f"Three-level model ({self.method}; k = {self.k} comparisons in "
            f"{self.n_studies} studies): {self.estimate:.4f} [{self.ci_low:.4f}, "
            f"{self.ci_high:.4f}], {test} = {self.stat:.4f}, p = {self.p_value:.4g}"
        )

    def summary(self, digits: int = 4) -> str:
        """Printable text: title, variance components and I^2 (the only rounding)."""
        pct = f"{100 * self.level:g}%"
        comp = self.components().round(digits).to_string(index=False)
        return (
            f"{self._title()}\nVariance components ({pct} profile-likelihood CI):\n{comp}\n"
            f"I^2 total {self.i2:.2f}%; Q({self.q_df}) = {self.q:.4f}, p = {self.q_p:.4g}\n"
            f"{pct} prediction interval: {self.pi_low:.4f} to {self.pi_high:.4f}"
        )

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:

        return (
            f"<p><b>{escape(self._title())}</b></p>"
            + self.to_frame().round(6).to_html(escape=True, index=False)
            + self.components().round(6).to_html(escape=True, index=False)
        )


# ------------------------------------------------------------------------------ public
def pool_multilevel(
    data: pd.DataFrame,
    *,
    study: str,
    comparison: str | None = None,
    yi: str = "yi",
    vi: str = "vi",
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
) -> MultilevelResult:
    """Pool several comparisons per study with a three-level random-effects model.

    Parameters
    ----------
    data : DataFrame
        One row per comparison (arm, outcome, dose, time point).
    study : str
        Column identifying the study (level 3). No missing values.
    comparison : str, optional
        Column identifying the comparison within its study (level 2); rows with the same
        study and comparison share the level-2 effect. Default: every row is its own
        comparison (metafor ``random = ~ 1 | study/row``).
    yi, vi : str
        Effect-size and sampling-variance columns (ratio measures on the log scale). Rows with
        a missing value are dropped with a StatisticalWarning.
    method : {"REML", "ML"}
        Estimator of the variance components.
    ci_method : {"z", "cr2"}
        ``"z"``: model-based normal inference (metafor's default). ``"cr2"``: cluster-robust
        CR2 standard error by study with a t test on Satterthwaite df (metafor
        ``robust(fit, cluster=study, clubSandwich=TRUE)``), also used for the PI.
    level : float
        Confidence level (fraction) for every interval.

    Returns
    -------
    MultilevelResult
        Frozen result; ``to_frame()`` gives one row with the columns ``k, n_studies,
        n_comparisons, estimate, se, stat, df, p_value, ci_low, ci_high, sigma2_study,
        sigma2_study_ci_low, sigma2_study_ci_high, sigma2_comparison,
        sigma2_comparison_ci_low, sigma2_comparison_ci_high, i2_study, i2_comparison, i2, q,
        q_df, q_p, pi_low, pi_high, se_model, loglik, method, ci_method, level``.

    Raises
    ------
    InvalidParameterError
        Unknown option, a column that is not in ``data``.
    ValidationError
        Fewer than 2 studies, missing study keys, non-numeric cells, ``vi <= 0``, infinite
        values.
    ConvergenceError
        The variance components could not be estimated.
    """
    func = "pool_multilevel"
    check_frame(data, "data", func)
    for arg, col in (("study", study), ("yi", yi), ("vi", vi), ("comparison", comparison)):
        if arg == "comparison" and col is None:
            continue
        if not isinstance(col, str) or col not in data.columns:
            raise InvalidParameterError(
                f"The '{arg}' argument of {func}() must name a column of data. Got {col!r}; "
                f"columns: {list(map(str, data.columns))}."
            )
    method = check_choice(method, "method", func, METHODS)
    ci_method = check_choice(ci_method, "ci_method", func, CI_METHODS)
    level = check_level(level, func)

    y = numeric_data_column(data, yi, "yi", func)
    v = numeric_data_column(data, vi, "vi", func)

    keep = check_effect_values(y, v, func, data.index, yname=yi, vname=vi)
    st = data[study]
    if st.isna().any():
        raise ValidationError(
            f"The study column {study!r} given to {func}() has missing values (rows "
            f"{list(data.index[st.isna().to_numpy()])[:10]})."
        )
    if not keep.any():
        raise ValidationError(
            f"{func}() needs rows with both '{yi}' and '{vi}'; all {len(y)} rows have a "
            f"missing value."
        )
    if not keep.all():
        warnings.warn(
            f"{func}(): {int((~keep).sum())} of {len(y)} rows dropped because "
            f"'{yi}' or '{vi}' is missing (NaN).",
            StatisticalWarning,
            stacklevel=2,
        )
    sub = data[keep]
    y, v = y[keep], v[keep]
    s_codes = pd.factorize(sub[study])[0]
    if comparison is None:
        inner = np.arange(len(y))
    else:
        cm = sub[comparison]
        if cm.isna().any():
            raise ValidationError(
                f"The comparison column {comparison!r} given to {func}() has missing values."
            )
        inner = pd.factorize(pd.MultiIndex.from_arrays([sub[study], cm]))[0]
    n_studies = int(s_codes.max()) + 1 if len(s_codes) else 0
    if n_studies < 2:
        raise ValidationError(
            f"{func}() needs at least 2 studies in {study!r} to separate the study level. "
            f"Got {n_studies}."
        )
    n_comparisons = int(inner.max()) + 1
    if n_comparisons == n_studies:
        warnings.warn(
            f"{func}(): every study has a single comparison, so the study and comparison "
            f"variances are not identified separately (only their sum is); use pool() for "
            f"one row per study.",
            StatisticalWarning,
            stacklevel=2,
        )
    reml = method == "REML"
    b = _Blocks(y, v, s_codes, inner)
    # start: half of the DerSimonian-Laird tau2 at each level (floored away from 0)

    seg = _tau2.Segments.from_sorted(y, v, np.array([len(y)]))
    t0 = max(float(_tau2.tau2_dl(seg)[0]), 0.01 * float(np.mean(v)))
    theta, ll = _maximise(b, reml, np.array([t0 / 2, t0 / 2]))
    _, _, _, M, beta, r, _, _, _ = _gls(b, theta)
    est = float(beta[0])
    se_model = math.sqrt(float(M[0, 0]))

    alpha = 1.0 - level
    if ci_method == "z":
        se, df = se_model, math.nan
        stat = est / se
        p = float(2 * dist.norm_sf(abs(stat)))
        crit = float(dist.norm_isf(alpha / 2))
    else:
        Vb = b.V(theta)
        rows, blocks = [], []
        resid = y - est
        for s in range(b.S):
            rr = np.flatnonzero(s_codes == s)
            rows.append(rr)
            n_s = len(rr)
            blocks.append(Vb[s, :n_s, :n_s])  # rows of study s in the same (stable) order
        res = cr2(np.ones((len(y), 1)), resid, blocks, rows)
        se, df = math.sqrt(float(res.vcov[0, 0])), float(res.df[0])
        stat = est / se
        p = float(2 * dist.t_sf(abs(stat), df))
        crit = float(dist.t_isf(alpha / 2, df))
    ci_low, ci_high = est - crit * se, est + crit * se
    half = crit * math.sqrt(se * se + float(theta.sum()))

    cis = [_profile_ci(b, reml, theta, ll, j, level) for j in range(2)]
    # heterogeneity of the fixed-effect model and the typical within-study variance
    w0 = 1.0 / v
    sw0 = float(w0.sum())
    mu0 = float(np.sum(w0 * y) / sw0)
    q = max(float(np.sum(w0 * (y - mu0) ** 2)), 0.0)
    q_df = len(y) - 1
    vt = q_df / (sw0 - float(np.sum(w0 * w0)) / sw0)
    tot = float(theta.sum()) + vt
    return MultilevelResult(
        k=len(y),
        n_studies=n_studies,
        n_comparisons=n_comparisons,
        estimate=est,
        se=se,
        stat=stat,
        df=df,
        p_value=p,
        ci_low=ci_low,
        ci_high=ci_high,
        sigma2_study=float(theta[0]),
        sigma2_study_ci_low=cis[0][0],
        sigma2_study_ci_high=cis[0][1],
        sigma2_comparison=float(theta[1]),
        sigma2_comparison_ci_low=cis[1][0],
        sigma2_comparison_ci_high=cis[1][1],
        i2_study=100 * float(theta[0]) / tot,
        i2_comparison=100 * float(theta[1]) / tot,
        i2=100 * float(theta.sum()) / tot,
        q=q,
        q_df=q_df,
        q_p=float(dist.chi2_sf(q, q_df)) if q_df > 0 else math.nan,
        pi_low=est - half,
        pi_high=est + half,
        se_model=se_model,
        loglik=ll,
        method=method,
        ci_method=ci_method,
        level=level,
    )
