"""Property: no row is ever lost, and only ValidationError escapes read_studies."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from evidence.dictionary import schema_dtypes
from evidence.errors import ValidationError
from evidence.export import write_csv
from evidence.ingest import read_studies
from evidence.schema import COLUMN_NAMES, COLUMNS, REQUIRED_COLUMNS

_GARBAGE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), whitelist_characters="\t"),
    max_size=8,
)
_COMMON = (
    "",
    " ",
    "NA",
    "x",
    "-1",
    "0",
    "0.5",
    "2",
    "7",
    "12",
    "2.0",
    "1,5",
    "1e3",
    "1e300",
    "-0.3",
    "inf",
    "nan",
    " 3 ",
    "yes",
    "No",
    "1",
    "maybe",
    "A",
    "B",
)


@st.composite
def tables(draw) -> pd.DataFrame:
    """Small sheets mixing valid vocabulary, numbers, bad numbers and garbage text."""
    keep_required = draw(st.booleans()) or draw(st.booleans())
    columns = [c for c in COLUMNS if (c.required and keep_required) or draw(st.integers(0, 3)) == 0]
    garbage = tuple(draw(st.lists(_GARBAGE, min_size=1, max_size=3)))
    n_rows = draw(st.integers(0, 8))
    data = {}
    for c in columns:
        pool = _COMMON + garbage + tuple(c.vocabulary or ()) * 2
        picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=n_rows, max_size=n_rows))
        data[c.name] = [pool[i] for i in picks]
    if draw(st.booleans()):
        data["extra_user_column"] = [garbage[i % len(garbage)] for i in range(n_rows)]
    order = draw(st.permutations(list(data)))
    return pd.DataFrame({k: data[k] for k in order}, dtype=object)


def _check(result, n_rows: int) -> None:
    assert result.n_in == n_rows
    assert result.n_accepted + result.n_rejected == result.n_in
    assert result.rejected["row"].between(0, max(n_rows - 1, 0)).all()
    assert (result.rejected["reason"].str.len() > 0).all()
    assert tuple(result.studies.columns[: len(COLUMN_NAMES)]) == COLUMN_NAMES
    for name, dtype in schema_dtypes().items():
        assert result.studies[name].dtype == dtype
    for name in REQUIRED_COLUMNS:
        assert result.studies[name].notna().all()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(frame=tables())
def test_rows_in_equal_accepted_plus_rejected_for_dataframes(frame):
    try:
        result = read_studies(frame)
    except ValidationError as exc:
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        assert missing, f"ValidationError although every required column is present: {exc}"
        return
    _check(result, len(frame))


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(frame=tables())
def test_rows_in_equal_accepted_plus_rejected_for_csv_files(frame):
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(frame, Path(tmp) / "sheet.csv")
        try:
            result = read_studies(path)
        except ValidationError as exc:
            missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
            assert missing, f"ValidationError although every required column is present: {exc}"
            return
    _check(result, len(frame))


_CELLS = st.sampled_from(["", "a", "b c", 'say "hi"', "x,y", "two\nlines", '"', "1", "NA"])


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    rows=st.lists(st.lists(_CELLS, min_size=4, max_size=4), min_size=1, max_size=6),
    damage=st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from([",", '"', "\n", "\r", ""])),
        max_size=3,
    ),
    no_final_newline=st.booleans(),
)
# found by this test: '""' before a cell (an even quote count) is text after a closing quote,
# which the strict reader refuses and the Arrow fast path read as the cell 'S0'
@example(rows=[["", "", "", ""]], damage=[(0, '"'), (0, '"')], no_final_newline=False)
def test_damaged_csv_text_never_loses_a_record_a_strict_reader_sees(rows, damage, no_final_newline):
    """Write a valid sheet with csv.writer, then insert stray delimiters, quotes or line
    breaks anywhere (and maybe drop the last line break): read_studies either names a line
    in a ValidationError or reads exactly the records Python's strict csv reader sees,
    accepted + rejected."""
    import csv
    import io

    base = {
        "study_id": "S",
        "indication": "i",
        "outcome": "o",
        "outcome_kind": "benefit",
        "stream": "animal",
        "model": "mouse",
        "data_type": "none",
    }
    header = [*base, "notes", "dose", "comparator", "timepoint"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for i, cells in enumerate(rows):
        writer.writerow([f"S{i}", *list(base.values())[1:], *cells])
    text = buf.getvalue()
    start = text.index("\n") + 1  # the header stays intact
    for at, piece in damage:
        at = start + at % max(len(text) - start, 1)
        text = text[:at] + piece + text[at:]
    if no_final_newline:
        text = text.rstrip("\r\n")
    try:
        records = [r for r in csv.reader(io.StringIO(text, newline=""), strict=True) if r]
    except csv.Error:
        records = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sheet.csv"
        path.write_text(text, encoding="utf-8", newline="")
        try:
            result = read_studies(path)
        except ValidationError as exc:
            assert "line " in str(exc), exc
            return
    assert records is not None, "a file Python's strict reader refuses was read"
    assert result.n_in == len(records) - 1
    assert result.n_accepted + result.n_rejected == result.n_in
    ragged = sum(len(r) != len(header) for r in records[1:])
    assert (result.rejected["column"] == "<row>").sum() == ragged
