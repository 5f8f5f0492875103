"""read_studies: every rejection reason on a real file, file-level errors, formats, round trip."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evidence.dictionary import schema_dtypes
from evidence.errors import InvalidParameterError, ValidationError
from evidence.export import write_csv
from evidence.ingest import IngestResult, read_studies
from evidence.references import read_bib
from evidence.schema import COLUMN_NAMES

ANIMAL_COUNTS = {
    "study_id": "Smith 2020",
    "citation_key": "smith2020",
    "year": "2020",
    "indication": "wound healing",
    "outcome": "complete wound closure",
    "outcome_kind": "benefit",
    "stream": "animal",
    "model": "mouse",
    "data_type": "counts",
    "measure": "RR",
    "events_int": "8",
    "n_int": "10",
    "events_ctrl": "3",
    "n_ctrl": "10",
}
CONTINUOUS = {
    **ANIMAL_COUNTS,
    "study_id": "Lee 2021",
    "citation_key": "lee2021",
    "model": "rat",
    "data_type": "continuous",
    "measure": "SMD",
    "outcome": "wound area",
    "events_int": "",
    "events_ctrl": "",
    "mean_int": "5.2",
    "sd_int": "1.1",
    "n_int": "8",
    "mean_ctrl": "3.9",
    "sd_ctrl": "1.3",
    "n_ctrl": "8",
}
ESTIMATE = {
    **ANIMAL_COUNTS,
    "study_id": "Trial 2022",
    "citation_key": "trial2022",
    "stream": "human",
    "model": "phase_2",
    "data_type": "estimate",
    "measure": "HR",
    "outcome": "mortality",
    "outcome_kind": "harm",
    "events_int": "",
    "n_int": "",
    "events_ctrl": "",
    "n_ctrl": "",
    "estimate": "0.7",
    "ci_low": "0.5",
    "ci_high": "0.98",
}
SINGLE_ARM = {
    **ANIMAL_COUNTS,
    "study_id": "Case series 2019",
    "citation_key": "cs2019",
    "stream": "human",
    "model": "case_series",
    "data_type": "single_arm",
    "measure": "PR",
    "outcome": "adverse events",
    "outcome_kind": "harm",
    "events_int": "2",
    "n_int": "20",
    "events_ctrl": "",
    "n_ctrl": "",
}
NONE = {
    **ANIMAL_COUNTS,
    "study_id": "NCT0 2024",
    "citation_key": "nct2024",
    "stream": "human",
    "model": "phase_1",
    "data_type": "none",
    "measure": "",
    "events_int": "",
    "n_int": "",
    "events_ctrl": "",
    "n_ctrl": "",
}
BASES = {
    "counts": ANIMAL_COUNTS,
    "continuous": CONTINUOUS,
    "estimate": ESTIMATE,
    "single_arm": SINGLE_ARM,
    "none": NONE,
}


def write_sheet(path, rows: list[dict]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def test_valid_rows_of_every_data_type_are_accepted_and_typed(tmp_path):
    path = write_sheet(tmp_path / "s.csv", list(BASES.values()))
    result = read_studies(path)
    assert isinstance(result, IngestResult)
    assert (result.n_in, result.n_accepted, result.n_rejected) == (5, 5, 0)
    assert result.rejected.empty
    assert list(result.rejected.columns) == ["row", "study_id", "column", "value", "reason"]
    studies = result.studies
    assert tuple(studies.columns) == COLUMN_NAMES
    for name, dtype in schema_dtypes().items():
        assert studies[name].dtype == dtype, name
    assert studies["study_id"].tolist() == [r["study_id"] for r in BASES.values()]
    assert studies.loc[0, "events_int"] == 8.0
    assert studies.loc[1, "sd_ctrl"] == 1.3
    assert studies.loc[2, "ci_high"] == 0.98
    assert studies.loc[0, "year"] == 2020
    assert pd.isna(studies.loc[4, "measure"])
    assert result.source == path


def test_strings_are_stripped_and_blank_is_missing(tmp_path):
    row = {**ANIMAL_COUNTS, "study_id": "  Smith 2020 ", "model": " mouse", "comparator": "   "}
    result = read_studies(write_sheet(tmp_path / "s.csv", [row]))
    assert result.n_accepted == 1
    assert result.studies.loc[0, "study_id"] == "Smith 2020"
    assert result.studies.loc[0, "model"] == "mouse"
    assert pd.isna(result.studies.loc[0, "comparator"])


def test_bool_columns_accept_the_documented_spellings(tmp_path):
    spellings = ["true", "FALSE", "Yes", "no", "1", "0", ""]
    expected = [True, False, True, False, True, False, pd.NA]
    rows = [
        {**ANIMAL_COUNTS, "study_id": f"S{i}", "randomised": s} for i, s in enumerate(spellings)
    ]
    result = read_studies(write_sheet(tmp_path / "s.csv", rows))
    assert result.n_accepted == len(spellings)
    got = result.studies["randomised"].tolist()
    assert got[:-1] == expected[:-1]
    assert got[-1] is pd.NA


# (base data_type, overrides, column, value, reason)
REJECTIONS = [
    ("counts", {"outcome": ""}, "outcome", None, "required value missing in column 'outcome'"),
    (
        "counts",
        {"indication": "   "},
        "indication",
        None,
        "required value missing in column 'indication'",
    ),
    (
        "counts",
        {"n_int": "ten"},
        "n_int",
        "ten",
        "non-numeric value 'ten' in numeric column 'n_int'",
    ),
    ("counts", {"n_ctrl": "NA"}, "n_ctrl", None, "data_type 'counts' needs a value in 'n_ctrl'"),
    ("counts", {"n_ctrl": "n/a"}, "n_ctrl", None, "data_type 'counts' needs a value in 'n_ctrl'"),
    (
        "counts",
        {"n_ctrl": "N.A."},
        "n_ctrl",
        "N.A.",
        "non-numeric value 'N.A.' in numeric column 'n_ctrl'",
    ),
    (
        "counts",
        {"n_ctrl": "1,000"},
        "n_ctrl",
        "1,000",
        "non-numeric value '1,000' in numeric column 'n_ctrl'",
    ),
    (
        "counts",
        {"year": "2020.5"},
        "year",
        "2020.5",
        "non-integer value '2020.5' in integer column 'year'",
    ),
    (
        "counts",
        {"year": "1e300"},
        "year",
        "1e300",
        "value '1e300' in integer column 'year' is too large",
    ),
    (
        "counts",
        {"randomised": "maybe"},
        "randomised",
        "maybe",
        "value 'maybe' in true/false column 'randomised'; expected true/false, yes/no or 1/0",
    ),
    ("counts", {"model": "mice"}, "model", "mice", "unknown model 'mice'; did you mean 'mouse'?"),
    ("counts", {"measure": "rr"}, "measure", "rr", "unknown measure 'rr'; did you mean 'RR'?"),
    (
        "counts",
        {"outcome_kind": "benefits"},
        "outcome_kind",
        "benefits",
        "unknown outcome_kind 'benefits'; did you mean 'benefit'?",
    ),
    (
        "counts",
        {"stream": "zebra"},
        "stream",
        "zebra",
        "unknown stream 'zebra'; expected one of in_vitro, animal, human.",
    ),
    (
        "counts",
        {"stream": "human"},
        "model",
        "mouse",
        "model 'mouse' belongs to stream 'animal', not 'human'",
    ),
    (
        "none",
        {"model": "meta_analysis"},
        "k_studies",
        None,
        "model 'meta_analysis' needs k_studies >= 1; k_studies is missing",
    ),
    (
        "none",
        {"model": "meta_analysis", "k_studies": "0"},
        "k_studies",
        "0",
        "k_studies must be >= 1 (number of pooled studies); got 0",
    ),
    (
        "counts",
        {"events_ctrl": ""},
        "events_ctrl",
        None,
        "data_type 'counts' needs a value in 'events_ctrl'",
    ),
    (
        "counts",
        {"measure": "MD"},
        "measure",
        "MD",
        "data_type 'counts' needs measure RR, OR, RD; got 'MD'",
    ),
    (
        "counts",
        {"measure": ""},
        "measure",
        None,
        "data_type 'counts' needs measure RR, OR, RD; measure is missing",
    ),
    (
        "continuous",
        {"sd_ctrl": ""},
        "sd_ctrl",
        None,
        "data_type 'continuous' needs sd_ctrl, se_ctrl or both ci_low_ctrl and ci_high_ctrl",
    ),
    (
        "continuous",
        {"measure": "OR"},
        "measure",
        "OR",
        "data_type 'continuous' needs measure MD, SMD, ROM; got 'OR'",
    ),
    (
        "estimate",
        {"estimate": ""},
        "estimate",
        None,
        "data_type 'estimate' needs a value in 'estimate'",
    ),
    (
        "estimate",
        {"measure": ""},
        "measure",
        None,
        "data_type 'estimate' needs a value in 'measure'",
    ),
    (
        "estimate",
        {"ci_low": "", "ci_high": ""},
        "ci_low",
        None,
        "data_type 'estimate' needs both 'ci_low' and 'ci_high', or 'se'",
    ),
    (
        "estimate",
        {"ci_high": ""},
        "ci_high",
        None,
        "data_type 'estimate' needs both 'ci_low' and 'ci_high', or 'se'",
    ),
    ("single_arm", {"n_int": ""}, "n_int", None, "data_type 'single_arm' needs a value in 'n_int'"),
    (
        "single_arm",
        {"measure": "RR"},
        "measure",
        "RR",
        "data_type 'single_arm' needs measure PLO, PR; got 'RR'",
    ),
    (
        "counts",
        {"events_int": "12"},
        "events_int",
        "12",
        "events 'events_int' (12) exceed the total 'n_int' (10)",
    ),
    (
        "counts",
        {"events_ctrl": "-1"},
        "events_ctrl",
        "-1",
        "negative count -1 in column 'events_ctrl'",
    ),
    ("none", {"n_total": "-5"}, "n_total", "-5", "negative count -5 in column 'n_total'"),
    (
        "continuous",
        {"sd_int": "0"},
        "sd_int",
        "0",
        "standard deviation 'sd_int' must be > 0; got 0",
    ),
    (
        "continuous",
        {"sd_ctrl": "-0.4"},
        "sd_ctrl",
        "-0.4",
        "standard deviation 'sd_ctrl' must be > 0; got -0.4",
    ),
    ("continuous", {"n_ctrl": "0"}, "n_ctrl", "0", "sample size 'n_ctrl' must be >= 1; got 0"),
    ("none", {"n_total": "0.5"}, "n_total", "0.5", "sample size 'n_total' must be >= 1; got 0.5"),
    (
        "estimate",
        {"se": "0", "ci_low": "", "ci_high": ""},
        "se",
        "0",
        "standard error 'se' must be > 0; got 0",
    ),
    (
        "estimate",
        {"ci_low": "1.2", "ci_high": "0.9", "estimate": "1.0"},
        "ci_low",
        "1.2",
        "CI lower limit 'ci_low' (1.2) is above the upper limit 'ci_high' (0.9)",
    ),
    (
        "estimate",
        {"estimate": "1.5"},
        "estimate",
        "1.5",
        "estimate 1.5 lies outside its confidence interval (0.5, 0.98)",
    ),
    (
        "estimate",
        {"ci_low": "0"},
        "ci_low",
        "0",
        "ratio measure 'HR' needs 'ci_low' > 0 (natural scale); got 0",
    ),
    (
        "estimate",
        {"measure": "OR", "estimate": "-0.3", "ci_low": "", "ci_high": "", "se": "0.2"},
        "estimate",
        "-0.3",
        "ratio measure 'OR' needs 'estimate' > 0 (natural scale); got -0.3",
    ),
    (
        "continuous",
        {"measure": "ROM", "mean_ctrl": "-1"},
        "mean_ctrl",
        "-1",
        "measure 'ROM' needs positive means; 'mean_ctrl' is -1",
    ),
    (
        "estimate",
        {"ci_level": "95"},
        "ci_level",
        "95",
        "ci_level must be a fraction strictly between 0 and 1 (e.g. 0.95); got 95",
    ),
    (
        "estimate",
        {"ci_level": "0"},
        "ci_level",
        "0",
        "ci_level must be a fraction strictly between 0 and 1 (e.g. 0.95); got 0",
    ),
]


@pytest.mark.parametrize(("base", "overrides", "column", "value", "reason"), REJECTIONS)
def test_each_rejection_reason(tmp_path, base, overrides, column, value, reason):
    good = {**BASES[base], "study_id": "Good 2020"}
    bad = {**BASES[base], **overrides}
    path = write_sheet(tmp_path / "studies.csv", [good, bad])
    result = read_studies(path)
    assert (result.n_in, result.n_accepted, result.n_rejected) == (2, 1, 1)
    assert result.studies["study_id"].tolist() == ["Good 2020"]
    rej = result.rejected
    assert len(rej) == 1, rej.to_dict("records")
    got = rej.iloc[0]
    assert got["row"] == 1
    assert got["column"] == column
    assert got["reason"] == reason
    if value is None:
        assert pd.isna(got["value"])
    else:
        assert got["value"] == value
    expected_id = bad["study_id"].strip() or None
    assert (got["study_id"] if pd.notna(got["study_id"]) else None) == expected_id


def test_estimate_with_se_only_and_none_without_numbers_are_accepted(tmp_path):
    rows = [
        {**ESTIMATE, "ci_low": "", "ci_high": "", "se": "0.12"},
        {**NONE, "result_text": "no results posted"},
    ]
    result = read_studies(write_sheet(tmp_path / "s.csv", rows))
    assert result.n_accepted == 2
    assert result.studies.loc[0, "se"] == 0.12


def test_later_duplicates_are_rejected_and_distinct_timepoints_kept(tmp_path):
    rows = [
        ANIMAL_COUNTS,
        {**ANIMAL_COUNTS, "timepoint": "28 days"},
        {**ANIMAL_COUNTS, "events_int": "7"},
        {**ANIMAL_COUNTS, "timepoint": "28 days"},
    ]
    result = read_studies(write_sheet(tmp_path / "s.csv", rows))
    assert (result.n_accepted, result.n_rejected) == (2, 2)
    rej = result.rejected
    assert rej["row"].tolist() == [2, 3]
    assert set(rej["column"]) == {"study_id"}
    assert rej["reason"].tolist() == [
        "duplicate of row 0 (same study_id, outcome, comparison and timepoint); "
        "the first occurrence is kept",
        "duplicate of row 1 (same study_id, outcome, comparison and timepoint); "
        "the first occurrence is kept",
    ]


def test_citation_key_not_in_bib(tmp_path):
    bib = tmp_path / "references.bib"
    bib.write_text("@article{smith2020,\n  title = {A},\n  year = {2020}\n}\n", encoding="utf-8")
    rows = [ANIMAL_COUNTS, {**ANIMAL_COUNTS, "study_id": "X 2021", "citation_key": "nosuchkey"}]
    path = write_sheet(tmp_path / "s.csv", rows)
    for bib_arg in (bib, str(bib), read_bib(bib)):
        result = read_studies(path, bib=bib_arg)
        assert result.n_accepted == 1
        rec = result.rejected.iloc[0]
        assert (rec["row"], rec["column"], rec["value"]) == (1, "citation_key", "nosuchkey")
        assert rec["reason"] == "citation key 'nosuchkey' not found in references.bib"
    # without a bibliography the key is not checked
    assert read_studies(path).n_accepted == 2


def test_several_problems_in_one_row_count_once(tmp_path):
    bad = {
        **ANIMAL_COUNTS,
        "study_id": "B",
        "model": "mice",
        "n_int": "x",
        "events_ctrl": "-2",
        "year": "1.5",
    }
    result = read_studies(write_sheet(tmp_path / "s.csv", [ANIMAL_COUNTS, bad]))
    assert (result.n_in, result.n_accepted, result.n_rejected) == (2, 1, 1)
    assert sorted(result.rejected["column"]) == ["events_ctrl", "model", "n_int", "year"]
    assert set(result.rejected["row"]) == {1}


def test_extra_columns_are_kept_after_the_schema(tmp_path):
    row = {"reviewer": "AB", **ANIMAL_COUNTS, "my_flag": " x "}
    result = read_studies(write_sheet(tmp_path / "s.csv", [row]))
    assert list(result.studies.columns) == [*COLUMN_NAMES, "reviewer", "my_flag"]
    assert result.studies.loc[0, "my_flag"] == "x"


def test_summary_and_html_name_rows_and_reasons(tmp_path):
    bad = {**ANIMAL_COUNTS, "model": "mice"}
    rows = [{**ANIMAL_COUNTS, "study_id": "A"}, bad]
    result = read_studies(write_sheet(tmp_path / "s.csv", rows))
    text = result.summary()
    assert "2 rows in, 1 accepted, 1 rejected" in text
    assert "row 1 (Smith 2020), column 'model': unknown model 'mice'; did you mean 'mouse'?" in text
    html = result._repr_html_()
    assert "2 rows in, 1 accepted, 1 rejected" in html
    assert "<td>unknown model 'mice'; did you mean 'mouse'?</td>" in html
    assert repr(result).startswith("IngestResult(source=")
    evil = read_studies(
        pd.DataFrame([{**ANIMAL_COUNTS, "study_id": "<script>x</script>", "model": "mice"}])
    )
    assert "<script>" not in evil._repr_html_()
    assert "&lt;script&gt;x&lt;/script&gt;" in evil._repr_html_()


# ---------------------------------------------------------------------------
# Other inputs


def _typed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "study_id": ["A 2020", "B 2021", "C 2022"],
            "citation_key": ["a", "b", "c"],
            "year": [2020, 2021, 2022],
            "indication": ["stroke"] * 3,
            "outcome": ["infarct volume"] * 3,
            "outcome_kind": ["benefit"] * 3,
            "stream": ["animal"] * 3,
            "model": ["rat"] * 3,
            "data_type": ["counts"] * 3,
            "measure": ["OR"] * 3,
            "events_int": [4.0, 5.0, -1.0],
            "n_int": [10, 12, 10],
            "events_ctrl": [1.0, np.nan, 2.0],
            "n_ctrl": [10, 12, 10],
            "randomised": [True, False, True],
        }
    )


def test_dataframe_input_with_numeric_dtypes():
    frame = _typed_frame()
    result = read_studies(frame)
    assert result.source == "<DataFrame>"
    assert (result.n_in, result.n_accepted, result.n_rejected) == (3, 1, 2)
    rej = result.rejected
    assert rej["row"].tolist() == [1, 2]
    assert rej.iloc[0]["reason"] == "data_type 'counts' needs a value in 'events_ctrl'"
    assert (rej.iloc[1]["column"], rej.iloc[1]["value"]) == ("events_int", "-1")
    assert rej.iloc[1]["reason"] == "negative count -1 in column 'events_int'"
    assert result.studies["randomised"].dtype == "boolean"
    assert result.studies["randomised"].tolist() == [True]
    assert result.studies["year"].dtype == "Int64"
    # the caller's frame is not modified
    pd.testing.assert_frame_equal(frame, _typed_frame())


def test_excel_input_matches_csv(tmp_path):
    frame = _typed_frame()
    frame.to_excel(tmp_path / "s.xlsx", index=False, engine="openpyxl")
    frame.to_csv(tmp_path / "s.csv", index=False)
    from_xlsx = read_studies(tmp_path / "s.xlsx")
    from_csv = read_studies(tmp_path / "s.csv")
    pd.testing.assert_frame_equal(from_xlsx.studies, from_csv.studies)
    assert from_xlsx.rejected[["row", "column"]].equals(from_csv.rejected[["row", "column"]])
    assert from_xlsx.n_rejected == 2
    # the value is shown as the file holds it: a number cell in Excel, text "-1.0" in the CSV
    assert from_xlsx.rejected["reason"].iloc[1] == "negative count -1 in column 'events_int'"
    assert from_csv.rejected["reason"].iloc[1] == "negative count -1.0 in column 'events_int'"


def test_parquet_input(tmp_path):
    frame = _typed_frame()
    frame.to_parquet(tmp_path / "s.parquet")
    result = read_studies(tmp_path / "s.parquet")
    assert (result.n_accepted, result.n_rejected) == (1, 2)
    pd.testing.assert_frame_equal(result.studies, read_studies(frame).studies)


def test_excel_text_cells_are_validated_like_csv(tmp_path):
    frame = pd.DataFrame([ANIMAL_COUNTS, {**ANIMAL_COUNTS, "study_id": "Z", "n_int": "ten"}])
    frame.to_excel(tmp_path / "s.xlsx", index=False)
    result = read_studies(tmp_path / "s.xlsx")
    assert result.rejected["reason"].tolist() == [
        "non-numeric value 'ten' in numeric column 'n_int'"
    ]


# ---------------------------------------------------------------------------
# File-level errors


def test_missing_file(tmp_path):
    with pytest.raises(ValidationError, match=r"File '.*nope\.csv' does not exist"):
        read_studies(tmp_path / "nope.csv")


def test_directory_is_not_a_table(tmp_path):
    with pytest.raises(ValidationError, match="is not a file"):
        read_studies(tmp_path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{}")
    with pytest.raises(ValidationError, match=r"extension '\.json'; expected \.csv"):
        read_studies(path)


def test_empty_file(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("")
    with pytest.raises(ValidationError, match=r"s\.csv'.*the file is empty"):
        read_studies(path)


def test_empty_header(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(",,,\nA,b,c,d\n")
    with pytest.raises(ValidationError, match="the header row is empty"):
        read_studies(path)


def test_undecodable_file(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("study_id,outcome\nM\u00fcller 2020,x\n".encode("latin-1"))
    with pytest.raises(ValidationError, match=r"s\.csv'.*cannot be decoded as UTF-8"):
        read_studies(path)


def test_ragged_csv_rows_are_rejected_rows(tmp_path):
    rows = [ANIMAL_COUNTS, {**ANIMAL_COUNTS, "study_id": "B"}]
    path = Path(write_sheet(tmp_path / "s.csv", rows))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines += [lines[1].replace("B", "C") + ",stray", lines[1].replace("B", "D").rsplit(",", 2)[0]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_studies(path)
    assert (result.n_in, result.n_accepted, result.n_rejected) == (4, 2, 2)
    width = len(lines[0].split(","))
    assert result.rejected["reason"].tolist() == [
        f"line 4 has {width + 1} cells but the header has {width} (a stray delimiter or an "
        "unquoted ',' inside a cell); the row is not read",
        f"line 5 has {width - 2} cells but the header has {width} (a missing delimiter or "
        "cells left out); the row is not read",
    ]
    assert result.rejected["row"].tolist() == [2, 3]


def test_binary_excel_and_parquet_are_not_tables(tmp_path):
    for name, what in (("s.xlsx", "Excel workbook"), ("s.parquet", "Parquet table")):
        path = tmp_path / name
        path.write_bytes(b"\x00\x01 this is not a table")
        with pytest.raises(ValidationError, match=f"{name}'.*cannot be read as an? {what}"):
            read_studies(path)


def test_missing_required_columns_are_named_with_a_hint(tmp_path):
    row = {k: v for k, v in ANIMAL_COUNTS.items() if k not in ("outcome", "stream")}
    row["Outcome"] = "x"
    path = write_sheet(tmp_path / "s.csv", [row])
    with pytest.raises(ValidationError) as info:
        read_studies(path)
    message = str(info.value)
    assert "s.csv" in message
    assert "missing required column(s) 'outcome', 'stream'" in message
    assert "'Outcome' looks like 'outcome'" in message
    assert "study_id, indication, outcome" in message


def test_duplicate_and_unnamed_columns(tmp_path):
    path = tmp_path / "s.csv"
    header = ",".join(ANIMAL_COUNTS) + ",model"
    path.write_text(header + "\n" + ",".join(ANIMAL_COUNTS.values()) + ",rat\n")
    with pytest.raises(ValidationError, match=r"duplicate column names in the header: 'model'"):
        read_studies(path)
    path.write_text(",".join(ANIMAL_COUNTS) + ",\n" + ",".join(ANIMAL_COUNTS.values()) + ",9\n")
    with pytest.raises(ValidationError, match="column 15 holds values but has no name"):
        read_studies(path)
    # an unnamed column without any value (a trailing comma) is dropped
    path.write_text(",".join(ANIMAL_COUNTS) + ",\n" + ",".join(ANIMAL_COUNTS.values()) + ",\n")
    assert read_studies(path).n_accepted == 1


def test_semicolon_file_is_read_with_decimal_commas_and_says_so(tmp_path):
    path = tmp_path / "s.csv"
    row = {**CONTINUOUS, "mean_int": "1,5", "sd_int": "0,25"}
    path.write_text(";".join(row) + "\n" + ";".join(row.values()) + "\n")
    result = read_studies(path)
    assert (result.n_in, result.n_accepted) == (1, 1)
    assert result.studies.loc[0, "mean_int"] == 1.5
    assert result.studies.loc[0, "sd_int"] == 0.25
    assert result.notes[0].startswith("the header is ';'-separated: read as a ';'-separated")
    assert "decimal comma" in result.summary()


def test_tab_text_in_a_csv_file_gets_a_hint(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("\t".join(ANIMAL_COUNTS) + "\n" + "\t".join(ANIMAL_COUNTS.values()) + "\n")
    with pytest.raises(ValidationError, match="looks tab-separated"):
        read_studies(path)


def test_header_only_file_gives_zero_rows(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(",".join(ANIMAL_COUNTS) + "\n")
    result = read_studies(path)
    assert (result.n_in, result.n_accepted, result.n_rejected) == (0, 0, 0)
    assert tuple(result.studies.columns) == COLUMN_NAMES


def test_bad_argument_types():
    with pytest.raises(InvalidParameterError, match="'source' argument of read_studies"):
        read_studies(42)
    with pytest.raises(InvalidParameterError, match="'bib' argument of read_studies"):
        read_studies(_typed_frame(), bib=3.5)


# ---------------------------------------------------------------------------
# Round trip


def test_round_trip_csv_read_write_read(tmp_path):
    rows = [
        {
            **CONTINUOUS,
            "mean_int": "0.1",
            "sd_int": "0.30000000000000004",
            "randomised": "yes",
            "comparator": "=cmd",
            "notes": '1 day, "quoted", multi\nline',
            "reviewer": "x",
        },
        {**ESTIMATE, "estimate": "0.7071067811865476", "ci_low": "1e-3", "blinded": "0"},
        {**SINGLE_ARM, "intervention": "@SUM(1)"},
        NONE,
    ]
    first = read_studies(write_sheet(tmp_path / "in.csv", rows))
    assert first.n_accepted == 4
    write_csv(first.studies, tmp_path / "out.csv")
    second = read_studies(tmp_path / "out.csv")
    assert second.n_accepted == 4
    # formula-looking text comes back with the protective quote, everything else identical
    assert second.studies.loc[0, "comparator"] == "'=cmd"
    assert second.studies.loc[2, "intervention"] == "'@SUM(1)"
    a = first.studies.drop(columns=["comparator", "intervention"])
    b = second.studies.drop(columns=["comparator", "intervention"])
    pd.testing.assert_frame_equal(a, b)
    assert second.studies.loc[0, "sd_int"] == 0.30000000000000004


def test_excel_style_csv_with_bom_and_crlf_and_tsv(tmp_path):
    header = ",".join(ANIMAL_COUNTS)
    values = ",".join(ANIMAL_COUNTS.values())
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + header + "\r\n" + values + "\r\n").encode("utf-8"))
    result = read_studies(path)
    assert result.n_accepted == 1
    assert result.studies.columns[0] == "study_id"
    assert result.studies.loc[0, "n_ctrl"] == 10.0
    tsv = tmp_path / "s.tsv"
    tsv.write_text("\t".join(ANIMAL_COUNTS) + "\n" + "\t".join(ANIMAL_COUNTS.values()) + "\n")
    pd.testing.assert_frame_equal(read_studies(tsv).studies, result.studies)


def test_bundled_sheet_round_trips_through_every_format(tmp_path):
    from evidence.datasets import bundled_bib_path, bundled_path

    first = read_studies(bundled_path("exosome_studies.csv"), bib=bundled_bib_path())
    assert first.n_in > 100 and first.n_rejected == 0
    write_csv(first.studies, tmp_path / "x.csv")
    first.studies.to_parquet(tmp_path / "x.parquet")
    first.studies.to_excel(tmp_path / "x.xlsx", index=False)
    # write_csv protects formula-looking text with a leading quote; expect exactly that
    from evidence.export import _safe_text

    protected = first.studies.copy()
    for name in protected.columns[protected.dtypes == "string"]:
        protected[name] = protected[name].map(_safe_text, na_action="ignore").astype("string")
    for source, expected in (
        (first.studies, first.studies),
        (tmp_path / "x.csv", protected),
        (tmp_path / "x.parquet", first.studies),
        (tmp_path / "x.xlsx", first.studies),
    ):
        again = read_studies(source)
        assert again.n_rejected == 0
        pd.testing.assert_frame_equal(again.studies, expected)


def test_fast_and_fallback_csv_readers_agree(tmp_path, monkeypatch):
    import evidence.readers as readers

    rows = [
        {**CONTINUOUS, "notes": 'multi\nline, "quoted"', "comparator": "  padded  "},
        {**ESTIMATE, "intervention": "caf\u00e9 \u03b1", "ci_level": "95"},
        {**SINGLE_ARM, "model": "mice"},
        NONE,
    ]
    path = write_sheet(tmp_path / "s.csv", rows)
    text = open(path, encoding="utf-8").read().replace("\n", "\r\n")
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        handle.write(text.replace("\r\n", "\r\n\r\n", 1))  # BOM, CRLF and a blank line
    assert readers._read_csv_arrow(readers.Path(path), ",", "label") is not None
    fast = read_studies(path)
    monkeypatch.setattr(readers, "_read_csv_arrow", lambda path, sep, label: None)
    slow = read_studies(path)
    assert (fast.n_in, fast.n_accepted, fast.n_rejected) == (4, 2, 2)
    pd.testing.assert_frame_equal(fast.studies, slow.studies)
    pd.testing.assert_frame_equal(fast.rejected, slow.rejected)
    assert fast.studies.loc[0, "notes"] == 'multi\r\nline, "quoted"'


def test_keeping_only_the_cells_a_rule_can_show_changes_no_report(tmp_path, monkeypatch):
    """Validation keeps, of each numeric column, only the cells a row rule can show; with
    every cell kept instead the rejected table is the same, cell text as written included."""
    import evidence.ingest as ingest

    rng = np.random.default_rng(7)
    cells = ["", "-1", "-0.0", "0", "0.5", "+0.50", "1", "1.0", " 2 ", "3e0", "12", "95", "x"]
    numeric = [
        "k_studies",
        "events_int",
        "n_int",
        "events_ctrl",
        "n_ctrl",
        "n_total",
        "mean_int",
        "sd_int",
        "mean_ctrl",
        "sd_ctrl",
        "estimate",
        "ci_low",
        "ci_high",
        "ci_level",
        "se",
        "dose",
        "year",
        "se_int",
        "se_ctrl",
        "ci_low_int",
        "ci_high_int",
        "ci_low_ctrl",
        "ci_high_ctrl",
        "median_int",
        "q1_int",
        "q3_int",
        "median_ctrl",
        "q1_ctrl",
        "q3_ctrl",
    ]
    bases = list(BASES.values())
    rows = []
    for i in range(800):
        row = {
            **bases[i % len(bases)],
            "study_id": f"S{i}",
            "measure": ["RR", "OR", "HR", "ROM", "SMD", "MD"][i % 6],
        }
        for c in rng.choice(numeric, size=6, replace=False):
            row[c] = cells[rng.integers(len(cells))]
        rows.append(row)
    path = write_sheet(tmp_path / "s.csv", rows)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    as_numbers = frame.assign(
        **{
            c: pd.to_numeric(frame[c].str.strip(), errors="coerce")
            for c in ("n_int", "ci_low", "estimate")
        }
    )
    lean = [read_studies(src) for src in (path, frame, as_numbers)]
    monkeypatch.setattr(ingest, "drop_unshown", lambda shown, num: None)
    full = [read_studies(src) for src in (path, frame, as_numbers)]
    for a, b in zip(lean, full, strict=True):
        pd.testing.assert_frame_equal(a.rejected, b.rejected)
        pd.testing.assert_frame_equal(a.studies, b.studies)
    reasons = lean[0].rejected["reason"]
    # the sample reaches every rule that shows a numeric cell, and some rows are accepted
    for needle in (
        "exceed the total",
        "is above the upper limit",
        "outside its confidence",
        "natural scale",
        "positive means",
        "ci_level must",
        "k_studies must",
        "negative count",
        "sample size",
        "standard deviation",
        "standard error",
        "'se_int'",
        "'se_ctrl'",
        "CI of the arm mean: 'ci_low_int'",
        "CI of the arm mean: 'ci_low_ctrl'",
        "quartiles must satisfy q1_int",
        "quartiles must satisfy q1_ctrl",
    ):
        assert reasons.str.contains(needle, regex=False).any(), needle
    assert (lean[0].rejected["value"] == "+0.50").any()
    assert 0 < lean[0].n_accepted < 800


def test_extra_checks_reject_rows_with_their_reasons(tmp_path):
    rows = [ANIMAL_COUNTS, {**CONTINUOUS, "stream": "plant"}, ESTIMATE, SINGLE_ARM]
    path = write_sheet(tmp_path / "s.csv", rows)
    seen = []

    def no_trials(studies):
        seen.append(len(studies))  # every input row, rejected ones included
        hit = studies.index[studies["study_id"].str.startswith("Trial").fillna(False)]
        return pd.DataFrame(
            {
                "row": hit,
                "column": "study_id",
                "value": studies.loc[hit, "study_id"],
                "reason": "no trials",
            }
        )

    def blank_stream(studies):
        return pd.DataFrame(
            {"row": [1], "column": ["stream"], "value": [None], "reason": ["second opinion"]}
        )

    out = read_studies(path, checks=[no_trials, blank_stream])
    assert seen == [4]
    assert (out.n_in, out.n_accepted, out.n_rejected) == (4, 2, 2)
    rej = out.rejected
    assert rej[["row", "column", "reason"]].values.tolist() == [
        [1, "stream", "unknown stream 'plant'; expected one of in_vitro, animal, human."],
        [1, "stream", "second opinion"],
        [2, "study_id", "no trials"],
    ]
    assert rej.loc[2, "value"] == "Trial 2022" and pd.isna(rej.loc[1, "value"])
    assert read_studies(path, checks=no_trials).n_rejected == 2  # one callable is fine too


@pytest.mark.parametrize(
    ("checks", "needle"),
    [
        (3, "'checks'.*callables.*int"),
        ([lambda s: 3], "must return a DataFrame.*Got int"),
        (
            [
                lambda s: pd.DataFrame(
                    {"row": [9], "column": ["x"], "value": [None], "reason": ["r"]}
                )
            ],
            "'row' that is not a position 0..3",
        ),
        (
            [lambda s: pd.DataFrame({"row": [0, 0], "column": "x", "value": None, "reason": "r"})],
            "a row twice",
        ),
    ],
)
def test_bad_checks_are_named(tmp_path, checks, needle):
    path = write_sheet(tmp_path / "s.csv", [ANIMAL_COUNTS, CONTINUOUS, ESTIMATE, SINGLE_ARM])
    with pytest.raises(InvalidParameterError, match=needle):
        read_studies(path, checks=checks)


def test_arrow_allocator_is_restored_after_reading(tmp_path):
    import pyarrow as pa  # a test dependency

    before = pa.default_memory_pool().backend_name
    path = write_sheet(tmp_path / "s.csv", [ANIMAL_COUNTS, CONTINUOUS])
    assert read_studies(path).n_accepted == 2
    assert pa.default_memory_pool().backend_name == before
    with pytest.raises(ValidationError):
        read_studies(tmp_path / "missing.csv")
    assert pa.default_memory_pool().backend_name == before  # also when reading fails


def test_reading_changes_no_process_wide_arrow_setting(tmp_path, monkeypatch):
    import pyarrow as pa  # a test dependency

    decay_calls: list[int] = []  # jemalloc's decay is process-wide and cannot be read back
    monkeypatch.setattr(pa, "jemalloc_set_decay_ms", decay_calls.append)
    during: list[str] = []

    def record_pool(studies: pd.DataFrame) -> pd.DataFrame:
        during.append(pa.default_memory_pool().backend_name)
        return pd.DataFrame(columns=["row", "column", "value", "reason"])

    before = pa.default_memory_pool().backend_name
    path = write_sheet(tmp_path / "s.csv", [ANIMAL_COUNTS, CONTINUOUS])
    assert read_studies(path, checks=(record_pool,)).n_accepted == 2
    assert decay_calls == []
    assert pa.default_memory_pool().backend_name == before
    # the read itself allocates from jemalloc where pyarrow has it (scoped to the call)
    expected = "jemalloc" if "jemalloc" in pa.supported_memory_backends() else before
    assert during == [expected]
