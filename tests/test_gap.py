"""Tests of grading.gap: phases, counts, SMD conversion, attenuation, priors, regulatory."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from evidence.errors import ValidationError
from grading.certainty import grade
from grading.gap import CHINN, gap_summary, to_smd


def _studies():
    base = dict(indication="acute ischaemic stroke", outcome_kind="benefit", intervention="EV")
    rows = [
        dict(base, study_id="A1", outcome="infarct volume", stream="animal", model="rat",
             randomised=True, data_type="estimate", measure="SMD", yi=-1.0, vi=0.04,
             outcome_direction="higher_is_worse"),
        dict(base, study_id="A2", outcome="infarct volume", stream="animal", model="mouse",
             randomised=True, data_type="estimate", measure="SMD", yi=-1.0, vi=0.04,
             outcome_direction="higher_is_worse"),
        dict(base, study_id="H1", outcome="death", stream="human", model="phase_2",
             randomised=True, data_type="estimate", measure="OR", yi=math.log(0.5), vi=0.09,
             outcome_direction="higher_is_worse"),
        dict(base, study_id="NCT9", outcome="mRS", stream="human", model="phase_3",
             data_type="none", registry_id="NCT9", yi=math.nan, vi=math.nan),
        dict(base, study_id="V1", outcome="viability", stream="in_vitro", model="cell_culture",
             data_type="none", yi=math.nan, vi=math.nan),
        dict(indication="acne scars", outcome_kind="benefit", study_id="C1", outcome="score",
             stream="animal", model="rat", data_type="estimate", measure="MD", yi=-2.0,
             vi=0.5),
    ]
    return pd.DataFrame(rows)


def test_to_smd_conversions():
    assert to_smd("SMD", -0.4) == (-0.4, "SMD")
    v, how = to_smd("OR", math.log(2))
    assert v == pytest.approx(math.log(2) / 1.8138, rel=1e-4) and "Chinn" in how
    assert math.isclose(CHINN, math.sqrt(3) / math.pi)
    assert math.isnan(to_smd("RR", 0.3)[0]) and "no conversion" in to_smd("RR", 0.3)[1]


def test_gap_summary_stroke_row():
    st = _studies()
    g = grade(st)
    reg = pd.DataFrame([dict(indication="acute ischaemic stroke", jurisdiction="US FDA",
                             status="IND cleared", date="2024-01-16", detail="AB126",
                             citation_key="arunabio2024ab126ind")])
    out = gap_summary(st, g, regulatory=reg)
    r = out.set_index("indication").loc["acute ischaemic stroke"]
    assert r["highest_phase_with_results"] == "phase_2"
    assert r["highest_phase_registered"] == "phase_3"
    assert (r["n_in_vitro"], r["n_animal"], r["n_human"]) == (1, 2, 2)
    assert r["n_human_registered_no_results"] == 1
    assert r["models"] == "cell_culture: 1; mouse: 1; phase_2: 1; phase_3: 1; rat: 1"
    # animal pooled SMD -1.0 (two identical studies), higher is worse -> benefit +1.0
    assert r["preclinical_smd"] == pytest.approx(1.0, rel=1e-9)
    # human OR 0.5 -> log OR x sqrt(3)/pi, flipped because higher is worse
    assert r["human_smd"] == pytest.approx(-math.log(0.5) * math.sqrt(3) / math.pi, rel=1e-12)
    assert r["attenuation"] == pytest.approx(r["human_smd"] / r["preclinical_smd"], rel=1e-12)
    assert "Chinn" in r["human_note"]
    assert r["regulatory_status"] == "US FDA: IND cleared (2024-01-16)"
    assert r["regulatory_citations"] == "arunabio2024ab126ind"
    # highest phase 3, stroke -> Neurology (assumed), BIO 2011-2020 LOA from phase III 46.0%
    assert r["prior_phase"] == "phase_3" and r["prior_area"] == "Neurology"
    assert bool(r["prior_area_assumed"]) is True
    assert r["prior_loa"] == pytest.approx(0.460)
    assert "ASSUMED" in r["prior_source"]


def test_gap_preclinical_only_indication_uses_ineichen_prior():
    st = _studies()
    out = gap_summary(st, grade(st)).set_index("indication")
    r = out.loc["acne scars"]
    assert r["prior_phase"] == "preclinical" and r["prior_loa"] == pytest.approx(0.05)
    assert "Ineichen" in r["prior_source"]
    assert math.isnan(r["preclinical_smd"]) and "MD has no conversion" in r["preclinical_note"]
    assert math.isnan(r["attenuation"]) and pd.isna(r["highest_phase_registered"])


def test_gap_trials_of_unstated_phase_get_no_prior():
    st = _studies()
    st.loc[st["study_id"] == "H1", "model"] = "clinical_trial"
    st = st[st["study_id"] != "NCT9"]
    r = gap_summary(st, grade(st)).set_index("indication").loc["acute ischaemic stroke"]
    assert r["prior_phase"] == "unknown phase" and math.isnan(r["prior_loa"])
    assert r["n_human_trials_unknown_phase"] == 1
    assert pd.isna(r["highest_phase_registered"])


def test_gap_phase_mapping_and_custom_scheme():
    st = _studies()
    st.loc[st["study_id"] == "NCT9", "model"] = "phase_1_2"
    out = gap_summary(st, grade(st), scheme="indication_area = {}\n").set_index("indication")
    r = out.loc["acute ischaemic stroke"]
    # highest is now phase_2 (with results); no area mapping -> all indications, phase II 15.1%
    assert r["prior_phase"] == "phase_2" and r["prior_area"] == "All indications"
    assert r["prior_loa"] == pytest.approx(0.151) and not r["prior_area_assumed"]


def test_gap_errors():
    with pytest.raises(ValidationError, match="'model'"):
        gap_summary(_studies().drop(columns="model"), grade(_studies()))
    with pytest.raises(ValidationError, match="'status'"):
        gap_summary(_studies(), grade(_studies()),
                    regulatory=pd.DataFrame({"indication": ["x"], "jurisdiction": ["EU"]}))


def test_indication_matching():
    from grading.gap import indication_matches as m

    assert m("stroke", "acute ischaemic stroke") and m("covid19_ards", "COVID19 ARDS")
    assert m("all", "hair_loss") and m("all_indications", "stroke")
    assert not m("car", "scar") and not m("ards", "hair loss")
