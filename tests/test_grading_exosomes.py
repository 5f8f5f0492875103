"""End to end on the bundled exosome review: grade, integrate, gap, claims, tables.

Facts checked (from the lead's brief): no indication reaches High human certainty; stroke's
human evidence is below its animal evidence; every rating's steps add up from its starting
level.  Also: no row is lost between the study sheet and the graded bodies.
"""

from __future__ import annotations

import warnings

import pandas as pd
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
    steps = g[list(ALL_DOMAINS)].sum(axis=1)
    assert (steps == g["total_down"] + g["total_up"]).all()
    expected = (g["starting_level"].map(LEVEL_SCORE) + steps).clip(1, 4)
    assert (g["certainty"].map(LEVEL_SCORE) == expected).all()
    assert (g["certainty_score"] == expected).all()
    within = (g["starting_level"].map(LEVEL_SCORE) + steps
              - g["translational_indirectness"]).clip(1, 4)
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
    # certainty about the human effect is strictly below certainty about the animal effect
    # (animal judged within its own stream, i.e. before the translational step)
    assert infarct["certainty_within_stream"] == "moderate"
    assert human["certainty"].map(LEVEL_SCORE).max() < animal[
        "certainty_within_stream"].map(LEVEL_SCORE).max()


def test_integration_gap_claims_and_tables_run(bundle):
    g = bundle["grades"]
    integ = integrate_streams(g)
    assert set(integ["indication"]) == set(g["indication"])
    assert "demonstrates" not in set(integ["judgement"])
    gap = gap_summary(bundle["studies"], g, regulatory=bundle["regulatory"])
    s = gap.set_index("indication").loc["stroke"]
    assert s["highest_phase_with_results"] is None or pd.isna(s["highest_phase_with_results"])
    assert s["highest_phase_registered"] == "phase_1_2"
    assert s["prior_area"] == "Neurology" and s["prior_loa"] == pytest.approx(0.059)
    assert "US: ind_cleared (2024-01-16)" in s["regulatory_status"]
    audit = audit_claims(bundle["claims"], g, studies=bundle["studies"])
    assert len(audit) == len(bundle["claims"])
    assert not audit["verdict"].str.startswith("supported").any()
    c15 = audit.set_index("claim_id").loc["C15"]
    assert c15["human_below_threshold"]
    ep, sof = evidence_profile(g), summary_of_findings(g)
    assert len(ep) == len(sof) == len(g)
    assert "<table" in to_html(ep)
