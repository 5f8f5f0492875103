"""ranktest() and fail_safe_n() against metafor 3.8-1 ranktest() / fsn()
(tests/reference/diagnostics.R -> diagnostics_fixtures.json)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference_loader import as_array, load_fixture

import evidence
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError

FX = load_fixture("diagnostics")
RANK = ["bcg", "bcg_normal", "hackshaw1998", "li2007", "molloy2014", "normand1999"]
FSN = sorted(
    [
        f"{ds}_{t}"
        for ds in ("bcg", "molloy2014", "normand1999", "hackshaw1998", "li2007")
        for t in ("Rosenthal", "Orwin", "Orwin_weighted", "Rosenberg")
    ]
    + ["bcg_Orwin_target", "bcg_Rosenthal_alpha01", "molloy2014_Rosenberg_alpha10"]
)


def _input(case):
    return as_array(case["input"]["yi"]), as_array(case["input"]["vi"])


def test_case_lists():
    assert sorted(FX["ranktest"]) == RANK
    assert sorted(FX["fsn"]) == FSN


@pytest.mark.parametrize("name", RANK)
def test_ranktest_matches_metafor(name):
    case = FX["ranktest"][name]
    res = evidence.ranktest(*_input(case), **case.get("args", {}))
    assert res.tau == pytest.approx(case["expected"]["tau"], rel=1e-10, abs=1e-15)
    assert res.p_value == pytest.approx(case["expected"]["pval"], rel=1e-10)
    # molloy2014 has tied variances: R falls back to the normal approximation, as here
    assert res.method == ("normal" if name in ("molloy2014", "bcg_normal") else "exact")
    assert res.to_frame().columns.tolist() == ["k", "tau", "p_value", "method"]


@pytest.mark.parametrize("name", FSN)
def test_fail_safe_n_matches_metafor(name):
    case = FX["fsn"][name]
    res = evidence.fail_safe_n(*_input(case), **case["args"])
    exp = case["expected"]
    assert res.fail_safe_n == exp["fsnum"]
    for field, key in (("p_value", "pval"), ("mean_effect", "meanes"), ("target", "target")):
        if exp[key] is None:
            assert math.isnan(getattr(res, field))
        else:
            assert getattr(res, field) == pytest.approx(exp[key], rel=1e-10)
    assert "Fail-safe N" in res.summary()


def test_documented_values():
    # metafor help pages: dat.bcg ranktest tau = 0.0256, p = 0.9524; fsn Rosenthal 598
    case = FX["ranktest"]["bcg"]
    res = evidence.ranktest(*_input(case))
    assert round(res.tau, 4) == 0.0256 and round(res.p_value, 4) == 0.9524
    assert evidence.fail_safe_n(*_input(case)).fail_safe_n == 598


def test_bad_input():
    y, v = np.array([0.1, 0.2, 0.3]), np.array([0.01, 0.02, 0.03])
    with pytest.raises(InvalidParameterError, match="'type' argument of fail_safe_n"):
        evidence.fail_safe_n(y, v, type="REM")
    with pytest.raises(InvalidParameterError, match="'alpha' argument of fail_safe_n"):
        evidence.fail_safe_n(y, v, alpha=5)
    with pytest.raises(InvalidParameterError, match="'target' argument .* type='Orwin'"):
        evidence.fail_safe_n(y, v, target=0.1)
    with pytest.raises(InvalidParameterError, match=r"fail_safe_n\(\) needs the 'vi' argument"):
        evidence.fail_safe_n(y, type="Rosenberg")
    with pytest.raises(ValidationError, match="at least 3 studies"):
        evidence.ranktest(y[:2], v[:2])
    with pytest.raises(ValidationError, match="'vi' argument of ranktest"):
        evidence.ranktest(y, -v)
    with pytest.raises(InvalidParameterError, match="same length"):
        evidence.ranktest(y, v[:2])
    with pytest.warns(StatisticalWarning, match="1 of 4 rows dropped"):
        evidence.ranktest(np.append(y, np.nan), np.append(v, 0.1))
    # Orwin without weights needs no variances
    assert evidence.fail_safe_n(y, type="Orwin").fail_safe_n == 3
