"""Single-arm proportions: what a reader sees for one study, and pooled proportions.

* :func:`proportion_ci` - the observed proportion ``x / n`` of each study with an exact
  (Clopper-Pearson) or Wilson score interval (statsmodels ``proportion_confint``). No
  continuity correction: "0 of 28" is shown as 0 with a 95% CI of 0 to 12%.
* :func:`single_arm_columns` - the same for the single-arm rows of the study sheet (used by
  :func:`evidence.study_effects`).
* :func:`pool_proportions` - random-effects pooling of proportions on the logit (PLO) or
  Freeman-Tukey double-arcsine (PFT) scale, back-transformed as metafor's
  ``predict(res, transf = transf.ilogit)`` / ``transf.ipft.hm`` (harmonic mean of the ni).
  Continuity corrections (0.5 for PLO when x = 0 or x = n; none for PFT) stay inside this
  pooling step, as metafor does.

Checked against R: ``binom.test()`` and ``prop.test(correct = FALSE)`` for the intervals and
metafor 3.8-1 ``rma()`` + ``predict()`` for the pooled values (``tests/reference/measures.R``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evidence._display import fields_html
from evidence._validate import check_choice, check_level
from evidence.effects import effect_sizes
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError
from evidence.measures import ilogit, ipft
from evidence.pooling import pool

__all__ = [
    "PROPORTION_CI_METHODS",
    "PooledProportion",
    "pool_proportions",
    "proportion_ci",
    "single_arm_columns",
]

#: Interval methods of :func:`proportion_ci` and the name each is reported under.
PROPORTION_CI_METHODS: dict[str, str] = {
    "exact": "Clopper-Pearson exact",
    "wilson": "Wilson score",
}
_STATSMODELS = {"exact": "beta", "wilson": "wilson"}


def _counts(values: Any, arg: str, func: str) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"The '{arg}' argument of {func}() must be numeric. Got {values!r}."
        ) from exc
    if arr.ndim != 1:
        raise InvalidParameterError(f"The '{arg}' argument of {func}() must be one-dimensional.")
    return arr


def _intervals(
    x: np.ndarray, n: np.ndarray, method: str, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proportion and CI where x and n are present (NaN elsewhere); inputs already checked."""
    ok = ~(np.isnan(x) | np.isnan(n))
    p = np.full(len(x), np.nan)
    lo = np.full(len(x), np.nan)
    hi = np.full(len(x), np.nan)
    if ok.any():
        from statsmodels.stats.proportion import proportion_confint  # heavy: import on use

        xs, ns = x[ok], n[ok]
        low, high = proportion_confint(xs, ns, alpha=1 - level, method=_STATSMODELS[method])
        low = np.where(xs == 0, 0.0, np.asarray(low, dtype=float))  # exact limits at 0 and n
        high = np.where(xs == ns, 1.0, np.asarray(high, dtype=float))
        p[ok], lo[ok], hi[ok] = xs / ns, low, high
    return p, lo, hi


def _check_counts(
    x: np.ndarray, n: np.ndarray, func: str, xname: str, nname: str, labels: Any = None
) -> None:
    labels = np.arange(len(x)) if labels is None else np.asarray(labels, dtype=object)

    def fail(mask: np.ndarray, what: str) -> None:
        rows = ", ".join(str(v) for v in labels[mask][:5])
        raise ValidationError(f"{func}(): {what} in row(s) {rows}.")

    if (x < 0).any():
        fail(x < 0, f"'{xname}' has negative counts")
    if (n <= 0).any():
        fail(n <= 0, f"'{nname}' must be > 0 (group size)")
    if (x > n).any():
        fail(x > n, f"'{xname}' is larger than '{nname}' (events > total)")
    frac = (~np.isnan(x) & (x != np.round(x))) | (~np.isnan(n) & (n != np.round(n)))
    if frac.any():
        fail(frac, f"'{xname}' and '{nname}' must be whole numbers")


def proportion_ci(
    events: Any, n: Any, *, method: str = "wilson", level: float = 0.95
) -> pd.DataFrame:
    """Observed proportion of each study with an exact or Wilson confidence interval.

    Parameters
    ----------
    events, n : array-like
        Events and total per study (whole numbers; NaN where not reported).
    method : {"wilson", "exact"}, default "wilson"
        ``"wilson"``: Wilson score interval (recommended by Brown, Cai and DasGupta 2001,
        Stat Sci 16:101); ``"exact"``: Clopper-Pearson interval from the beta distribution.
        Both from statsmodels ``proportion_confint`` (``"wilson"``, ``"beta"``).
    level : float, default 0.95
        Confidence level as a fraction.

    Returns
    -------
    DataFrame
        One row per study with the columns ``events``, ``n``, ``proportion`` (``events /
        n``, no continuity correction), ``ci_low``, ``ci_high`` (0 and 1 exactly at 0 and n
        events), ``ci_method`` ("Wilson score" or "Clopper-Pearson exact") and ``level``.

    Raises
    ------
    InvalidParameterError
        Unknown method, a level outside (0, 1), non-numeric input, lengths that differ.
    ValidationError
        Negative or fractional counts, n <= 0, events > n (naming the rows).
    """
    func = "proportion_ci"
    method = check_choice(method, "method", func, tuple(PROPORTION_CI_METHODS))
    level = check_level(level, func)
    x, m = _counts(events, "events", func), _counts(n, "n", func)
    if len(x) != len(m):
        raise InvalidParameterError(
            f"The 'events' and 'n' arguments of {func}() must have the same length. "
            f"Got {len(x)} and {len(m)}."
        )
    _check_counts(x, m, func, "events", "n")
    p, lo, hi = _intervals(x, m, method, level)
    return pd.DataFrame(
        {
            "events": x,
            "n": m,
            "proportion": p,
            "ci_low": lo,
            "ci_high": hi,
            "ci_method": PROPORTION_CI_METHODS[method],
            "level": level,
        }
    )


def single_arm_columns(
    studies: pd.DataFrame, *, method: str = "wilson", level: float = 0.95
) -> pd.DataFrame:
    """Display columns for the single-arm rows of a study sheet.

    Returns a DataFrame with the index of ``studies`` and the columns ``proportion``
    (``events_int / n_int``), ``proportion_ci_low``, ``proportion_ci_high`` and
    ``proportion_ci_method`` (e.g. "Wilson score 95%"), filled only for rows with
    ``data_type == "single_arm"`` and both counts present (NaN / "" elsewhere). Counts were
    validated by :func:`evidence.study_effects` before this is called.
    """
    method = check_choice(method, "method", "single_arm_columns", tuple(PROPORTION_CI_METHODS))
    k = len(studies)
    out = pd.DataFrame(
        {
            "proportion": np.full(k, np.nan),
            "proportion_ci_low": np.full(k, np.nan),
            "proportion_ci_high": np.full(k, np.nan),
            "proportion_ci_method": "",
        },
        index=studies.index,
    )
    needed = {"data_type", "events_int", "n_int"}
    if k == 0 or not needed <= set(studies.columns):
        return out
    arm = studies["data_type"].astype("string").str.strip().str.lower() == "single_arm"
    arm = arm.fillna(False).to_numpy(dtype=bool)
    x = pd.to_numeric(studies["events_int"], errors="coerce").to_numpy(dtype=float)
    n = pd.to_numeric(studies["n_int"], errors="coerce").to_numpy(dtype=float)
    use = arm & ~np.isnan(x) & ~np.isnan(n) & (n > 0) & (x >= 0) & (x <= n)
    if use.any():
        p, lo, hi = _intervals(x[use], n[use], method, level)
        out.loc[use, "proportion"] = p
        out.loc[use, "proportion_ci_low"] = lo
        out.loc[use, "proportion_ci_high"] = hi
        out.loc[use, "proportion_ci_method"] = f"{PROPORTION_CI_METHODS[method]} {100 * level:g}%"
    return out


# --------------------------------------------------------------------------- pooling
def _ipft_hm(z: np.ndarray, ni: np.ndarray) -> np.ndarray:
    """metafor ``transf.ipft.hm``: inverse Freeman-Tukey with the harmonic mean of ``ni``."""
    return ipft(z, float(1 / np.nanmean(1 / ni)))


@dataclass(frozen=True, eq=False)
class PooledProportion:
    """Result of :func:`pool_proportions` (full precision).

    Attributes
    ----------
    measure : str
        ``"PLO"`` or ``"PFT"``: the scale the pooling ran on.
    proportion, proportion_ci_low, proportion_ci_high : float
        Pooled proportion and its CI, back-transformed.
    proportion_pi_low, proportion_pi_high : float
        Prediction interval for a new study's proportion (NaN for FE and k = 1).
    pool : PoolResult
        The fit on the transformed scale (``estimate``, ``se``, ``tau2``, ``i2``, ``q``, ...).
    """

    measure: str
    proportion: float
    proportion_ci_low: float
    proportion_ci_high: float
    proportion_pi_low: float
    proportion_pi_high: float
    pool: Any

    _FIELDS = (
        "measure",
        "proportion",
        "proportion_ci_low",
        "proportion_ci_high",
        "proportion_pi_low",
        "proportion_pi_high",
    )

    def to_frame(self) -> pd.DataFrame:
        """One row: ``measure, proportion, proportion_ci_low, proportion_ci_high,
        proportion_pi_low, proportion_pi_high`` followed by the columns of
        ``PoolResult.to_frame()`` (``k, estimate, se, ..., method, ci_method, level``)."""
        head = pd.DataFrame([{f: getattr(self, f) for f in self._FIELDS}])
        return pd.concat([head, self.pool.to_frame()], axis=1)

    def summary(self, digits: int = 4) -> str:
        """Pooled proportion with its intervals, then the fit on the transformed scale."""
        d = digits
        pct = f"{100 * self.pool.level:g}%"
        return (
            f"Pooled proportion ({self.measure} scale, back-transformed): "
            f"{self.proportion:.{d}f} ({pct} CI {self.proportion_ci_low:.{d}f} to "
            f"{self.proportion_ci_high:.{d}f}; prediction interval "
            f"{self.proportion_pi_low:.{d}f} to {self.proportion_pi_high:.{d}f})\n\n"
            + self.pool.summary(digits)
        )

    def _repr_html_(self) -> str:
        return fields_html(self, self._FIELDS, "PooledProportion", cell=str)


def pool_proportions(
    data: pd.DataFrame,
    *,
    xi: str = "events_int",
    ni: str = "n_int",
    measure: str = "PLO",
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
) -> PooledProportion:
    """Pool single-arm proportions on the logit or Freeman-Tukey scale, back-transformed.

    ``yi``/``vi`` come from :func:`evidence.effect_sizes` (PLO: 0.5 added to events and
    non-events of studies with 0 or n events; PFT: no correction), the fit from
    :func:`evidence.pool`, and the estimate, CI and prediction interval are back-transformed
    with the inverse logit (PLO) or metafor's ``transf.ipft.hm`` (PFT; harmonic mean of ``ni``).

    Parameters
    ----------
    data : DataFrame
        One row per study.
    xi, ni : str
        Columns with events and totals (default: the study sheet's ``events_int``, ``n_int``).
    measure : {"PLO", "PFT"}
    method, ci_method, level
        As in :func:`evidence.pool`.

    Returns
    -------
    PooledProportion
        ``to_frame()`` columns: ``measure, proportion, proportion_ci_low,
        proportion_ci_high, proportion_pi_low, proportion_pi_high, k, estimate, se, stat,
        p_value, ci_low, ci_high, tau2, tau2_ci_low, tau2_ci_high, i2, h2, q, q_df, q_p,
        pi_low, pi_high, method, ci_method, level`` (the latter on the transformed scale).

    Raises
    ------
    InvalidParameterError, ValidationError
        Unknown measure, missing columns, impossible counts (from :func:`effect_sizes`).
    """

    func = "pool_proportions"
    measure = check_choice(measure, "measure", func, ("PLO", "PFT"))
    if not isinstance(data, pd.DataFrame):
        raise InvalidParameterError(
            f"The 'data' argument of {func}() must be a pandas DataFrame. "
            f"Got {type(data).__name__}."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)  # corrections are part of pooling
        es = effect_sizes(data, measure, xi=xi, ni=ni)
    res = pool(
        es["yi"].to_numpy(), es["vi"].to_numpy(), method=method, ci_method=ci_method, level=level
    )
    vals = np.array([res.estimate, res.ci_low, res.ci_high, res.pi_low, res.pi_high])
    if measure == "PLO":
        back = ilogit(vals)
    else:
        n = pd.to_numeric(data[ni], errors="coerce").to_numpy(dtype=float)
        back = _ipft_hm(vals, n)
    est, lo, hi, pi_lo, pi_hi = (float(v) for v in back)
    return PooledProportion(measure, est, lo, hi, pi_lo, pi_hi, pool=res)
