"""The pooled table of a run: one row per graded body, the numbers :func:`grading.grade` rates.

Issue 11 ("one body, one set of numbers"): ``pooled.csv`` is taken from the graded bodies, so
the estimate a report prints beside a certainty rating is the estimate that was rated -- the
same rows (every row of the design tier and measure that carries the estimate, several rows of
one study pooled with a cluster-robust standard error) and the same method.
"""

from __future__ import annotations

import pandas as pd

from evidence._validate import check_frame
from evidence.errors import ValidationError

__all__ = ["POOLED_COLUMNS", "pooled_table"]

#: Columns of :func:`pooled_table`.
POOLED_COLUMNS: tuple[str, ...] = (
    "indication", "outcome", "stream", "measure", "design", "k", "k_records", "estimate", "se",
    "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "q", "q_df", "q_p", "method",
    "ci_method", "estimate_natural",
    "ci_low_natural", "ci_high_natural", "estimate_basis", "study_ids", "estimate_rows",
)


def pooled_table(grades: pd.DataFrame) -> pd.DataFrame:
    """The estimable bodies of ``grades`` (output of :func:`grading.grade`) with their pooled
    numbers: columns :data:`POOLED_COLUMNS` (log scale for ratio measures, as in ``grades``;
    ``estimate_basis`` says which rows were pooled and how)."""
    check_frame(grades, "grades", "pooled_table", what="a DataFrame")
    missing = [c for c in (*POOLED_COLUMNS, "estimable") if c not in grades.columns]
    if missing:
        raise ValidationError(f"pooled_table() needs column {missing[0]!r} in 'grades'.")
    rows = grades[grades["estimable"].astype(bool).to_numpy()]
    return rows.loc[:, list(POOLED_COLUMNS)].reset_index(drop=True)
