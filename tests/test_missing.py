"""evidence.missing: the two missing-value rules, one meaning each (issue 17); and the one
parser of numeric data columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evidence
from evidence.errors import ValidationError
from evidence.missing import BLANK_TEXTS, is_blank, is_null


@pytest.mark.parametrize(
    ("value", "null", "blank"),
    [
        (None, True, True),
        (pd.NA, True, True),
        (pd.NaT, True, True),
        (np.nan, True, True),
        (np.float64("nan"), True, True),
        ("", False, True),
        ("  ", False, True),
        (" NaN ", False, True),
        ("<NA>", False, True),
        ("None", False, True),
        ("NA", False, False),  # a sheet token: the reader's NA_VALUES turn it into a null
        ("x", False, False),
        (0, False, False),
        (0.0, False, False),
        (False, False, False),
    ],
)
def test_null_and_blank(value, null, blank):
    assert is_null(value) is null
    assert is_blank(value) is blank


def test_blank_texts_are_what_str_makes_of_a_null():
    assert {str(v).strip().lower() for v in (None, np.nan, pd.NA, "")} <= BLANK_TEXTS


def test_rob_overrides_and_records_share_the_blank_rule():
    """A 'None' text (a null that went through astype(str)) is an empty cell everywhere: the
    risk-of-bias reader keeps the row's default tool instead of refusing 'None' as a tool."""
    import grading

    rows = pd.DataFrame(
        {
            "study_id": ["A", "B"],
            "stream": ["human", "human"],
            "randomised": [True, True],
            "rob_tool": ["None", ""],
            "rob_overall": ["low", "high"],
        }
    )
    out = grading.assess_rob(rows)
    assert out["rob_tool"].tolist() == [out["rob_tool"].iloc[1]] * 2


def test_numeric_columns_are_parsed_one_way():
    """effect_sizes, pool_groups and the figures read a numeric column with one function:
    blanks are NaN; booleans and text are refused naming the column and the row."""
    bcg = evidence.load_dataset("bcg")
    cols = dict(ai="tpos", bi="tneg", ci="cpos", di="cneg")
    data = bcg.astype({"tpos": object})
    data.loc[2, "tpos"] = " "
    out = evidence.effect_sizes(data, "RR", **cols)
    assert np.isnan(out["yi"].iloc[2]) and np.isfinite(out["yi"].drop(index=2)).all()
    data.loc[2, "tpos"] = True
    with pytest.raises(ValidationError, match=r"column 'tpos', .* row 2 has a boolean"):
        evidence.effect_sizes(data, "RR", **cols)
    with pytest.raises(ValidationError, match=r"column 'tpos', which holds booleans"):
        evidence.effect_sizes(bcg.assign(tpos=bcg["tpos"] > 10), "RR", **cols)
