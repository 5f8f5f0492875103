"""Tests of evidence.pool against R metafor 3.8-1 (fixtures from tests/reference/pooling.R)."""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from reference_loader import load_fixture
from scipy import stats

import evidence
from evidence import InvalidParameterError, PoolResult, ValidationError, _tau2, pool
from evidence.errors import ConvergenceWarning, StatisticalWarning

FIX = load_fixture("pooling")

METHODS = ["FE", "DL", "REML", "PM", "HE", "SJ", "ML"]
R_TESTS = {"z": "z", "knha": "hksj", "adhoc": "hksj_adhoc"}
DATASETS = [
    "bcg_rr",
    "bcg_or_k2",
    "normand1999_smd",
    "normand1999_md",
    "hackshaw1998_or",
    "raudenbush1985_smd",
    "molloy2014_zcor",
    "pritz1997_plo",
    "li2007_or",
    "yusuf1985_t9_or",
    "linde2005_rr",
    "collins1985b_pre_or",
    "hart1999_irr",
    "konstantopoulos2011_smd",
    "curtis1998_rom",
    "nielweise2007_or_drop00",
    "hine1989_rd",
    "identical_k5",
    "bcg_rr_tiny",
    "bcg_rr_huge",
]

# fixture key -> PoolResult field
FIELD = {
    "estimate": "estimate",
    "se": "se",
    "stat": "stat",
    "pval": "p_value",
    "ci_lb": "ci_low",
    "ci_ub": "ci_high",
    "tau2": "tau2",
    "QE": "q",
    "QEp": "q_p",
    "I2": "i2",
    "H2": "h2",
    "tau2_ci_lb": "tau2_ci_low",
    "tau2_ci_ub": "tau2_ci_high",
    "pi_lb": "pi_low",
    "pi_ub": "pi_high",
}

# Tolerances against metafor: (rtol, atol, atol unit). The non-negotiable is 1e-6 relative.
# An absolute floor is needed only where the true value can be ~0: locations (estimate, CI, PI
# bounds) in units of the dataset's typical standard error sqrt(mean vi); variances (tau2 and
# its CI) in units of mean vi, because metafor's Fisher scoring stops at threshold 1e-12 and can
# leave tau2 ~ 1e-13 where the maximum is on the boundary 0; I^2 in percentage points; p-values
# absolutely (tiny p-values, e.g. 1e-103, are compared relatively down to 1e-12).
TOL = {
    "estimate": (1e-6, 1e-9, "se"),
    "se": (1e-6, 0.0, None),
    "stat": (1e-6, 1e-9, None),
    "pval": (1e-6, 1e-12, None),
    "ci_lb": (1e-6, 1e-9, "se"),
    "ci_ub": (1e-6, 1e-9, "se"),
    "pi_lb": (1e-6, 1e-9, "se"),
    "pi_ub": (1e-6, 1e-9, "se"),
    "tau2": (1e-6, 1e-10, "var"),
    "tau2_ci_lb": (1e-6, 1e-10, "var"),
    "tau2_ci_ub": (1e-6, 1e-10, "var"),
    "QE": (1e-6, 0.0, None),
    "QEp": (1e-6, 1e-12, None),
    "I2": (1e-6, 1e-8, None),
    "H2": (1e-6, 1e-10, None),
}


def num(x) -> float:
    """Fixture number: %.17g floats, or the strings "NA", "NaN", "Inf", "-Inf"."""
    if x is None or x in ("NA", "NaN"):
        return math.nan
    if isinstance(x, str):
        return float(x.replace("Inf", "inf"))
    return float(x)


def dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    ds = FIX["datasets"][name]
    return np.array([num(x) for x in ds["yi"]]), np.array([num(x) for x in ds["vi"]])


def assert_matches_r(case: dict, got: dict, label: str) -> None:
    """Compare one result (field -> value) with one fixture case using TOL."""
    y, v = dataset(case["dataset"])
    mean_v = float(np.nanmean(v))
    for key, field in FIELD.items():
        want, have = num(case[key]), float(got[field])
        if math.isnan(want) or math.isnan(have):
            assert math.isnan(want) and math.isnan(have), f"{label} {key}: R {want}, got {have}"
            continue
        if math.isinf(want):
            assert have == want, f"{label} {key}: R {want}, got {have}"
            continue
        rtol, atol, unit = TOL[key]
        atol = atol * {"se": math.sqrt(mean_v), "var": mean_v, None: 1.0}[unit]
        assert abs(have - want) <= rtol * abs(want) + atol, (
            f"{label} {key}: R {want!r}, got {have!r} (rel {abs(have - want) / abs(want):.2e})"
        )


def test_fixture_provenance():
    assert FIX["generated_by"] == "tests/reference/pooling.R"
    assert FIX["r_version"].startswith("R version 4.2")
    assert FIX["metafor_version"] == "3.8.1"
    assert FIX["metadat_version"]
    assert FIX["control"] == "list(threshold=1e-12, tol=1e-13, maxiter=1e5, stepadj=0.5)"
    for case in FIX["cases"]:
        assert case["call"].startswith(f'rma(yi, vi, method="{case["method"]}"')
        assert case["dataset"] in FIX["datasets"]


def test_fixture_grid_is_complete():
    assert list(FIX["datasets"]) == DATASETS
    real = [d for d in DATASETS if FIX["datasets"][d]["source"].startswith("metadat")]
    assert len(real) >= 10
    got = [(c["dataset"], c["method"], c["test"]) for c in FIX["cases"]]
    assert got == list(itertools.product(DATASETS, METHODS, list(R_TESTS)))


def _run(case: dict) -> PoolResult:
    y, v = dataset(case["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        return pool(y, v, method=case["method"], ci_method=R_TESTS[case["test"]])


def _case_id(case: dict) -> str:
    return f"{case['dataset']}-{case['method']}-{case['test']}"


@pytest.mark.parametrize("case", FIX["cases"], ids=_case_id)
def test_pool_matches_metafor(case):
    res = _run(case)
    assert res.k == case["k"]
    assert res.method == case["method"]
    assert_matches_r(case, dataclasses.asdict(res), _case_id(case))


# ---- literature anchors (printed metafor output, independent of our fixtures) ----------------
def test_bcg_reml_printed_values():
    y, v = dataset("bcg_rr")
    res = pool(y, v)
    assert (round(res.estimate, 4), round(res.se, 4)) == (-0.7145, 0.1798)
    assert round(res.stat, 4) == -3.9744
    assert (round(res.ci_low, 4), round(res.ci_high, 4)) == (-1.0669, -0.3622)
    assert (round(res.tau2, 4), round(res.i2, 2), round(res.h2, 2)) == (0.3132, 92.22, 12.86)
    assert (round(res.tau2_ci_low, 4), round(res.tau2_ci_high, 4)) == (0.1197, 1.1115)
    assert (round(res.pi_low, 2), round(res.pi_high, 2)) == (-1.87, 0.44)
    assert round(res.q, 4) == 152.2330 and res.q_df == 12


def test_normand_smd_reference_values():
    # meta-analysis.md section 2.6, full dat.normand1999 SMD with REML
    y, v = dataset("normand1999_smd")
    res = pool(y, v, method="REML")
    assert (round(res.estimate, 6), round(res.se, 6), round(res.tau2, 6)) == (
        -0.537108,
        0.308661,
        0.790843,
    )
    assert (round(res.i2, 4), round(res.q, 4)) == (95.4949, 123.7293)


# ---- full precision of the iterative solvers ---------------------------------------------------
def _reml_score(y, v, t):
    """REML score by matrix algebra (independent of the vectorised formulas)."""
    w = 1 / (v + t)
    W = np.diag(w)
    X = np.ones((len(y), 1))
    P = W - W @ X @ np.linalg.inv(X.T @ W @ X) @ X.T @ W
    return 0.5 * (y @ P @ P @ y - np.trace(P))


@pytest.mark.parametrize("name", ["bcg_rr", "normand1999_md", "curtis1998_rom", "bcg_rr_tiny"])
def test_reml_solves_score_equation(name):
    y, v = dataset(name)
    keep = ~np.isnan(y)
    y, v = y[keep], v[keep]
    res = pool(y, v, method="REML")
    assert res.tau2 > 0
    h = res.tau2 * 1e-7
    slope = abs(_reml_score(y, v, res.tau2 + h) - _reml_score(y, v, res.tau2 - h)) / (2 * h)
    # |score| / |slope| is the distance to the root: at most a few ulps of tau2
    assert abs(_reml_score(y, v, res.tau2)) / slope <= 1e-12 * res.tau2


@pytest.mark.parametrize("name", ["bcg_rr", "normand1999_smd", "molloy2014_zcor"])
def test_pm_and_qprofile_solve_generalised_q(name):
    y, v = dataset(name)
    res = pool(y, v, method="PM")

    def q(t):
        w = 1 / (v + t)
        mu = np.sum(w * y) / np.sum(w)
        return np.sum(w * (y - mu) ** 2)

    assert q(res.tau2) == pytest.approx(res.k - 1, rel=1e-12)
    df = res.k - 1
    if res.tau2_ci_low > 0:
        assert q(res.tau2_ci_low) == pytest.approx(stats.chi2.isf(0.025, df), rel=1e-12)
    assert q(res.tau2_ci_high) == pytest.approx(stats.chi2.ppf(0.025, df), rel=1e-12)


def test_ml_reml_find_the_likelihood_maximum_random_data():
    """Independent check: a bounded scalar optimiser never beats our (RE)ML likelihood."""
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(11)
    for _ in range(40):
        k = int(rng.integers(2, 25))
        v = rng.uniform(0.001, 2.0, k)
        y = rng.normal(0, np.sqrt(v + rng.choice([0.0, 0.1, 1.0])))
        for method in ("ML", "REML"):

            def negll(t, method=method, y=y, v=v):
                w = 1 / (v + t)
                mu = np.sum(w * y) / np.sum(w)
                ll = -0.5 * np.sum(np.log(v + t)) - 0.5 * np.sum(w * (y - mu) ** 2)
                return -(ll - 0.5 * np.log(np.sum(w)) if method == "REML" else ll)

            with warnings.catch_warnings():  # "local maximum below tau2 = 0" is expected
                warnings.simplefilter("ignore", StatisticalWarning)
                res = pool(y, v, method=method)
            best = minimize_scalar(
                negll,
                bounds=(0, 100 * (np.var(y) + v.max())),
                method="bounded",
                options={"xatol": 1e-12},
            )
            assert negll(res.tau2) <= min(best.fun, negll(0.0)) + 1e-10


def test_dl_closed_form():
    y, v = dataset("bcg_rr")
    w = 1 / v
    mu = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu) ** 2)
    tau2 = max(0.0, (q - 12) / (w.sum() - (w**2).sum() / w.sum()))
    res = pool(y, v, method="DL")
    assert res.tau2 == pytest.approx(tau2, rel=1e-14)
    assert res.q == pytest.approx(q, rel=1e-14)
    assert res.i2 == pytest.approx(100 * (q - 12) / q, rel=1e-12)  # I2 = Q-based for DL


# ---- edge cases --------------------------------------------------------------------------------
def test_k1_gives_study_result_and_nan_heterogeneity():
    with pytest.warns(StatisticalWarning, match="Only one study.*NaN"):
        res = pool([0.4], [0.09])
    assert res.k == 1 and res.estimate == 0.4 and res.se == pytest.approx(0.3)
    assert res.ci_low == pytest.approx(0.4 - 1.959963984540054 * 0.3, rel=1e-14)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(0.4 / 0.3), rel=1e-14)
    for field in ("tau2", "tau2_ci_low", "tau2_ci_high", "i2", "h2", "q", "q_p", "pi_low"):
        assert math.isnan(getattr(res, field)), field
    assert res.q_df == 0 and list(res.weights) == [100.0]


def test_k1_knapp_hartung_is_nan_with_warning():
    with pytest.warns(StatisticalWarning) as record:
        res = pool([0.4], [0.09], ci_method="hksj")
    assert any("needs k >= 2" in str(w.message) for w in record)
    assert math.isnan(res.se) and math.isnan(res.ci_low) and res.estimate == 0.4


def test_k2_uses_t_with_one_df():
    y, v = dataset("bcg_or_k2")
    res = pool(y, v, method="DL", ci_method="hksj")
    assert res.k == 2 and res.q_df == 1
    assert res.ci_high - res.estimate == pytest.approx(stats.t.isf(0.025, 1) * res.se, rel=1e-13)


def test_identical_studies_give_zero_heterogeneity():
    for method in METHODS[1:]:
        res = pool([0.3] * 4, [0.05] * 4, method=method)
        assert res.tau2 == 0 and res.i2 == 0 and res.h2 == 1 and res.q == 0
        assert res.tau2_ci_low == 0 and res.tau2_ci_high == 0
        assert res.estimate == pytest.approx(0.3, rel=1e-15)


def test_nan_rows_dropped_with_count_and_weights_aligned():
    y, v = dataset("bcg_rr")
    y2 = np.insert(y, [2, 5], [np.nan, 0.2])
    v2 = np.insert(v, [2, 5], [0.1, np.nan])
    with pytest.warns(StatisticalWarning, match="2 of 15 rows dropped"):
        res = pool(y2, v2)
    ref = pool(y, v)
    assert res.estimate == ref.estimate and res.tau2 == ref.tau2 and res.k == 13
    assert len(res.weights) == 15 and np.isnan(res.weights[[2, 6]]).all()
    assert np.nansum(res.weights) == pytest.approx(100.0, rel=1e-12)
    np.testing.assert_allclose(res.weights[~np.isnan(res.weights)], ref.weights, rtol=1e-14)


def test_weights_are_metafor_percent_weights():
    y, v = dataset("bcg_rr")
    res = pool(y, v, method="REML")
    w = 1 / (v + res.tau2)
    np.testing.assert_allclose(res.weights, 100 * w / w.sum(), rtol=1e-13)
    with pytest.raises(ValueError):
        res.weights[0] = 1.0


def test_tau2_and_i2_never_negative_random_data():
    rng = np.random.default_rng(1)
    for _ in range(30):
        k = int(rng.integers(2, 12))
        v = rng.uniform(0.01, 0.5, k)
        y = rng.normal(0, np.sqrt(v))  # often no excess heterogeneity
        for method in METHODS:
            res = pool(y, v, method=method)
            assert res.tau2 >= 0 and res.i2 >= 0 and res.h2 >= 0 and 0 <= res.q_p <= 1
            if method != "FE":
                assert 0 <= res.tau2_ci_low <= res.tau2_ci_high


def test_scale_equivariance_tiny_and_huge_variances():
    y, v = dataset("bcg_rr")
    for scale in (1e-6, 1e6):
        base = pool(y, v, method="REML", ci_method="hksj")
        sc = pool(y * scale, v * scale**2, method="REML", ci_method="hksj")
        assert sc.estimate == pytest.approx(base.estimate * scale, rel=1e-10)
        assert sc.tau2 == pytest.approx(base.tau2 * scale**2, rel=1e-10)
        assert sc.tau2_ci_high == pytest.approx(base.tau2_ci_high * scale**2, rel=1e-10)
        assert sc.i2 == pytest.approx(base.i2, rel=1e-10)


def test_reml_non_convergence_falls_back_with_warning(monkeypatch):
    y, v = dataset("bcg_rr")
    monkeypatch.setattr(_tau2, "LIKELIHOOD_MAXITER", 1)
    with pytest.warns(ConvergenceWarning, match="REML.*did not converge.*Paule-Mandel"):
        res = pool(y, v, method="REML")
    monkeypatch.undo()
    assert res.method == "PM"
    assert res.tau2 == pytest.approx(pool(y, v, method="PM").tau2, rel=1e-14)


def test_fe_with_knapp_hartung_warns():
    y, v = dataset("bcg_rr")
    with pytest.warns(StatisticalWarning, match="not meant to be used with a fixed-effect"):
        pool(y, v, method="FE", ci_method="hksj")


def test_ee_alias_and_case_insensitive_names():
    y, v = dataset("bcg_rr")
    assert pool(y, v, method="EE").method == "FE"
    assert pool(y, v, method="CE").method == "FE"  # metafor's common-effect spelling
    assert pool(y, v, method="reml", ci_method="knha").ci_method == "hksj"


# ---- argument errors ---------------------------------------------------------------------------
def test_bad_method_message_names_argument():
    with pytest.raises(InvalidParameterError) as exc:
        pool([0.1, 0.2], [0.1, 0.1], method="RMEL")
    assert str(exc.value) == (
        "The 'method' argument of pool() must be one of "
        "['FE', 'DL', 'REML', 'PM', 'HE', 'SJ', 'ML', 'EE', 'CE']. Got 'RMEL'."
    )


@pytest.mark.parametrize(
    ("kwargs", "pattern", "error"),
    [
        (
            {"ci_method": "t"},
            r"The 'ci_method' argument of pool\(\) must be one of .*Got 't'",
            InvalidParameterError,
        ),
        ({"level": 95}, r"The 'level' argument of pool\(\).*use 0.95", InvalidParameterError),
        ({"level": "0.95"}, r"The 'level' argument of pool\(\)", InvalidParameterError),
        (
            {"vi": [0.1, 0.2]},
            r"'yi' and 'vi' arguments of pool\(\) must have the same length",
            InvalidParameterError,
        ),
        (
            {"yi": ["a", 1, 2]},
            r"'yi' argument of pool\(\) must contain only numbers",
            InvalidParameterError,
        ),
        (
            {"yi": ["0.1", "0.2", "0.3"]},
            r"'yi' argument of pool\(\) must contain numbers "
            r"only; row 0 has text \('0.1'\)",
            InvalidParameterError,
        ),
        (
            {"yi": [True, False, True]},
            r"'yi' argument of pool\(\) must contain numbers.*boolean",
            InvalidParameterError,
        ),
        (
            {"vi": np.array([0.1, 0.2, 0.1], dtype=object) == 0.1},
            r"'vi'.*boolean",
            InvalidParameterError,
        ),
        ({"yi": [0.1, True, 0.3]}, r"row 1 has a boolean", InvalidParameterError),
        (
            {"yi": 0.3},
            r"'yi' argument of pool\(\) must be a one-dimensional",
            InvalidParameterError,
        ),
        # the call is fine but the numbers cannot be analysed: ValidationError
        (
            {"vi": [0.1, -0.2, 0.1]},
            r"'vi' argument of pool\(\).*row 1 has a negative",
            ValidationError,
        ),
        ({"vi": [0.1, 0.0, 0.1]}, r"'vi' argument of pool\(\).*row 1 has a zero", ValidationError),
        ({"yi": [np.inf, 1, 2]}, r"'yi' argument of pool\(\) contains infinite", ValidationError),
        ({"yi": [np.nan] * 3}, r"at least one study", ValidationError),
    ],
)
def test_argument_errors(kwargs, pattern, error):
    args = {"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2, 0.1]} | kwargs
    yi, vi = args.pop("yi"), args.pop("vi")
    with pytest.raises(error, match=pattern):
        pool(yi, vi, **args)


def test_vi_zero_rejected_for_fe_too():
    with pytest.raises(ValidationError, match="'vi'"):
        pool([0.1, 0.2], [0.0, 0.1], method="FE")


# ---- numeric edge cases (issue 16 item 11) ----------------------------------------------------
@pytest.mark.parametrize(
    ("yi", "vi", "pattern"),
    [
        ([1e200, -1e200, 1e200], [1.0, 1.0, 1.0], r"differ by about 2e\+200 standard errors"),
        ([0.1, 0.2, 0.4], [1e-300, 1e-300, 2e-300], r"differ by about .* standard errors"),
        ([0.1, 0.2, 0.3], [5e-320, 5e-320, 6e-320], r"differ by about"),  # subnormal variances
        ([0.1, 0.2, 0.3], [1e-300, 1.0, 1.0], r"range from 1e-300 to 1, a ratio beyond"),
    ],
)
def test_values_whose_squares_overflow_are_refused_with_the_reason(yi, vi, pattern):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw numpy RuntimeWarning either
        with pytest.raises(ValidationError, match=pattern):
            pool(yi, vi)
        with pytest.raises(ValidationError, match=pattern):
            pool_groups_frame = pd.DataFrame({"g": 1, "yi": yi, "vi": vi})
            evidence.pool_groups(pool_groups_frame, "g")


@pytest.mark.parametrize("scale", [1e-140, 1e140])
@pytest.mark.parametrize("ci_method", ["z", "hksj"])
def test_extreme_scales_are_pooled_on_a_safe_scale(scale, ci_method):
    y, v = dataset("bcg_rr")
    ref = pool(y, v, ci_method=ci_method)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = pool(y * scale, v * scale**2, ci_method=ci_method)
    for name in ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high"):
        assert getattr(res, name) == pytest.approx(getattr(ref, name) * scale, rel=1e-12)
    for name in ("tau2", "tau2_ci_low", "tau2_ci_high"):
        assert getattr(res, name) == pytest.approx(getattr(ref, name) * scale**2, rel=1e-12)
    for name in ("stat", "p_value", "q", "q_p", "i2", "h2"):
        assert getattr(res, name) == pytest.approx(getattr(ref, name), rel=1e-12)


def test_large_offset_is_pooled_with_shifted_estimate():
    y, v = dataset("bcg_rr")
    off = 2.0**320  # |yi| beyond the direct range 2**200: pooled after a shift and a scale
    res = pool(y * 2.0**300 + off, v * 2.0**600)
    ref = pool(y, v)
    assert (res.estimate - off) / 2.0**300 == pytest.approx(ref.estimate, rel=1e-6)
    assert res.tau2 / 2.0**600 == pytest.approx(ref.tau2, rel=1e-9)
    assert res.i2 == pytest.approx(ref.i2, rel=1e-9)
    assert res.stat == pytest.approx(res.estimate / res.se, rel=1e-15)


# ---- result object -----------------------------------------------------------------------------
def test_sequence_types_and_large_k():
    y, v = dataset("bcg_rr")
    ref = pool(y, v)
    assert pool(list(y), tuple(v)).estimate == ref.estimate
    assert pool(pd.Series(y, index=range(100, 113)), pd.Series(v)).tau2 == ref.tau2
    rng = np.random.default_rng(5)
    vv = rng.uniform(0.01, 0.2, 20_000)
    big = pool(rng.normal(0.3, np.sqrt(vv + 0.04)), vv, method="REML", ci_method="hksj")
    assert big.k == 20_000 and big.tau2 == pytest.approx(0.04, rel=0.1)


def test_summary_for_fe_and_k1():
    y, v = dataset("bcg_rr")
    fe = pool(y, v, method="FE").summary()
    assert "Fixed-Effects Model (k = 13)" in fe and "I^2 (total heterogeneity" in fe
    assert "prediction interval" not in fe
    with pytest.warns(StatisticalWarning):
        one = pool([0.2], [0.04])
    assert "not estimable with k = 1" in one.summary()
    assert repr(one).startswith("PoolResult(k=1, method='REML'") and "\n" not in repr(one)


def test_result_object_presentation():
    y, v = dataset("bcg_rr")
    res = pool(y, v, ci_method="hksj")
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.estimate = 0.0  # type: ignore[misc]
    frame = res.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 1
    assert list(frame.columns) == list(evidence.pooling.SCALAR_FIELDS)
    assert frame.loc[0, "estimate"] == res.estimate  # full precision, no rounding
    text = res.summary()
    assert "(k = 13; tau^2 estimator: REML)" in text and "-0.7145" in text and "tval" in text
    assert "Q(df = 12) = 152.2330" in text and "< 0.0001" in text
    assert "\n" not in repr(res) and repr(res).startswith("PoolResult(k=13")
    assert "<table>" in res._repr_html_()
