"""GRADE informative statements (GRADE 26: Santesso N et al. J Clin Epidemiol 2020;119:126-135).

The wording combines the certainty with the size of the point estimate against the decision
thresholds (the same thresholds as imprecision, :func:`grading.domains.default_thresholds`):

=========  =============================  ==========================================
certainty  important effect               trivial effect (between the thresholds)
=========  =============================  ==========================================
high       X reduces / increases Y        X results in little to no difference in Y
moderate   X likely reduces / increases   X likely results in little to no difference
low        X may reduce / increase        X may result in little to no difference
very low   The evidence is very uncertain about the effect of X on Y
=========  =============================  ==========================================

"Little to no difference" is keyed to the point estimate being trivial, not to a CI that
crosses the null (GRADE 26).  Without thresholds (e.g. MD with no MID) the direction of the
point estimate is used, and an estimate of exactly 0 is "little to no difference".

:func:`informative_statement` speaks of the body's own model ("In animal models, ...") with the
within-stream certainty; :func:`question_statement` says what the body means for the review's
(human) question with the certainty after the translational step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from evidence.internal import check_choice, check_number, check_text
from evidence.measures import MEASURE_INFO
from evidence.schema import STREAMS
from grading.domains import (
    NONCOMPARATIVE_MEASURES,
    Thresholds,
    default_thresholds,
    effect_size_class,
)
from grading.scheme import LEVELS, Scheme

__all__ = [
    "informative_statement",
    "question_statement",
    "name_list",
    "model_prefix",
    "STATEMENT_SOURCE",
    "NON_ANIMAL_MODELS",
]

STATEMENT_SOURCE = "GRADE 26: Santesso N et al. J Clin Epidemiol 2020;119:126-135"

_VERBS = {
    "high": ("results in little to no difference in", "reduces", "increases"),
    "moderate": (
        "likely results in little to no difference in",
        "likely reduces",
        "likely increases",
    ),
    "low": ("may result in little to no difference in", "may reduce", "may increase"),
}
_CONTINUOUS = tuple(n for n, m in MEASURE_INFO.items() if m.family == "mean")
_PREFIX = {"animal": "In animal models, ", "in_vitro": "In cell culture, "}
#: Model tags of organisms that are not animals (evidence.schema puts them in the animal
#: stream, evigap's non-human in vivo stream).
NON_ANIMAL_MODELS = frozenset({"other_organism"})


def _clean(values: Sequence[object] | None) -> list[str]:
    out = []
    for v in values or ():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        t = str(v).strip()  # pandas' NA reads "<NA>"
        if t and t.lower() not in ("nan", "none", "<na>"):
            out.append(t)
    return out


def model_prefix(
    stream: str,
    models: Sequence[object] | None = None,
    model_details: Sequence[object] | None = None,
) -> str:
    """The opening words of a statement in the body's own models.

    Animal stream: "In animal models, "; when every model of the body is a non-animal
    organism (``other_organism``: plants, microbes) "In non-animal organisms (<model_detail
    names>), "; animals and other organisms together "In animal models and other organisms, ".
    In vitro: "In cell culture, "; human: no prefix.  Without ``models`` the stream decides.
    """
    if stream != "animal":
        return _PREFIX.get(stream, "")
    ms = {m.lower() for m in _clean(models)}
    if not ms or not ms & NON_ANIMAL_MODELS:
        return _PREFIX["animal"]
    if ms <= NON_ANIMAL_MODELS | {"meta_analysis"}:
        details = _clean(model_details)
        named = f" ({name_list(details, default='', limit=3)})" if details else ""
        return f"In non-animal organisms{named}, "
    return "In animal models and other organisms, "


def model_word(stream: str, models: Sequence[object] | None = None) -> str:
    """'animal', 'non-animal organism', 'animal and other organism' or 'cell-culture'."""
    if stream == "in_vitro":
        return "cell-culture"
    if stream != "animal":
        return stream
    p = model_prefix(stream, models)
    return {
        "In animal models, ": "animal",
        "In animal models and other organisms, ": "animal and other organism",
    }.get(p, "non-animal organism")


def name_list(names: Sequence[str | None], *, default: str, limit: int = 3) -> str:
    """The distinct names of a whole body joined for a sentence ('A', 'A or B', 'A, B or C',
    'A, B, C or 2 others'), in order of frequency then first appearance; forms of one
    intervention ('NRT (gum)', 'NRT (patch)') as 'NRT (gum or patch)'."""
    counts: dict[str, int] = {}
    for n in names:
        if n is None or (isinstance(n, float) and math.isnan(n)):
            continue
        text = str(n).strip()
        if text and text.lower() not in ("nan", "none", "<na>"):
            counts[text] = counts.get(text, 0) + 1
    if not counts:
        return default
    order = sorted(counts, key=lambda k: -counts[k])  # stable: first appearance on ties
    if len(order) == 1:
        return order[0]
    bases = {n.split(" (", 1)[0] for n in order}
    if len(bases) == 1 and all(" (" in n and n.endswith(")") for n in order):
        # one intervention in several forms: "NRT (gum, patch or 9 other forms)"
        forms = [n.split(" (", 1)[1][:-1] for n in order]
        rest = len(forms) - limit
        listed = (
            ", ".join(forms[:-1]) + " or " + forms[-1]
            if rest <= 0
            else ", ".join(forms[:limit]) + f" or {rest} other form{'s' if rest > 1 else ''}"
        )
        return f"{bases.pop()} ({listed})"
    if len(order) <= limit:
        return ", ".join(order[:-1]) + " or " + order[-1]
    rest = len(order) - limit
    return ", ".join(order[:limit]) + f" or {rest} other{'s' if rest > 1 else ''}"


def _sentence(text: str, prefix: str) -> str:
    return prefix + text if prefix else text[0].upper() + text[1:]


def informative_statement(
    level: str,
    *,
    intervention: str,
    outcome: str,
    measure: str | None,
    estimate: float,
    ci_low: float,
    ci_high: float,
    stream: str = "human",
    comparator: str | None = None,
    thresholds: Thresholds | None = None,
    outcome_direction: str | None = None,
    models: Sequence[object] | None = None,
    model_details: Sequence[object] | None = None,
) -> str:
    """GRADE 26 informative statement for one body in its own model.

    ``estimate``/``ci_low``/``ci_high`` are on the analysis scale (log for ratio measures);
    ``thresholds`` as :func:`grading.domains.default_thresholds` gives them (``None``: the
    default scheme's thresholds for ``measure``; the sign of the point estimate when the
    measure has none).  Animal and in vitro bodies are prefixed "In animal models," /
    "In cell culture,"; the body's ``models`` (and ``model_details``) refine the animal
    prefix: a body of non-animal organisms only (``other_organism``: plants, microbes) reads
    "In non-animal organisms (<model_detail names>)," (:func:`model_prefix`).
    ``comparator`` adds "compared with ...".  For continuous measures
    with a known ``outcome_direction`` (``higher_is_better`` / ``higher_is_worse``) the
    statement says whether the change is an improvement or a worsening, so a lower score on a
    higher-is-worse scale (SGRQ) is not read as less quality of life.
    """
    func = "informative_statement"
    level = check_choice(level, "level", func, LEVELS)
    stream = check_choice(stream, "stream", func, STREAMS)
    check_text(intervention, "intervention", func)
    check_text(outcome, "outcome", func)
    if measure is not None and not (isinstance(measure, float) and math.isnan(measure)):
        check_text(measure, "measure", func, optional=True)
    else:
        measure = None
    estimate = check_number(estimate, "estimate", func)
    ci_low = check_number(ci_low, "ci_low", func)
    ci_high = check_number(ci_high, "ci_high", func)
    prefix = model_prefix(stream, models, model_details)
    who = intervention if not comparator else f"{intervention} compared with {comparator}"
    if measure is None or not math.isfinite(estimate):
        return _sentence(
            f"no study reported a numeric result for {outcome}: the effect of "
            f"{who} on {outcome} is not estimable.",
            prefix,
        )
    if level == "very low":
        return _sentence(
            f"the evidence is very uncertain about the effect of {who} on {outcome}.", prefix
        )
    if measure in NONCOMPARATIVE_MEASURES:
        return _sentence(
            f"without a comparator, the effect of {intervention} on {outcome} "
            "cannot be stated (pooled proportion only).",
            prefix,
        )
    if thresholds is None:
        thresholds = default_thresholds(measure, Scheme())
    cls = effect_size_class(estimate, thresholds)
    verbs = _VERBS[level]
    verb = verbs[0] if cls == "trivial" else (verbs[1] if cls == "below" else verbs[2])
    note = ""
    if (
        cls != "trivial"
        and measure in _CONTINUOUS
        and outcome_direction in ("higher_is_better", "higher_is_worse")
    ):
        better = (cls == "above") == (outcome_direction == "higher_is_better")
        note = " (an improvement)" if better else " (a worsening)"
    return f"{prefix}{who} {verb} {outcome}{note}."


def question_statement(
    level: str | None,
    *,
    stream: str,
    intervention: str,
    outcome: str,
    own_statement: str,
    question: str | None = "human",
    models: Sequence[object] | None = None,
) -> str:
    """What a body means for the review's question, with the certainty for that question.

    A human body for a human question repeats its own statement; an animal or in vitro body
    says that its certainty for the human question is ``level`` (after the translational
    step) and, at very low, that the evidence is very uncertain for people.
    """
    if level is None:
        return own_statement
    if question is None or stream == question:
        return own_statement
    model = model_word(stream, models)
    if level == "very low":
        return (
            f"For people, the evidence is very uncertain about the effect of {intervention} "
            f"on {outcome} ({model} evidence only: very low certainty for the human "
            "question)."
        )
    return (
        f"For people, {model} evidence alone gives {level} certainty about the effect of "
        f"{intervention} on {outcome} (rated down for translation)."
    )
