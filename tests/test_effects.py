"""effect_sizes / effects_from_ci against R metafor 3.8-1 (fixtures in tests/reference/)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from reference_loader import as_array, load_fixture

import evidence
from evidence.effects import hedges_correction
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError

FX = load_fixture("escalc")

# Agreement with R observed when the fixtures were made: max relative difference 1.0e-13
# over all 114 cases (yi and vi), so the tests use rtol=1e-10 (the project floor is 1e-6).
RTOL = 1e-10
ATOL = 1e-14  # yi that are exactly 0 in R (RR of equal proportions)


def _expected_case_names() -> list[str]:
    names = []
    for ds in ("bcg", "hahn2001", "nielweise2007"):
        for m in ("RR", "OR", "RD"):
            for to in ("only0", "all", "if0all", "none"):
                names += [f"{ds}_{m}_{to}", f"{ds}_{m}_{to}_drop00"]
    names += [
        "hahn2001_OR_only0_add1",
        "nielweise2007_RR_all_add0.1",
        "bcg_RD_UB",
        "hahn2001_RD_UB",
    ]
    for m in ("RR", "OR", "RD"):
        names += [f"collins1985a_{m}_only0", f"collins1985a_{m}_only0_drop00"]
    for ds in ("normand1999", "curtis1998", "gibson2002"):
        names += [f"{ds}_MD_LS", f"{ds}_SMD_LS", f"{ds}_SMD_UB", f"{ds}_SMD_LS2"]
        if ds != "gibson2002":
            names += [f"{ds}_ROM_LS", f"{ds}_ROM_HO", f"{ds}_ROM_corrected"]
    for ds in ("pritz1997", "debruin2009"):
        names += [
            f"{ds}_PLO_LS_only0",
            f"{ds}_PR_LS_only0",
            f"{ds}_PR_UB_only0",
            f"{ds}_PLO_LS_none",
            f"{ds}_PLO_LS_all",
            f"{ds}_PR_LS_if0all",
        ]
    names += ["bangertdrowns2004_GEN_vi", "lopez2019_GEN_sei"]
    return names


EXPECTED_CASES = _expected_case_names()
EXPECTED_CI_CASES = ["bcg_RR_95", "bcg_OR_90", "curtis1998_ROM_99", "normand1999_MD_95"]


def _frame(case: dict) -> pd.DataFrame:
    return pd.DataFrame({col: as_array(vals) for col, vals in case["data"].items()})


def _run(case: dict) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        return evidence.effect_sizes(_frame(case), **case["args"])


# --------------------------------------------------------------------------- the fixture
def test_fixture_grid_is_complete():
    assert sorted(FX["cases"]) == sorted(EXPECTED_CASES)
    assert len(EXPECTED_CASES) == 114
    assert sorted(FX["ci_cases"]) == sorted(EXPECTED_CI_CASES)


def test_fixture_records_versions_and_calls():
    meta = FX["meta"]
    assert meta["r_version"].startswith("R version 4.2")
    assert meta["metafor"] == "3.8.1"
    assert meta["metadat"]
    assert meta["conv_wald_available"] is False
    assert meta["escalc_has_correct"] is False
    datasets = {c["dataset"] for c in FX["cases"].values()}
    assert len(datasets) >= 6
    for name, case in FX["cases"].items():
        assert case["call"].startswith(("escalc(", "within(escalc(")), name
        assert case["dataset"] in case["call"], name
        assert len(case["yi"]) == len(case["vi"]) == len(next(iter(case["data"].values())))


@pytest.mark.parametrize("name", EXPECTED_CASES)
def test_matches_metafor(name):
    case = FX["cases"][name]
    out = _run(case)
    for col in ("yi", "vi"):
        expected = as_array(case[col])
        got = out[col].to_numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=f"{name} {col}")
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=f"{name} {col}")


def test_fixture_has_real_zero_and_missing_rows():
    # the grid must exercise what it claims to: zero cells, double zeros and NA inputs
    hahn = FX["cases"]["hahn2001_RR_only0"]
    pairs = zip(hahn["data"]["ai"], hahn["data"]["ci"], strict=True)
    assert sum(a == 0 and c == 0 for a, c in pairs) == 3
    none = as_array(FX["cases"]["hahn2001_RR_none"]["yi"])
    assert np.isnan(none).sum() == 4  # zero cells without correction are undefined for RR
    drop = as_array(FX["cases"]["hahn2001_RR_only0_drop00"]["yi"])
    assert np.isnan(drop).sum() == 3
    collins = as_array(FX["cases"]["collins1985a_OR_only0"]["yi"])
    assert np.isnan(collins).sum() == 3  # three trials without death counts


def test_ci_cases_match_conv_wald_formula():
    for name in EXPECTED_CI_CASES:
        case = FX["ci_cases"][name]
        yi, vi = evidence.effects_from_ci(
            as_array(case["estimate"]),
            as_array(case["ci_low"]),
            as_array(case["ci_high"]),
            measure=case["measure"],
            level=case["level"],
        )
        np.testing.assert_allclose(yi, as_array(case["yi"]), rtol=RTOL, err_msg=name)
        np.testing.assert_allclose(vi, as_array(case["vi"]), rtol=RTOL, err_msg=name)
        # and the round trip recovers escalc()'s own variances
        np.testing.assert_allclose(vi, as_array(case["escalc_vi"]), rtol=RTOL, err_msg=name)


# --------------------------------------------------------------------------- behaviour
def _bcg() -> pd.DataFrame:
    c = FX["cases"]["bcg_RR_only0"]
    return _frame(c)


def _hahn() -> pd.DataFrame:
    return _frame(FX["cases"]["hahn2001_RR_only0"])


def test_returns_copy_with_index_and_columns():
    data = _bcg()
    data.index = [f"trial{i}" for i in range(1, 14)]
    before = data.copy()
    out = evidence.effect_sizes(data, "OR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    pd.testing.assert_frame_equal(data, before)
    assert list(out.index) == list(data.index)
    assert list(out.columns) == [*data.columns, "yi", "vi"]
    assert out.loc["trial1", "yi"] == pytest.approx(np.log((4 / 119) / (11 / 128)), rel=1e-12)


def test_continuity_warning_counts_rows():
    with pytest.warns(StatisticalWarning, match=r"0\.5 added to all four cells of 4 of 12 rows"):
        evidence.effect_sizes(_hahn(), "RR", ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    with pytest.warns(StatisticalWarning, match=r"1 added to all four cells of 12 of 12 rows"):
        evidence.effect_sizes(
            _hahn(), "OR", ai="ai", n1i="n1i", ci="ci", n2i="n2i", add=1, to="all"
        )


def test_no_warning_without_zero_cells():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evidence.effect_sizes(_bcg(), "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")


def test_to_none_and_drop00_warn_and_give_nan():
    with pytest.warns(StatisticalWarning, match="undefined"):
        out = evidence.effect_sizes(
            _hahn(), "RR", ai="ai", n1i="n1i", ci="ci", n2i="n2i", to="none"
        )
    assert out["yi"].isna().sum() == 4
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = evidence.effect_sizes(
            _hahn(), "RR", ai="ai", n1i="n1i", ci="ci", n2i="n2i", drop00=True
        )
    assert out["yi"].isna().sum() == 3
    messages = sorted(str(w.message) for w in caught)
    assert all(issubclass(w.category, StatisticalWarning) for w in caught)
    # the one single-zero trial (USA 1982) is still corrected; the three double zeros dropped
    assert "0.5 added to all four cells of 1 of 12 rows with a zero cell" in messages[0]
    assert "drop00=True set 3 row(s)" in messages[1]


def test_missing_values_give_nan_not_error():
    data = _bcg()
    data.loc[2, "tpos"] = np.nan
    data.loc[5, "cneg"] = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = evidence.effect_sizes(data, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    assert out["yi"].isna().tolist() == [i in (2, 5) for i in range(13)]
    assert out["vi"].isna().sum() == 2


def test_bi_from_n1i_equals_bi_given():
    data = _bcg().assign(n1=lambda d: d.tpos + d.tneg, n2=lambda d: d.cpos + d.cneg)
    a = evidence.effect_sizes(data, "RD", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    b = evidence.effect_sizes(data, "RD", ai="tpos", n1i="n1", ci="cpos", n2i="n2")
    np.testing.assert_allclose(a["yi"], b["yi"], rtol=1e-14)
    np.testing.assert_allclose(a["vi"], b["vi"], rtol=1e-14)


def test_rom_correction_changes_yi_not_vi():
    case = FX["cases"]["normand1999_ROM_LS"]
    data = _frame(case)
    args = {k: v for k, v in case["args"].items() if k not in ("measure", "vtype")}
    plain = evidence.effect_sizes(data, "ROM", **args)
    bc = evidence.effect_sizes(data, "ROM", correct=True, **args)
    np.testing.assert_allclose(plain["vi"], bc["vi"], rtol=1e-15)
    shift = 0.5 * (
        data.sd1i**2 / (data.n1i * data.m1i**2) - data.sd2i**2 / (data.n2i * data.m2i**2)
    )
    np.testing.assert_allclose(bc["yi"] - plain["yi"], shift, rtol=1e-9)


def test_hedges_correction_exact_and_approximation():
    m = np.array([2.0, 10.0, 20.0, 100.0])
    c = hedges_correction(m)
    # exact form c(2) = Gamma(1)/(sqrt(1)*Gamma(1/2)) = 1/sqrt(pi)
    assert c[0] == pytest.approx(1 / np.sqrt(np.pi), rel=1e-14)
    # close to Hedges' approximation 1 - 3/(4m - 1) for larger m, and below 1
    np.testing.assert_allclose(c[2:], 1 - 3 / (4 * m[2:] - 1), rtol=1e-4)
    assert np.all(c < 1)
    assert np.isnan(hedges_correction([1.0, 0.0, np.nan])).all()


# --------------------------------------------------------------------------- errors
def test_unknown_measure_message():
    with pytest.raises(InvalidParameterError, match=r"The 'measure' argument of effect_sizes\(\)"
                       r" must be one of \[.*\]\. Got 'RRR'\."):  # fmt: skip
        evidence.effect_sizes(_bcg(), "RRR", ai="tpos", bi="tneg", ci="cpos", di="cneg")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"to": "some"}, r"'to' argument .* Got 'some'"),
        ({"add": -1}, r"'add' argument .* >= 0"),
        ({"vtype": "UB"}, r"'vtype' argument .* \['LS'\] for measure='RR'"),
        ({"drop00": "yes"}, r"'drop00' argument .* True or False"),
        ({"m1i": "tpos"}, r"'m1i' argument of effect_sizes\(\) is not used with measure='RR'"),
    ],
)
def test_bad_options(kwargs, pattern):
    args = {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"} | kwargs
    with pytest.raises(InvalidParameterError, match=pattern):
        evidence.effect_sizes(_bcg(), "RR", **args)


def test_missing_and_unknown_columns():
    with pytest.raises(InvalidParameterError, match=r"needs the 'bi' or the 'n1i' argument"):
        evidence.effect_sizes(_bcg(), "RR", ai="tpos", ci="cpos", di="cneg")
    with pytest.raises(InvalidParameterError, match=r"'ci' argument .* names column 'cpoz'"):
        evidence.effect_sizes(_bcg(), "RR", ai="tpos", bi="tneg", ci="cpoz", di="cneg")
    with pytest.raises(InvalidParameterError, match=r"measure='SMD' needs the 'sd2i' argument"):
        evidence.effect_sizes(
            _bcg(), "SMD", m1i="tpos", sd1i="tneg", n1i="cpos", m2i="cneg", n2i="cneg"
        )
    with pytest.raises(InvalidParameterError, match="must be a pandas DataFrame"):
        evidence.effect_sizes([1, 2], "RR", ai="a", bi="b", ci="c", di="d")


def test_bad_values_name_column_and_row():
    data = _bcg()
    data.loc[4, "tpos"] = -1
    with pytest.raises(ValidationError, match=r"column 'tpos' \(argument 'ai'\) has negative "
                       r"counts in row\(s\) 4"):  # fmt: skip
        evidence.effect_sizes(data, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    hahn = _hahn()
    hahn.loc[7, "ci"] = 100
    with pytest.raises(ValidationError, match=r"'ci'.*larger than column 'n2i'.* row\(s\) 7"):
        evidence.effect_sizes(hahn, "OR", ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    data = _bcg().assign(n1=lambda d: d.tpos + d.tneg + 1)
    with pytest.raises(ValidationError, match=r"'n1' .* not equal to .*'tpos'.*'tneg'"):
        evidence.effect_sizes(data, "RR", ai="tpos", bi="tneg", n1i="n1", ci="cpos", di="cneg")
    data = _bcg().astype({"tpos": object})
    data.loc[3, "tpos"] = "four"
    with pytest.raises(ValidationError, match=r"column 'tpos', which must be numeric; row 3 has"):
        evidence.effect_sizes(data, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")


def test_bad_continuous_and_proportion_values():
    case = FX["cases"]["normand1999_SMD_LS"]
    args = {k: v for k, v in case["args"].items() if k != "vtype"}
    data = _frame(case)
    data.loc[2, "sd2i"] = 0
    with pytest.raises(ValidationError, match=r"'sd2i'.* > 0 \(standard deviation\) in row\(s\) 2"):
        evidence.effect_sizes(data, **args)
    data = _frame(case)
    data.loc[0, "n1i"] = 0
    with pytest.raises(ValidationError, match=r"'n1i'.* > 0 \(group size\) in row\(s\) 0"):
        evidence.effect_sizes(data, **args)
    prop = _frame(FX["cases"]["pritz1997_PLO_LS_only0"])
    prop.loc[1, "xi"] = 13
    with pytest.raises(ValidationError, match=r"'xi'.* larger than column 'ni'.* row\(s\) 1"):
        evidence.effect_sizes(prop, "PLO", xi="xi", ni="ni")
    gen = pd.DataFrame({"y": [0.1, 0.2], "v": [0.01, -0.02]})
    with pytest.raises(ValidationError, match=r"'v'.* >= 0 in row\(s\) 1"):
        evidence.effect_sizes(gen, "GEN", yi="y", vi="v")


def test_gen_uses_sei_where_vi_missing():
    gen = pd.DataFrame({"y": [0.1, 0.2, np.nan], "v": [0.01, np.nan, 0.03], "s": [0.5, 0.2, 0.1]})
    out = evidence.effect_sizes(gen, "GEN", yi="y", vi="v", sei="s")
    np.testing.assert_allclose(out["vi"].to_numpy()[:2], [0.01, 0.04], rtol=1e-15)
    assert np.isnan(out["yi"].iloc[2]) and np.isnan(out["vi"].iloc[2])


# --------------------------------------------------------------------------- effects_from_ci
def test_from_ci_prefers_se_and_logs_ratios():
    yi, vi = evidence.effects_from_ci(
        [0.7, 0.7], [0.5, 0.5], [0.98, 0.98], measure="HR", se=[np.nan, 0.2]
    )
    z = 1.959963984540054
    assert yi == pytest.approx(np.log([0.7, 0.7]), rel=1e-15)
    assert vi[0] == pytest.approx(((np.log(0.98) - np.log(0.5)) / (2 * z)) ** 2, rel=1e-12)
    assert vi[1] == pytest.approx(0.04, rel=1e-15)


def test_from_ci_scalar_level_per_row_and_identity_scale():
    yi, vi = evidence.effects_from_ci(2.0, 1.0, 3.0, measure="MD", level=0.90)
    assert yi.shape == (1,) and yi[0] == 2.0
    assert vi[0] == pytest.approx((2.0 / (2 * 1.6448536269514722)) ** 2, rel=1e-12)
    _, v2 = evidence.effects_from_ci([2.0, 2.0], [1.0, 1.0], [3.0, 3.0], measure="MD",
                                     level=[0.90, 0.95])  # fmt: skip
    assert v2[0] == pytest.approx(vi[0], rel=1e-15) and v2[1] < v2[0]


def test_from_ci_plo_is_logit():
    yi, vi = evidence.effects_from_ci(0.5, 0.4, 0.6, measure="PLO")
    assert yi[0] == pytest.approx(0.0, abs=1e-15)
    assert vi[0] == pytest.approx((2 * np.log(0.6 / 0.4) / (2 * 1.959963984540054)) ** 2)


def test_from_ci_missing_estimate_or_ci_gives_nan():
    yi, vi = evidence.effects_from_ci([np.nan, 1.2], [0.8, np.nan], [1.5, 2.0], measure="RR")
    assert np.isnan(yi[0]) and np.isfinite(vi[0])
    assert yi[1] == pytest.approx(np.log(1.2)) and np.isnan(vi[1])


def test_from_ci_errors_and_warnings():
    with pytest.raises(InvalidParameterError, match=r"'measure' argument of effects_from_ci"):
        evidence.effects_from_ci(1.0, 0.5, 2.0, measure="XX")
    with pytest.raises(InvalidParameterError, match=r"'level' .* fraction"):
        evidence.effects_from_ci(1.0, 0.5, 2.0, measure="RR", level=95)
    with pytest.raises(ValidationError, match=r"'ci_low' must be > 0 .* row\(s\) 1"):
        evidence.effects_from_ci([1.0, 1.0], [0.5, 0.0], [2.0, 2.0], measure="OR")
    with pytest.raises(ValidationError, match="'ci_low' is above 'ci_high'"):
        evidence.effects_from_ci(1.0, 2.0, 0.5, measure="RD")
    with pytest.raises(ValidationError, match="'se' must be > 0"):
        evidence.effects_from_ci(1.0, 0.5, 2.0, measure="RR", se=0.0)
    with pytest.raises(InvalidParameterError, match="'estimate' argument .* numeric"):
        evidence.effects_from_ci("big", 0.5, 2.0, measure="RR")
    # a CI given on the ratio scale but symmetric there is not halfway on the log scale
    with pytest.warns(StatisticalWarning, match=r"not halfway .* row\(s\) 0"):
        evidence.effects_from_ci(2.0, 0.2, 3.8, measure="RR")


# --------------------------------------------------------------------------- new measures
# COR, ZCOR, IRR, IRD, PR, PLN, PLO, PAS, PFT, SMDH, PETO against escalc()
# (tests/reference/measures.R -> measures_fixtures.json, metafor 3.8-1).
MFX = load_fixture("measures")
EXPECTED_MEASURE_CASES = (
    ["molloy2014_COR", "molloy2014_ZCOR", "mcdaniel1994_ZCOR", "mcdaniel1994_COR"]
    + [f"hart1999_{m}_{to}" for m in ("IRR", "IRD") for to in ("only0", "all", "none")]
    + [f"nielweise2007_{m}_drop00_{d}" for m in ("IRR", "IRD") for d in ("FALSE", "TRUE")]
    + [
        name
        for ds in ("pritz1997", "debruin2009")
        for name in [f"{ds}_{m}" for m in ("PR", "PLN", "PLO", "PAS", "PFT")]
        + [f"{ds}_{m}_add_all" for m in ("PLN", "PAS", "PFT")]
    ]
    + [f"nielweise2007_arm1_{m}" for m in ("PR", "PLN", "PLO", "PAS", "PFT")]
    + [f"{ds}_SMDH_{vt}" for ds in ("normand1999", "curtis1998") for vt in ("LS", "LS2")]
    + ["nielweise2007_PETO", "hahn2001_PETO"]
)


def test_measure_fixture_case_list():
    assert sorted(MFX["escalc"]) == sorted(EXPECTED_MEASURE_CASES)
    assert MFX["meta"]["metafor"] == "3.8.1"


@pytest.mark.parametrize("name", EXPECTED_MEASURE_CASES)
def test_new_measures_match_escalc(name):
    case = MFX["escalc"][name]
    frame = _frame(case)
    kwargs = dict(case["args"])
    measure = kwargs.pop("measure")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        out = evidence.effect_sizes(frame, measure, **kwargs)
    yi, vi = as_array(case["yi"]), as_array(case["vi"])
    np.testing.assert_array_equal(np.isnan(out["yi"]), np.isnan(yi))
    np.testing.assert_array_equal(np.isnan(out["vi"]), np.isnan(vi))
    np.testing.assert_allclose(out["yi"], yi, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out["vi"], vi, rtol=RTOL, atol=ATOL)


def test_new_measures_known_values():
    # metafor's help page for escalc / dat.molloy2014: r = 0.187, n = 109 -> z = 0.18921
    frame = pd.DataFrame({"ri": [0.187], "ni": [109]})
    out = evidence.effect_sizes(frame, "ZCOR", ri="ri", ni="ni")
    assert out["yi"].iloc[0] == pytest.approx(np.arctanh(0.187), rel=1e-14)
    assert out["vi"].iloc[0] == pytest.approx(1 / 106, rel=1e-14)
    # PFT of 0/28 needs no continuity correction (add defaults to 0 for PAS/PFT)
    one = pd.DataFrame({"xi": [0], "ni": [28]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pft = evidence.effect_sizes(one, "PFT", xi="xi", ni="ni")
    assert pft["yi"].iloc[0] == pytest.approx(0.5 * np.arcsin(np.sqrt(1 / 29)), rel=1e-14)
    assert pft["vi"].iloc[0] == pytest.approx(1 / 114, rel=1e-14)


@pytest.mark.parametrize(
    ("measure", "frame", "kwargs", "match"),
    [
        (
            "COR",
            pd.DataFrame({"r": [0.2, 1.3], "n": [20, 30]}),
            {"ri": "r", "ni": "n"},
            r"column 'r' \(argument 'ri'\) must be between -1 and 1",
        ),
        (
            "ZCOR",
            pd.DataFrame({"r": [0.2, 0.3], "n": [20, 0]}),
            {"ri": "r", "ni": "n"},
            r"column 'n' \(argument 'ni'\) must be > 0",
        ),
        (
            "IRR",
            pd.DataFrame({"a": [1], "t": [0.0], "c": [2], "u": [3.0]}),
            {"x1i": "a", "t1i": "t", "x2i": "c", "t2i": "u"},
            r"column 't' \(argument 't1i'\) must be > 0 \(person-time\)",
        ),
        (
            "IRD",
            pd.DataFrame({"a": [-1], "t": [2.0], "c": [2], "u": [3.0]}),
            {"x1i": "a", "t1i": "t", "x2i": "c", "t2i": "u"},
            r"column 'a' \(argument 'x1i'\) has negative counts",
        ),
        (
            "PLN",
            pd.DataFrame({"x": [5], "n": [4]}),
            {"xi": "x", "ni": "n"},
            r"column 'x' \(argument 'xi'\) is larger than",
        ),
    ],
)
def test_new_measures_bad_input(measure, frame, kwargs, match):
    with pytest.raises(ValidationError, match=match):
        evidence.effect_sizes(frame, measure, **kwargs)


def test_new_measures_bad_arguments():
    frame = pd.DataFrame({"r": [0.2], "n": [20]})
    with pytest.raises(InvalidParameterError, match="'ri' argument"):
        evidence.effect_sizes(frame, "ZCOR", ni="n")
    with pytest.raises(InvalidParameterError, match="'vtype' argument .*measure='SMDH'"):
        evidence.effect_sizes(
            frame, "SMDH", m1i="r", m2i="r", sd1i="r", sd2i="r", n1i="n", n2i="n", vtype="UB"
        )
    with pytest.raises(InvalidParameterError, match="'xi' argument .* not used"):
        evidence.effect_sizes(frame, "COR", ri="r", ni="n", xi="r")
