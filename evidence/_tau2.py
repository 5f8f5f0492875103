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

from dataclasses import dataclass

import numpy as np

__all__ = ["Segments", "tau2_fixed", "tau2_dl", "tau2_he", "tau2_sj", "tau2_pm",
           "tau2_likelihood", "qprofile_ci", "generalised_q"]

_EPS = np.finfo(float).eps
#: Maximum iterations of the bracketed Newton solver (generalised Q equations).
NEWTON_MAXITER = 200
#: Maximum iterations for the ML/REML score equation (tests lower it to force a fallback).
LIKELIHOOD_MAXITER = 200


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
        tol = 1e-13 * np.abs(xs) + 1e-300
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


def _q_target_root(seg: Segments, target: np.ndarray, active: np.ndarray,
                   x0: np.ndarray | None = None):
    """Smallest tau2 >= 0 with generalised Q(tau2) = target; 0 where Q(0) <= target.

    Q(tau2) decreases from Q(0) to 0, and Q(tau2) <= SS/tau2 with SS the sum of squares
    around the unweighted mean, so [0, 1.01 SS/target] always brackets the root. ``x0`` is
    an optional starting value (any value is safe: Newton is kept inside the bracket).
    """
    n = len(seg.k)
    q0 = generalised_q(seg, np.zeros(n))
    need = active & (q0 > target)
    ybar = seg.sum(seg.y) / seg.k
    ss = seg.sum((seg.y - seg.rep(ybar)) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        hi = np.where(need, 1.01 * ss / target + 1e-300, 0.0)

    # Newton on 1/c - 1/Q(tau2): Q behaves like A / (B + tau2), so 1/Q is nearly linear and
    # Newton converges in a few steps even far from the root.
    def fun(sub, idx, t):
        w, sw, _, r = _gls(sub, t)
        wr2 = w * r * r
        q = sub.sum(wr2)
        return 1.0 / target[idx] - 1.0 / q, -sub.sum(w * wr2) / (q * q)

    lo = np.zeros(n)
    x0 = np.zeros(n) if x0 is None else np.where(np.isfinite(x0), x0, 0.0)
    root, conv = _bracketed_newton(fun, seg, x0, lo, hi, need)
    root = np.where(need, root, np.where(active, 0.0, np.nan))
    return root, conv | ~need


def tau2_pm(seg: Segments):
    """Paule-Mandel: root of generalised Q(tau2) = k - 1. Returns (tau2, converged)."""
    active = seg.k > 1
    tau2, conv = _q_target_root(seg, (seg.k - 1).astype(float), active, x0=tau2_dl(seg))
    return np.where(active, tau2, 0.0), conv


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
        f = _score(seg.subset(idx), t, reml)[0]
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
    f_he = _score(seg, he, reml)[0]
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
        seg, reml, up, he,
        [he + (top - he) * c for c in (1e-3, 0.02, 0.1, 0.3, 1.0)], stop_when_positive=False)
    found_dn, lo_dn, hi_dn = _walk(
        seg, reml, down, he,
        [he * c for c in (0.9, 0.7, 0.5, 0.3, 0.15, 0.05, 0.01, 1e-3, 1e-5, 0.0)],
        stop_when_positive=True)
    interior = found_up | found_dn
    lo = np.where(found_up, lo_up, lo_dn)
    hi = np.where(found_up, hi_up, hi_dn)

    def fun(sub, idx, t):
        f, _, d = _score(sub, t, reml)
        return f, d

    tau2, conv = _bracketed_newton(fun, seg, 0.5 * (lo + hi), lo, hi, interior,
                                   LIKELIHOOD_MAXITER)
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


def qprofile_ci(seg: Segments, level: float, start: np.ndarray | None = None):
    """Q-profile confidence interval for tau2 (metafor ``confint(type="QP")``), per group.

    The lower bound solves Q(tau2) = chi2_{k-1, 1-alpha/2} and the upper bound
    Q(tau2) = chi2_{k-1, alpha/2}; a bound is 0 when Q(0) is already below its target.
    Both bounds are solved in one pass (every group appears twice). ``start`` (e.g. the
    tau2 estimate) is the starting value. Groups with k = 1 get NaN.
    """
    from scipy import special

    n = len(seg.k)
    active = seg.k > 1
    df = np.maximum(seg.k - 1, 1).astype(float)
    alpha = 1.0 - level
    crit_u = special.chdtri(df, alpha / 2)  # upper quantile
    crit_l = 2.0 * special.gammaincinv(df / 2, alpha / 2)  # lower quantile
    both = seg.subset(np.concatenate([np.arange(n), np.arange(n)]))
    x0 = None if start is None else np.concatenate([start, start])
    roots, conv = _q_target_root(both, np.concatenate([crit_u, crit_l]),
                                 np.concatenate([active, active]), x0=x0)
    lo = np.where(active, roots[:n], np.nan)
    hi = np.where(active, roots[n:], np.nan)
    return lo, hi, conv[:n] & conv[n:]
