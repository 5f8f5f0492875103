"""Tests of grading.tables: GRADEpro columns, footnotes, escaping in every exporter."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evidence.errors import ValidationError
from grading.certainty import grade
from grading.tables import (
    EVIDENCE_PROFILE_COLUMNS,
    SUMMARY_OF_FINDINGS_COLUMNS,
    evidence_profile,
    summary_of_findings,
    to_csv,
    to_html,
    to_latex,
    to_markdown,
)


def _grades():
    rows = []
    for i, (ei, ec) in enumerate([(10, 20), (12, 22)]):
        rows.append(
            dict(
                study_id=f"S{i}",
                indication="stroke",
                outcome="death <b>&</b> | 50%",
                stream="human",
                model="phase_3",
                data_type="counts",
                measure="RR",
                randomised=True,
                controlled=True,
                events_int=ei,
                n_int=55,
                events_ctrl=ec,
                n_ctrl=55,
                rob_overall="high" if i else "low",
                intervention="EV",
                outcome_kind="benefit",
            )
        )
    rows.append(
        dict(
            study_id="A",
            indication="stroke",
            outcome="infarct",
            stream="animal",
            model="rat",
            data_type="estimate",
            measure="SMD",
            randomised=True,
            intervention="EV",
            outcome_kind="benefit",
            yi=-1.0,
            vi=0.1,
            n_int=8,
            n_ctrl=8,
        )
    )
    df = pd.DataFrame(rows)
    m = df["stream"] == "human"
    a, n1, c, n2 = (
        df.loc[m, x].astype(float) for x in ("events_int", "n_int", "events_ctrl", "n_ctrl")
    )
    df.loc[m, "yi"] = np.log((a / n1) / (c / n2))
    df.loc[m, "vi"] = 1 / a - 1 / n1 + 1 / c - 1 / n2
    return grade(df)


def test_evidence_profile_columns_and_cells():
    g = _grades()
    ep = evidence_profile(g)
    assert tuple(ep.columns) == EVIDENCE_PROFILE_COLUMNS
    h = ep[ep["Stream"] == "human"].iloc[0]
    gh = g[g["stream"] == "human"].iloc[0]
    assert h["№ of studies"] == 2
    assert h["№ of patients: intervention"] == "22/110 (20.0%)"
    assert h["№ of patients: comparison"] == "42/110 (38.2%)"
    rr = math.exp(gh["estimate"])
    assert h["Relative (95% CI)"] == (
        f"RR {rr:.2f} ({math.exp(gh['ci_low']):.2f} to {math.exp(gh['ci_high']):.2f})"
    )
    cr = 42 / 110
    assert h["Absolute (95% CI)"].startswith(f"{round(abs(cr * rr - cr) * 1000)} fewer per 1,000")
    # issue 11 engine (GRADE 4 / Handbook ch. 14): 55% of the weight at high risk of bias is
    # serious (-1); very serious needs >= 80% (it was -2 before the engine changed)
    assert gh["risk_of_bias"] == -1
    assert h["Risk of bias"].startswith("serious (")
    assert h["Inconsistency"] == "not serious"
    # a domain without data reads 'not assessed' (with its note), never 'not serious'
    assert h["Indirectness"].startswith("not assessed (")
    assert h["Other considerations"].startswith("publication bias not assessed (")
    assert h["Certainty"].startswith("⊕◯◯◯ Very low (") and " provisional (" in h["Certainty"]
    a = ep[ep["Stream"] == "animal"].iloc[0]
    assert a["Translational indirectness"].startswith("very serious (")
    assert a["Risk of bias"].startswith("not assessed (")
    assert a["Inconsistency"].startswith("not assessed (")
    assert a["Imprecision"] == "not serious"
    assert a["Absolute (95% CI)"] == "SMD 1.00 lower (1.62 lower to 0.38 lower)"
    notes = dict(ep.attrs["footnotes"])
    mk = a["Risk of bias"][len("not assessed (") : -1]
    assert notes[mk].startswith(
        "Risk of bias: not assessed: no risk-of-bias judgement recorded for the 1 study. Source: "
    )


def test_every_rating_has_a_footnote():
    g = _grades()
    ep = evidence_profile(g)
    notes = ep.attrs["footnotes"]
    domains = (
        "risk_of_bias",
        "inconsistency",
        "indirectness",
        "imprecision",
        "publication_bias",
        "translational_indirectness",
        "large_effect",
        "dose_response",
        "plausible_confounding",
    )
    n_rated = int(sum((g[d] != 0).sum() for d in domains))
    # issue 11: a not-assessed domain is explained too (why it was not assessed)
    n_not_assessed = int(sum((g[f"{d}_judgement"] == "not assessed").sum() for d in domains))
    n_provisional = int((g["evidence_status"] == "provisional").sum())
    assert (n_rated, n_not_assessed, n_provisional) == (3, 6, 2)
    # + one certainty note and one provisional note per row (every text here differs)
    assert len(notes) == n_rated + n_not_assessed + len(g) + n_provisional
    assert [m for m, _ in notes] == [chr(ord("a") + i) for i in range(len(notes))]
    assert any(
        t.startswith("Starts high (randomised); risk of bias -1, imprecision -2 = very low")
        for _, t in notes
    )
    assert any(
        t.startswith("Provisional: indirectness not assessed; publication bias not assessed")
        for _, t in notes
    )
    assert all("Source:" in t for _, t in notes if not t.startswith(("Starts", "Provisional")))


def test_summary_of_findings_columns_and_risks():
    g = _grades()
    sof = summary_of_findings(g)
    assert tuple(sof.columns) == SUMMARY_OF_FINDINGS_COLUMNS
    h = sof[sof["Stream"] == "human"].iloc[0]
    # control arms: 42 / 110 = 0.382
    assert h["Risk with comparator"] == "382 per 1,000 (control arms)"
    assert h["№ of participants (studies)"] == "220 (2 studies)"
    a = sof[sof["Stream"] == "animal"].iloc[0]
    assert a["Risk with comparator"] == "not applicable (animal outcome)"
    assert a["Risk difference with intervention (95% CI)"].startswith("SMD 1.00 lower")
    assert "large effect" in a["Risk difference with intervention (95% CI)"]


def _one_trial(measure="RR"):
    st = pd.DataFrame(
        [
            dict(
                study_id="T",
                indication="sepsis",
                outcome="death",
                stream="human",
                model="phase_3",
                data_type="counts",
                measure=measure,
                randomised=True,
                controlled=True,
                events_int=20,
                n_int=100,
                events_ctrl=40,
                n_ctrl=100,
                rob_overall="low",
                intervention="EV",
                outcome_kind="benefit",
            )
        ]
    )
    from evidence.study_effects import study_effects

    return grade(study_effects(st))


def test_sof_absolute_effects_hand_computed():
    # RR = 0.2 / 0.4 = 0.5; var ln RR = 1/20 - 1/100 + 1/40 - 1/100 = 0.055
    se = math.sqrt(0.055)
    lo, hi = 0.5 * math.exp(-1.959963985 * se), 0.5 * math.exp(1.959963985 * se)
    assert (round(lo, 4), round(hi, 4)) == (0.3158, 0.7918)
    r = summary_of_findings(_one_trial()).iloc[0]
    assert r["Relative effect (95% CI)"] == "RR 0.50 (0.32 to 0.79)"
    assert r["Risk with comparator"] == "400 per 1,000 (control arms)"
    # 0.4 x 0.5 - 0.4 = -0.200; 0.4 x (0.3158 - 1) = -0.274; 0.4 x (0.7918 - 1) = -0.083
    assert r["Risk difference with intervention (95% CI)"] == (
        "200 fewer per 1,000 (from 274 fewer to 83 fewer)"
    )
    # a user-set baseline risk of 10%: -0.050, -0.068, -0.021
    r = summary_of_findings(_one_trial(), baseline_risk=0.1).iloc[0]
    assert r["Risk with comparator"] == "100 per 1,000 (baseline risk given)"
    assert r["Risk difference with intervention (95% CI)"] == (
        "50 fewer per 1,000 (from 68 fewer to 21 fewer)"
    )
    r = summary_of_findings(_one_trial(), baseline_risk={"sepsis": 0.1}).iloc[0]
    assert r["Risk with comparator"] == "100 per 1,000 (baseline risk given)"


def test_sof_odds_ratio_absolute_effect():
    # OR = (20/80) / (40/60) = 0.375; at p0 = 0.4: 0.375 x 0.4 / (0.6 + 0.15) = 0.2
    r = summary_of_findings(_one_trial("OR")).iloc[0]
    assert r["Relative effect (95% CI)"].startswith("OR 0.38 (")
    assert r["Risk difference with intervention (95% CI)"].startswith("200 fewer per 1,000")


def test_sof_plain_language_and_no_evidence_rows():
    g = _grades()
    sof = summary_of_findings(g)
    for _, r in sof.iterrows():
        if "Very low" in r["Certainty of the evidence (GRADE)"]:
            assert "the evidence is very uncertain" in r["What happens"].lower()
    # the statement is grade()'s GRADE 26 statement for the question, row for row
    keys = ["indication", "outcome", "stream"]
    want = g.set_index(keys)["statement_question"]
    for _, r in sof.iterrows():
        key = (r["Indication"], r["Outcome"], r["Stream"].replace(" ", "_"))
        assert r["What happens"] == want.loc[key]
    g2 = g.copy()
    g2["evidence_status"] = "rated"
    g2.loc[g2["stream"] == "animal", "evidence_status"] = "no evidence"
    g2["no_evidence_reason"] = "3 registered trials without results"
    out = summary_of_findings(g2)
    assert list(out["Stream"]) == ["human"]
    assert out.attrs["not_shown"][0][3] == "3 registered trials without results"
    out = summary_of_findings(g2, include_no_evidence=True)
    row = out[out["Stream"] == "animal"].iloc[0]
    assert row["Certainty of the evidence (GRADE)"] == "no result to rate"
    assert row["№ of participants (studies)"] == "— (3 registered trials without results)"
    g3 = g.copy()
    g3["evidence_status"] = "provisional"
    g3["provisional_reason"] = "risk of bias not assessed"
    row = summary_of_findings(g3).iloc[0]
    assert "provisional (" in row["Certainty of the evidence (GRADE)"]
    assert "Provisional: risk of bias not assessed" in row["Footnotes"]
    with pytest.raises(Exception, match="baseline_risk"):
        summary_of_findings(g, baseline_risk=1.5)


def test_markdown_escapes_pipes():
    md = to_markdown(evidence_profile(_grades()))
    assert "death &lt;b&gt;&amp;&lt;/b&gt; \\| 50%" in md
    assert md.splitlines()[1].count("---") == len(EVIDENCE_PROFILE_COLUMNS) - 1
    assert "\na. " in md


@pytest.mark.parametrize(
    "cell, bad",
    [
        ("<script>alert(1)</script>", "<script>"),
        ("<img src=x onerror=alert(1)>", "<img"),
        ("[click](javascript:alert(1))", "[click]("),
        ("![x](http://evil.example/p.png)", "!["),
    ],
)
def test_markdown_is_inert(cell, bad):
    md = to_markdown(pd.DataFrame({"c": [cell]}))
    assert bad not in md
    import re

    assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(", md)


def test_html_escapes_everything():
    out = to_html(summary_of_findings(_grades()), caption="SoF <1>")
    assert "<b>" not in out and "&lt;b&gt;&amp;&lt;/b&gt;" in out
    assert "<caption>SoF &lt;1&gt;</caption>" in out
    assert '<ol class="evigap-footnotes" type="a">' in out
    evil = to_html(pd.DataFrame({"c": ["<script>x</script>", "<img src=x onerror=y>"]}))
    assert "<script" not in evil and "<img" not in evil


def test_latex_escapes_specials():
    out = to_latex(evidence_profile(_grades()))
    assert r"death \textless{}b\textgreater{}\&\textless{}/b\textgreater{} \textbar{} 50\%" in out
    assert out.startswith("\\begin{tabular}{" + "l" * (len(EVIDENCE_PROFILE_COLUMNS) - 1) + "}")
    assert "\\item[a.]" in out


def test_latex_guards_leading_bracket():
    out = to_latex(pd.DataFrame({"c": ["[2em] x", "y"]}))
    assert "\n{}[2em] x \\\\" in out
    assert not any(line.startswith("[") for line in out.splitlines())


def test_csv_export(tmp_path):
    p = to_csv(evidence_profile(_grades()), tmp_path / "ep.csv")
    back = pd.read_csv(p)
    assert list(back.columns) == list(EVIDENCE_PROFILE_COLUMNS)
    assert len(back) == 2


def test_tables_need_grade_output():
    with pytest.raises(ValidationError, match="'risk_of_bias'"):
        evidence_profile(_grades().drop(columns="risk_of_bias"))


def test_single_arm_body_shows_observed_proportion_with_wilson_ci():
    # issue 18 item 3: "0 of 28 with an adverse event" is 0% with a Wilson 95% CI of 0 to
    # 12.06% (0 to z^2 / (n + z^2) = 3.8415 / 31.8415), never the 0.5-corrected 0.5 / 29
    from evidence.study_effects import study_effects

    sheet = pd.DataFrame(
        [
            dict(
                study_id="S",
                indication="skin",
                outcome="serious adverse events",
                stream="human",
                model="phase_1",
                data_type="single_arm",
                measure="PR",
                events_int=0,
                n_int=28,
                outcome_kind="harm",
                intervention="EV",
            ),
            dict(
                study_id="T",
                indication="skin",
                outcome="recovery",
                stream="human",
                model="phase_1",
                data_type="single_arm",
                measure="PR",
                events_int=17,
                n_int=24,
                outcome_kind="benefit",
                intervention="EV",
            ),
        ]
    )
    with pytest.warns(Warning, match="0.5 added"):  # inside pooling only
        st = study_effects(sheet)
    z2 = 1.959963984540054**2
    assert st["proportion_ci_high"].iloc[0] == pytest.approx(z2 / (28 + z2), rel=1e-9)
    assert st["yi"].iloc[0] == pytest.approx(0.5 / 29)  # what pooling uses, not shown
    g = grade(st)
    ep = evidence_profile(g, studies=st).set_index("Outcome")
    sae = ep.loc["serious adverse events"]
    assert sae["Absolute (95% CI)"] == "0% (95% CI 0% to 12%, Wilson score; no comparator)"
    assert sae["№ of patients: intervention"] == "0/28 (0.0%)"
    assert sae["№ of patients: comparison"] == "no comparator"
    # 17 / 24 = 70.8%; Wilson 95%: 50.8% to 85.1% (statsmodels proportion_confint)
    assert ep.loc["recovery", "Absolute (95% CI)"] == (
        "71% (95% CI 51% to 85%, Wilson score; no comparator)"
    )
    sof = summary_of_findings(g, studies=st).set_index("Outcome")
    assert sof.loc["serious adverse events", "Risk difference with intervention (95% CI)"] == (
        "0% (95% CI 0% to 12%, Wilson score; no comparator)"
    )
    assert sof.loc["serious adverse events", "№ of participants (studies)"] == "28 (1 study)"
    # without the study table: the pooled value, its interval named as such
    plain = evidence_profile(g).set_index("Outcome").loc["serious adverse events"]
    hi = 0.5 / 29 + 1.959963984540054 * math.sqrt(st["vi"].iloc[0])  # 0.0646, low clipped at 0
    assert f"{hi:.2f}" == "0.06"
    assert plain["Absolute (95% CI)"] == "proportion 0.02 (0.00 to 0.06, Wald), no comparator"


def test_sof_baseline_risk_from_the_overrides_file(tmp_path):
    """An overrides row of kind baseline_risk sets the assumed control risk; the more specific
    source wins (per-outcome override > (indication, outcome) key > per-indication override >
    global --baseline-risk > control arms).  RR 0.5 (0.3158 to 0.7918), as above."""
    path = tmp_path / "overrides.csv"
    path.write_text(
        "indication,outcome,stream,domain,step,reason,by,baseline_risk\n"
        "sepsis,,,baseline_risk,,Cohort X 2019 (all outcomes),AB,0.2\n"
        "sepsis,death,,baseline_risk,,Registry Y 2021 28-day mortality,AB,0.3\n",
        encoding="utf-8",
    )
    # per-outcome override (0.3) beats the global option (0.1):
    # 0.3 x (0.5 - 1) = -0.150; 0.3 x (0.3158 - 1) = -0.205; 0.3 x (0.7918 - 1) = -0.062
    r = summary_of_findings(_one_trial(), baseline_risk=0.1, overrides=path).iloc[0]
    assert r["Risk with comparator"] == (
        "300 per 1,000 (baseline risk from the overrides: Registry Y 2021 28-day mortality)"
    )
    assert r["Risk difference with intervention (95% CI)"] == (
        "150 fewer per 1,000 (from 205 fewer to 62 fewer)"
    )
    # only the per-indication row: 0.2 x -0.5 = -0.100; 0.2 x -0.6842 = -0.137; -0.042
    only_ind = pd.read_csv(path).iloc[[0]]
    r = summary_of_findings(_one_trial(), baseline_risk=0.1, overrides=only_ind).iloc[0]
    assert r["Risk with comparator"].startswith("200 per 1,000 (baseline risk from the overr")
    assert r["Risk difference with intervention (95% CI)"] == (
        "100 fewer per 1,000 (from 137 fewer to 42 fewer)"
    )
    # an (indication, outcome) key of the option is more specific than a per-indication row
    r = summary_of_findings(
        _one_trial(), baseline_risk={("sepsis", "death"): 0.1}, overrides=only_ind
    ).iloc[0]
    assert r["Risk with comparator"] == "100 per 1,000 (baseline risk given)"
    # without the option or the row: the control arms (0.4)
    r = summary_of_findings(_one_trial(), overrides=None).iloc[0]
    assert r["Risk with comparator"] == "400 per 1,000 (control arms)"
