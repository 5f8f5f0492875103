"""Cumulative meta-analysis and influence diagnostics, as metafor ``cumul()``,
``influence()`` and ``baujat()`` for intercept-only ``rma.uni`` models.

* :func:`cumulative` - the pooled result after adding one study at a time, in any order
  (publication year by default).
* :func:`influence` - per-study outlier and influence statistics (Viechtbauer and Cheung
  2010): externally studentised residuals, DFFITS, Cook's distance, covariance ratio,
  leave-one-out tau2 and Q, hat values, weights, DFBETAS and metafor's "influential" flag.
* :func:`baujat_data` - the two coordinates of a Baujat plot (Baujat et al. 2002): each
  study's contribution to Q and its influence on the pooled estimate.

Every fit goes through :func:`evidence.pool`. Checked against metafor 3.8-1
(``tests/reference/diagnostics.R``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evidence._validate import as_vector, check_bool, check_frame, numeric_column
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError
from evidence.pooling import pool

__all__ = ["cumulative", "influence", "baujat_data"]

_CUMUL_FIELDS = (
    "k",
    "estimate",
    "se",
    "stat",
    "p_value",
    "ci_low",
    "ci_high",
    "q",
    "q_p",
    "tau2",
    "i2",
    "h2",
    "pi_low",
    "pi_high",
    "method",
)


def _check_yi_vi(
    yi: Any, vi: Any, func: str, labels: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    y, v = as_vector(yi, "yi", func), as_vector(vi, "vi", func)
    if len(y) != len(v):
        raise InvalidParameterError(
            f"The 'yi' and 'vi' arguments of {func}() must have the same length. "
            f"Got {len(y)} and {len(v)}."
        )
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(y):
            raise InvalidParameterError(
                f"The 'labels' argument of {func}() must have one label per study ({len(y)}). "
                f"Got {len(labels)}."
            )
    lab = list(range(len(y))) if labels is None else labels
    keep = ~(np.isnan(y) | np.isnan(v))
    if (v[keep] <= 0).any() or np.isinf(y).any() or np.isinf(v).any():
        i = int(np.flatnonzero(keep & ((v <= 0) | np.isinf(y) | np.isinf(v)))[0])
        raise ValidationError(
            f"The 'vi' argument of {func}() must contain finite sampling variances > 0 (and "
            f"'yi' finite values); study {lab[i]!r} has yi = {y[i]!r}, vi = {v[i]!r}."
        )
    if (~keep).any():
        warnings.warn(
            f"{func}(): {int((~keep).sum())} of {len(y)} studies dropped because "
            "'yi' or 'vi' is missing (NaN).",
            StatisticalWarning,
            stacklevel=3,
        )
    return y[keep], v[keep], [lab[i] for i in np.flatnonzero(keep)]


def _quiet(y, v, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pool(y, v, **kw)


# --------------------------------------------------------------------------- cumulative
def cumulative(
    data: pd.DataFrame,
    *,
    yi: str = "yi",
    vi: str = "vi",
    order: str | Sequence[Any] | None = "year",
    decreasing: bool = False,
    label: str | None = None,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
) -> pd.DataFrame:
    """Cumulative meta-analysis, as metafor ``cumul(rma(yi, vi, ...), order = ...)``.

    Studies are sorted by ``order`` (stable: ties keep their input order; missing keys last)
    and pooled after each addition with :func:`evidence.pool`.

    Parameters
    ----------
    data : DataFrame
        One row per study.
    yi, vi : str
        Effect-size and variance columns (rows with a missing value are dropped with a
        warning, as metafor's ``na.omit``).
    order : str, array-like or None, default "year"
        Column to sort by, one sort key per row, or ``None`` for the input order.
    decreasing : bool, default False
        Sort from the largest key (most recent year) down.
    label : str, optional
        Column with study labels (default ``study_id`` if present, else the index).
    method, ci_method, level
        As in :func:`evidence.pool`.

    Returns
    -------
    DataFrame
        One row per study in the cumulative order: ``row`` (the index label in ``data``),
        ``label``, ``order_key``, then the pooled result over this study and all before it:
        ``k, estimate, se, stat, p_value, ci_low, ci_high, q, q_p, tau2, i2, h2, pi_low,
        pi_high, method``. The first row (k = 1) has NaN heterogeneity statistics (metafor
        reports tau2 = 0, Q = 0 there) and, with Knapp-Hartung, NaN se and CI; no warning is
        given for it.

    Raises
    ------
    InvalidParameterError
        ``order`` names a missing column (pass ``order=None`` for the input order) or has the
        wrong length; unknown options; ``vi <= 0``.
    """
    func = "cumulative"
    check_frame(data, "data", func)
    decreasing = check_bool(decreasing, "decreasing", func)
    for arg, col in (("yi", yi), ("vi", vi)) + ((("label", label),) if label else ()):
        if not isinstance(col, str) or col not in data.columns:
            raise InvalidParameterError(
                f"The '{arg}' argument of {func}() names column {col!r}, which is not in data. "
                f"Columns: {[str(c) for c in data.columns][:20]}."
            )
    if order is None:
        keys = pd.Series(np.arange(len(data)), index=data.index)
    elif isinstance(order, str):
        if order not in data.columns:
            raise InvalidParameterError(
                f"The 'order' argument of {func}() names column {order!r}, which is not in "
                "data; pass another column, one sort key per row, or order=None for the input "
                "order."
            )
        keys = data[order]
    else:
        keys = pd.Series(list(order), index=data.index) if len(order) == len(data) else None
        if keys is None:
            raise InvalidParameterError(
                f"The 'order' argument of {func}() must have one key per row ({len(data)}). "
                f"Got {len(order)}."
            )
    labels = (
        data[label]
        if label
        else data["study_id"]
        if "study_id" in data.columns
        else pd.Series(data.index, index=data.index)
    )
    y_all = numeric_column(data, yi, "yi", func, error=ValidationError)
    v_all = numeric_column(data, vi, "vi", func, error=ValidationError)
    pos = np.arange(len(data))
    sorted_pos = (
        pd.Series(keys.to_numpy(), index=pos)
        .sort_values(ascending=not decreasing, kind="stable", na_position="last")
        .index.to_numpy()
    )
    y, v, kept = _check_yi_vi(y_all[sorted_pos], v_all[sorted_pos], func, list(sorted_pos))
    if len(y) == 0:
        raise ValidationError(f"{func}() needs at least one study with '{yi}' and '{vi}'.")
    rows = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(1, len(y) + 1):
            r = pool(y[:i], v[:i], method=method, ci_method=ci_method, level=level)
            rows.append({f: getattr(r, f) for f in _CUMUL_FIELDS})
    seen = set()
    for w in caught:
        msg = str(w.message)
        if "Only one study" in msg or "k = 1" in msg or msg in seen:  # the first row
            continue
        seen.add(msg)
        warnings.warn(f"{func}(): {msg}", w.category, stacklevel=2)
    kept_pos = np.asarray(kept, dtype=int)
    head = pd.DataFrame(
        {
            "row": data.index.to_numpy()[kept_pos],
            "label": labels.to_numpy()[kept_pos],
            "order_key": keys.to_numpy()[kept_pos],
        }
    )
    return pd.concat([head, pd.DataFrame(rows)], axis=1)


# --------------------------------------------------------------------------- influence
def _loo(y, v, method, ci_method, level):
    """Leave-one-out fits: estimate, variance, tau2, Q and s2w per omitted study."""
    k = len(y)
    est, var, tau2, q, s2w = (np.empty(k) for _ in range(5))
    for i in range(k):
        m = np.arange(k) != i
        r = _quiet(y[m], v[m], method=method, ci_method=ci_method, level=level)
        est[i], var[i], tau2[i], q[i] = r.estimate, r.se**2, r.tau2, r.q
        # metafor's s2w: 1 for z tests; the Knapp-Hartung factor (floored at 1 for adhoc)
        s2w[i] = 1.0 if ci_method == "z" else r.se**2 * float((1 / (v[m] + r.tau2)).sum())
    return est, var, tau2, q, s2w


def influence(
    yi: Any,
    vi: Any,
    *,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    labels: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Outlier and influence diagnostics, as metafor ``influence(rma(yi, vi, ...))``.

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and sampling variances (NaN rows dropped with a warning).
    method, ci_method, level
        As in :func:`evidence.pool` (the model being diagnosed; every leave-one-out refit
        uses the same options).
    labels : sequence, optional
        One label per study (default: the 0-based position).

    Returns
    -------
    DataFrame
        One row per study (metafor's names in brackets):

        ``label``
            The study.
        ``rstudent`` (rstudent)
            Externally studentised residual: ``yi`` minus the leave-one-out estimate, over
            its standard error.
        ``dffits`` (dffits)
            Change in the fitted value when the study is left out, in standard errors.
        ``cook_d`` (cook.d)
            Cook's distance.
        ``cov_r`` (cov.r)
            Covariance ratio: variance of the estimate without the study over with it.
        ``tau2_del``, ``q_del`` (tau2.del, QE.del)
            tau2 and Cochran's Q with the study left out.
        ``hat`` (hat)
            Leverage, ``w_i / sum(w)`` with ``w = 1 / (vi + tau2)``.
        ``weight`` (weight)
            Percent weight in the full model.
        ``dfbs`` (dfbs, intrcpt)
            DFBETAS of the pooled estimate.
        ``inf`` (inf)
            True where metafor marks the study influential (``|dffits| > 3 sqrt(1/(k-1))``,
            ``P(chi2_1 <= cook_d) > 0.5``, ``hat > 3/k`` or ``|dfbs| > 1``).

    Raises
    ------
    InvalidParameterError
        Lengths differ, non-numeric values, ``vi <= 0``, unknown options.
    ValidationError
        Fewer than 3 studies (each leave-one-out fit needs 2 to estimate tau2).
    """
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy.special import chdtr

    func = "influence"
    y, v, lab = _check_yi_vi(yi, vi, func, labels)
    k = len(y)
    if k < 3:
        raise ValidationError(f"{func}() needs at least 3 studies; got k = {k}.")
    full = _quiet(y, v, method=method, ci_method=ci_method, level=level)
    beta, vb = full.estimate, full.se**2
    w = 1 / (v + full.tau2)
    hat = w / w.sum()
    est, var, tau2, q, s2w = _loo(y, v, full.method, ci_method, level)  # a fallback too
    diff = beta - est
    dffits = diff / np.sqrt(s2w * hat * (tau2 + v))
    vb_del = np.array([1 / float((1 / (v + t)).sum()) for t in tau2])
    dfbs = diff / np.sqrt(s2w * vb_del)
    cook = diff**2 / vb
    cov_r = var / vb
    resid = y - est
    resid[np.abs(resid) < 100 * np.finfo(float).eps] = 0.0
    rstudent = resid / np.sqrt(v * s2w + var + tau2 * s2w)
    inf = (
        (np.abs(dffits) > 3 * math.sqrt(1 / (k - 1)))
        | (chdtr(1, cook) > 0.5)
        | (hat > 3 / k)
        | (np.abs(dfbs) > 1)
    )
    return pd.DataFrame(
        {
            "label": lab,
            "rstudent": rstudent,
            "dffits": dffits,
            "cook_d": cook,
            "cov_r": cov_r,
            "tau2_del": tau2,
            "q_del": q,
            "hat": hat,
            "weight": 100 * hat,
            "dfbs": dfbs,
            "inf": inf,
        }
    )


def baujat_data(
    yi: Any,
    vi: Any,
    *,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    labels: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Coordinates of a Baujat plot, as metafor ``baujat(rma(yi, vi, ...))``.

    Returns
    -------
    DataFrame
        One row per study: ``label``; ``x``, the study's contribution to the heterogeneity
        statistic, ``(yi - estimate)^2 / (vi + tau2)``; ``y``, its influence on the pooled
        estimate, ``(estimate_without - estimate)^2 / var(estimate_without)``.

    Raises
    ------
    InvalidParameterError, ValidationError
        As :func:`influence` (at least 2 studies).
    """
    func = "baujat_data"
    y, v, lab = _check_yi_vi(yi, vi, func, labels)
    if len(y) < 2:
        raise ValidationError(f"{func}() needs at least 2 studies; got k = {len(y)}.")
    full = _quiet(y, v, method=method, ci_method=ci_method, level=level)
    est, var, _, _, _ = _loo(y, v, method, ci_method, level)
    return pd.DataFrame(
        {
            "label": lab,
            "x": (y - full.estimate) ** 2 / (full.tau2 + v),
            "y": (est - full.estimate) ** 2 / var,
        }
    )
