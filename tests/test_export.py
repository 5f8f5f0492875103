"""write_csv: formula neutralisation, numbers stay numbers, exact round trip, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
