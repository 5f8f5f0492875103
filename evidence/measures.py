"""Effect measures: their names, families, analysis scales and the way back to the natural scale.

The one home of the measure vocabulary.  Every module that needs to know whether a measure is a
ratio, which scale it is analysed on, how a value on that scale is shown on the natural scale,
or which measures a ``data_type`` of the study sheet allows, reads it here.

====  ============================  ===========  ==============  =========================
name  what                          family       analysis scale  natural scale
====  ============================  ===========  ==============  =========================
RR    risk ratio                    table        log             exp
OR    odds ratio                    table        log             exp
PETO  Peto's odds ratio             table        log             exp
RD    risk difference               table        identity        as is
HR    hazard ratio                  estimate     log             exp
MD    mean difference               mean         identity        as is
SMD   standardised mean difference  mean         identity        as is
SMDH  SMD, unequal variances        mean         identity        as is
ROM   ratio of means                mean         log             exp
PR    proportion                    proportion   identity        as is
PLN   log proportion                proportion   log             exp
PLO   log odds of a proportion      proportion   logit           inverse logit
PAS   arcsine square root           proportion   arcsine         sin(x)^2
PFT   Freeman-Tukey double arcsine  proportion   double_arcsine  inverse FT (needs n)
COR   correlation                   correlation  identity        as is
ZCOR  Fisher's z of a correlation   correlation  fisher_z        tanh
IRR   incidence rate ratio          rate         log             exp
IRD   incidence rate difference     rate         identity        as is
GEN   generic (given yi, vi)        generic      identity        as is
====  ============================  ===========  ==============  =========================

The back-transforms are metafor's (``transf.exp.int``, ``transf.ilogit``, ``transf.iarcsin``,
``transf.ipft``, ``transf.ztor``; Viechtbauer W. J Stat Softw 2010;36(3):1-48).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, overload

import numpy as np

from evidence.errors import InvalidParameterError

__all__ = [
    "Measure",
    "MEASURE_INFO",
    "SCALES",
    "FAMILIES",
    "MEASURES",
    "EFFECT_MEASURES",
    "RATIO_MEASURES",
    "LOG_SCALE_MEASURES",
    "SINGLE_GROUP_MEASURES",
    "DATA_TYPE_MEASURES",
    "measure_info",
    "is_ratio",
    "default_measure",
    "to_natural",
    "ilogit",
    "ipft",
]

#: Analysis scales a measure can be stored on.
SCALES: tuple[str, ...] = ("log", "logit", "arcsine", "double_arcsine", "fisher_z", "identity")
#: Where a measure's numbers come from (the argument families of ``effect_sizes``; ``estimate``:
#: only as a reported estimate with its CI, e.g. a hazard ratio).
FAMILIES: tuple[str, ...] = (
    "table",
    "mean",
    "proportion",
    "correlation",
    "rate",
    "estimate",
    "generic",
)


@dataclass(frozen=True)
class Measure:
    """One effect measure: ``name``, ``label`` (axis and table text), ``family`` (one of
    :data:`FAMILIES`), ``scale`` (one of :data:`SCALES`: the scale ``yi`` is stored and pooled
    on), ``ratio`` (a ratio of two groups: null 1 on the natural scale, log axis) and ``sheet``
    (accepted in the study sheet's ``measure`` column)."""

    name: str
    label: str
    family: str
    scale: str
    ratio: bool = False
    sheet: bool = False

    @property
    def null(self) -> float:
        """The value of no effect on the natural scale (1 for ratios, else 0)."""
        return 1.0 if self.ratio else 0.0


def _m(name: str, label: str, family: str, scale: str, **kw: bool) -> tuple[str, Measure]:
    return name, Measure(name, label, family, scale, **kw)


#: Every measure evigap knows, in the order of the study sheet's vocabulary first.
MEASURE_INFO: MappingProxyType[str, Measure] = MappingProxyType(
    dict(
        [
            _m("RR", "Risk Ratio", "table", "log", ratio=True, sheet=True),
            _m("OR", "Odds Ratio", "table", "log", ratio=True, sheet=True),
            _m("HR", "Hazard Ratio", "estimate", "log", ratio=True, sheet=True),
            _m("RD", "Risk Difference", "table", "identity", sheet=True),
            _m("MD", "Mean Difference", "mean", "identity", sheet=True),
            _m("SMD", "Std. Mean Difference", "mean", "identity", sheet=True),
            _m("ROM", "Ratio of Means", "mean", "log", ratio=True, sheet=True),
            _m("PLO", "Log Odds", "proportion", "logit", sheet=True),
            _m("PR", "Proportion", "proportion", "identity", sheet=True),
            _m("GEN", "Effect", "generic", "identity", sheet=True),
            _m("PETO", "Peto Odds Ratio", "table", "log", ratio=True),
            _m("SMDH", "Std. Mean Difference (heteroscedastic)", "mean", "identity"),
            _m("PLN", "Log Proportion", "proportion", "log"),
            _m("PAS", "Arcsine Proportion", "proportion", "arcsine"),
            _m("PFT", "Freeman-Tukey Proportion", "proportion", "double_arcsine"),
            _m("COR", "Correlation", "correlation", "identity"),
            _m("ZCOR", "Fisher's z", "correlation", "fisher_z"),
            _m("IRR", "Incidence Rate Ratio", "rate", "log", ratio=True),
            _m("IRD", "Incidence Rate Difference", "rate", "identity"),
        ]
    )
)

#: The study sheet's ``measure`` vocabulary (what ``grade()`` and the figures accept).
MEASURES: tuple[str, ...] = tuple(n for n, m in MEASURE_INFO.items() if m.sheet)
#: Every measure :func:`evidence.effect_sizes` computes (the sheet's HR only comes as an
#: estimate with its CI).
EFFECT_MEASURES: tuple[str, ...] = tuple(
    n
    for family in ("table", "mean", "proportion", "correlation", "rate", "generic")
    for n, m in MEASURE_INFO.items()
    if m.family == family
)
#: The sheet's ratio measures: given on the natural scale in the sheet, stored on the log
#: scale once effect sizes are computed, drawn on a log axis.
RATIO_MEASURES: tuple[str, ...] = tuple(n for n in MEASURES if MEASURE_INFO[n].ratio)
#: Every measure stored on the log scale (ratios, and PLN).
LOG_SCALE_MEASURES: tuple[str, ...] = tuple(n for n, m in MEASURE_INFO.items() if m.scale == "log")
#: Measures of one group without a comparator (single-arm proportions).
SINGLE_GROUP_MEASURES: tuple[str, ...] = tuple(
    n for n, m in MEASURE_INFO.items() if m.family == "proportion"
)
#: Study sheet ``data_type`` -> the measures its numbers give (the first is the default when
#: the row's ``measure`` is empty).  ``estimate`` rows take any sheet measure; ``none`` rows
#: have no result.
DATA_TYPE_MEASURES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "counts": ("RR", "OR", "RD"),
        "continuous": ("MD", "SMD", "ROM"),
        "single_arm": ("PLO", "PR"),
        "estimate": MEASURES,
    }
)


def measure_info(measure: str) -> Measure:
    """The :class:`Measure` of ``measure`` (case-insensitive); unknown names raise
    :class:`~evidence.errors.InvalidParameterError` listing the known ones."""
    info = MEASURE_INFO.get(str(measure).upper()) if isinstance(measure, str) else None
    if info is None:
        raise InvalidParameterError(
            f"The 'measure' argument of measure_info() must be one of {list(MEASURE_INFO)}. "
            f"Got {measure!r}."
        )
    return info


def is_ratio(measure: Any) -> bool:
    """Whether ``measure`` is a ratio measure (stored on the log scale, null 1, log axis);
    False for ``None`` and names evigap does not know."""
    info = MEASURE_INFO.get(measure.upper()) if isinstance(measure, str) else None
    return info is not None and info.ratio


def default_measure(data_type: Any) -> str | None:
    """The measure a study-sheet row of ``data_type`` gets when its ``measure`` is empty
    (``counts`` RR, ``continuous`` MD, ``single_arm`` PLO); None for the others."""
    if data_type == "estimate":
        return None
    measures = DATA_TYPE_MEASURES.get(data_type) if isinstance(data_type, str) else None
    return measures[0] if measures else None


def ilogit(x: Any) -> Any:
    """Inverse logit ``1 / (1 + exp(-x))`` (metafor ``transf.ilogit``); an array in, an array
    out, a number in, a float out."""
    if isinstance(x, np.ndarray):
        with np.errstate(over="ignore"):
            return 1 / (1 + np.exp(-x.astype(float, copy=False)))
    x = float(x)
    return x if math.isnan(x) else 1.0 / (1.0 + _exp(-x))


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _sin2(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > math.pi / 2 else math.sin(x) ** 2


def ipft(z: Any, n: float) -> np.ndarray:
    """Inverse Freeman-Tukey double arcsine for a sample size ``n`` (metafor ``transf.ipft``;
    with the harmonic mean of the studies' sizes it is ``transf.ipft.hm``): values beyond the
    transforms of 0 and 1 events per ``n`` map to 0 and 1."""
    z = np.asarray(z, dtype=float)
    with np.errstate(all="ignore"):
        s = np.sin(2 * z)
        out = 0.5 * (1 - np.sign(np.cos(2 * z)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
    out = np.where(np.isnan(out), np.nan, out)
    out = np.where(z > _pft(1.0, n), 1.0, out)
    return np.where(z < _pft(0.0, n), 0.0, out)


def _pft(p: float, n: float) -> float:
    """Freeman-Tukey double arcsine of a proportion ``p`` of ``n`` (metafor ``transf.pft``)."""
    x = p * n
    return 0.5 * (math.asin(math.sqrt(x / (n + 1))) + math.asin(math.sqrt((x + 1) / (n + 1))))


def _iarcsin(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        out = np.sin(x) ** 2
    out = np.where(x < 0, 0.0, out)
    return np.where(x > math.pi / 2, 1.0, out)


#: scale -> (back-transform of a number, of an array).  Numbers use the math module (as
#: correctly rounded as the C library: exp(log(0.375)) is 0.375), arrays numpy's vectorised
#: functions, which may differ from them in the last bit.
_TO_NATURAL: dict[str, tuple[Any, Any]] = {
    "log": (_exp, np.exp),
    "logit": (ilogit, ilogit),
    "arcsine": (_sin2, _iarcsin),
    "fisher_z": (math.tanh, np.tanh),
}


@overload
def to_natural(measure: Any, value: float, *, n: float | None = None) -> float: ...
@overload
def to_natural(measure: Any, value: np.ndarray, *, n: float | None = None) -> np.ndarray: ...
def to_natural(measure: Any, value: Any, *, n: float | None = None) -> Any:
    """A value on ``measure``'s analysis scale on its natural scale.

    exp for the log-scale measures (RR, OR, PETO, HR, ROM, IRR, PLN), the inverse logit for
    PLO, ``sin(x)^2`` for PAS, ``tanh`` for ZCOR, the inverse Freeman-Tukey transform for PFT
    (needs ``n``, e.g. the harmonic mean of the studies' sizes, as metafor
    ``transf.ipft.hm``); identity for the measures analysed on their natural scale and for a
    missing (``None``, NaN, empty) or unknown measure.  NaN stays NaN.

    Parameters
    ----------
    measure : str or None
        The effect measure (case-insensitive).
    value : float or numpy.ndarray
        Value(s) on the analysis scale (``yi``, an estimate or a CI limit).
    n : float, optional
        Sample size for PFT.

    Returns
    -------
    float or numpy.ndarray
        The same shape as ``value``.
    """
    info = MEASURE_INFO.get(measure.upper()) if isinstance(measure, str) else None
    scale = info.scale if info is not None else "identity"
    if scale == "identity":
        return value
    if scale == "double_arcsine":
        if n is None or not n > 0:
            raise InvalidParameterError(
                "The 'n' argument of to_natural() must be a positive sample size for measure "
                f"'PFT' (the inverse Freeman-Tukey transform depends on it). Got {n!r}."
            )
        out = ipft(value, float(n))
        return out if isinstance(value, np.ndarray) else float(out)
    number, array = _TO_NATURAL[scale]
    if isinstance(value, np.ndarray):
        with np.errstate(over="ignore", invalid="ignore"):
            return array(value.astype(float, copy=False))
    x = float(value)
    return x if math.isnan(x) else number(x)
