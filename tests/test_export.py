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
                "=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "plain", "a=b", "-3", "+1.5e-3",
            ],
        }
    )
    text = write_csv(frame, tmp_path / "o.csv").read_bytes().decode("utf-8")
    assert text.split("\n")[:7] == [
        "text", "'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tx", "\"'\rx\"",
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
        "0.1", "0.3333333333333333", "6.666666666666666e-13",
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
            "note": ["=x", "é, \"q\"", "multi\nline", None] * 50,
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
    frames = [table, odd, pd.DataFrame({"one": ["", "x", None, "=1"]}),
              pd.DataFrame(index=range(3)), odd.iloc[:0]]
    for i, frame in enumerate(frames):
        assert write_csv(frame, tmp_path / f"{i}.csv").read_bytes() == _reference_csv(frame), i
    assert table.shape[0] > 100 and (tmp_path / "0.csv").stat().st_size > 10_000


def test_chunked_writing_matches_one_pass(tmp_path, monkeypatch):
    import evidence.export as export

    frame = pd.DataFrame({"x": np.linspace(-1, 1, 25), "s": ["=a", "b,c", None, "d", "e"] * 5})
    whole = write_csv(frame, tmp_path / "a.csv").read_bytes()
    monkeypatch.setattr(export, "_CHUNK_ROWS", 7)
    assert write_csv(frame, tmp_path / "b.csv").read_bytes() == whole == _reference_csv(frame)


def test_python_join_without_pyarrow_gives_same_bytes(tmp_path, monkeypatch):
    import sys

    frame = pd.DataFrame({"x": [1.5, np.nan, -2.0], "s": ["=a", "b,c", None], "n": [1, 2, 3]})
    with_arrow = write_csv(frame, tmp_path / "a.csv").read_bytes()
    monkeypatch.setitem(sys.modules, "pyarrow.compute", None)  # import fails -> Python join
    assert write_csv(frame, tmp_path / "b.csv").read_bytes() == with_arrow == _reference_csv(frame)


_NOTATION_EDGES = [0.0, -0.0, 1e-4, 9.999999999999999e-05, 1e-5, 6.182191213378174e-05, 1e15,
                   999999999999999.9, 9.999999999999998e15, 1e16, 1e22, 123456789.0, 52.0, 5e-324,
                   2.2250738585072014e-308, 1.7976931348623157e308, -1.5e300, 0.1, 1 / 3]


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
