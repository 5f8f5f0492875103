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

from evidence._validate import check_choice, check_number, check_text
from evidence.schema import STREAMS
from grading.domains import NONCOMPARATIVE_MEASURES, Thresholds, effect_size_class
from grading.scheme import LEVELS

__all__ = ["informative_statement", "question_statement", "name_list", "STATEMENT_SOURCE"]

STATEMENT_SOURCE = "GRADE 26: Santesso N et al. J Clin Epidemiol 2020;119:126-135"

_VERBS = {
    "high": ("results in little to no difference in", "reduces", "increases"),
    "moderate": ("likely results in little to no difference in", "likely reduces",
                 "likely increases"),
    "low": ("may result in little to no difference in", "may reduce", "may increase"),
}
_CONTINUOUS = ("MD", "SMD", "SMDH", "ROM")
_PREFIX = {"animal": "In animal models, ", "in_vitro": "In cell culture, "}


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
        listed = (", ".join(forms[:-1]) + " or " + forms[-1] if rest <= 0 else
                  ", ".join(forms[:limit]) + f" or {rest} other form{'s' if rest > 1 else ''}")
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
) -> str:
    """GRADE 26 informative statement for one body in its own model.

    ``estimate``/``ci_low``/``ci_high`` are on the analysis scale (log for ratio measures);
    ``thresholds`` as :func:`grading.domains.default_thresholds` gives them (``None``: the
    default scheme's thresholds for ``measure``; the sign of the point estimate when the
    measure has none).  Animal and in vitro bodies are prefixed "In animal models," /
    "In cell culture,".  ``comparator`` adds "compared with ...".  For continuous measures
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
    prefix = _PREFIX.get(stream, "")
    who = intervention if not comparator else f"{intervention} compared with {comparator}"
    if measure is None or not math.isfinite(estimate):
        return _sentence(f"no study reported a numeric result for {outcome}: the effect of "
                         f"{who} on {outcome} is not estimable.", prefix)
    if level == "very low":
        return _sentence(f"the evidence is very uncertain about the effect of {who} on "
                         f"{outcome}.", prefix)
    if measure in NONCOMPARATIVE_MEASURES:
        return _sentence(f"without a comparator, the effect of {intervention} on {outcome} "
                         "cannot be stated (pooled proportion only).", prefix)
    if thresholds is None:
        from grading.domains import default_thresholds
        from grading.scheme import Scheme

        thresholds = default_thresholds(measure, Scheme())
    cls = effect_size_class(estimate, thresholds)
    verbs = _VERBS[level]
    verb = verbs[0] if cls == "trivial" else (verbs[1] if cls == "below" else verbs[2])
    note = ""
    if (cls != "trivial" and measure in _CONTINUOUS
            and outcome_direction in ("higher_is_better", "higher_is_worse")):
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
    model = {"animal": "animal", "in_vitro": "cell-culture"}.get(stream, stream)
    if level == "very low":
        return (f"For people, the evidence is very uncertain about the effect of {intervention} "
                f"on {outcome} ({model} evidence only: very low certainty for the human "
                "question).")
    return (f"For people, {model} evidence alone gives {level} certainty about the effect of "
            f"{intervention} on {outcome} (rated down for translation).")
