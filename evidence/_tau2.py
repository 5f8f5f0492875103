"""Vectorised tau^2 estimators and Q-profile intervals for many meta-analyses at once.

Internal module of :mod:`evidence.pooling`. Every function works on a :class:`Segments` object:
the studies of a block of groups laid out as dense 2-D arrays of shape (studies, groups), one
column per group, shorter groups padded at the bottom with ``y = 0`` and ``v = inf`` (so their
inverse-variance weight is exactly 0). A sum over a group is a sum over axis 0 (a vector add
of rows, across all groups at once) and a per-group value broadcasts over the rows, so one call
handles 1 or 100,000 groups with the same code (there is no Python loop over groups). The
formulas follow metafor 3.8-1 ``rma.uni()`` / ``confint.rma.uni()`` for the intercept-only
model.

Iterative estimators are solved to full double precision by a safeguarded Newton iteration
inside a bracket on the score (ML/REML) or generalised Q (PM, Q-profile) equation; it cannot
leave the bracket and so converges (metafor's Fisher scoring converges to the same roots).
Newton works on a transform of each equation that is exactly linear in tau2 when all sampling
variances of a group are equal (1/Q for the Q equations, tr P / y'PPy for the REML score), so
it typically needs 2-4 evaluations per root.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

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
_FIRST = np.zeros(1, dtype=np.intp)


@dataclass(frozen=True, eq=False)
class Segments:
    """Studies of several groups as dense (studies x groups) arrays; every group has k >= 1.

    ``y`` and ``v`` have shape (K, n) with K the largest k; column j holds group j's studies
    in rows 0 .. k_j - 1 and padding (y = 0, v = inf, hence weight 0) below. ``padded`` says
    whether any column is padded (unweighted sums then mask the padding).
    """

    y: np.ndarray  # (K, n)
    v: np.ndarray  # (K, n), inf in the padding
    k: np.ndarray  # studies per group (int)
    padded: bool
    work: Workspace | None = None  # scratch arrays shared by a block and its subsets

    @classmethod
    def from_sorted(
        cls, y: np.ndarray, v: np.ndarray, k: np.ndarray, work: Workspace | None = None
    ) -> Segments:
        """From studies stacked group after group (1-D ``y``, ``v``) and the group sizes.
        ``work`` (optional) recycles the scratch arrays of the solvers between calls."""
        k = np.asarray(k, dtype=np.int64)
        y = np.asarray(y, dtype=float)
        v = np.asarray(v, dtype=float)
        n = len(k)
        kmax = int(k.max()) if n else 0
        # with a workspace the block's arrays are its scratch arrays "block_y", "block_v"
        # (valid until the next block is laid out)
        shape = (kmax, n)
        yy = np.empty(shape) if work is None else work.get("block_y", shape)
        vv = np.empty(shape) if work is None else work.get("block_v", shape)
        if n == 0 or bool(np.all(k == kmax)):
            np.copyto(yy, y.reshape(n, kmax).T)
            np.copyto(vv, v.reshape(n, kmax).T)
            return cls(yy, vv, k, False, work)
        starts = np.cumsum(k) - k
        col = np.repeat(np.arange(n), k)
        pos = np.arange(len(y)) - starts[col]
        yy.fill(0.0)
        vv.fill(np.inf)
        yy[pos, col] = y
        vv[pos, col] = v
        return cls(yy, vv, k, True, work)

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Per-group sum of a per-study array (added row by row, in study order)."""
        if x.shape[1] == 1:  # numpy would sum one column pairwise: keep the study order
            return np.add.reduceat(x.reshape(-1), _FIRST)
        return np.add.reduce(x, axis=0)

    def rep(self, g: np.ndarray) -> np.ndarray:
        """A per-group array in a form that broadcasts over the studies."""
        return g

    def flat(self, x: np.ndarray) -> np.ndarray:
        """A per-study (K, n) array as 1-D values in the order of :meth:`from_sorted`."""
        xt = np.asarray(x).T
        return xt[self.mask.T] if self.padded else xt.ravel()

    @cached_property
    def mask(self) -> np.ndarray:
        """True on the studies, False on the padding."""
        return np.arange(self.y.shape[0])[:, None] < self.k

    def subset(self, idx: np.ndarray, into: str | None = None) -> Segments:
        """The groups ``idx`` (in that order) as a new Segments object; with ``into`` (and a
        workspace) its arrays are the scratch arrays of that name (the caller makes sure
        that they are not in use)."""
        k = self.k[idx]
        kmax = int(k.max()) if k.size else 0
        padded = self.padded and bool(k.size) and bool(np.any(k != kmax))
        src_y, src_v = (
            (self.y, self.v) if kmax == self.y.shape[0] else (self.y[:kmax], self.v[:kmax])
        )
        # (np.take keeps the C order that the axis-0 sums are fast on; y[:, idx] would not)
        if into is None or self.work is None:
            y, v = np.take(src_y, idx, axis=1), np.take(src_v, idx, axis=1)
        else:
            shape = (kmax, len(idx))
            y = np.take(src_y, idx, axis=1, out=self.work.get(into + "y", shape))
            v = np.take(src_v, idx, axis=1, out=self.work.get(into + "v", shape))
        return Segments(y, v, k, padded, self.work)

    def scratch(self, name: str) -> np.ndarray:
        """A scratch array shaped like ``y`` (recycled through ``work`` when there is one)."""
        if self.work is None:
            return np.empty(self.y.shape)
        return self.work.get(name, self.y.shape)

    def masked(self, x: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """``x`` with ``fill`` in the padding (``x`` itself when nothing is padded)."""
        return np.where(self.mask, x, fill) if self.padded else x

    @cached_property
    def moments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unweighted per-group mean of y, sum of squares around it, and sum of v."""
        ybar = self.sum(self.y) / self.k
        d = np.subtract(self.y, ybar, out=self.scratch("r"))
        if self.padded:
            d[~self.mask] = 0.0
        ss = self.sum(np.multiply(d, d, out=d))
        return ybar, ss, self.sum(self.masked(self.v))

    @cached_property
    def fixed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """At tau2 = 0: sum w, the FE mean, Cochran's Q, sum w^2 and sum w^2 r^2 (w = 1/v)."""
        return _q_sums(self, 0.0, with_sw2=True)


def final_sums(seg: Segments, tau2: np.ndarray):
    """:func:`_q_sums` at the estimate tau2, kept on ``seg`` for the next caller (the
    likelihood check and the pooled estimate both need them)."""
    cache = seg.__dict__.setdefault("_final_sums", {})
    hit = cache.get("tau2")
    if hit is not None and hit.shape == tau2.shape and np.array_equal(hit, tau2):
        return cache["sums"]
    sums = _q_sums(seg, tau2)
    cache["tau2"], cache["sums"] = tau2.copy(), sums
    return sums


class Workspace:
    """Scratch arrays reused by the solvers across evaluations and blocks: fresh large
    temporaries would cost more in page faults than the arithmetic done on them."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        size = math.prod(shape)
        buf = self._bufs.get(name)
        if buf is None or buf.size < size:
            buf = self._bufs[name] = np.empty(size)
        return buf[:size].reshape(shape)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-group sum of a * b (one pass, no temporary; row by row, in study order)."""
    if a.shape[1] == 1:  # one column: einsum would reorder the sum (see Segments.sum)
        return np.add.reduceat((a * b).reshape(-1), _FIRST)
    return np.einsum("ji,ji->i", a, b)


def _q_sums(seg: Segments, tau2, with_sw2: bool = False):
    """At tau2: sum w, the GLS mean mu, the generalised Q = sum w r^2 and sum w^2 r^2
    (= -dQ/dtau2; the derivative through mu vanishes), with r = y - mu, w = 1/(v + tau2);
    with ``with_sw2`` also sum w^2 (before sum w^2 r^2). No large temporaries."""
    w = np.add(seg.v, tau2, out=seg.scratch("w"))
    np.divide(1.0, w, out=w)
    sw = seg.sum(w)
    mu = _dot(w, seg.y) / sw
    sw2 = _dot(w, w) if with_sw2 else None
    r = np.subtract(seg.y, mu, out=seg.scratch("r"))
    wr = np.multiply(w, r, out=w)
    q = _dot(wr, r)
    dq = _dot(wr, wr)
    if with_sw2:
        return sw, mu, q, sw2, dq
    return sw, mu, q, dq


def _gls(seg: Segments, tau2: np.ndarray):
    """Weights, their sum, the GLS mean and the residuals at tau2 (one value per group)."""
    w = 1.0 / (seg.v + tau2)
    sw = seg.sum(w)
    mu = seg.sum(w * seg.y) / sw
    r = seg.y - mu
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
    _, rss, sumv = seg.moments
    trpv = sumv * (k - 1) / k
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.maximum((rss - trpv) / (k - 1), 0.0)


def tau2_sj(seg: Segments) -> np.ndarray:
    """Sidik-Jonkman, one step from the crude start var(y)(k-1)/k (metafor's default)."""
    k = seg.k
    tau0 = seg.moments[1] / k
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
    iteration converges. A group stops when its step is below 1e-13 relative, or when two
    successive Newton steps show quadratic convergence that puts the next step below that
    (the error after a Newton step of size s following one of size s' is about s^3 / s'^2,
    taken 100 times larger to be safe), which saves the final confirming evaluation. Only
    groups still iterating are evaluated (the set is compacted when it has halved). Returns
    (x, converged).
    """
    maxiter = NEWTON_MAXITER if maxiter is None else maxiter
    x = np.where(active, np.clip(x, lo, hi), x)
    conv = ~active
    groups = np.flatnonzero(active)  # the groups of the columns of ``sub``
    if groups.size == 0:
        return x, conv
    # per-column state; finished columns are frozen (and still evaluated until at most half
    # the columns are left, when the block is compacted: cheaper than compacting every step)
    # (a compacted block is always taken from ``seg``, so one pair of scratch arrays serves)
    if 2 * groups.size > len(x):
        sub, groups, live = seg, np.arange(len(x)), active.copy()
    else:
        sub, live = seg.subset(groups, into="newton_"), np.ones(groups.size, dtype=bool)
    xs, los, his = x[groups], lo[groups], hi[groups]
    dx_old = his - los  # the last step
    dx_older = dx_old.copy()  # the step before last
    newton_old = np.zeros(groups.size, dtype=bool)  # the previous step was a Newton step
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for _ in range(maxiter):
            f, d = fun(sub, groups, xs)
            pos = f > 0
            los = np.where(pos, xs, los)
            his = np.where(pos, his, xs)
            step = f / d
            xn = xs - step
            a_step = np.abs(step)
            # not (inside the bracket, downhill, at least halving the step before last): NaN
            # comparisons are False, so a non-finite step is bisected too
            bad = ~((xn > los) & (xn < his) & (d < 0))
            bad |= (a_step > 0.5 * dx_older) & (a_step > 1e-10 * np.abs(xs))
            xn = np.where(bad, 0.5 * (los + his), xn)
            tol = _NEWTON_RTOL * np.abs(xs) + 1e-300
            dx = np.abs(xn - xs)
            done = (dx <= tol) | (his - los <= tol) | (f == 0)
            done |= ~bad & newton_old & (100.0 * dx * dx * dx <= tol * dx_old * dx_old)
            xs = np.where(live & (f != 0), xn, xs)
            dx_older, dx_old, newton_old = dx_old, dx, ~bad
            live &= ~done
            n_live = int(np.count_nonzero(live))
            if n_live == 0:
                break
            if 2 * n_live <= live.size:  # compact: drop the finished columns
                fin = ~live
                x[groups[fin]] = xs[fin]
                conv[groups[fin]] = True
                keep = np.flatnonzero(live)
                groups = groups[keep]
                sub = seg.subset(groups, into="newton_")
                xs, los, his, dx_old, dx_older, newton_old = (
                    a[keep] for a in (xs, los, his, dx_old, dx_older, newton_old)
                )
                live = np.ones(n_live, dtype=bool)
    x[groups] = xs
    conv[groups] = ~live
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
        q0 = seg.fixed[2]
    need = active & (q0 > target)
    if ss is None:
        ss = seg.moments[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        hi = np.where(need, 1.01 * ss / target + 1e-300, 0.0)
    if hi_cap is not None:  # a known point with Q <= target (tighter than the SS bound)
        hi = np.where(need & np.isfinite(hi_cap), np.minimum(hi, hi_cap), hi)

    # Newton on 1/c - 1/Q(tau2): Q behaves like A / (B + tau2) (exactly so when all v are
    # equal), so 1/Q is nearly linear and Newton converges in a few steps even far from the
    # root. Q'(tau2) = -sum w^2 r^2 (the derivative through the mean vanishes).
    def fun(sub, idx, t):
        _, _, q, dq = _q_sums(sub, t)
        return 1.0 / target[idx] - 1.0 / q, -dq / (q * q)

    lo = np.zeros(n) if lo is None else np.where(need, np.minimum(lo, hi), 0.0)
    x0 = np.zeros(n) if x0 is None else np.where(np.isfinite(x0), x0, 0.0)
    root, conv = _bracketed_newton(fun, seg, x0, lo, hi, need)
    root = np.where(need, root, np.where(active, 0.0, np.nan))
    return root, conv | ~need


def tau2_pm(seg: Segments):
    """Paule-Mandel: root of generalised Q(tau2) = k - 1. Returns (tau2, converged)."""
    active = seg.k > 1
    sw, _, q, sw2, _ = seg.fixed
    with np.errstate(invalid="ignore", divide="ignore"):
        dl = np.maximum((np.maximum(q, 0.0) - (seg.k - 1)) / (sw - sw2 / sw), 0.0)
    tau2, conv = _q_target_root(seg, (seg.k - 1).astype(float), active, x0=dl)
    return np.where(active, tau2, 0.0), conv


def _score_only(seg: Segments, tau2: np.ndarray, reml: bool) -> np.ndarray:
    """Twice the (restricted) log-likelihood score alone (what the bracket walk needs)."""
    w = np.add(seg.v, tau2, out=seg.scratch("w"))
    np.divide(1.0, w, out=w)
    sw = seg.sum(w)
    mu = _dot(w, seg.y) / sw
    sw2 = _dot(w, w) if reml else None
    r = np.subtract(seg.y, mu, out=seg.scratch("r"))
    wr = np.multiply(w, r, out=r)
    yppy = _dot(wr, wr)
    return yppy - (sw - sw2 / sw) if reml else yppy - sw


def _score_parts(seg: Segments, tau2: np.ndarray, reml: bool):
    """y'PPy, tr P, tr PP and y'PPPy at tau2 (for ML, sum w and sum w^2 in place of the
    traces): twice the score is y'PPy - tr P and its derivative -2 y'PPPy + tr PP."""
    w = np.add(seg.v, tau2, out=seg.scratch("w"))
    np.divide(1.0, w, out=w)
    sw = seg.sum(w)
    mu = _dot(w, seg.y) / sw
    wr = np.subtract(seg.y, mu, out=seg.scratch("r"))
    np.multiply(w, wr, out=wr)  # w r
    yppy = _dot(wr, wr)  # y'PPy = sum w^2 r^2
    b = _dot(w, wr)  # sum w^2 r
    w2r = np.multiply(w, wr, out=seg.scratch("t"))
    yp3y = _dot(w2r, wr) - b * b / sw  # sum w^3 r^2 - (sum w^2 r)^2 / sum w
    w2 = np.multiply(w, w, out=w2r)
    sw2 = seg.sum(w2)
    if reml:
        sw3 = _dot(w2, w)
        ratio = sw2 / sw
        return yppy, sw - ratio, sw2 - 2.0 * sw3 / sw + ratio * ratio, yp3y
    return yppy, sw, sw2, yp3y


def _ratio_newton(yppy, trp, trpp, yp3y):
    """g = 1 - tr P / y'PPy (the sign of the score; exactly linear in 1/(v + tau2) when all v
    are equal, so Newton on it converges fast) and its derivative."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        g = 1.0 - trp / yppy
        d = (trpp * yppy - 2.0 * trp * yp3y) / (yppy * yppy)
    return g, d


def _loglik(seg: Segments, tau2: np.ndarray, reml: bool) -> np.ndarray:
    sw, _, q, _ = _q_sums(seg, tau2)
    logs = np.add(seg.v, tau2, out=seg.scratch("w"))
    np.log(logs, out=logs)
    ll = -0.5 * seg.sum(seg.masked(logs)) - 0.5 * q
    if reml:
        ll -= 0.5 * np.log(sw)
    return ll


def _walk_down(seg, reml, active, start, factors):
    """Bracket a root below ``start`` where f(start) <= 0: the first of the points
    ``start * c`` (c in ``factors``, decreasing) with f > 0, walking down. All points are
    evaluated in one pass (the same first hit as walking point by point). Returns
    (found, lo, hi) with f(lo) > 0 >= f(hi) for the groups where a point was found."""
    n = len(seg.k)
    lo, hi = np.zeros(n), np.zeros(n)
    found = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return found, lo, hi
    c = np.asarray(factors, dtype=float)
    pts = c[:, None] * start[idx]  # (points, groups)
    # (the Newton iteration that follows reuses these scratch arrays)
    sub = seg.subset(np.tile(idx, c.size), into="newton_")
    f = _score_only(sub, pts.ravel(), reml).reshape(pts.shape)
    hit = f > 0
    first = np.argmax(hit, axis=0)
    ok = hit[first, np.arange(idx.size)]
    cols = np.arange(idx.size)
    prev = np.vstack([start[idx][None, :], pts[:-1]])
    g = idx[ok]
    found[g] = True
    lo[g] = pts[first[ok], cols[ok]]
    hi[g] = prev[first[ok], cols[ok]]
    return found, lo, hi


def tau2_likelihood(seg: Segments, reml: bool):
    """ML or REML tau2. Returns (tau2, converged, stuck_at_local_max).

    f is twice the score of the (restricted) log-likelihood, y'PPy - tr P (ML: sum w in place
    of tr P). Like metafor's Fisher scoring, the search starts at the (truncated) HE estimate
    and goes to a nearby local maximum (a root where f changes from + to -): uphill of HE
    when f(HE) > 0, in the bracket [HE, top] (f(top) < 0 by a bound on f); downhill
    otherwise, in [0, HE] when f(0) > 0. When f(0) <= 0 as well the maximum is on the boundary,
    tau2 = 0, unless f turns positive in between: that is excluded at once when
    y'PPy(0) < tr P(HE) (both decrease in tau2, so f < 0 on [0, HE]), and otherwise looked for
    by a short walk down from HE. The root is solved by safeguarded Newton on
    1 - tr P / y'PPy (same sign as f) from the HE start to full precision. As in metafor, an
    interior maximum whose likelihood is below the one at tau2 = 0 is replaced by 0.
    """
    n = len(seg.k)
    active = seg.k > 1
    he = np.where(active, tau2_he(seg), 0.0)
    sw0, _, _, sw20, yppy0 = seg.fixed
    trp0 = sw0 - sw20 / sw0 if reml else sw0
    f0 = yppy0 - trp0
    yppy, trp, trpp, yp3y = _score_parts(seg, he, reml)
    f_he = yppy - trp
    # Upper end with f(hi) < 0: f(t) <= k R^2 / t^2 - (k - 1) / (vmax + t) with R the range
    # of y, which is negative for t > max(2 vmax, 2 k R^2 / (k - 1)).
    k = seg.k.astype(float)
    ymax = seg.masked(seg.y, -np.inf).max(axis=0)
    ymin = seg.masked(seg.y, np.inf).min(axis=0)
    vmax = seg.masked(seg.v).max(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        top = np.where(active, np.maximum(2 * vmax, 2 * k * (ymax - ymin) ** 2 / (k - 1)), 0.0)
    top = np.maximum(top, 2 * he) * 1.01 + 1e-300

    up = active & (f_he > 0)
    down = active & (f_he <= 0) & (he > 0)
    below = down & (f0 > 0)  # a sign change in (0, HE)
    unsure = down & ~below & (yppy0 >= trp)  # f(0), f(HE) <= 0, but f may be > 0 between
    lo = np.where(up, he, 0.0)
    hi = np.where(up, top, he)
    interior = up | below
    if unsure.any():
        found, lo_dn, hi_dn = _walk_down(
            seg, reml, unsure, he, (0.9, 0.7, 0.5, 0.3, 0.15, 0.05, 0.01, 1e-3, 1e-5, 0.0)
        )
        lo = np.where(found, lo_dn, lo)
        hi = np.where(found, hi_dn, hi)
        interior |= found

    def fun(sub, idx, t):
        return _ratio_newton(*_score_parts(sub, t, reml))

    # start from the Newton step taken at HE when it falls inside the bracket (it is usually
    # much closer to the root than the bracket's midpoint), else from the midpoint
    g_he, d_he = _ratio_newton(yppy, trp, trpp, yp3y)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        x_he = he - g_he / d_he
    inside = np.isfinite(x_he) & (d_he < 0) & (x_he > lo) & (x_he < hi)
    x0 = np.where(inside, x_he, 0.5 * (lo + hi))
    ib = np.flatnonzero(below & ~inside)  # the step from HE left [0, HE]: step from 0 instead
    if ib.size:
        sub = seg.subset(ib, into="zero_")
        g_0, d_0 = _ratio_newton(*_score_parts(sub, np.zeros(ib.size), reml))
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            x_0 = -g_0 / d_0
        ok = np.isfinite(x_0) & (d_0 < 0) & (x_0 > 0) & (x_0 < he[ib])
        x0[ib[ok]] = x_0[ok]
    tau2, conv = _bracketed_newton(fun, seg, x0, lo, hi, interior, LIKELIHOOD_MAXITER)
    tau2 = np.where(interior, tau2, 0.0)
    # an uphill search that ends at ``top`` found no sign change (rounding made f(top) >= 0):
    # reported as not converged, so the caller falls back with a warning
    conv = conv & ~(up & (tau2 >= top * (1.0 - 1e-9)))

    stuck = np.zeros(n, dtype=bool)
    pos = interior & conv & (tau2 > 0)
    if pos.any():
        # metafor's check ll(tau2) >= ll(0) - 1e-13 without a log per study where a bound
        # settles it: by the trapezoid rule on the convex 1/(1 + s),
        # sum log(1 + tau2/v) <= tau2/2 (sum w(0) + sum w(tau2)), so
        # 2 (ll(tau2) - ll(0)) >= Q(0) - Q(tau2) - tau2/2 (sw(0) + sw(tau2)) [- log(sw/sw0)]
        sw_t, _, q_t, _ = final_sums(seg, tau2)
        q0 = seg.fixed[2]
        slack = 0.5 * tau2 * (sw0 + sw_t)
        with np.errstate(invalid="ignore", divide="ignore"):
            gain = q0 - q_t - slack - (np.log(sw_t / sw0) if reml else 0.0)
        sure = gain > 1e-12 * (1.0 + q0 + slack)
        check = pos & ~sure
        if check.any():
            idx = np.flatnonzero(check)
            sub = seg.subset(idx, into="ll_")
            ll0 = _loglik(sub, np.zeros(idx.size), reml)
            ll = _loglik(sub, tau2[idx], reml)
            stuck[idx] = ll0 - ll > 1e-13
            tau2 = np.where(stuck, 0.0, tau2)
    return tau2, conv, stuck


def qprofile_ci(
    seg: Segments,
    level: float,
    start: np.ndarray | None = None,
    q0: np.ndarray | None = None,
    q_start: np.ndarray | None = None,
    dq_start: np.ndarray | None = None,
):
    """Q-profile confidence interval for tau2 (metafor ``confint(type="QP")``), per group.

    The lower bound solves Q(tau2) = chi2_{k-1, 1-alpha/2} and the upper bound
    Q(tau2) = chi2_{k-1, alpha/2}; a bound is 0 when Q(0) is already below its target.
    Each bound is solved on ``seg`` itself, without copying its studies (groups whose bound is
    0 drop out when the solver compacts the block).
    ``start`` (e.g. the tau2 estimate) is the starting value; ``q_start`` and ``dq_start`` are Q and
    sum w^2 r^2 (= -Q') there when the caller has them. Groups with k = 1 get NaN.
    """
    active = seg.k > 1
    df = np.maximum(seg.k - 1, 1).astype(float)
    alpha = 1.0 - level
    crit_u, crit_l = _chi2_bounds(df, alpha)
    # Q(0) and the sum of squares do not depend on the bound: computed once per group
    if q0 is None:  # Cochran's Q (the caller may have it already)
        q0 = seg.fixed[2]
    ss = seg.moments[1]
    at_start = None  # (tau2, Q, -Q') at ``start``
    if start is not None:
        t = np.where(np.isfinite(start) & (start >= 0), start, 0.0)
        if q_start is None or dq_start is None:
            _, _, q_start, dq_start = _q_sums(seg, t)
        at_start = (t, q_start, dq_start)
    # each bound is solved on the block itself (no copy of its studies): a bound is 0 where
    # Q(0) is already at or below its target, and those groups are not evaluated once the
    # solver has compacted the block
    bounds = []
    for target in (crit_u, crit_l):  # lower bound: Q = upper quantile; upper bound: lower
        need = active & (q0 > target)
        x0 = lo = hi_cap = None
        if at_start is not None:
            t, q_t, dq_t = at_start
            # the first Newton step from ``start`` (Q and Q' there are known): start the
            # safeguarded iteration from it, with the bracket it implies
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                f = 1.0 / target - 1.0 / q_t
                d = -dq_t / (q_t * q_t)
                x1 = t - f / d
            ok = np.isfinite(x1) & np.isfinite(f) & (d < 0) & (q_t > 0)
            above = ok & (f > 0)  # Q(t) > c: the root lies above t
            lo = np.where(above, t, 0.0)
            hi_cap = np.where(ok & ~above, t, np.inf)
            x0 = np.where(ok, np.maximum(x1, 0.0), t)
        root, conv = _q_target_root(seg, target, need, x0=x0, q0=q0, ss=ss, lo=lo, hi_cap=hi_cap)
        bounds.append((np.where(need, root, np.where(active, 0.0, np.nan)), conv | ~need))
    (lo_b, conv_l), (hi_b, conv_u) = bounds
    return lo_b, hi_b, conv_l & conv_u


def _chi2_bounds(df: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower alpha/2 quantiles of chi2(df), computed once per distinct df."""
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import special

    uniq, inv = np.unique(df, return_inverse=True)
    crit_u = special.chdtri(uniq, alpha / 2)  # upper quantile
    crit_l = 2.0 * special.gammaincinv(uniq / 2, alpha / 2)  # lower quantile
    return crit_u[inv], crit_l[inv]


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
