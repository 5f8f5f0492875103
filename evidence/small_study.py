"""Regression tests for small-study effects chosen by effect measure (Sterne 2011).

Sterne et al. (BMJ 2011;343:d4002) recommend tests for funnel-plot asymmetry only with at
least 10 studies, and a test that suits the measure: Egger's test (predictor: standard error)
for continuous outcomes with mean differences, and for binary outcomes a test whose predictor is
not mathematically tied to the log odds ratio, such as Peters' test (predictor: 1/n; Peters et
al. JAMA 2006;295:676-680) or Harbord's score test (Harbord et al. Stat Med 2006;25:3443-3457).
For standardised mean differences the standard error depends on the SMD itself, so Egger's test
is biased; Zwetsloot et al. (eLife 2017;6:e24260) recommend a sample-size-based precision
estimate, used here as the predictor 1/sqrt(n).

Every test is the weighted regression of metafor 3.8-1 ``regtest(yi, vi, ni=, model="lm",
predictor=...)`` (weights 1/vi, multiplicative dispersion, t test of the predictor's coefficient
on k - 2 degrees of freedom; the intercept is the limit estimate for a study of infinite size).
Harbord's test is that regression on ``yi = Z/V``, ``vi = 1/V`` with the standard-error
predictor (Z: efficient score, V: its variance), the same as regressing Z/sqrt(V) on sqrt(V).
Validated against metafor in ``tests/reference/small_study.R``.

A test that cannot be computed (fewer than 3 studies, all predictor values equal, a perfect
fit) is returned with ``estimable=False`` and the reason, never raised: one body of evidence
must not stop a run.  Rows with a missing value (NaN) are dropped with a
:class:`~evidence.errors.StatisticalWarning` (metafor's ``na.omit``); a wrong argument (not
numbers, lengths that differ) raises :class:`~evidence.errors.InvalidParameterError`, unusable
values (infinite, non-positive variances or sample sizes, negative counts)
:class:`~evidence.errors.ValidationError` (the rule: :mod:`evidence.errors`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from html import escape

import numpy as np
import pandas as pd

from evidence import _distributions as dist
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError

__all__ = [
    "SmallStudyResult",
    "PREDICTORS",
    "regression_test",
    "peters_test",
    "harbord_test",
    "sample_size_test",
    "small_study_test",
]

#: metafor ``regtest`` predictors supported here.
PREDICTORS: tuple[str, ...] = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")

_TEST_NAMES = {
    "sei": "Egger",
    "vi": "regression on the variance",
    "ni": "regression on n",
    "ninv": "Peters",
    "sqrtni": "regression on sqrt(n)",
    "sqrtninv": "sample-size (1/sqrt(n))",
}


@dataclass(frozen=True)
class SmallStudyResult:
    """One regression test for small-study effects.

    Attributes
    ----------
    test : str
        "Egger", "Peters", "Harbord", "sample-size (1/sqrt(n))", ...
    predictor : str
        metafor ``regtest`` predictor (``sei``, ``ninv``, ``sqrtninv``, ...).
    k : int
        Studies used.
    estimable : bool
        False when the test cannot be computed; ``note`` says why and the numbers are NaN.
    stat, df, p_value : float
        t statistic of the predictor's coefficient, its degrees of freedom (k - 2), two-sided p.
    slope, slope_se : float
        Coefficient of the predictor and its standard error.
    limit_estimate, limit_ci_low, limit_ci_high : float
        Intercept: the estimate for a study of infinite size, with its ``level`` CI (for
        Harbord's test on the score scale, not an effect estimate).
    level : float
    note : str
        Why the test is not estimable (empty otherwise).
    """

    test: str
    predictor: str
    k: int
    estimable: bool
    stat: float
    df: float
    p_value: float
    slope: float
    slope_se: float
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float
    level: float
    note: str = ""

    def to_frame(self):

        return pd.DataFrame([asdict(self)])

    def summary(self) -> str:
        if not self.estimable:
            return f"{self.test} test (k = {self.k}): not estimable: {self.note}"
        return (
            f"{self.test} test for small-study effects (k = {self.k}): t = {self.stat:.3f}, "
            f"df = {self.df:.0f}, p = {self.p_value:.4f}"
        )

    def _repr_html_(self) -> str:

        return f"<p>{escape(self.summary())}</p>"


def _array(x, name: str, func: str, *, allow_nan: bool = False) -> np.ndarray:
    """Numbers only (else InvalidParameterError); infinite values, and NaN unless
    ``allow_nan``, are a data problem (ValidationError naming the argument and position)."""
    if (
        isinstance(x, (str, bytes))
        or not isinstance(x, (Sequence, np.ndarray))
        and not hasattr(x, "__array__")
    ):
        raise InvalidParameterError(
            f"The '{name}' argument of {func}() must be a sequence of numbers. "
            f"Got {type(x).__name__}."
        )
    arr = np.asarray(x)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise InvalidParameterError(
            f"The '{name}' argument of {func}() must hold numbers only. Got dtype {arr.dtype}."
        )
    arr = arr.astype(float).ravel()
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"The '{name}' argument of {func}() must be finite; position {i} is {arr[i]!r}."
        )
    return arr


def _not_estimable(test: str, predictor: str, k: int, level: float, note: str) -> SmallStudyResult:
    nan = math.nan
    return SmallStudyResult(
        test, predictor, k, False, nan, nan, nan, nan, nan, nan, nan, nan, level, note
    )


def regression_test(
    yi: Sequence[float],
    vi: Sequence[float],
    *,
    predictor: str = "sei",
    ni: Sequence[float] | None = None,
    level: float = 0.95,
    test: str | None = None,
) -> SmallStudyResult:
    """metafor ``regtest(yi, vi, ni=ni, model="lm", predictor=predictor)``.

    Parameters
    ----------
    yi, vi : sequence of float
        Effect sizes (log scale for ratio measures) and sampling variances (> 0).
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}
        Egger's test is ``"sei"``; Peters' ``"ninv"``; the sample-size test for SMDs
        ``"sqrtninv"``.
    ni : sequence of float, optional
        Total sample size per study (needed by the n-based predictors; > 0).
    level : float
        Confidence level of the limit estimate's interval.
    test : str, optional
        Name to report (default from the predictor).

    Returns
    -------
    SmallStudyResult
    """
    func = "regression_test"
    if predictor not in PREDICTORS:
        raise InvalidParameterError(
            f"The 'predictor' argument of {func}() must be one of {list(PREDICTORS)}. "
            f"Got {predictor!r}."
        )
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise InvalidParameterError(
            f"The 'level' argument of {func}() must be a number between 0 and 1. Got {level!r}."
        )
    y = _array(yi, "yi", func, allow_nan=True)
    v = _array(vi, "vi", func, allow_nan=True)
    name = test or _TEST_NAMES[predictor]
    if len(y) != len(v):
        raise InvalidParameterError(
            f"The 'yi' and 'vi' arguments of {func}() must have the same length "
            f"(got {len(y)} and {len(v)})."
        )
    uses_n = predictor not in ("sei", "vi")
    n_all = _array(ni, "ni", func, allow_nan=True) if uses_n and ni is not None else None
    if n_all is not None and len(n_all) != len(y):
        raise InvalidParameterError(
            f"The 'ni' argument of {func}() must have the same length as 'yi' "
            f"(got {len(n_all)} and {len(y)})."
        )
    keep = ~(np.isnan(y) | np.isnan(v))
    if n_all is not None:
        keep &= ~np.isnan(n_all)
    if not keep.all():  # as metafor's na.omit (and pool(), egger_test())
        warnings.warn(
            f"{func}(): {int((~keep).sum())} of {len(y)} studies dropped because a value is "
            "missing (NaN).",
            StatisticalWarning,
            stacklevel=2,
        )
        y, v = y[keep], v[keep]
        n_all = None if n_all is None else n_all[keep]
    if np.any(v <= 0):
        i = int(np.flatnonzero(v <= 0)[0])
        raise ValidationError(
            f"The 'vi' argument of {func}() must be positive; position {i} is {v[i]!r}."
        )
    if predictor in ("sei", "vi"):
        x = np.sqrt(v) if predictor == "sei" else v
    else:
        if ni is None:
            raise InvalidParameterError(
                f"The 'ni' argument of {func}() is needed for predictor {predictor!r}."
            )
        n = n_all
        assert n is not None  # checked above
        if np.any(n <= 0):
            i = int(np.flatnonzero(n <= 0)[0])
            raise ValidationError(
                f"The 'ni' argument of {func}() must be positive; position {i} is {n[i]!r}."
            )
        x = {"ni": n, "ninv": 1 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1 / np.sqrt(n)}[predictor]
    k = len(y)
    if k < 3:
        return _not_estimable(name, predictor, k, level, f"needs at least 3 studies (k = {k})")
    w = 1.0 / v
    xbar = float(np.sum(w * x) / np.sum(w))
    sxx = float(np.sum(w * (x - xbar) ** 2))
    if not sxx > 1e-12 * float(np.sum(w * x * x) + 1e-300):
        what = {"sei": "standard error", "vi": "variance"}.get(predictor, "sample size")
        return _not_estimable(
            name,
            predictor,
            k,
            level,
            f"every study has the same {what}, so the predictor is constant",
        )
    ybar = float(np.sum(w * y) / np.sum(w))
    slope = float(np.sum(w * (x - xbar) * (y - ybar)) / sxx)
    intercept = ybar - slope * xbar
    resid = y - intercept - slope * x
    df = k - 2
    sigma2 = float(np.sum(w * resid**2) / df)
    if not sigma2 > 0:
        return _not_estimable(
            name,
            predictor,
            k,
            level,
            "the regression fits every study exactly (no residual variance)",
        )
    slope_se = math.sqrt(sigma2 / sxx)
    int_se = math.sqrt(sigma2 * (1.0 / float(np.sum(w)) + xbar**2 / sxx))

    t = slope / slope_se
    p = float(min(1.0, 2 * dist.t_sf(abs(t), df)))
    crit = float(dist.t_isf((1 - level) / 2, df))
    return SmallStudyResult(
        name,
        predictor,
        k,
        True,
        t,
        float(df),
        p,
        slope,
        slope_se,
        intercept,
        intercept - crit * int_se,
        intercept + crit * int_se,
        level,
    )


def peters_test(yi, vi, ni, *, level: float = 0.95) -> SmallStudyResult:
    """Peters' test (JAMA 2006;295:676): regression on 1/n (metafor predictor ``ninv``)."""
    return regression_test(yi, vi, predictor="ninv", ni=ni, level=level, test="Peters")


def sample_size_test(yi, vi, ni, *, level: float = 0.95) -> SmallStudyResult:
    """Sample-size-based test for SMDs (Zwetsloot 2017 eLife 6:e24260): predictor 1/sqrt(n)."""
    return regression_test(
        yi, vi, predictor="sqrtninv", ni=ni, level=level, test="sample-size (1/sqrt(n))"
    )


def harbord_test(ai, bi, ci, di, *, level: float = 0.95) -> SmallStudyResult:
    """Harbord's score test for binary outcomes (Stat Med 2006;25:3443) from 2x2 counts.

    ``ai, bi`` events and non-events in the intervention group, ``ci, di`` in the control
    group.  Tables whose score variance is 0 (a zero margin) carry no information and are left
    out (named in ``note``).
    """
    func = "harbord_test"
    a, b, c, d = (_array(x, n, func) for x, n in ((ai, "ai"), (bi, "bi"), (ci, "ci"), (di, "di")))
    if not len(a) == len(b) == len(c) == len(d):
        raise InvalidParameterError(f"The count arguments of {func}() must have equal lengths.")
    if np.any(np.concatenate([a, b, c, d]) < 0):
        raise ValidationError(f"The counts given to {func}() must not be negative.")
    n1, n2, m1, m0 = a + b, c + d, a + c, b + d
    total = n1 + n2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = a - n1 * m1 / total
        var = n1 * n2 * m1 * m0 / (total**2 * (total - 1))
    ok = np.isfinite(var) & (var > 0)
    dropped = int((~ok).sum())
    if ok.sum() == 0:
        return _not_estimable("Harbord", "sei", 0, level, "no table has a positive score variance")
    res = regression_test(
        z[ok] / var[ok], 1.0 / var[ok], predictor="sei", level=level, test="Harbord"
    )
    if dropped:
        note = f"{dropped} table(s) with a zero margin left out"
        res = SmallStudyResult(
            **{**asdict(res), "note": f"{res.note}; {note}" if res.note else note}
        )
    return res


def small_study_test(
    measure: str,
    yi,
    vi,
    *,
    ni=None,
    counts=None,
    level: float = 0.95,
) -> SmallStudyResult:
    """The test Sterne 2011 / Zwetsloot 2017 suit to ``measure``.

    * OR with 2x2 ``counts`` (tuple ``(ai, bi, ci, di)``): Harbord; RR/OR/RD/HR with ``ni``:
      Peters; a binary measure without sample sizes: Egger (named so in ``test``).
    * SMD (and Hedges' g, SMDH): sample-size test (needs ``ni``; not estimable without it,
      since Egger's test is biased for SMDs).
    * Any other measure (MD, ROM, correlations ...): Egger.
    """
    m = str(measure).upper()
    if m == "OR" and counts is not None:
        return harbord_test(*counts, level=level)
    if m in ("RR", "OR", "RD", "HR", "PETO"):
        if ni is not None:
            return peters_test(yi, vi, ni, level=level)
        return regression_test(
            yi, vi, predictor="sei", level=level, test="Egger (sample sizes not recorded)"
        )
    if m in ("SMD", "SMDH", "SMD1", "G"):
        if ni is None:
            k = len(np.asarray(yi))
            return _not_estimable(
                "sample-size (1/sqrt(n))",
                "sqrtninv",
                k,
                level,
                "sample sizes not recorded (Egger's test is biased for SMDs)",
            )
        return sample_size_test(yi, vi, ni, level=level)
    return regression_test(yi, vi, predictor="sei", level=level, test="Egger")
