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
