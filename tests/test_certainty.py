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


def test_rob_mostly_low_or_unclear_is_not_rated_down():
    # GRADE 4 / Handbook ch. 14: most information from low or unclear risk -> not serious
    j = judge_risk_of_bias(["low", "unclear", "unclear"], [1, 1, 1], S)
    assert j.step == 0 and j.judgement == "not serious"
    assert "67% some concerns/unclear" in j.reason


def test_rob_boundary_half_weight_high_is_not_rated():
    # exactly 50% at high risk is not "more than" the 0.5 threshold
    assert judge_risk_of_bias(["high", "low"], [1, 1], S).step == 0


def test_rob_most_weight_high_is_one_level_not_two():
    # no jump from 0 to -2 at one threshold
    j = judge_risk_of_bias(["high", "low"], [1.01, 1], S)
    assert j.step == -1 and j.judgement == "serious"
    assert "50% of the inverse-variance weight" in j.reason


def test_rob_very_serious_needs_the_second_threshold():
    assert judge_risk_of_bias(["high", "low"], [79, 21], S).step == -1
    j = judge_risk_of_bias(["high", "low"], [80, 20], S)
    assert j.step == -2 and j.judgement == "very serious"


def test_rob_without_any_judgement_is_not_assessed():
    j = judge_risk_of_bias(["not assessed"] * 3, [1, 1, 1], S)
    assert j.step == 0 and not j.assessed and j.judgement == "not assessed"
    assert "no risk-of-bias judgement recorded for the 3 studies" in j.reason


def test_rob_partly_assessed_judges_the_assessed_and_says_so():
    j = judge_risk_of_bias(["high", "not assessed", "low"], [3, 5, 1], S)
    assert j.step == -1  # 3 of the 4 assessed weight units at high risk
    assert j.provisional == "risk of bias not assessed for 1 of 3 studies"
    # missing never scores better: the same body with the missing study judged low is 0
    assert judge_risk_of_bias(["high", "low", "low"], [3, 5, 1], S).step == 0


@pytest.mark.parametrize(
    ("levels", "weights", "step"),
    [
        (["low", "low", "moderate"], [1, 1, 1], 0),
        (["moderate", "moderate", "low"], [1, 1, 1], -1),
        (["serious", "serious", "moderate"], [1, 1, 1], -2),
        (["critical", "critical", "low"], [1, 1, 1], -3),
        (["serious", "low", "low"], [3, 1, 1], -2),
    ],
)
def test_robins_i_levels_map_per_grade_18(levels, weights, step):
    classes = ["low" if v == "low" else "unclear" if v == "moderate" else "high" for v in levels]
    j = judge_risk_of_bias(classes, weights, S, judgements=levels, robins=True)
    assert j.step == step
    assert "GRADE 18" in j.source and "ROBINS-I" in j.reason


def test_rob_missing_weights_fall_back_to_equal():
    j = judge_risk_of_bias(["unclear", "low", "low"], [np.nan, 1, 1], S)
    assert j.step == 0 and "equal weight per study" in j.reason


# ---------------------------------------------------------------------------- inconsistency


def _inc(yi, i2, q_p=0.5, ci=(-0.5, -0.1), pi=(-0.9, -0.05), **kw):
    return judge_inconsistency(
        yi,
        i2=i2,
        q_p=q_p,
        ci_low=ci[0],
        ci_high=ci[1],
        pi_low=pi[0],
        pi_high=pi[1],
        measure="SMD",
        scheme=S,
        **kw,
    )


def test_inconsistency_below_40_is_not_serious():
    assert _inc([-0.3, -0.2], 39.9).step == 0


def test_inconsistency_40_same_direction_pi_within_null_is_not_serious():
    j = _inc([-0.3, -0.2], 40.0)
    assert j.step == 0 and "not rated down" in j.reason


def test_inconsistency_point_estimates_on_both_sides_with_overlapping_cis_not_rated():
    # GRADE 7: small studies on either side of the null whose CIs overlap are not inconsistent
    assert _inc([-0.3, 0.2], 40.0, vi=[0.04, 0.04]).step == 0


def test_inconsistency_40_band_significant_opposite_directions_is_minus_one():
    j = _inc([-0.6, 0.6], 40.0, vi=[0.04, 0.04])
    assert j.step == -1 and "significant in opposite directions (1 below, 1 above" in j.reason


def test_inconsistency_prediction_interval_rule_is_optional():
    # GRADE 7 does not use the prediction interval: off by default
    assert _inc([-0.3, -0.2], 60.0, q_p=0.05, pi=(-0.9, 0.2)).step == 0
    pi_on = S.replace(use_prediction_interval=True)

    def inc(q_p):
        return judge_inconsistency(
            [-0.3, -0.2],
            i2=60.0,
            q_p=q_p,
            ci_low=-0.5,
            ci_high=-0.1,
            pi_low=-0.9,
            pi_high=0.2,
            measure="SMD",
            scheme=pi_on,
        )

    j = inc(0.05)
    assert j.step == -1 and "prediction interval -0.90 to 0.20 crosses SMD=0" in j.reason
    assert inc(0.5).step == 0  # the Q test must also be low


def test_or_thresholds_follow_the_control_risk():
    from grading.domains import default_thresholds, rr_to_or

    assert rr_to_or(0.75, 0.442) == pytest.approx(0.75 * 0.558 / (1 - 0.75 * 0.442))
    thr = default_thresholds("OR", S, control_risk=0.442)
    assert math.exp(thr.low) == pytest.approx(0.626, abs=1e-3)
    assert "control risk 0.442" in thr.label
    # OR 0.78 (0.71 to 0.87) at a control risk of 44%: between the thresholds, precise
    j = judge_imprecision(
        measure="OR",
        estimate=LOG(0.78),
        ci_low=LOG(0.71),
        ci_high=LOG(0.87),
        n_events=9484,
        n_participants=23309,
        k=22,
        scheme=S,
        thresholds=thr,
    )
    assert j.step == 0
    # without a control risk the RR thresholds are used as they are
    assert math.exp(default_thresholds("OR", S).low) == pytest.approx(0.75)


def test_inconsistency_pi_crossing_not_counted_when_ci_also_crosses():
    assert _inc([-0.3, -0.2], 60.0, ci=(-0.5, 0.1), pi=(-0.9, 0.2)).step == 0


def test_inconsistency_considerable_same_direction_is_minus_one():
    j = _inc([-0.3, -0.9], 75.0, q_p=0.01)
    assert j.step == -1 and ">= 75%" in j.reason


def test_inconsistency_considerable_different_directions_is_minus_two():
    assert _inc([-0.9, 0.9], 80.0, q_p=0.01, vi=[0.04, 0.04]).step == -2
    assert _inc([-0.3, 0.9], 80.0, q_p=0.01, vi=[0.04, 0.04]).step == -1


def test_inconsistency_considerable_i2_with_high_q_p_uses_middle_band():
    # "very low p" required for the considerable cell: Q p = 0.2 >= 0.10
    assert _inc([-0.9, 0.9], 80.0, q_p=0.2, vi=[0.04, 0.04]).step == -1
    assert _inc([-0.3, -0.9], 80.0, q_p=0.2).step == 0


def test_inconsistency_single_study_and_aggregate_not_assessed():
    j = _inc([-0.3], math.nan)
    assert j.judgement == "not assessed" and not j.applicable
    assert "single study" in j.reason
    j = _inc([-0.3], math.nan, aggregate=True)
    assert j.step == 0 and j.judgement == "not assessed" and j.applicable
    assert "aggregate" in j.reason


# ---------------------------------------------------------------------------- imprecision


def _imp(measure, est, lo, hi, events=math.nan, n=math.nan, k=3):
    return judge_imprecision(
        measure=measure,
        estimate=est,
        ci_low=lo,
        ci_high=hi,
        n_events=events,
        n_participants=n,
        k=k,
        scheme=S,
    )


def test_imprecision_important_effect_judged_against_the_null():
    # GRADE 34: a CI wholly on the side of benefit is precise even if it includes trivial
    # effects (RR 0.80-0.95 here); the OIS is met
    j = _imp("RR", LOG(0.87), LOG(0.80), LOG(0.95), events=1000)
    assert j.step == 0 and j.judgement == "not serious"
    assert "important effect" not in j.reason  # 0.87 is between 0.75 and 1.25: trivial
    j = _imp("RR", LOG(0.5), LOG(0.4), LOG(0.7), events=300)
    assert j.step == 0
    assert "important effect" in j.reason and "target: the null" in j.reason
    assert "excludes RR=1" in j.reason and "OIS of 300 events met (300 events)" in j.reason


def test_imprecision_important_effect_crossing_the_null():
    j = _imp("RR", LOG(0.70), LOG(0.52), LOG(1.10), events=400)
    assert j.step == -1 and "crosses RR=1" in j.reason
    # reaching appreciable harm (RR > 1.25) as well: very serious
    j = _imp("RR", LOG(0.69), LOG(0.35), LOG(1.37), events=400)
    assert j.step == -2 and "appreciable effect in the other direction" in j.reason


def test_precise_null_is_not_rated_down():
    # five trials of 5,000 per arm, RR 1.00 (0.95 to 1.06): inside both thresholds (GRADE 6)
    j = _imp("RR", LOG(1.0), LOG(0.95), LOG(1.06), events=2000)
    assert j.step == 0 and "lies between the thresholds" in j.reason


def test_imprecision_trivial_effect_judged_against_the_thresholds():
    assert _imp("RR", LOG(0.95), LOG(0.70), LOG(1.10), events=1000).step == -1
    j = _imp("RR", LOG(0.95), LOG(0.70), LOG(1.30), events=1000)
    assert j.step == -2 and "crosses both thresholds" in j.reason


def test_imprecision_thresholds_can_be_given():
    from grading.domains import default_thresholds

    thr = default_thresholds("RR", S, (0.9, 1.1))
    j = judge_imprecision(
        measure="RR",
        estimate=LOG(0.95),
        ci_low=LOG(0.92),
        ci_high=LOG(0.99),
        n_events=1000,
        n_participants=math.nan,
        k=3,
        scheme=S,
        thresholds=thr,
    )
    assert j.step == 0
    j = judge_imprecision(
        measure="RR",
        estimate=LOG(0.95),
        ci_low=LOG(0.85),
        ci_high=LOG(0.99),
        n_events=1000,
        n_participants=math.nan,
        k=3,
        scheme=S,
        thresholds=thr,
    )
    assert j.step == -1
    assert default_thresholds("MD", S) is None
    assert default_thresholds("MD", S, (-5, 5)).high == 5


def test_imprecision_ois_boundaries_for_events():
    assert _imp("RR", LOG(0.5), LOG(0.4), LOG(0.7), events=299).step == -1
    assert _imp("RR", LOG(0.5), LOG(0.4), LOG(0.7), events=90).step == -1  # 30% of 300
    assert _imp("RR", LOG(0.5), LOG(0.4), LOG(0.7), events=89).step == -2


def test_imprecision_without_counts_uses_the_ci_ratio_for_ratio_measures():
    j = _imp("RR", LOG(0.3), LOG(0.1), LOG(0.31))  # ratio 3.1 > 3
    assert j.step == -1 and "CI ratio 3.1 > 3" in j.reason
    j = _imp("RR", LOG(0.3), LOG(0.1), LOG(0.29))
    assert j.step == 0 and "OIS taken as met" in j.reason
    assert j.provisional.startswith("event counts not recorded")
    assert _imp("OR", LOG(0.3), LOG(0.1), LOG(0.26)).step == -1  # ratio 2.6 > 2.5


def test_imprecision_continuous_uses_800_participants():
    assert _imp("SMD", -0.5, -0.7, -0.3, n=800).step == 0
    assert _imp("SMD", -0.5, -0.7, -0.3, n=799).step == -1
    assert _imp("SMD", -0.5, -0.7, -0.3, n=240).step == -1  # 30% of 800
    j = _imp("SMD", -0.5, -0.7, -0.3, n=239)
    assert j.step == -2 and "OIS of 800 participants far from met (239 participants" in j.reason


def test_imprecision_continuous_ci_crossing_zero_is_minus_one():
    j = _imp("MD", -0.5, -1.0, 0.1, n=2000)
    assert j.step == -1 and "no MID given for MD" in j.reason


def test_imprecision_no_counts_leaves_the_ois_not_assessed():
    j = _imp("MD", -0.5, -0.7, -0.3)
    assert j.step == 0 and "OIS not assessed" in j.reason
    assert j.provisional.startswith("optimal information size not assessed")


def test_imprecision_animal_bodies_do_not_use_the_human_ois():
    j = judge_imprecision(
        measure="SMD",
        estimate=-1.0,
        ci_low=-1.6,
        ci_high=-0.4,
        n_events=math.nan,
        n_participants=60,
        k=5,
        scheme=S,
        stream="animal",
    )
    assert j.step == 0 and "OIS not applied to animal evidence" in j.reason
    assert "Hooijmans" in j.source


def test_imprecision_without_interval_uses_the_scheme_step():
    j = _imp("RR", LOG(0.5), math.nan, math.nan)
    assert j.step == -3
    j2 = judge_imprecision(
        measure="RR",
        estimate=LOG(0.5),
        ci_low=math.nan,
        ci_high=math.nan,
        n_events=math.nan,
        n_participants=math.nan,
        k=1,
        scheme=S.replace(imprecision_not_estimable=-2),
    )
    assert j2.step == -2


def test_imprecision_single_study_is_named():
    assert "single study" in _imp("SMD", -0.5, -0.7, -0.3, n=900, k=1).reason


# ---------------------------------------------------------------------------- publication bias


def test_publication_bias_not_assessed_below_ten_studies():
    j = judge_publication_bias([0.1] * 9, [0.01] * 9, S)
    assert j.step == 0 and j.judgement == "not assessed"
    assert j.reason.startswith("not assessed: k = 9 < 10")
    assert "Sterne" in j.source


def _funnel(intercept):
    se = np.linspace(0.05, 0.5, 12)
    yi = intercept - 1.5 * se + np.tile([0.02, -0.02], 6)
    return yi, se**2, 4 / se**2


def _pb(yi, vi, measure, **kw):
    from evidence import pool
    from grading.domains import default_thresholds

    p = pool(yi, vi)
    return judge_publication_bias(
        yi,
        vi,
        S,
        measure=measure,
        estimate=p.estimate,
        ci_low=p.ci_low,
        ci_high=p.ci_high,
        thresholds=default_thresholds(measure, S),
        **kw,
    )


def test_publication_bias_rated_down_only_when_the_conclusion_changes():
    yi, vi, ni = _funnel(-0.1)
    # SMD -0.32 pooled, but the largest studies say -0.08 (trivial): rated down
    j = _pb(yi, vi, "SMD", ni=ni)
    assert j.step == -1 and j.reason.startswith("sample-size (1/sqrt(n)) test p = 0.000")
    assert "changes the conclusion" in j.reason and "-0.08" in j.reason
    # the same asymmetry on a large effect (-1.02 pooled, -0.8 limit): a suggestion only
    yi, vi, ni = _funnel(-0.8)
    j = _pb(yi, vi, "SMD", ni=ni)
    assert j.step == 0 and "small-study effects suggested" in j.reason
    assert "the conclusion is the same: not rated down" in j.reason


def test_publication_bias_test_follows_the_measure():
    yi, vi, ni = _funnel(-0.8)
    assert _pb(yi, vi, "MD").reason.startswith("Egger test p =")
    assert _pb(yi, vi, "RR", ni=ni).reason.startswith("Peters test p =")
    # SMD without sample sizes: Egger is biased for SMDs, so not assessed
    j = _pb(yi, vi, "SMD")
    assert j.judgement == "not assessed" and "biased for SMDs" in j.reason


def test_publication_bias_symmetric_funnel_not_rated():
    se = np.linspace(0.05, 0.5, 12)
    yi = -0.3 + np.tile([1, -1], 6) * se * 0.5
    j = _pb(yi, se**2, "MD")
    assert j.step == 0 and "(k = 12), >= 0.1: small-study effects undetected" in j.reason


def test_publication_bias_equal_standard_errors_never_abort():
    j = _pb(np.linspace(-0.5, 0.5, 12), np.full(12, 0.04), "MD")
    assert j.step == 0 and j.judgement == "not assessed"
    assert "same standard error" in j.reason


def test_publication_bias_registered_without_results_is_named():
    j = judge_publication_bias([0.1], [0.1], S, n_unreported_registered=2)
    assert j.step == 0 and "2 registered trial(s) without results" in j.reason


# ---------------------------------------------------------------------------- indirectness


def test_within_stream_indirectness_is_not_assessed_without_sheet_data():
    from grading.domains import judge_indirectness

    j = judge_indirectness("animal", S)
    assert j.step == 0 and j.judgement == "not assessed"
    assert "record a judgement in the overrides" in j.reason
    assert "GRADE 8" in j.source
    j = judge_indirectness("human", S, outcome_levels=["surrogate", "surrogate", "clinical"])
    assert j.step == -1 and j.judgement == "serious" and "surrogate outcome" in j.reason
    assert judge_indirectness("human", S, outcome_levels=["clinical"]).judgement == "not assessed"


# ---------------------------------------------------------------------------- translational


def test_translational_defaults_and_not_applicable():
    assert judge_translational("animal", "human", S).step == -2
    assert judge_translational("in_vitro", "human", S).step == -3
    assert judge_translational("human", "human", S).step == 0
    assert judge_translational("animal", None, S).step == 0
    assert judge_translational("animal", "human", S.replace(translational_animal=-1)).step == -1


# ---------------------------------------------------------------------------- up domains


def _le(measure, est, lo, hi, cr=math.nan):
    return judge_large_effect(
        measure=measure,
        estimate=LOG(est),
        ci_low=LOG(lo),
        ci_high=LOG(hi),
        control_risk=cr,
        scheme=S,
    )


def test_large_effect_boundaries():
    assert _le("RR", 0.5, 0.3, 0.7).step == 1  # exactly two-fold
    assert _le("RR", 0.51, 0.3, 0.7).step == 0
    assert _le("RR", 2.5, 1.5, 4.0).step == 1
    assert _le("RR", 0.2, 0.1, 0.4).step == 2  # exactly five-fold
    assert _le("HR", 6.0, 3.0, 12.0).step == 2
    assert _le("RR", 3.0, 0.9, 9.0).step == 0  # CI includes 1


def test_large_effect_converts_or_with_control_risk():
    # OR 0.2 at control risk 0.5: RR = 0.2 / (0.5 + 0.1) = 0.333 -> large, not very large
    assert math.isclose(or_to_rr(0.2, 0.5), 1 / 3)
    j = _le("OR", 0.2, 0.1, 0.4, cr=0.5)
    assert j.step == 1 and "OR 0.20 = RR 0.33 at control risk 0.500" in j.reason
    assert _le("OR", 0.2, 0.1, 0.4, cr=0.01).step == 1  # rare outcome: RR ~ OR = 0.2 -> 0.20
    assert _le("OR", 0.15, 0.1, 0.2, cr=0.01).step == 2
    j = _le("OR", 0.2, 0.1, 0.4)
    assert j.step == 0 and "not converted" in j.reason


def test_large_effect_has_no_rule_for_smd():
    j = judge_large_effect(
        measure="SMD", estimate=-3.0, ci_low=-4.0, ci_high=-2.0, control_risk=math.nan, scheme=S
    )
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


def _rct(
    sid,
    ei,
    ni,
    ec,
    nc,
    *,
    rob="low",
    ind="stroke",
    outcome="death",
    model="phase_3",
    randomised=True,
    stream="human",
    **kw,
):
    return dict(
        study_id=sid,
        indication=ind,
        outcome=outcome,
        stream=stream,
        model=model,
        data_type="counts",
        measure="RR",
        randomised=randomised,
        controlled=True,
        events_int=ei,
        n_int=ni,
        events_ctrl=ec,
        n_ctrl=nc,
        rob_overall=rob,
        intervention="EV",
        outcome_kind="benefit",
        **kw,
    )


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
    assert r["statement"] == "EV reduces death." == r["statement_question"]
    assert all(r[d] == 0 for d in ALL_DOMAINS)
    assert "GRADE 3" in r["starting_level_source"]
    # indirectness and publication bias (k = 3) cannot be assessed from the sheet
    assert r["evidence_status"] == "provisional"
    assert r["provisional_reason"] == "indirectness not assessed; publication bias not assessed"
    assert r["risk_of_bias_judgement"] == "not serious"
    assert r["inconsistency_judgement"] == "not serious"
    assert r["indirectness_judgement"] == "not assessed"


def test_grade_output_has_the_contract_columns():
    g = grade(_high_body())
    for col in (
        "indication",
        "outcome",
        "stream",
        "outcome_kind",
        "k",
        "n_participants",
        "measure",
        "estimate",
        "ci_low",
        "ci_high",
        "pi_low",
        "pi_high",
        "i2",
        "starting_level",
        "certainty",
        "certainty_symbols",
        "statement",
    ):
        assert col in g.columns
    for d in ALL_DOMAINS:
        for suffix in ("", "_suggested", "_reason", "_source", "_override_by"):
            assert f"{d}{suffix}" in g.columns


def test_grade_pooled_values_come_from_evidence_pool():
    from evidence import pool

    df = _counts_effects(
        [_rct("A", 10, 50, 20, 50), _rct("B", 12, 60, 22, 60), _rct("C", 30, 100, 30, 100)]
    )
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
    rows = [
        _rct("A", 10, 50, 20, 50, rob="high"),
        _rct("B", 12, 60, 22, 60),
        _rct("C", 5, 40, 6, 40, outcome="mRS", model="cohort", randomised=False),
        _rct("D", 8, 30, 9, 30, stream="animal", model="rat", outcome="infarct"),
        _rct("E", 8, 30, 9, 30, stream="in_vitro", model="cell_culture", outcome="viab"),
    ]
    g = grade(_counts_effects(rows))
    assert len(g) == 4
    for _, r in g.iterrows():
        total = sum(r[d] for d in ALL_DOMAINS)
        assert total == r["total_down"] + r["total_up"]
        expected = min(4, max(1, LEVEL_SCORE[r["starting_level"]] + total))
        assert LEVEL_SCORE[r["certainty"]] == expected == r["certainty_score"]
        within = min(
            4, max(1, LEVEL_SCORE[r["starting_level"]] + total - r["translational_indirectness"])
        )
        assert LEVEL_SCORE[r["certainty_within_stream"]] == within


def test_translational_step_only_for_preclinical_streams_under_human_question():
    rows = [_rct("D", 160, 600, 320, 600, stream="animal", model="rat", outcome="infarct")]
    g = grade(_counts_effects(rows))
    assert g.loc[0, "translational_indirectness"] == -2
    assert g.loc[0, "certainty_within_stream"] == "high"
    assert g.loc[0, "certainty"] == "low"
    # the statement speaks of the animal model with the within-stream certainty ...
    assert g.loc[0, "statement"] == "In animal models, EV reduces infarct."
    # ... and the question statement of the human question with the question certainty
    assert g.loc[0, "statement_question"].startswith(
        "For people, animal evidence alone gives low certainty"
    )
    g2 = grade(_counts_effects(rows), question=None)
    assert g2.loc[0, "translational_indirectness"] == 0 and g2.loc[0, "certainty"] == "high"


def test_up_rating_applies_to_non_randomised_bodies_without_down_ratings():
    rows = [_rct(f"C{i}", 40, 1000, 120, 1000, model="cohort", randomised=False) for i in range(2)]
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
    rows = [
        _rct(f"C{i}", 40, 1000, 120, 1000, model="cohort", randomised=False, rob="high")
        for i in range(2)
    ]
    r = grade(_counts_effects(rows)).iloc[0]
    assert r["risk_of_bias"] == -2 and r["large_effect"] == 0  # all weight at high risk
    assert "already rated down (risk of bias)" in r["large_effect_reason"]


def test_best_design_tier_carries_the_estimate():
    rows = [_rct("R", 75, 500, 150, 500), _rct("O", 5, 40, 6, 40, model="cohort", randomised=False)]
    r = grade(_counts_effects(rows)).iloc[0]
    assert r["k"] == 1 and r["k_records"] == 2 and r["study_ids"] == "R"
    assert r["design"] == "randomised" and "1 record not pooled" in r["estimate_basis"]


def test_aggregate_record_is_used_alone():
    rows = [
        dict(
            study_id="MA",
            indication="stroke",
            outcome="infarct",
            stream="animal",
            model="meta_analysis",
            data_type="estimate",
            measure="SMD",
            k_studies=21,
            yi=-2.05,
            vi=(0.65 / 1.96) ** 2,
            intervention="EV",
            outcome_kind="benefit",
        ),
        dict(
            study_id="P",
            indication="stroke",
            outcome="infarct",
            stream="animal",
            model="pig",
            data_type="estimate",
            measure="SMD",
            yi=-1.0,
            vi=0.2,
            randomised=True,
            intervention="EV",
            outcome_kind="benefit",
        ),
    ]
    r = grade(pd.DataFrame(rows)).iloc[0]
    assert r["k"] == 21 and r["estimate"] == -2.05
    assert r["ci_low"] == pytest.approx(-2.05 - 1.959963984540054 * 0.65 / 1.96, abs=1e-12)
    assert "aggregate record MA (k_studies = 21)" in r["estimate_basis"]
    assert r["inconsistency_reason"].startswith("not assessed: aggregate")


def test_no_evidence_body_gets_no_certainty():
    rows = [
        dict(
            study_id="NCT1",
            indication="stroke",
            outcome="mRS",
            stream="human",
            model="phase_2",
            data_type="none",
            registry_id="NCT1",
            randomised=True,
            outcome_kind="benefit",
            rob_overall="low",
        )
    ]
    r = grade(pd.DataFrame(rows).assign(yi=np.nan, vi=np.nan)).iloc[0]
    assert r["k"] == 0 and math.isnan(r["estimate"]) and not r["estimable"]
    assert r["evidence_status"] == "no evidence"
    assert r["certainty"] is None and r["certainty_symbols"] is None
    assert r["certainty_within_stream"] is None and pd.isna(r["certainty_score"])
    assert r["no_evidence_reason"] == "no result to rate: 1 registered trial without results"
    assert r["statement"].startswith("No study reported a numeric result for mRS")
    assert all(r[f"{d}_judgement"] == "not assessed" for d in ALL_DOMAINS)


def test_several_rows_of_one_study_are_all_pooled_and_said_so():
    rows = [
        _rct("X", 10, 50, 20, 50, comparison="low dose"),
        _rct("X", 8, 50, 20, 50, comparison="high dose"),
    ]
    r = grade(_counts_effects(rows)).iloc[0]
    assert r["k"] == 1 and "2 records from 1 study pooled" in r["estimate_basis"]
    assert "pooled as independent" in r["estimate_basis"]


def test_several_rows_per_study_use_cluster_robust_pooling():
    from evidence import pool_clustered

    rows = [
        _rct("X", 10, 50, 20, 50),
        _rct("X", 8, 50, 20, 50),
        _rct("Y", 12, 60, 22, 60),
        _rct("Z", 30, 100, 33, 100),
        _rct("Z", 25, 100, 33, 100),
    ]
    df = _counts_effects(rows)
    r = grade(df).iloc[0]
    # CR2 with Satterthwaite df (docs/grading.md; pinned to clubSandwich in test_one_body.py)
    ref = pool_clustered(df.assign(study=df["study_id"]), cluster="study", vcov="CR2")
    cr1 = pool_clustered(df.assign(study=df["study_id"]), cluster="study")
    assert r["k"] == 3 and r["k_records"] == 5
    assert r["estimate"] == pytest.approx(ref.estimate, rel=1e-12)
    assert r["ci_low"] == pytest.approx(ref.ci_low, rel=1e-12)
    assert r["ci_high"] == pytest.approx(ref.ci_high, rel=1e-12)
    assert r["ci_low"] != pytest.approx(cr1.ci_low, rel=1e-6)
    assert "cluster-robust CR2" in r["estimate_basis"]


# ---------------------------------------------------------------------------- overrides


def test_override_replaces_step_and_keeps_suggestion():
    ov = [
        dict(
            indication="stroke",
            outcome="death",
            stream="human",
            domain="indirectness",
            step=-1,
            reason="surrogate outcome",
            by="A. Reviewer",
        )
    ]
    r = grade(_high_body(), overrides=ov).iloc[0]
    assert r["indirectness"] == -1 and r["indirectness_suggested"] == 0
    assert r["indirectness_override_by"] == "A. Reviewer"
    assert r["indirectness_reason"].startswith("override by A. Reviewer: surrogate outcome")
    assert r["certainty"] == "moderate"
    assert r["statement"] == "EV likely reduces death."


def test_override_as_dataframe_without_outcome_applies_to_all_outcomes():
    ov = pd.DataFrame(
        [dict(indication="stroke", domain="risk_of_bias", step=-2, reason="all open label", by="B")]
    )
    r = grade(_high_body(), overrides=ov).iloc[0]
    assert r["risk_of_bias"] == -2 and r["certainty"] == "low"
    assert r["statement"] == "EV may reduce death."


def test_override_needs_a_reason():
    with pytest.raises(InvalidParameterError, match="row 0, column 'reason': missing"):
        grade(
            _high_body(),
            overrides=[dict(indication="stroke", domain="imprecision", step=-1, reason="")],
        )
    with pytest.raises(InvalidParameterError, match="column 'reason': missing"):
        grade(_high_body(), overrides=[dict(indication="stroke", domain="imprecision", step=-1)])


def test_override_step_and_domain_are_checked():
    with pytest.raises(InvalidParameterError, match="integer from -3 to 0"):
        grade(
            _high_body(),
            overrides=[dict(indication="stroke", domain="imprecision", step=1, reason="x")],
        )
    with pytest.raises(InvalidParameterError, match="integer from 0 to 2"):
        grade(
            _high_body(),
            overrides=[dict(indication="stroke", domain="large_effect", step=-1, reason="x")],
        )
    with pytest.raises(InvalidParameterError, match="row 0, column 'domain'"):
        grade(
            _high_body(), overrides=[dict(indication="stroke", domain="bias", step=-1, reason="x")]
        )


def test_override_step_may_come_from_a_csv_as_text():
    ov = pd.DataFrame(
        {
            "indication": ["stroke"],
            "domain": ["imprecision"],
            "step": ["-1"],
            "reason": ["few events in practice"],
            "by": ["C"],
        },
        index=[7],
    )
    r = grade(_high_body(), overrides=ov).iloc[0]
    assert r["imprecision"] == -1 and r["certainty"] == "moderate"
    with pytest.raises(InvalidParameterError, match="Got 'minus one'"):
        grade(_high_body(), overrides=ov.assign(step="minus one"))


def test_override_matching_nothing_raises():
    with pytest.raises(InvalidParameterError, match="matches no body of evidence"):
        grade(
            _high_body(),
            overrides=[dict(indication="strokes", domain="imprecision", step=-1, reason="x")],
        )


# ---------------------------------------------------------------------------- statements/errors


@pytest.mark.parametrize(
    ("level", "est", "ci", "expected"),
    [
        ("high", -0.5, (-0.7, -0.3), "X reduces Y."),
        ("moderate", 0.5, (0.3, 0.7), "X likely increases Y."),
        ("low", -0.5, (-0.7, -0.3), "X may reduce Y."),
        ("low", -0.1, (-0.7, 0.3), "X may result in little to no difference in Y."),
        (
            "very low",
            -0.5,
            (-0.7, -0.3),
            "The evidence is very uncertain about the effect of X on Y.",
        ),
    ],
)
def test_informative_statements(level, est, ci, expected):
    assert (
        informative_statement(
            level,
            intervention="X",
            outcome="Y",
            measure="RR",
            estimate=est,
            ci_low=ci[0],
            ci_high=ci[1],
        )
        == expected
    )


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
    assert DOWN_DOMAINS == (
        "risk_of_bias",
        "inconsistency",
        "indirectness",
        "imprecision",
        "publication_bias",
    )


# ---------------------------------------------------------------------------- issue 11 extras


def test_events_reconstructed_from_the_ci_of_a_risk_ratio():
    from grading.domains import events_from_ci

    # Theodoulou 2023 SoF 3 (21 vs 14 mg patches): RR 1.48 (1.06 to 2.08), 537 participants;
    # the SoF's assumed control risk is 167 per 1,000
    se = (LOG(2.08) - LOG(1.06)) / (2 * 1.959963984540054)
    ev = events_from_ci("RR", se, LOG(1.48), 537)
    p0 = ev / (537 / 2) / (1 + 1.48)
    assert p0 == pytest.approx(0.167, abs=0.003)
    assert math.isnan(events_from_ci("OR", se, LOG(1.48), 537))
    assert math.isnan(events_from_ci("RR", se, LOG(1.48), math.nan))
    # grade() uses it when the sheet has no counts, and says so
    row = dict(
        study_id="T",
        indication="smoking",
        outcome="abstinence",
        stream="human",
        model="phase_3",
        randomised=True,
        controlled=True,
        data_type="estimate",
        measure="RR",
        estimate=1.48,
        ci_low=1.06,
        ci_high=2.08,
        n_total=537,
        outcome_kind="benefit",
        yi=LOG(1.48),
        vi=se**2,
    )
    r = grade(pd.DataFrame([row])).iloc[0]
    assert (
        r["imprecision"] == -1
        and "OIS of 300 events not met (112 events" in (r["imprecision_reason"])
    )
    assert "reconstructed from the CI and 537 participants" in r["imprecision_reason"]
    assert "event counts not recorded" in r["provisional_reason"]


def test_imprecision_extremely_serious_when_the_ci_crosses_and_information_is_tiny():
    j = _imp("RR", LOG(2.57), LOG(0.29), LOG(22.9), events=3)
    assert j.step == -3 and j.judgement == "extremely serious"
    assert "GRADE 34" in j.source
    # the same tiny body with a CI that does not cross the thresholds: very serious at most
    assert _imp("RR", LOG(0.3), LOG(0.15), LOG(0.6), events=3).step == -2


def test_pooled_table_is_the_graded_body():
    from grading.pooled import POOLED_COLUMNS, pooled_table

    rows = [
        _rct("A", 10, 50, 20, 50),
        _rct("A", 8, 50, 20, 50),
        _rct("B", 12, 60, 22, 60),
        _rct("C", 30, 100, 33, 100),
        dict(
            study_id="NCT1",
            indication="stroke",
            outcome="mRS",
            stream="human",
            model="phase_2",
            data_type="none",
            registry_id="NCT1",
        ),
    ]
    df = _counts_effects(rows[:4])
    df = pd.concat([df, pd.DataFrame([rows[4]]).assign(yi=np.nan, vi=np.nan)])
    g = grade(df)
    p = pooled_table(g)
    assert tuple(p.columns) == POOLED_COLUMNS and len(p) == 1  # mRS has no evidence
    death = g[g["outcome"] == "death"].iloc[0]
    assert p.loc[0, "estimate"] == death["estimate"] and p.loc[0, "k_records"] == 4
    assert "cluster-robust" in p.loc[0, "estimate_basis"]


def test_body_record_is_typed_and_frozen():
    import dataclasses

    from grading.body import Body

    names = {f.name for f in dataclasses.fields(Body)}
    assert {"sel", "measure", "estimate", "ci_low", "k", "clustered", "basis"} <= names
    assert Body.__dataclass_params__.frozen


def test_identical_tables_and_equal_standard_errors_never_abort():
    # issue 16 item 5: twelve identical 2x2 tables in one outcome
    rows = [_rct(f"S{i}", 10, 100, 20, 100) for i in range(12)]
    r = grade(_counts_effects(rows)).iloc[0]
    assert r["k"] == 12 and r["evidence_status"] != "no evidence"
    assert r["publication_bias_judgement"] == "not assessed"
    assert "not estimable" in r["publication_bias_reason"]
    assert "same sample size" in r["publication_bias_reason"]


def test_a_body_that_cannot_be_pooled_is_named_not_raised(monkeypatch):
    import grading.body
    from evidence.errors import ConvergenceError

    def boom(*a, **k):
        raise ConvergenceError("REML did not converge")

    monkeypatch.setattr(grading.body, "pool", boom)  # the name grading's body selection calls
    r = grade(_high_body()).iloc[0]
    assert r["evidence_status"] == "no evidence" and r["certainty"] is None
    assert r["no_evidence_reason"] == (
        "not estimable: the 3 results could not be pooled: REML did not converge"
    )


def test_estimate_rows_are_the_pooled_rows():
    rows = [
        _rct("R1", 75, 500, 150, 500),
        _rct("O", 5, 40, 6, 40, model="cohort", randomised=False),
        _rct("R2", 70, 500, 140, 500),
    ]
    df = _counts_effects(rows)
    r = grade(df).iloc[0]
    assert r["estimate_rows"] == "0; 2"
    from evidence import pool

    pr = pool(df["yi"].iloc[[0, 2]], df["vi"].iloc[[0, 2]])
    assert r["estimate"] == pytest.approx(pr.estimate, rel=1e-12)


def test_statement_words_follow_the_body_models():
    """Plants/microbes (model other_organism) sit in the animal stream but are not animals:
    the statement and its question wording say so (dat.curtis1998, elevated CO2)."""
    from grading.statements import informative_statement, model_prefix, question_statement

    kw = dict(
        intervention="elevated CO2",
        outcome="total plant biomass",
        measure="ROM",
        estimate=math.log(1.3),
        ci_low=math.log(1.2),
        ci_high=math.log(1.4),
        stream="animal",
        comparator="ambient CO2",
        outcome_direction="higher_is_better",
    )
    plants = informative_statement(
        "low", models=["other_organism"] * 3, model_details=["PINUS", "PINUS", "QUERCUS"], **kw
    )
    assert plants == (
        "In non-animal organisms (PINUS or QUERCUS), elevated CO2 compared with "
        "ambient CO2 may increase total plant biomass (an improvement)."
    )
    assert informative_statement("low", **kw).startswith("In animal models, ")
    assert informative_statement("low", models=["rat", "mouse"], **kw).startswith(
        "In animal models, "
    )
    assert model_prefix("animal", ["rat", "other_organism"]) == (
        "In animal models and other organisms, "
    )
    assert model_prefix("animal", ["other_organism"]) == "In non-animal organisms, "
    assert model_prefix("human", ["other_organism"]) == ""
    q = question_statement(
        "very low",
        stream="animal",
        intervention="elevated CO2",
        outcome="biomass",
        own_statement=plants,
        models=["other_organism"],
    )
    assert "(non-animal organism evidence only" in q and "animal evidence" not in q.replace(
        "non-animal organism evidence", ""
    )


def test_grade_words_plant_bodies_as_non_animal_organisms():
    st = pd.DataFrame(
        [
            dict(
                study_id=f"P{i}",
                indication="elevated CO2",
                outcome="biomass",
                stream="animal",
                model="other_organism",
                model_detail=g,
                data_type="continuous",
                measure="ROM",
                controlled=True,
                intervention="elevated CO2",
                comparator="ambient CO2",
                mean_int=m,
                sd_int=1.0,
                n_int=6,
                mean_ctrl=5.0,
                sd_ctrl=1.0,
                n_ctrl=6,
            )
            for i, (g, m) in enumerate([("PINUS", 7.0), ("ALNUS", 6.5), ("PINUS", 6.8)])
        ]
    )
    g = grade(st, question=None).iloc[0]
    assert g["statement"].startswith("In non-animal organisms (PINUS or ALNUS), elevated CO2")
    assert "animal models" not in g["statement"]
