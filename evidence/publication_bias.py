"""Begg's rank correlation test and fail-safe N, as metafor ``ranktest()`` and ``fsn()``.

Both are classic small-study / publication-bias tools with known weaknesses (low power with
few studies; the fail-safe N ignores heterogeneity and is discouraged by the Cochrane
Handbook, 13.3.5.3); evigap offers them because reviewers ask for them, next to
:func:`evidence.egger_test` and :func:`evidence.trim_and_fill`.

Checked against metafor 3.8-1 (``tests/reference/diagnostics.R``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evidence._display import fields_html
from evidence._validate import as_vector, check_bool, check_choice
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError

__all__ = ["RankTestResult", "FailSafeNResult", "ranktest", "fail_safe_n"]

FSN_TYPES: tuple[str, ...] = ("Rosenthal", "Orwin", "Rosenberg")


def _yi_vi(yi: Any, vi: Any, func: str, *, need_vi: bool = True) -> tuple[np.ndarray, np.ndarray]:
    y = as_vector(yi, "yi", func)
    v = as_vector(vi, "vi", func) if vi is not None else np.zeros(len(y))
    if vi is None and need_vi:
        raise InvalidParameterError(f"{func}() needs the 'vi' argument (sampling variances).")
    if len(y) != len(v):
        raise InvalidParameterError(
            f"The 'yi' and 'vi' arguments of {func}() must have the same length. "
            f"Got {len(y)} and {len(v)}."
        )
    for arr, name in ((y, "yi"), (v, "vi")):
        if np.isinf(arr).any():
            raise ValidationError(
                f"The '{name}' argument of {func}() contains infinite values; use NaN for a "
                "missing value."
            )
    keep = ~(np.isnan(y) | np.isnan(v))
    if need_vi and (v[keep] <= 0).any():
        row = int(np.flatnonzero(keep & (v <= 0))[0])
        raise ValidationError(
            f"The 'vi' argument of {func}() must contain sampling variances > 0; row {row} "
            f"has {v[row]!r}."
        )
    if (~keep).any():
        warnings.warn(
            f"{func}(): {int((~keep).sum())} of {len(y)} rows dropped because 'yi' "
            "or 'vi' is missing (NaN).",
            StatisticalWarning,
            stacklevel=3,
        )
    return y[keep], v[keep]


def _result_methods(cls):
    """Add to_frame / summary-free helpers shared by the small result classes."""

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{f: getattr(self, f) for f in self._FIELDS}])

    def _repr_html_(self) -> str:
        return fields_html(self, self._FIELDS, cls.__name__, cell=str)

    cls.to_frame = to_frame
    cls._repr_html_ = _repr_html_
    return cls


@_result_methods
@dataclass(frozen=True)
class RankTestResult:
    """Result of :func:`ranktest`.

    Attributes
    ----------
    k : int
        Studies used.
    tau : float
        Kendall's tau (tau-b) between the standardised effects and their variances.
    p_value : float
        Two-sided p-value (exact without ties when ``exact=True``, else normal approximation
        with the tie-corrected variance, as R ``cor.test``).
    method : str
        ``"exact"`` or ``"normal"``: how the p-value was computed.
    """

    k: int
    tau: float
    p_value: float
    method: str

    _FIELDS = ("k", "tau", "p_value", "method")

    def summary(self, digits: int = 4) -> str:
        """metafor-like one-liner."""
        return (
            f"Rank Correlation Test for Funnel Plot Asymmetry (k = {self.k})\n\n"
            f"Kendall's tau = {self.tau:.{digits}f}, p = {self.p_value:.{digits}f} "
            f"({self.method})"
        )


@_result_methods
@dataclass(frozen=True)
class FailSafeNResult:
    """Result of :func:`fail_safe_n`.

    Attributes
    ----------
    type : str
        ``"Rosenthal"``, ``"Orwin"`` or ``"Rosenberg"``.
    fail_safe_n : float
        Number of additional null studies (rounded up as metafor; ``inf`` when the Orwin
        target is 0).
    alpha : float
        Significance level (Rosenthal, Rosenberg).
    p_value : float
        Rosenthal: one-sided p of Stouffer's combined z; Rosenberg: two-sided p of the
        fixed-effect estimate; NaN for Orwin.
    mean_effect : float
        Orwin: the (weighted, if asked) mean effect; Rosenberg: the fixed-effect estimate;
        NaN for Rosenthal.
    target : float
        Orwin's target effect (half the mean effect by default); NaN otherwise.
    k : int
        Studies used.
    """

    type: str
    fail_safe_n: float
    alpha: float
    p_value: float
    mean_effect: float
    target: float
    k: int

    _FIELDS = ("type", "fail_safe_n", "alpha", "p_value", "mean_effect", "target", "k")

    def summary(self, digits: int = 4) -> str:
        """metafor-like block."""
        lines = [f"Fail-safe N Calculation Using the {self.type} Approach", ""]
        if not math.isnan(self.mean_effect):
            lines.append(f"Average effect size: {self.mean_effect:.{digits}f}")
        if not math.isnan(self.target):
            lines.append(f"Target effect size:  {self.target:.{digits}f}")
        if not math.isnan(self.p_value):
            lines.append(f"Observed significance level: {self.p_value:.{digits}g}")
            lines.append(f"Target significance level:   {self.alpha:g}")
        lines += ["", f"Fail-safe N: {self.fail_safe_n:g}"]
        return "\n".join(lines)


def ranktest(yi: Any, vi: Any, *, exact: bool = True) -> RankTestResult:
    """Begg and Mazumdar's rank correlation test for funnel-plot asymmetry (metafor
    ``ranktest()``).

    Kendall's tau between ``(yi - theta) / sqrt(vi - 1/sum(w))`` and ``vi``, where ``theta``
    is the fixed-effect estimate with weights ``w = 1/vi``.

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and sampling variances (NaN rows dropped with a warning).
    exact : bool, default True
        Exact p-value when there are no ties (R ``cor.test(..., exact = TRUE)``); with ties,
        or ``exact=False``, the normal approximation.

    Returns
    -------
    RankTestResult
        ``to_frame()`` columns ``k, tau, p_value, method``.

    Raises
    ------
    InvalidParameterError
        Lengths differ, non-numeric or infinite values, ``vi <= 0``, fewer than 3 studies.
    """
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy.stats import kendalltau

    func = "ranktest"
    exact = check_bool(exact, "exact", func)
    y, v = _yi_vi(yi, vi, func)
    if len(y) < 3:
        raise ValidationError(
            f"{func}() needs at least 3 studies with 'yi' and 'vi'; got {len(y)}."
        )
    w = 1 / v
    theta = float((w * y).sum() / w.sum())
    ystar = (y - theta) / np.sqrt(v - 1 / w.sum())
    ties = len(np.unique(ystar)) < len(ystar) or len(np.unique(v)) < len(v)
    method = "exact" if exact and not ties else "normal"
    res = kendalltau(ystar, v, method="exact" if method == "exact" else "asymptotic")
    return RankTestResult(
        k=len(y), tau=float(res.statistic), p_value=float(res.pvalue), method=method
    )


def _norm_isf(p: float) -> float:
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy.special import ndtri

    return float(-ndtri(p))


def fail_safe_n(
    yi: Any,
    vi: Any = None,
    *,
    type: str = "Rosenthal",
    alpha: float = 0.05,
    target: float | None = None,
    weighted: bool = False,
) -> FailSafeNResult:
    """Fail-safe N (metafor ``fsn()``): how many null studies would overturn the result.

    * ``"Rosenthal"``: studies averaging z = 0 needed to raise Stouffer's one-sided combined
      p above ``alpha`` (Rosenthal 1979).
    * ``"Orwin"``: studies with effect 0 needed to pull the (unweighted, or with
      ``weighted=True`` inverse-variance weighted) mean effect down to ``target``
      (default: half the mean; Orwin 1983). ``vi`` is needed only with ``weighted=True``.
    * ``"Rosenberg"``: studies needed to make the fixed-effect estimate non-significant at
      two-sided ``alpha`` (Rosenberg 2005).

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and sampling variances (NaN rows dropped with a warning).
    type : {"Rosenthal", "Orwin", "Rosenberg"}
    alpha : float, default 0.05
    target : float, optional
        Orwin only; its sign is made to match the mean effect (as metafor).
    weighted : bool, default False
        Orwin only.

    Returns
    -------
    FailSafeNResult
        ``to_frame()`` columns ``type, fail_safe_n, alpha, p_value, mean_effect, target, k``.

    Raises
    ------
    InvalidParameterError
        Unknown type, ``alpha`` outside (0, 1), ``target`` with another type, missing ``vi``,
        lengths that differ, ``vi <= 0``.
    """
    func = "fail_safe_n"
    type = check_choice(type, "type", func, FSN_TYPES)
    weighted = check_bool(weighted, "weighted", func)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidParameterError(
            f"The 'alpha' argument of {func}() must be a number in (0, 1). Got {alpha!r}."
        )
    if target is not None and type != "Orwin":
        raise InvalidParameterError(
            f"The 'target' argument of {func}() is used only with type='Orwin'."
        )
    if target is not None and (
        isinstance(target, bool) or not isinstance(target, int | float) or not math.isfinite(target)
    ):
        raise InvalidParameterError(
            f"The 'target' argument of {func}() must be a finite number. Got {target!r}."
        )
    need_vi = type != "Orwin" or weighted
    y, v = _yi_vi(yi, vi if need_vi else None, func, need_vi=need_vi)
    k = len(y)
    if k == 0:
        raise ValidationError(f"{func}() needs at least one study with 'yi' and 'vi'.")
    nan = math.nan
    pval = meanes = tgt = nan
    if type == "Rosenthal":
        z_avg = abs(float((y / np.sqrt(v)).sum()) / math.sqrt(k))
        # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
        from scipy.special import ndtr

        pval = float(ndtr(-z_avg))
        fsnum = max(0.0, k * (z_avg / _norm_isf(alpha)) ** 2 - k)
    elif type == "Orwin":
        meanes = float((y / v).sum() / (1 / v).sum()) if weighted else float(y.mean())
        tgt = meanes / 2 if target is None else float(target)
        if tgt == 0:
            fsnum = math.inf
        else:
            if np.sign(tgt) != np.sign(meanes):
                tgt = -tgt
            fsnum = max(0.0, k * (meanes - tgt) / tgt)
    else:  # Rosenberg
        # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
        from scipy.special import ndtr

        w = 1 / v
        meanes = float((w * y).sum() / w.sum())
        zval = meanes / math.sqrt(1 / w.sum())
        w_p = (float((w * y).sum()) / _norm_isf(alpha / 2)) ** 2 - float(w.sum())
        pval = float(2 * ndtr(-abs(zval)))
        fsnum = max(0.0, k * w_p / float(w.sum()))
    if math.isfinite(fsnum) and abs(fsnum - round(fsnum)) >= math.sqrt(np.finfo(float).eps):
        fsnum = float(math.ceil(fsnum))
    elif math.isfinite(fsnum):
        fsnum = float(round(fsnum))
    return FailSafeNResult(
        type=type,
        fail_safe_n=fsnum,
        alpha=float(alpha),
        p_value=pval,
        mean_effect=meanes,
        target=tgt,
        k=k,
    )
