"""The grading scheme: every threshold and default of the grading engine, each with its source.

A :class:`Scheme` is a frozen value object.  The defaults below are the ones evigap ships;
each field's citation is in :data:`DEFAULT_SOURCES` (and travels with the scheme in
``Scheme.sources``, so a report can quote it next to every rule).  Load a modified scheme
from TOML with :func:`load_scheme`; write one with :meth:`Scheme.to_toml`.

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

from evidence.errors import InvalidParameterError

__all__ = [
    "LEVELS",
    "LEVEL_SCORE",
    "LEVEL_SYMBOLS",
    "DEFAULT_SOURCES",
    "Scheme",
    "load_scheme",
    "default_scheme",
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
_G26 = "GRADE 26: Santesso N et al. J Clin Epidemiol 2020;119:126-135"
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

DEFAULT_SOURCES: dict[str, str] = {
    "start_randomised_human": f"{_BALSHEM}: randomised trials start high; {_CORE1}",
    "start_non_randomised_human": (
        f"{_BALSHEM}: observational studies start low (when not assessed with ROBINS-I); {_CORE1}"
    ),
    "start_uncontrolled_human": f"{_BALSHEM}: case series and case reports; {_HB14}",
    "start_robins_i": (
        f"{_G18}: a body of non-randomised studies assessed with ROBINS-I starts high, its "
        "risk of bias is then rated with ROBINS-I levels"
    ),
    "start_randomised_animal": (
        f"{_HOOIJMANS}: animal studies start high (randomised or not, controlled experiments); "
        f"{_OHAT}"
    ),
    "start_non_randomised_animal": (
        f"{_HOOIJMANS}: controlled animal experiments start high; lack of randomisation is "
        "judged under risk of bias"
    ),
    "start_uncontrolled_animal": f"{_OHAT}: no comparison group -> moderate initial confidence",
    "start_in_vitro": (
        f"evigap default (configurable): {_OHAT} treats in vitro data as mechanistic "
        "evidence; no GRADE starting level exists"
    ),
    "start_meta_analysis_other": (
        f"{_BALSHEM}: an aggregate record not flagged randomised is rated as non-randomised "
        "evidence"
    ),
    "rob_share_threshold": (
        f"{_G4}; {_HB14}: rate down when the proportion of information from studies at high "
        "risk of bias is sufficient to affect the interpretation (most information low or "
        "unclear: usually not rated down); the share is evigap's operationalisation"
    ),
    "rob_very_serious_share": (
        f"{_G4}: 'very serious' for crucial limitations in most of the evidence; the share "
        "is evigap's operationalisation"
    ),
    "robins_moderate_step": f"{_G18}: ROBINS-I 'moderate' -> rate down one level",
    "robins_serious_step": f"{_G18}: ROBINS-I 'serious' -> rate down two levels",
    "robins_critical_step": f"{_G18}: ROBINS-I 'critical' -> rate down three levels",
    "i2_moderate": (
        f"{_G7}: I2 thresholds are a guide (Cochrane Handbook I2 bands: 30-60% moderate); "
        "rated down only with further criteria"
    ),
    "i2_considerable": f"{_G7}; Cochrane Handbook I2 band 75-100% 'considerable'",
    "heterogeneity_p": f"{_G7}: a low p of the Q test (evigap uses 0.10)",
    "use_prediction_interval": (
        f"{_G7} rates down when point estimates vary widely and confidence intervals show "
        "minimal overlap; a prediction interval crossing the null is an optional evigap "
        "operationalisation, off by default (GRADE 7 does not use it)"
    ),
    "imprecision_rr_benefit": (
        f"{_G6}: RR under 0.75 as a rough guide to appreciable benefit; {_G34}: default "
        "thresholds of the minimally contextualised approach"
    ),
    "imprecision_rr_harm": f"{_G6}: RR over 1.25 as a rough guide to appreciable harm; {_G34}",
    "imprecision_smd_mid": (
        "Cohen J. Statistical Power Analysis for the Behavioral Sciences, 2nd ed. 1988 "
        f"(SMD 0.2 = small effect), used as the MID for SMDs; {_G34}"
    ),
    "ois_events": (
        f"{_G6}: OIS for binary outcomes of a few hundred events (evigap default 300); {_CORE2}"
    ),
    "ois_participants_total": f"{_CORE2}: 400 participants per group (800 total) for continuous "
    "outcomes",
    "ois_severe_fraction": f"{_CORE2}; {_G34}: far from the OIS -> consider two levels",
    "ois_extreme_fraction": (
        f"{_G34}: when the CI appreciably crosses the thresholds consider rating down two or "
        "three levels; far below the OIS, three ('extremely serious'); the fraction is "
        "evigap's operationalisation"
    ),
    "ci_ratio_rr": f"{_G34}: upper/lower CI ratio > 3 for RR -> OIS far from met",
    "ci_ratio_or": f"{_G34}: upper/lower CI ratio > 2.5 for OR -> OIS far from met",
    "imprecision_not_estimable": (
        "evigap convention for a body with a measure but no interval: 'extremely serious' "
        f"(three levels, {_CORE1})"
    ),
    "large_effect_rr": f"{_G9}: RR > 2 or < 0.5 -> rate up one level",
    "very_large_effect_rr": f"{_G9}: RR > 5 or < 0.2 -> rate up two levels",
    "dose_response_alpha": (
        f"{_G9}: dose-response gradient; the test (weighted regression slope on 'dose') is evigap's"
    ),
    "dose_response_min_levels": f"{_G9}; evigap convention: at least this many dose levels",
    "enable_plausible_confounding": (
        f"{_CORE1}: rating up for plausible confounding is rarely applicable and was dropped; "
        "off by default"
    ),
    "egger_min_k": f"{_STERNE}: tests for funnel plot asymmetry only with at least 10 studies; "
    f"{_G5}",
    "egger_alpha": f"{_STERNE}: asymmetry judged at p < 0.10",
    "translational_animal": (
        f"{_G8}: animal studies are indirect evidence for human questions; {_HOOIJMANS}; "
        "evigap default two levels, configurable"
    ),
    "translational_in_vitro": (
        f"{_G8}; evigap default: at least the animal step (cell culture is mechanistic "
        "evidence), configurable"
    ),
    "uprate_non_randomised_only": (
        f"{_G9}; {_CORE1}: rating up applies to non-randomised studies without a reason for "
        f"rating down; {_G18}: ROBINS-I bodies may still be rated up"
    ),
    "pool_method": "evigap default pooling: REML random effects (see evidence.pool)",
    "ci_method": "evigap default: Wald-type (z) confidence intervals",
    "level": f"{_G6}: the 95% confidence interval",
    "human_certainty_threshold": (
        "evigap convention for claims audits: a claim needs human evidence at or above this level"
    ),
    "loa_from_phase": (
        f"{_BIO}, all indications: LOA from phase I 7.9%, II 15.1%, III 52.4%, NDA/BLA 90.6%; "
        "preclinical 5%: Ineichen BV et al. PLoS Biol 2024;22:e3002667"
    ),
    "loa_by_area": f"{_BIO} by disease area; no dermatology or musculoskeletal area exists",
    "indication_area": (
        f"ASSUMPTION (evigap, user-overridable): indication keyword -> {_BIO} disease area; "
        "other indications use 'All indications'"
    ),
}


def _frozen(d: Mapping) -> Mapping:
    return MappingProxyType(
        {k: (_frozen(v) if isinstance(v, Mapping) else v) for k, v in d.items()}
    )


@dataclass(frozen=True)
class Scheme:
    """Every threshold and default the grading engine uses.

    Starting levels are certainty labels from :data:`LEVELS`; steps are negative integers for
    down-ratings.  ``sources`` maps each field to its citation (defaults in
    :data:`DEFAULT_SOURCES`); :meth:`source` returns one.

    Examples
    --------
    >>> s = Scheme()
    >>> s.ois_events, s.large_effect_rr
    (300, 2.0)
    >>> load_scheme('translational_animal = -1').translational_animal
    -1
    """

    # starting levels
    start_randomised_human: str = "high"
    start_non_randomised_human: str = "low"
    start_uncontrolled_human: str = "very low"
    start_randomised_animal: str = "high"
    start_non_randomised_animal: str = "high"
    start_uncontrolled_animal: str = "moderate"
    start_in_vitro: str = "low"
    start_meta_analysis_other: str = "low"
    start_robins_i: str = "high"
    # risk of bias
    rob_share_threshold: float = 0.5
    rob_very_serious_share: float = 0.8
    robins_moderate_step: int = -1
    robins_serious_step: int = -2
    robins_critical_step: int = -3
    # inconsistency
    i2_moderate: float = 40.0
    i2_considerable: float = 75.0
    heterogeneity_p: float = 0.10
    use_prediction_interval: bool = False
    # imprecision
    imprecision_rr_benefit: float = 0.75
    imprecision_rr_harm: float = 1.25
    imprecision_smd_mid: float = 0.2
    ois_events: int = 300
    ois_participants_total: int = 800
    ois_severe_fraction: float = 0.30
    ois_extreme_fraction: float = 0.05
    ci_ratio_rr: float = 3.0
    ci_ratio_or: float = 2.5
    imprecision_not_estimable: int = -3
    # up-rating
    large_effect_rr: float = 2.0
    very_large_effect_rr: float = 5.0
    dose_response_alpha: float = 0.05
    dose_response_min_levels: int = 3
    enable_plausible_confounding: bool = False
    uprate_non_randomised_only: bool = True
    # publication bias
    egger_min_k: int = 10
    egger_alpha: float = 0.10
    # translational indirectness
    translational_animal: int = -2
    translational_in_vitro: int = -3
    # pooling
    pool_method: str = "REML"
    ci_method: str = "z"
    level: float = 0.95
    # claims and gap
    human_certainty_threshold: str = "moderate"
    loa_from_phase: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {
                "preclinical": 0.05,
                "phase_1": 0.079,
                "phase_2": 0.151,
                "phase_3": 0.524,
                "nda_bla": 0.906,
            }
        )
    )
    loa_by_area: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: _frozen(BIO_2021_LOA)
    )
    indication_area: Mapping[str, str] = field(
        default_factory=lambda: _frozen(DEFAULT_INDICATION_AREA)
    )
    sources: Mapping[str, str] = field(default_factory=lambda: _frozen(DEFAULT_SOURCES))

    def __post_init__(self) -> None:
        for name in (
            "start_randomised_human",
            "start_non_randomised_human",
            "start_uncontrolled_human",
            "start_randomised_animal",
            "start_non_randomised_animal",
            "start_uncontrolled_animal",
            "start_in_vitro",
            "start_meta_analysis_other",
            "start_robins_i",
            "human_certainty_threshold",
        ):
            val = getattr(self, name)
            if val not in LEVELS:
                raise InvalidParameterError(
                    f"The '{name}' setting of Scheme must be one of {list(LEVELS)}. Got {val!r}."
                )
        for name in (
            "translational_animal",
            "translational_in_vitro",
            "imprecision_not_estimable",
            "robins_moderate_step",
            "robins_serious_step",
            "robins_critical_step",
        ):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, int) or not -3 <= val <= 0:
                raise InvalidParameterError(
                    f"The '{name}' setting of Scheme must be an integer step from -3 to 0. "
                    f"Got {val!r}."
                )
        for name in (
            "rob_share_threshold",
            "rob_very_serious_share",
            "heterogeneity_p",
            "ois_severe_fraction",
            "ois_extreme_fraction",
            "dose_response_alpha",
            "egger_alpha",
            "level",
        ):
            val = getattr(self, name)
            if not isinstance(val, (int, float)) or not 0 < val < 1:
                raise InvalidParameterError(
                    f"The '{name}' setting of Scheme must be a number between 0 and 1. Got {val!r}."
                )
        if not 0 <= self.i2_moderate <= self.i2_considerable <= 100:
            raise InvalidParameterError(
                "The 'i2_moderate' and 'i2_considerable' settings of Scheme must satisfy "
                f"0 <= i2_moderate <= i2_considerable <= 100. Got {self.i2_moderate!r} and "
                f"{self.i2_considerable!r}."
            )
        if not 0 < self.imprecision_rr_benefit < 1 < self.imprecision_rr_harm:
            raise InvalidParameterError(
                "The 'imprecision_rr_benefit' and 'imprecision_rr_harm' settings of Scheme must "
                f"satisfy 0 < benefit < 1 < harm. Got {self.imprecision_rr_benefit!r} and "
                f"{self.imprecision_rr_harm!r}."
            )
        if not 1 < self.large_effect_rr <= self.very_large_effect_rr:
            raise InvalidParameterError(
                "The 'large_effect_rr' and 'very_large_effect_rr' settings of Scheme must satisfy "
                f"1 < large <= very large. Got {self.large_effect_rr!r} and "
                f"{self.very_large_effect_rr!r}."
            )
        if not self.ois_extreme_fraction < self.ois_severe_fraction:
            raise InvalidParameterError(
                "The 'ois_extreme_fraction' setting of Scheme must be below "
                f"'ois_severe_fraction'. Got {self.ois_extreme_fraction!r} and "
                f"{self.ois_severe_fraction!r}."
            )
        if not self.rob_share_threshold < self.rob_very_serious_share:
            raise InvalidParameterError(
                "The 'rob_share_threshold' and 'rob_very_serious_share' settings of Scheme must "
                f"satisfy rob_share_threshold < rob_very_serious_share. Got "
                f"{self.rob_share_threshold!r} and {self.rob_very_serious_share!r}."
            )
        if not (self.robins_moderate_step >= self.robins_serious_step >= self.robins_critical_step):
            raise InvalidParameterError(
                "The ROBINS-I steps of Scheme must not rate a worse level up: "
                "robins_moderate_step >= robins_serious_step >= robins_critical_step."
            )
        smd = self.imprecision_smd_mid
        if isinstance(smd, bool) or not isinstance(smd, (int, float)) or not 0 < smd < 5:
            raise InvalidParameterError(
                f"The 'imprecision_smd_mid' setting of Scheme must be a number in (0, 5). "
                f"Got {smd!r}."
            )
        em = self.egger_min_k
        if isinstance(em, bool) or not isinstance(em, int) or em < 3:
            raise InvalidParameterError(
                "The 'egger_min_k' setting of Scheme must be an integer of at least 3 (a "
                "regression test for small-study effects needs 3 studies; Sterne 2011 advises "
                f"10). Got {em!r}."
            )
        for name in ("ois_events", "ois_participants_total"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise InvalidParameterError(
                    f"The '{name}' setting of Scheme must be a positive integer. Got {val!r}."
                )
        for name in ("ci_ratio_rr", "ci_ratio_or"):
            if not getattr(self, name) > 1:
                raise InvalidParameterError(
                    f"The '{name}' setting of Scheme must be greater than 1. "
                    f"Got {getattr(self, name)!r}."
                )
        for key, val in self.loa_from_phase.items():
            if not 0 <= float(val) <= 1:
                raise InvalidParameterError(
                    f"The 'loa_from_phase.{key}' setting of Scheme must be a probability. "
                    f"Got {val!r}."
                )
        unknown = set(self.sources) - {f.name for f in fields(self)}
        if unknown:
            raise InvalidParameterError(
                f"The 'sources' table of Scheme names unknown setting {sorted(unknown)[0]!r}."
            )
        # freeze mappings given by the caller
        for name in ("loa_from_phase", "loa_by_area", "indication_area", "sources"):
            val = getattr(self, name)
            if not isinstance(val, MappingProxyType):
                object.__setattr__(self, name, _frozen(dict(val)))

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

    def start_score(self, level: str) -> int:
        return LEVEL_SCORE[level]

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
        import pandas as pd

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
        from html import escape

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
        names = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, val in data.items():
            if key not in names:
                raise InvalidParameterError(
                    f"Unknown scheme setting {key!r}. Known settings: {sorted(names)}."
                )
            default = getattr(cls(), key)
            if isinstance(default, Mapping):
                if not isinstance(val, Mapping):
                    raise InvalidParameterError(
                        f"The scheme setting {key!r} must be a table. Got {val!r}."
                    )
                if key == "sources":
                    merged = dict(DEFAULT_SOURCES)
                    merged.update(val)
                    val = merged
                kwargs[key] = val
                continue
            if isinstance(default, bool) and not isinstance(val, bool):
                raise InvalidParameterError(
                    f"The scheme setting {key!r} must be true or false. Got {val!r}."
                )
            if isinstance(default, float) and isinstance(val, int) and not isinstance(val, bool):
                val = float(val)
            if type(default) is not type(val):
                raise InvalidParameterError(
                    f"The scheme setting {key!r} must be of type {type(default).__name__}. "
                    f"Got {val!r}."
                )
            kwargs[key] = val
        return cls(**kwargs)


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


def default_scheme() -> Scheme:
    """The scheme evigap ships (same as ``Scheme()``)."""
    return Scheme()


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
