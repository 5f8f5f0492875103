"""The grading scheme: every threshold and default of the grading engine, each with its source.

A :class:`Scheme` is a frozen value object.  The defaults below are the ones evigap ships;
each field's citation is in :data:`DEFAULT_SOURCES` (and travels with the scheme in
``Scheme.sources``, so a report can quote it next to every rule).  Load a modified scheme
from TOML with :func:`load_scheme`; write one with :meth:`Scheme.to_toml`.

Source tags follow ``shared/reference/grading-frameworks.md`` and ``grading-verification.md``:
only items read there ([V], [V-repro], [V-quote]) or in a secondary summary ([V2], said so)
are cited as sources.  Values that are evigap's own conventions say so.
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

#: Certainty levels, lowest first (GRADE guidelines 3, Balshem 2011 [V]).
LEVELS: tuple[str, ...] = ("very low", "low", "moderate", "high")
LEVEL_SCORE: dict[str, int] = {lvl: i + 1 for i, lvl in enumerate(LEVELS)}
#: Symbols as printed in GRADE tables (Balshem 2011 via BMC Med 2012 10:33 Table 1 [V]).
LEVEL_SYMBOLS: dict[str, str] = {
    "high": "⊕⊕⊕⊕",
    "moderate": "⊕⊕⊕◯",
    "low": "⊕⊕◯◯",
    "very low": "⊕◯◯◯",
}

_HANDBOOK_12_2_A = (
    "Cochrane Handbook 5.1 Table 12.2.a; Core GRADE 1 (BMJ 2025;389:e081903) [V]: randomised "
    "trials start high, observational studies start low"
)
_GV = "grading-verification.md"

#: BIO/Informa/QLS 'Clinical Development Success Rates 2011-2020' (Feb 2021), Figure 5b,
#: probability of FDA approval (LOA) for a programme currently in each phase, per disease area
#: [V-repro: two independent transcriptions agree; grading-verification.md section 1.1].
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
#: dermatology or musculoskeletal area); grading-verification.md section 1.1 proposes the
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

DEFAULT_SOURCES: dict[str, str] = {
    "start_randomised_human": _HANDBOOK_12_2_A,
    "start_non_randomised_human": _HANDBOOK_12_2_A,
    "start_uncontrolled_human": (
        "Cochrane Handbook 5.1 Table 12.2.a (case series/case reports: very low); RECOVER GRADE "
        "manual ('downgrading to very low evidence is appropriate in most cases') [V]"
    ),
    "start_randomised_animal": (
        "OHAT initial confidence by design features: all 4 features (incl. controlled exposure) "
        "-> High (PMC8885428 Table 9 [V]); 'randomised controlled animal experiment = High within "
        "stream' is the grading-frameworks.md section 7 proposal (Hooijmans 2018 body text [U] "
        "not used)"
    ),
    "start_non_randomised_animal": (
        "OHAT initial confidence by design features (PMC8885428 Table 9 [V]): a controlled animal "
        "experiment has all 4 features (controlled exposure, exposure before outcome, individual "
        "outcome data, comparison group) -> High; missing randomisation is judged under risk of "
        "bias, not by a lower start. Also used for preclinical meta-analyses of controlled "
        "experiments. Set 'low' to follow the stricter clinical-GRADE reading instead"
    ),
    "start_uncontrolled_animal": (
        "OHAT initial confidence by design features (PMC8885428 Table 9 [V]): no comparison group "
        "-> 3 of 4 features -> Moderate"
    ),
    "start_in_vitro": (
        "evigap default, configurable: OHAT/IRIS/HAWC treat in vitro as mechanistic 'other "
        "relevant data' (grading-frameworks.md sections 3.4-3.6 [V]); section 7 proposes 'not "
        "graded, or starts Low'"
    ),
    "start_meta_analysis_other": (
        "evigap convention: an aggregate (meta-analysis) record starts as randomised evidence of "
        "its stream only when its 'randomised' flag is true, else at this level"
    ),
    "rob_share_threshold": (
        "evigap convention (no numeric GRADE cut-off read): rate down -1 when most of the weight "
        "comes from studies not at low risk of bias, -2 when most comes from studies at high risk"
    ),
    "i2_moderate": (
        "Cochrane review decision matrix PMC7195185 (I2 40-74%: -1 only if directions differ) "
        "[V]; Cochrane Handbook 5.0.1 I2 bands (BMC MRM 2008 8:79 Table 3) [V]"
    ),
    "i2_considerable": (
        "PMC7195185 decision matrix (I2 > 75% with very low p: -1 same direction, -2 different "
        "directions) [V]; Handbook I2 band 75-100% 'considerable' [V]"
    ),
    "heterogeneity_p": (
        "evigap operationalisation of 'very low p' in the PMC7195185 matrix; Q-test level 0.10"
    ),
    "use_prediction_interval": (
        "evigap operationalisation of 'point estimates vary widely' (GRADE criteria 1 of 4, KCE "
        "process book 5.3.2 [V]); GRADE 36 warns against over-reliance on I2 [V2]"
    ),
    "imprecision_rr_benefit": (
        "GRADE 6 (Guyatt 2011 JCE 64:1283) [V]: 'an RR of under 0.75 or over 1.25 as a rough "
        "guide' to appreciable benefit or harm"
    ),
    "imprecision_rr_harm": "GRADE 6 (Guyatt 2011 JCE 64:1283) [V]: RR over 1.25 = appreciable harm",
    "ois_events": (
        "heuristic, NOT a GRADE rule ([U] as official GRADE; grading-verification.md 4c): inside "
        "GRADE 6's own range of ~250-630 events at control risk 0.12 (Core GRADE 2 Appendix 5 [V])"
    ),
    "ois_participants_total": (
        "Core GRADE 2 (BMJ 2025;389:e081904) [V]: '400 patients per group (total sample size "
        "800)' rule of thumb for continuous outcomes"
    ),
    "ois_severe_fraction": (
        "Core GRADE 2 Fig 4 [V]: N < 30% of OIS -> consider rating down two levels (GRADE 34 via "
        "Core GRADE 2 Appendix 5 says 30-50%)"
    ),
    "ci_ratio_rr": (
        "GRADE 34 (Zeng 2022 JCE 150:216) via Core GRADE 2 Appendix 5 [V]: upper/lower CI ratio "
        "> 3 for risk ratios -> rate down two levels"
    ),
    "ci_ratio_or": (
        "GRADE 34 via Core GRADE 2 Appendix 5 [V]: upper/lower CI ratio > 2.5 for odds ratios "
        "-> rate down two levels"
    ),
    "imprecision_not_estimable": (
        "evigap convention: no numeric result at all -> 'extremely serious' (-3), GRADE's term for "
        "three levels (GRADE note 2020; Core GRADE 1 'rarely, extremely serious') [V]"
    ),
    "large_effect_rr": (
        "GRADE 9 (Guyatt 2011 JCE 64:1311) [V]: at least two-fold reduction or increase in risk "
        "-> +1; Morgan 2016 table (PMC10895515 Table 5) [V]: RR > 2 or < 0.5"
    ),
    "very_large_effect_rr": (
        "GRADE 9 [V]: at least five-fold -> +2; PMC10895515 Table 5 [V]: RR > 5 or < 0.2 with "
        "no serious risk-of-bias or precision problems"
    ),
    "dose_response_alpha": (
        "GRADE 9 / Handbook 5.1 Table 12.2.c [V] name the dose-response gradient; the test (fixed-"
        "effect meta-regression slope on 'dose', two-sided p below this level) is evigap's"
    ),
    "dose_response_min_levels": (
        "evigap convention: a gradient needs at least this many dose levels"
    ),
    "enable_plausible_confounding": (
        "Core GRADE 1 [V]: plausible-confounding up-rating 'has proved too difficult to apply and "
        "too rarely applicable' and was dropped; off by default (reviewer override only)"
    ),
    "egger_min_k": (
        "Cochrane Handbook 5.1 section 10.4.3.1 / Sterne et al. BMJ 2011;343:d4002: asymmetry "
        "tests only with at least 10 studies (page title read; threshold from those documents)"
    ),
    "egger_alpha": "Egger et al. BMJ 1997;315:629: asymmetry judged at p < 0.10",
    "translational_animal": (
        "GRADE 8 as summarised (bohrium.com) [V2]: 'Animal studies are usually rated down two "
        "levels for indirectness'; Core GRADE 5 has no animal rule [V]; configurable"
    ),
    "translational_in_vitro": (
        "evigap default: at least the animal step (grading-frameworks.md section 7: 'at least -2 "
        "and typically mechanistic only'); -3 = 'extremely serious'"
    ),
    "uprate_non_randomised_only": (
        "Core GRADE 1 [V]: rate up 'non-randomised studies (but not randomised controlled "
        "trials)'; PMC6692166 Table 1 footnote [V]: 'usually only applicable to observational "
        "studies without any reason for rating down'"
    ),
    "pool_method": "evigap default pooling: REML random effects (see evidence.pool)",
    "ci_method": "evigap default: Wald-type (z) confidence intervals",
    "level": "conventional 95% intervals (GRADE 6 uses the 95% CI)",
    "human_certainty_threshold": (
        "evigap convention for claims audits: a claim needs human evidence at or above this level"
    ),
    "loa_from_phase": (
        "BIO/Informa/QLS Clinical Development Success Rates 2011-2020 (Feb 2021) Figure 5b, all "
        "indications: LOA from phase I 7.9%, II 15.1%, III 52.4%, NDA/BLA 90.6% [V-repro; "
        "grading-verification.md 1.1]; preclinical 5%: Ineichen et al. PLoS Biol "
        "2024;22:e3002667 ('5% to regulatory approval') [V]"
    ),
    "loa_by_area": (
        "BIO/Informa/QLS 2011-2020 Figure 5b by disease area [V-repro; grading-verification.md "
        "1.1]; no dermatology or musculoskeletal area exists"
    ),
    "indication_area": (
        "ASSUMPTION, user-overridable: indication keyword -> BIO area (grading-verification.md 1.1 "
        "proposal for stroke/Parkinson's/COVID-19/ARDS; other indications fall back to 'All "
        "indications')"
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
    # risk of bias
    rob_share_threshold: float = 0.5
    # inconsistency
    i2_moderate: float = 40.0
    i2_considerable: float = 75.0
    heterogeneity_p: float = 0.10
    use_prediction_interval: bool = True
    # imprecision
    imprecision_rr_benefit: float = 0.75
    imprecision_rr_harm: float = 1.25
    ois_events: int = 300
    ois_participants_total: int = 800
    ois_severe_fraction: float = 0.30
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
        ):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, int) or not -3 <= val <= 0:
                raise InvalidParameterError(
                    f"The '{name}' setting of Scheme must be an integer step from -3 to 0. "
                    f"Got {val!r}."
                )
        for name in (
            "rob_share_threshold",
            "heterogeneity_p",
            "ois_severe_fraction",
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
        for name in ("ois_events", "ois_participants_total", "egger_min_k"):
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
            rows.append({
                "setting": name,
                "value": value,
                "default": default,
                "changed": name not in defaults or value != default,
                "source": self.source(name.split(".", 1)[0]),
            })
        return pd.DataFrame(rows, columns=["setting", "value", "default", "changed", "source"])

    def summary(self) -> str:
        """Plain text: every scalar setting with its value and cited source (changes marked *)."""
        frame = self.to_frame()
        scalar = frame[~frame["setting"].str.contains(".", regex=False)]
        n_changed = int(frame["changed"].sum())
        lines = [f"Grading scheme: {len(frame)} settings, {n_changed} changed from the defaults "
                 "(marked *)."]
        width = max(len(s) for s in scalar["setting"])
        for r in scalar.itertuples(index=False):
            mark = "*" if r.changed else " "
            lines.append(f"{mark} {r.setting:<{width}} = {r.value!s:<10} [{r.source}]")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        n_changed = int(self.to_frame()["changed"].sum())
        return (f"<p><b>Scheme</b> ({escape(str(n_changed))} setting(s) changed from the "
                f"defaults)</p>" + self.to_frame().to_html(index=False, escape=True))

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
