"""Tail probabilities and quantiles of the normal, t, chi-squared and F distributions.

The same ``scipy.special`` functions that ``scipy.stats`` evaluates, with its handling of
invalid degrees of freedom (NaN) and of the edges of the support, without importing
``scipy.stats`` (over a second on a slow machine, most of it building docstrings); the
``scipy.stats`` equivalent is named in each docstring.
"""

from __future__ import annotations

import numpy as np

__all__ = ["norm_ppf", "norm_isf", "norm_sf", "t_sf", "t_isf", "chi2_sf", "f_sf"]


def _scalar_or_array(values):
    out = np.asarray(values, dtype=float)
    return out[()] if out.ndim == 0 else out


def norm_ppf(q):
    """``scipy.stats.norm.ppf(q)``."""
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import special

    return _scalar_or_array(special.ndtri(q))


def norm_isf(q):
    """``scipy.stats.norm.isf(q)``."""
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import special

    return _scalar_or_array(-special.ndtri(q))


def norm_sf(x):
    """``scipy.stats.norm.sf(x)``."""
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import special

    return _scalar_or_array(special.ndtr(-np.asarray(x, dtype=float)))


def _valid_df(*dfs) -> np.ndarray:
    ok = np.asarray(True)
    for df in dfs:
        ok = ok & (np.asarray(df, dtype=float) > 0)
    return ok


def t_sf(x, df):
    """``scipy.stats.t.sf(x, df)``."""
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import special

    x = np.asarray(x, dtype=float)
    return _scalar_or_array(np.where(_valid_df(df), special.stdtr(df, -x), np.nan))


def t_isf(q, df):
    """``scipy.stats.t.isf(q, df)``."""
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import special

    q = np.asarray(q, dtype=float)
    # the ends of (0, 1) map to the ends of the support, as scipy.stats has it
    with np.errstate(invalid="ignore"):
        value = np.where(q == 0, np.inf, np.where(q == 1, -np.inf, -special.stdtrit(df, q)))
    return _scalar_or_array(np.where(_valid_df(df), value, np.nan))


def chi2_sf(x, df):
    """``scipy.stats.chi2.sf(x, df)`` (1 at and below 0, the edge of the support)."""
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import special

    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore"):
        value = np.where(x <= 0, 1.0, special.chdtrc(df, np.maximum(x, 0)))
    return _scalar_or_array(np.where(_valid_df(df), value, np.nan))


def f_sf(x, dfn, dfd):
    """``scipy.stats.f.sf(x, dfn, dfd)`` (1 at and below 0, the edge of the support)."""
    # scipy is heavy to import (scipy.special ~0.2 s): loaded on first use
    from scipy import special

    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore"):
        value = np.where(x <= 0, 1.0, special.fdtrc(dfn, dfd, np.maximum(x, 0)))
    return _scalar_or_array(np.where(_valid_df(dfn, dfd), value, np.nan))
