"""evidence.bias against R metafor 3.8-1 (fixtures written by tests/reference/bias.R)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evidence
from evidence.bias import egger_test, funnel_data, leave_one_out, trim_and_fill
from evidence.errors import InvalidParameterError, ValidationError
from evidence.pooling import pool

FIXTURES = json.loads(
    (Path(__file__).parent / "reference" / "bias_fixtures.json").read_text(encoding="utf-8")
)
CASES = FIXTURES["cases"]
RTOL = 1e-6

REGTEST_CASES = [
    "regtest_bcg_rma",
    "regtest_bcg_lm",
    "regtest_bcg_knha",
    "regtest_egger2001_rma",
    "regtest_egger2001_lm",
    "regtest_hackshaw_dl",
    "regtest_hackshaw_lm",
    "regtest_normand_ml",
]
TRIMFILL_CASES = [
    "trimfill_bcg_reml_L0",
    "trimfill_bcg_reml_R0",
    "trimfill_bcg_ee_L0",
    "trimfill_bcg_ee_R0",
    "trimfill_bcg_reml_L0_left",
    "trimfill_bcg_reml_L0_right",
    "trimfill_bcg_reml_R0_right",
    "trimfill_hackshaw_reml_L0",
    "trimfill_hackshaw_reml_R0",
    "trimfill_hackshaw_dl_L0_left",
    "trimfill_normand_reml_L0",
    "trimfill_molloy_reml_L0",
]
LEAVE1OUT_CASES = [
    "leave1out_bcg_reml",
    "leave1out_bcg_dl_knha",
    "leave1out_hackshaw_reml",
    "leave1out_normand_reml",
    "leave1out_molloy_ee",
]
# cases checked in tests/test_moderators.py
MODERATOR_PREFIXES = ("subgroup_", "metareg_", "robust_")


def close(actual, expected, rtol=RTOL, atol=0.0):
    """assert_allclose with JSON null read as NaN."""
    exp = np.array(expected, dtype=float)
    np.testing.assert_allclose(np.asarray(actual, dtype=float), exp, rtol=rtol, atol=atol)


def first(x):
    return x[0] if isinstance(x, list) else x


# --------------------------------------------------------------------------- fixture file
def test_fixture_provenance():
    meta = FIXTURES["meta"]
    assert meta["metafor"] == "3.8.1"
    assert meta["R_version"].startswith("R version 4.2")
    assert "threshold=1e-12" in meta["control"]
    assert all(c["call"] for c in CASES.values())


def test_fixture_case_list_complete():
    ours = set(REGTEST_CASES) | set(TRIMFILL_CASES) | set(LEAVE1OUT_CASES)
    bias_cases = {n for n in CASES if not n.startswith(MODERATOR_PREFIXES)}
    assert bias_cases == ours
    assert len(CASES) == 44


# --------------------------------------------------------------------------- Egger
@pytest.mark.parametrize("name", REGTEST_CASES)
def test_egger_matches_regtest(name):
    inp, exp = CASES[name]["input"], CASES[name]["expected"]
    res = egger_test(
        inp["yi"], inp["vi"], model=inp["model"], method=inp["method"], ci_method=inp["test"]
    )
    close(res.stat, exp["zval"])
    close(res.p_value, exp["pval"])
    close(res.limit_estimate, exp["est"])
    close([res.limit_ci_low, res.limit_ci_high], [exp["ci_lb"], exp["ci_ub"]])
    close(res.slope, exp["fit"]["beta"][1])
    close(res.slope_se, exp["fit"]["se"][1])
    if exp["dfs"] is None:
        assert math.isnan(res.df) and res.stat_name == "z"
    else:
        assert res.df == exp["dfs"] and res.stat_name == "t"
    if inp["model"] == "rma":
        close(res.tau2, exp["fit"]["tau2"], atol=1e-10)  # tau2 can be 0 (boundary)
    assert (res.warning is not None) == (len(inp["yi"]) < 10)


def test_egger_textbook_values():
    # Egger et al. (2001) magnesium trials without ISIS-4, printed in ?regtest
    inp = CASES["regtest_egger2001_lm"]["input"]
    res = egger_test(inp["yi"], inp["vi"], model="lm")
    assert round(res.stat, 4) == -3.1783 and round(res.p_value, 4) == 0.0073
    assert round(res.limit_estimate, 4) == -0.1512


def test_egger_small_k_warns_but_returns():
    inp = CASES["regtest_normand_ml"]["input"]
    res = egger_test(inp["yi"], inp["vi"], method="ML")
    assert res.k == 9
    assert "at least 10" in res.warning
    assert "warning" in res.summary()
    frame = res.to_frame()
    assert frame.loc[0, "k"] == 9 and frame.loc[0, "p_value"] == res.p_value


def test_egger_too_few_studies_is_a_clear_error():
    with pytest.raises(ValidationError, match="at least 3 studies.*k = 2"):
        egger_test([0.1, 0.3], [0.01, 0.02])


def test_egger_bad_model_argument():
    with pytest.raises(InvalidParameterError, match="'model' argument of egger_test"):
        egger_test([0.1, 0.3, 0.2], [0.01, 0.02, 0.03], model="ols")


def test_egger_drops_missing_rows_with_warning():
    inp = CASES["regtest_bcg_rma"]["input"]
    y = [*inp["yi"], float("nan")]
    v = [*inp["vi"], 0.1]
    with pytest.warns(UserWarning, match="1 row"):
        res = egger_test(y, v)
    assert res.k == 13
    close(res.stat, CASES["regtest_bcg_rma"]["expected"]["zval"])


# --------------------------------------------------------------------------- trim and fill
@pytest.mark.parametrize("name", TRIMFILL_CASES)
def test_trim_and_fill_matches_trimfill(name):
    # trimfill's loop stops on an exact integer k0, so k0 and the filled data are exact; the
    # pooled values inherit only the REML precision of pool() (agreement ~1e-10).
    inp, exp = CASES[name]["input"], CASES[name]["expected"]
    res = trim_and_fill(
        inp["yi"], inp["vi"], estimator=inp["estimator"], side=inp["side"], method=inp["method"]
    )
    assert res.k0 == exp["k0"]
    assert res.side == exp["side"]
    close(res.k0_se, exp["se_k0"])
    if exp["p_k0"] is None:
        assert math.isnan(res.p_k0)
    else:
        close(res.p_k0, exp["p_k0"])
    close(res.data["yi"], exp["yi_filled"])
    close(res.data["vi"], exp["vi_filled"])
    assert res.data["filled"].tolist() == exp["fill"]
    assert res.k == exp["k"]
    close(res.estimate, first(exp["beta"]))
    close(res.se, first(exp["se"]))
    close(res.stat, first(exp["zval"]))
    close(res.p_value, first(exp["pval"]))
    close([res.ci_low, res.ci_high], [first(exp["ci_lb"]), first(exp["ci_ub"])])
    close(res.tau2, exp["tau2"], atol=1e-10)  # 0 for EE fits
    close([res.q, res.q_p, res.i2, res.h2], [exp["QE"], exp["QEp"], exp["I2"], exp["H2"]])


def test_trim_and_fill_documented_bcg_values():
    # ?trimfill: REML fit of dat.bcg, "Estimated number of missing studies on the right
    # side: 1 (SE = 2.4528)", estimate -0.6571, CI [-1.0070, -0.3072]
    inp = CASES["trimfill_bcg_reml_L0"]["input"]
    res = trim_and_fill(inp["yi"], inp["vi"])
    assert (res.k0, res.side, round(res.k0_se, 4)) == (1, "right", 2.4528)
    assert (round(res.estimate, 4), round(res.ci_low, 4)) == (-0.6571, -1.0070)
    assert "1 missing on the right" in res.summary()


def test_trim_and_fill_no_missing_returns_observed_fit():
    inp = CASES["trimfill_normand_reml_L0"]["input"]
    res = trim_and_fill(inp["yi"], inp["vi"])
    assert res.k0 == 0 and not res.data["filled"].any()
    assert res.estimate == pool(inp["yi"], inp["vi"]).estimate


def test_trim_and_fill_arguments():
    with pytest.raises(InvalidParameterError, match="'estimator' argument of trim_and_fill"):
        trim_and_fill([0.1, 0.2, 0.3], [0.1, 0.1, 0.2], estimator="L1")
    with pytest.raises(InvalidParameterError, match="'side' argument"):
        trim_and_fill([0.1, 0.2, 0.3], [0.1, 0.1, 0.2], side="up")
    with pytest.raises(ValidationError, match="at least 2 studies"):
        trim_and_fill([0.1], [0.1])
    with pytest.raises(ValidationError, match="must be positive"):
        trim_and_fill([0.1, 0.2, 0.3], [0.1, 0.0, 0.2])


# --------------------------------------------------------------------------- leave one out
L1O_COLUMNS = [
    ("estimate", "estimate"),
    ("se", "se"),
    ("stat", "zval"),
    ("p_value", "pval"),
    ("ci_low", "ci_lb"),
    ("ci_high", "ci_ub"),
    ("q", "Q"),
    ("q_p", "Qp"),
    ("i2", "I2"),
    ("h2", "H2"),
]


@pytest.mark.parametrize("name", LEAVE1OUT_CASES)
def test_leave_one_out_matches_leave1out(name):
    inp, exp = CASES[name]["input"], CASES[name]["expected"]
    res = leave_one_out(inp["yi"], inp["vi"], method=inp["method"], ci_method=inp["test"])
    k = len(inp["yi"])
    assert len(res) == k and res["omitted"].tolist() == list(range(k))
    assert (res["k"] == k - 1).all() and (res["q_df"] == k - 2).all()
    for col, key in L1O_COLUMNS:
        close(res[col], exp[key])
    close(res["tau2"], exp["tau2"], atol=1e-10)  # exactly 0 for the EE case


def test_leave_one_out_documented_row():
    # ?leave1out, dat.bcg REML: omitting study 1 gives -0.7071 (se 0.1900), tau2 0.3362
    inp = CASES["leave1out_bcg_reml"]["input"]
    res = leave_one_out(inp["yi"], inp["vi"], labels=[f"trial {i}" for i in range(1, 14)])
    row = res.set_index("omitted").loc["trial 1"]
    assert (round(row["estimate"], 4), round(row["se"], 4), round(row["tau2"], 4)) == (
        -0.7071,
        0.19,
        0.3362,
    )


def test_leave_one_out_k1_is_a_clear_error():
    with pytest.raises(ValidationError, match="at least 2 studies.*k = 1"):
        leave_one_out([0.2], [0.04])


def test_leave_one_out_k2_gives_single_study_fits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = leave_one_out([0.2, 0.5], [0.04, 0.09])
    close(res["estimate"], [0.5, 0.2])
    close(res["se"], [0.3, 0.2])


def test_leave_one_out_labels_length_checked():
    with pytest.raises(InvalidParameterError, match="one label per study"):
        leave_one_out([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], labels=["a", "b"])


def test_leave_one_out_rejects_unknown_method():
    with pytest.raises(InvalidParameterError, match="'method' argument of leave_one_out"):
        leave_one_out([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], method="RMEL")


# --------------------------------------------------------------------------- funnel data
def test_funnel_data_region_and_points():
    inp = CASES["regtest_bcg_rma"]["input"]
    y, v = np.array(inp["yi"]), np.array(inp["vi"])
    fd = funnel_data(y, v, grid_size=50)
    studies = fd[fd["kind"] == "study"]
    region = fd[fd["kind"] == "region"]
    assert len(studies) == 13 and len(region) == 50
    centre = pool(y, v, method="FE").estimate
    close(fd["estimate"], np.full(63, centre), rtol=1e-12)
    sei = np.sqrt(v)
    close(studies["sei"], sei, rtol=1e-15)
    close(studies["ci_low"], centre - 1.959963984540054 * sei, rtol=1e-12)
    close(studies["ci_high"], centre + 1.959963984540054 * sei, rtol=1e-12)
    outside = (y < centre - 1.959963984540054 * sei) | (y > centre + 1.959963984540054 * sei)
    assert studies["outside"].tolist() == outside.tolist()
    assert region["sei"].iloc[0] == 0 and region["sei"].iloc[-1] == pytest.approx(sei.max())
    assert region["ci_low"].iloc[0] == pytest.approx(centre)
    assert region["yi"].isna().all()


def test_funnel_data_given_estimate_and_level():
    fd = funnel_data([0.0, 1.0], [0.25, 1.0], estimate=0.5, level=0.90)
    st = fd[fd["kind"] == "study"]
    close(st["ci_low"], [0.5 - 1.6448536269514722 * 0.5, 0.5 - 1.6448536269514722])
    assert st["study"].tolist() == [0, 1]


def test_funnel_data_arguments():
    with pytest.raises(InvalidParameterError, match="'level' argument of funnel_data"):
        funnel_data([0.1, 0.2], [0.1, 0.1], level=95)
    with pytest.raises(InvalidParameterError, match="same length"):
        funnel_data([0.1, 0.2], [0.1])
    assert isinstance(funnel_data(pd.Series([0.1, 0.2]), pd.Series([0.1, 0.2])), pd.DataFrame)


# ------------------------------------------------------------ Egger, large-k algebra
@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("ci_method", ["z", "hksj"])
def test_egger_uses_the_one_fitting_core(method, ci_method):
    """egger_test(model="rma") is meta_regression on sei: same tau2 solver, same WLS fit."""
    rng = np.random.default_rng(11)
    v = rng.uniform(0.01, 0.5, 120)
    y = 0.3 * np.sqrt(v) + rng.normal(0.0, np.sqrt(v + 0.05))
    egg = evidence.egger_test(y, v, method=method, ci_method=ci_method)
    reg = evidence.meta_regression(
        pd.DataFrame({"yi": y, "vi": v, "sei": np.sqrt(v)}),
        "sei",
        method=method,
        ci_method=ci_method,
    )
    coef = reg.coefficients.set_index("term")
    assert egg.tau2 == reg.tau2
    assert egg.slope == coef.loc["sei", "estimate"]
    assert egg.stat == coef.loc["sei", "stat"]
    assert egg.limit_ci_low == coef.loc["intrcpt", "ci_low"]
    assert egg.tau2 > 0.01  # a real heterogeneous case, not the tau2 = 0 boundary
    # the tau2 of that core equals a direct maximisation of the (restricted) likelihood
    from scipy import optimize

    X = np.column_stack([np.ones(v.size), np.sqrt(v)])

    def negll(t):
        w = 1 / (v + t)
        xtwx = X.T @ (X * w[:, None])
        b = np.linalg.solve(xtwx, X.T @ (w * y))
        out = np.sum(np.log(v + t)) + np.sum(w * (y - X @ b) ** 2)
        return out + (np.linalg.slogdet(xtwx)[1] if method == "REML" else 0.0)

    direct = optimize.minimize_scalar(
        negll, bounds=(0, 1), method="bounded", options={"xatol": 1e-13}
    ).x
    assert egg.tau2 == pytest.approx(direct, rel=1e-7)


def test_intercept_only_models_share_pool_tau2():
    y, v = (
        np.array(CASES["regtest_bcg_rma"]["input"]["yi"]),
        np.array(CASES["regtest_bcg_rma"]["input"]["vi"]),
    )
    for method in ("REML", "ML", "PM", "DL", "HE", "SJ"):
        from evidence._tau2 import tau2_mods

        t, _, _ = tau2_mods(y, v, np.ones((y.size, 1)), method, "test")
        assert t == evidence.pool(y, v, method=method).tau2, method


def test_egger_on_many_studies_is_linear_in_k():
    rng = np.random.default_rng(5)
    v = rng.uniform(0.01, 0.5, 20_000)
    y = rng.normal(0.0, np.sqrt(v + 0.02))
    res = evidence.egger_test(y, v)  # O(k p^2): no k x k matrix (would be 3.2 GB)
    assert res.k == 20_000 and 0.0 < res.p_value <= 1.0
