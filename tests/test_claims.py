"""Tests of grading.claims: each flag and verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evidence.errors import ValidationError
from grading.certainty import grade
from grading.claims import audit_claims


def _rct(sid, ind, ei, ni, ec, nc, **kw):
    row = dict(
        study_id=sid,
        indication=ind,
        outcome="death",
        stream="human",
        model="phase_3",
        data_type="counts",
        measure="RR",
        randomised=True,
        controlled=True,
        events_int=ei,
        n_int=ni,
        events_ctrl=ec,
        n_ctrl=nc,
        rob_overall="low",
        intervention="EV",
        outcome_kind="benefit",
    )
    row.update(kw)
    return row


def _studies():
    rows = [_rct(f"S{i}", "sepsis", 75, 500, 150, 500) for i in range(3)]
    rows += [
        dict(
            study_id="M1",
            indication="hair loss",
            outcome="hair density",
            stream="animal",
            model="mouse",
            data_type="estimate",
            measure="SMD",
            estimate=-1.0,
            ci_low=-1.5,
            ci_high=-0.5,
            outcome_kind="benefit",
            intervention="EV",
        ),
        dict(
            study_id="CR1",
            indication="hair loss",
            outcome="adverse events",
            stream="human",
            model="case_report",
            data_type="none",
            outcome_kind="harm",
        ),
        _rct("W1", "wounds", 10, 20, 12, 20, randomised=False, model="cohort"),
    ]
    df = pd.DataFrame(rows)
    a, n1, c, n2 = (pd.to_numeric(df[x]) for x in ("events_int", "n_int", "events_ctrl", "n_ctrl"))
    df["yi"] = np.log((a / n1) / (c / n2))
    df["vi"] = 1 / a - 1 / n1 + 1 / c - 1 / n2
    m = df["study_id"] == "M1"
    df.loc[m, "yi"] = -1.0
    df.loc[m, "vi"] = (0.5 / 1.959964) ** 2
    return df


CLAIMS = pd.DataFrame(
    [
        dict(
            claim_id="C1",
            indication="Sepsis",
            claim="cures sepsis",
            claimant="X",
            n_businesses=3,
            citation_key="k1",
        ),
        dict(
            claim_id="C2",
            indication="hair loss",
            claim="regrows hair",
            claimant="Y",
            n_businesses=10,
            citation_key="k2",
        ),
        dict(
            claim_id="C3",
            indication="wrinkles",
            claim="removes wrinkles",
            claimant="Z",
            n_businesses=1,
            citation_key="k3",
        ),
        dict(
            claim_id="C4",
            indication="wounds",
            claim="heals wounds",
            claimant="Z",
            n_businesses=2,
            citation_key="k4",
        ),
    ]
)


@pytest.fixture(scope="module")
def audit():
    st = _studies()
    return audit_claims(CLAIMS, grade(st), studies=st).set_index("claim_id")


def test_supported_claim(audit):
    r = audit.loc["C1"]
    assert r["best_human_certainty"] == "high" and r["verdict"] == "supported by human evidence"
    assert r["flags"] == "" and not r["human_below_threshold"]
    assert r["n_businesses"] == 3 and r["citation_key"] == "k1"


def test_preclinical_only_claim_with_harm_signal(audit):
    r = audit.loc["C2"]
    assert r["only_preclinical"] and r["harm_signal"] and r["human_below_threshold"]
    assert r["verdict"] == "preclinical only (with harm signal)"
    assert "CR1 (human)" in r["reason"]
    assert r["best_preclinical_certainty"] is not None


def test_no_evidence_claim(audit):
    r = audit.loc["C3"]
    assert r["no_evidence"] and r["verdict"] == "no evidence"
    assert r["reason"] == "no study record or graded body for 'wrinkles'"


def test_human_below_threshold_claim(audit):
    r = audit.loc["C4"]
    assert r["human_below_threshold"] and not r["only_preclinical"]
    assert r["verdict"] == "insufficient human evidence"
    assert "is below moderate" in r["reason"]


def test_threshold_comes_from_the_scheme():
    st = _studies()
    out = audit_claims(
        CLAIMS, grade(st), studies=st, scheme='human_certainty_threshold = "very low"'
    )
    assert out.set_index("claim_id").loc["C4", "verdict"] == "supported by human evidence"


def test_claims_errors():
    with pytest.raises(ValidationError, match="'claim'"):
        audit_claims(CLAIMS.drop(columns="claim"), grade(_studies()))
