"""evidence.study_effects on hand-built study sheets (numbers from the metafor fixtures)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from reference_loader import as_array, load_fixture

import evidence
from evidence.errors import StatisticalWarning, ValidationError
from evidence.study_effects import NOTE_NO_RESULT

FX = load_fixture("escalc")
RTOL = 1e-10  # agreement with metafor 3.8-1 is ~1e-13 (see test_effects.py)


def _case(name):
    return FX["cases"][name]


def _sheet_counts(name: str, measure: str) -> pd.DataFrame:
    """A study sheet of 'counts' rows built from a 2x2 fixture."""
    case = _case(name)
    d, args = case["data"], case["args"]
    ai, ci = as_array(d[args["ai"]]), as_array(d[args["ci"]])
    n1 = as_array(d[args["n1i"]]) if "n1i" in args else ai + as_array(d[args["bi"]])
    n2 = as_array(d[args["n2i"]]) if "n2i" in args else ci + as_array(d[args["di"]])
    return pd.DataFrame(
        {
            "study_id": [f"{name[:4]} {i}" for i in range(len(ai))],
            "data_type": "counts",
            "measure": measure,
            "events_int": ai,
            "n_int": n1,
            "events_ctrl": ci,
            "n_ctrl": n2,
        }
    )


def _sheet_continuous(name: str, measure: str) -> pd.DataFrame:
    d = _case(name)["data"]
    return pd.DataFrame(
        {
            "study_id": [f"s{i}" for i in range(len(d["m1i"]))],
            "data_type": "continuous",
            "measure": measure,
            "mean_int": as_array(d["m1i"]),
            "sd_int": as_array(d["sd1i"]),
            "n_int": as_array(d["n1i"]),
            "mean_ctrl": as_array(d["m2i"]),
            "sd_ctrl": as_array(d["sd2i"]),
            "n_ctrl": as_array(d["n2i"]),
        }
    )


def _quiet(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        return evidence.study_effects(frame)


@pytest.mark.parametrize(
    ("fixture", "measure"),
    [
        ("hahn2001_RR_only0", "RR"),
        ("hahn2001_OR_only0", "OR"),
        ("nielweise2007_RD_only0", "RD"),
        ("bcg_OR_only0", "OR"),
    ],
)
def test_counts_match_metafor_defaults(fixture, measure):
    out = _quiet(_sheet_counts(fixture, measure))
    np.testing.assert_allclose(out["yi"], as_array(_case(fixture)["yi"]), rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(out["vi"], as_array(_case(fixture)["vi"]), rtol=RTOL)


@pytest.mark.parametrize(
    ("fixture", "measure"),
    [
        ("normand1999_MD_LS", "MD"),
        ("normand1999_SMD_LS", "SMD"),
        ("curtis1998_SMD_LS", "SMD"),
        ("curtis1998_ROM_LS", "ROM"),
        ("gibson2002_SMD_LS", "SMD"),
    ],
)
def test_continuous_match_metafor(fixture, measure):
    out = _quiet(_sheet_continuous(fixture, measure))
    expected_yi = as_array(_case(fixture)["yi"])
    np.testing.assert_array_equal(out["yi"].isna(), np.isnan(expected_yi))
    np.testing.assert_allclose(out["yi"], expected_yi, rtol=RTOL)
    np.testing.assert_allclose(out["vi"], as_array(_case(fixture)["vi"]), rtol=RTOL)


def test_gibson_rows_without_means_are_noted():
    out = _quiet(_sheet_continuous("gibson2002_SMD_LS", "SMD"))
    assert out["effect_note"].iloc[13] == "missing input: mean_int, sd_int, mean_ctrl, sd_ctrl"
    assert (out["effect_note"].iloc[:13] == "").all()


def test_single_arm_defaults_to_plo_and_notes_correction():
    d = _case("pritz1997_PLO_LS_only0")["data"]
    sheet = pd.DataFrame(
        {"study_id": range(14), "data_type": "single_arm", "events_int": d["xi"], "n_int": d["ni"]}
    )
    with pytest.warns(StatisticalWarning, match=r"0\.5 added to the cells of 2 row\(s\)"):
        out = evidence.study_effects(sheet)
    plo = _case("pritz1997_PLO_LS_only0")
    np.testing.assert_allclose(out["yi"], as_array(plo["yi"]), rtol=RTOL)
    np.testing.assert_allclose(out["vi"], as_array(plo["vi"]), rtol=RTOL)
    corrected = out["effect_note"] == "0.5 added to events and non-events (zero cell)"
    assert corrected.tolist() == [x == n for x, n in zip(d["xi"], d["ni"], strict=True)]
    pr = _quiet(sheet.assign(measure="PR"))
    np.testing.assert_allclose(pr["yi"], as_array(_case("pritz1997_PR_LS_only0")["yi"]), rtol=RTOL)


def test_zero_cell_notes_on_counts():
    out = _quiet(_sheet_counts("hahn2001_RR_only0", "RR"))
    notes = out["effect_note"].tolist()
    double = "0.5 added to all cells (zero cell); no events in either arm"
    assert notes[1] == notes[6] == notes[9] == double  # 0/18 vs 0/18, 0/22 vs 0/22, 0/33 vs 0/30
    assert notes[10] == "0.5 added to all cells (zero cell)"  # 0/15 vs 1/20
    assert sum(n == "" for n in notes) == 8
    assert out["yi"].iloc[1] == 0.0  # both arms corrected identically


def test_estimate_rows_from_ci_and_se():
    ci = FX["ci_cases"]["bcg_RR_95"]
    k = len(ci["estimate"])
    sheet = pd.DataFrame(
        {
            "study_id": [f"bcg{i}" for i in range(k)],
            "data_type": "estimate",
            "measure": ["RR"] * 6 + ["HR"] * (k - 6),
            "estimate": ci["estimate"],
            "ci_low": ci["ci_low"],
            "ci_high": ci["ci_high"],
        }
    )
    out = evidence.study_effects(sheet)
    np.testing.assert_allclose(out["yi"], as_array(ci["yi"]), rtol=RTOL)
    np.testing.assert_allclose(out["vi"], as_array(ci["vi"]), rtol=RTOL)
    # a reported (log-scale) se wins over the CI; a 90% CI is read at 90%
    sheet.loc[0, "se"] = 0.25
    sheet.loc[1, "ci_level"] = 0.90
    out2 = evidence.study_effects(sheet)
    assert out2["vi"].iloc[0] == pytest.approx(0.0625, rel=1e-15)
    z90, z95 = 1.6448536269514722, 1.959963984540054
    assert out2["vi"].iloc[1] == pytest.approx(out["vi"].iloc[1] * (z95 / z90) ** 2, rel=1e-12)
    np.testing.assert_allclose(out2["vi"].iloc[2:], out["vi"].iloc[2:], rtol=1e-15)


def test_mixed_sheet_keeps_order_index_and_explains_nan():
    sheet = pd.DataFrame(
        [
            {"study_id": "A", "data_type": "none", "measure": "RR"},
            {"study_id": "B", "data_type": "counts", "measure": "RR", "events_int": 4,
             "n_int": 123, "events_ctrl": 11, "n_ctrl": 139},
            {"study_id": "C", "data_type": "counts", "measure": "RR", "events_int": 4,
             "n_int": 123, "n_ctrl": 139},
            {"study_id": "D", "data_type": "continuous", "measure": "RR", "mean_int": 1.0},
            {"study_id": "E", "data_type": "counts", "measure": None, "events_int": 1},
            {"study_id": "F", "data_type": "estimate", "measure": "MD", "estimate": 1.5},
            {"study_id": "G", "data_type": "estimate", "measure": "OR", "ci_low": 0.5,
             "ci_high": 2.0},
        ],
        index=[10, 20, 30, 40, 50, 60, 70],
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = evidence.study_effects(sheet)
    assert list(out.index) == [10, 20, 30, 40, 50, 60, 70]
    assert list(out["study_id"]) == list("ABCDEFG")
    assert out.loc[20, "yi"] == pytest.approx(np.log((4 / 123) / (11 / 139)), rel=1e-14)
    assert out.loc[20, "vi"] == pytest.approx(1 / 4 - 1 / 123 + 1 / 11 - 1 / 139, rel=1e-14)
    assert out["effect_note"].tolist() == [
        NOTE_NO_RESULT,
        "",
        "missing input: events_ctrl",
        "measure 'RR' does not apply to data_type 'continuous'",
        "measure missing (one of RR, OR, RD for data_type 'counts')",
        "missing input: se or ci_low/ci_high",
        "missing input: estimate",
    ]
    assert out["yi"].notna().tolist() == [False, True, False, False, False, True, False]
    assert np.isfinite(out.loc[70, "vi"])  # the CI alone still gives a variance
    assert "effect_note" not in sheet.columns  # input untouched


def test_rom_with_nonpositive_mean_is_noted():
    sheet = _sheet_continuous("normand1999_ROM_LS", "ROM")
    sheet.loc[3, "mean_ctrl"] = -137.0
    out = _quiet(sheet)
    assert np.isnan(out["yi"].iloc[3])
    assert out["effect_note"].iloc[3] == "log ratio of means undefined (a mean <= 0)"


def test_bad_rows_raise_naming_study():
    sheet = _sheet_counts("bcg_RR_only0", "RR")
    sheet.loc[5, "events_ctrl"] = sheet.loc[5, "n_ctrl"] + 1
    with pytest.raises(ValidationError, match=r"'events_ctrl' is larger than column 'n_ctrl' "
                       r"\(events > total\) in row\(s\) 5 \(bcg_ 5\)"):  # fmt: skip
        evidence.study_effects(sheet)
    cont = _sheet_continuous("normand1999_MD_LS", "MD")
    cont.loc[1, "sd_int"] = 0.0
    with pytest.raises(ValidationError, match=r"'sd_int' must be > 0 .* row\(s\) 1 \(s1\)"):
        evidence.study_effects(cont)
    est = pd.DataFrame({"study_id": ["X"], "data_type": ["estimate"], "measure": ["HR"],
                        "estimate": [-0.3], "ci_low": [0.5], "ci_high": [0.9]})  # fmt: skip
    with pytest.raises(ValidationError, match=r"'estimate' must be > 0 .* 'HR'.* 0 \(X\)"):
        evidence.study_effects(est)
    with pytest.raises(ValidationError, match=r"'ci_level' must be a fraction"):
        evidence.study_effects(est.assign(estimate=0.7, ci_level=95))
    with pytest.raises(ValidationError, match=r"'data_type' must be one of .*'count'"):
        evidence.study_effects(est.assign(data_type="count"))
    with pytest.raises(ValidationError, match="no 'data_type' column"):
        evidence.study_effects(est.drop(columns="data_type"))


# ---------------------------------------------------------------------------
# Continuous arms reported with an SE, a CI or a median and quartiles
# (tests/reference/continuous_arms.R: dat.normand1999, metafor escalc on the real SDs)

ARMS = load_fixture("continuous_arms")


def _arm_sheet(measure: str, form_int: str, form_ctrl: str) -> pd.DataFrame:
    d = {k: as_array(v) if k != "study" else v for k, v in ARMS["data"].items()}
    k = len(d["study"])
    out = pd.DataFrame(
        {
            "study_id": d["study"],
            "data_type": "continuous",
            "measure": measure,
            "n_int": d["n1i"],
            "n_ctrl": d["n2i"],
            "ci_level": d["level"],
        }
    )
    for arm, i in (("int", "1"), ("ctrl", "2")):
        form = form_int if arm == "int" else form_ctrl
        if form == "median":
            out[f"median_{arm}"] = d[f"m{i}i"]
            out[f"q1_{arm}"], out[f"q3_{arm}"] = d[f"q1_{i}"], d[f"q3_{i}"]
            continue
        out[f"mean_{arm}"] = d[f"m{i}i"]
        if form == "sd":
            out[f"sd_{arm}"] = d[f"sd{i}i"]
        elif form == "se":
            out[f"se_{arm}"] = d[f"se{i}i"]
        elif form == "ci":
            out[f"ci_low_{arm}"] = d[f"ci_low{i}"]
            out[f"ci_high_{arm}"] = d[f"ci_high{i}"]
    assert len(out) == k
    return out


@pytest.mark.parametrize("measure", ["MD", "SMD", "ROM"])
@pytest.mark.parametrize(
    ("form_int", "form_ctrl"), [("se", "se"), ("ci", "ci"), ("se", "ci"), ("ci", "sd")]
)
def test_arms_from_se_or_ci_match_metafor_on_the_real_sds(measure, form_int, form_ctrl):
    out = evidence.study_effects(_arm_sheet(measure, form_int, form_ctrl))
    case = ARMS["cases"][measure]
    np.testing.assert_allclose(out["yi"], as_array(case["yi"]), rtol=RTOL)
    np.testing.assert_allclose(out["vi"], as_array(case["vi"]), rtol=RTOL)
    notes = out["effect_note"].tolist()
    expected = {
        "se": "sd_{a} from se_{a} (SD = SE x sqrt(n))",
        "ci": "sd_{a} from the {lev:g}% CI of the mean (SD = sqrt(n) x (upper - lower) "
        "/ (2 t), t with n - 1 df)",
    }
    for note, level in zip(notes, as_array(ARMS["data"]["level"]), strict=True):
        parts = [
            expected[f].format(a=a, lev=100 * level)
            for a, f in (("int", form_int), ("ctrl", form_ctrl))
            if f in expected
        ]
        assert note == "; ".join(parts)


@pytest.mark.parametrize("measure", ["MD", "SMD", "ROM"])
def test_medians_are_converted_only_on_request_wan_2014(measure):
    sheet = _arm_sheet(measure, "median", "median")
    plain = evidence.study_effects(sheet)
    assert plain["yi"].isna().all() and plain["vi"].isna().all()
    assert plain["effect_note"].iloc[0] == (
        "median and quartiles in place of mean_int: not converted "
        "(study_effects(convert_medians=True) estimates mean and SD, Wan 2014); median and "
        "quartiles in place of mean_ctrl: not converted (study_effects(convert_medians=True) "
        "estimates mean and SD, Wan 2014)"
    )
    out = evidence.study_effects(sheet, convert_medians=True)
    case = ARMS["cases"][measure]
    np.testing.assert_allclose(out["yi"], as_array(case["yi_wan"]), rtol=RTOL)
    np.testing.assert_allclose(out["vi"], as_array(case["vi_wan"]), rtol=RTOL)
    assert set(out["effect_note"]) == {
        "mean_int and sd_int estimated from median and quartiles (Wan 2014); mean_ctrl and "
        "sd_ctrl estimated from median and quartiles (Wan 2014)"
    }


def test_an_arm_with_sd_keeps_it_and_says_nothing():
    sheet = _arm_sheet("MD", "sd", "sd")
    sheet["se_int"] = 99.0  # ignored: the SD is given
    out = evidence.study_effects(sheet)
    np.testing.assert_allclose(out["yi"], as_array(ARMS["cases"]["MD"]["yi"]), rtol=RTOL)
    np.testing.assert_allclose(out["vi"], as_array(ARMS["cases"]["MD"]["vi"]), rtol=RTOL)
    assert set(out["effect_note"]) == {""}


# ---------------------------------------------------------------------------
# Rows of one outcome with opposite outcome_direction


def _directions_sheet():
    base = {
        "indication": "stroke",
        "outcome": "function",
        "data_type": "continuous",
        "n_int": 20,
        "n_ctrl": 20,
        "sd_int": 2.0,
        "sd_ctrl": 2.0,
    }
    rows = [
        {
            **base,
            "study_id": "A",
            "measure": "MD",
            "mean_int": 5.0,
            "mean_ctrl": 3.0,
            "outcome_direction": "higher_is_better",
        },
        {
            **base,
            "study_id": "B",
            "measure": "MD",
            "mean_int": 6.0,
            "mean_ctrl": 5.0,
            "outcome_direction": "higher_is_better",
        },
        {
            **base,
            "study_id": "C",
            "measure": "MD",
            "mean_int": 2.0,
            "mean_ctrl": 4.5,
            "outcome_direction": "higher_is_worse",
        },
        {
            **base,
            "study_id": "D",
            "measure": "ROM",
            "mean_int": 2.0,
            "mean_ctrl": 4.0,
            "outcome_direction": "higher_is_worse",
        },
        {
            **base,
            "study_id": "E",
            "outcome": "other",
            "measure": "MD",
            "mean_int": 2.0,
            "mean_ctrl": 4.0,
            "outcome_direction": "higher_is_worse",
        },
    ]
    return pd.DataFrame(rows)


def test_opposite_directions_are_oriented_or_refused_with_the_reason():
    sheet = _directions_sheet()
    out = evidence.study_effects(sheet)
    assert out["yi"].iloc[:3].tolist() == [2.0, 1.0, 2.5]  # C's -2.5 reversed
    assert out["outcome_direction"].tolist() == ["higher_is_better"] * 3 + ["higher_is_worse"] * 2
    assert out["effect_note"].iloc[2] == (
        "sign reversed: outcome_direction 'higher_is_worse' oriented to 'higher_is_better' like "
        "the other rows of this outcome (2 of 4)"
    )
    assert np.isnan(out["yi"].iloc[3]) and np.isnan(out["vi"].iloc[3])
    assert out["effect_note"].iloc[3] == (
        "outcome_direction 'higher_is_worse' is opposite to 'higher_is_better' of the other rows "
        "of this outcome (2 of 4) and measure 'ROM' cannot be reversed: not pooled; orient the "
        "row in the sheet"
    )
    # another outcome keeps its own direction; variances never change
    assert out["yi"].iloc[4] == -2.0 and out["effect_note"].iloc[4] == ""
    assert out["vi"].iloc[2] == pytest.approx(4 / 20 + 4 / 20, rel=1e-15)
    plain = evidence.study_effects(sheet, orient=False)
    assert plain["yi"].iloc[2] == -2.5 and plain["effect_note"].iloc[2] == ""
    assert plain["outcome_direction"].tolist() == sheet["outcome_direction"].tolist()


@pytest.mark.parametrize(
    ("fixture", "measure", "keywords"),
    [
        ("hahn2001_RR_all_drop00", "RR", {"to": "all", "drop00": True}),
        ("nielweise2007_OR_all_drop00", "OR", {"to": "all", "drop00": True}),
        ("hahn2001_OR_only0_add1", "OR", {"add": 1.0}),
        ("nielweise2007_OR_if0all", "OR", {"to": "if0all"}),
        ("nielweise2007_RD_none", "RD", {"to": "none"}),
    ],
)
def test_zero_cell_keywords_match_escalc(fixture, measure, keywords):
    """add/to/drop00 as metafor escalc() (the evigap run option --zero-cell)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        out = evidence.study_effects(_sheet_counts(fixture, measure), **keywords)
    expected_yi = as_array(_case(fixture)["yi"])
    np.testing.assert_array_equal(out["yi"].isna(), np.isnan(expected_yi))
    np.testing.assert_allclose(out["yi"], expected_yi, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(out["vi"], as_array(_case(fixture)["vi"]), rtol=RTOL)


def test_zero_cell_keywords_are_said_in_the_notes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        out = evidence.study_effects(
            _sheet_counts("hahn2001_RR_all_drop00", "RR"), to="all", drop00=True
        )
    notes = out["effect_note"].tolist()
    dropped = "no events (or no non-events) in either arm: not estimable (drop00)"
    assert notes[1] == notes[6] == notes[9] == dropped  # 0/18 vs 0/18, 0/22 vs 0/22, 0/33 vs 0/30
    assert notes[0] == notes[10] == "0.5 added to all cells (to='all')"
    with pytest.warns(StatisticalWarning, match=r"1 added to the cells of 4 row\(s\) with a zero"):
        one = evidence.study_effects(_sheet_counts("hahn2001_RR_only0", "RR"), add=1)
    assert one["effect_note"].iloc[10] == "1 added to all cells (zero cell)"


def test_zero_cell_keywords_bad_values():
    sheet = _sheet_counts("hahn2001_RR_only0", "RR")
    with pytest.raises(evidence.errors.InvalidParameterError, match="'to' argument"):
        evidence.study_effects(sheet, to="sometimes")
    with pytest.raises(evidence.errors.InvalidParameterError, match="'add' argument"):
        evidence.study_effects(sheet, add=-1)
    with pytest.raises(evidence.errors.InvalidParameterError, match="drop00"):
        evidence.study_effects(sheet, drop00="yes")
