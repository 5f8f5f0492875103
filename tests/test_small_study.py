"""evidence.small_study against metafor regtest(model="lm", predictor=...) fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference_loader import as_array, load_fixture

from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError
from evidence.small_study import (
    harbord_test,
    peters_test,
    regression_test,
    sample_size_test,
    small_study_test,
)

FX = load_fixture("small_study")["cases"]
CASES = sorted(FX)


def test_fixture_grid_is_complete():
    assert len(CASES) == 14
    assert {FX[c]["predictor"] for c in CASES} == {"sei", "ninv", "sqrtninv"}


@pytest.mark.parametrize("name", CASES)
def test_regression_matches_metafor(name):
    c = FX[name]
    ni = None if c["ni"] is None else as_array(c["ni"])
    res = regression_test(as_array(c["yi"]), as_array(c["vi"]), predictor=c["predictor"], ni=ni)
    assert res.estimable
    for ours, theirs in (
        (res.stat, "zval"),
        (res.p_value, "pval"),
        (res.df, "dfs"),
        (res.limit_estimate, "est"),
        (res.limit_ci_low, "ci_lb"),
        (res.limit_ci_high, "ci_ub"),
        (res.slope, "slope"),
        (res.slope_se, "slope_se"),
    ):
        assert ours == pytest.approx(c[theirs], rel=1e-6, abs=1e-12), theirs


def test_named_tests_match_metafor():
    c = FX["bcg_or_ninv"]
    r = peters_test(as_array(c["yi"]), as_array(c["vi"]), as_array(c["ni"]))
    assert r.test == "Peters" and r.p_value == pytest.approx(c["pval"], rel=1e-6)
    c = FX["bangertdrowns_smd_sqrtninv"]
    r = sample_size_test(as_array(c["yi"]), as_array(c["vi"]), as_array(c["ni"]))
    assert r.p_value == pytest.approx(c["pval"], rel=1e-6)
    assert r.p_value == pytest.approx(0.016691963453390156, rel=1e-6)


def test_harbord_from_counts_matches_metafor():
    # dat.bcg (metadat): tpos, tneg, cpos, cneg
    tpos = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
    tneg = [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]
    cpos = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
    cneg = [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]
    r = harbord_test(tpos, tneg, cpos, cneg)
    c = FX["bcg_harbord"]
    assert r.test == "Harbord"
    assert r.p_value == pytest.approx(c["pval"], rel=1e-6)
    assert r.stat == pytest.approx(c["zval"], rel=1e-6)
    same = small_study_test("OR", [0.0] * 13, [1.0] * 13, counts=(tpos, tneg, cpos, cneg))
    assert same.p_value == pytest.approx(c["pval"], rel=1e-6)


def test_equal_standard_errors_are_not_estimable_not_an_error():
    r = regression_test([0.1, 0.3, -0.2, 0.5], [0.04] * 4)
    assert not r.estimable and math.isnan(r.p_value)
    assert "same standard error" in r.note
    r = peters_test([0.1, 0.3, -0.2, 0.5], [0.04, 0.05, 0.06, 0.07], [40] * 4)
    assert not r.estimable and "same sample size" in r.note


def test_too_few_studies_not_estimable():
    r = regression_test([0.1, 0.2], [0.1, 0.2])
    assert not r.estimable and r.k == 2 and "at least 3" in r.note
    assert "not estimable" in r.summary()


def test_measure_choice():
    y, v, n = [0.1, 0.4, 0.2, 0.5, 0.3], [0.1, 0.2, 0.05, 0.3, 0.15], [40, 20, 80, 15, 30]
    assert small_study_test("RR", y, v, ni=n).test == "Peters"
    assert small_study_test("RR", y, v).test.startswith("Egger")
    assert small_study_test("SMD", y, v, ni=n).predictor == "sqrtninv"
    smd = small_study_test("SMD", y, v)
    assert not smd.estimable and "biased for SMDs" in smd.note
    assert small_study_test("MD", y, v).test == "Egger"


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValidationError, match="'vi'.*positive"):
        regression_test([1, 2, 3], [0.1, 0, 0.2])
    with pytest.raises(ValidationError, match="'yi'.*finite"):
        regression_test([1, np.inf, 3], [0.1, 0.1, 0.2])
    with pytest.warns(StatisticalWarning, match="1 of 4 studies dropped"):
        res = regression_test([1, np.nan, 3, 2], [0.1, 0.1, 0.2, 0.3])
    assert res.k == 3
    with pytest.raises(InvalidParameterError, match="'ni'.*needed"):
        regression_test([1, 2, 3], [0.1, 0.1, 0.2], predictor="ninv")
    with pytest.raises(InvalidParameterError, match="predictor"):
        regression_test([1, 2, 3], [0.1, 0.1, 0.2], predictor="bogus")
    with pytest.raises(InvalidParameterError, match="numbers only"):
        regression_test([True, False, True], [0.1, 0.1, 0.2])
