"""pool_multilevel() and pool_clustered(vcov="CR2") against R metafor rma.mv / clubSandwich.

Fixtures: tests/reference/multilevel.R -> multilevel_fixtures.json (R call and versions inside).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from reference_loader import load_fixture

import evidence
from evidence.errors import InvalidParameterError, ValidationError

FX = load_fixture("multilevel")
CASES = FX["cases"]
ML_CASES = [f"multilevel_{d}_{m}" for d in ("kon", "assink", "born") for m in ("reml", "ml")]
CR2_CASES = ["cr2_uni_kon_reml", "cr2_uni_assink_reml", "cr2_uni_born_reml", "cr2_uni_kon_dl"]
RTOL = 1e-6


def test_fixture_case_list_is_complete():
    assert sorted(CASES) == sorted(ML_CASES + CR2_CASES)
    assert FX["meta"]["metafor"] == "3.8.1"
    assert "clubSandwich" in FX["meta"]


def _frame(inp):
    return pd.DataFrame(
        {"study": inp["study"], "comparison": inp["comparison"], "yi": inp["yi"], "vi": inp["vi"]}
    )


@pytest.mark.parametrize("name", ML_CASES)
def test_model_based_matches_rma_mv(name):
    case = CASES[name]
    inp, exp = case["input"], case["expected"]
    res = evidence.pool_multilevel(
        _frame(inp), study="study", comparison="comparison", method=inp["method"]
    )
    got = {
        "beta": res.estimate,
        "se": res.se,
        "zval": res.stat,
        "pval": res.p_value,
        "ci_lb": res.ci_low,
        "ci_ub": res.ci_high,
        "QE": res.q,
        "QEp": res.q_p,
        "logLik": res.loglik,
        "pi_lb": res.pi_low,
        "pi_ub": res.pi_high,
        "i2_total": res.i2,
        "k": res.k,
    }
    for key, value in got.items():
        assert value == pytest.approx(exp[key], rel=RTOL, abs=1e-300), key
    np.testing.assert_allclose([res.sigma2_study, res.sigma2_comparison], exp["sigma2"], rtol=RTOL)
    np.testing.assert_allclose(
        [res.sigma2_study_ci_low, res.sigma2_comparison_ci_low], exp["sigma2_ci_lb"], rtol=RTOL
    )
    np.testing.assert_allclose(
        [res.sigma2_study_ci_high, res.sigma2_comparison_ci_high], exp["sigma2_ci_ub"], rtol=RTOL
    )
    np.testing.assert_allclose([res.i2_study, res.i2_comparison], exp["i2_levels"], rtol=RTOL)
    assert [res.n_studies, res.n_comparisons] == exp["s_nlevels"]
    assert math.isnan(res.df) and res.se_model == res.se


@pytest.mark.parametrize("name", ML_CASES)
def test_cr2_matches_robust_clubsandwich(name):
    case = CASES[name]
    inp, exp = case["input"], case["expected"]
    res = evidence.pool_multilevel(
        _frame(inp), study="study", comparison="comparison", method=inp["method"], ci_method="cr2"
    )
    assert res.ci_method == "cr2"
    for value, key in [
        (res.se, "robust_se"),
        (res.stat, "robust_tval"),
        (res.p_value, "robust_pval"),
        (res.df, "robust_dfs"),
        (res.ci_low, "robust_ci_lb"),
        (res.ci_high, "robust_ci_ub"),
        (res.pi_low, "robust_pi_lb"),
        (res.pi_high, "robust_pi_ub"),
        (res.se_model, "se"),
        (res.estimate, "beta"),
    ]:
        assert value == pytest.approx(exp[key], rel=RTOL), key
    assert res.n_studies == exp["robust_n_clusters"]


@pytest.mark.parametrize("name", CR2_CASES)
def test_pool_clustered_cr2_matches_clubsandwich(name):
    inp, exp = CASES[name]["input"], CASES[name]["expected"]
    data = pd.DataFrame({"cl": inp["cluster"], "yi": inp["yi"], "vi": inp["vi"]})
    res = evidence.pool_clustered(data, cluster="cl", method=inp["method"], vcov="CR2")
    assert res.vcov_type == "CR2"
    for value, key in [
        (res.estimate, "beta"),
        (res.se, "se"),
        (res.stat, "tval"),
        (res.p_value, "pval"),
        (res.df, "dfs"),
        (res.ci_low, "ci_lb"),
        (res.ci_high, "ci_ub"),
        (res.pi_low, "pi_lb"),
        (res.pi_high, "pi_ub"),
        (res.tau2, "tau2"),
        (res.se_model, "se_model"),
    ]:
        assert value == pytest.approx(exp[key], rel=RTOL), key
    assert res.n_clusters == exp["n_clusters"]


def test_comparison_defaults_to_one_per_row():
    inp = CASES["multilevel_kon_reml"]["input"]
    data = _frame(inp)
    a = evidence.pool_multilevel(data, study="study", comparison="comparison")
    b = evidence.pool_multilevel(data.drop(columns="comparison"), study="study")
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12)
    assert a.sigma2_comparison == pytest.approx(b.sigma2_comparison, rel=1e-10)


def test_row_order_does_not_matter():
    inp = CASES["multilevel_assink_reml"]["input"]
    data = _frame(inp)
    shuffled = data.sample(frac=1.0, random_state=3)
    a = evidence.pool_multilevel(data, study="study", ci_method="cr2")
    b = evidence.pool_multilevel(shuffled, study="study", ci_method="cr2")
    assert a.to_frame().drop(columns=["method", "ci_method"]).to_numpy(float) == pytest.approx(
        b.to_frame().drop(columns=["method", "ci_method"]).to_numpy(float), rel=1e-9
    )


def test_boundary_study_variance_is_zero():
    # no between-study variance: every study has the same two comparisons' mean
    data = pd.DataFrame(
        {"study": np.repeat(np.arange(6), 2), "yi": np.tile([0.1, 0.5], 6), "vi": 0.01}
    )
    res = evidence.pool_multilevel(data, study="study")
    assert res.sigma2_study == 0.0
    assert res.sigma2_study_ci_low == 0.0
    assert res.estimate == pytest.approx(0.3, rel=1e-12)
    assert res.sigma2_comparison > 0


def test_result_object():
    res = evidence.pool_multilevel(_frame(CASES["multilevel_kon_reml"]["input"]), study="study")
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.estimate = 0.0  # type: ignore[misc]
    frame = res.to_frame()
    assert list(frame.columns) == [
        "k",
        "n_studies",
        "n_comparisons",
        "estimate",
        "se",
        "stat",
        "df",
        "p_value",
        "ci_low",
        "ci_high",
        "sigma2_study",
        "sigma2_study_ci_low",
        "sigma2_study_ci_high",
        "sigma2_comparison",
        "sigma2_comparison_ci_low",
        "sigma2_comparison_ci_high",
        "i2_study",
        "i2_comparison",
        "i2",
        "q",
        "q_df",
        "q_p",
        "pi_low",
        "pi_high",
        "se_model",
        "loglik",
        "method",
        "ci_method",
        "level",
    ]
    assert frame.loc[0, "estimate"] == res.estimate  # full precision
    comp = res.components()
    assert list(comp["level"]) == ["study", "comparison"]
    assert "Three-level model (REML; k = 56 comparisons in 11 studies)" in res.summary()
    assert "<table" in res._repr_html_()


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        (dict(study="nope"), "study"),
        (dict(study="study", method="DL"), "method"),
        (dict(study="study", ci_method="hksj"), "ci_method"),
        (dict(study="study", level=95), "level"),
        (dict(study="study", comparison="nope"), "comparison"),
    ],
)
def test_bad_arguments(kwargs, arg):
    data = _frame(CASES["multilevel_kon_reml"]["input"])
    with pytest.raises(InvalidParameterError, match=f"'{arg}'"):
        evidence.pool_multilevel(data, **kwargs)


def test_bad_data():
    data = _frame(CASES["multilevel_kon_reml"]["input"])
    one = data.assign(study="A")
    with pytest.raises(ValidationError, match="at least 2 studies"):
        evidence.pool_multilevel(one, study="study")
    neg = data.copy()
    neg.loc[3, "vi"] = -1.0
    with pytest.raises(ValidationError, match="row 3"):
        evidence.pool_multilevel(neg, study="study")
    miss = data.copy()
    miss.loc[2, "study"] = None
    with pytest.raises(ValidationError, match="missing"):
        evidence.pool_multilevel(miss, study="study")
    with pytest.raises(InvalidParameterError, match="'vcov'"):
        evidence.pool_clustered(data, cluster="study", vcov="CR9")


def test_missing_yi_dropped_with_warning():
    data = _frame(CASES["multilevel_kon_reml"]["input"])
    data.loc[0, "yi"] = np.nan
    with pytest.warns(evidence.StatisticalWarning, match="1 of 56 rows dropped"):
        res = evidence.pool_multilevel(data, study="study")
    assert res.k == 55


def test_one_comparison_per_study_warns_that_levels_are_not_identified():
    y = [0.1, 0.3, 0.5, 0.2, 0.6]
    data = pd.DataFrame({"study": list("abcde"), "yi": y, "vi": 0.02})
    with pytest.warns(evidence.StatisticalWarning, match="not identified separately"):
        res = evidence.pool_multilevel(data, study="study")
    ref = evidence.pool(y, [0.02] * 5)
    # the sum of the two components is the tau2 of the ordinary model
    assert res.sigma2_study + res.sigma2_comparison == pytest.approx(ref.tau2, rel=1e-8)
    assert res.estimate == pytest.approx(ref.estimate, rel=1e-10)


@pytest.mark.parametrize("name", ML_CASES)
@pytest.mark.parametrize("scale", [1 - 2.2e-16, 1 + 2.2e-16, 0.1, 0.5, 2.0, 10.0])
def test_fit_does_not_depend_on_the_start(monkeypatch, name, scale):
    """The variance components and their profile CIs come out the same (metafor's values) from
    other starting values: a start 1 ulp away once left the profile fit flipping at rounding
    level until the iteration limit."""
    from evidence import multilevel

    maximise = multilevel._maximise

    def from_elsewhere(b, reml, start, fixed=None):
        return maximise(b, reml, start * scale if fixed is None else start, fixed=fixed)

    monkeypatch.setattr(multilevel, "_maximise", from_elsewhere)
    inp, exp = CASES[name]["input"], CASES[name]["expected"]
    res = evidence.pool_multilevel(
        _frame(inp), study="study", comparison="comparison", method=inp["method"]
    )
    np.testing.assert_allclose([res.sigma2_study, res.sigma2_comparison], exp["sigma2"], rtol=RTOL)
    np.testing.assert_allclose(
        [res.sigma2_study_ci_low, res.sigma2_comparison_ci_low], exp["sigma2_ci_lb"], rtol=RTOL
    )
    np.testing.assert_allclose(
        [res.sigma2_study_ci_high, res.sigma2_comparison_ci_high], exp["sigma2_ci_ub"], rtol=RTOL
    )
    assert res.estimate == pytest.approx(exp["beta"], rel=RTOL)
