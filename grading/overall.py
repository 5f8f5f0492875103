"""Overall certainty across the critical outcomes of a question (GRADE 11 / GRADE 2).

GRADE rates certainty per outcome; for a decision across outcomes the overall certainty is the
lowest certainty among the outcomes rated critical (Guyatt GH et al. GRADE guidelines: 11.
Making an overall rating of confidence in effect estimates for a single outcome and for all
outcomes. J Clin Epidemiol 2013;66:151-157; importance per GRADE 2, Guyatt GH et al. J Clin
Epidemiol 2011;64:395-400).  Critical outcomes without evidence are named, not rated.
"""

from __future__ import annotations

import pandas as pd

from evidence.errors import ValidationError
from evidence.internal import check_frame
from grading.scheme import LEVEL_SCORE, LEVEL_SYMBOLS, LEVELS

__all__ = ["overall_certainty", "OVERALL_SOURCE"]

OVERALL_SOURCE = (
    "GRADE 11: Guyatt GH et al. J Clin Epidemiol 2013;66:151-157 (lowest "
    "certainty among critical outcomes); GRADE 2: Guyatt GH et al. J Clin "
    "Epidemiol 2011;64:395-400 (importance)"
)


def overall_certainty(
    grades: pd.DataFrame,
    *,
    by: tuple[str, ...] = ("indication", "stream"),
    column: str = "certainty",
) -> pd.DataFrame:
    """The overall certainty per ``by`` group across its critical outcomes.

    Parameters
    ----------
    grades : DataFrame
        Output of :func:`grading.grade` (needs ``importance``, ``evidence_status``, ``outcome``
        and ``column``).
    by : tuple of str
        Grouping columns (default one row per indication and stream).
    column : str
        ``certainty`` (for the review's question) or ``certainty_within_stream``.

    Returns
    -------
    DataFrame
        ``by`` columns, then ``n_critical`` (critical outcomes), ``n_critical_rated``,
        ``overall_certainty`` (lowest certainty among the rated critical outcomes; None when no
        outcome is marked critical or none has evidence), ``overall_symbols``,
        ``lowest_outcomes`` (the critical outcome(s) at that level), ``critical_without_evidence``
        ('; '-separated), ``provisional`` (True when a critical outcome is provisional), ``note``,
        ``source``.
    """
    check_frame(grades, "grades", "overall_certainty", what="a DataFrame")
    need = [*by, "outcome", "importance", "evidence_status", column]
    missing = [c for c in need if c not in grades.columns]
    if missing:
        raise ValidationError(f"overall_certainty() needs column {missing[0]!r} in 'grades'.")
    rows = []
    for key, g in grades.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        crit = g[g["importance"] == "critical"]
        rated = crit[crit["evidence_status"] != "no evidence"]
        none = crit[crit["evidence_status"] == "no evidence"]
        row = dict(zip(by, key, strict=True))
        row.update(n_critical=len(crit), n_critical_rated=len(rated))
        if len(rated):
            scores = rated[column].map(LEVEL_SCORE)
            low = int(scores.min())
            level = LEVELS[low - 1]
            row.update(
                overall_certainty=level,
                overall_symbols=LEVEL_SYMBOLS[level],
                lowest_outcomes="; ".join(rated.loc[scores == low, "outcome"].astype(str)),
                provisional=bool((rated["evidence_status"] == "provisional").any()),
                note="lowest certainty among the critical outcomes",
            )
        else:
            row.update(
                overall_certainty=None,
                overall_symbols=None,
                lowest_outcomes=None,
                provisional=False,
                note=(
                    "no outcome marked critical (set importance in the sheet or the overrides)"
                    if not len(crit)
                    else "no critical outcome has evidence"
                ),
            )
        row["critical_without_evidence"] = "; ".join(none["outcome"].astype(str)) or None
        row["source"] = OVERALL_SOURCE
        rows.append(row)
    cols = [
        *by,
        "n_critical",
        "n_critical_rated",
        "overall_certainty",
        "overall_symbols",
        "lowest_outcomes",
        "critical_without_evidence",
        "provisional",
        "note",
        "source",
    ]
    return pd.DataFrame(rows, columns=cols)
