"""Tests of grading.certainty / grading.domains: one test per domain rule and boundary.

Bodies of evidence are built by hand with ``yi``/``vi`` (or counts) so every number is known.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evidence.errors import InvalidParameterError, ValidationError
from grading.certainty import grade, informative_statement
from grading.domains import (
    ALL_DOMAINS,
    DOWN_DOMAINS,
    judge_dose_response,
    judge_imprecision,
    judge_inconsistency,
    judge_large_effect,
    judge_plausible_confounding,
    judge_publication_bias,
    judge_risk_of_bias,
    judge_translational,
    or_to_rr,
)
from grading.scheme import LEVEL_SCORE, Scheme

S = Scheme()
LOG = math.log


# ---------------------------------------------------------------------------- risk of bias

def test_rob_low_share_is_not_serious():
    j = judge_risk_of_bias(["low", "low", "unclear"], [1, 1, 1], S)
    assert j.step == 0 and "67% of the inverse-variance weight" in j.reason


def test_rob_boundary_half_weight_high_is_not_rated():
    # exactly 50% at high risk is not "more than" the 0.5 threshold
    assert judge_risk_of_bias(["high", "low"], [1, 1], S).step == 0


def test_rob_most_weight_high_is_minus_two():
    j = judge_risk_of_bias(["high", "low"], [1.01, 1], S)
    assert j.step == -2 and "50% of the inverse-variance weight" in j.reason


def test_rob_most_weight_not_low_is_minus_one():
    j = judge_risk_of_bias(["unclear", "high", "low"], [2, 1, 2], S)
    assert j.step == -1 and "60% of the inverse-variance weight" in j.reason


def test_rob_missing_weights_fall_back_to_equal():
    j = judge_risk_of_bias(["unclear", "low", "low"], [np.nan, 1, 1], S)
    assert j.step == 0 and "equal weight per study" in j.reason


# ---------------------------------------------------------------------------- inconsistency

def _inc(yi, i2, q_p=0.5, ci=(-0.5, -0.1), pi=(-0.9, -0.05), **kw):
    return judge_inconsistency(yi, i2=i2, q_p=q_p, ci_low=ci[0], ci_high=ci[1], pi_low=pi[0],
                               pi_high=pi[1], measure="SMD", scheme=S, **kw)


def test_inconsistency_below_40_is_not_serious():
    assert _inc([-0.3, -0.2], 39.9).step == 0


def test_inconsistency_40_same_direction_pi_within_null_is_not_serious():
    j = _inc([-0.3, -0.2], 40.0)
    assert j.step == 0 and "40-75% band" in j.reason


def test_inconsistency_40_band_different_directions_is_minus_one():
    j = _inc([-0.3, 0.2], 40.0)
    assert j.step == -1 and "both sides of the null (1 below, 1 above)" in j.reason


def test_inconsistency_40_band_same_direction_pi_crossing_null_is_minus_one():
    j = _inc([-0.3, -0.2], 60.0, pi=(-0.9, 0.2))
    assert j.step == -1 and "prediction interval -0.90 to 0.20 crosses SMD=0" in j.reason


def test_inconsistency_pi_crossing_not_counted_when_ci_also_crosses():
    assert _inc([-0.3, -0.2], 60.0, ci=(-0.5, 0.1), pi=(-0.9, 0.2)).step == 0


def test_inconsistency_considerable_same_direction_is_minus_one():
    j = _inc([-0.3, -0.9], 75.0, q_p=0.01)
    assert j.step == -1 and ">= 75%" in j.reason


def test_inconsistency_considerable_different_directions_is_minus_two():
    assert _inc([-0.3, 0.9], 80.0, q_p=0.01).step == -2


def test_inconsistency_considerable_i2_with_high_q_p_uses_middle_band():
    # "very low p" required for the -2 cell: Q p = 0.2 >= 0.10
    assert _inc([-0.3, 0.9], 80.0, q_p=0.2).step == -1


def test_inconsistency_single_study_and_aggregate_not_assessed():
    assert _inc([-0.3], math.nan).reason == "not assessable: single study"
    j = _inc([-0.3], math.nan, aggregate=True)
    assert j.step == 0 and "aggregate" in j.reason


# ---------------------------------------------------------------------------- imprecision

def _imp(measure, est, lo, hi, events=math.nan, n=math.nan, k=3):
    return judge_imprecision(measure=measure, estimate=est, ci_low=lo, ci_high=hi,
                             n_events=events, n_participants=n, k=k, scheme=S)


def test_imprecision_ci_excludes_null_and_ois_met_is_not_serious():
    j = _imp("RR", LOG(0.5), LOG(0.4), LOG(0.7), events=300)
    assert j.step == 0
    assert j.reason.startswith("95% CI 0.40 to 0.70 excludes RR=1 and the OIS of 300 events is met")


def test_imprecision_brief_example_crossing_null_and_ois_not_met():
    j = _imp("RR", LOG(0.82), LOG(0.52), LOG(1.20), events=100)
    assert j.step == -1
    assert j.reason.startswith(
        "95% CI 0.52 to 1.20 crosses RR=1 and the OIS of 300 events is not met (100 events)")
    # the same CI reaching RR 1.31 includes appreciable harm too: -2
    assert _imp("RR", LOG(0.82), LOG(0.52), LOG(1.31), events=100).step == -2


def test_imprecision_ois_boundaries_for_events():
    assert _imp("RR", LOG(0.5), LOG(0.4), LOG(0.7), events=299).step == -1
    assert _imp("RR", LOG(0.5), LOG(0.4), LOG(0.7), events=90).step == -1   # 30% of 300
    assert _imp("RR", LOG(0.5), LOG(0.4), LOG(0.7), events=89).step == -2


def test_imprecision_crossing_both_appreciable_thresholds_is_minus_two():
    j = _imp("RR", LOG(0.95), LOG(0.7), LOG(1.3), events=1000)
    assert j.step == -2 and "appreciable benefit" in j.reason


def test_imprecision_ci_spanning_one_threshold_but_excluding_null_is_minus_one():
    j = _imp("RR", LOG(0.75), LOG(0.6), LOG(0.9), events=1000)
    assert j.step == -1 and "spans the appreciable-effect threshold RR = 0.75" in j.reason


def test_imprecision_ci_ratio_rule_rr_at_three_and_or_at_two_point_five():
    assert _imp("RR", LOG(0.3), LOG(0.1), LOG(0.3), events=1000).step == -2       # ratio 3.0
    assert _imp("RR", LOG(0.3), LOG(0.1), LOG(0.299), events=1000).step == 0      # ratio 2.99
    assert _imp("OR", LOG(0.3), LOG(0.1), LOG(0.25), events=1000).step == -2      # ratio 2.5
    assert _imp("OR", LOG(0.3), LOG(0.1), LOG(0.249), events=1000).step == 0


def test_imprecision_continuous_uses_800_participants():
    assert _imp("SMD", -0.5, -0.7, -0.3, n=800).step == 0
    assert _imp("SMD", -0.5, -0.7, -0.3, n=799).step == -1
    assert _imp("SMD", -0.5, -0.7, -0.3, n=240).step == -1   # 30% of 800
    j = _imp("SMD", -0.5, -0.7, -0.3, n=239)
    assert j.step == -2 and "OIS of 800 participants is far from met (239 participants" in j.reason


def test_imprecision_continuous_ci_crossing_zero_is_minus_one():
    assert _imp("MD", -0.5, -1.0, 0.1, n=2000).step == -1


def test_imprecision_binary_without_events_uses_participants():
    j = _imp("OR", LOG(0.5), LOG(0.4), LOG(0.7), n=900)
    assert j.step == 0 and "participants (events not recorded)" in j.reason


def test_imprecision_no_counts_says_ois_not_assessable():
    j = _imp("SMD", -0.5, -0.7, -0.3)
    assert j.step == 0 and "OIS not assessable" in j.reason


def test_imprecision_not_estimable_is_extremely_serious():
    j = _imp(None, math.nan, math.nan, math.nan)
    assert j.step == -3 and j.reason.startswith("not estimable")
    j2 = judge_imprecision(measure=None, estimate=math.nan, ci_low=math.nan, ci_high=math.nan,
                           n_events=math.nan, n_participants=math.nan, k=0,
                           scheme=S.replace(imprecision_not_estimable=-2))
    assert j2.step == -2


def test_imprecision_single_study_is_named():
    assert "single study" in _imp("SMD", -0.5, -0.7, -0.3, n=900, k=1).reason


# ---------------------------------------------------------------------------- publication bias

def test_publication_bias_not_assessed_below_ten_studies():
    j = judge_publication_bias([0.1] * 9, [0.01] * 9, S)
    assert j.step == 0 and j.reason == "not assessed (k = 9 < 10)"


def test_publication_bias_egger_detects_small_study_effects():
    # effects grow with the standard error: a funnel with the small-negative corner missing
    se = np.linspace(0.05, 0.5, 12)
    yi = -0.1 - 1.5 * se
    yi = yi + np.tile([0.02, -0.02], 6)
    j = judge_publication_bias(yi, se**2, S)
    assert j.step == -1 and "Egger test p =" in j.reason


def test_publication_bias_symmetric_funnel_not_rated():
    se = np.linspace(0.05, 0.5, 12)
    yi = -0.3 + np.tile([1, -1], 6) * se * 0.5
    j = judge_publication_bias(yi, se**2, S)
    assert j.step == 0 and "(>= 0.1, k = 12)" in j.reason


def test_publication_bias_registered_without_results_is_named():
    j = judge_publication_bias([0.1], [0.1], S, n_unreported_registered=2)
    assert j.step == 0 and "2 registered trial(s) without results" in j.reason


# ---------------------------------------------------------------------------- indirectness

def test_within_stream_indirectness_has_no_automatic_rule():
    from grading.domains import judge_indirectness

    j = judge_indirectness("animal", S)
    assert j.step == 0 and "override to rate down" in j.reason
    assert "GRADE 8" in j.source and "Core GRADE 5" in j.source


# ---------------------------------------------------------------------------- translational

def test_translational_defaults_and_not_applicable():
    assert judge_translational("animal", "human", S).step == -2
    assert judge_translational("in_vitro", "human", S).step == -3
    assert judge_translational("human", "human", S).step == 0
    assert judge_translational("animal", None, S).step == 0
    assert judge_translational("animal", "human", S.replace(translational_animal=-1)).step == -1


# ---------------------------------------------------------------------------- up domains

def _le(measure, est, lo, hi, cr=math.nan):
    return judge_large_effect(measure=measure, estimate=LOG(est), ci_low=LOG(lo),
                              ci_high=LOG(hi), control_risk=cr, scheme=S)


def test_large_effect_boundaries():
    assert _le("RR", 0.5, 0.3, 0.7).step == 1      # exactly two-fold
    assert _le("RR", 0.51, 0.3, 0.7).step == 0
    assert _le("RR", 2.5, 1.5, 4.0).step == 1
    assert _le("RR", 0.2, 0.1, 0.4).step == 2      # exactly five-fold
    assert _le("HR", 6.0, 3.0, 12.0).step == 2
    assert _le("RR", 3.0, 0.9, 9.0).step == 0      # CI includes 1


def test_large_effect_converts_or_with_control_risk():
    # OR 0.2 at control risk 0.5: RR = 0.2 / (0.5 + 0.1) = 0.333 -> large, not very large
    assert math.isclose(or_to_rr(0.2, 0.5), 1 / 3)
    j = _le("OR", 0.2, 0.1, 0.4, cr=0.5)
    assert j.step == 1 and "OR 0.20 = RR 0.33 at control risk 0.500" in j.reason
    assert _le("OR", 0.2, 0.1, 0.4, cr=0.01).step == 1   # rare outcome: RR ~ OR = 0.2 -> 0.20
    assert _le("OR", 0.15, 0.1, 0.2, cr=0.01).step == 2
    j = _le("OR", 0.2, 0.1, 0.4)
    assert j.step == 0 and "not converted" in j.reason


def test_large_effect_has_no_rule_for_smd():
    j = judge_large_effect(measure="SMD", estimate=-3.0, ci_low=-4.0, ci_high=-2.0,
                           control_risk=math.nan, scheme=S)
    assert j.step == 0 and "no GRADE numeric rule" in j.reason


def test_dose_response_gradient():
    yi = [-0.2, -0.4, -0.6, -0.8]
    j = judge_dose_response(yi, [0.005] * 4, [1, 2, 3, 4], pooled_estimate=-0.5, scheme=S)
    assert j.step == 1 and "4 dose levels" in j.reason
    # opposite gradient (larger dose, smaller effect) is not rated up
    j = judge_dose_response(yi[::-1], [0.005] * 4, [1, 2, 3, 4], pooled_estimate=-0.5, scheme=S)
    assert j.step == 0
    j = judge_dose_response(yi[:2], [0.005] * 2, [1, 2], pooled_estimate=-0.5, scheme=S)
    assert j.step == 0 and "2 distinct dose level(s)" in j.reason


def test_plausible_confounding_off_by_default():
    assert judge_plausible_confounding(S).step == 0
    assert "Core GRADE" in judge_plausible_confounding(S).reason


# ---------------------------------------------------------------------------- grade()

def _rct(sid, ei, ni, ec, nc, *, rob="low", ind="stroke", outcome="death", model="phase_3",
         randomised=True, stream="human", **kw):
    return dict(study_id=sid, indication=ind, outcome=outcome, stream=stream, model=model,
                data_type="counts", measure="RR", randomised=randomised, controlled=True,
                events_int=ei, n_int=ni, events_ctrl=ec, n_ctrl=nc, rob_overall=rob,
                intervention="EV", outcome_kind="benefit", **kw)


def _counts_effects(rows):
    df = pd.DataFrame(rows)
    a, n1, c, n2 = (df[x].astype(float) for x in ("events_int", "n_int", "events_ctrl", "n_ctrl"))
    df["yi"] = np.log((a / n1) / (c / n2))
    df["vi"] = 1 / a - 1 / n1 + 1 / c - 1 / n2
    return df


def _high_body():
    return _counts_effects([_rct(f"S{i}", 75, 500, 150, 500) for i in range(3)])


def test_grade_clean_rct_body_is_high_with_statement():
    g = grade(_high_body())
    r = g.iloc[0]
    assert r["k"] == 3 and r["n_participants"] == 3000 and r["n_events"] == 675
    assert math.isclose(r["estimate_natural"], 0.5, rel_tol=1e-9)
    assert r["starting_level"] == "high" and r["certainty"] == "high"
    assert r["certainty_symbols"] == "⊕⊕⊕⊕"
    assert r["statement"] == "EV reduces death."
    assert all(r[d] == 0 for d in ALL_DOMAINS)
    assert "Cochrane Handbook 5.1 Table 12.2.a" in r["starting_level_source"]


def test_grade_output_has_the_contract_columns():
    g = grade(_high_body())
    for col in ("indication", "outcome", "stream", "outcome_kind", "k", "n_participants",
                "measure", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "i2",
                "starting_level", "certainty", "certainty_symbols", "statement"):
        assert col in g.columns
    for d in ALL_DOMAINS:
        for suffix in ("", "_suggested", "_reason", "_source", "_override_by"):
            assert f"{d}{suffix}" in g.columns


def test_grade_pooled_values_come_from_evidence_pool():
    from evidence import pool

    df = _counts_effects([_rct("A", 10, 50, 20, 50), _rct("B", 12, 60, 22, 60),
                          _rct("C", 30, 100, 30, 100)])
    g = grade(df)
    pr = pool(df["yi"], df["vi"], method="REML")
    assert g.loc[0, "estimate"] == pytest.approx(pr.estimate, rel=1e-12)
    assert g.loc[0, "ci_high"] == pytest.approx(pr.ci_high, rel=1e-12)
    assert g.loc[0, "i2"] == pytest.approx(pr.i2, rel=1e-12)


@pytest.mark.parametrize(
    ("stream", "model", "randomised", "controlled", "data_type", "expected"),
    [
        ("human", "phase_3", True, True, "counts", "high"),
        ("human", "cohort", False, True, "counts", "low"),
        ("human", "phase_1", None, False, "single_arm", "very low"),
        ("human", "case_series", None, None, "single_arm", "very low"),
        ("animal", "mouse", True, True, "counts", "high"),
        # OHAT feature count: controlled animal experiment -> High, no comparison group -> Moderate
        ("animal", "rat", False, True, "counts", "high"),
        ("animal", "rat", False, False, "single_arm", "moderate"),
        ("in_vitro", "cell_culture", True, True, "counts", "low"),
        ("animal", "meta_analysis", None, None, "counts", "high"),
        ("human", "meta_analysis", None, None, "counts", "low"),
        ("human", "meta_analysis", True, None, "counts", "high"),
    ],
)
def test_starting_level_by_design(stream, model, randomised, controlled, data_type, expected):
    row = _rct("A", 10, 50, 20, 50, stream=stream, model=model, randomised=randomised)
    row.update(controlled=controlled, data_type=data_type)
    df = pd.DataFrame([row])
    df["yi"], df["vi"] = -0.5, 0.04
    assert grade(df, question=None).loc[0, "starting_level"] == expected


def test_starting_levels_follow_the_scheme():
    row = _rct("A", 10, 50, 20, 50, stream="in_vitro", model="cell_culture")
    df = pd.DataFrame([row]).assign(yi=-0.5, vi=0.04)
    s = Scheme(start_in_vitro="very low")
    assert grade(df, scheme=s).loc[0, "starting_level"] == "very low"


def test_steps_add_up_from_the_starting_level():
    rows = [_rct("A", 10, 50, 20, 50, rob="high"), _rct("B", 12, 60, 22, 60),
            _rct("C", 5, 40, 6, 40, outcome="mRS", model="cohort", randomised=False),
            _rct("D", 8, 30, 9, 30, stream="animal", model="rat", outcome="infarct"),
            _rct("E", 8, 30, 9, 30, stream="in_vitro", model="cell_culture", outcome="viab")]
    g = grade(_counts_effects(rows))
    assert len(g) == 4
    for _, r in g.iterrows():
        total = sum(r[d] for d in ALL_DOMAINS)
        assert total == r["total_down"] + r["total_up"]
        expected = min(4, max(1, LEVEL_SCORE[r["starting_level"]] + total))
        assert LEVEL_SCORE[r["certainty"]] == expected == r["certainty_score"]
        within = min(4, max(1, LEVEL_SCORE[r["starting_level"]] + total
                            - r["translational_indirectness"]))
        assert LEVEL_SCORE[r["certainty_within_stream"]] == within


def test_translational_step_only_for_preclinical_streams_under_human_question():
    rows = [_rct("D", 160, 600, 320, 600, stream="animal", model="rat", outcome="infarct")]
    g = grade(_counts_effects(rows))
    assert g.loc[0, "translational_indirectness"] == -2
    assert g.loc[0, "certainty_within_stream"] == "high"
    assert g.loc[0, "certainty"] == "low"
    assert g.loc[0, "statement"].startswith("In animal models, EV may reduce infarct")
    g2 = grade(_counts_effects(rows), question=None)
    assert g2.loc[0, "translational_indirectness"] == 0 and g2.loc[0, "certainty"] == "high"


def test_up_rating_applies_to_non_randomised_bodies_without_down_ratings():
    rows = [_rct(f"C{i}", 40, 1000, 120, 1000, model="cohort", randomised=False)
            for i in range(2)]
    g = grade(_counts_effects(rows))
    r = g.iloc[0]
    assert r["starting_level"] == "low"
    assert r["large_effect"] == 1 and "RR 0.33: large" in r["large_effect_reason"]
    assert r["certainty"] == "moderate"


def test_up_rating_not_applied_to_randomised_bodies():
    rows = [_rct(f"R{i}", 40, 1000, 120, 1000) for i in range(2)]
    r = grade(_counts_effects(rows)).iloc[0]
    assert r["large_effect"] == 0 and r["large_effect_suggested"] == 0
    assert r["large_effect_reason"].startswith("not applied: randomised body")
    assert "+1" in r["large_effect_reason"]


def test_up_rating_not_applied_after_a_down_rating():
    rows = [_rct(f"C{i}", 40, 1000, 120, 1000, model="cohort", randomised=False, rob="high")
            for i in range(2)]
    r = grade(_counts_effects(rows)).iloc[0]
    assert r["risk_of_bias"] == -2 and r["large_effect"] == 0
    assert "already rated down (risk_of_bias)" in r["large_effect_reason"]


def test_best_design_tier_carries_the_estimate():
    rows = [_rct("R", 75, 500, 150, 500), _rct("O", 5, 40, 6, 40, model="cohort",
                                                randomised=False)]
    r = grade(_counts_effects(rows)).iloc[0]
    assert r["k"] == 1 and r["k_records"] == 2 and r["study_ids"] == "R"
    assert r["design"] == "randomised" and "1 record not pooled" in r["estimate_basis"]


def test_aggregate_record_is_used_alone():
    rows = [dict(study_id="MA", indication="stroke", outcome="infarct", stream="animal",
                 model="meta_analysis", data_type="estimate", measure="SMD", k_studies=21,
                 yi=-2.05, vi=(0.65 / 1.96) ** 2, intervention="EV", outcome_kind="benefit"),
            dict(study_id="P", indication="stroke", outcome="infarct", stream="animal",
                 model="pig", data_type="estimate", measure="SMD", yi=-1.0, vi=0.2,
                 randomised=True, intervention="EV", outcome_kind="benefit")]
    r = grade(pd.DataFrame(rows)).iloc[0]
    assert r["k"] == 21 and r["estimate"] == -2.05
    assert r["ci_low"] == pytest.approx(-2.05 - 1.959963984540054 * 0.65 / 1.96, abs=1e-12)
    assert "aggregate record MA (k_studies = 21)" in r["estimate_basis"]
    assert r["inconsistency_reason"].startswith("not assessed: aggregate")


def test_not_estimable_body():
    rows = [dict(study_id="NCT1", indication="stroke", outcome="mRS", stream="human",
                 model="phase_2", data_type="none", registry_id="NCT1", randomised=True,
                 outcome_kind="benefit", rob_overall="low")]
    r = grade(pd.DataFrame(rows).assign(yi=np.nan, vi=np.nan)).iloc[0]
    assert r["k"] == 0 and math.isnan(r["estimate"])
    assert r["imprecision"] == -3
    assert r["certainty"] == "very low"  # high (4) - 3 = 1, nothing else rated
    assert r["statement"].startswith("No study reported a numeric result for mRS")
    assert "1 registered trial(s) without results" in r["publication_bias_reason"]


def test_one_result_per_study_when_comparisons_share_a_control():
    rows = [_rct("X", 10, 50, 20, 50, comparison="low dose"),
            _rct("X", 8, 50, 20, 50, comparison="high dose")]
    r = grade(_counts_effects(rows)).iloc[0]
    assert r["k"] == 1 and "second comparison" in r["estimate_basis"]


# ---------------------------------------------------------------------------- overrides

def test_override_replaces_step_and_keeps_suggestion():
    ov = [dict(indication="stroke", outcome="death", stream="human", domain="indirectness",
               step=-1, reason="surrogate outcome", by="A. Reviewer")]
    r = grade(_high_body(), overrides=ov).iloc[0]
    assert r["indirectness"] == -1 and r["indirectness_suggested"] == 0
    assert r["indirectness_override_by"] == "A. Reviewer"
    assert r["indirectness_reason"].startswith("override by A. Reviewer: surrogate outcome")
    assert r["certainty"] == "moderate"
    assert r["statement"] == "EV likely reduces death."


def test_override_as_dataframe_without_outcome_applies_to_all_outcomes():
    ov = pd.DataFrame([dict(indication="stroke", domain="risk_of_bias", step=-2,
                            reason="all open label", by="B")])
    r = grade(_high_body(), overrides=ov).iloc[0]
    assert r["risk_of_bias"] == -2 and r["certainty"] == "low"
    assert r["statement"] == "EV may reduce death."


def test_override_needs_a_reason():
    with pytest.raises(InvalidParameterError, match="'reason' of override 0"):
        grade(_high_body(), overrides=[dict(indication="stroke", domain="imprecision",
                                            step=-1, reason="")])
    with pytest.raises(InvalidParameterError, match="needs a 'reason' column"):
        grade(_high_body(), overrides=[dict(indication="stroke", domain="imprecision", step=-1)])


def test_override_step_and_domain_are_checked():
    with pytest.raises(InvalidParameterError, match="integer from -3 to 0"):
        grade(_high_body(), overrides=[dict(indication="stroke", domain="imprecision", step=1,
                                            reason="x")])
    with pytest.raises(InvalidParameterError, match="integer from 0 to 2"):
        grade(_high_body(), overrides=[dict(indication="stroke", domain="large_effect",
                                            step=-1, reason="x")])
    with pytest.raises(InvalidParameterError, match="'domain' of override 0"):
        grade(_high_body(), overrides=[dict(indication="stroke", domain="bias", step=-1,
                                            reason="x")])


def test_override_step_may_come_from_a_csv_as_text():
    ov = pd.DataFrame({"indication": ["stroke"], "domain": ["imprecision"], "step": ["-1"],
                       "reason": ["few events in practice"], "by": ["C"]}, index=[7])
    r = grade(_high_body(), overrides=ov).iloc[0]
    assert r["imprecision"] == -1 and r["certainty"] == "moderate"
    with pytest.raises(InvalidParameterError, match="Got 'minus one'"):
        grade(_high_body(), overrides=ov.assign(step="minus one"))


def test_override_matching_nothing_raises():
    with pytest.raises(InvalidParameterError, match="matches no body of evidence"):
        grade(_high_body(), overrides=[dict(indication="strokes", domain="imprecision",
                                            step=-1, reason="x")])


# ---------------------------------------------------------------------------- statements/errors

@pytest.mark.parametrize(
    ("level", "est", "ci", "expected"),
    [
        ("high", -0.5, (-0.7, -0.3), "X reduces Y."),
        ("moderate", 0.5, (0.3, 0.7), "X likely increases Y."),
        ("low", -0.5, (-0.7, -0.3), "X may reduce Y."),
        ("low", -0.1, (-0.7, 0.3), "X may result in little to no difference in Y."),
        ("very low", -0.5, (-0.7, -0.3),
         "The evidence is very uncertain about the effect of X on Y."),
    ],
)
def test_informative_statements(level, est, ci, expected):
    assert informative_statement(level, intervention="X", outcome="Y", measure="RR",
                                 estimate=est, ci_low=ci[0], ci_high=ci[1]) == expected


def test_grade_input_errors():
    with pytest.raises(ValidationError, match="column 'stream'"):
        grade(_high_body().drop(columns="stream"))
    with pytest.raises(InvalidParameterError, match="'question' argument"):
        grade(_high_body(), question="mouse")
    with pytest.raises(InvalidParameterError, match="'studies' argument"):
        grade([1, 2, 3])


def test_grade_computes_effects_when_yi_missing():
    df = pd.DataFrame([_rct(f"S{i}", 75, 500, 150, 500) for i in range(3)])
    r = grade(df).iloc[0]
    assert math.isclose(r["estimate_natural"], 0.5, rel_tol=1e-9)


def test_down_domains_cover_gradE_five():
    assert DOWN_DOMAINS == ("risk_of_bias", "inconsistency", "indirectness", "imprecision",
                            "publication_bias")
