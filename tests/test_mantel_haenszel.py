"""mantel_haenszel() / peto() against metafor 3.8-1 rma.mh() / rma.peto()
(tests/reference/mh_peto.R -> mh_peto_fixtures.json)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from reference_loader import as_array, load_fixture

import evidence
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError

FX = load_fixture("mh_peto")
RTOL = 1e-10  # closed forms: observed agreement ~1e-14; project floor 1e-6
EXPECTED = sorted(
    [f"bcg_mh_{m}" for m in ("OR", "RR", "RD")]
    + ["bcg_mh_OR_nocorrect", "bcg_mh_RR_level90", "bcg_peto"]
    + [
        f"{ds}_{s}"
        for ds in ("li2007", "nielweise2007", "hahn2001", "collins1985a", "yusuf1985_t9")
        for s in ("mh_OR", "mh_RR", "mh_RD", "peto")
    ]
    + ["nielweise2007_mh_OR_add_both", "nielweise2007_mh_RR_nodrop", "nielweise2007_peto_all"]
    + [f"nielweise2007_zeroarm_{s}" for s in ("mh_OR", "mh_RR", "mh_RD", "peto")]
    + ["hine1989_mh_RD", "hine1989_peto", "hart1999_mh_IRR", "hart1999_mh_IRD"]
)
FIELDS = {  # metafor name -> MHResult field
    "beta": "estimate",
    "se": "se",
    "zval": "stat",
    "pval": "p_value",
    "ci.lb": "ci_low",
    "ci.ub": "ci_high",
    "QE": "q",
    "QEp": "q_p",
    "I2": "i2",
    "H2": "h2",
    "k": "k",
    "k.yi": "k_yi",
    "MH": "cmh",
    "MHp": "cmh_p",
    "BD": "bd",
    "BDp": "bd_p",
    "TA": "tarone",
    "TAp": "tarone_p",
}


def _run(case):
    frame = pd.DataFrame({c: as_array(v) for c, v in case["data"].items()})
    args = dict(case["args"])
    for key in ("add", "to", "drop00"):
        if isinstance(args.get(key), list):
            args[key] = tuple(args[key])
    cols = {c: c for c in case["data"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        if "peto" in case["call"]:
            return evidence.peto(frame, **cols, **args)
        return evidence.mantel_haenszel(frame, **cols, **args)


def test_case_list():
    assert sorted(FX["cases"]) == EXPECTED
    assert FX["meta"]["metafor"] == "3.8.1"


@pytest.mark.parametrize("name", EXPECTED)
def test_matches_metafor(name):
    case = FX["cases"][name]
    res = _run(case)
    exp = case["expected"]
    for rname, field in FIELDS.items():
        want = exp[rname]
        got = getattr(res, field)
        if field in ("cmh", "cmh_p") and res.method == "PETO":
            continue
        if want is None:
            assert math.isnan(got), (rname, got)
        else:
            assert got == pytest.approx(want, rel=RTOL, abs=1e-300), (rname, got, want)
    if exp["k.pos"] is not None:
        assert res.k_pos == exp["k.pos"]
    np.testing.assert_allclose(res.yi, as_array(exp["yi"]), rtol=RTOL)
    np.testing.assert_allclose(res.vi, as_array(exp["vi"]), rtol=RTOL)
    np.testing.assert_allclose(res.weights, as_array(exp["weights"]), rtol=RTOL, atol=1e-12)
    assert res.q_df == exp["k.yi"] - 1


def test_documented_values():
    # metafor's help page of rma.mh: dat.bcg, OR: -0.4734 (se 0.0410); CMH = 135.6889;
    # Tarone = 171.7567 (df = 12); RR: -0.4537.
    case = FX["cases"]["bcg_mh_OR"]
    res = _run(case)
    assert round(res.estimate, 4) == -0.4734 and round(res.se, 4) == 0.0410
    assert round(res.cmh, 4) == 135.6889 and round(res.tarone, 4) == 171.7567
    assert "Tarone" in res.summary() and res.to_frame().shape == (1, 24)
    assert "MHResult" in res._repr_html_()


def test_zero_arm_warns_and_gives_nan():
    case = FX["cases"]["nielweise2007_zeroarm_mh_OR"]
    frame = pd.DataFrame({c: as_array(v) for c, v in case["data"].items()})
    with pytest.warns(StatisticalWarning, match="undefined"):
        res = evidence.mantel_haenszel(frame, ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    assert math.isnan(res.estimate) and math.isnan(res.q)


def test_sheet_columns_and_pool_groups():
    case = FX["cases"]["bcg_mh_RR"]
    frame = pd.DataFrame(
        {
            "events_int": case["data"]["ai"],
            "n_int": case["data"]["n1i"],
            "events_ctrl": case["data"]["ci"],
            "n_ctrl": case["data"]["n2i"],
        }
    )
    res = evidence.mantel_haenszel(frame, measure="RR")
    assert res.estimate == pytest.approx(case["expected"]["beta"], rel=RTOL)
    two = pd.concat([frame.assign(g="a"), frame.iloc[:5].assign(g="b")], ignore_index=True)
    out = evidence.pool_groups(two, "g", method="MH", measure="RR")
    assert list(out["g"]) == ["a", "b"] and list(out["k"]) == [13, 5]
    assert out["estimate"].iloc[0] == pytest.approx(case["expected"]["beta"], rel=RTOL)
    single = evidence.mantel_haenszel(frame.iloc[:5], measure="RR")
    assert out["estimate"].iloc[1] == pytest.approx(single.estimate, rel=1e-14)
    peto = evidence.pool_groups(two, "g", method="PETO")
    assert peto["estimate"].iloc[0] == pytest.approx(
        FX["cases"]["bcg_peto"]["expected"]["beta"], rel=RTOL
    )
    assert list(peto["method"]) == ["PETO", "PETO"]


def test_bad_input():
    frame = pd.DataFrame({"a": [1, 2], "n1": [10, 1], "c": [0, 3], "n2": [10, 12]})
    with pytest.raises(ValidationError, match=r"column 'a' \(argument 'ai'\) is larger than"):
        evidence.mantel_haenszel(frame, ai="a", n1i="n1", ci="c", n2i="n2")
    with pytest.raises(InvalidParameterError, match="'measure' argument of mantel_haenszel"):
        evidence.mantel_haenszel(frame, measure="SMD", ai="a", n1i="n1", ci="c", n2i="n2")
    with pytest.raises(InvalidParameterError, match="'ci' argument"):
        evidence.mantel_haenszel(frame, ai="a", n1i="n1", n2i="n2")
    with pytest.raises(InvalidParameterError, match="'to' argument of peto"):
        evidence.peto(frame, ai="a", n1i="n1", ci="c", n2i="n2", to="sometimes")
    with pytest.raises(InvalidParameterError, match="'x1i' argument of mantel_haenszel"):
        evidence.mantel_haenszel(frame, ai="a", n1i="n1", ci="c", n2i="n2", x1i="a")
    none = pd.DataFrame({"a": [0, 0], "n1": [10, 8], "c": [0, 0], "n2": [10, 12]})
    with pytest.raises(ValidationError, match="never occurred"):
        evidence.peto(none, ai="a", n1i="n1", ci="c", n2i="n2")
    with pytest.raises(InvalidParameterError, match="'correct' argument of pool_groups"):
        evidence.pool_groups(
            frame.assign(g=1), "g", method="PETO", ai="a", n1i="n1", ci="c", n2i="n2", correct=True
        )
    with pytest.raises(InvalidParameterError, match="pool_groups"):
        evidence.pool_groups(frame.assign(g=1, yi=0.1, vi=0.1), "g", ai="a")


def test_pool_groups_keeps_a_group_without_tables():
    case = FX["cases"]["bcg_mh_OR"]
    frame = pd.DataFrame({c: as_array(v) for c, v in case["data"].items()}).assign(g="a")
    empty = frame.iloc[:2].assign(g="b", ai=np.nan)
    data = pd.concat([frame, empty], ignore_index=True)
    with pytest.warns(StatisticalWarning, match="no complete table"):
        out = evidence.pool_groups(data, "g", method="MH", ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    assert list(out["k"]) == [13, 0] and math.isnan(out["estimate"].iloc[1])
    assert out["estimate"].iloc[0] == pytest.approx(case["expected"]["beta"], rel=RTOL)
    with pytest.raises(InvalidParameterError, match="'ci_method' argument of pool_groups"):
        evidence.pool_groups(
            data, "g", method="MH", ci_method="hksj", ai="ai", n1i="n1i", ci="ci", n2i="n2i"
        )


def test_risk_difference_without_events_has_no_test():
    # every table double-zero: MH RD = 0 with se 0 (metafor: zval NaN, CI [0, 0]); OR undefined
    none = pd.DataFrame({"a": [0, 0], "n1": [10, 8], "c": [0, 0], "n2": [10, 12]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        rd = evidence.mantel_haenszel(none, measure="RD", ai="a", n1i="n1", ci="c", n2i="n2")
        odds = evidence.mantel_haenszel(none, ai="a", n1i="n1", ci="c", n2i="n2")
    assert rd.estimate == 0 and rd.se == 0 and math.isnan(rd.p_value)
    assert rd.ci_low == rd.ci_high == 0 and rd.k_yi == 0 and math.isnan(rd.q)
    assert math.isnan(odds.estimate) and math.isnan(odds.cmh)


def test_pool_groups_order_keys_and_equality_with_single_calls():
    case = FX["cases"]["li2007_mh_OR"]
    base = pd.DataFrame({c: as_array(v) for c, v in case["data"].items()})
    keys = np.array(["z", "a", None, "m"] * 6, dtype=object)[: len(base)]
    data = base.assign(g=keys)
    out = evidence.pool_groups(data, "g", method="MH", ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    assert list(out["g"][:3]) == ["a", "m", "z"] and pd.isna(out["g"].iloc[3])
    for _, row in out.iterrows():
        part = data[data["g"].isna()] if pd.isna(row["g"]) else data[data["g"] == row["g"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            single = evidence.mantel_haenszel(part, ai="ai", n1i="n1i", ci="ci", n2i="n2i")
        assert row["estimate"] == single.estimate and row["q"] == single.q
        assert row["k"] == single.k == len(part)


# --------------------------------------------------------------------------- pool(method=)
def _pool_args(case):
    args = dict(case["args"])
    for key in ("add", "to", "drop00"):
        if isinstance(args.get(key), list):
            args[key] = tuple(args[key])
    return args


@pytest.mark.parametrize("name", EXPECTED)
def test_pool_dispatch_matches_metafor(name):
    # evidence.pool(data, method="MH"/"PETO", ...) is rma.mh() / rma.peto()
    case = FX["cases"][name]
    frame = pd.DataFrame({c: as_array(v) for c, v in case["data"].items()})
    method = "PETO" if "peto" in case["call"] else "MH"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        res = evidence.pool(
            frame, method=method, **{c: c for c in case["data"]}, **_pool_args(case)
        )
    assert isinstance(res, evidence.MHResult) and res.method == method
    exp = case["expected"]
    for rname, field in FIELDS.items():
        if field in ("cmh", "cmh_p") and method == "PETO":
            continue
        want, got = exp[rname], getattr(res, field)
        if want is None:
            assert math.isnan(got), (rname, got)
        else:
            assert got == pytest.approx(want, rel=RTOL, abs=1e-300), (rname, got, want)
    np.testing.assert_allclose(res.weights, as_array(exp["weights"]), rtol=RTOL, atol=1e-12)


GX = load_fixture("mh_groups")


def _yusuf():
    d = GX["data"]
    return pd.DataFrame(
        {
            "table": d["table"],
            "trial": d["trial"],
            # the study sheet's column names: pool() and pool_groups() read them by default
            "events_int": as_array(d["ai"]),
            "n_int": as_array(d["n1i"]),
            "events_ctrl": as_array(d["ci"]),
            "n_ctrl": as_array(d["n2i"]),
        }
    )


def test_groups_fixture_cases():
    assert sorted(GX["cases"]) == sorted(
        [
            "mh_OR",
            "mh_RR",
            "mh_RD",
            "peto",
            "mh_OR_drop00",
            "mh_RD_drop00",
            "mh_RR_add",
            "peto_level90",
        ]
    )
    assert GX["meta"]["metafor"] == "3.8.1" and GX["dataset"] == "dat.yusuf1985"
    frame = _yusuf()
    # the dataset has double-zero trials and trials without counts: the rules are exercised
    both = (frame["events_int"] == 0) & (frame["events_ctrl"] == 0)
    assert both.sum() == 11 and frame["events_int"].isna().sum() == 12


@pytest.mark.parametrize("name", sorted(GX["cases"]))
def test_pool_groups_matches_metafor_per_table(name):
    # pool_groups(data, "table", method="MH"/"PETO") = rma.mh()/rma.peto() on each table of
    # dat.yusuf1985, and = pool(table's rows, method=...) row by row (weights included)
    case = GX["cases"][name]
    frame = _yusuf()
    args = _pool_args(case)
    method = args.pop("method")
    level = args.pop("level", 0.95)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        out = evidence.pool_groups(frame, "table", method=method, level=level, **args)
    assert list(out["table"]) == sorted(case["by_table"])
    for _, row in out.iterrows():
        exp = case["by_table"][row["table"]]
        part = frame[frame["table"] == row["table"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            single = evidence.pool(part, method=method, level=level, **args)
        for rname, field in FIELDS.items():
            if field in ("cmh", "cmh_p") and method == "PETO":
                continue
            want = exp[rname]
            for got in (row[field], getattr(single, field)):
                if want is None:
                    assert math.isnan(got), (row["table"], rname, got)
                else:
                    assert got == pytest.approx(want, rel=1e-10, abs=1e-300), (rname, got)
        if exp["k.pos"] is not None:
            assert single.k_pos == exp["k.pos"]
        np.testing.assert_allclose(single.weights, as_array(exp["weights"]), rtol=1e-10, atol=1e-12)


def test_pool_bad_input_names_the_argument():
    frame = _yusuf()
    with pytest.raises(InvalidParameterError, match="'measure' argument of pool\\(\\)"):
        evidence.pool(frame, method="MH", measure="SMD")
    with pytest.raises(InvalidParameterError, match="must be 'OR' with method='PETO'"):
        evidence.pool(frame, method="PETO", measure="RR")
    with pytest.raises(InvalidParameterError, match="'ci_method' argument of pool\\(\\)"):
        evidence.pool(frame, method="MH", ci_method="hksj")
    with pytest.raises(InvalidParameterError, match="'vi' argument is not used"):
        evidence.pool(frame, frame["n_int"], method="MH")
    with pytest.raises(InvalidParameterError, match="first argument of pool\\(\\) must be a Data"):
        evidence.pool([0.1, 0.2], method="MH")
    with pytest.raises(
        InvalidParameterError, match="'measure' argument of pool\\(\\) is used only"
    ):
        evidence.pool([0.1, 0.2], [0.1, 0.2], measure="OR")
    with pytest.raises(InvalidParameterError, match="'vi' argument"):
        evidence.pool([0.1, 0.2])
    # effect sizes only (yi/vi, no counts): a clear error, not a KeyError
    only_effects = pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.01, 0.02]})
    with pytest.raises(InvalidParameterError, match="needs count columns.*'events_int'"):
        evidence.pool(only_effects, method="MH")
    with pytest.raises(InvalidParameterError, match="needs count columns"):
        evidence.pool_groups(only_effects.assign(g=1), "g", method="PETO")
    with pytest.raises(
        InvalidParameterError, match="'vi' argument of pool_groups\\(\\) is not used"
    ):
        evidence.pool_groups(frame, "table", method="MH", vi="n_int")
    with pytest.raises(InvalidParameterError, match="'ai' argument of pool\\(\\) names column"):
        evidence.pool(frame, method="MH", ai="nope", n1i="n_int", ci="events_ctrl", n2i="n_ctrl")
