"""evidence._distributions gives exactly what scipy.stats gives, edges included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evidence import _distributions as dist

X = np.array(
    [
        -np.inf,
        -40.0,
        -3.2,
        -1.0,
        -1e-300,
        0.0,
        1e-12,
        0.5,
        1.0,
        1.96,
        3.7,
        38.0,
        1e6,
        np.inf,
        np.nan,
    ]
)
Q = np.array([0.0, 1e-300, 1e-12, 0.025, 0.05, 0.3, 0.5, 0.975, 1 - 1e-12, 1.0, -0.1, 1.1, np.nan])
DF = [-1.0, 0.0, 0.5, 1.0, 2.0, 7.0, 29.0, 1e4, np.nan]


def _same(a, b) -> None:
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.ndim(a) == np.ndim(b)


def test_normal():
    _same(dist.norm_ppf(Q), stats.norm.ppf(Q))
    _same(dist.norm_isf(Q), stats.norm.isf(Q))
    _same(dist.norm_sf(X), stats.norm.sf(X))
    assert isinstance(dist.norm_ppf(0.975), float)
    _same(dist.norm_ppf(0.975), stats.norm.ppf(0.975))


@pytest.mark.parametrize("df", DF)
def test_t_chi2_f(df):
    with np.errstate(all="ignore"):
        _same(dist.t_sf(X, df), stats.t.sf(X, df))
        _same(dist.t_isf(Q, df), stats.t.isf(Q, df))
        _same(dist.chi2_sf(X, df), stats.chi2.sf(X, df))
        for dfd in DF:
            _same(dist.f_sf(X, df, dfd), stats.f.sf(X, df, dfd))
    _same(dist.chi2_sf(3.84, df), stats.chi2.sf(3.84, df))


def test_arrays_of_degrees_of_freedom():
    df = np.array([1.0, 3.0, 0.0, 12.0])
    x = np.array([0.4, -2.0, 1.0, 5.5])
    _same(dist.t_sf(x, df), stats.t.sf(x, df))
    _same(dist.chi2_sf(np.abs(x), df), stats.chi2.sf(np.abs(x), df))
