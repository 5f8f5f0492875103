"""Tests of grading.integrate: one test per integration rule."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from evidence.errors import InvalidParameterError, ValidationError
from grading.integrate import INTEGRATED_JUDGEMENTS, integrate_streams


def _g(ind, outcome, stream, certainty, est, lo, hi, *, within=None, kind="benefit", k=2):
    return dict(
        indication=ind,
        outcome=outcome,
        stream=stream,
        outcome_kind=kind,
        certainty=certainty,
        certainty_within_stream=within or certainty,
        estimate=est,
        ci_low=lo,
        ci_high=hi,
        k=k,
        intervention="EV",
    )


def _one(rows):
    return integrate_streams(pd.DataFrame(rows)).iloc[0]


@pytest.mark.parametrize(
    ("level", "expected"),
    [("high", "demonstrates"), ("moderate", "indicates"), ("low", "suggests")],
)
def test_human_effect_sets_the_judgement(level, expected):
    r = _one(
        [
            _g("A", "death", "human", level, -0.5, -0.8, -0.2),
            _g("A", "infarct", "animal", "very low", -1, -2, -0.5, within="high"),
        ]
    )
    assert r["judgement"] == expected
    assert r["symbol"] == INTEGRATED_JUDGEMENTS[expected]
    assert r["statement"] == (
        f"Evidence {expected} that EV reduces death in humans ({level} certainty)."
    )
    assert r["reason"].startswith("rule 2")


def test_high_certainty_null_supports_no_effect():
    r = _one([_g("A", "death", "human", "high", 0.01, -0.05, 0.07)])
    assert r["judgement"] == "supports no effect" and r["symbol"] == "⊝⊝⊝"


def test_animal_only_effect_suggests_with_caveat():
    r = _one(
        [
            _g("A", "death", "human", "very low", math.nan, math.nan, math.nan),
            _g("A", "infarct", "animal", "very low", -1, -2, -0.5, within="moderate"),
        ]
    )
    assert r["judgement"] == "suggests" and r["reason"].startswith("rule 4")
    assert "animal models only" in r["statement"]
    assert r["animal_certainty"] == "moderate" and r["human_certainty"] == "very low"


def test_weak_evidence_is_inadequate():
    r = _one(
        [
            _g("A", "death", "human", "very low", -0.5, -0.8, -0.2),
            _g("A", "infarct", "animal", "very low", -1, -2, -0.5, within="low"),
            _g("A", "viability", "in_vitro", "very low", 1, 0.5, 2, within="low"),
        ]
    )
    assert r["judgement"] == "inadequate" and r["reason"].startswith("rule 5")
    assert r["in_vitro_certainty"] == "low"


def test_harm_outcomes_do_not_count_as_efficacy():
    r = _one([_g("A", "adverse events", "human", "high", 0.5, 0.2, 0.8, kind="harm")])
    assert r["judgement"] == "inadequate" and r["human_certainty"] is None


def test_one_row_per_indication_and_source_named():
    out = integrate_streams(
        pd.DataFrame(
            [
                _g("A", "x", "human", "low", -1, -2, -0.5),
                _g("B", "y", "human", "low", -1, -2, -0.5),
                _g("A", "z", "human", "moderate", -1, -2, -0.5),
            ]
        )
    )
    assert list(out["indication"]) == ["A", "B"]
    assert list(out["judgement"]) == ["indicates", "suggests"]
    assert "HAWC" in out.loc[0, "source"] and "evigap convention" in out.loc[0, "source"]


def test_errors():
    with pytest.raises(InvalidParameterError):
        integrate_streams("grades")
    with pytest.raises(ValidationError, match="needs column 'outcome'"):
        integrate_streams(pd.DataFrame([{"indication": "A"}]))
