"""Double-zero studies: a risk or odds ratio that a 2x2 table cannot estimate.

A study without events in either arm (or with every participant having the event in both)
leaves a risk ratio or an odds ratio undefined; the Cochrane Handbook (section 10.4.4.2) leaves
such studies out of a meta-analysis of RR or OR as "not estimable", even when a zero-cell
correction produced numbers for it.  One rule, used by :func:`grading.grade` (the body that is
graded and pooled into ``pooled.csv``) and by the forest plots (the rows drawn as not
estimable), so that the three show the same estimate (one body, one set of numbers).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DOUBLE_ZERO_MEASURES", "DOUBLE_ZERO_SOURCE", "double_zero_reasons"]

#: Measures that a study without events (or with all events) in both arms leaves undefined.
DOUBLE_ZERO_MEASURES: tuple[str, ...] = ("RR", "OR", "PETO")
DOUBLE_ZERO_SOURCE = "Cochrane Handbook for Systematic Reviews of Interventions, section 10.4.4.2"

_NONE = "no events in either arm"
_EVERY = "every participant had the event in both arms"


def double_zero_reasons(
    measure: np.ndarray,
    events_int: np.ndarray,
    n_int: np.ndarray,
    events_ctrl: np.ndarray,
    n_ctrl: np.ndarray,
    notes: np.ndarray | None = None,
) -> np.ndarray:
    """Why each row is a double-zero study of a risk or odds ratio ("" when it is not).

    Parameters
    ----------
    measure : array of str or None
        Each row's measure (upper or lower case); only RR, OR and PETO rows can be double-zero.
    events_int, n_int, events_ctrl, n_ctrl : array of float
        The 2x2 table (NaN where not recorded).
    notes : array of str or None, optional
        ``effect_note`` of each row: a row whose note says "no events in either arm" (the
        effect-size step found it) is double-zero even without the counts.

    Returns
    -------
    ndarray of str
        "no events in either arm", "every participant had the event in both arms" or "".
    """
    m = np.array([str(x).upper() if x is not None else "" for x in measure], dtype=object)
    ratio = np.isin(m, DOUBLE_ZERO_MEASURES)
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (events_int, n_int, events_ctrl, n_ctrl))
    with np.errstate(invalid="ignore"):
        none = ratio & (a == 0) & (c == 0)
        every = ratio & ~none & (a == n1) & (c == n2) & (n1 > 0) & (n2 > 0)
    out = np.full(len(m), "", dtype=object)
    out[none] = _NONE
    out[every] = _EVERY
    if notes is not None:
        said = np.array([isinstance(s, str) and _NONE in s for s in notes], dtype=bool)
        out[ratio & said & (out == "")] = _NONE
    return out
