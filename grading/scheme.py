"""The grading scheme: every threshold and default of the grading engine, each with its source.

A :class:`Scheme` is a frozen value object.  Each setting is declared once, as a field of
:class:`Scheme` with its default, the values it allows and the publication behind it
(a :class:`Setting`, in :data:`SETTINGS`); every scheme is checked against these declarations
when it is made or loaded, and the table of settings in ``docs/grading.md`` is
:func:`settings_table` (a test keeps them equal).  The citations travel with the scheme in
``Scheme.sources`` (defaults: :data:`DEFAULT_SOURCES`), so a report can quote one next to every
rule.  Load a modified scheme from TOML with :func:`load_scheme`; write one with
:meth:`Scheme.to_toml`.

Every source names a primary publication (GRADE series paper, Core GRADE, Cochrane Handbook
chapter, Hooijmans 2018, Sterne 2011, ...); values that are evigap's own conventions say so.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from html import escape

import pandas as pd

from evidence.errors import InvalidParameterError
from evidence.mantel_haenszel import TWO_BY_TWO_METHODS
from evidence.pooling import CI_METHODS, METHODS

__all__ = [
    "LEVELS",
    "LEVEL_SCORE",
    "LEVEL_SYMBOLS",
    "DEFAULT_SOURCES",
    "SETTINGS",
    "Setting",
    "Scheme",
    "load_scheme",
    "settings_table",
]

#: Certainty levels, lowest first (GRADE 3, Balshem 2011).
LEVELS: tuple[str, ...] = ("very low", "low", "moderate", "high")
LEVEL_SCORE: dict[str, int] = {lvl: i + 1 for i, lvl in enumerate(LEVELS)}
#: Symbols as printed in GRADE tables (GRADE 3, Balshem 2011).
LEVEL_SYMBOLS: dict[str, str] = {
    "high": "⊕⊕⊕⊕",
    "moderate": "⊕⊕⊕◯",
    "low": "⊕⊕◯◯",
    "very low": "⊕◯◯◯",
}

#: BIO/Informa/QLS 'Clinical Development Success Rates 2011-2020' (Feb 2021), Figure 5b,
#: probability of FDA approval (LOA) for a programme currently in each phase, per disease area.
BIO_2021_LOA: dict[str, dict[str, float]] = {
    "All indications": {"phase_1": 0.079, "phase_2": 0.151, "phase_3": 0.524, "nda_bla": 0.906},
    "Hematology": {"phase_1": 0.239, "phase_2": 0.344, "phase_3": 0.715, "nda_bla": 0.931},
    "Metabolic": {"phase_1": 0.155, "phase_2": 0.250, "phase_3": 0.557, "nda_bla": 0.875},
    "Infectious disease": {"phase_1": 0.132, "phase_2": 0.228, "phase_3": 0.594, "nda_bla": 0.929},
    "Others": {"phase_1": 0.130, "phase_2": 0.205, "phase_3": 0.530, "nda_bla": 0.884},
    "Ophthalmology": {"phase_1": 0.119, "phase_2": 0.166, "phase_3": 0.467, "nda_bla": 0.911},
    "Autoimmune": {"phase_1": 0.107, "phase_2": 0.193, "phase_3": 0.614, "nda_bla": 0.941},
    "Allergy": {"phase_1": 0.103, "phase_2": 0.183, "phase_3": 0.647, "nda_bla": 1.000},
    "Gastroenterology": {"phase_1": 0.083, "phase_2": 0.178, "phase_3": 0.519, "nda_bla": 0.909},
    "Respiratory": {"phase_1": 0.075, "phase_2": 0.135, "phase_3": 0.616, "nda_bla": 0.956},
    "Psychiatry": {"phase_1": 0.073, "phase_2": 0.138, "phase_3": 0.514, "nda_bla": 0.912},
    "Endocrine": {"phase_1": 0.066, "phase_2": 0.152, "phase_3": 0.571, "nda_bla": 0.863},
    "Neurology": {"phase_1": 0.059, "phase_2": 0.123, "phase_3": 0.460, "nda_bla": 0.867},
    "Oncology": {"phase_1": 0.053, "phase_2": 0.108, "phase_3": 0.439, "nda_bla": 0.920},
    "Cardiovascular": {"phase_1": 0.048, "phase_2": 0.096, "phase_3": 0.456, "nda_bla": 0.825},
    "Urology": {"phase_1": 0.036, "phase_2": 0.088, "phase_3": 0.586, "nda_bla": 0.846},
}

#: Indication keyword -> BIO 2021 disease area.  These are assumptions (the BIO taxonomy has no
#: dermatology or musculoskeletal area); the
#: neurology / infectious disease / respiratory ones.  Matching is case-insensitive substring.
DEFAULT_INDICATION_AREA: dict[str, str] = {
    "stroke": "Neurology",
    "parkinson": "Neurology",
    "alzheimer": "Neurology",
    "covid": "Infectious disease",
    "ards": "Respiratory",
    "acute respiratory distress": "Respiratory",
    "lung injury": "Respiratory",
}

_G4 = "GRADE 4: Guyatt GH et al. J Clin Epidemiol 2011;64:407-415"
_G5 = "GRADE 5: Guyatt GH et al. J Clin Epidemiol 2011;64:1277-1282"
_G6 = "GRADE 6: Guyatt GH et al. J Clin Epidemiol 2011;64:1283-1293"
_G7 = "GRADE 7: Guyatt GH et al. J Clin Epidemiol 2011;64:1294-1302"
_G8 = "GRADE 8: Guyatt GH et al. J Clin Epidemiol 2011;64:1303-1310"
_G9 = "GRADE 9: Guyatt GH et al. J Clin Epidemiol 2011;64:1311-1316"
_G18 = "GRADE 18: Schünemann HJ et al. J Clin Epidemiol 2019;111:105-114"
_G34 = "GRADE 34: Zeng L et al. J Clin Epidemiol 2022;150:216-224"
_CORE1 = "Core GRADE 1: Guyatt GH et al. BMJ 2025;389:e081903"
_CORE2 = "Core GRADE 2: Guyatt GH et al. BMJ 2025;389:e081904"
_HB14 = (
    "Cochrane Handbook for Systematic Reviews of Interventions, chapter 14 (Schünemann HJ "
    "et al., version 6)"
)
_STERNE = "Sterne JAC et al. BMJ 2011;343:d4002"
_HOOIJMANS = "Hooijmans CR et al. PLoS One 2018;13:e0187271"
_OHAT = (
    "OHAT Handbook for Conducting a Literature-Based Health Assessment (NTP 2019), "
    "initial confidence by study design features"
)
_BALSHEM = "GRADE 3: Balshem H et al. J Clin Epidemiol 2011;64:401-406"
_BIO = (
    "BIO, Informa Pharma Intelligence, QLS Advisors. Clinical Development Success Rates "
    "2011-2020 (2021), Figure 5b"
)


def _frozen(d: Mapping) -> Mapping:
    return MappingProxyType(
        {k: (_frozen(v) if isinstance(v, Mapping) else v) for k, v in d.items()}
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Setting:
    """The declaration of one scheme setting: its ``default``, the values it allows and the
    publication behind it (``source``).

    ``kind`` is one of ``"level"`` (a certainty level of :data:`LEVELS`), ``"step"`` (an
    integer step from -3 to 0), ``"number"`` (between ``low`` and ``high``; ``low_open`` /
    ``high_open`` exclude the bound), ``"integer"`` (at least ``low``), ``"flag"`` (true or
    false), ``"choice"`` (one of ``choices``, case-insensitive), ``"probabilities"`` (a table
    name -> probability), ``"probability_tables"`` (a table of such tables) or
    ``"text_table"`` (a table name -> text).  ``why`` is added to the error message.
    """

    kind: str
    default: Any = None
    source: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    why: str = ""

    @property
    def allowed(self) -> str:
        """The allowed values in words (the docs table and the error messages use it)."""
        if self.kind == "level":
            return f"one of {list(LEVELS)}"
        if self.kind == "step":
            return "an integer step from -3 to 0"
        if self.kind == "flag":
            return "true or false"
        if self.kind == "choice":
            return f"one of {list(self.choices)}"
        if self.kind == "integer":
            return f"an integer of at least {self.low:g}"
        if self.kind == "probabilities":
            return "a table of probabilities (0 to 1)"
        if self.kind == "probability_tables":
            return "a table of tables of probabilities (0 to 1)"
        if self.kind == "text_table":
            return "a table of texts"
        if self.high is None:
            return f"a number {'>' if self.low_open else '>='} {self.low:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"a number in {left}{self.low:g}, {self.high:g}{right}"

    def check(self, name: str, value: Any) -> Any:
        """``value`` in its stored form (numbers as float, choices in their canonical spelling,
        tables read-only); a value outside :attr:`allowed` raises
        :class:`~evidence.errors.InvalidParameterError` naming the setting."""
        ok, out = self._accept(value)
        if not ok:
            why = f" ({self.why})" if self.why else ""
            raise InvalidParameterError(
                f"The '{name}' setting of Scheme must be {self.allowed}{why}. Got {value!r}."
            )
        return out

    def _accept(self, value: Any) -> tuple[bool, Any]:
        kind = self.kind
        if kind == "level":
            return value in LEVELS, value
        if kind == "step":
            ok = isinstance(value, int) and not isinstance(value, bool) and -3 <= value <= 0
            return ok, value
        if kind == "flag":
            return isinstance(value, bool), value
        if kind == "choice":
            for choice in self.choices:
                if isinstance(value, str) and value.strip().lower() == choice.lower():
                    return True, choice
            return False, value
        if kind == "integer":
            ok = isinstance(value, int) and not isinstance(value, bool)
            return ok and value >= (self.low or 0), value
        if kind == "number":
            if not _is_number(value):
                return False, value
            x = float(value)
            above = self.low is None or (x > self.low if self.low_open else x >= self.low)
            below = self.high is None or (x < self.high if self.high_open else x <= self.high)
            return above and below, x
        if not isinstance(value, Mapping):
            return False, value
        if kind == "text_table":
            return all(isinstance(v, str) for v in value.values()), _frozen(dict(value))
        tables = value.values() if kind == "probability_tables" else [value]
        for table in tables:
            if not isinstance(table, Mapping):
                return False, value
            if not all(_is_number(v) and 0 <= v <= 1 for v in table.values()):
                return False, value
        return True, _frozen(dict(value))


_LEVEL = Setting("level")
_STEP = Setting("step")
_FLAG = Setting("flag")
_FRACTION = Setting("number", low=0, high=1, low_open=True, high_open=True)
_PROBABILITIES = Setting("probabilities")
_PROBABILITY_TABLES = Setting("probability_tables")
_TEXT_TABLE = Setting("text_table")


def _number(
    low: float, high: float | None, *, low_open: bool = False, high_open: bool = False
) -> Setting:
    return Setting("number", low=low, high=high, low_open=low_open, high_open=high_open)


def _integer(low: int, why: str = "") -> Setting:
    return Setting("integer", low=low, why=why)


def _choice(choices: tuple[str, ...]) -> Setting:
    return Setting("choice", choices=tuple(choices))


def _setting(default: Any, allowed: Setting, source: str) -> Any:
    """A field of :class:`Scheme`: its default, what it allows and its source, declared once."""
    if isinstance(default, Mapping):
        frozen = _frozen(default)
        spec = replace(allowed, default=frozen, source=source)
        return field(default_factory=lambda: frozen, metadata={"setting": spec})
    spec = replace(allowed, default=default, source=source)
    return field(default=default, metadata={"setting": spec})


#: Relations between settings, checked after each setting on its own: (the settings, the
#: condition, what it says).
_RELATIONS: tuple[tuple[tuple[str, ...], Any, str], ...] = (
    (
        ("i2_moderate", "i2_considerable"),
        lambda s: s.i2_moderate <= s.i2_considerable,
        "i2_moderate <= i2_considerable",
    ),
    (
        ("rob_share_threshold", "rob_very_serious_share"),
        lambda s: s.rob_share_threshold < s.rob_very_serious_share,
        "rob_share_threshold < rob_very_serious_share",
    ),
    (
        ("robins_moderate_step", "robins_serious_step", "robins_critical_step"),
        lambda s: s.robins_moderate_step >= s.robins_serious_step >= s.robins_critical_step,
        "ROBINS-I steps must not rate a worse level up: robins_moderate_step >= "
        "robins_serious_step >= robins_critical_step",
    ),
    (
        ("ois_extreme_fraction", "ois_severe_fraction"),
        lambda s: s.ois_extreme_fraction < s.ois_severe_fraction,
        "ois_extreme_fraction < ois_severe_fraction",
    ),
    (
        ("large_effect_rr", "very_large_effect_rr"),
        lambda s: s.large_effect_rr <= s.very_large_effect_rr,
        "large_effect_rr <= very_large_effect_rr",
    ),
)


@dataclass(frozen=True)
class Scheme:
    """Every threshold and default the grading engine uses.

    Starting levels are certainty labels from :data:`LEVELS`; steps are negative integers for
    down-ratings.  Each field is declared once with its default, allowed values and source
    (:data:`SETTINGS`); ``sources`` maps each field to its citation (defaults in
    :data:`DEFAULT_SOURCES`); :meth:`source` returns one.  A value outside what a setting
    allows raises :class:`~evidence.errors.InvalidParameterError` naming the setting.

    Examples
    --------
    >>> s = Scheme()
    >>> s.ois_events, s.large_effect_rr
    (300, 2.0)
    >>> load_scheme('translational_animal = -1').translational_animal
    -1
    """

    # starting levels
    start_randomised_human: str = _setting(
        "high",
        _LEVEL,
        f"{_BALSHEM}: randomised trials start high; {_CORE1}",
    )
    start_non_randomised_human: str = _setting(
        "low",
        _LEVEL,
        f"{_BALSHEM}: observational studies start low (when not assessed with ROBINS-I); {_CORE1}",
    )
    start_uncontrolled_human: str = _setting(
        "very low",
        _LEVEL,
        f"{_BALSHEM}: case series and case reports; {_HB14}",
    )
    start_randomised_animal: str = _setting(
        "high",
        _LEVEL,
        f"{_HOOIJMANS}: animal studies start high (randomised or not, controlled experiments); "
        f"{_OHAT}",
    )
    start_non_randomised_animal: str = _setting(
        "high",
        _LEVEL,
        f"{_HOOIJMANS}: controlled animal experiments start high; lack of randomisation is "
        "judged under risk of bias",
    )
    start_uncontrolled_animal: str = _setting(
        "moderate",
        _LEVEL,
        f"{_OHAT}: no comparison group -> moderate initial confidence",
    )
    start_in_vitro: str = _setting(
        "low",
        _LEVEL,
        f"evigap default (configurable): {_OHAT} treats in vitro data as mechanistic "
        "evidence; no GRADE starting level exists",
    )
    start_meta_analysis_other: str = _setting(
        "low",
        _LEVEL,
        f"{_BALSHEM}: an aggregate record not flagged randomised is rated as non-randomised "
        "evidence",
    )
    start_robins_i: str = _setting(
        "high",
        _LEVEL,
        f"{_G18}: a body of non-randomised studies assessed with ROBINS-I starts high, its "
        "risk of bias is then rated with ROBINS-I levels",
    )
    # risk of bias
    rob_share_threshold: float = _setting(
        0.5,
        _FRACTION,
        f"{_G4}; {_HB14}: rate down when the proportion of information from studies at high "
        "risk of bias is sufficient to affect the interpretation (most information low or "
        "unclear: usually not rated down); the share is evigap's operationalisation",
    )
    rob_very_serious_share: float = _setting(
        0.8,
        _FRACTION,
        f"{_G4}: 'very serious' for crucial limitations in most of the evidence; the share "
        "is evigap's operationalisation",
    )
    robins_moderate_step: int = _setting(
        -1,
        _STEP,
        f"{_G18}: ROBINS-I 'moderate' -> rate down one level",
    )
    robins_serious_step: int = _setting(
        -2,
        _STEP,
        f"{_G18}: ROBINS-I 'serious' -> rate down two levels",
    )
    robins_critical_step: int = _setting(
        -3,
        _STEP,
        f"{_G18}: ROBINS-I 'critical' -> rate down three levels",
    )
    # inconsistency
    i2_moderate: float = _setting(
        40.0,
        _number(0, 100),
        f"{_G7}: I2 thresholds are a guide (Cochrane Handbook I2 bands: 30-60% moderate); "
        "rated down only with further criteria",
    )
    i2_considerable: float = _setting(
        75.0,
        _number(0, 100),
        f"{_G7}; Cochrane Handbook I2 band 75-100% 'considerable'",
    )
    heterogeneity_p: float = _setting(
        0.10,
        _FRACTION,
        f"{_G7}: a low p of the Q test (evigap uses 0.10)",
    )
    use_prediction_interval: bool = _setting(
        False,
        _FLAG,
        f"{_G7} rates down when point estimates vary widely and confidence intervals show "
        "minimal overlap; a prediction interval crossing the null is an optional evigap "
        "operationalisation, off by default (GRADE 7 does not use it)",
    )
    # imprecision
    imprecision_rr_benefit: float = _setting(
        0.75,
        _number(0, 1, low_open=True, high_open=True),
        f"{_G6}: RR under 0.75 as a rough guide to appreciable benefit; {_G34}: default "
        "thresholds of the minimally contextualised approach",
    )
    imprecision_rr_harm: float = _setting(
        1.25,
        _number(1, None, low_open=True),
        f"{_G6}: RR over 1.25 as a rough guide to appreciable harm; {_G34}",
    )
    imprecision_smd_mid: float = _setting(
        0.2,
        _number(0, 5, low_open=True, high_open=True),
        "Cohen J. Statistical Power Analysis for the Behavioral Sciences, 2nd ed. 1988 "
        f"(SMD 0.2 = small effect), used as the MID for SMDs; {_G34}",
    )
    ois_events: int = _setting(
        300,
        _integer(1),
        f"{_G6}: OIS for binary outcomes of a few hundred events (evigap default 300); {_CORE2}",
    )
    ois_participants_total: int = _setting(
        800,
        _integer(1),
        f"{_CORE2}: 400 participants per group (800 total) for continuous outcomes",
    )
    ois_severe_fraction: float = _setting(
        0.30,
        _FRACTION,
        f"{_CORE2}; {_G34}: far from the OIS -> consider two levels",
    )
    ois_extreme_fraction: float = _setting(
        0.05,
        _FRACTION,
        f"{_G34}: when the CI appreciably crosses the thresholds consider rating down two or "
        "three levels; far below the OIS, three ('extremely serious'); the fraction is "
        "evigap's operationalisation",
    )
    ci_ratio_rr: float = _setting(
        3.0,
        _number(1, None, low_open=True),
        f"{_G34}: upper/lower CI ratio > 3 for RR -> OIS far from met",
    )
    ci_ratio_or: float = _setting(
        2.5,
        _number(1, None, low_open=True),
        f"{_G34}: upper/lower CI ratio > 2.5 for OR -> OIS far from met",
    )
    imprecision_not_estimable: int = _setting(
        -3,
        _STEP,
        "evigap convention for a body with a measure but no interval: 'extremely serious' "
        f"(three levels, {_CORE1})",
    )
    # up-rating
    large_effect_rr: float = _setting(
        2.0,
        _number(1, None, low_open=True),
        f"{_G9}: RR > 2 or < 0.5 -> rate up one level",
    )
    very_large_effect_rr: float = _setting(
        5.0,
        _number(1, None, low_open=True),
        f"{_G9}: RR > 5 or < 0.2 -> rate up two levels",
    )
    dose_response_alpha: float = _setting(
        0.05,
        _FRACTION,
        f"{_G9}: dose-response gradient; the test (weighted regression slope on 'dose') is "
        "evigap's",
    )
    dose_response_min_levels: int = _setting(
        3,
        _integer(2, "a gradient needs at least two dose levels"),
        f"{_G9}; evigap convention: at least this many dose levels",
    )
    enable_plausible_confounding: bool = _setting(
        False,
        _FLAG,
        f"{_CORE1}: rating up for plausible confounding is rarely applicable and was dropped; "
        "off by default",
    )
    uprate_non_randomised_only: bool = _setting(
        True,
        _FLAG,
        f"{_G9}; {_CORE1}: rating up applies to non-randomised studies without a reason for "
        f"rating down; {_G18}: ROBINS-I bodies may still be rated up",
    )
    # publication bias
    egger_min_k: int = _setting(
        10,
        _integer(
            3, "a regression test for small-study effects needs 3 studies; Sterne 2011 advises 10"
        ),
        f"{_STERNE}: tests for funnel plot asymmetry only with at least 10 studies; {_G5}",
    )
    egger_alpha: float = _setting(
        0.10,
        _FRACTION,
        f"{_STERNE}: asymmetry judged at p < 0.10",
    )
    # translational indirectness
    translational_animal: int = _setting(
        -2,
        _STEP,
        f"{_G8}: animal studies are indirect evidence for human questions; {_HOOIJMANS}; "
        "evigap default two levels, configurable",
    )
    translational_in_vitro: int = _setting(
        -3,
        _STEP,
        f"{_G8}; evigap default: at least the animal step (cell culture is mechanistic "
        "evidence), configurable",
    )
    # pooling
    pool_method: str = _setting(
        "REML",
        _choice((*METHODS, *TWO_BY_TWO_METHODS)),
        "evigap default pooling: REML random effects (see evidence.pool); MH / PETO pool "
        "binary bodies from their 2x2 counts (grading.two_by_two)",
    )
    ci_method: str = _setting(
        "z",
        _choice(CI_METHODS),
        "evigap default: Wald-type (z) confidence intervals",
    )
    level: float = _setting(
        0.95,
        _FRACTION,
        f"{_G6}: the 95% confidence interval",
    )
    # claims and gap
    human_certainty_threshold: str = _setting(
        "moderate",
        _LEVEL,
        "evigap convention for claims audits: a claim needs human evidence at or above this level",
    )
    loa_from_phase: Mapping[str, float] = _setting(
        {
            "preclinical": 0.05,
            "phase_1": 0.079,
            "phase_2": 0.151,
            "phase_3": 0.524,
            "nda_bla": 0.906,
        },
        _PROBABILITIES,
        f"{_BIO}, all indications: LOA from phase I 7.9%, II 15.1%, III 52.4%, NDA/BLA 90.6%; "
        "preclinical 5%: Ineichen BV et al. PLoS Biol 2024;22:e3002667",
    )
    loa_by_area: Mapping[str, Mapping[str, float]] = _setting(
        BIO_2021_LOA,
        _PROBABILITY_TABLES,
        f"{_BIO} by disease area; no dermatology or musculoskeletal area exists",
    )
    indication_area: Mapping[str, str] = _setting(
        DEFAULT_INDICATION_AREA,
        _TEXT_TABLE,
        f"ASSUMPTION (evigap, user-overridable): indication keyword -> {_BIO} disease area; "
        "other indications use 'All indications'",
    )
    sources: Mapping[str, str] = field(default_factory=lambda: _frozen(DEFAULT_SOURCES))

    def __post_init__(self) -> None:
        for f in fields(self):
            spec = f.metadata.get("setting")
            if spec is not None:
                object.__setattr__(self, f.name, spec.check(f.name, getattr(self, f.name)))
        for names, holds, text in _RELATIONS:
            if not holds(self):
                values = ", ".join(f"{n} = {getattr(self, n)!r}" for n in names)
                raise InvalidParameterError(
                    f"The {', '.join(repr(n) for n in names)} settings of Scheme must satisfy "
                    f"{text}. Got {values}."
                )
        sources = self.sources
        if not isinstance(sources, Mapping) or not all(
            isinstance(v, str) for v in sources.values()
        ):
            raise InvalidParameterError(
                f"The 'sources' table of Scheme must map setting names to texts. Got {sources!r}."
            )
        unknown = set(sources) - set(SETTINGS)
        if unknown:
            raise InvalidParameterError(
                f"The 'sources' table of Scheme names unknown setting {sorted(unknown)[0]!r}."
            )
        if not isinstance(sources, MappingProxyType):
            object.__setattr__(self, "sources", _frozen(dict(sources)))

    # ------------------------------------------------------------------ helpers
    def __hash__(self) -> int:  # mappings are read-only proxies: hash the TOML text
        return hash(self.to_toml())

    def source(self, name: str) -> str:
        """The citation of setting ``name`` (raises for an unknown name)."""
        if name not in {f.name for f in fields(self)}:
            raise InvalidParameterError(
                f"The 'name' argument of Scheme.source() must be a Scheme setting. Got {name!r}."
            )
        return self.sources.get(name, DEFAULT_SOURCES.get(name, "evigap default"))

    def area_for(self, indication: str) -> tuple[str, bool]:
        """BIO disease area for an indication and whether it came from the assumption table."""
        text = str(indication).lower()
        for key, area in self.indication_area.items():
            if key.lower() in text:
                return area, True
        return "All indications", False

    def replace(self, **changes: Any) -> Scheme:
        """A copy with some settings changed (unknown names raise InvalidParameterError)."""
        names = {f.name for f in fields(self)}
        for key in changes:
            if key not in names:
                raise InvalidParameterError(f"Scheme has no setting {key!r}.")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            val = getattr(self, f.name)
            if isinstance(val, Mapping):
                val = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in val.items()}
            out[f.name] = val
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per setting: ``setting``, ``value``, ``default``, ``changed``, ``source``.

        Table settings are flattened with dotted names (``loa_from_phase.phase_1``,
        ``loa_by_area.Oncology.phase_1``); ``sources`` itself is the ``source`` column.
        """

        defaults = dict(_flatten_settings(Scheme()))
        rows = []
        for name, value in _flatten_settings(self):
            default = defaults.get(name)
            rows.append(
                {
                    "setting": name,
                    "value": value,
                    "default": default,
                    "changed": name not in defaults or value != default,
                    "source": self.source(name.split(".", 1)[0]),
                }
            )
        return pd.DataFrame(rows, columns=["setting", "value", "default", "changed", "source"])

    def summary(self) -> str:
        """Plain text: every scalar setting with its value and cited source (changes marked *)."""
        frame = self.to_frame()
        scalar = frame[~frame["setting"].str.contains(".", regex=False)]
        n_changed = int(frame["changed"].sum())
        lines = [
            f"Grading scheme: {len(frame)} settings, {n_changed} changed from the defaults "
            "(marked *)."
        ]
        width = max(len(s) for s in scalar["setting"])
        for r in scalar.itertuples(index=False):
            mark = "*" if r.changed else " "
            lines.append(f"{mark} {r.setting:<{width}} = {r.value!s:<10} [{r.source}]")
        return "\n".join(lines)

    def _repr_html_(self) -> str:

        n_changed = int(self.to_frame()["changed"].sum())
        return (
            f"<p><b>Scheme</b> ({escape(str(n_changed))} setting(s) changed from the "
            f"defaults)</p>" + self.to_frame().to_html(index=False, escape=True)
        )

    def to_toml(self) -> str:
        """The scheme as TOML text (readable by :func:`load_scheme`); sources as comments too."""
        lines = ["# evigap grading scheme", ""]
        tables: list[str] = []
        for f in fields(self):
            val = getattr(self, f.name)
            if isinstance(val, Mapping):
                tables.append(f.name)
                continue
            lines.append(f"# {self.source(f.name)}")
            lines.append(f"{f.name} = {_toml_value(val)}")
        for name in tables:
            val = getattr(self, name)
            lines.append("")
            if name != "sources":
                lines.append(f"# {self.source(name)}")
            nested = any(isinstance(v, Mapping) for v in val.values())
            if nested:
                for key, sub in val.items():
                    lines.append(f"[{name}.{_toml_key(key)}]")
                    for k2, v2 in sub.items():
                        lines.append(f"{_toml_key(k2)} = {_toml_value(v2)}")
                    lines.append("")
            else:
                lines.append(f"[{name}]")
                for key, v in val.items():
                    lines.append(f"{_toml_key(key)} = {_toml_value(v)}")
        return "\n".join(lines).rstrip() + "\n"

    @classmethod
    def from_toml(cls, text: str) -> Scheme:
        """Parse TOML text; keys not set keep their defaults; unknown keys raise."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidParameterError(f"The scheme TOML could not be parsed: {exc}.") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scheme:
        """A scheme from a mapping of setting names to values (as read from TOML); settings
        not given keep their defaults, unknown names and bad values raise."""
        kwargs: dict[str, Any] = {}
        for key, val in data.items():
            if key == "sources":
                if not isinstance(val, Mapping):
                    raise InvalidParameterError(
                        f"The scheme setting 'sources' must be a table. Got {val!r}."
                    )
                val = {**DEFAULT_SOURCES, **val}
            elif key not in SETTINGS:
                raise InvalidParameterError(
                    f"Unknown scheme setting {key!r}. Known settings: {sorted(SETTINGS)}."
                )
            kwargs[key] = val
        return cls(**kwargs)


#: Each setting's declaration (default, allowed values, source), in the order of :class:`Scheme`.
SETTINGS: MappingProxyType[str, Setting] = MappingProxyType(
    {f.name: f.metadata["setting"] for f in fields(Scheme) if "setting" in f.metadata}
)
#: Each setting's citation (the default ``Scheme.sources``).
DEFAULT_SOURCES: dict[str, str] = {name: spec.source for name, spec in SETTINGS.items()}


def settings_table() -> str:
    """The Markdown table of every scheme setting (``setting | default | allowed | source``)
    that ``docs/grading.md`` shows; ``tests/test_scheme.py`` checks the two are equal."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    def default_text(value: Any) -> str:
        if isinstance(value, Mapping):
            return f"table of {len(value)}"
        return _toml_value(value)

    lines = ["| setting | default | allowed | source |", "|---|---|---|---|"]
    for name, spec in SETTINGS.items():
        lines.append(
            f"| `{name}` | `{default_text(spec.default)}` | {cell(spec.allowed)} | "
            f"{cell(spec.source)} |"
        )
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    if key.replace("_", "").replace("-", "").isalnum():
        return key
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flatten_settings(scheme: Scheme) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []

    def walk(prefix: str, val: Any) -> None:
        if isinstance(val, Mapping):
            for k, v in val.items():
                walk(f"{prefix}.{k}", v)
        else:
            out.append((prefix, val))

    for f in fields(scheme):
        if f.name != "sources":
            walk(f.name, getattr(scheme, f.name))
    return out


def _toml_value(val: Any) -> str:
    if isinstance(val, bool):
        return "true" if val else "false"
    if isinstance(val, int):
        return str(val)
    if isinstance(val, float):
        if math.isfinite(val):
            return repr(val)
        return "nan" if math.isnan(val) else ("inf" if val > 0 else "-inf")
    return '"' + str(val).replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_scheme(path_or_text: str | Path | Scheme | Mapping | None = None) -> Scheme:
    """Load a scheme from a TOML file path, TOML text, a mapping, or pass a Scheme through.

    ``None`` gives the default scheme.  Unknown keys raise :class:`InvalidParameterError`
    naming the key.
    """
    if path_or_text is None:
        return Scheme()
    if isinstance(path_or_text, Scheme):
        return path_or_text
    if isinstance(path_or_text, Mapping):
        return Scheme.from_dict(path_or_text)
    if isinstance(path_or_text, Path):
        if not path_or_text.exists():
            raise InvalidParameterError(
                f"The 'path_or_text' argument of load_scheme() names a missing file: "
                f"{str(path_or_text)!r}."
            )
        return Scheme.from_toml(path_or_text.read_text(encoding="utf-8"))
    if isinstance(path_or_text, str):
        stripped = path_or_text.strip()
        looks_like_path = (
            "\n" not in stripped and "=" not in stripped and stripped.endswith(".toml")
        )
        if looks_like_path:
            p = Path(stripped)
            if not p.exists():
                raise InvalidParameterError(
                    f"The 'path_or_text' argument of load_scheme() names a missing file: "
                    f"{stripped!r}."
                )
            return Scheme.from_toml(p.read_text(encoding="utf-8"))
        return Scheme.from_toml(path_or_text)
    raise InvalidParameterError(
        "The 'path_or_text' argument of load_scheme() must be a path, TOML text, a mapping or a "
        f"Scheme. Got {type(path_or_text).__name__}."
    )
