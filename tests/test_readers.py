"""Reading sheets as people have them: missing-value tokens, a column mapping, constant
columns, workbook sheets by name, ';'-files with decimal commas, a TOML config
(evidence.readers, through evidence.read_studies)."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evidence import read_studies
from evidence.errors import EvigapWarning, InvalidParameterError, ValidationError
from evidence.readers import NA_VALUES, sheet_options

ROOT = Path(__file__).resolve().parent.parent

ROW = {
    "study_id": "Smith 2020",
    "citation_key": "smith2020",
    "indication": "wounds",
    "outcome": "closure",
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


def write(path: Path, rows: list[dict]) -> Path:
    columns = list(dict.fromkeys(c for r in rows for c in r))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_default_missing_value_tokens_read_as_missing(tmp_path):
    assert NA_VALUES == ("NA", "N/A", "NaN", "NR", ".", "-", "not reported")
    rows = [
        {**ROW, "study_id": f"S{i}", "year": tok, "dose": tok, "randomised": tok}
        for i, tok in enumerate(
            [
                "NA",
                "na",
                "N/A",
                "n/a",
                "NaN",
                "nan",
                "NR",
                ".",
                "-",
                "not reported",
                "Not Reported",
                " NA ",
                "",
            ]
        )
    ]
    result = read_studies(write(tmp_path / "s.csv", rows))
    assert (result.n_in, result.n_accepted, result.n_rejected) == (13, 13, 0)
    assert result.studies["year"].isna().all() and result.studies["dose"].isna().all()
    assert result.studies["randomised"].isna().all()
    # the same through the DataFrame path
    frame = pd.read_csv(tmp_path / "s.csv", dtype=str, keep_default_na=False)
    again = read_studies(frame)
    assert (again.n_accepted, again.n_rejected) == (13, 0)


def test_na_values_is_configurable(tmp_path):
    rows = [{**ROW, "year": "NA"}, {**ROW, "study_id": "B", "year": "unknown"}]
    path = write(tmp_path / "s.csv", rows)
    custom = read_studies(path, na_values=["unknown"])
    assert custom.rejected[["row", "column", "value"]].values.tolist() == [[0, "year", "NA"]]
    none = read_studies(path, na_values=[])
    assert none.rejected["value"].tolist() == ["NA", "unknown"]
    with pytest.raises(InvalidParameterError, match="'na_values' argument of read_studies"):
        read_studies(path, na_values="NA")


def test_an_r_write_csv_sheet_is_read_with_a_column_mapping_and_defaults(tmp_path):
    """data/normand1999.csv is R's write.csv of metadat's dat.normand1999 (9 stroke-unit
    trials): headers of its own, every value quoted or numeric."""
    source = ROOT / "data" / "normand1999.csv"
    raw = pd.read_csv(source)
    path = tmp_path / "normand.csv"
    # R writes a missing value as NA: blank one SD the way R would
    text = source.read_text(encoding="utf-8").splitlines()
    cells = text[3].split(",")
    cells[4] = "NA"
    text[3] = ",".join(cells)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    columns = {
        "study": "study_id",
        "n1i": "n_int",
        "m1i": "mean_int",
        "sd1i": "sd_int",
        "n2i": "n_ctrl",
        "m2i": "mean_ctrl",
        "sd2i": "sd_ctrl",
    }
    defaults = {
        "indication": "stroke",
        "outcome": "length of stay",
        "outcome_kind": "benefit",
        "stream": "human",
        "model": "clinical_trial",
        "data_type": "continuous",
        "measure": "MD",
        "outcome_direction": "higher_is_worse",
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read_studies(path, columns=columns, defaults=defaults)
    assert [str(w.message) for w in caught] == [
        "read_studies(): 9 of 9 records have no citation_key and no bibliography was given: "
        "they cannot be traced to a source (give each row a citation_key and pass bib= to "
        "check the keys)."
    ]
    assert all(issubclass(w.category, EvigapWarning) for w in caught)
    assert (result.n_in, result.n_accepted, result.n_rejected) == (9, 8, 1)
    assert result.rejected[["row", "column", "reason"]].values.tolist() == [
        [
            2,
            "sd_int",
            "data_type 'continuous' needs sd_int, se_int or both ci_low_int and ci_high_int",
        ]
    ]
    kept = raw.drop(index=2).reset_index(drop=True)
    assert result.studies["study_id"].tolist() == kept["study"].astype(str).tolist()
    np.testing.assert_array_equal(result.studies["mean_int"].to_numpy(float), kept["m1i"])
    assert set(result.studies["stream"]) == {"human"}
    assert "source" in result.studies.columns  # an unmapped column is kept as read
    assert "cannot be traced" in result.summary()


def test_column_mapping_and_defaults_errors_name_the_problem(tmp_path):
    path = write(tmp_path / "s.csv", [{**ROW, "x.nrt": "3"}])
    with pytest.raises(ValidationError, match=r"names 'x\.nrx' \(did you mean 'x\.nrt'\?\)"):
        read_studies(path, columns={"x.nrx": "events_int"})
    with pytest.raises(
        InvalidParameterError,
        match=r"maps to 'event_int' \(did you mean "
        r"'events_int'\?\)",
    ):
        read_studies(path, columns={"x.nrt": "event_int"})
    with pytest.raises(ValidationError, match=r"renames a column to \['events_int'\]"):
        read_studies(path, columns={"x.nrt": "events_int"})
    with pytest.raises(InvalidParameterError, match="maps several columns to one"):
        read_studies(path, columns={"x.nrt": "dose", "n_int": "dose"})
    with pytest.raises(ValidationError, match=r"has column\(s\) \['stream'\] given in defaults"):
        read_studies(path, defaults={"stream": "human"})
    with pytest.raises(InvalidParameterError, match=r"names \['strem'\], not columns"):
        read_studies(path, defaults={"strem": "human"})
    swapped = read_studies(path, columns={"x.nrt": "events_int", "events_int": "dose"})
    assert (swapped.studies.loc[0, "events_int"], swapped.studies.loc[0, "dose"]) == (3, 8)


def test_workbook_sheets_by_name_xlsx_and_ods(tmp_path):
    frame = pd.DataFrame([ROW, {**ROW, "study_id": "B", "n_int": "NR"}])
    for suffix, engine in ((".xlsx", "openpyxl"), (".ods", "odf")):
        path = tmp_path / f"book{suffix}"
        with pd.ExcelWriter(path, engine=engine) as writer:
            pd.DataFrame({"note": ["cover sheet"]}).to_excel(
                writer, sheet_name="About", index=False
            )
            frame.to_excel(writer, sheet_name="Studies", index=False)
        result = read_studies(path, sheet="Studies")
        assert (result.n_in, result.n_accepted, result.n_rejected) == (2, 1, 1), suffix
        assert result.rejected["reason"].tolist() == ["data_type 'counts' needs a value in 'n_int'"]
        assert read_studies(path, sheet=1).n_accepted == 1
        with pytest.raises(
            ValidationError,
            match=r"has no sheet named 'Study'; its sheets are "
            r"\['About', 'Studies'\]\. Did you mean",
        ):
            read_studies(path, sheet="Study")
    with pytest.raises(InvalidParameterError, match="applies to .xlsx and .ods"):
        read_studies(write(tmp_path / "s.csv", [ROW]), sheet="Studies")


def test_sheet_options_reads_a_toml_config(tmp_path):
    config = tmp_path / "review.toml"
    config.write_text(
        '[run]\nmeasure = "RR"\n\n'
        '[sheet]\nname = "Studies"\nna_values = ["NA", "unknown"]\n\n'
        '[columns]\n"x.nrt" = "events_int"\nauthor = "study_id"\n\n'
        '[defaults]\nstream = "human"\nrandomised = true\nci_level = 0.9\n',
        encoding="utf-8",
    )
    assert sheet_options(config) == {
        "sheet": "Studies",
        "na_values": ["NA", "unknown"],
        "columns": {"x.nrt": "events_int", "author": "study_id"},
        "defaults": {"stream": "human", "randomised": True, "ci_level": 0.9},
    }
    bad = tmp_path / "bad.toml"
    bad.write_text("[sheet]\nsheet = 'x'\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"unknown key\(s\) \['sheet'\] in \[sheet\]"):
        sheet_options(bad)
    bad.write_text("[columns\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="is not valid TOML"):
        sheet_options(bad)
    bad.write_text('[columns]\n"x" = "nonsense"\n', encoding="utf-8")
    with pytest.raises(InvalidParameterError, match="'columns' argument of sheet_options"):
        sheet_options(bad)
    # the options drive read_studies
    rows = [
        {
            **{k: v for k, v in ROW.items() if k not in ("study_id", "stream", "events_int")},
            "model": "phase_2",
            "author": "Lee",
            "x.nrt": "2",
        }
    ]
    path = write(tmp_path / "s.csv", rows)
    options = sheet_options(config)
    options.pop("sheet")
    result = read_studies(path, **options)
    assert result.n_accepted == 1
    assert result.studies.loc[0, "study_id"] == "Lee"
    assert result.studies.loc[0, "events_int"] == 2
    assert bool(result.studies.loc[0, "randomised"]) is True
    assert result.studies.loc[0, "ci_level"] == 0.9


def test_semicolon_file_with_a_dotted_number_in_a_comma_column_is_rejected(tmp_path):
    row = {
        **ROW,
        "data_type": "continuous",
        "measure": "MD",
        "events_int": "",
        "events_ctrl": "",
        "mean_int": "1,5",
        "sd_int": "0,5",
        "mean_ctrl": "1.000",
        "sd_ctrl": "0,5",
    }
    rows = [row, {**row, "study_id": "B", "mean_ctrl": "2"}]
    path = tmp_path / "s.csv"
    path.write_text(
        ";".join(row) + "\n" + "\n".join(";".join(r.values()) for r in rows) + "\n",
        encoding="utf-8",
    )
    result = read_studies(path)
    # mean_ctrl holds no comma: its '.' is the decimal point; sd columns use commas
    assert (result.n_accepted, result.n_rejected) == (2, 0)
    assert result.studies["mean_ctrl"].tolist() == [1.0, 2.0]
    rows[1]["mean_ctrl"] = "2,5"
    path.write_text(
        ";".join(row) + "\n" + "\n".join(";".join(r.values()) for r in rows) + "\n",
        encoding="utf-8",
    )
    mixed = read_studies(path)
    assert mixed.rejected[["row", "column", "value"]].values.tolist() == [[0, "mean_ctrl", "1.000"]]


def test_arms_given_as_medians_are_flagged_in_the_notes(tmp_path):
    row = {
        **ROW,
        "data_type": "continuous",
        "measure": "MD",
        "events_int": "",
        "events_ctrl": "",
        "median_int": "4",
        "q1_int": "2",
        "q3_int": "7",
        "mean_ctrl": "5",
        "se_ctrl": "0.4",
    }
    result = read_studies(write(tmp_path / "s.csv", [row, {**row, "study_id": "B"}]))
    assert (result.n_accepted, result.n_rejected) == (2, 0)
    assert result.notes == (
        "2 arm(s) give a median and quartiles instead of a mean: they get no effect size "
        "unless study_effects(convert_medians=True) estimates mean and SD (Wan 2014)",
    )
    bad = {**row, "q3_int": "3"}
    again = read_studies(write(tmp_path / "t.csv", [bad]))
    assert again.rejected["reason"].tolist() == [
        "quartiles must satisfy q1_int <= median_int <= q3_int with q1_int < q3_int; got 2, 4, 3"
    ]


# --- strict quoting: whatever Python's strict csv reader refuses, read_studies refuses -------

_HEADER = (
    "study_id,citation_key,indication,outcome,outcome_kind,stream,model,data_type,"
    "measure,events_int,n_int,events_ctrl,n_ctrl,notes\n"
)
_GOOD = "S{i},smith2020,wounds,closure,benefit,animal,mouse,counts,RR,8,10,3,10,{notes}\n"


def _sheet(path: Path, *bodies: str) -> Path:
    path.write_text(_HEADER + "".join(bodies), encoding="utf-8", newline="")
    return path


def _strict_refuses(path: Path) -> bool:
    with open(path, encoding="utf-8", newline="") as handle:
        try:
            list(csv.reader(handle, strict=True))
        except csv.Error:
            return True
    return False


@pytest.mark.parametrize(
    ("bodies", "line"),
    [
        # the property test's falsifying case: '""' inserted before a cell (an even quote count)
        (('""' + _GOOD.format(i=0, notes=""),), 2),
        ((_GOOD.format(i=0, notes="").replace(",mouse,", ',""mouse,'),), 2),
        # a quoted cell with text after its closing quote, even count, second record
        (
            (_GOOD.format(i=0, notes="a"), _GOOD.format(i=1, notes='"dose, route"i.v.')),
            3,
        ),
        # a quote opened inside a cell and closed later: text follows the closing quote
        ((_GOOD.format(i=0, notes='"a,"b'),), 2),
        # a literal quote (5" needle) makes the count even while the last cell is never closed
        (
            (_GOOD.format(i=0, notes='5" needle'), _GOOD.format(i=1, notes='"open').rstrip("\n")),
            3,
        ),
    ],
)
def test_a_quote_the_strict_reader_refuses_is_an_error_naming_the_line(tmp_path, bodies, line):
    path = _sheet(tmp_path / "sheet.csv", *bodies)
    assert path.read_text().count('"') % 2 == 0  # the odd-count heuristic alone missed these
    assert _strict_refuses(path)
    with pytest.raises(ValidationError, match=rf"line {line}\b"):
        read_studies(path)


def test_sound_quoting_reads_the_cells_the_strict_reader_sees(tmp_path):
    notes = [
        '5" needle',
        '"dose, route: i.v."',
        '"said ""ok"", twice"',
        'mo""use',
        '"two\nlines"',
        '""',
    ]
    bodies = (_GOOD.format(i=i, notes=n) for i, n in enumerate(notes))
    path = _sheet(tmp_path / "sheet.csv", *bodies)
    assert not _strict_refuses(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvigapWarning)
        result = read_studies(path)
    assert (result.n_in, result.n_accepted, result.n_rejected) == (6, 6, 0)
    assert result.studies["notes"].fillna("").tolist() == [
        '5" needle',
        "dose, route: i.v.",
        'said "ok", twice',
        'mo""use',
        "two\nlines",
        "",
    ]
