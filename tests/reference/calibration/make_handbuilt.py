"""Write the hand-built calibration sheets (tests/reference/calibration/).

Run from the repository root:  python tests/reference/calibration/make_handbuilt.py

Two kinds of sheet, both small enough to check by eye:

* single-trial bodies whose numbers were read in a Cochrane review's Summary of findings
  (Theodoulou 2023, CD013308.pub2: Bolliger 2007 (three comparisons), Piper 2016, the
  6- versus 2-week combination NRT trial, the 21 mg versus 14 mg patch trial (two
  outcomes); Butler 2025, CD016058.pub2: combination NRT for vaping cessation); where each
  number was read is in the sheet's ``where_read`` column and in ``cases.json``;
* the textbook cases of issue 11 (hypothetical bodies whose expected rating follows from a
  GRADE paper, named in ``cases.json``).

Uses only the standard library; the column list is evidence.schema's.
"""

from __future__ import annotations

import csv
from pathlib import Path

OUT = Path(__file__).resolve().parent

COLUMNS = (
    "study_id",
    "citation_key",
    "year",
    "registry_id",
    "indication",
    "indication_label",
    "intervention",
    "intervention_source",
    "comparator",
    "comparison",
    "outcome",
    "timepoint",
    "outcome_direction",
    "outcome_kind",
    "outcome_level",
    "stream",
    "model",
    "model_detail",
    "k_studies",
    "randomised",
    "blinded",
    "controlled",
    "within_subject",
    "data_type",
    "measure",
    "events_int",
    "n_int",
    "events_ctrl",
    "n_ctrl",
    "mean_int",
    "sd_int",
    "mean_ctrl",
    "sd_ctrl",
    "estimate",
    "ci_low",
    "ci_high",
    "ci_level",
    "se",
    "n_total",
    "dose",
    "dose_unit",
    "result_text",
    "rob_tool",
    "rob_domains",
    "rob_overall",
    "funding",
    "conflict_of_interest",
    "where_read",
    "notes",
)

SOF6 = "https://pmc.ncbi.nlm.nih.gov/articles/PMC10278922/table/CD013308-tbl-0006"
SOF2 = "https://pmc.ncbi.nlm.nih.gov/articles/PMC10278922/table/CD013308-tbl-0002"
BOLLIGER = "https://pmc.ncbi.nlm.nih.gov/articles/PMC10278922/table/CD013308-tblf-0010"
PIPER = "https://pmc.ncbi.nlm.nih.gov/articles/PMC10278922/table/CD013308-tblf-0049"
SOF3 = "https://pmc.ncbi.nlm.nih.gov/articles/PMC10278922/table/CD013308-tbl-0003"
VAPING_SOF1 = "https://pmc.ncbi.nlm.nih.gov/articles/PMC11706636/table/CD016058-tbl-0001"


def write(name: str, rows: list[dict]) -> None:
    for r in rows:
        unknown = set(r) - set(COLUMNS)
        if unknown:
            raise ValueError(f"{name}: unknown columns {sorted(unknown)}")
    with open(OUT / name, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, quoting=csv.QUOTE_MINIMAL)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in COLUMNS})
    print(f"{name}: {len(rows)} rows")


# ------------------------------------------------------------------ Bolliger 2007
# Arms: mouth spray n = 50, gum n = 25, inhaler n = 25 (Characteristics of included
# studies).  Abstinence at 6 months: the Summary of findings 6 prints, per comparison, the
# comparator risk and the corresponding risk per 1000 (spray 160, gum 200, inhaler 80),
# i.e. 8/50, 5/25 and 2/25; these counts reproduce the printed RRs and 95% CIs exactly
# (0.80 [0.29, 2.19], 2.00 [0.46, 8.73], 2.50 [0.53, 11.70]).
ARMS = {
    "nicotine mouth spray": (8, 50),
    "nicotine gum": (5, 25),
    "nicotine inhaler": (2, 25),
}
BOLLIGER_COMMON = dict(
    study_id="Bolliger 2007",
    citation_key="theodoulou2023",
    year="2007",
    indication="smoking cessation",
    outcome="continuous smoking abstinence at 6 months",
    timepoint="6 months",
    outcome_direction="higher_is_better",
    outcome_kind="benefit",
    outcome_level="clinical",
    stream="human",
    model="clinical_trial",
    model_detail="parallel three-arm RCT, South Africa, 100 smokers",
    randomised="true",
    blinded="false",
    controlled="true",
    data_type="counts",
    measure="RR",
    rob_tool="generic",
    rob_domains="D1=unclear; D2=unclear; D3=high",
    funding="NicoNovum AB (manufacturer of the mouth spray), as reported in the review",
    notes=(
        "Risk of bias as judged by the review (Characteristics of included studies, "
        "Bolliger 2007): D1 random sequence generation 'Unclear risk', D2 allocation "
        "concealment 'Unclear risk', D3 blinding (performance and detection bias) 'High "
        "risk' ('Open-label trial'). The remaining domains of that table were not read "
        "(the stored page ends there) and are not entered. Events derived from the SoF "
        "risks per 1000 and the arm sizes; they reproduce the printed RR and 95% CI."
    ),
)


def bolliger(intervention: str, comparator: str) -> dict:
    (ei, ni), (ec, nc) = ARMS[intervention], ARMS[comparator]
    return dict(
        **BOLLIGER_COMMON,
        intervention=intervention,
        comparator=comparator,
        comparison=f"{intervention} vs {comparator}",
        events_int=ei,
        n_int=ni,
        events_ctrl=ec,
        n_ctrl=nc,
        where_read=f"{SOF6} (Summary of findings 6); arm sizes and risk of bias: {BOLLIGER}",
    )


write("theodoulou2023_spray_vs_gum.csv", [bolliger("nicotine mouth spray", "nicotine gum")])
write("theodoulou2023_spray_vs_inhaler.csv", [bolliger("nicotine mouth spray", "nicotine inhaler")])
write("theodoulou2023_gum_vs_inhaler.csv", [bolliger("nicotine gum", "nicotine inhaler")])

# ------------------------------------------------------------------ Piper 2016
write(
    "theodoulou2023_combination_16_vs_8_weeks.csv",
    [
        dict(
            study_id="Piper 2016",
            citation_key="theodoulou2023",
            year="2016",
            indication="smoking cessation",
            intervention="combination NRT (nicotine patch + gum) for 16 weeks from quit date",
            comparator="combination NRT (nicotine patch + gum) for 8 weeks from quit date",
            comparison="16 weeks vs 8 weeks",
            outcome="smoking abstinence at 6 months",
            timepoint="6 months",
            outcome_direction="higher_is_better",
            outcome_kind="benefit",
            outcome_level="clinical",
            stream="human",
            model="clinical_trial",
            model_detail="factorial RCT (2^6), USA primary care, 637 smokers",
            randomised="true",
            controlled="true",
            data_type="estimate",
            measure="RR",
            estimate=0.96,
            ci_low=0.75,
            ci_high=1.23,
            n_total=637,
            where_read=f"{SOF2} (Summary of findings 2, 'Smoking cessation - 16 weeks versus 8 "
            f"weeks'); design: {PIPER}",
            notes=(
                "Outcome self-reported 7-day point prevalence abstinence, 'Validation: none' "
                "(Characteristics of included studies). The review's risk-of-bias judgements for "
                "this trial were not read (the stored page ends before them): rob columns empty. "
                "Arm sizes of the factorial comparison not read: RR and CI as printed in the SoF."
            ),
        )
    ],
)

# ------------------------------------------------------------------ SoF single-trial rows
# Bodies of one RCT whose relative effect, 95% CI and participant count are printed in a
# Summary of findings row; the trial's name and arm sizes were not read, so the row is the
# SoF's estimate (data_type = estimate) and study_id names the row, not an invented trial.
SOF_ROW = dict(
    indication="smoking cessation",
    timepoint="6 months",
    outcome_level="clinical",
    stream="human",
    model="clinical_trial",
    randomised="true",
    controlled="true",
    data_type="estimate",
    measure="RR",
)
NOT_READ = (
    "Single RCT; its name, arm sizes and the review's risk-of-bias judgements were not "
    "read (the stored Summary of findings page ends before its footnotes): rob columns "
    "empty. RR, 95% CI and participants as printed in the SoF row."
)

write(
    "theodoulou2023_combination_6_vs_2_weeks.csv",
    [
        dict(
            **SOF_ROW,
            study_id="RCT of SoF 2 row '6 weeks versus 2 weeks'",
            citation_key="theodoulou2023",
            intervention="combination NRT (nicotine patch + fast-acting NRT) for 6 weeks",
            comparator="combination NRT (nicotine patch + fast-acting NRT) for 2 weeks",
            comparison="6 weeks vs 2 weeks",
            outcome="smoking abstinence at 6 months or longer",
            outcome_direction="higher_is_better",
            outcome_kind="benefit",
            estimate=1.11,
            ci_low=0.94,
            ci_high=1.31,
            n_total=987,
            where_read=f"{SOF2} (Summary of findings 2, 'Smoking cessation - 6 weeks versus 2 "
            f"weeks')",
            notes=NOT_READ + " Setting of SoF 2: 'studies conducted in: USA'.",
        )
    ],
)

PATCH_21_14 = dict(
    **SOF_ROW,
    study_id="RCT of SoF 3 rows '21 mg versus 14 mg (24-hour patches)'",
    citation_key="theodoulou2023",
    intervention="nicotine patch 21 mg/24 h",
    comparator="nicotine patch 14 mg/24 h",
    comparison="21 mg vs 14 mg (24-hour patches)",
    n_total=537,
    notes=NOT_READ,
)
write(
    "theodoulou2023_patch_21_vs_14_mg.csv",
    [
        dict(
            **PATCH_21_14,
            outcome="smoking abstinence at 6 months or longer",
            outcome_direction="higher_is_better",
            outcome_kind="benefit",
            estimate=1.48,
            ci_low=1.06,
            ci_high=2.08,
            where_read=f"{SOF3} (Summary of findings 3, 'Smoking cessation - 21 mg versus 14 mg "
            f"(24-hour patches)')",
        )
    ],
)
write(
    "theodoulou2023_patch_21_vs_14_mg_withdrawals.csv",
    [
        dict(
            **PATCH_21_14,
            outcome="treatment withdrawals",
            outcome_direction="higher_is_worse",
            outcome_kind="harm",
            estimate=0.77,
            ci_low=0.36,
            ci_high=1.64,
            where_read=f"{SOF3} (Summary of findings 3, 'Treatment withdrawals - 21 mg versus 14 "
            f"mg (24-hour patches)')",
        )
    ],
)

write(
    "butler2025_combination_nrt_vaping.csv",
    [
        dict(
            **{**SOF_ROW, "indication": "nicotine vaping cessation"},
            study_id="RCT of SoF 1 row 'Vaping cessation at 6 months or longer'",
            citation_key="butler2025",
            intervention="combination NRT",
            comparator="control",
            comparison="combination NRT vs control",
            outcome="vaping cessation at 6 months or longer",
            outcome_direction="higher_is_better",
            outcome_kind="benefit",
            estimate=2.57,
            ci_low=0.29,
            ci_high=22.93,
            n_total=16,
            where_read=f"{VAPING_SOF1} (Summary of findings 1, 'Combination NRT compared to "
            f"control for nicotine vaping cessation')",
            notes=NOT_READ + " Setting of SoF 1: 'Any (USA)'.",
        )
    ],
)

# ------------------------------------------------------------------ textbook cases
ROB2_LOW = dict(
    rob_tool="rob2", rob_domains="D1=low; D2=low; D3=low; D4=low; D5=low", rob_overall="low"
)
TEXTBOOK = dict(
    indication="hypothetical (calibration textbook case)",
    stream="human",
    outcome_kind="benefit",
    outcome_level="clinical",
    controlled="true",
    where_read="hand-built; see tests/reference/calibration/cases.json",
)

# Precise null: 5 trials x 5,000 per arm, pooled RR 1.00 (95% CI 0.95 to 1.06).
null_events = [(455, 465), (470, 460), (462, 468), (468, 462), (465, 465)]
write(
    "textbook_precise_null.csv",
    [
        dict(
            **TEXTBOOK,
            **ROB2_LOW,
            study_id=f"Null trial {i + 1}",
            citation_key="guyatt2011grade6",
            intervention="drug A",
            comparator="placebo",
            outcome="mortality at 1 year",
            outcome_direction="higher_is_worse",
            model="phase_3",
            randomised="true",
            blinded="true",
            data_type="counts",
            measure="RR",
            events_int=ei,
            n_int=5000,
            events_ctrl=ec,
            n_ctrl=5000,
        )
        for i, (ei, ec) in enumerate(null_events)
    ],
)

# Two small trials, pooled RR 0.69 (95% CI 0.35 to 1.37).
write(
    "textbook_two_small_trials.csv",
    [
        dict(
            **TEXTBOOK,
            **ROB2_LOW,
            study_id=f"Small trial {i + 1}",
            citation_key="santesso2020grade26",
            intervention="drug B",
            comparator="placebo",
            outcome="treatment failure at 30 days",
            outcome_direction="higher_is_worse",
            model="phase_2",
            randomised="true",
            blinded="true",
            data_type="counts",
            measure="RR",
            events_int=ei,
            n_int=35,
            events_ctrl=ec,
            n_ctrl=35,
        )
        for i, (ei, ec) in enumerate([(7, 10), (4, 6)])
    ],
)

# Four cohorts, RR about 10, ROBINS-I overall 'moderate' (confounding moderate).
cohort_events = [(95, 10), (110, 11), (102, 10), (98, 9)]
write(
    "textbook_robins_large_effect.csv",
    [
        dict(
            **{**TEXTBOOK, "outcome_kind": "harm"},
            study_id=f"Cohort {i + 1}",
            citation_key="schunemann2019grade18",
            intervention="exposure C",
            comparator="no exposure C",
            outcome="serious adverse event",
            outcome_direction="higher_is_worse",
            model="cohort",
            randomised="false",
            data_type="counts",
            measure="RR",
            events_int=ei,
            n_int=1000,
            events_ctrl=ec,
            n_ctrl=1000,
            rob_tool="robins_i",
            rob_domains="D1=moderate; D2=low; D3=low; D4=low; D5=low; D6=low; D7=low",
            rob_overall="moderate",
        )
        for i, (ei, ec) in enumerate(cohort_events)
    ],
)

# Empty risk-of-bias columns: three precise trials with a clear benefit, RoB not entered.
write(
    "textbook_rob_not_assessed.csv",
    [
        dict(
            **TEXTBOOK,
            study_id=f"Unassessed trial {i + 1}",
            citation_key="guyatt2011grade4",
            intervention="drug D",
            comparator="placebo",
            outcome="hospital admission at 6 months",
            outcome_direction="higher_is_worse",
            model="phase_3",
            randomised="true",
            data_type="counts",
            measure="RR",
            events_int=ei,
            n_int=1500,
            events_ctrl=ec,
            n_ctrl=1500,
        )
        for i, (ei, ec) in enumerate([(180, 300), (170, 290), (190, 305)])
    ],
)
