"""Issue 16, reading side: hostile or broken sheets never lose a row silently (small files,
seconds each).  Rows in = accepted + rejected counts what a spreadsheet would show."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evidence import read_studies
from evidence.errors import ValidationError
from evidence.references import read_bib

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
    "notes": "",
}


def six_records(path: Path) -> list[str]:
    rows = [{**ROW, "study_id": f"S{i}"} for i in range(6)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROW), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("where", ["middle", "last"])
def test_an_unterminated_quote_is_an_error_naming_its_line(tmp_path, where):
    path = tmp_path / "s.csv"
    lines = six_records(path)
    at = 3 if where == "middle" else 6  # 0-based index into lines; line number at + 1
    lines[at] = lines[at] + '"three records end up in this note'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        ValidationError,
        match=rf"s\.csv': line {at + 1}: a quoted cell opened "
        r"on this line is never closed",
    ):
        read_studies(path)


def test_an_unterminated_quote_hidden_by_an_even_quote_count_is_found(tmp_path):
    """A literal quote inside an unquoted cell makes the count even; the quote that opens a
    cell sends the file through the strict pass whatever the count."""
    path = tmp_path / "s.csv"
    lines = six_records(path)
    lines[1] = lines[1].replace("wounds", 'a 5" wound')
    lines[4] = lines[4] + '"open'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"line 5: a quoted cell opened on this line"):
        read_studies(path)


@pytest.mark.parametrize("damage", ['""S3', '"dose, route"i.v.'])
def test_text_after_a_closing_quote_is_an_error_naming_its_line(tmp_path, damage):
    """An even number of quotes in a wrong place: the Arrow fast path used to read '""S3' as
    the cell 'S3' (and '"a, b"c' as 'a, bc') although the strict reader refuses the file."""
    path = tmp_path / "s.csv"
    lines = six_records(path)
    lines[4] = lines[4].replace("S3,", damage + ",", 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.read_text().count('"') % 2 == 0
    with pytest.raises(ValidationError, match=r"s\.csv': line 5: text follows the closing quote"):
        read_studies(path)


def test_a_quoted_multiline_note_and_a_literal_quote_are_fine(tmp_path):
    path = tmp_path / "s.csv"
    lines = six_records(path)
    lines[1] = lines[1] + '"first line\nsecond, with ""quotes"""'
    lines[2] = lines[2].replace("wounds", 'a 5" wound')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_studies(path)
    assert (result.n_in, result.n_accepted, result.n_rejected) == (6, 6, 0)
    assert result.studies.loc[0, "notes"] == 'first line\nsecond, with "quotes"'
    assert result.studies.loc[1, "indication"] == 'a 5" wound'


def test_a_stray_delimiter_and_a_short_row_are_rejected_rows(tmp_path):
    path = tmp_path / "s.csv"
    lines = six_records(path)
    lines[2] = lines[2].replace("wounds", "wounds, burns")  # an unquoted comma
    lines[5] = lines[5].rsplit(",", 3)[0]
    assert lines[2].count(",") == 14 and lines[5].count(",") == 10
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_studies(path)
    assert (result.n_in, result.n_accepted, result.n_rejected) == (6, 4, 2)
    assert result.rejected[["row", "column"]].values.tolist() == [[1, "<row>"], [4, "<row>"]]
    assert (
        result.rejected["reason"]
        .str.startswith(("line 3 has 15 cells", "line 6 has 11 cells"))
        .all()
    )
    ledger = result.to_frame()
    assert ledger["status"].tolist() == [
        "accepted",
        "rejected",
        "accepted",
        "accepted",
        "rejected",
        "accepted",
    ]


def test_even_empty_cells_beyond_the_header_make_a_ragged_row(tmp_path):
    """A stray delimiter before an empty last cell shifts every cell after it: the row is
    rejected, not read with its cells in the wrong columns."""
    path = tmp_path / "s.csv"
    lines = six_records(path)
    lines[1] = lines[1].replace("wounds", "wounds, burns")  # notes, the last cell, is empty
    lines[3] = lines[3] + ",,"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_studies(path)
    assert (result.n_in, result.n_accepted, result.n_rejected) == (6, 4, 2)
    assert result.rejected["row"].tolist() == [0, 2]
    assert result.rejected["column"].tolist() == ["<row>", "<row>"]


def test_excel_formula_without_a_cached_value_is_rejected_with_the_reason(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(ROW))
    for i in range(3):
        sheet.append([f"S{i}" if c == "study_id" else v for c, v in ROW.items()])
    sheet["K3"] = "=5+5"  # n_int of S1: openpyxl writes the formula, no cached value
    path = tmp_path / "s.xlsx"
    book.save(path)
    result = read_studies(path)
    assert (result.n_in, result.n_accepted, result.n_rejected) == (3, 2, 1)
    got = result.rejected[result.rejected["column"] == "n_int"].iloc[0]
    assert (got["row"], got["value"]) == (1, "=5+5")
    assert got["reason"].startswith("formula =5+5 has no calculated value")


_LARGE = (
    "value {} in column '{}' is too large to compute with (its square overflows double precision)"
)
_SMALL = (
    "value {} in column '{}' is too small to compute with (its square underflows double "
    "precision to 0 or a subnormal number)"
)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("sd_int", "1e200", _LARGE),
        ("se", "1e-300", _SMALL),
        ("estimate", "-1e160", _LARGE),
        ("ci_high", "2.5e-170", _SMALL),
    ],
)
def test_numbers_whose_squares_leave_double_precision_are_rejected(tmp_path, column, value, reason):
    base = {
        **ROW,
        "data_type": "estimate",
        "measure": "MD",
        "estimate": "0.5",
        "se": "0.1",
        "sd_int": "",
    }
    rows = [base, {**base, "study_id": "B", column: value}]
    path = tmp_path / "s.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = read_studies(path)
    assert (result.n_accepted, result.n_rejected) == (1, 1)
    rec = result.rejected[result.rejected["column"] == column].iloc[0]
    assert (rec["row"], rec["value"], rec["reason"]) == (1, value, reason.format(value, column))
    # the DataFrame path (numbers already parsed) rejects them too, showing the float
    frame = pd.DataFrame(rows).assign(**{column: [np.nan, float(value)]})
    again = read_studies(frame).rejected
    assert reason.format(repr(float(value)), column) in again["reason"].tolist()


def test_unreadable_files_raise_evigap_errors(tmp_path, monkeypatch):
    sheet = tmp_path / "s.csv"
    six_records(sheet)
    bib = tmp_path / "refs.bib"
    bib.write_text("@article{a, title={T}, doi={10.1/x}}\n", encoding="utf-8")
    real_open, real_read = Path.open, Path.read_text

    def deny_open(self, *args, **kwargs):
        if self.name in ("s.csv", "refs.bib"):
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    def deny_read(self, *args, **kwargs):
        if self.name == "refs.bib":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny_open)
    monkeypatch.setattr(Path, "read_text", deny_read)
    with pytest.raises(ValidationError, match=r"s\.csv' cannot be read \(Permission denied\)"):
        read_studies(sheet)
    with pytest.raises(ValidationError, match=r"refs\.bib' cannot be read \(Permission denied\)"):
        read_bib(bib)


def test_a_quote_closed_by_the_next_record_names_both_lines(tmp_path):
    path = tmp_path / "s.csv"
    lines = six_records(path)
    lines[2] = lines[2] + '"unclosed'
    lines[3] = '"' + lines[3]  # the next record starts with a quote: it closes the first
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        ValidationError,
        match=r"line 4 \(in the record that starts on line 3\)"
        r": text follows the closing quote.* a quote "
        r"opened on line 3 may be unmatched",
    ):
        read_studies(path)
