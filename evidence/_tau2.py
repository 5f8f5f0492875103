"""Vectorised tau^2 estimators and Q-profile intervals for many meta-analyses at once.

Internal module of :mod:`evidence.pooling`. Every function works on a :class:`Segments` object:
the studies of all groups stacked in one array, sorted so that each group is one contiguous
run, and returns one value per group. Sums over a group are ``np.add.reduceat`` segment sums,
so one call handles 1 or 100,000 groups with the same code (there is no Python loop over
groups). The formulas follow metafor 3.8-1 ``rma.uni()`` / ``confint.rma.uni()`` for the
intercept-only model.

Iterative estimators are solved to full double precision by a safeguarded Newton iteration
inside a bracket on the score (ML/REML) or generalised Q (PM, Q-profile) equation; it cannot
leave the bracket and so converges (metafor's Fisher scoring converges to the same roots).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evidence.errors import ConvergenceError, ValidationError

__all__ = [
    "Segments",
    "tau2_fixed",
    "tau2_dl",
    "tau2_he",
    "tau2_sj",
    "tau2_pm",
    "tau2_likelihood",
    "qprofile_ci",
    "generalised_q",
]

EPS = np.finfo(float).eps
#: Maximum iterations of the bracketed Newton solver (generalised Q equations).
NEWTON_MAXITER = 200
#: Maximum iterations for the ML/REML score equation (tests lower it to force a fallback).
LIKELIHOOD_MAXITER = 200
_NEWTON_RTOL = 1e-13


@dataclass(frozen=True)
class Segments:
    """Studies of several groups, sorted by group; every group has k >= 1 studies."""

    y: np.ndarray
    v: np.ndarray
    k: np.ndarray  # studies per group (int)
    starts: np.ndarray  # first row of each group

    @classmethod
    def from_sorted(cls, y: np.ndarray, v: np.ndarray, k: np.ndarray) -> Segments:
        k = np.asarray(k, dtype=np.int64)
        starts = np.zeros(len(k), dtype=np.int64)
        np.cumsum(k[:-1], out=starts[1:])
        return cls(np.asarray(y, float), np.asarray(v, float), k, starts)

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Per-group sum of a per-study array."""
        return np.add.reduceat(x, self.starts)

    def rep(self, g: np.ndarray) -> np.ndarray:
        """Broadcast a per-group array to the studies."""
        return np.repeat(g, self.k)

    def subset(self, idx: np.ndarray) -> Segments:
        """The groups ``idx`` (in that order) as a new Segments object."""
        if idx.size and (idx.size == 1 or bool(np.all(idx[1:] > idx[:-1]))):
            # increasing group numbers (the Newton iterations drop converged groups): a boolean
            # row mask is cheaper than gathering by row number
            keep = np.zeros(len(self.k), dtype=bool)
            keep[idx] = True
            rows = np.repeat(keep, self.k)
            return Segments.from_sorted(self.y[rows], self.v[rows], self.k[idx])
        k = self.k[idx]
        ends = np.cumsum(k)
        rows = np.repeat(self.starts[idx] - (ends - k), k) + np.arange(ends[-1] if len(k) else 0)
        return Segments.from_sorted(self.y[rows], self.v[rows], k)


def _gls(seg: Segments, tau2: np.ndarray):
    """Weights, their sum, the GLS mean and the residuals at tau2 (one value per group)."""
    w = 1.0 / (seg.v + seg.rep(tau2))
    sw = seg.sum(w)
    mu = seg.sum(w * seg.y) / sw
    r = seg.y - seg.rep(mu)
    return w, sw, mu, r


def generalised_q(seg: Segments, tau2: np.ndarray) -> np.ndarray:
    """Generalised Q statistic sum w_i (y_i - mu(tau2))^2 with w_i = 1/(v_i + tau2)."""
    w, _, _, r = _gls(seg, tau2)
    return seg.sum(w * r * r)


def tau2_fixed(seg: Segments) -> np.ndarray:
    return np.zeros(len(seg.k))


def tau2_dl(seg: Segments) -> np.ndarray:
    """DerSimonian-Laird, truncated at 0."""
    w = 1.0 / seg.v
    sw = seg.sum(w)
    mu = seg.sum(w * seg.y) / sw
    r = seg.y - seg.rep(mu)
    q = np.maximum(seg.sum(w * r * r), 0.0)
    trp = sw - seg.sum(w * w) / sw
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.maximum((q - (seg.k - 1)) / trp, 0.0)


def tau2_he(seg: Segments) -> np.ndarray:
    """Hedges (Cochran / variance-component) estimator, truncated at 0."""
    k = seg.k
    ybar = seg.sum(seg.y) / k
    rss = seg.sum((seg.y - seg.rep(ybar)) ** 2)
    trpv = seg.sum(seg.v) * (k - 1) / k
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.maximum((rss - trpv) / (k - 1), 0.0)


def tau2_sj(seg: Segments) -> np.ndarray:
    """Sidik-Jonkman, one step from the crude start var(y)(k-1)/k (metafor's default)."""
    k = seg.k
    ybar = seg.sum(seg.y) / k
    tau0 = seg.sum((seg.y - seg.rep(ybar)) ** 2) / k
    w, _, _, r = _gls(seg, tau0)
    rss = seg.sum(w * r * r)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.maximum(tau0 * rss / (k - 1), 0.0)


def _bracketed_newton(fun, seg, x, lo, hi, active, maxiter=None):
    """Solve f(x) = 0 per group for f decreasing through the root, with f(lo) > 0 >= f(hi).

    ``fun(sub, idx, x_sub)`` returns (f, f') for the groups ``idx`` (``sub`` holds their
    studies). Safeguarded Newton (as ``rtsafe``): a Newton step is taken when it stays inside
    the current bracket and, before the final precision phase, at least halves the step before
    last; otherwise the bracket is bisected. Every evaluation shrinks the bracket, so the
    iteration converges. Only groups still iterating are evaluated. Returns (x, converged).
    """
    maxiter = NEWTON_MAXITER if maxiter is None else maxiter
    x = np.where(active, np.clip(x, lo, hi), x)
    lo, hi = lo.copy(), hi.copy()
    conv = ~active
    idx = np.flatnonzero(active)
    sub = seg.subset(idx)
    dx_old = hi - lo
    for _ in range(maxiter):
        if idx.size == 0:
            break
        xs, los, his = x[idx], lo[idx], hi[idx]
        f, d = fun(sub, idx, xs)
        pos = f > 0
        los = np.where(pos, xs, los)
        his = np.where(pos, his, xs)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            step = f / d
            xn = xs - step
        slow = (np.abs(step) > 0.5 * dx_old[idx]) & (np.abs(step) > 1e-10 * np.abs(xs))
        bad = ~np.isfinite(xn) | (xn <= los) | (xn >= his) | (d >= 0) | slow
        xn = np.where(bad, 0.5 * (los + his), xn)
        tol = _NEWTON_RTOL * np.abs(xs) + 1e-300
        done = (f == 0) | (np.abs(xn - xs) <= tol) | (his - los <= tol)
        dx_old[idx] = np.abs(xn - xs)
        x[idx] = np.where(f != 0, xn, xs)
        lo[idx], hi[idx] = los, his
        conv[idx[done]] = True
        if done.any():
            idx = idx[~done]
            if idx.size:
                sub = sub.subset(np.flatnonzero(~done))
    return x, conv


def _q_target_root(
    seg: Segments,
    target: np.ndarray,
    active: np.ndarray,
    x0: np.ndarray | None = None,
    q0: np.ndarray | None = None,
    ss: np.ndarray | None = None,
    lo: np.ndarray | None = None,
    hi_cap: np.ndarray | None = None,
):
    """Smallest tau2 >= 0 with generalised Q(tau2) = target; 0 where Q(0) <= target.

    Q(tau2) decreases from Q(0) to 0, and Q(tau2) <= SS/tau2 with SS the sum of squares
    around the unweighted mean, so [0, 1.01 SS/target] always brackets the root. ``x0`` is
    an optional starting value (any value is safe: Newton is kept inside the bracket).
    """
    n = len(seg.k)
    if q0 is None:
        q0 = generalised_q(seg, np.zeros(n))
    need = active & (q0 > target)
    if ss is None:
        ybar = seg.sum(seg.y) / seg.k
        ss = seg.sum((seg.y - seg.rep(ybar)) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        hi = np.where(need, 1.01 * ss / target + 1e-300, 0.0)
    if hi_cap is not None:  # a known point with Q <= target (tighter than the SS bound)
        hi = np.where(need & np.isfinite(hi_cap), np.minimum(hi, hi_cap), hi)

    # Newton on 1/c - 1/Q(tau2): Q behaves like A / (B + tau2), so 1/Q is nearly linear and
    # Newton converges in a few steps even far from the root.
    def fun(sub, idx, t):
        w, sw, _, r = _gls(sub, t)
        wr2 = w * r * r
        q = sub.sum(wr2)
        return 1.0 / target[idx] - 1.0 / q, -sub.sum(w * wr2) / (q * q)

    lo = np.zeros(n) if lo is None else np.where(need, np.minimum(lo, hi), 0.0)
    x0 = np.zeros(n) if x0 is None else np.where(np.isfinite(x0), x0, 0.0)
    root, conv = _bracketed_newton(fun, seg, x0, lo, hi, need)
    root = np.where(need, root, np.where(active, 0.0, np.nan))
    return root, conv | ~need


def tau2_pm(seg: Segments):
    """Paule-Mandel: root of generalised Q(tau2) = k - 1. Returns (tau2, converged)."""
    active = seg.k > 1
    tau2, conv = _q_target_root(seg, (seg.k - 1).astype(float), active, x0=tau2_dl(seg))
    return np.where(active, tau2, 0.0), conv


def _score_only(seg: Segments, tau2: np.ndarray, reml: bool) -> np.ndarray:
    """Twice the (restricted) log-likelihood score alone (what the bracket walks need):
    the first value of :func:`_score`, without the sums of its derivative."""
    w, sw, _, r = _gls(seg, tau2)
    w2 = w * w
    sw2 = seg.sum(w2)
    yppy = seg.sum(w2 * r * r)
    return yppy - (sw - sw2 / sw) if reml else yppy - sw


def _score(seg: Segments, tau2: np.ndarray, reml: bool):
    """Twice the (restricted) log-likelihood score, the Fisher information and the derivative."""
    w, sw, _, r = _gls(seg, tau2)
    w2 = w * w
    sw2 = seg.sum(w2)
    w2r = w2 * r
    yppy = seg.sum(w2r * r)  # y'PPy
    a = seg.sum(w * w2r * r)  # sum w^3 r^2
    b = seg.sum(w2r)  # sum w^2 r
    yp3y = a - b * b / sw
    if reml:
        sw3 = seg.sum(w2 * w)
        trp = sw - sw2 / sw
        trpp = sw2 - 2.0 * sw3 / sw + (sw2 / sw) ** 2
        return yppy - trp, trpp, -2.0 * yp3y + trpp
    return yppy - sw, sw2, -2.0 * yp3y + sw2


def _loglik(seg: Segments, tau2: np.ndarray, reml: bool) -> np.ndarray:
    w, sw, _, r = _gls(seg, tau2)
    ll = -0.5 * seg.sum(np.log(seg.v + seg.rep(tau2))) - 0.5 * seg.sum(w * r * r)
    if reml:
        ll -= 0.5 * np.log(sw)
    return ll


def _walk(seg, reml, active, start, points, stop_when_positive):
    """Walk from ``start`` through ``points(j)`` (one array per step) until the score changes
    sign; returns (found, lo, hi) with f(lo) > 0 >= f(hi) for the groups where it did."""
    n = len(seg.k)
    lo, hi = np.zeros(n), np.zeros(n)
    found = np.zeros(n, dtype=bool)
    prev = start.copy()
    todo = active.copy()
    for pts in points:
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        t = pts[idx]
        f = _score_only(seg.subset(idx), t, reml)
        hit = f > 0 if stop_when_positive else f <= 0
        g = idx[hit]
        if stop_when_positive:  # walking down from a point with f <= 0
            lo[g], hi[g] = t[hit], prev[g]
        else:  # walking up from a point with f > 0
            lo[g], hi[g] = prev[g], t[hit]
        found[g] = True
        todo[g] = False
        prev[idx] = t
    return found, lo, hi


def tau2_likelihood(seg: Segments, reml: bool):
    """ML or REML tau2. Returns (tau2, converged, stuck_at_local_max).

    f is twice the score of the (restricted) log-likelihood. Like metafor's Fisher scoring,
    the search starts at the (truncated) HE estimate and goes to the nearest local maximum
    (a root where f changes from + to -): downhill of HE when f(HE) <= 0, uphill otherwise.
    The root is bracketed by a short walk away from HE and then solved by safeguarded Newton
    to full precision; if no sign change is found below HE the maximum is on the boundary,
    tau2 = 0. As in metafor, an interior maximum whose likelihood is below the one at
    tau2 = 0 is replaced by 0.
    """
    n = len(seg.k)
    active = seg.k > 1
    zero = np.zeros(n)
    he = np.where(active, tau2_he(seg), 0.0)
    f_he, _, d_he = _score(seg, he, reml)
    # Upper end with f(hi) < 0: f(t) <= k R^2 / t^2 - (k - 1) / (vmax + t) with R the range
    # of y, which is negative for t > max(2 vmax, 2 k R^2 / (k - 1)).
    k = seg.k.astype(float)
    ymax = np.maximum.reduceat(seg.y, seg.starts)
    ymin = np.minimum.reduceat(seg.y, seg.starts)
    vmax = np.maximum.reduceat(seg.v, seg.starts)
    with np.errstate(divide="ignore", invalid="ignore"):
        top = np.where(active, np.maximum(2 * vmax, 2 * k * (ymax - ymin) ** 2 / (k - 1)), 0.0)
    # (If rounding ever made f(top) >= 0, the uphill walk finds no sign change and the group
    # is reported as not converged, so the caller falls back with a warning.)
    top = np.maximum(top, 2 * he) * 1.01 + 1e-300

    up = active & (f_he > 0)
    down = active & (f_he <= 0) & (he > 0)
    found_up, lo_up, hi_up = _walk(
        seg,
        reml,
        up,
        he,
        [he + (top - he) * c for c in (1e-3, 0.02, 0.1, 0.3, 1.0)],
        stop_when_positive=False,
    )
    found_dn, lo_dn, hi_dn = _walk(
        seg,
        reml,
        down,
        he,
        [he * c for c in (0.9, 0.7, 0.5, 0.3, 0.15, 0.05, 0.01, 1e-3, 1e-5, 0.0)],
        stop_when_positive=True,
    )
    interior = found_up | found_dn
    lo = np.where(found_up, lo_up, lo_dn)
    hi = np.where(found_up, hi_up, hi_dn)

    def fun(sub, idx, t):
        f, _, d = _score(sub, t, reml)
        return f, d

    # start from the Newton step taken at HE when it falls inside the bracket (it is usually
    # much closer to the root than the bracket's midpoint), else from the midpoint
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        x_he = he - f_he / d_he
    inside = np.isfinite(x_he) & (d_he < 0) & (x_he > lo) & (x_he < hi)
    x0 = np.where(inside, x_he, 0.5 * (lo + hi))
    tau2, conv = _bracketed_newton(fun, seg, x0, lo, hi, interior, LIKELIHOOD_MAXITER)
    tau2 = np.where(interior, tau2, 0.0)
    conv = conv & ~(up & ~found_up)  # (an uphill walk always ends at top, where f < 0)

    stuck = np.zeros(n, dtype=bool)
    pos = interior & conv & (tau2 > 0)
    if pos.any():
        ll0 = _loglik(seg, zero, reml)
        ll = _loglik(seg, tau2, reml)
        stuck = pos & (ll0 - ll > 1e-13)
        tau2 = np.where(stuck, 0.0, tau2)
    return tau2, conv, stuck


def qprofile_ci(
    seg: Segments, level: float, start: np.ndarray | None = None, q0: np.ndarray | None = None
):
    """Q-profile confidence interval for tau2 (metafor ``confint(type="QP")``), per group.

    The lower bound solves Q(tau2) = chi2_{k-1, 1-alpha/2} and the upper bound
    Q(tau2) = chi2_{k-1, alpha/2}; a bound is 0 when Q(0) is already below its target.
    Both bounds are solved in one pass (every group appears twice). ``start`` (e.g. the
    tau2 estimate) is the starting value. Groups with k = 1 get NaN.
    """
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import special

    n = len(seg.k)
    active = seg.k > 1
    df = np.maximum(seg.k - 1, 1).astype(float)
    alpha = 1.0 - level
    crit_u = special.chdtri(df, alpha / 2)  # upper quantile
    crit_l = 2.0 * special.gammaincinv(df / 2, alpha / 2)  # lower quantile
    both = seg.subset(np.concatenate([np.arange(n), np.arange(n)]))
    # Q(0) and the sum of squares do not depend on the bound: computed once per group
    if q0 is None:  # Cochran's Q (the caller may have it already)
        q0 = generalised_q(seg, np.zeros(n))
    ybar = seg.sum(seg.y) / seg.k
    ss = seg.sum((seg.y - seg.rep(ybar)) ** 2)
    target = np.concatenate([crit_u, crit_l])
    x0 = lo = hi_cap = None
    if start is not None:
        # The first Newton step of both bounds from ``start`` needs Q and Q' there once per
        # group (f = 1/c - 1/Q differs between the bounds only in c): take it here, and
        # start the safeguarded iteration from it with the bracket it implies.
        t = np.where(np.isfinite(start) & (start >= 0), start, 0.0)
        w, _, _, r = _gls(seg, t)
        wr2 = w * r * r
        q = seg.sum(wr2)
        dq = seg.sum(w * wr2)
        t2, q2, dq2 = (np.concatenate([a, a]) for a in (t, q, dq))
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            f = 1.0 / target - 1.0 / q2
            d = -dq2 / (q2 * q2)
            x1 = t2 - f / d
        ok = np.isfinite(x1) & np.isfinite(f) & (d < 0) & (q2 > 0)
        above = ok & (f > 0)  # Q(t) > c: the root lies above t
        lo = np.where(above, t2, 0.0)
        hi_cap = np.where(ok & ~above, t2, np.inf)
        x0 = np.where(ok, np.maximum(x1, 0.0), t2)
    roots, conv = _q_target_root(
        both,
        target,
        np.concatenate([active, active]),
        x0=x0,
        q0=np.concatenate([q0, q0]),
        ss=np.concatenate([ss, ss]),
        lo=lo,
        hi_cap=hi_cap,
    )
    lo = np.where(active, roots[:n], np.nan)
    hi = np.where(active, roots[n:], np.nan)
    return lo, hi, conv[:n] & conv[n:]


# --------------------------------------------------------------------------------------------
# models with moderators (one study set, model matrix X): metafor rma.uni(mods=)
# --------------------------------------------------------------------------------------------
#: Maximum Fisher-scoring iterations of :func:`tau2_mods` (ML/REML/EB with moderators).
MODS_MAXITER = 100_000
#: tau2 estimators of :func:`tau2_mods` that the vectorised intercept-only solvers also have.
_VECTORISED = ("DL", "HE", "SJ", "PM", "ML", "REML")


class Proj:
    """Traces and quadratic forms of P = W - W X (X'WX)^-1 X'W through p x p matrices.

    Nothing of size k x k is formed, so a fit costs O(k p^2) (Egger's test on 10,000 studies
    is as cheap as on 10).
    """

    def __init__(self, X: np.ndarray, w: np.ndarray):
        self.X, self.w = X, w
        self.WX = X * w[:, None]
        self.A = np.linalg.inv(X.T @ self.WX)

    def C(self, d: np.ndarray) -> np.ndarray:
        """X' diag(d) X."""
        return (self.X * d[:, None]).T @ self.X

    def Py(self, y: np.ndarray) -> np.ndarray:
        return self.w * y - self.WX @ (self.A @ (self.WX.T @ y))

    def tr(self) -> float:  # tr P
        return float(self.w.sum() - np.trace(self.A @ self.C(self.w**2)))

    def tr_pp(self) -> float:  # tr PP (= sum P*P)
        w = self.w
        B = self.A @ self.C(w**2)
        return float((w**2).sum() - 2 * np.trace(self.A @ self.C(w**3)) + np.trace(B @ B))

    def tr_pd(self, d: np.ndarray) -> float:  # tr P D
        return float(np.sum(self.w * d) - np.trace(self.A @ self.C(self.w**2 * d)))

    def tr_pdpd(self, d: np.ndarray) -> float:  # tr P D P D (= sum PD * (PD)')
        w = self.w
        B = self.A @ self.C(w**2 * d)
        return float(
            np.sum((w * d) ** 2) - 2 * np.trace(self.A @ self.C(w**3 * d**2)) + np.trace(B @ B)
        )

    def tr_dpp(self, d: np.ndarray) -> float:  # tr D P P (= sum PD * P)
        w = self.w
        return float(
            np.sum(d * w**2)
            - 2 * np.trace(self.A @ self.C(w**3 * d))
            + np.trace(self.A @ self.C(w**2 * d) @ self.A @ self.C(w**2))
        )


def loglik_mods(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, method: str) -> float:
    """ML or REML log-likelihood of the mixed-effects model (metafor's, without the X'X
    constant of REML, which cancels in every comparison made with it)."""

    k, p = X.shape
    w = 1 / (v + tau2)
    WX = X * w[:, None]
    xtwx = X.T @ WX
    beta = np.linalg.solve(xtwx, WX.T @ y)
    rss = float(np.sum(w * (y - X @ beta) ** 2))
    if method == "ML":
        return -0.5 * k * math.log(2 * math.pi) - 0.5 * float(np.log(v + tau2).sum()) - 0.5 * rss
    return (
        -0.5 * (k - p) * math.log(2 * math.pi)
        - 0.5 * float(np.log(v + tau2).sum())
        - 0.5 * float(np.linalg.slogdet(xtwx)[1])
        - 0.5 * rss
    )


def tau2_mods(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, func: str
) -> tuple[float, float, bool]:
    """tau2, its standard error and whether the ML/REML 'local maximum' check reset it to 0.

    The one tau2 estimator for models with moderators (meta-regression, the common-tau2
    subgroup model, Egger-type regression tests), following metafor 3.8-1 ``rma.uni()``:
    "FE", "DL", "HE", "SJ", "HS", "PM", "ML", "REML", "EB". For an intercept-only model the
    estimate comes from the vectorised solvers above (the same numbers as :func:`pool`); with
    moderators ML/REML/EB are solved by Fisher scoring (full steps kept >= 0, to a relative
    change below 1e-10, the rounding noise of the score being ~1e-11) and PM by bracketed
    root finding on the generalised Q equation. Raises
    :class:`~evidence.errors.ValidationError` / :class:`~evidence.errors.ConvergenceError`.
    """

    k, p = X.shape
    ymc = y - y.mean()
    if method == "FE" or k == 1:
        return 0.0, math.nan, False
    if k <= p:
        raise ValidationError(
            f"{func}(): {k} studies cannot estimate tau2 with {p} coefficients "
            "(need more studies than coefficients)."
        )
    allpos = bool((v > 0).all())
    if method in ("DL", "HS", "PM") and not allpos:
        raise ValidationError(
            f"The '{method}' estimator in {func}() needs positive sampling variances 'vi'."
        )
    stuck = False
    intercept_only = p == 1 and bool(np.all(X == 1.0)) and allpos and method in _VECTORISED
    tau2 = math.nan
    if intercept_only:
        seg = Segments.from_sorted(y, v, np.array([k]))
        if method == "DL":
            tau2 = float(tau2_dl(seg)[0])
        elif method == "HE":
            tau2 = float(tau2_he(seg)[0])
        elif method == "SJ":
            tau2 = float(tau2_sj(seg)[0])
        elif method == "PM":
            t, conv = tau2_pm(seg)
            tau2 = float(t[0]) if conv[0] else math.nan
        else:
            t, conv, st = tau2_likelihood(seg, reml=method == "REML")
            tau2 = float(t[0]) if conv[0] else math.nan
            stuck = bool(st[0])
        if math.isnan(tau2):
            intercept_only = False  # not converged: the general solver below decides
    ones = np.ones(k)
    if not intercept_only:
        if method in ("HE", "ML", "REML", "EB"):
            ols = Proj(X, ones)
            rss = float(ymc @ ols.Py(ymc))
            tau2 = (rss - ols.tr_pd(v)) / (k - p)
        if method in ("DL", "HS"):
            pr = Proj(X, 1 / v)
            rss = float(ymc @ pr.Py(ymc))
            tau2 = (rss - (k - p)) / pr.tr() if method == "DL" else (rss - k) / float((1 / v).sum())
        if method == "SJ":
            t0 = float(np.var(ymc, ddof=1) * (k - 1) / k)
            pr = Proj(X, 1 / (v + t0))
            tau2 = t0 * float(ymc @ pr.Py(ymc)) / (k - p)
        if method == "PM":
            tau2 = _pm_mods(ymc, v, X, k - p, func)
        if method in ("ML", "REML", "EB"):
            tau2, stuck = _fisher_mods(ymc, v, X, max(0.0, tau2), method, allpos, func)
    tau2 = max(0.0, float(tau2))
    return tau2, _tau2_se(ymc, v, X, tau2, method), stuck


def _pm_mods(ymc, v, X, target, func) -> float:
    """Paule-Mandel with moderators: root of y'P(tau2)y = k - p (bracket grown as needed)."""
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import optimize

    def f(t: float) -> float:
        return float(ymc @ Proj(X, 1 / (v + t)).Py(ymc)) - target

    if f(0.0) <= 0:
        return 0.0
    hi = max(float(np.var(ymc)), float(v.mean()), 1e-300)
    for _ in range(200):
        if f(hi) < 0:
            return optimize.brentq(f, 0.0, hi, xtol=1e-300, rtol=4 * EPS, maxiter=1000)
        hi *= 4.0
    raise ConvergenceError(f"{func}(): the Paule-Mandel estimate of tau2 could not be bracketed.")


def _fisher_mods(ymc, v, X, tau2, method, allpos, func) -> tuple[float, bool]:
    """Fisher scoring for ML/REML/EB (metafor's iteration, full step, kept >= 0)."""

    k, p = X.shape
    scale = float(np.mean(v)) if np.mean(v) > 0 else 1.0
    for _ in range(MODS_MAXITER):
        pr = Proj(X, 1 / (v + tau2))
        py = pr.Py(ymc)
        w = pr.w
        if method == "ML":
            adj = (float(py @ py) - float(w.sum())) / float((w**2).sum())
        elif method == "REML":
            adj = (float(py @ py) - pr.tr()) / pr.tr_pp()
        else:  # EB
            adj = (float(ymc @ py) * k / (k - p) - k) / float(w.sum())
        if not np.isfinite(adj):
            adj = 0.0
        while tau2 + adj < 0:
            adj /= 2
        tau2 += adj
        # the score is a difference of nearly equal sums: its rounding noise is ~1e-11 of
        # tau2, so iterate to a change of 1e-10 (the remaining error is below that; the
        # contraction per step is ~0.4)
        if abs(adj) <= 1e-10 * (tau2 + 1e-8 * scale):
            break
    else:
        raise ConvergenceError(
            f"{func}(): Fisher scoring for the {method} estimate of tau2 did not converge in "
            f"{MODS_MAXITER} iterations."
        )
    stuck = False
    if method in ("ML", "REML") and allpos and tau2 > 0:
        # metafor's ll0check: a maximum whose likelihood is below the one at tau2 = 0
        ll0 = loglik_mods(ymc, v, X, 0.0, method)
        ll = loglik_mods(ymc, v, X, tau2, method)
        if ll0 - ll > 1e-13:
            tau2, stuck = 0.0, True
    return tau2, stuck


def _tau2_se(ymc, v, X, tau2, method) -> float:
    """Standard error of tau2 as metafor ``rma.uni()`` reports it (NaN where it gives none)."""

    k, p = X.shape
    if method == "HE":
        ols = Proj(X, np.ones(k))
        return math.sqrt(
            (2 * ols.tr_pdpd(v) + 4 * tau2 * ols.tr_pd(v) + 2 * tau2**2 * (k - p)) / (k - p) ** 2
        )
    if method in ("DL", "HS"):
        pr = Proj(X, 1 / v)
        trp, trpp = pr.tr(), pr.tr_pp()
        denom = trp**2 if method == "DL" else float((1 / v).sum()) ** 2
        return math.sqrt((2 * (k - p) + 4 * tau2 * trp + 2 * tau2**2 * trpp) / denom)
    if method == "SJ":
        t0 = float(np.var(ymc, ddof=1) * (k - 1) / k)
        pr = Proj(X, 1 / (v + t0))
        return math.sqrt(
            t0**2
            / (k - p) ** 2
            * (2 * pr.tr_pdpd(v) + 4 * tau2 * pr.tr_dpp(v) + 2 * tau2**2 * pr.tr_pp())
        )
    if method == "ML":
        return math.sqrt(2 / float(((1 / (v + tau2)) ** 2).sum()))
    if method == "REML":
        return math.sqrt(2 / Proj(X, 1 / (v + tau2)).tr_pp())
    return math.nan
