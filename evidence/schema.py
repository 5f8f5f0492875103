"""The study-record schema: one row per study x outcome x comparison.

This module is the single source of truth for column names, types and closed
vocabularies.  ``data/SCHEMA.md`` (the data dictionary) is generated from it
by :func:`data_dictionary`, and ``evigap template`` writes its columns.
"""

from __future__ import annotations

from dataclasses import dataclass

from evidence import measures as _measures

__all__ = [
    "Column",
    "COLUMNS",
    "COLUMN_NAMES",
    "REQUIRED_COLUMNS",
    "STREAMS",
    "MODELS",
    "MODEL_STREAM",
    "HUMAN_MODELS",
    "ANIMAL_MODELS",
    "DATA_TYPES",
    "MEASURES",
    "RATIO_MEASURES",
    "OUTCOME_DIRECTIONS",
    "OUTCOME_KINDS",
    "OUTCOME_LEVELS",
    "ROB_JUDGEMENTS",
    "indication_key",
]

STREAMS: tuple[str, ...] = ("in_vitro", "animal", "human")

ANIMAL_MODELS: tuple[str, ...] = (
    "mouse",
    "rat",
    "rabbit",
    "pig",
    "sheep",
    "dog",
    "non_human_primate",
    "other_animal",
    # a non-animal organism studied in vivo (plant, alga, fungus, bacterium, ...), named in
    # model_detail; it belongs to the non-human in vivo stream 'animal'
    "other_organism",
)

HUMAN_MODELS: tuple[str, ...] = (
    "phase_1",
    "phase_1_2",
    "phase_2",
    "phase_2_3",
    "phase_3",
    "phase_4",
    "cohort",
    "case_control",
    "cross_sectional",
    "case_series",
    "case_report",
    "adverse_event_report",
    # an interventional trial whose phase the source does not state (design in the
    # randomised/controlled/blinded columns), e.g. split-face cosmetic RCTs
    "clinical_trial",
)

#: Model tag -> the streams it may be used with.  ``meta_analysis`` marks an
#: aggregate record (a published pooled result over ``k_studies`` studies).
MODEL_STREAM: dict[str, tuple[str, ...]] = {
    "cell_culture": ("in_vitro",),
    **{m: ("animal",) for m in ANIMAL_MODELS},
    **{m: ("human",) for m in HUMAN_MODELS},
    "meta_analysis": STREAMS,
}
MODELS: tuple[str, ...] = tuple(MODEL_STREAM)

#: How the numeric result of a row is given.
#: counts      - events and totals per arm (2x2 table)
#: continuous  - mean, SD and n per arm
#: estimate    - a reported effect estimate with its CI and/or SE
#: single_arm  - events and total in one arm (uncontrolled series; proportion)
#: none        - no numeric result reported (e.g. a registered trial without results)
DATA_TYPES: tuple[str, ...] = ("counts", "continuous", "estimate", "single_arm", "none")

#: Effect measures (:mod:`evidence.measures` is their home: scales, back-transforms).  Ratio
#: measures are given on their natural scale in the sheet and stored on the log scale once
#: effect sizes are computed.
MEASURES: tuple[str, ...] = _measures.MEASURES
RATIO_MEASURES: tuple[str, ...] = _measures.RATIO_MEASURES

OUTCOME_DIRECTIONS: tuple[str, ...] = ("higher_is_better", "higher_is_worse")
OUTCOME_KINDS: tuple[str, ...] = ("benefit", "harm")

#: How clinically meaningful an outcome is, most meaningful first (the order the translational
#: gap uses to pick an indication's preclinical "promise").
OUTCOME_LEVELS: tuple[str, ...] = ("clinical", "functional", "surrogate", "mechanistic")

#: Overall and per-domain risk-of-bias judgements accepted in the sheet (the
#: tool-specific vocabularies live in ``grading.rob``; these are their union).
ROB_JUDGEMENTS: tuple[str, ...] = (
    "low",
    "some_concerns",
    "high",
    "unclear",
    "moderate",
    "serious",
    "critical",
    "no_information",
    "definitely_low",
    "probably_low",
    "probably_high",
    "definitely_high",
)


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the study sheet."""

    name: str
    dtype: str  # "string", "int", "float", "bool", "category"
    required: bool
    group: str
    description: str
    vocabulary: tuple[str, ...] | None = None


def _c(name, dtype, required, group, description, vocabulary=None) -> Column:
    return Column(name, dtype, required, group, description, vocabulary)


COLUMNS: tuple[Column, ...] = (
    # identity
    _c("study_id", "string", True, "identity", "Short unique study label, e.g. 'Lightner 2023'."),
    _c(
        "citation_key",
        "string",
        False,
        "identity",
        "Key of the study's entry in the bibliography (references.bib). Required in every row "
        "when a bibliography is given; without one, rows lacking it are counted in a warning "
        "(they cannot be traced to a source).",
    ),
    _c("year", "int", False, "identity", "Publication (or registration) year."),
    _c("registry_id", "string", False, "identity", "Trial registry id, e.g. 'NCT04493242'."),
    # what was studied
    _c("indication", "string", True, "question", "Condition or use studied, as free text."),
    _c(
        "indication_label",
        "string",
        False,
        "question",
        "Optional normalised indication label used for grouping (falls back to 'indication').",
    ),
    _c(
        "intervention",
        "string",
        False,
        "question",
        "The intervention, e.g. 'MSC-derived exosomes'.",
    ),
    _c(
        "intervention_source",
        "string",
        False,
        "question",
        "Source of the product, e.g. 'MSC', 'platelet', 'plant', 'adipose'.",
    ),
    _c("comparator", "string", False, "question", "Control condition, e.g. 'placebo', 'saline'."),
    _c(
        "comparison",
        "string",
        False,
        "question",
        "Label distinguishing several comparisons of one study and outcome "
        "(e.g. 'high dose vs placebo').",
    ),
    _c("outcome", "string", True, "question", "Outcome name, e.g. '60-day mortality'."),
    _c("timepoint", "string", False, "question", "When the outcome was measured, e.g. '28 days'."),
    _c(
        "outcome_direction",
        "category",
        False,
        "question",
        "Whether a higher value of the outcome is better or worse for the patient/animal.",
        OUTCOME_DIRECTIONS,
    ),
    _c(
        "outcome_kind",
        "category",
        True,
        "question",
        "Whether the outcome is a benefit (efficacy) or a harm (adverse event) outcome.",
        OUTCOME_KINDS,
    ),
    _c(
        "outcome_level",
        "category",
        False,
        "question",
        "How clinically meaningful the outcome is: 'clinical' (how a patient or animal feels, "
        "functions or survives: mortality, wound closure, hair regrowth seen by the patient), "
        "'functional' (organ or body function or structure: infarct volume, neurological score, "
        "lung function, scar area), 'surrogate' (a laboratory or imaging marker standing in for "
        "it: creatinine, collagen density, lung wet/dry ratio), 'mechanistic' (a pathway read-out: "
        "cytokine level, gene or protein expression, cell proliferation or migration in vitro).",
        OUTCOME_LEVELS,
    ),
    # stream and model
    _c("stream", "category", True, "model", "Evidence stream.", STREAMS),
    _c(
        "model",
        "category",
        True,
        "model",
        "Model tag: cell_culture; an animal species (other_animal for one not listed), or "
        "other_organism for a plant, alga, fungus or microbe studied in vivo (stream 'animal', "
        "the non-human in vivo stream; name it in model_detail); a human design/phase; or "
        "meta_analysis (an aggregate record, any stream).",
        MODELS,
    ),
    _c(
        "model_detail",
        "string",
        False,
        "model",
        "Cell type, strain, species or population detail, e.g. 'HaCaT keratinocytes', "
        "'db/db mice', 'Arabidopsis thaliana Col-0' (for other_animal and other_organism, the "
        "species).",
    ),
    _c(
        "k_studies",
        "int",
        False,
        "model",
        "Number of studies pooled, for model 'meta_analysis' (required there).",
    ),
    # design
    _c("randomised", "bool", False, "design", "Allocation was randomised."),
    _c("blinded", "bool", False, "design", "Outcome assessment (or participants) blinded."),
    _c(
        "controlled",
        "bool",
        False,
        "design",
        "A concurrent control group exists (false: single-arm).",
    ),
    _c(
        "within_subject",
        "bool",
        False,
        "design",
        "Split-body or within-subject design (e.g. split-face).",
    ),
    # data
    _c(
        "data_type",
        "category",
        True,
        "data",
        "How the numeric result is given; 'none' means no numeric result reported.",
        DATA_TYPES,
    ),
    _c(
        "measure",
        "category",
        False,
        "data",
        "Effect measure to compute (counts/continuous/single_arm) or that was reported (estimate). "
        "Ratio measures are entered on their natural scale.",
        MEASURES,
    ),
    _c(
        "events_int", "float", False, "data", "Events in the intervention arm (counts, single_arm)."
    ),
    _c("n_int", "float", False, "data", "Participants/animals/replicates in the intervention arm."),
    _c("events_ctrl", "float", False, "data", "Events in the control arm (counts)."),
    _c("n_ctrl", "float", False, "data", "Participants/animals/replicates in the control arm."),
    _c("mean_int", "float", False, "data", "Mean in the intervention arm (continuous)."),
    _c(
        "sd_int", "float", False, "data", "Standard deviation in the intervention arm (continuous)."
    ),
    _c("mean_ctrl", "float", False, "data", "Mean in the control arm (continuous)."),
    _c("sd_ctrl", "float", False, "data", "Standard deviation in the control arm (continuous)."),
    # continuous arms reported without an SD: one of these per arm instead of sd_*
    _c(
        "se_int",
        "float",
        False,
        "data",
        "Standard error of the intervention arm's mean, when the source gives no SD "
        "(continuous; SD = SE * sqrt(n_int)).",
    ),
    _c(
        "se_ctrl",
        "float",
        False,
        "data",
        "Standard error of the control arm's mean, when the source gives no SD (continuous; "
        "SD = SE * sqrt(n_ctrl)).",
    ),
    _c(
        "ci_low_int",
        "float",
        False,
        "data",
        "Lower limit of the CI of the intervention arm's mean at 'ci_level', when the source "
        "gives neither SD nor SE (continuous; SD = sqrt(n) * (upper - lower) / (2 t), t the "
        "(1 + level)/2 quantile of Student's t with n - 1 df, Cochrane Handbook 6.5.2.2).",
    ),
    _c("ci_high_int", "float", False, "data", "Upper limit of that CI (see 'ci_low_int')."),
    _c(
        "ci_low_ctrl",
        "float",
        False,
        "data",
        "Lower limit of the CI of the control arm's mean at 'ci_level' (see 'ci_low_int').",
    ),
    _c("ci_high_ctrl", "float", False, "data", "Upper limit of that CI (see 'ci_low_ctrl')."),
    _c(
        "median_int",
        "float",
        False,
        "data",
        "Median of the intervention arm, when the source gives no mean (continuous; with "
        "q1_int and q3_int). Such rows get no effect size unless "
        "study_effects(convert_medians=True) estimates mean and SD (Wan 2014).",
    ),
    _c("q1_int", "float", False, "data", "First quartile of the intervention arm."),
    _c("q3_int", "float", False, "data", "Third quartile of the intervention arm."),
    _c("median_ctrl", "float", False, "data", "Median of the control arm (see 'median_int')."),
    _c("q1_ctrl", "float", False, "data", "First quartile of the control arm."),
    _c("q3_ctrl", "float", False, "data", "Third quartile of the control arm."),
    _c("estimate", "float", False, "data", "Reported effect estimate, natural scale (estimate)."),
    _c("ci_low", "float", False, "data", "Lower confidence limit of the reported estimate."),
    _c("ci_high", "float", False, "data", "Upper confidence limit of the reported estimate."),
    _c(
        "ci_level",
        "float",
        False,
        "data",
        "Level of the reported CIs (the estimate's and the arms') as a fraction (default 0.95).",
    ),
    _c(
        "se",
        "float",
        False,
        "data",
        "Reported standard error of the estimate (log scale for ratios).",
    ),
    _c(
        "n_total",
        "float",
        False,
        "data",
        "Total participants/animals when arm sizes are not reported.",
    ),
    _c("dose", "float", False, "data", "Dose (for dose-response), in 'dose_unit'."),
    _c("dose_unit", "string", False, "data", "Unit of 'dose'."),
    _c(
        "result_text",
        "string",
        False,
        "data",
        "The result as printed in the source (quote), kept for records without usable numbers.",
    ),
    # risk of bias and context
    _c(
        "rob_tool",
        "string",
        False,
        "bias",
        "Risk-of-bias tool: rob2, robins_i, syrcle, ohat, in_vitro, generic.",
    ),
    _c(
        "rob_domains",
        "string",
        False,
        "bias",
        "Per-domain judgements as 'D1=low; D2=some_concerns; ...' (domain ids of the tool).",
    ),
    _c("rob_overall", "category", False, "bias", "Overall risk-of-bias judgement.", ROB_JUDGEMENTS),
    _c("funding", "string", False, "context", "Funding source, as reported."),
    _c("conflict_of_interest", "string", False, "context", "Declared conflicts of interest."),
    _c("where_read", "string", False, "context", "Where in the source each number was read."),
    _c("notes", "string", False, "context", "Free-text notes; 'not reported' for unknown fields."),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)


def indication_key(frame):
    """The grouping label per row: ``indication_label`` where given, else ``indication``."""
    if "indication_label" not in frame.columns:
        return frame["indication"].astype("string")
    label = frame["indication_label"].astype("string")
    missing = label.isna().to_numpy()
    if not missing.any():
        return label
    if missing.all():  # no label at all: fillna() would build a copy of the indications
        return frame["indication"].astype("string").rename(label.name)
    return label.fillna(frame["indication"].astype("string"))
