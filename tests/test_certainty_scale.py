"""grade() body rules on small hand-made bodies: the tie-breaks and readings of odd cells.

Each body is built so that exactly one answer follows from the documented rule (one result per
study = smallest vi, first on ties; most common measure / intervention, first seen on ties;
aggregate record with most k_studies, then latest year, first on ties; best design tier).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from grading.certainty import grade
from grading.rob import assess_rob, rob_classes


def _rec(sid, yi, vi, **kw):
    row = dict(
        study_id=sid,
        indication="stroke",
        outcome="death",
        stream="human",
        model="phase_3",
        data_type="estimate",
        measure="SMD",
        randomised=True,
        controlled=True,
        intervention="EV",
        outcome_kind="benefit",
        rob_overall="low",
        yi=yi,
        vi=vi,
    )
    row.update(kw)
    return row


def _one(rows, **kw) -> pd.Series:
    g = grade(pd.DataFrame(rows), **kw)
    assert len(g) == 1
    return g.iloc[0]


def test_every_row_of_a_study_is_pooled_with_cluster_robust_inference():
    rows = [
        _rec("A", -0.1, 0.20),
        _rec("B", -0.2, 0.10),
        _rec("A", -0.3, 0.05),
        _rec("B", -0.4, 0.10),
        _rec("C", -0.5, 0.30),
    ]
    r = _one(rows)
    # no silent selection: all five rows, studies in order seen
    assert r["study_ids"] == "A; B; C" and r["k"] == 3 and r["k_records"] == 5
    assert "5 records from 3 studies pooled" in r["estimate_basis"]
    assert "cluster-robust CR2 standard error by study" in r["estimate_basis"]
    from evidence import pool_clustered

    df = pd.DataFrame(rows)
    pr = pool_clustered(df.assign(study=df["study_id"]), cluster="study", method="REML", vcov="CR2")
    assert r["estimate"] == pr.estimate and r["tau2"] == pr.tau2 and r["se"] == pr.se


def test_missing_study_ids_in_text_columns_are_one_study():
    rows = [_rec(None, -0.1, 0.2), _rec(None, -0.2, 0.1), _rec("A", -0.3, 0.3)]
    df = pd.DataFrame(rows).astype({"study_id": "string"})
    r = grade(df).iloc[0]
    assert r["study_ids"] == "<NA>; A" and r["estimate_basis"].startswith(
        "randomised studies with results, measure SMD: 3 records from 2 studies pooled"
    )


def test_most_common_measure_is_pooled_first_seen_on_ties():
    r = _one(
        [
            _rec("A", -0.1, 0.2, measure="MD"),
            _rec("B", -0.2, 0.1, measure="SMD"),
            _rec("C", -0.3, 0.3, measure="SMD"),
            _rec("D", -0.4, 0.3, measure="MD"),
        ]
    )
    assert r["measure"] == "MD" and r["study_ids"] == "A; D"
    r = _one(
        [
            _rec("A", -0.1, 0.2, measure="MD"),
            _rec("B", -0.2, 0.1, measure="SMD"),
            _rec("C", -0.3, 0.3, measure="SMD"),
        ]
    )
    assert r["measure"] == "SMD" and r["study_ids"] == "B; C"


def test_missing_measure_falls_back_to_the_data_type_default():
    r = _one(
        [
            _rec("A", -0.1, 0.2, measure=None, data_type="continuous"),
            _rec("B", -0.2, 0.1, measure="nan", data_type="continuous"),
            _rec("C", -0.3, 0.3, measure="SMD"),
        ]
    )
    assert r["measure"] == "MD" and r["study_ids"] == "A; B"


def test_mode_of_intervention_and_comparator_first_seen_on_ties():
    r = _one(
        [
            _rec("A", -0.1, 0.2, intervention="X", comparator=""),
            _rec("B", -0.2, 0.1, intervention="Y", comparator="saline"),
            _rec("C", -0.3, 0.3, intervention="Y", comparator="none"),
            _rec("D", -0.4, 0.3, intervention="X", comparator="PBS"),
        ]
    )
    # the whole body is named (most common first, first seen on ties), not its first row
    assert r["intervention"] == "X or Y"
    assert r["comparator"] == "saline or PBS"  # "" and "none" are missing
    assert r["outcome_kind"] == "benefit"


def test_aggregate_with_most_studies_then_latest_first_on_ties():
    ma = dict(model="meta_analysis", randomised=None)
    rows = [
        _rec("P", -1.0, 0.2),
        _rec("M1", -0.5, 0.04, k_studies=12, year=2015, **ma),
        _rec("M2", -0.6, 0.04, k_studies=12, year=2020, **ma),
        _rec("M3", -0.7, 0.04, k_studies=12, year=2020, **ma),
        _rec("M4", -0.8, 0.04, k_studies=8, year=2024, **ma),
    ]
    r = _one(rows)
    assert r["study_ids"] == "M2" and r["k"] == 12 and r["estimate"] == -0.6
    assert r["estimate_basis"] == (
        "aggregate record M2 (k_studies = 12); 4 records not pooled with it (may be inside it)"
    )
    assert r["design"] == "aggregate record, design not randomised/unknown"


def test_aggregate_without_k_studies_counts_as_one():
    ma = dict(model="meta_analysis", randomised=True)
    r = _one(
        [
            _rec("M1", -0.5, 0.04, k_studies=np.nan, **ma),
            _rec("M2", -0.6, 0.04, k_studies=np.nan, **ma),
        ]
    )
    assert r["study_ids"] == "M1" and r["k"] == 1 and r["design"] == "randomised"
    assert "(k_studies = not recorded)" in r["estimate_basis"]


def test_best_tier_with_results_carries_the_estimate():
    r = _one(
        [
            _rec("O1", -0.1, 0.2, model="cohort", randomised=False),
            _rec("R1", np.nan, np.nan),
            _rec("R2", -0.3, 0.0),  # vi = 0 is not a numeric result
            _rec("O2", -0.2, 0.1, model="cohort", randomised="no"),
        ]
    )
    assert r["design"] == "non-randomised" and r["study_ids"] == "O1; O2"
    assert r["starting_level"] == "low"


def test_not_estimable_body_names_the_best_tier_records():
    r = _one(
        [
            _rec("O1", np.nan, np.nan, model="cohort", randomised=False, n_int=10, n_ctrl=12),
            _rec("R1", np.nan, np.nan, n_total=30),
            _rec("R2", np.nan, np.nan, n_int=5, n_ctrl=7, within_subject="yes"),
        ]
    )
    assert not r["estimable"] and r["k"] == 0 and r["study_ids"] == "R1; R2"
    assert r["n_participants"] == 30 + 7  # n_total; within-subject: the larger arm
    assert r["evidence_status"] == "no evidence"
    assert r["no_evidence_reason"] == ("no result to rate: 3 records without a numeric result")


def test_counts_totals_and_control_risk():
    rows = [
        _rec(
            "A",
            -0.5,
            0.1,
            data_type="counts",
            measure="RR",
            events_int=5,
            n_int=50,
            events_ctrl=10,
            n_ctrl=50,
        ),
        _rec(
            "B",
            -0.4,
            0.2,
            data_type="counts",
            measure="RR",
            events_int=3,
            n_int=40,
            events_ctrl=6,
            n_ctrl=40,
        ),
    ]
    r = _one(rows)
    assert (r["n_events"], r["n_participants"], r["events_ctrl_total"]) == (24, 180, 16)
    assert r["control_risk"] == 16 / 90
    rows[1]["events_int"] = None
    r = _one(rows)
    assert math.isnan(r["n_events"]) and math.isnan(r["events_int_total"])
    assert r["n_int_total"] == 90


@pytest.mark.parametrize("dtype", ["object", "string", "category"])
def test_text_booleans_and_numbers_read_like_their_values(dtype):
    rows = [
        _rec("A", -0.5, 0.1, randomised="TRUE", k_studies="3", n_int="20", n_ctrl="22"),
        _rec("B", -0.4, 0.2, randomised="y", k_studies="x", n_int="", n_ctrl="30", n_total="25"),
    ]
    df = pd.DataFrame(rows)
    for c in ("randomised", "n_int", "n_ctrl", "n_total", "k_studies"):
        df[c] = df[c].astype(dtype)
    r = grade(df).iloc[0]
    assert r["design"] == "randomised" and r["n_participants"] == 42 + 25


def test_rob_classes_is_assess_rob_overall_class():
    df = pd.DataFrame(
        [
            dict(study_id="A", stream="human", rob_tool="rob2", rob_domains="D1=low; D2=high"),
            dict(study_id="B", stream="animal", rob_domains="D1=yes; D2=yes"),
            dict(study_id="C", stream="in_vitro", rob_overall="some concerns"),
            dict(study_id="D", stream="human"),
            dict(study_id="E", stream="human", rob_tool="rob2", rob_domains="D1=low; D2=high"),
        ]
    )
    classes = rob_classes(df)
    assert list(classes) == ["high", "low", "unclear", "unclear", "high"]
    assert list(classes) == assess_rob(df)["overall_class"].tolist()
