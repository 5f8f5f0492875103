"""One scale for effects measured differently: SMD <-> log odds ratio, RR -> OR, MD -> SMD.

Each conversion returns the value and the sentence naming it (put in the row's note), or NaN and
the exact reason it is impossible.  Nothing here decides the direction of benefit; callers flip
signs with ``outcome_direction``.

Conversions
-----------
SMD <-> ln OR
    ``ln OR = SMD x pi / sqrt(3)`` (logistic-distribution argument; Hasselblad V, Hedges LV.
    Psychol Bull 1995;117:167-178; Chinn S. Stat Med 2000;19:3127-3131: "a ln(odds ratio) can
    be converted to effect size by dividing by 1.81").
RR -> OR
    ``OR = RR (1 - p0) / (1 - RR p0)`` with ``p0`` the control-group risk (the inverse of Zhang J,
    Yu KF. JAMA 1998;280:1690-1691); impossible without ``p0`` or when ``RR p0 >= 1``.
MD -> SMD
    ``SMD = MD / SD_pooled`` with the SD pooled over the body's two-arm records
    (Cochrane Handbook v6.4 section 6.5.1.2); impossible when no record reports both SDs.
"""

from __future__ import annotations

import math
from typing import TypeGuard

import numpy as np
import pandas as pd

from evidence.measures import SINGLE_GROUP_MEASURES

__all__ = [
    "CHINN",
    "CHINN_SOURCE",
    "RR_OR_SOURCE",
    "MD_SMD_SOURCE",
    "smd_to_log_or",
    "log_or_to_smd",
    "log_rr_to_log_or",
    "pooled_sd",
    "to_common_smd",
]

#: sqrt(3) / pi: SMD per unit of ln OR (1 / 1.8138).
CHINN: float = math.sqrt(3) / math.pi
CHINN_SOURCE = (
    "Chinn S. Stat Med 2000;19:3127-3131; Hasselblad V, Hedges LV. Psychol Bull "
    "1995;117:167-178 (SMD = ln OR x sqrt(3)/pi)"
)
RR_OR_SOURCE = (
    "OR = RR(1 - p0)/(1 - RR p0) with control risk p0 (inverse of Zhang J, Yu KF. "
    "JAMA 1998;280:1690-1691)"
)
MD_SMD_SOURCE = "SMD = MD / pooled SD (Cochrane Handbook v6.4 section 6.5.1.2)"

_NO_COMPARATOR = SINGLE_GROUP_MEASURES


def smd_to_log_or(smd: float) -> float:
    """ln OR from an SMD: ``SMD x pi / sqrt(3)`` (Hasselblad & Hedges 1995; Chinn 2000)."""
    return float(smd) / CHINN


def log_or_to_smd(log_or: float) -> float:
    """SMD from a ln OR: ``ln OR x sqrt(3) / pi`` (Chinn 2000)."""
    return float(log_or) * CHINN


def log_rr_to_log_or(log_rr: float, control_risk: float) -> float:
    """ln OR from a ln RR and the control risk ``p0`` (NaN when impossible).

    ``OR = RR (1 - p0) / (1 - RR p0)``; needs ``0 < p0 < 1`` and ``RR p0 < 1``.
    """
    if not (_finite(log_rr) and _finite(control_risk) and 0 < control_risk < 1):
        return math.nan
    rr = math.exp(log_rr)
    if rr * control_risk >= 1:
        return math.nan
    return math.log(rr * (1 - control_risk) / (1 - rr * control_risk))


def pooled_sd(records: pd.DataFrame) -> tuple[float, int]:
    """The SD pooled over records reporting ``sd_int``, ``sd_ctrl``, ``n_int`` and ``n_ctrl``.

    Returns ``(sd, number of records used)``; ``(nan, 0)`` when none reports all four.
    ``sqrt(sum((n1-1) sd1^2 + (n2-1) sd2^2) / sum(n1 + n2 - 2))``.
    """
    cols = ("sd_int", "sd_ctrl", "n_int", "n_ctrl")
    if records is None or len(records) == 0 or not set(cols) <= set(records.columns):
        return math.nan, 0
    v = records[list(cols)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    ok = (
        np.isfinite(v).all(axis=1) & (v[:, 2] > 1) & (v[:, 3] > 1) & (v[:, 0] >= 0) & (v[:, 1] >= 0)
    )
    if not ok.any():
        return math.nan, 0
    s1, s2, n1, n2 = v[ok].T
    num = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2).sum()
    den = (n1 + n2 - 2).sum()
    sd = math.sqrt(num / den)
    return (sd, int(ok.sum())) if sd > 0 else (math.nan, 0)


def _finite(x: object) -> TypeGuard[int | float | np.floating]:
    return (
        isinstance(x, (int, float, np.floating))
        and not isinstance(x, bool)
        and math.isfinite(float(x))
    )


def to_common_smd(
    measure: object, value: object, *, control_risk: float | None = None, sd: float | None = None
) -> tuple[float, str]:
    """An estimate on the SMD scale and the conversion used, or NaN and why not.

    Parameters
    ----------
    measure : str
        ``SMD``, ``OR`` (ln OR), ``RR`` (ln RR), ``MD``; anything else has no conversion.
    value : float
        The estimate (log scale for ratio measures, as stored by evigap).
    control_risk : float, optional
        Control-group risk for RR -> OR.
    sd : float, optional
        Pooled SD for MD -> SMD (:func:`pooled_sd`).

    Returns
    -------
    (float, str)
        The SMD (sign as reported) and a note naming the conversion, or NaN and the reason.
    """
    if not _finite(value):
        return math.nan, "no pooled estimate"
    value = float(value)
    if measure == "SMD":
        return value, "SMD as reported"
    if measure == "OR":
        return log_or_to_smd(value), f"ln OR x sqrt(3)/pi = SMD ({CHINN_SOURCE})"
    if measure == "RR":
        if not _finite(control_risk):
            return math.nan, (
                "RR without a control risk: no conversion to OR/SMD (needs control-arm events)"
            )
        log_or = log_rr_to_log_or(value, float(control_risk))
        if not math.isfinite(log_or):
            return math.nan, (
                f"RR {math.exp(value):.2f} x control risk {control_risk:.2f} >= 1: no odds ratio"
            )
        return log_or_to_smd(log_or), (
            f"RR {math.exp(value):.3g} -> OR {math.exp(log_or):.3g} at control risk "
            f"{control_risk:.3f} ({RR_OR_SOURCE}) -> SMD ({CHINN_SOURCE})"
        )
    if measure == "MD":
        if not _finite(sd) or float(sd) <= 0:
            return math.nan, "MD without standard deviations in the source: no conversion to SMD"
        return value / float(sd), f"MD {value:.3g} / pooled SD {float(sd):.3g} ({MD_SMD_SOURCE})"
    if measure in _NO_COMPARATOR:
        return math.nan, f"{measure} is a single-group quantity (no comparator): no effect size"
    if measure is None or (isinstance(measure, float) and math.isnan(measure)):
        return math.nan, "no effect measure"
    return math.nan, f"{measure} has no conversion to SMD"
