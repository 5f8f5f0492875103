"""End to end on the bundled exosome review: grade, integrate, gap, claims, tables.

Facts checked (from the lead's brief): no indication reaches High human certainty; stroke's
human evidence is below its animal evidence; every rating's steps add up from its starting
level.  Also: no row is lost between the study sheet and the graded bodies.
"""

from __future__ import annotations

import math
import warnings

import pytest

from grading import (
    audit_claims,
    evidence_profile,
    gap_summary,
    grade,
    integrate_streams,
    summary_of_findings,
    to_html,
)
from grading.domains import ALL_DOMAINS
from grading.scheme import LEVEL_SCORE


@pytest.fixture(scope="module")
def bundle():
    from evidence import load_dataset, study_effects

    studies = load_dataset("exosomes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eff = study_effects(studies)
    grades = grade(eff)
    return {
        "studies": eff,
        "grades": grades,
        "regulatory": load_dataset("exosome_regulatory"),
        "claims": load_dataset("exosome_claims"),
    }


def test_every_body_accounts_for_its_rows(bundle):
    assert bundle["grades"]["k_records"].sum() == len(bundle["studies"])


def test_steps_add_up_from_the_starting_level(bundle):
    g = bundle["grades"]
    g = g[g["evidence_status"] != "no evidence"]
    # 55 bodies with a result (issue 15 data: NCT05523011 carries its published result, two
    # rated bodies where its registry record was one 'no evidence' body)
    assert len(g) == 55
    steps = g[list(ALL_DOMAINS)].sum(axis=1)
    assert (steps == g["total_down"] + g["total_up"]).all()
    expected = (g["starting_level"].map(LEVEL_SCORE) + steps).clip(1, 4)
    assert (g["certainty"].map(LEVEL_SCORE) == expected).all()
    assert (g["certainty_score"].astype(int) == expected).all()
    within = (g["starting_level"].map(LEVEL_SCORE) + steps - g["translational_indirectness"]).clip(
        1, 4
    )
    assert (g["certainty_within_stream"].map(LEVEL_SCORE) == within).all()
    for d in ALL_DOMAINS:  # every rating explains itself
        assert g[f"{d}_reason"].str.len().gt(0).all()
        assert g[f"{d}_source"].str.len().gt(0).all()


def test_no_indication_reaches_high_human_certainty(bundle):
    human = bundle["grades"][bundle["grades"]["stream"] == "human"]
    assert len(human) > 0
    assert (human["certainty"] != "high").all()


def test_stroke_human_evidence_is_below_animal_evidence(bundle):
    g = bundle["grades"]
    stroke = g[g["indication"] == "stroke"]
    human = stroke[(stroke["stream"] == "human") & (stroke["outcome_kind"] == "benefit")]
    animal = stroke[(stroke["stream"] == "animal") & (stroke["outcome_kind"] == "benefit")]
    assert len(human) and len(animal)
    # no human stroke efficacy body has a numeric result; animal bodies do, with a CI that
    # excludes no effect (SCRT 2023 MA: infarct volume SMD -2.05, -2.70 to -1.40, k = 21)
    assert not human["estimable"].any()
    infarct = animal[animal["outcome"] == "infarct volume"].iloc[0]
    assert infarct["estimable"] and infarct["k"] == 21
    assert infarct["estimate"] == pytest.approx(-2.05)
    assert infarct["ci_high"] < 0
    # no human stroke efficacy body is rated: "no evidence", never a certainty level
    assert (human["evidence_status"] == "no evidence").all()
    assert human["certainty"].isna().all() and human["certainty_symbols"].isna().all()
    assert human["no_evidence_reason"].str.startswith("no result to rate").all()
    # the animal body is rated from what was assessed and marked provisional: its risk of
    # bias is not recorded in the sheet, so it is 'not assessed', never 'serious'
    assert infarct["risk_of_bias_judgement"] == "not assessed"
    assert infarct["risk_of_bias"] == 0
    assert infarct["evidence_status"] == "provisional"
    assert "risk of bias not assessed" in infarct["provisional_reason"]
    assert infarct["certainty_within_stream"] == "high"
    assert infarct["certainty"] == "low"  # -2 for translation to humans
    assert infarct["statement"].startswith("In animal models,")
    assert "reduces infarct volume (an improvement)" in infarct["statement"]
    assert infarct["statement_question"].startswith("For people,")
    assert "low certainty" in infarct["statement_question"]


def test_absence_of_evidence_is_not_rated(bundle):
    g = bundle["grades"]
    none = g[g["evidence_status"] == "no evidence"]
    # issue 15 data: MEXCOVID = NCT04276987 and Dehghani 2022 = NCT03384433 merged (their
    # registry-only bodies are gone) and NCT05523011 has its result: 88 - 3
    assert len(none) == 85
    assert none["certainty"].isna().all() and none["certainty_within_stream"].isna().all()
    registered = none[none["no_evidence_reason"].str.contains("registered trial")]
    assert len(registered) == 29
    for d in ALL_DOMAINS:
        assert (none[f"{d}_judgement"] == "not assessed").all()


def test_judgements_are_words_from_the_closed_set(bundle):
    g = bundle["grades"]
    down = {"not serious", "serious", "very serious", "extremely serious", "not assessed"}
    up = {
        "none",
        "large",
        "very large",
        "present",
        "would reduce effect",
        "would suggest spurious effect",
        "not assessed",
    }
    for d in ALL_DOMAINS:
        allowed = up if d in ("large_effect", "dose_response", "plausible_confounding") else down
        assert set(g[f"{d}_judgement"]) <= allowed, d
    # a not-assessed domain never carries a step
    for d in ALL_DOMAINS:
        na = g[f"{d}_judgement"] == "not assessed"
        assert (g.loc[na, d] == 0).all()
    rated = g[g["evidence_status"] != "no evidence"]
    assert set(rated["evidence_status"]) <= {"rated", "provisional"}
    prov = rated[rated["evidence_status"] == "provisional"]
    assert prov["provisional_reason"].str.len().gt(0).all()


def test_sources_name_publications(bundle):
    g = bundle["grades"]
    cols = [c for c in g.columns if c.endswith("_source")]
    text = " ".join(str(v) for c in cols for v in g[c].dropna())
    for bad in ("grading-verification", "[V", "bohrium", ".md"):
        assert bad not in text
    assert "GRADE 6" in text and "Hooijmans" in text


def test_integration_gap_claims_and_tables_run(bundle):
    g = bundle["grades"]
    integ = integrate_streams(g)
    assert set(integ["indication"]) == set(g["indication"])
    assert "demonstrates" not in set(integ["judgement"])
    gap = gap_summary(bundle["studies"], g, regulatory=bundle["regulatory"])
    s = gap.set_index("indication").loc["stroke"]
    assert s["highest_phase_with_results"] == "none"
    assert s["highest_phase_registered"] == "phase 1/2"
    # registered trials without results: no approval base rate, and the reason says why
    assert math.isnan(s["prior_loa"]) and "registered trials alone" in s["prior_source"]
    assert "US: IND cleared (2024-01-16)" in s["regulatory_status"]
    assert "safety notice" not in s["regulatory_status"]  # review-wide facts listed once
    # no human efficacy result: which of the two rules depends on the phases on record
    beyond_1 = s["n_human_trials_unknown_phase"] > 0 or s["highest_phase_registered"] not in (
        "none",
        "phase 1",
        "phase 1/2",
    )
    assert s["verdict"] == (
        "human efficacy not reported" if beyond_1 else "human efficacy untested beyond phase 1"
    )
    assert s["narrative"].startswith("Animal: infarct volume SMD +2.05")
    audit = audit_claims(bundle["claims"], g, studies=bundle["studies"])
    assert len(audit) == len(bundle["claims"])
    assert not audit["verdict"].str.startswith("supported").any()
    c15 = audit.set_index("claim_id").loc["C15"]
    assert c15["human_below_threshold"]
    ep, sof = evidence_profile(g), summary_of_findings(g)
    assert len(ep) == len(g)
    # SoF: bodies with a result only; the others are listed with the reason
    has = g["estimate"].notna()
    assert len(sof) == int(has.sum()) and len(sof.attrs["not_shown"]) == int((~has).sum())
    assert "<table" in to_html(ep)
