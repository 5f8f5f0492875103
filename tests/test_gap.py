"""Tests of grading.gap: phases, counts, common scale, promise selection, verdict rules, harms,
priors, regulatory facts.  Every expected number is computed by hand in the test."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from evidence.errors import ValidationError
from grading.certainty import grade
from grading.common_scale import log_rr_to_log_or, pooled_sd, to_common_smd
from grading.gap import CHINN, VERDICT_RULES, gap_summary, to_smd
from grading.harms import harms_summary


def _studies():
    base = dict(indication="acute ischaemic stroke", outcome_kind="benefit", intervention="EV")
    rows = [
        dict(
            base,
            study_id="A1",
            outcome="infarct volume",
            stream="animal",
            model="rat",
            randomised=True,
            data_type="estimate",
            measure="SMD",
            yi=-1.0,
            vi=0.04,
            outcome_direction="higher_is_worse",
        ),
        dict(
            base,
            study_id="A2",
            outcome="infarct volume",
            stream="animal",
            model="mouse",
            randomised=True,
            data_type="estimate",
            measure="SMD",
            yi=-1.0,
            vi=0.04,
            outcome_direction="higher_is_worse",
        ),
        dict(
            base,
            study_id="H1",
            outcome="death",
            stream="human",
            model="phase_2",
            randomised=True,
            data_type="estimate",
            measure="OR",
            yi=math.log(0.5),
            vi=0.09,
            outcome_direction="higher_is_worse",
        ),
        dict(
            base,
            study_id="NCT9",
            outcome="mRS",
            stream="human",
            model="phase_3",
            data_type="none",
            registry_id="NCT9",
            yi=math.nan,
            vi=math.nan,
        ),
        dict(
            base,
            study_id="V1",
            outcome="viability",
            stream="in_vitro",
            model="cell_culture",
            data_type="none",
            yi=math.nan,
            vi=math.nan,
        ),
        dict(
            indication="acne scars",
            outcome_kind="benefit",
            study_id="C1",
            outcome="score",
            stream="animal",
            model="rat",
            data_type="estimate",
            measure="MD",
            yi=-2.0,
            vi=0.5,
        ),
    ]
    return pd.DataFrame(rows)


def _row(st, ind="acute ischaemic stroke", **kw):
    return gap_summary(st, grade(st), **kw).set_index("indication").loc[ind]


# ------------------------------------------------------------------ common scale


def test_to_smd_conversions():
    assert to_smd("SMD", -0.4) == (-0.4, "SMD as reported")
    v, how = to_smd("OR", math.log(2))
    assert v == pytest.approx(math.log(2) / 1.8138, rel=1e-4) and "Chinn" in how
    assert "Hasselblad" in how
    assert math.isclose(CHINN, math.sqrt(3) / math.pi)
    v, how = to_smd("RR", 0.3)
    assert math.isnan(v) and "without a control risk" in how
    assert math.isnan(to_smd("PR", 0.3)[0]) and "no comparator" in to_smd("PR", 0.3)[1]
    assert math.isnan(to_smd("MD", 2.0)[0]) and "standard deviations" in to_smd("MD", 2.0)[1]


def test_rr_to_or_with_control_risk():
    # RR 0.5 at p0 = 0.4: treated risk 0.2; OR = (0.2/0.8)/(0.4/0.6) = 0.375
    assert math.exp(log_rr_to_log_or(math.log(0.5), 0.4)) == pytest.approx(0.375, rel=1e-12)
    v, how = to_common_smd("RR", math.log(0.5), control_risk=0.4)
    assert v == pytest.approx(math.log(0.375) * math.sqrt(3) / math.pi, rel=1e-12)
    assert "RR 0.5 -> OR 0.375" in how and "Zhang" in how and "Chinn" in how
    # RR x p0 >= 1: no odds ratio
    assert math.isnan(to_common_smd("RR", math.log(3.0), control_risk=0.5)[0])


def test_md_to_smd_with_pooled_sd():
    recs = pd.DataFrame(
        {"sd_int": [2.0, None], "sd_ctrl": [4.0, 1.0], "n_int": [11, 5], "n_ctrl": [11, 5]}
    )
    sd, n = pooled_sd(recs)
    # sqrt((10 * 4 + 10 * 16) / 20) = sqrt(10); the record without sd_int is not used
    assert n == 1 and sd == pytest.approx(math.sqrt(10), rel=1e-12)
    v, how = to_common_smd("MD", 3.0, sd=sd)
    assert v == pytest.approx(3.0 / math.sqrt(10), rel=1e-12) and "pooled SD" in how


def test_gap_md_body_converted_when_sds_known():
    rows = [
        dict(
            indication="knee",
            outcome="pain",
            outcome_kind="benefit",
            stream="animal",
            model="rat",
            study_id=f"R{i}",
            data_type="continuous",
            measure="MD",
            mean_int=m,
            mean_ctrl=5.0,
            sd_int=2.0,
            sd_ctrl=4.0,
            n_int=11,
            n_ctrl=11,
            outcome_direction="higher_is_worse",
        )
        for i, m in enumerate((2.0, 2.0))
    ]
    from evidence.study_effects import study_effects

    st = study_effects(pd.DataFrame(rows))
    r = _row(st, "knee")
    # MD -3 (identical studies), pooled SD sqrt(10), higher is worse -> +3/sqrt(10)
    assert r["preclinical_smd"] == pytest.approx(3.0 / math.sqrt(10), rel=1e-9)
    assert "pooled SD" in r["preclinical_note"]


# ------------------------------------------------------------------ the stroke row


def test_gap_summary_stroke_row():
    st = _studies()
    reg = pd.DataFrame(
        [
            dict(
                indication="acute ischaemic stroke",
                jurisdiction="US FDA",
                status="IND_cleared",
                date="2024-01-16",
                detail="AB126",
                citation_key="arunabio2024ab126ind",
            ),
            dict(
                indication="all",
                jurisdiction="US",
                status="safety_notice",
                date="2019-12-06",
                detail="",
                citation_key="fda2019",
            ),
        ]
    )
    out = gap_summary(st, grade(st), regulatory=reg)
    r = out.set_index("indication").loc["acute ischaemic stroke"]
    assert r["indication_label"] == "acute ischaemic stroke"
    assert r["highest_phase_with_results"] == "phase 2"
    assert r["highest_phase_registered"] == "phase 3"
    assert (r["n_in_vitro"], r["n_animal"], r["n_human"]) == (1, 2, 2)
    assert r["n_human_registered_no_results"] == 1
    assert r["models"] == "cell culture: 1; mouse: 1; phase 2: 1; phase 3: 1; rat: 1"
    assert r["preclinical_smd"] == pytest.approx(1.0, rel=1e-9)
    assert r["preclinical_outcome_level"] == "not recorded"
    assert "outcome level not recorded" in r["preclinical_note"]
    assert r["human_smd"] == pytest.approx(-math.log(0.5) * math.sqrt(3) / math.pi, rel=1e-12)
    assert r["attenuation"] == pytest.approx(r["human_smd"] / r["preclinical_smd"], rel=1e-12)
    assert r["verdict"] == "human efficacy reported, concordant"
    assert "infarct volume SMD +1.00" in r["narrative"] and "death SMD +0.38" in r["narrative"]
    # only the indication's own entry; the 'all' notice is listed once in attrs, words not keys
    assert r["regulatory_status"] == "US FDA: IND cleared (2024-01-16)"
    assert out.attrs["regulatory_review_wide"] == [
        {"entry": "US: safety notice (2019-12-06)", "citation_key": "fda2019"}
    ]
    # prior from the highest phase WITH RESULTS (phase 2), not the registered phase 3:
    # stroke -> Neurology (assumed), BIO 2011-2020 Fig. 5b LOA from phase II 12.3%
    assert r["prior_phase"] == "phase 2" and r["prior_area"] == "Neurology"
    assert bool(r["prior_area_assumed"]) is True
    assert r["prior_loa"] == pytest.approx(0.123)
    assert "Clinical Development Success Rates" in r["prior_source"]
    assert "assumed" in r["prior_source"] and "not a forecast" in r["prior_source"]
    assert "grading-verification" not in r["prior_source"]


def test_no_empty_cell_without_a_note():
    st = _studies()
    out = gap_summary(st, grade(st))
    for _, r in out.iterrows():
        for col, note in (
            ("preclinical_smd", "preclinical_note"),
            ("human_smd", "human_note"),
            ("attenuation", "attenuation_note"),
            ("prior_loa", "prior_source"),
        ):
            if math.isnan(r[col]):
                assert isinstance(r[note], str) and r[note]
        for col in out.columns:
            if col in (
                "n_harm_events",
                "n_harm_exposed",
                "preclinical_smd",
                "human_smd",
                "attenuation",
                "prior_loa",
            ):
                continue
            assert not pd.isna(r[col]), col


# ------------------------------------------------------------------ promise by outcome level


def _levels_sheet(levels=True):
    base = dict(
        indication="kidney",
        outcome_kind="benefit",
        stream="animal",
        model="rat",
        data_type="estimate",
        measure="SMD",
        outcome_direction="higher_is_better",
    )
    rows = [
        dict(base, study_id=f"S{i}", outcome="IL-10", yi=2.0, vi=0.1, outcome_level="mechanistic")
        for i in range(4)
    ]
    rows += [
        dict(
            base,
            study_id=f"F{i}",
            outcome="creatinine clearance",
            yi=0.5,
            vi=0.1,
            outcome_level="functional",
        )
        for i in range(2)
    ]
    st = pd.DataFrame(rows)
    if not levels:
        st = st.drop(columns="outcome_level")
    return st


def test_promise_uses_most_clinical_level_with_estimate():
    r = _row(_levels_sheet(), "kidney")
    assert r["preclinical_outcome"] == "creatinine clearance"
    assert r["preclinical_outcome_level"] == "functional"
    assert r["preclinical_smd"] == pytest.approx(0.5, rel=1e-9)
    assert "functional outcome" in r["preclinical_note"]


def test_promise_without_levels_takes_largest_body():
    r = _row(_levels_sheet(levels=False), "kidney")
    assert r["preclinical_outcome"] == "IL-10" and r["preclinical_smd"] == pytest.approx(2.0)
    assert r["preclinical_outcome_level"] == "not recorded"


def test_no_evidence_body_is_never_a_result():
    st = _studies()
    g = grade(st)
    g["evidence_status"] = "rated"
    g.loc[g["stream"] == "human", "evidence_status"] = "no evidence"
    r = gap_summary(st, g).set_index("indication").loc["acute ischaemic stroke"]
    assert math.isnan(r["human_smd"]) and r["certainty_human"] == "not rated: no pooled result"


# ------------------------------------------------------------------ verdict rules


def _sheet(*records):
    base = dict(
        indication="x", outcome_kind="benefit", outcome="o", outcome_direction="higher_is_better"
    )
    return pd.DataFrame([dict(base, study_id=f"R{i}", **r) for i, r in enumerate(records)])


ANIMAL_UP = dict(stream="animal", model="rat", data_type="estimate", measure="SMD", yi=1.0, vi=0.05)
HUMAN_OR = dict(
    stream="human", model="phase_2", data_type="estimate", measure="OR", vi=0.1, randomised=True
)


@pytest.mark.parametrize(
    "records, verdict",
    [
        ((ANIMAL_UP,), "preclinical only"),
        (
            (
                ANIMAL_UP,
                dict(
                    stream="human",
                    model="phase_1",
                    data_type="single_arm",
                    measure="PR",
                    outcome_kind="harm",
                    outcome="AE",
                    events_int=0,
                    n_int=10,
                ),
            ),
            "human safety data only",
        ),
        ((ANIMAL_UP, dict(HUMAN_OR, yi=0.4)), "human efficacy reported, concordant"),
        ((ANIMAL_UP, dict(HUMAN_OR, yi=-0.4)), "human efficacy reported, discordant"),
        (
            (dict(ANIMAL_UP, measure="MD"), dict(HUMAN_OR, yi=0.4)),
            "human efficacy reported, not comparable",
        ),
        (
            (
                ANIMAL_UP,
                dict(
                    stream="human",
                    model="phase_2",
                    data_type="single_arm",
                    measure="PR",
                    events_int=6,
                    n_int=10,
                    yi=0.6,
                    vi=0.024,
                ),
            ),
            "human efficacy uncontrolled only",
        ),
        (
            (ANIMAL_UP, dict(stream="human", model="phase_1_2", data_type="none")),
            "human efficacy untested beyond phase 1",
        ),
        (
            (ANIMAL_UP, dict(stream="human", model="phase_3", data_type="none")),
            "human efficacy not reported",
        ),
        (
            (
                ANIMAL_UP,
                dict(
                    stream="human",
                    model="case_report",
                    data_type="none",
                    outcome_kind="harm",
                    outcome="granuloma",
                    n_total=1,
                ),
            ),
            "harm signal",
        ),
        (
            (
                ANIMAL_UP,
                dict(HUMAN_OR, yi=0.4),
                dict(
                    stream="human",
                    model="phase_2",
                    data_type="single_arm",
                    measure="PR",
                    outcome_kind="harm",
                    outcome="SAE",
                    events_int=2,
                    n_int=20,
                ),
            ),
            "harm signal",
        ),
    ],
)
def test_verdict_rules(records, verdict):
    r = _row(_sheet(*records), "x")
    assert r["verdict"] == verdict
    assert verdict in dict(VERDICT_RULES)
    if verdict != "harm signal":
        assert r["efficacy_verdict"] == verdict
    assert r["narrative"].startswith("Animal: o SMD +1.00") or "MD" in r["narrative"]


def test_harm_signal_keeps_efficacy_verdict_and_counts():
    st = _sheet(
        ANIMAL_UP,
        dict(HUMAN_OR, yi=0.4),
        dict(
            stream="human",
            model="phase_2",
            data_type="single_arm",
            measure="PR",
            outcome_kind="harm",
            outcome="SAE",
            events_int=2,
            n_int=20,
            intervention_source="adipose MSC",
        ),
    )
    r = _row(st, "x")
    assert r["efficacy_verdict"] == "human efficacy reported, concordant"
    assert (r["n_harm_records"], r["n_harm_events"], r["n_harm_exposed"]) == (1, 2.0, 20.0)
    assert r["harm_products"] == "adipose MSC" and "Harms: 2 events in 20" in r["narrative"]


def test_narrative_for_registered_trials_only():
    st = _sheet(ANIMAL_UP, *[dict(stream="human", model="phase_1_2", data_type="none")] * 3)
    r = _row(st, "x")
    # issue 11 engine: a controlled animal experiment starts high; its risk of bias is not
    # recorded, so 'not assessed' (no step) and the body is provisional, which the narrative
    # says; high within the animal stream, low for humans (-2 for translation)
    g = grade(st)
    a = g[g["stream"] == "animal"].iloc[0]
    assert (a["certainty_within_stream"], a["certainty"], a["evidence_status"]) == (
        "high",
        "low",
        "provisional",
    )
    assert r["certainty_animal"] == "high"
    assert r["narrative"] == (
        "Animal: o SMD +1.00 (benefit positive; outcome level not recorded), high "
        "certainty in animals, low for humans (provisional), 1 record. Human (3 records): no "
        "controlled human efficacy result reported; 3 registered trials without results; "
        "highest phase registered: phase 1/2."
    )
    assert r["human_note"] == (
        "no controlled human efficacy result reported; 3 registered trials without results"
    )


# ------------------------------------------------------------------ harms


def test_harms_summary_per_indication_and_review_wide():
    st = pd.DataFrame(
        [
            dict(
                indication="skin",
                stream="human",
                model="case_series",
                data_type="none",
                outcome_kind="harm",
                outcome="granulomas",
                n_total=8,
                intervention_source="x",
            ),
            dict(
                indication="skin",
                stream="human",
                model="phase_1",
                data_type="single_arm",
                measure="PR",
                outcome_kind="harm",
                outcome="SAE",
                events_int=0,
                n_int=28,
            ),
            dict(
                indication="lung",
                stream="human",
                model="phase_2",
                data_type="single_arm",
                measure="PR",
                outcome_kind="harm",
                outcome="SAE",
                events_int=1,
                n_int=22,
            ),
            dict(
                indication="lung",
                stream="human",
                model="phase_2",
                data_type="none",
                outcome_kind="benefit",
                outcome="FEV1",
            ),
        ]
    )
    h = harms_summary(st).set_index("indication")
    assert list(h.index) == ["lung", "skin", "(whole review)"]
    s = h.loc["skin"]
    assert (s["n_harm_records"], s["n_harm_reports"], s["n_harm_trial_records"]) == (2, 1, 1)
    assert bool(s["harm_signal"]) and "case series: granulomas (8 patients)" in s["harm_text"]
    assert "0 events in 28 participants" in s["harm_text"]
    assert bool(h.loc["lung", "harm_signal"]) and h.loc["lung", "n_harm_events"] == 1
    w = h.loc["(whole review)"]
    assert (w["n_harm_records"], w["n_harm_events"], w["n_harm_exposed"]) == (3, 1.0, 50.0)


# ------------------------------------------------------------------ priors


def test_registered_only_programme_gets_no_prior():
    st = _sheet(ANIMAL_UP, dict(stream="human", model="phase_3", data_type="none"))
    r = _row(st, "x")
    assert math.isnan(r["prior_loa"]) and r["prior_phase"] == "none"
    assert "registered trials alone do not count" in r["prior_source"]


def test_priors_monotone_in_phase():
    values = []
    for phase in ("phase_1", "phase_1_2", "phase_2", "phase_2_3", "phase_3"):
        st = _sheet(ANIMAL_UP, dict(HUMAN_OR, model=phase, yi=0.4))
        values.append(_row(st, "x")["prior_loa"])
    # all indications, BIO 2021 Fig. 5b: 7.9, 7.9, 15.1, 15.1, 52.4 %
    assert values == pytest.approx([0.079, 0.079, 0.151, 0.151, 0.524])
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))


def test_non_therapeutic_and_non_monotone_schemes_get_no_prior():
    st = _sheet(
        dict(
            stream="human",
            model="phase_1",
            data_type="single_arm",
            measure="PR",
            outcome_kind="harm",
            outcome="AE",
            events_int=0,
            n_int=10,
        )
    )
    r = _row(st, "x")
    assert r["prior_phase"] == "not applicable" and math.isnan(r["prior_loa"])
    st = _sheet(ANIMAL_UP, dict(HUMAN_OR, yi=0.4))
    bad = (
        'indication_area = {}\n[loa_by_area."All indications"]\n'
        "phase_1 = 0.5\nphase_2 = 0.1\nphase_3 = 0.6\nnda_bla = 0.9\n"
    )
    r = _row(st, "x", scheme=bad)
    assert math.isnan(r["prior_loa"]) and "not monotone" in r["prior_source"]


def test_gap_trials_of_unstated_phase_get_no_prior():
    st = _studies()
    st.loc[st["study_id"] == "H1", "model"] = "clinical_trial"
    st = st[st["study_id"] != "NCT9"]
    r = _row(st)
    assert r["prior_phase"] == "none" and math.isnan(r["prior_loa"])
    assert r["n_human_trials_unknown_phase"] == 1
    assert r["highest_phase_registered"] == "none"


def test_gap_errors():
    with pytest.raises(ValidationError, match="'model'"):
        gap_summary(_studies().drop(columns="model"), grade(_studies()))
    with pytest.raises(ValidationError, match="'status'"):
        gap_summary(
            _studies(),
            grade(_studies()),
            regulatory=pd.DataFrame({"indication": ["x"], "jurisdiction": ["EU"]}),
        )


def test_indication_matching():
    from grading.gap import indication_matches as m

    assert m("stroke", "acute ischaemic stroke") and m("covid19_ards", "COVID19 ARDS")
    assert m("all", "hair_loss") and m("all_indications", "stroke")
    assert not m("car", "scar") and not m("ards", "hair loss")


def test_human_labels():
    from grading.labels import indication_label

    assert indication_label("ali_ards") == "ALI / ARDS"
    assert indication_label("covid19_ards") == "COVID-19 ARDS"
    assert indication_label("acne_scars") == "Acne scars"
    assert indication_label("acute ischaemic stroke") == "acute ischaemic stroke"


def test_human_result_names_its_comparison_and_its_own_certainty():
    # a dose comparison is not a comparison with no treatment: the row and the narrative
    # say what was compared, and the certainty is that body's (not the best human one)
    st = _sheet(ANIMAL_UP, dict(HUMAN_OR, yi=0.4, intervention="EV 10^10", comparator="EV 10^9"))
    g = grade(st)
    h = g[g["stream"] == "human"].iloc[0]
    r = _row(st, "x")
    assert r["human_comparison"] == "EV 10^10 vs EV 10^9"
    cert = (
        h["certainty"]
        + " certainty"
        + (" (provisional)" if h["evidence_status"] == "provisional" else "")
    )
    assert r["human_certainty"] == cert
    assert f"(from OR; EV 10^10 vs EV 10^9), {cert}" in r["narrative"]
    # without a comparator in the sheet: nothing invented
    r = _row(_sheet(ANIMAL_UP, dict(HUMAN_OR, yi=0.4)), "x")
    assert r["human_comparison"] == "" and "(from OR), " in r["narrative"]


def test_single_group_example_is_the_observed_proportion_with_wilson_ci():
    # issue 18 item 3: 0 of 28 reads 0% (95% CI 0% to 12%), not the 0.5-corrected 0.02
    import warnings

    from evidence.study_effects import study_effects

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st = study_effects(
            _sheet(
                ANIMAL_UP,
                dict(
                    stream="human",
                    model="phase_2",
                    data_type="single_arm",
                    measure="PR",
                    outcome="relapse",
                    events_int=0,
                    n_int=28,
                ),
            )
        )
    r = _row(st, "x")
    assert r["verdict"] == "human efficacy uncontrolled only"
    assert (
        "1 single-group result without a comparator (e.g. 'relapse' 0 of 28: 0% (95% CI "
        "0% to 12%, Wilson score))"
    ) in r["human_note"]
