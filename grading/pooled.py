"""The pooled table of a run: one row per graded body, the numbers :func:`grading.grade` rates.

One body, one set of numbers: ``pooled.csv`` is taken from the graded bodies, so
the estimate a report prints beside a certainty rating is the estimate that was rated -- the
same rows (every row of the design tier and measure that carries the estimate, several rows of
one study pooled with a cluster-robust standard error) and the same method.
"""

from __future__ import annotations

import pandas as pd

from evidence.errors import ValidationError
from evidence.internal import check_frame
from evidence.schema import indication_key
from grading.body import tier_of

__all__ = ["POOLED_COLUMNS", "pooled_table", "body_forests"]

#: Columns of :func:`pooled_table`.
POOLED_COLUMNS: tuple[str, ...] = (
    "indication",
    "outcome",
    "stream",
    "measure",
    "design",
    "k",
    "k_records",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "pi_low",
    "pi_high",
    "tau2",
    "i2",
    "q",
    "q_df",
    "q_p",
    "method",
    "ci_method",
    "estimate_natural",
    "ci_low_natural",
    "ci_high_natural",
    "estimate_basis",
    "study_ids",
    "estimate_rows",
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


def body_forests(
    studies: pd.DataFrame, grades: pd.DataFrame
) -> list[tuple[pd.Series, pd.DataFrame]]:
    """The forest of each graded body that pools primary studies: ``(grade row, rows)``.

    ``rows`` are the rows of ``studies`` (the frame given to :func:`grading.grade`, same row
    order) of the body's indication, outcome and stream, its measure and its design tier,
    published meta-analysis records left out: the ``estimate_rows`` of the grade, plus the
    rows of that tier and measure the grade could not pool (no numeric result, or a
    double-zero study of a risk or odds ratio), which the forest lists as not estimable.
    Drawn with :func:`grading.plots.forest_plot` (``measure=`` the body's measure,
    ``method``/``ci_method``/``level`` of the scheme, ``cluster="study_id"``), the forest's
    diamond is the grade's estimate and the estimate in ``pooled.csv`` (one body, one set of
    numbers).  Bodies whose estimate is one aggregate record, or that are not
    estimable, have no forest here.
    """

    check_frame(studies, "studies", "body_forests", what="a DataFrame")
    check_frame(grades, "grades", "body_forests", what="a DataFrame")
    if len(grades) == 0 or len(studies) == 0:
        return []
    keys = pd.DataFrame(
        {
            "indication": indication_key(studies).astype(str).to_numpy(),
            "outcome": studies["outcome"].astype(str).to_numpy(),
            "stream": studies["stream"].astype(str).to_numpy(),
        }
    )
    groups = keys.groupby(["indication", "outcome", "stream"], sort=False).indices
    out = []
    for _, g in grades.iterrows():
        text = str(g["estimate_rows"]) if pd.notna(g["estimate_rows"]) else ""
        if not bool(g["estimable"]) or not text:
            continue
        sel = [int(i) for i in text.split("; ")]
        first = studies.iloc[sel[0]]
        if str(first.get("model")) == "meta_analysis":
            continue
        pos = groups.get((str(g["indication"]), str(g["outcome"]), str(g["stream"])))
        if pos is None:
            continue
        tier = tier_of(first.to_dict())
        body = studies.iloc[pos]
        measure = body["measure"].astype("string") if "measure" in body.columns else None
        keep = []
        for j, (_, r) in zip(pos, body.iterrows(), strict=True):
            if j in sel:
                keep.append(j)
            elif (
                str(r.get("model")) != "meta_analysis"
                and measure is not None
                and str(r.get("measure")) == str(g["measure"])
                and tier_of(r.to_dict()) == tier
            ):
                keep.append(j)
        out.append((g, studies.iloc[sorted(keep)]))
    return out
