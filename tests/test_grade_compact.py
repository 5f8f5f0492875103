"""grade()'s compact per-record columns (1M-row sheets) read the same values as the plain ones.

The risk-of-bias judgements are kept as codes into their distinct values and nullable number
columns are read at the body's rows only; both must give exactly what
:func:`grading.rob.rob_judgements` and ``Series.to_numpy(dtype=float, na_value=nan)`` give.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from grading.body import Records
from grading.certainty import _Rob
from grading.rob import rob_judgements


def _sheet() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "study_id": ["A", "B", "C", "D", "E", "F"],
            "stream": ["human", "human", "animal", "human", "in_vitro", "animal"],
            "rob_tool": ["rob2", "robins_i", "syrcle", None, "in_vitro", "syrcle"],
            "rob_overall": ["low", "serious", "high", None, "unclear", None],
            "model": ["phase_2"] * 6,
            "data_type": ["estimate"] * 6,
            "measure": ["SMD"] * 6,
            "yi": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            "vi": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06],
            "n_int": pd.array([10.0, None, 12.5, 7.0, None, 3.0], dtype="Float64"),
            "n_ctrl": pd.array([9, 8, None, 7, 6, None], dtype="Int64"),
        }
    )


def test_rob_codes_give_the_values_of_rob_judgements():
    sheet = _sheet()
    full = rob_judgements(sheet)
    rob = _Rob(sheet)
    rows = np.array([5, 0, 3, 1, 1, 4, 2])
    expected_class = full["judgement_class"].to_numpy()[rows]
    assert rob.classes(rows).tolist() == expected_class.tolist()
    assert rob.tools(rows).tolist() == full["rob_tool"].to_numpy()[rows].tolist()
    got, want = rob.judgements(rows), full["judgement"].to_numpy()[rows]
    assert (
        pd.isna(got).tolist()
        == pd.isna(want).tolist()
        == [True, False, True, False, False, False, False]
    )
    assert (
        got[~pd.isna(got)].tolist()
        == want[~pd.isna(want)].tolist()
        == ["low", "serious", "serious", "unclear", "high"]
    )
    # not assessed is read as unclear for the weights
    assert list(rob.categorical.astype(str)) == [
        "low",
        "high",
        "high",
        "unclear",
        "unclear",
        "unclear",
    ]


def test_nullable_numbers_are_read_at_the_rows_asked_for():
    sheet = _sheet()
    rec = Records(sheet, _Rob(sheet).categorical)
    rows = np.array([4, 1, 0, 2])
    np.testing.assert_array_equal(rec.floats("n_int", rows), [np.nan, np.nan, 10.0, 12.5])
    np.testing.assert_array_equal(rec.floats("n_ctrl", rows), [6.0, 8.0, 9.0, np.nan])
    np.testing.assert_array_equal(
        rec.floats("n_int", slice(None)), sheet["n_int"].to_numpy(dtype=float, na_value=np.nan)
    )
    # nothing is written back into the sheet's own arrays
    assert sheet["n_int"].isna().tolist() == [False, True, False, False, True, False]
    assert rec.participants(np.array([0, 3])).tolist() == [19.0, 14.0]
