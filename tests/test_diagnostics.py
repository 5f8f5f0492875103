"""cumulative(), influence() and baujat_data() against metafor 3.8-1 cumul(), influence()
and baujat() (tests/reference/diagnostics.R -> diagnostics_fixtures.json)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from reference_loader import as_array, load_fixture

import evidence
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError

FX = load_fixture("diagnostics")
CI = {"z": "z", "knha": "hksj", "adhoc": "hksj_adhoc"}
# iterative fits (REML/ML/PM) agree to ~2e-9 at most (molloy2014 REML); rtol 1e-6 is the floor
RTOL = 1e-6
CUMUL = sorted(
    [
        "bcg_REML_year",
        "bcg_DL_knha_year",
        "bcg_EE_input",
        "molloy2014_REML_year",
        "normand1999_PM_input",
        "hackshaw1998_DL_year",
        "li2007_REML_year",
        "bcg_REML_vi",
    ]
)
INFL = sorted(
    [
        "bcg_REML",
        "bcg_DL_knha",
        "bcg_EE",
        "molloy2014_REML",
        "normand1999_REML",
        "hackshaw1998_ML",
        "li2007_PM_adhoc",
    ]
)


def _opts(case):
    a = case["args"]
    return {"method": "FE" if a["method"] == "EE" else a["method"], "ci_method": CI[a["test"]]}


def test_case_lists():
    assert sorted(FX["cumul"]) == CUMUL
    assert sorted(FX["influence"]) == INFL
    assert FX["meta"]["control"]["threshold"] == 1e-12


@pytest.mark.parametrize("name", CUMUL)
def test_cumulative_matches_metafor(name):
    case = FX["cumul"][name]
    frame = pd.DataFrame({k: as_array(v) for k, v in case["input"].items()})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the k = 1 row must not warn
        out = evidence.cumulative(frame, order=case["args"]["order"], **_opts(case))
    np.testing.assert_array_equal(out["row"].to_numpy() + 1, case["row_order"])
    exp = case["expected"]
    for col, key in (
        ("estimate", "estimate"),
        ("se", "se"),
        ("p_value", "pval"),
        ("ci_low", "ci_low"),
        ("ci_high", "ci_high"),
        ("q", "q"),
        ("q_p", "q_p"),
        ("tau2", "tau2"),
        ("i2", "i2"),
        ("h2", "h2"),
    ):
        want = as_array(exp[key])[1:]  # row 1 (k = 1): heterogeneity is NaN in evigap
        np.testing.assert_allclose(
            out[col].to_numpy()[1:], want, rtol=RTOL, atol=1e-12, err_msg=col
        )
    assert out["estimate"].iloc[0] == pytest.approx(as_array(exp["estimate"])[0], rel=1e-12)
    assert math.isnan(out["tau2"].iloc[0]) and list(out["k"]) == list(range(1, len(out) + 1))


def test_cumulative_decreasing_and_input_order():
    case = FX["cumul"]["bcg_REML_year"]
    frame = pd.DataFrame({k: as_array(v) for k, v in case["input"].items()})
    down = evidence.cumulative(frame, decreasing=True)
    years = down["order_key"].to_numpy()
    assert (np.diff(years) <= 0).all()
    # the last row pools every study whatever the order
    assert down["estimate"].iloc[-1] == pytest.approx(
        evidence.cumulative(frame, order=None)["estimate"].iloc[-1], rel=1e-12
    )


@pytest.mark.parametrize("name", INFL)
def test_influence_and_baujat_match_metafor(name):
    case = FX["influence"][name]
    y, v = as_array(case["input"]["yi"]), as_array(case["input"]["vi"])
    out = evidence.influence(y, v, **_opts(case))
    exp = case["expected"]
    for col, key in (
        ("rstudent", "rstudent"),
        ("dffits", "dffits"),
        ("cook_d", "cook_d"),
        ("cov_r", "cov_r"),
        ("tau2_del", "tau2_del"),
        ("q_del", "qe_del"),
        ("hat", "hat"),
        ("weight", "weight"),
        ("dfbs", "dfbs"),
    ):
        np.testing.assert_allclose(out[col], as_array(exp[key]), rtol=RTOL, atol=1e-12, err_msg=col)
    np.testing.assert_array_equal(out["inf"], np.array(exp["inf"]))
    bj = evidence.baujat_data(y, v, **_opts(case))
    np.testing.assert_allclose(bj["x"], as_array(exp["baujat_x"]), rtol=RTOL)
    np.testing.assert_allclose(bj["y"], as_array(exp["baujat_y"]), rtol=RTOL)


def test_influence_flags_an_outlier():
    # metafor's help page (dat.bcg, REML): no study is flagged influential
    case = FX["influence"]["bcg_REML"]
    y, v = as_array(case["input"]["yi"]), as_array(case["input"]["vi"])
    assert not evidence.influence(y, v)["inf"].any()
    y2 = y.copy()
    y2[0] = 5.0  # an implausible log risk ratio dominates
    flagged = evidence.influence(y2, v)
    assert flagged["inf"].iloc[0] and flagged["rstudent"].iloc[0] > 3


def test_bad_input():
    frame = pd.DataFrame({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.1, 0.1]})
    with pytest.raises(InvalidParameterError, match="'order' argument of cumulative.*order=None"):
        evidence.cumulative(frame)
    with pytest.raises(InvalidParameterError, match="'order' argument of cumulative"):
        evidence.cumulative(frame, order=[1, 2])
    with pytest.raises(InvalidParameterError, match="'yi' argument of cumulative"):
        evidence.cumulative(frame, yi="effect", order=None)
    with pytest.raises(ValidationError, match="at least 3 studies"):
        evidence.influence([0.1, 0.2], [0.1, 0.1])
    with pytest.raises(ValidationError, match="'vi' argument of influence"):
        evidence.influence([0.1, 0.2, 0.3], [0.1, 0.0, 0.1])
    with pytest.raises(InvalidParameterError, match="'labels' argument of baujat_data"):
        evidence.baujat_data([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], labels=["a"])
    with pytest.warns(StatisticalWarning, match="1 of 4 studies dropped"):
        evidence.influence([0.1, 0.2, 0.3, np.nan], [0.1, 0.2, 0.1, 0.1])
