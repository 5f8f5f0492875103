"""Which bodies ``--method MH`` / ``PETO`` pools from 2x2 counts, and how the others are pooled.

A run with ``method = "MH"`` (Mantel-Haenszel) or ``"PETO"`` (Peto's one-step odds ratio) does
what a Cochrane review in RevMan does: dichotomous outcomes with 2x2 counts are pooled by that
method (fixed effect; Cochrane Handbook chapter 10, sections 10.4.1 and 10.4.2), everything
else by inverse variance.  One rule, used by :func:`grading.grade` (the graded and pooled
estimate) and by the forest plots (the diamond), so that both show the same number:

* A body of two or more rows is pooled by MH / Peto when every pooled row is a 2x2 table
  (``data_type`` counts, ``events_int``, ``n_int``, ``events_ctrl``, ``n_ctrl`` all recorded),
  its measure is one the method pools (MH: OR, RR, RD; Peto: OR), each row is its own study
  (several rows of one study share participants, which MH would count twice), and the MH / Peto
  estimate is defined.
* Otherwise the body is pooled by inverse variance with the fixed-effect model (``"FE"``; the
  counterpart of RevMan's "IV, Fixed" to a fixed-effect MH analysis), several rows per study
  with the cluster-robust CR2 standard error as usual; the reason is recorded per body
  (``estimate_basis``) and the ``method`` column says ``FE``.
* Zero cells follow metafor ``rma.mh()`` / ``rma.peto()`` (3.8-1) defaults: the MH / Peto
  cells are used as they are (no correction; single-zero tables contribute), the per-study
  ``yi``/``vi`` behind Cochran's Q get 0.5 in the cells of tables with a zero cell and
  double-zero tables leave Q.  Double-zero studies of an OR or RR are not estimable
  (:mod:`grading.zero_cells`) and are left out of the body before pooling, as with inverse
  variance; for a risk difference they stay in.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from evidence import pool

__all__ = [
    "TWO_BY_TWO_METHODS",
    "FALLBACK_METHOD",
    "TWO_BY_TWO_SOURCE",
    "is_two_by_two",
    "inverse_variance_method",
    "measures_for",
    "method_label",
    "fallback_reason",
    "pool_counts",
    "undefined_reason",
]

#: Pooling methods that use the 2x2 counts instead of ``yi``/``vi``.
TWO_BY_TWO_METHODS: tuple[str, ...] = ("MH", "PETO")
#: Inverse-variance model for bodies MH / Peto cannot pool (and for subgroup tests, ...).
FALLBACK_METHOD = "FE"
TWO_BY_TWO_SOURCE = (
    "Cochrane Handbook for Systematic Reviews of Interventions, sections 10.4.1 "
    "(Mantel-Haenszel) and 10.4.2 (Peto)"
)
_MEASURES = {"MH": ("OR", "RR", "RD"), "PETO": ("OR",)}
_NAMES = {"MH": "Mantel-Haenszel", "PETO": "Peto"}
COUNT_COLUMNS: tuple[str, ...] = ("events_int", "n_int", "events_ctrl", "n_ctrl")


def is_two_by_two(method: Any) -> bool:
    """True for ``"MH"`` and ``"PETO"`` (any case)."""
    return isinstance(method, str) and method.strip().upper() in TWO_BY_TWO_METHODS


def inverse_variance_method(method: Any) -> Any:
    """``method``, or :data:`FALLBACK_METHOD` for MH / Peto: the estimator for what can only
    be pooled by inverse variance (bodies without counts, subgroup tests, translational
    forests)."""
    return FALLBACK_METHOD if is_two_by_two(method) else method


def measures_for(method: str) -> tuple[str, ...]:
    """Measures ``method`` pools from 2x2 tables."""
    return _MEASURES[method.strip().upper()]


def method_label(method: str) -> str:
    """``"Mantel-Haenszel"`` / ``"Peto"``."""
    return _NAMES[method.strip().upper()]


def fallback_reason(
    method: str,
    measure: str | None,
    *,
    counts: bool,
    n_rows: int,
    n_studies: int,
) -> str | None:
    """Why the body cannot be pooled by ``method`` (None when it can).

    Parameters
    ----------
    method : {"MH", "PETO"}
    measure : str or None
        The body's measure.
    counts : bool
        Every pooled row is a 2x2 table with all four counts recorded.
    n_rows, n_studies : int
        Rows pooled and distinct studies among them.
    """
    key = method.strip().upper()
    name = _NAMES[key]
    allowed = _MEASURES[key]
    if measure is None or str(measure).upper() not in allowed:
        return f"{name} pools {', '.join(allowed)} from 2x2 counts, not {measure}"
    if not counts:
        return (
            f"{name} needs 2x2 counts (events and totals of both arms) for every pooled row; "
            "some rows give only an effect estimate (yi/vi)"
        )
    if n_studies < n_rows:
        return (
            f"several rows per study ({n_rows} rows from {n_studies} studies): {name} would "
            "count shared participants twice"
        )
    return None


def pool_counts(
    method: str,
    measure: str,
    events_int: np.ndarray,
    n_int: np.ndarray,
    events_ctrl: np.ndarray,
    n_ctrl: np.ndarray,
    *,
    level: float,
):
    """:func:`evidence.pool` with ``method="MH"``/``"PETO"`` on the four count arrays
    (warnings silenced: a NaN estimate, when every table has a zero in the same arm, is the
    caller's to explain).  Returns the :class:`evidence.MHResult`."""

    frame = pd.DataFrame(
        {
            "events_int": np.asarray(events_int, float),
            "n_int": np.asarray(n_int, float),
            "events_ctrl": np.asarray(events_ctrl, float),
            "n_ctrl": np.asarray(n_ctrl, float),
        }
    )
    key = method.strip().upper()
    options: dict[str, Any] = {} if key == "PETO" else {"measure": str(measure).upper()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pool(frame, method="PETO" if key == "PETO" else "MH", level=level, **options)


def undefined_reason(method: str, measure: str) -> str:
    """Why an MH / Peto estimate came out undefined (NaN)."""
    if method.strip().upper() == "PETO":
        return "Peto's odds ratio is undefined (one outcome never occurred in any study)"
    return (
        f"the Mantel-Haenszel {measure} is undefined: every study has no events (or only "
        "events) in the same arm (metafor rma.mh gives NA)"
    )
