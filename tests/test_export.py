"""write_csv: formula neutralisation, numbers stay numbers, exact round trip, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.errors import InvalidParameterError
from evidence.export import write_csv


def test_formula_text_is_neutralised(tmp_path):
    frame = pd.DataFrame(
        {
            "text": [
                "=1+1",
                "+SUM(A1)",
                "-2+3",
                "@cmd",
                "\tx",
                "\rx",
                "plain",
                "a=b",
                "-3",
                "+1.5e-3",
            ],
        }
    )
    text = write_csv(frame, tmp_path / "o.csv").read_bytes().decode("utf-8")
    assert text.split("\n")[:7] == [
        "text",
        "'=1+1",
        "'+SUM(A1)",
        "'-2+3",
        "'@cmd",
        "'\tx",
        '"\'\rx"',
    ]
    # ordinary text, and text that is a plain number, is unchanged
    assert text.split("\n")[7:11] == ["plain", "a=b", "-3", "+1.5e-3"]


def test_numbers_stay_numbers_even_negative(tmp_path):
    frame = pd.DataFrame(
        {
            "x": [-1.5, 0.1, np.nan],
            "n": pd.array([-3, 4, None], dtype="Int64"),
            "mixed": [-2, "-2 days", None],
            "flag": pd.array([True, None, False], dtype="boolean"),
        }
    )
    lines = write_csv(frame, tmp_path / "o.csv").read_text(encoding="utf-8").split("\n")
    assert lines == ["x,n,mixed,flag", "-1.5,-3,-2,true", "0.1,4,'-2 days,", ",,,false", ""]


def test_floats_round_trip_exactly(tmp_path):
    values = [0.1, 1 / 3, 2 / 3 * 1e-12, 123456789.123456789, -0.0, 1e300, 5e-324, 3.0]
    frame = pd.DataFrame({"v": values})
    path = write_csv(frame, tmp_path / "o.csv")
    back = pd.read_csv(path)
    assert back["v"].tolist() == values
    assert path.read_text().split("\n")[1:4] == [
        "0.1",
        "0.3333333333333333",
        "6.666666666666666e-13",
    ]


def test_column_and_row_order_kept_and_index_not_written(tmp_path):
    frame = pd.DataFrame({"b": [2, 1], "a": ["y", "x"]}, index=[10, 5])
    text = write_csv(frame, tmp_path / "o.csv").read_text()
    assert text == "b,a\n2,y\n1,x\n"


def test_deterministic_bytes(tmp_path):
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "id": [f"S{i}" for i in range(200)],
            "x": rng.normal(size=200),
            "note": ["=x", 'é, "q"', "multi\nline", None] * 50,
        }
    )
    a = write_csv(frame, tmp_path / "a.csv").read_bytes()
    b = write_csv(frame.copy(), tmp_path / "b.csv").read_bytes()
    assert a == b
    assert b"\r" not in a
    assert a.decode("utf-8").count("\n") >= 201
    assert "é".encode() in a


def test_bad_arguments(tmp_path):
    with pytest.raises(InvalidParameterError, match="'frame' argument of write_csv"):
        write_csv([1, 2], tmp_path / "o.csv")
    with pytest.raises(InvalidParameterError, match="existing directory"):
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "missing" / "o.csv")


# The per-cell writer that write_csv() replaced (vectorised for speed); kept here as the
# reference the fast writer must reproduce byte for byte.
def _reference_csv(frame: pd.DataFrame) -> bytes:
    import math
    import re

    start = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
    plain = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

    def safe(text):
        return "'" + text if text.startswith(start) and not plain.match(text) else text

    def missing(v):
        return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))

    def cell(v):
        if missing(v):
            return ""
        if isinstance(v, bool | np.bool_):
            return "true" if v else "false"
        if isinstance(v, int | np.integer):
            return str(int(v))
        if isinstance(v, float | np.floating):
            return repr(float(v))
        return safe(str(v))

    def column(s):
        if pd.api.types.is_float_dtype(s.dtype):
            return [cell(v) for v in s.to_numpy(dtype=float, na_value=np.nan).tolist()]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            return ["" if pd.isna(v) else v.isoformat() for v in s.tolist()]
        return [cell(v) for v in s.astype(object).tolist()]

    def quote(c):
        return '"' + c.replace('"', '""') + '"' if any(ch in c for ch in ',"\n\r') else c

    header = [safe(str(c)) for c in frame.columns]
    cols = [column(frame.iloc[:, i]) for i in range(frame.shape[1])]
    lines = [",".join(map(quote, header))]
    lines += [",".join(map(quote, row)) for row in zip(*cols, strict=True)]
    if len(header) == 1:
        lines = [line if line else '""' for line in lines]
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_same_bytes_as_the_per_cell_writer(tmp_path):
    import warnings

    import evidence

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = evidence.study_effects(evidence.load_dataset("exosomes"))
    odd = pd.DataFrame(
        {
            "obj": [1, "a,b", None, 2.5, True, {"D1": "low"}],
            "text": ["-3\n", "+x", "\uff1dx", 'q"', "\r", np.nan],
            "f32": np.array([1.5, np.nan, np.inf, -0.0, 1e-7, 3], dtype="float32"),
            "u8": np.arange(6, dtype="uint8"),
            "flag": [True, False] * 3,
            "when": pd.date_range("2020-01-01", periods=6),
            "Int": pd.array([1, None] * 3, dtype="Int64"),
            "cat": pd.Categorical(["a", "b,c", None] * 2),
            "catnum": pd.Categorical([1.5, 2.0, None] * 2),
            "Float": pd.array([1.5, None, -0.0, 1e-7, 3.0, 2 / 3], dtype="Float64"),
            "bool": pd.array([True, None, False] * 2, dtype="boolean"),
            "UInt": pd.array([2**63, None] * 3, dtype="UInt64"),
        }
    )
    frames = [
        table,
        odd,
        pd.DataFrame({"one": ["", "x", None, "=1"]}),
        pd.DataFrame(index=range(3)),
        odd.iloc[:0],
    ]
    for i, frame in enumerate(frames):
        assert write_csv(frame, tmp_path / f"{i}.csv").read_bytes() == _reference_csv(frame), i
    assert table.shape[0] > 100 and (tmp_path / "0.csv").stat().st_size > 10_000


def test_chunked_writing_matches_one_pass(tmp_path, monkeypatch):
    import evidence.export as export

    frame = pd.DataFrame({"x": np.linspace(-1, 1, 25), "s": ["=a", "b,c", None, "d", "e"] * 5})
    whole = write_csv(frame, tmp_path / "a.csv").read_bytes()
    monkeypatch.setattr(export, "_CHUNK_CELLS", 14)
    assert write_csv(frame, tmp_path / "b.csv").read_bytes() == whole == _reference_csv(frame)


def test_chunks_are_sized_by_bytes_for_rows_with_long_cells(tmp_path, monkeypatch):
    import sys

    import evidence.export as export

    # 40 rows of ~2 kB each (long lists of ids, quoted because of the commas), a 5 kB budget
    ids = [",".join(f"S{j:05d}" for j in range(i, i + 300)) for i in range(40)]
    frame = pd.DataFrame({"k": range(40), "ids": ids, "x": np.linspace(0, 1, 40)})
    whole = write_csv(frame, tmp_path / "a.csv").read_bytes()
    monkeypatch.setattr(export, "_CHUNK_BYTES", 5_000)
    monkeypatch.setattr(export, "_FIRST_CHUNK_ROWS", 4)
    ranges: list[tuple[int, int]] = []
    chunks = export._write_chunks

    def spy(part, write_part):
        def recorded(start: int, stop: int) -> int:
            ranges.append((start, stop))
            return write_part(start, stop)

        chunks(part, recorded)

    monkeypatch.setattr(export, "_write_chunks", spy)
    assert write_csv(frame, tmp_path / "b.csv").read_bytes() == whole == _reference_csv(frame)
    # contiguous ranges covering every row; the first has 4 rows, the next 2 (5 kB / 2.1 kB)
    assert [r[0] for r in ranges[1:]] == [r[1] for r in ranges[:-1]]
    assert ranges[0] == (0, 4) and ranges[-1][1] == 40
    assert {stop - start for start, stop in ranges[1:-1]} == {2}
    ranges.clear()
    monkeypatch.setitem(sys.modules, "pyarrow.compute", None)  # the Python writer
    assert write_csv(frame, tmp_path / "c.csv").read_bytes() == whole
    assert ranges[0] == (0, 4) and {b - a for a, b in ranges[1:-1]} == {2}


def test_python_join_without_pyarrow_gives_same_bytes(tmp_path, monkeypatch):
    import sys

    frame = pd.DataFrame({"x": [1.5, np.nan, -2.0], "s": ["=a", "b,c", None], "n": [1, 2, 3]})
    with_arrow = write_csv(frame, tmp_path / "a.csv").read_bytes()
    monkeypatch.setitem(sys.modules, "pyarrow.compute", None)  # import fails -> Python join
    assert write_csv(frame, tmp_path / "b.csv").read_bytes() == with_arrow == _reference_csv(frame)


_NOTATION_EDGES = [
    0.0,
    -0.0,
    1e-4,
    9.999999999999999e-05,
    1e-5,
    6.182191213378174e-05,
    1e15,
    999999999999999.9,
    9.999999999999998e15,
    1e16,
    1e22,
    123456789.0,
    52.0,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1.5e300,
    0.1,
    1 / 3,
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=60))
def test_float_cells_are_python_repr(values):
    """The Arrow fast path writes exactly ``repr`` (NaN as an empty cell) for any float."""
    frame = pd.DataFrame({"x": np.array(values + _NOTATION_EDGES, dtype=float)})
    # one column: an empty cell is written as "" so that it is not a blank line
    expected = ["x"] + ['""' if v != v else repr(v) for v in frame["x"].tolist()]
    written = write_csv(frame, _tmp_csv()).read_text(encoding="utf-8").split("\n")
    assert written == expected + [""]


def _tmp_csv():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp()) / "x.csv"


def test_quoted_cells_among_other_columns(tmp_path):
    """Cells needing quotes, next to numbers and booleans, in text and categorical columns."""
    frame = pd.DataFrame(
        {
            "s": pd.array(["a,b", 'q"x', "l\nx", None, "\r", "plain"], dtype="string[pyarrow]"),
            "n": pd.array([1, None, -3, 4, 5, 6], dtype="Int64"),
            "c": pd.Categorical(["x,y", '"', None, "z", "=1", "x,y"]),
            "f": [0.5, np.nan, 2.0, -0.0, 1e-5, 1e16],
            "b": pd.array([True, False, None, True, False, True], dtype="boolean"),
        }
    )
    text = write_csv(frame, tmp_path / "o.csv").read_bytes()
    assert text == (
        b's,n,c,f,b\n"a,b",1,"x,y",0.5,true\n"q""x",,"""",,false\n"l\nx",-3,,2.0,\n'
        b',4,z,-0.0,true\n"\'\r",5,\'=1,1e-05,false\nplain,6,"x,y",1e+16,true\n'
    )
    assert text == _reference_csv(frame)


def test_text_like_the_hidden_quoting_bytes_is_kept(tmp_path):
    """U+00F8..U+00FB (UTF-8 C3 B8..C3 BB) survive, quoted or not."""
    frame = pd.DataFrame({"s": ["øùúû", "ø,û", 'ú"'], "n": [1, 2, 3]})
    text = write_csv(frame, tmp_path / "o.csv").read_text(encoding="utf-8")
    assert text == 's,n\nøùúû,1\n"ø,û",2\n"ú""",3\n'


@pytest.mark.parametrize(
    "column, lines",
    [
        (pd.array([1, None, 3], dtype="Int64"), ["1", '""', "3"]),
        (pd.array([None, True, False], dtype="boolean"), ['""', "true", "false"]),
        ([np.nan, 1.5, -np.inf], ['""', "1.5", "-inf"]),
        (["", 'a"b', None], ['""', '"a""b"', '""']),
        (pd.Categorical([None, "a,b", "c"]), ['""', '"a,b"', "c"]),
        (pd.array([None, None, None], dtype="Float64"), ['""', '""', '""']),
    ],
)
def test_single_column_empty_cells_are_not_blank_lines(tmp_path, column, lines):
    frame = pd.DataFrame({"only": column})
    text = write_csv(frame, tmp_path / "o.csv").read_text(encoding="utf-8")
    assert text.split("\n") == ["only", *lines, ""]
    assert text.encode() == _reference_csv(frame)


def test_all_missing_columns_are_empty_cells(tmp_path):
    import decimal

    frame = pd.DataFrame(
        {
            "f": pd.array([None, None], dtype="Float64"),
            "i": pd.array([None, None], dtype="Int64"),
            "b": pd.array([None, None], dtype="boolean"),
            "s": pd.array([None, None], dtype="string[pyarrow]"),
            "c": pd.Categorical([None, None], categories=["x"]),
            "t": pd.Series([pd.NaT, pd.NaT], dtype="datetime64[ns]"),
            # pandas counts Decimal NaN as missing, but the writer has always written str()
            "o": pd.array([decimal.Decimal("NaN"), None], dtype=object),
        }
    )
    text = write_csv(frame, tmp_path / "o.csv").read_text()
    assert text == "f,i,b,s,c,t,o\n,,,,,,NaN\n,,,,,,\n"
    assert text.encode() == _reference_csv(frame)


def test_formula_prefix_only_for_formula_starts(tmp_path):
    """Full-width = + - @ are prefixed; other characters whose UTF-8 starts with 0xEF are not."""
    cells = ["\uff1dA1", "\uff0b1", "\uff0dx", "\uff20x", "\uff21x", "\ufeffx", "\uffe5", "-1.5e-3"]
    frame = pd.DataFrame({"s": pd.array(cells, dtype="string[pyarrow]"), "n": range(8)})
    lines = write_csv(frame, tmp_path / "o.csv").read_text(encoding="utf-8").split("\n")[1:-1]
    assert [line.rsplit(",", 1)[0] for line in lines] == [
        "'\uff1dA1",
        "'\uff0b1",
        "'\uff0dx",
        "'\uff20x",
        "\uff21x",
        "\ufeffx",
        "\uffe5",
        "-1.5e-3",
    ]


def test_chunks_split_categories_floats_and_text_like_one_pass(tmp_path, monkeypatch):
    import evidence.export as export

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "c": pd.Categorical(rng.choice(["a", "b,c", "=d"], 50)),
            "f": pd.array(
                np.where(rng.random(50) < 0.3, None, rng.normal(size=50)).tolist(), dtype="Float64"
            ),
            "s": pd.array(rng.choice(["x", "y\n", "+z"], 50), dtype="string[python]"),
        }
    )
    whole = write_csv(frame, tmp_path / "a.csv").read_bytes()
    monkeypatch.setattr(export, "_CHUNK_CELLS", 3 * 7)  # 7 rows at a time
    assert write_csv(frame, tmp_path / "b.csv").read_bytes() == whole == _reference_csv(frame)


_SPECIAL = st.sampled_from(list(',"\r\n=+-@\t .e1aé\uff1d\uff21øû'))
# Lone surrogates cannot be encoded as UTF-8, so no text read from a file holds one.
_TEXT = st.text(alphabet=_SPECIAL | st.characters(exclude_categories=("Cs",)), max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.none() | _TEXT, st.none() | _TEXT), min_size=1, max_size=30))
def test_text_cells_match_the_per_cell_writer(rows):
    frame = pd.DataFrame(rows, columns=["a", "b"]).astype({"a": "string[pyarrow]", "b": object})
    assert write_csv(frame, _tmp_csv()).read_bytes() == _reference_csv(frame)


_FLOAT_EDGES = _NOTATION_EDGES + [
    1e-5,
    9.999999999999999e15,
    2.5e-320,
    -5e-324,
    1e-320,
    np.inf,
    -np.inf,
    np.nan,
    2.0**53,
    2.0**53 + 2,
    -(2.0**63),
    0.30000000000000004,
    1e-07,
    1.5e300,
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(), min_size=1, max_size=40), st.booleans())
def test_float_columns_next_to_others_are_python_repr(values, nullable):
    """Floats in a multi-column frame (numpy and nullable Float64) are written as ``repr``."""
    column = np.array(values + _FLOAT_EDGES, dtype=float)
    floats = pd.array(column, dtype="Float64") if nullable else column
    frame = pd.DataFrame({"x": floats, "n": np.arange(len(column))})
    lines = write_csv(frame, _tmp_csv()).read_text().split("\n")
    expected = ["" if v != v else repr(v) for v in column.tolist()]
    assert lines[1:-1] == [f"{text},{n}" for n, text in enumerate(expected)]
    assert lines[-3:-1] == [f"1e-07,{len(column) - 2}", f"1.5e+300,{len(column) - 1}"]
