"""Checks of the bundled evidence base (data/ and references.bib).

The expected values in the spot checks are SOURCE values: copied as printed in the evidence
inventory (exosome-evidence.md row "#n", exosome-human-numbers.md item "Hn") or in R metadat 1.2.0.
They are not computed results.
"""

from __future__ import annotations

import math
from pathlib import Path

import bibtexparser
import pandas as pd
import pytest

from evidence.schema import COLUMN_NAMES, MODEL_STREAM

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
STUDIES = DATA / "exosome_studies.csv"
BIB = ROOT / "references.bib"
REG_COLUMNS = [
    "indication",
    "jurisdiction",
    "status",
    "date",
    "detail",
    "citation_key",
    "where_read",
]
REG_STATUS = {"not_approved", "safety_notice", "ind_cleared", "approved", "warning_letter", "other"}
CLAIM_COLUMNS = [
    "claim_id",
    "indication",
    "claim",
    "claimant",
    "n_businesses",
    "n_businesses_exosome",
    "products_counted",
    "citation_key",
    "where_read",
]
ID_FIELDS = ("doi", "pmid", "nct", "url")


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(STUDIES, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def bib() -> dict[str, dict[str, str]]:
    library = bibtexparser.parse_file(str(BIB))
    assert not library.failed_blocks, [str(b)[:80] for b in library.failed_blocks]
    keys = [e.key for e in library.entries]
    assert len(keys) == len(set(keys)), "duplicate BibTeX keys"
    return {
        e.key: {k.lower(): str(f.value) for k, f in e.fields_dict.items()} for e in library.entries
    }


def _num(value: str) -> float:
    return float(value) if value != "" else math.nan


ARMS = ("events_int", "n_int", "events_ctrl", "n_ctrl")
ONE = ("events_int", "n_int")
MNSS = "modified neurological severity score (mNSS)"


def _nums(row: pd.Series, cols) -> list[float]:
    return [_num(row[c]) for c in cols]


def _row(raw: pd.DataFrame, study_id: str, outcome: str, **match: str) -> pd.Series:
    sel = (raw["study_id"] == study_id) & (raw["outcome"] == outcome)
    for col, val in match.items():
        sel &= raw[col] == val
    found = raw[sel]
    assert len(found) == 1, f"{study_id!r} / {outcome!r} / {match}: {len(found)} rows"
    return found.iloc[0]


# ------------------------------------------------------------------------------ validation


def test_every_row_accepted_by_read_studies(raw):
    from evidence.ingest import read_studies

    result = read_studies(STUDIES, bib=BIB)
    assert result.n_in == len(raw)
    assert result.rejected.empty, result.rejected.to_string()
    assert len(result.studies) == len(raw) == 161


#: Schema columns for continuous arms reported without an SD (SE, CI of the mean, median and
#: quartiles): every continuous row of the bundled sheet gives SDs, so it leaves them out.
_ARM_ALTERNATIVES = {
    f"{c}_{arm}"
    for c in ("se", "ci_low", "ci_high", "median", "q1", "q3")
    for arm in ("int", "ctrl")
}


def test_columns_are_exactly_the_schema(raw):
    assert list(raw.columns) == [c for c in COLUMN_NAMES if c not in _ARM_ALTERNATIVES]
    assert _ARM_ALTERNATIVES <= set(COLUMN_NAMES)


def test_rows_are_consistent_with_schema_independently(raw):
    assert all(raw["stream"][i] in MODEL_STREAM[m] for i, m in raw["model"].items())
    key = raw[["study_id", "outcome", "comparison", "timepoint"]]
    assert not key.duplicated().any(), key[key.duplicated(keep=False)]
    meta = raw["model"] == "meta_analysis"
    assert (raw.loc[meta, "k_studies"] != "").all()
    # every row says where it was read and carries a note
    assert (raw["where_read"] != "").all()
    assert (raw["notes"] != "").all()
    # no placeholder text in numeric columns
    numeric = ("events_int", "n_int", "events_ctrl", "n_ctrl", "estimate", "ci_low", "ci_high")
    for col in (*numeric, "n_total"):
        assert raw[col].map(lambda v: v == "" or not math.isnan(float(v))).all(), col


def test_indication_labels_do_not_collide(raw):
    # grading.gap / grading.claims match indications by substring, so no label may contain another
    labels = sorted(set(raw["indication_label"]))
    assert "" not in labels
    clashes = [(a, b) for a in labels for b in labels if a != b and a in b]
    assert not clashes, clashes


def test_citation_keys_resolve_to_entries_with_an_identifier(raw, bib):
    keys = set(raw["citation_key"])
    for path in (DATA / "regulatory.csv", DATA / "claims.csv"):
        keys |= set(pd.read_csv(path, dtype=str)["citation_key"])
    missing = sorted(keys - set(bib))
    assert not missing, missing
    no_id = sorted(k for k in keys if not any(bib[k].get(f, "").strip() for f in ID_FIELDS))
    assert not no_id, no_id
    # registered trials carry their NCT id in the bib entry
    registry_rows = raw[raw["citation_key"] == raw["registry_id"].str.lower()]
    assert len(registry_rows) > 20
    for _, r in registry_rows.iterrows():
        entry = bib[r["citation_key"]]
        if r["registry_id"].startswith("NCT"):
            assert entry["nct"] == r["registry_id"]
            assert entry["url"] == f"https://clinicaltrials.gov/study/{r['registry_id']}"


def test_evidence_references_agrees(raw):
    from evidence.references import read_bib

    bibliography = read_bib(BIB)
    assert bibliography.errors.empty
    for key in set(raw["citation_key"]):
        assert bibliography[key].has_identifier, key


# ------------------------------------------------------------------------------ spot checks


def test_counts_as_printed(raw):
    # inventory #50 (Webb 2018 pig): ICH 0/7 NSC EV vs 7/8 control
    r = _row(raw, "Webb 2018 (pig)", "intracranial haemorrhage")
    assert (r.data_type, r.measure) == ("counts", "RR")
    assert _nums(r, ARMS) == [0, 7, 7, 8]
    # inventory #54 (Moore/TP141 rhesus): all 5 treated vs 0/5 controls
    r = _row(raw, "Moore 2019 (rhesus)", "return to pre-operative retrieval latencies")
    assert _nums(r, ARMS) == [5, 5, 0, 5]
    assert r.stream == "animal" and r.model == "non_human_primate"
    # human-numbers H2 (EXO-CD24 Table 2): SpO2 >=94% 25 (58.1) [A] vs 30 (69.8) [B], 43 per group
    r = _row(raw, "Grigoropoulos 2024", "SpO2 >=94% on room air", model="phase_2")
    assert _nums(r, ARMS) == [30, 43, 25, 43]
    # H2: death 1 (2.3) [A] vs 0 [B]
    r = _row(raw, "Grigoropoulos 2024", "death", model="phase_2")
    assert _nums(r, ARMS) == [0, 43, 1, 43]
    # human-numbers H1 (Zarrabi 2023): zero deaths in MSC+EV (n 8) vs eight in control (n 24)
    r = _row(raw, "Zarrabi 2023", "mortality")
    assert _nums(r, ARMS) == [0, 8, 8, 24]
    assert "RR: 0.08; 95% CI 0.005-1.26" in r.result_text


def test_single_arm_as_printed(raw):
    # inventory #64 (Sengupta 2020): 4 of 24 died; 17 of 24 recovered; no AEs within 72 h
    assert _nums(_row(raw, "Sengupta 2020", "death"), ONE) == [4, 24]
    assert _nums(_row(raw, "Sengupta 2020", "clinical recovery"), ONE) == [17, 24]
    assert _nums(_row(raw, "Sengupta 2020", "adverse events"), ONE) == [0, 24]
    # inventory #107 (Besse 2016): 7 (32%) stabilization >4 months of 22
    r = _row(raw, "Besse 2016 (Dex2)", "stabilization >4 months")
    assert ([_num(r.events_int), _num(r.n_int)], r.measure) == ([7, 22], "PR")
    # human-numbers H17 (Hadizadeh 2024): 12 (60%) of 20 patients; 30 (69.7%) of 43 tracts
    r = _row(raw, "Hadizadeh 2024", "complete fistula closure (patients)")
    assert [_num(r.events_int), _num(r.n_int)] == [12, 20]
    r = _row(raw, "Hadizadeh 2024", "complete closure (fistula tracts)")
    assert [_num(r.events_int), _num(r.n_int)] == [30, 43]


@pytest.mark.parametrize(
    ("study_id", "outcome", "measure", "estimate", "ci_low", "ci_high", "k"),
    [
        # inventory #36 Bailey 2021: wound closure SMD 5.48 (95% CI 3.55-8.13), 10 studies
        ("Bailey 2021", "wound closure", "SMD", 5.48, 3.55, 8.13, 10),
        # inventory #38 Liu 2024: wound closure MD 24.0 (95% CI 19.98-28.02);
        # scar width MD -191.33 (95% CI -292.26 to -90.4)
        ("Liu 2024", "wound closure", "MD", 24.0, 19.98, 28.02, 43),
        ("Liu 2024", "scar width", "MD", -191.33, -292.26, -90.4, 43),
        # inventory #39 Yue 2024: SMD 3.16 (95% CI 2.65-3.66), 21 studies
        ("Yue 2024", "wound closure", "SMD", 3.16, 2.65, 3.66, 21),
        # inventory #55 SCRT 2023: infarct volume SMD -2.05 (95% CI -2.70, -1.40);
        # mNSS SMD -1.42 (95% CI -1.75, -1.08)
        ("SCRT 2023 stroke MA", "infarct volume", "SMD", -2.05, -2.70, -1.40, 21),
        ("SCRT 2023 stroke MA", MNSS, "SMD", -1.42, -1.75, -1.08, 21),
        # inventory #57: SAH neurobehavioural SMD -3.49 (95% CI -4.23 to -2.75), 12 studies
        ("Haemorrhagic stroke SC-EV MA", "neurobehavioural score", "SMD", -3.49, -4.23, -2.75, 12),
        # inventory #58: TBI mNSS SMD -2.57 (95% CI -3.26; -1.88), 55 articles
        ("TBI BM-MSC/EV MA", MNSS, "SMD", -2.57, -3.26, -1.88, 55),
        # inventory #62 Bernardi repo, table1: Iba1+ cells SMD -1.45 (-2.19, -0.71); the input
        # table has 6 comparisons from 3 studies (IDs 27a-d, 1, 16): k_studies counts studies
        (
            "Bernardi MSC-EV microglia MA",
            "microglial marker: Iba1+ cells",
            "SMD",
            -1.45,
            -2.19,
            -0.71,
            3,
        ),
        # inventory #74 Wang 2020: lung injury score SMD -4.02 (95% CI -5.28, -2.23), 17 studies
        ("Wang 2020", "lung injury score", "SMD", -4.02, -5.28, -2.23, 17),
        # inventory #82: OARSI MD -3.54 (95% CI -4.30, -2.79), 20 studies
        ("OA intra-articular exosome MA", "OARSI score", "MD", -3.54, -4.30, -2.79, 20),
        # inventory #84: BV/TV MD 22.2% (95% CI 15.8-28.5%), 12 studies in MA
        (
            "Bone injury MSC-EV MA",
            "bone volume/total volume (BV/TV, %)",
            "MD",
            22.2,
            15.8,
            28.5,
            12,
        ),
        # inventory #93 SCRT 2022: LVEF WMD 3.67% (95% CI 2.28-5.07%), 10 studies
        ("SCRT 2022 AMI MA", "LVEF (%)", "MD", 3.67, 2.28, 5.07, 10),
        # inventory #97: Scr SMD -3.71 (-4.32, -3.10); IL-10 SMD 2.10 (1.18, 3.02), 31 studies
        ("SCRT AKI EV MA", "serum creatinine", "SMD", -3.71, -4.32, -3.10, 31),
        ("SCRT AKI EV MA", "IL-10", "SMD", 2.10, 1.18, 3.02, 31),
        # inventory #98 Li 2022: sCr SMD -3.47 (95% CI -4.15 to -2.80), 30 studies
        ("Li 2022", "serum creatinine", "SMD", -3.47, -4.15, -2.80, 30),
    ],
)
def test_pooled_estimates_as_printed(raw, study_id, outcome, measure, estimate, ci_low, ci_high, k):
    extra = {"indication": "subarachnoid haemorrhage"} if "Haemorrhagic" in study_id else {}
    r = _row(raw, study_id, outcome, **extra)
    assert (r.model, r.data_type, r.measure) == ("meta_analysis", "estimate", measure)
    assert _num(r.estimate) == estimate
    assert (_num(r.ci_low), _num(r.ci_high)) == (ci_low, ci_high)
    assert int(r.k_studies) == k
    assert r.stream == "animal"


def test_sample_sizes_as_printed(raw):
    assert _num(_row(raw, "Bailey 2021", "wound closure").n_total) == 136  # inventory #36
    assert _num(_row(raw, "Li 2022", "serum creatinine").n_total) == 985  # inventory #98
    assert _num(_row(raw, "Liu 2024", "wound closure").n_total) == 530  # inventory #38
    r = _row(raw, "Xin 2013", "functional recovery")  # inventory #53: 6 per group
    assert (_num(r.n_int), _num(r.n_ctrl)) == (6, 6)


def test_unusable_printed_values_kept_as_text_only(raw):
    # inventory #74: "OR = -6.45, 95% CI [2.78, 14.97]" is impossible as an OR
    r = _row(raw, "Wang 2020", "survival")
    assert r.data_type == "none" and r.estimate == "" and r.measure == ""
    assert "OR = -6.45" in r.result_text
    # inventory #42: "OR" values with linear-scale symmetric CIs are not entered as ratios
    for tp in ("7 days", "14 days"):
        r = _row(raw, "Dermal wound SR (rodent)", "wound healing", timepoint=tp)
        assert r.data_type == "none" and r.estimate == ""
    # inventory #50: "6.0 ± 1.4 vs 10.7 ± 1.4 cm3" (± not labelled SD) stays text
    r = _row(raw, "Webb 2018 (pig)", "edema-corrected lesion volume (cm3)")
    assert r.data_type == "none" and r.mean_int == "" and r.sd_int == ""
    assert "6.0 ± 1.4 vs 10.7 ± 1.4" in r.result_text


def test_not_read_fields_stay_empty(raw):
    # inventory #65 / human-numbers E2: ExoFlo 60-day mortality arm-level numbers NOT READ
    r = _row(raw, "Lightner 2023", "all-cause mortality")
    assert r.data_type == "none"
    for col in ("events_int", "n_int", "events_ctrl", "n_ctrl", "estimate", "ci_low", "ci_high"):
        assert r[col] == "", col
    assert "NOT READ" in r.notes and r.registry_id == "NCT04493242"
    # inventory #20 / H12 Kwon 2020: per-side ECCA mean/SD not read; 32.5 vs 19.9% kept as text
    r = _row(raw, "Kwon 2020", "ECCA score (percentage reduction)")
    assert r.mean_int == r.sd_int == r.mean_ctrl == r.sd_ctrl == ""
    assert "32.5 vs 19.9%" in r.result_text and r.within_subject == "true"
    # inventory #12: year of the skin-necrosis case report not read
    assert raw.loc[raw.study_id == "Tawanwongsri", "year"].tolist() == [""]


def test_unverified_items_are_absent(raw):
    files = (STUDIES, DATA / "regulatory.csv", DATA / "claims.csv")
    text = "\n".join(p.read_text(encoding="utf-8") for p in files)
    # inventory #100 (Kordelas 2014 GvHD case, primary not read), #13 (blog-only case series),
    # human-numbers H5/H6 (known only from secondary summaries)
    for needle in ("Kordelas", "osamedic", "jev2.70253", "NCT04747574", "covid19-help.org"):
        assert needle not in text, needle
    # inventory #9: the "99 US businesses" study was not found
    claims = pd.read_csv(DATA / "claims.csv", dtype=str, keep_default_na=False)
    assert "99" not in set(claims["n_businesses"])


# ------------------------------------------------------------------------------ issue 15


def test_one_trial_one_record(raw):
    # MEXCOVID (paper: phase 2a, 7 patients) and NCT04276987 (registry tables: phase 1, 24) are
    # one trial; Dehghani 2022 and NCT03384433 (registry: phase 1/2, 5 participants) are one trial
    assert not raw["study_id"].isin(["NCT04276987", "NCT03384433", "NCT05523011"]).any()
    mex = raw[raw.study_id == "MEXCOVID 2022"]
    assert set(mex.registry_id) == {"NCT04276987"} and set(mex.model) == {"phase_2"}
    assert mex.notes.str.contains("registry tables list phase 1").all()
    deh = raw[raw.study_id == "Dehghani 2022"]
    assert set(deh.registry_id) == {"NCT03384433"} and set(deh.model) == {"phase_1_2"}
    assert deh.notes.str.contains("the registry record says phase 1/2").all()
    # a registry id names one study
    reg = raw[raw.registry_id != ""].groupby("registry_id")["study_id"].nunique()
    assert (reg == 1).all(), reg[reg > 1]


def test_k_studies_counts_studies_not_comparisons(raw):
    # Bernardi input table: table1 has 6 rows from studies 27 (a-d), 1 and 16; comparisons 27a/27b
    # and 27c/27d share control groups (15 + 15 + 6 + 6 = 42 unique controls, 72 summed)
    r = _row(raw, "Bernardi MSC-EV microglia MA", "microglial marker: Iba1+ cells")
    assert (r.k_studies, r.n_int, r.n_ctrl) == ("3", "72", "42")
    assert "6 comparisons" in r.notes and "72" in r.notes
    # table6: 5 comparisons from 4 studies (Hu_a and Hu_b are one study)
    r = _row(raw, "Bernardi MSC-EV microglia MA", "microglial marker: Iba1/CD16+ cells")
    assert (r.k_studies, r.n_ctrl) == ("4", "24")


def test_outcome_direction_where_the_source_says(raw):
    # Wang C et al. Stem Cells Int 2024 abstract: SCEVs "improved" SAH scores (SMD -3.49) and
    # chronic ICH scores (SMD 2.38): the two scores run in opposite directions
    sah = _row(
        raw,
        "Haemorrhagic stroke SC-EV MA",
        "neurobehavioural score",
        indication="subarachnoid haemorrhage",
    )
    ich = _row(
        raw,
        "Haemorrhagic stroke SC-EV MA",
        "neurobehavioural score",
        indication="intracerebral haemorrhage",
    )
    assert (sah.outcome_direction, ich.outcome_direction) == ("higher_is_worse", "higher_is_better")
    # every pooled or typed estimate is oriented, except the microglial markers, whose source
    # (a code repository) does not say which way is better
    typed = raw[raw.data_type != "none"]
    unoriented = typed[typed.outcome_direction == ""]
    assert set(unoriented.study_id) == {"Bernardi MSC-EV microglia MA"}


def test_outcome_level_tags(raw):
    levels = {"clinical", "functional", "surrogate", "mechanistic"}
    assert set(raw.outcome_level) <= levels | {""}
    # empty only where no measured outcome is named (registry-only or not-read records)
    empty = raw[raw.outcome_level == ""]
    assert empty.outcome.str.contains(
        r"registered trial \(no results|participant flow|"
        r"results not read"
    ).all()
    assert len(empty) == 20
    assert (raw.loc[raw.stream == "in_vitro", "outcome_level"] == "mechanistic").all()
    harms = raw[(raw.outcome_kind == "harm") & (raw.outcome_level != "")]
    assert (harms.outcome_level == "clinical").all()
    expect = {
        ("Wang 2020", "survival"): "clinical",
        ("Wang 2020", "lung injury score"): "functional",
        ("Wang 2020", "BALF protein"): "surrogate",
        ("SCRT 2023 stroke MA", "infarct volume"): "functional",
        ("SCRT AKI EV MA", "serum creatinine"): "surrogate",
        ("SCRT AKI EV MA", "IL-10"): "mechanistic",
        ("Bailey 2021", "wound closure"): "clinical",
        ("Grigoropoulos 2024", "SpO2 >=94% on room air"): "functional",
    }
    for (sid, out), level in expect.items():
        assert set(raw.loc[(raw.study_id == sid) & (raw.outcome == out), "outcome_level"]) == {
            level
        }, (sid, out)


def test_audit_findings_fixed(raw):
    # Green 2023: 0/11 counts events attributed to the product (36% mortality in the same abstract)
    r = _row(
        raw, "Green 2023", "adverse events resulting from EXO-CD24 (as attributed by the authors)"
    )
    assert _nums(r, ONE) == [0, 11] and "36%" in r.notes
    # East OA cohort: the same 33 people are counted once (12 months), the 6-month report is text
    east = raw[(raw.study_id == "East (XoFlo/ExoFlo OA cohort)") & (raw.outcome_kind == "harm")]
    assert east.set_index("timepoint")["data_type"].to_dict() == {
        "6 months": "none",
        "12 months": "single_arm",
    }
    # healthy volunteers share one label
    r = _row(raw, "Shi 2021 (haMSC-EV)", "serious adverse events")
    assert r.indication_label == "healthy_volunteer_safety"
    # Wang 2020 abstract prints "95% CI" for every interval
    assert _row(raw, "Wang 2020", "neutrophils").ci_level == "0.95"
    assert "CI level not printed" not in " ".join(raw.notes)


def test_published_result_of_nct05523011(raw, bib):
    # Chandran et al. Cytotherapy 2025 abstract: "One subject was reported with 1 treatment-emergent
    # adverse event (TEAE) of COVID-19 infection", of 10 healthy volunteers
    r = _row(raw, "Chandran 2025", "treatment-emergent adverse events (subjects with >=1 TEAE)")
    assert (r.data_type, r.measure, r.registry_id) == ("single_arm", "PR", "NCT05523011")
    assert _nums(r, ONE) == [1, 10]
    assert bib[r.citation_key]["doi"] == "10.1016/j.jcyt.2025.01.007"
    assert bib[r.citation_key]["pmid"] == "39918488"


def test_facts_without_a_primary_source_stay_out(raw):
    files = (STUDIES, DATA / "regulatory.csv", DATA / "claims.csv")
    text = "\n".join(p.read_text(encoding="utf-8") for p in files)
    # ExoFlo RMAT (press releases only), NCT04173650 (not found), EU ATMP status (not found)
    for needle in (
        "Regenerative Medicine Advanced Therapy",
        "RMAT designation",
        "NCT04173650",
        "advanced therapy medicinal product",
        "ATMP",
    ):
        assert needle not in text, needle


# ------------------------------------------------------------------------------ side tables


def test_regulatory_table(raw):
    reg = pd.read_csv(DATA / "regulatory.csv", dtype=str, keep_default_na=False)
    assert list(reg.columns) == REG_COLUMNS
    assert set(reg["status"]) <= REG_STATUS
    assert set(reg["indication"]) <= set(raw["indication_label"]) | {"all"}
    fda = reg[(reg.citation_key == "fda2019exosomenotification") & (reg.status == "not_approved")]
    assert fda["date"].tolist() == ["2019-12-06"]  # inventory #1
    assert "There are currently no FDA-approved exosome products" in fda["detail"].iloc[0]
    ind = reg[reg.status == "ind_cleared"]
    # inventory #48: AB126 IND clearance, press release of Jan 16, 2024
    assert ind[["indication", "date"]].values.tolist() == [["stroke", "2024-01-16"]]
    # FDA consumer alert of July 22, 2020 (fda.gov): no FDA-approved exosome products
    alert = reg[reg.citation_key == "fda2020consumeralert"].iloc[0]
    assert (alert.date, alert.status) == ("2020-07-22", "not_approved")
    assert "There are currently no FDA-approved exosome products." in alert.detail
    # FDA warning letter 23-649343 (September 1, 2023) naming the exosome products XoGlo/XoGloPro
    wl = reg[reg.status == "warning_letter"]
    assert wl[["date", "citation_key"]].values.tolist() == [
        ["2023-09-01", "fda2023kimerawarningletter"]
    ]
    assert "XoGlo® and XoGlo®Pro" in wl.detail.iloc[0]


def test_claims_table(raw):
    claims = pd.read_csv(DATA / "claims.csv", dtype=str, keep_default_na=False)
    assert list(claims.columns) == CLAIM_COLUMNS
    assert claims["claim_id"].is_unique
    assert set(claims["indication"]) <= set(raw["indication_label"])
    for col in ("n_businesses", "n_businesses_exosome"):
        assert claims[col].map(lambda v: v == "" or v.isdigit()).all(), col
    # a count always says which products it counts
    assert (claims.loc[claims.n_businesses != "", "products_counted"] != "").all()
    # inventory #4: 16 (42%) of 38 businesses marketed exosomes for COVID-19 (exosome count in
    # its own column, never in n_businesses)
    covid = claims[claims.citation_key == "turner2023covidbusinesses"]
    assert {"38", "36", "6", "5", "2"} == set(covid["n_businesses"])
    assert covid["n_businesses_exosome"].tolist() == ["", "16", "", "", "", ""]
    assert set(covid["indication"]) == {"covid19_ards"}
    # inventory #8: 1,480 businesses selling stem cell treatments; no exosome count was read
    c11 = claims.set_index("claim_id").loc["C11"]
    assert (c11.n_businesses, c11.n_businesses_exosome) == ("1480", "")
    assert c11.products_counted.startswith("stem cell treatments only")
    # Turner et al. Regen Med 2023 abstract: 978 businesses analyzed
    c09 = claims.set_index("claim_id").loc["C09"]
    assert (c09.n_businesses, c09.n_businesses_exosome) == ("978", "")
    # inventory #7: 114 companies in 28 countries
    assert "114" in set(claims.loc[claims.citation_key == "asadpour2023grayzone", "n_businesses"])


# ------------------------------------------------------------------------------ metadat exports


def test_metadat_exports_keep_original_columns_and_values():
    bcg = pd.read_csv(DATA / "bcg.csv")
    assert list(bcg.columns) == [
        "trial",
        "author",
        "year",
        "tpos",
        "tneg",
        "cpos",
        "cneg",
        "ablat",
        "alloc",
    ]
    assert len(bcg) == 13
    # metadat 1.2.0 dat.bcg row 1: Aronson 1948, 4/119 vs 11/128, ablat 44, random
    assert bcg.iloc[0].tolist() == [1, "Aronson", 1948, 4, 119, 11, 128, 44, "random"]
    nor = pd.read_csv(DATA / "normand1999.csv")
    assert list(nor.columns) == ["study", "source", "n1i", "m1i", "sd1i", "n2i", "m2i", "sd2i"]
    assert len(nor) == 9
    assert nor.iloc[0].tolist() == [1, "Edinburgh", 155, 55, 47, 156, 75, 64]
    hac = pd.read_csv(DATA / "hackshaw1998.csv")
    assert list(hac.columns) == [
        "study",
        "author",
        "year",
        "country",
        "design",
        "cases",
        "or",
        "or.lb",
        "or.ub",
        "yi",
        "vi",
    ]
    assert len(hac) == 37
    first = hac.iloc[0][["author", "year", "or", "or.lb", "or.ub"]].tolist()
    assert first == ["Garfinkel", 1981, 1.18, 0.9, 1.54]


def test_datasets_index_lists_every_bundled_file():
    index = pd.read_csv(DATA / "datasets.csv", dtype=str)
    assert list(index.columns) == ["name", "file", "description", "source"]
    assert index["name"].is_unique
    for name in (
        "exosomes",
        "exosome_regulatory",
        "exosome_claims",
        "bcg",
        "normand1999",
        "hackshaw1998",
    ):
        assert name in set(index["name"]), name
    for file in index["file"]:
        assert (DATA / file).is_file(), file
    src = index.set_index("name")["source"]
    assert "doi:10.1001/jama.1994.03510330076038" in src["bcg"]
    assert "metadat 1.2.0" in src["hackshaw1998"]
