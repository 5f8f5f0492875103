"""Single-arm proportions: proportion_ci() against R binom.test()/prop.test(), the display
columns of study_effects(), and pool_proportions() against metafor 3.8-1 rma() + predict()
(tests/reference/measures.R -> measures_fixtures.json)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from reference_loader import as_array, load_fixture

import evidence
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError

FX = load_fixture("measures")
POOLED = sorted(
    [
        f"{ds}_{m}_{meth}"
        for ds in ("pritz1997", "debruin2009")
        for m in ("PLO", "PFT")
        for meth in ("REML", "DL", "FE")
    ]
    + ["nielweise2007_arm1_PLO_REML", "nielweise2007_arm1_PFT_REML"]
)


@pytest.mark.parametrize("level_key", ["level_0.95", "level_0.9"])
def test_proportion_ci_matches_r(level_key):
    case = FX["ci"][level_key]
    x, n = as_array(case["x"]), as_array(case["n"])
    exact = evidence.proportion_ci(x, n, method="exact", level=case["level"])
    wilson = evidence.proportion_ci(x, n, method="wilson", level=case["level"])
    np.testing.assert_allclose(exact["ci_low"], as_array(case["exact_low"]), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(exact["ci_high"], as_array(case["exact_high"]), rtol=1e-9)
    np.testing.assert_allclose(
        wilson["ci_low"], as_array(case["wilson_low"]), rtol=1e-9, atol=1e-15
    )
    np.testing.assert_allclose(wilson["ci_high"], as_array(case["wilson_high"]), rtol=1e-9)
    np.testing.assert_allclose(exact["proportion"], x / n, rtol=0)
    assert set(exact["ci_method"]) == {"Clopper-Pearson exact"}
    assert set(wilson["ci_method"]) == {"Wilson score"}


def test_zero_of_28_reads_as_zero():
    # issue 18: "0 of 28" is 0 % with a 95% CI of 0 to 12 %, not a 0.5-corrected PR of 0.017
    out = evidence.proportion_ci([0], [28], method="exact")
    assert out["proportion"].iloc[0] == 0.0 and out["ci_low"].iloc[0] == 0.0
    assert out["ci_high"].iloc[0] == pytest.approx(1 - 0.025 ** (1 / 28), rel=1e-12)  # 0.1234


def test_study_effects_display_columns():
    sheet = pd.DataFrame(
        {
            "data_type": ["single_arm", "single_arm", "counts", "single_arm"],
            "measure": ["PR", "PLO", "RR", "PLO"],
            "events_int": [0, 5, 3, np.nan],
            "n_int": [28, 20, 30, 10],
            "events_ctrl": [np.nan, np.nan, 4, np.nan],
            "n_ctrl": [np.nan, np.nan, 30, np.nan],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        out = evidence.study_effects(sheet)
    assert out["yi"].iloc[0] == pytest.approx(0.5 / 29)  # pooling input keeps metafor's 0.5
    assert out["proportion"].iloc[0] == 0.0 and out["proportion_ci_low"].iloc[0] == 0.0
    assert out["proportion_ci_high"].iloc[0] == pytest.approx(0.12064330476584559, rel=1e-9)
    assert out["proportion"].iloc[1] == 0.25
    assert np.isnan(out["proportion"].iloc[2]) and np.isnan(out["proportion"].iloc[3])
    assert list(out["proportion_ci_method"]) == ["Wilson score 95%", "Wilson score 95%", "", ""]


def test_pooled_case_list():
    assert sorted(FX["pooled"]) == POOLED


@pytest.mark.parametrize("name", POOLED)
def test_pool_proportions_matches_metafor(name):
    case = FX["pooled"][name]
    frame = pd.DataFrame({c: as_array(v) for c, v in case["data"].items()})
    res = evidence.pool_proportions(frame, xi="xi", ni="ni", **case["args"])
    exp = case["expected"]
    tol = dict(rel=1e-6, abs=1e-12)
    assert res.pool.estimate == pytest.approx(exp["estimate"], **tol)
    assert res.pool.se == pytest.approx(exp["se"], **tol)
    assert res.pool.tau2 == pytest.approx(exp["tau2"], **tol)
    for f in ("proportion", "proportion_ci_low", "proportion_ci_high"):
        assert getattr(res, f) == pytest.approx(exp[f], **tol), f
    if case["args"]["method"] != "FE":
        assert res.proportion_pi_low == pytest.approx(exp["proportion_pi_low"], **tol)
        assert res.proportion_pi_high == pytest.approx(exp["proportion_pi_high"], **tol)
    frame_out = res.to_frame()
    assert frame_out["proportion"].iloc[0] == res.proportion and "tau2" in frame_out
    assert "Pooled proportion" in res.summary()


def test_bad_input():
    with pytest.raises(ValidationError, match=r"'events' is larger than 'n'.*row\(s\) 1"):
        evidence.proportion_ci([1, 5], [3, 4])
    with pytest.raises(ValidationError, match="'n' must be > 0"):
        evidence.proportion_ci([0], [0])
    with pytest.raises(InvalidParameterError, match="'method' argument of proportion_ci"):
        evidence.proportion_ci([1], [3], method="wald")
    with pytest.raises(InvalidParameterError, match="'level' argument of proportion_ci"):
        evidence.proportion_ci([1], [3], level=95)
    with pytest.raises(InvalidParameterError, match="same length"):
        evidence.proportion_ci([1, 2], [3])
    with pytest.raises(InvalidParameterError, match="'measure' argument of pool_proportions"):
        evidence.pool_proportions(pd.DataFrame({"events_int": [1], "n_int": [3]}), measure="PR")
