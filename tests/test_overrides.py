"""grading.overrides (read_overrides, overrides in grade()), importance and overall certainty."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evidence.errors import InvalidParameterError
from grading import grade, overall_certainty, read_overrides
from grading.statements import informative_statement, name_list, question_statement


def _rct(sid, ei, ni, ec, nc, *, outcome="death", stream="human", model="phase_3", **kw):
    row = dict(
        study_id=sid,
        indication="stroke",
        outcome=outcome,
        stream=stream,
        model=model,
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
        comparator="placebo",
        outcome_kind="benefit",
    )
    row.update(kw)
    return row


def _body(rows):
    df = pd.DataFrame(rows)
    a, n1, c, n2 = (df[x].astype(float) for x in ("events_int", "n_int", "events_ctrl", "n_ctrl"))
    df["yi"] = np.log((a / n1) / (c / n2))
    df["vi"] = 1 / a - 1 / n1 + 1 / c - 1 / n2
    return df


@pytest.fixture
def studies():
    rows = [_rct(f"S{i}", 75, 500, 150, 500) for i in range(3)]
    rows += [_rct(f"T{i}", 100, 500, 104, 500, outcome="disability") for i in range(3)]
    rows += [
        dict(
            study_id="NCT9",
            indication="stroke",
            outcome="quality of life",
            stream="human",
            model="phase_2",
            data_type="none",
            registry_id="NCT9",
            randomised=True,
            outcome_kind="benefit",
            yi=np.nan,
            vi=np.nan,
        )
    ]
    return _body(rows)


OVERRIDES_CSV = "\n".join(
    [
        "indication,outcome,stream,domain,step,reason,by,importance,threshold_low,threshold_high",
        'stroke,death,human,indirectness,not serious,"population, intervention and outcome as in '
        'the question",A. Reviewer,,,',
        'stroke,death,human,publication_bias,0,"trial registries searched; no unpublished trials",'
        "A. Reviewer,,,",
        'stroke,disability,,risk_of_bias,-1,"outcome assessors not blinded in all trials",'
        "B. Reviewer,,,",
        "stroke,death,,importance,,,,critical,,",
        "stroke,disability,,,,,,critical,,",
        "stroke,quality of life,,importance,,,,important,,",
        'stroke,disability,human,thresholds,,"panel MID for disability",A. Reviewer,,0.9,1.1',
        "",
    ]
)


def test_read_overrides_parses_each_kind(tmp_path):
    path = tmp_path / "overrides.csv"
    path.write_text(OVERRIDES_CSV, encoding="utf-8")
    ov = read_overrides(path)
    assert list(ov["kind"]) == [
        "domain",
        "domain",
        "domain",
        "importance",
        "importance",
        "importance",
        "thresholds",
    ]
    assert list(ov["step"].iloc[:3]) == [0, 0, -1]
    assert ov.loc[4, "domain"] == "importance" and ov.loc[4, "importance"] == "critical"
    assert ov.loc[6, "threshold_low"] == 0.9 and list(ov["line"]) == [2, 3, 4, 5, 6, 7, 8]


def test_grade_applies_an_overrides_file(tmp_path, studies):
    path = tmp_path / "overrides.csv"
    path.write_text(OVERRIDES_CSV, encoding="utf-8")
    g = grade(studies, overrides=path).set_index("outcome")
    death = g.loc["death"]
    # indirectness and publication bias recorded by the reviewer: no longer provisional
    assert death["indirectness_judgement"] == "not serious"
    assert death["indirectness_suggested"] == 0 and death["indirectness_override_by"] == (
        "A. Reviewer"
    )
    assert death["indirectness_reason"].startswith("override by A. Reviewer: population")
    assert "(rule: not assessed:" in death["indirectness_reason"]
    assert death["evidence_status"] == "rated" and pd.isna(death["provisional_reason"])
    assert death["certainty"] == "high" and death["importance"] == "critical"
    dis = g.loc["disability"]
    assert dis["risk_of_bias"] == -1 and dis["risk_of_bias_override_by"] == "B. Reviewer"
    assert dis["importance"] == "critical"
    # reviewer thresholds RR 0.9 / 1.1: RR 0.96 is trivial, its CI crosses both -> -2
    assert dis["decision_thresholds"].startswith("RR 0.9 / 1.1")
    assert dis["imprecision"] == -2 and "crosses both thresholds" in dis["imprecision_reason"]
    # with the default thresholds (RR 0.75 / 1.25) the same CI is precise
    assert grade(studies).set_index("outcome").loc["disability", "imprecision"] == 0
    assert g.loc["quality of life", "importance"] == "important"
    assert g.loc["quality of life", "evidence_status"] == "no evidence"


def test_overall_certainty_is_the_lowest_critical_outcome(tmp_path, studies):
    path = tmp_path / "overrides.csv"
    path.write_text(OVERRIDES_CSV, encoding="utf-8")
    g = grade(studies, overrides=path)
    o = overall_certainty(g).iloc[0]
    assert (o["indication"], o["stream"], o["n_critical"]) == ("stroke", "human", 2)
    lowest = g.set_index("outcome").loc["disability", "certainty"]
    assert o["overall_certainty"] == lowest and o["lowest_outcomes"] == "disability"
    assert "GRADE 11" in o["source"]
    # no outcome marked critical: no overall certainty, and the note says why
    o = overall_certainty(grade(studies)).iloc[0]
    assert o["overall_certainty"] is None and "no outcome marked critical" in o["note"]


def test_thresholds_from_the_sheet(studies):
    g = grade(studies.assign(threshold_low=0.9, threshold_high=1.1)).set_index("outcome")
    assert g.loc["disability", "decision_thresholds"].startswith("RR 0.9 / 1.1")
    assert g.loc["disability", "imprecision"] == -2


def test_importance_from_the_sheet(studies):
    g = grade(studies.assign(importance="Critical")).set_index("outcome")
    assert g.loc["death", "importance"] == "critical"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("indication,domain,step,reason\nstroke,imprecision,-1,\n", "line 2, column 'reason'"),
        ("indication,domain,step,reason\nstroke,imprecision,+1,x\n", "line 2, column 'step'"),
        ("indication,domain,step,reason\nstroke,bias,-1,x\n", "line 2, column 'domain'"),
        ("indication,domain,importance\nstroke,importance,vital\n", "line 2, column 'importance'"),
        (
            "indication,domain,reason,threshold_low,threshold_high\nstroke,thresholds,x,1.2,0.8\n",
            "threshold_low < threshold_high",
        ),
        ("indication,domain,step,reason,colour\nstroke,imprecision,-1,x,red\n", "'colour'"),
        ("domain,step,reason\nimprecision,-1,x\n", "'indication' column"),
    ],
)
def test_bad_overrides_files_name_line_and_column(tmp_path, text, match):
    path = tmp_path / "o.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidParameterError, match=match):
        read_overrides(path)


def test_missing_overrides_file_and_unmatched_override(tmp_path, studies):
    with pytest.raises(InvalidParameterError, match="missing file"):
        read_overrides(tmp_path / "nope.csv")
    with pytest.raises(InvalidParameterError, match="line 2: .*matches no body"):
        path = tmp_path / "o.csv"
        path.write_text("indication,domain,step,reason\nstrok,imprecision,-1,x\n")
        grade(studies, overrides=path)


# ---------------------------------------------------------------------------- statements

LOG = math.log


def test_statement_keys_little_difference_to_the_point_estimate():
    # two small trials, RR 0.69 (0.35 to 1.37): an important effect, not "little difference"
    s = informative_statement(
        "low",
        intervention="B",
        outcome="failure",
        measure="RR",
        estimate=LOG(0.69),
        ci_low=LOG(0.35),
        ci_high=LOG(1.37),
    )
    assert s == "B may reduce failure."
    s = informative_statement(
        "high",
        intervention="B",
        outcome="failure",
        measure="RR",
        estimate=LOG(1.0),
        ci_low=LOG(0.95),
        ci_high=LOG(1.06),
        comparator="placebo",
    )
    assert s == "B compared with placebo results in little to no difference in failure."


def test_statement_says_improvement_for_lower_is_better_scores():
    s = informative_statement(
        "moderate",
        intervention="T",
        outcome="SGRQ",
        measure="MD",
        estimate=-2.9,
        ci_low=-3.4,
        ci_high=-2.4,
        outcome_direction="higher_is_worse",
    )
    assert s == "T likely reduces SGRQ (an improvement)."


def test_names_of_the_whole_body():
    assert name_list(["gum", "patch", "gum", None, ""], default="x") == "gum or patch"
    assert name_list(["a", "b", "c", "d", "e"], default="x", limit=3) == "a, b, c or 2 others"
    assert name_list([None], default="the intervention") == "the intervention"
    assert name_list(["NRT (gum)", "NRT (patch)", "NRT (gum)"], default="x") == (
        "NRT (gum or patch)"
    )
    assert name_list([f"NRT ({f})" for f in "abcdef"], default="x") == (
        "NRT (a, b, c or 3 other forms)"
    )


def test_question_statement_for_preclinical_bodies():
    own = "In animal models, EV reduces infarct volume."
    q = question_statement(
        "low", stream="animal", intervention="EV", outcome="infarct volume", own_statement=own
    )
    assert q.startswith("For people, animal evidence alone gives low certainty")
    q = question_statement(
        "very low", stream="in_vitro", intervention="EV", outcome="x", own_statement=own
    )
    assert "very uncertain" in q and "cell-culture" in q
    assert (
        question_statement(
            "high", stream="human", intervention="EV", outcome="x", own_statement="EV reduces x."
        )
        == "EV reduces x."
    )


def test_baseline_risk_rows_read_and_checked(tmp_path):
    from evidence.errors import InvalidParameterError
    from grading.overrides import read_overrides

    p = tmp_path / "o.csv"
    p.write_text(
        "indication,outcome,domain,reason,baseline_risk\n"
        "sepsis,death,baseline_risk,Registry 2021,0.25\n",
        encoding="utf-8",
    )
    o = read_overrides(p)
    assert o.loc[0, "kind"] == "baseline_risk" and o.loc[0, "baseline_risk"] == 0.25
    p.write_text(
        "indication,outcome,domain,reason,baseline_risk\n"
        "sepsis,death,baseline_risk,Registry 2021,25\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidParameterError, match="line 2, column 'baseline_risk'"):
        read_overrides(p)
    p.write_text(
        "indication,outcome,domain,reason,baseline_risk\nsepsis,death,baseline_risk,,0.25\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidParameterError, match="column 'reason'"):
        read_overrides(p)
