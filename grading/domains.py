"""The per-domain rules of the certainty engine, as pure functions of numbers.

Each rule returns a :class:`Judgement` (integer step, reason with the numbers, cited source).
Steps: 0/-1/-2/-3 for the down domains ('not serious', 'serious', 'very serious', 'extremely
serious'), 0/+1/+2 for the up domains.  :func:`grading.certainty.grade` gathers the numbers of
each body of evidence and calls these.

Scale conventions: ratio measures (RR, OR, HR, ROM) and PLO are on the log scale, so the null is
0 for every comparative measure.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evidence import trim_and_fill
from evidence.errors import EvidenceError
from evidence.internal import norm_ppf, norm_sf
from evidence.measures import SINGLE_GROUP_MEASURES, is_ratio, to_natural
from evidence.small_study import small_study_test
from grading.scheme import Scheme

__all__ = [
    "Judgement",
    "DOWN_DOMAINS",
    "UP_DOMAINS",
    "ALL_DOMAINS",
    "DOMAIN_LABELS",
    "BINARY_MEASURES",
    "BINARY_RATIO_MEASURES",
    "NONCOMPARATIVE_MEASURES",
    "NOT_ASSESSED",
    "Thresholds",
    "default_thresholds",
    "rr_to_or",
    "events_from_ci",
    "effect_size_class",
    "not_assessed",
    "judge_risk_of_bias",
    "judge_inconsistency",
    "judge_indirectness",
    "judge_translational",
    "judge_imprecision",
    "judge_publication_bias",
    "judge_large_effect",
    "judge_dose_response",
    "judge_plausible_confounding",
    "or_to_rr",
    "fmt_effect",
]

DOWN_DOMAINS: tuple[str, ...] = (
    "risk_of_bias",
    "inconsistency",
    "indirectness",
    "imprecision",
    "publication_bias",
)
UP_DOMAINS: tuple[str, ...] = ("large_effect", "dose_response", "plausible_confounding")
#: Output order: the five down domains, translational indirectness, the three up domains.
ALL_DOMAINS: tuple[str, ...] = (*DOWN_DOMAINS, "translational_indirectness", *UP_DOMAINS)
DOMAIN_LABELS: dict[str, str] = {
    "risk_of_bias": "Risk of bias",
    "inconsistency": "Inconsistency",
    "indirectness": "Indirectness",
    "imprecision": "Imprecision",
    "publication_bias": "Publication bias",
    "translational_indirectness": "Translational indirectness",
    "large_effect": "Large effect",
    "dose_response": "Dose-response gradient",
    "plausible_confounding": "Plausible confounding",
}
STEP_WORDS = {0: "not serious", -1: "serious", -2: "very serious", -3: "extremely serious"}

#: Measures of a binary (or time-to-event) outcome: events and risks apply.
BINARY_MEASURES = ("RR", "OR", "HR", "RD")
#: The ratio measures among them: GRADE's RR thresholds, OIS in events, large-effect rule.
BINARY_RATIO_MEASURES = tuple(m for m in BINARY_MEASURES if is_ratio(m))
NONCOMPARATIVE_MEASURES = SINGLE_GROUP_MEASURES


NOT_ASSESSED = "not assessed"


@dataclass(frozen=True)
class Judgement:
    """One domain judgement.

    ``step`` (int), ``reason`` (with the numbers), ``source`` (the publication behind the rule),
    ``word`` (the GRADE word: 'not serious', 'serious', ... for down domains, 'none', 'large',
    ... for up domains, or 'not assessed'; derived from ``step`` when not given),
    ``assessed`` (False: the domain could not be judged from the data: step 0, never a
    judgement), ``applicable`` (False: the domain does not apply to this body, e.g.
    inconsistency of a single study; such a domain does not make the body provisional) and
    ``provisional`` (a judgement made on part of the data, e.g. "risk of bias not assessed for
    2 of 5 studies": the body is provisional with this reason).
    """

    step: int
    reason: str
    source: str
    word: str | None = None
    assessed: bool = True
    applicable: bool = True
    provisional: str = ""

    @property
    def judgement(self) -> str:
        if not self.assessed:
            return NOT_ASSESSED
        if self.word is not None:
            return self.word
        return STEP_WORDS.get(self.step, str(self.step))


def not_assessed(reason: str, source: str, *, applicable: bool = True) -> Judgement:
    """A domain that could not be judged: step 0, word 'not assessed'."""
    return Judgement(0, f"not assessed: {reason}", source, NOT_ASSESSED, False, applicable)


def _f(x: float, digits: int = 2) -> str:
    if x is None or not math.isfinite(x):
        return "NA"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


def fmt_effect(measure: str, value: float) -> str:
    """A log-scale value on the natural scale for display (exp for ratio measures)."""
    return _f(to_natural(measure, value))


def _null_label(measure: str) -> str:
    return f"{measure}=1" if is_ratio(measure) else f"{measure}=0"


def _ci_text(measure: str, lo: float, hi: float, level: float) -> str:
    return f"{level * 100:.0f}% CI {fmt_effect(measure, lo)} to {fmt_effect(measure, hi)}"


# ---------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds on the analysis scale (log for ratio measures): effects below
    ``low`` or above ``high`` are appreciable (important); between them trivial.  ``label``
    says where they come from."""

    low: float
    high: float
    label: str
    source: str


def rr_to_or(risk_ratio: float, control_risk: float) -> float:
    """Odds ratio from a risk ratio and the control-group risk p0 (inverse of Zhang & Yu):
    ``OR = RR (1 - p0) / (1 - RR p0)``; infinite when ``RR p0 >= 1``."""
    denom = 1.0 - risk_ratio * control_risk
    return math.inf if denom <= 0 else risk_ratio * (1.0 - control_risk) / denom


def default_thresholds(
    measure: str | None,
    scheme: Scheme,
    given: tuple[float, float] | None = None,
    control_risk: float = math.nan,
) -> Thresholds | None:
    """Thresholds for ``measure``: ``given`` (natural scale, e.g. from the overrides file),
    else the scheme's RR 0.75/1.25 for RR/HR (GRADE 6/34) -- for OR the same risk ratios
    converted to odds ratios at the pooled control-group risk when it is known (GRADE 6
    states the thresholds as risk ratios) -- or +-``imprecision_smd_mid`` for SMD; ``None``
    for measures without a default MID (MD: set one per outcome)."""
    if given is not None and all(v is not None and math.isfinite(v) for v in given):
        lo, hi = given
        if is_ratio(measure):
            if not 0 < lo < 1 < hi:
                return None
            return Thresholds(
                math.log(lo),
                math.log(hi),
                f"{measure} {lo:g} / {hi:g} (given for this outcome)",
                "thresholds set for this outcome (sheet or overrides file)",
            )
        return Thresholds(
            lo,
            hi,
            f"{measure} {lo:g} / {hi:g} (given for this outcome)",
            "thresholds set for this outcome (sheet or overrides file)",
        )
    if measure in BINARY_RATIO_MEASURES:
        b, h = scheme.imprecision_rr_benefit, scheme.imprecision_rr_harm
        if measure == "OR" and math.isfinite(control_risk) and 0 < control_risk < 1:
            ob, oh = rr_to_or(b, control_risk), rr_to_or(h, control_risk)
            return Thresholds(
                math.log(ob),
                math.log(oh) if math.isfinite(oh) else math.inf,
                f"RR {b:g} / {h:g} = OR {ob:.3g} / {oh:.3g} at control risk {control_risk:.3f}",
                f"{scheme.source('imprecision_rr_benefit')}; RR->OR: Zhang J, Yu KF. JAMA "
                "1998;280:1690-1691",
            )
        return Thresholds(
            math.log(b),
            math.log(h),
            f"{measure} {b:g} / {h:g}",
            scheme.source("imprecision_rr_benefit"),
        )
    if measure in ("SMD", "SMDH"):
        m = scheme.imprecision_smd_mid
        return Thresholds(-m, m, f"SMD -{m:g} / {m:g}", scheme.source("imprecision_smd_mid"))
    return None


def effect_size_class(estimate: float, thr: Thresholds | None) -> str:
    """'trivial' (between the thresholds), 'below' or 'above'; without thresholds the sign
    (''below''/''above'', 'trivial' only for exactly 0)."""
    if thr is None:
        return "trivial" if estimate == 0 else ("below" if estimate < 0 else "above")
    if estimate <= thr.low:
        return "below"
    if estimate >= thr.high:
        return "above"
    return "trivial"


# ---------------------------------------------------------------------------- risk of bias

_ROBINS_ORDER = ("low", "moderate", "serious", "critical")


def _weighted_share(w: np.ndarray, mask: np.ndarray) -> float:
    return float(w[mask].sum())


def judge_risk_of_bias(
    classes: Sequence[str] | np.ndarray,
    weights: Sequence[float] | np.ndarray,
    scheme: Scheme,
    *,
    weight_kind: str = "inverse-variance weight",
    judgements: Sequence[str | None] | np.ndarray | None = None,
    robins: bool = False,
) -> Judgement:
    """Risk of bias of the body from the studies' overall judgements (GRADE 4, Handbook ch. 14).

    ``classes``: per study ``low``/``unclear``/``high`` or ``not assessed``; ``weights``
    non-negative (any scale).  Studies not assessed are left out of the shares (and named);
    when none is assessed the domain is not assessed.

    * RoB 2 / other tools: rate down one level when the share of the assessed weight from
      studies at high risk exceeds ``rob_share_threshold``, two when it reaches
      ``rob_very_serious_share``; mostly low or unclear ('some concerns') is not rated down
      (GRADE 4; Handbook ch. 14).
    * ROBINS-I bodies (``robins=True``, ``judgements`` the ROBINS-I levels): the level of the
      weighted median study (the worst level holding more than half of the weight, counted from
      the worst) maps to ``robins_moderate_step`` / ``robins_serious_step`` /
      ``robins_critical_step`` (GRADE 18).
    """
    src = scheme.source("rob_share_threshold")
    c = np.asarray(list(classes), dtype=object)
    if len(c) == 0:
        return not_assessed("no studies", src)
    assessed = c != NOT_ASSESSED
    n_na = int((~assessed).sum())
    if not assessed.any():
        return not_assessed(
            f"no risk-of-bias judgement recorded for the {len(c)} "
            f"stud{'y' if len(c) == 1 else 'ies'}",
            src,
        )
    w = np.asarray(weights, dtype=float)
    if len(w) != len(c) or not np.all(np.isfinite(w[assessed])) or w[assessed].sum() <= 0:
        w = np.ones(len(c))
        weight_kind = "equal weight per study"
    w = np.where(assessed, w, 0.0)
    w = w / w.sum()
    missing = (
        f"; {n_na} of {len(c)} studies without a risk-of-bias judgement (left out)" if n_na else ""
    )
    partial = f"risk of bias not assessed for {n_na} of {len(c)} studies" if n_na else ""
    if robins and judgements is not None:
        src = (
            f"{scheme.source('robins_moderate_step')}; {scheme.source('robins_serious_step')}; "
            f"{scheme.source('robins_critical_step')}"
        )
        j = np.array(
            [("no_information" if v is None else str(v)) for v in judgements], dtype=object
        )
        rank = np.array([_ROBINS_ORDER.index(v) if v in _ROBINS_ORDER else 1 for v in j])
        # the worst level holding more than half of the weight, counted from the worst
        level = 0
        for r in (3, 2, 1):
            if _weighted_share(w, assessed & (rank >= r)) > 0.5:
                level = r
                break
        counts = ", ".join(
            f"{int((assessed & (rank == r)).sum())} {_ROBINS_ORDER[r]}" for r in range(4)
        )
        step = {
            0: 0,
            1: scheme.robins_moderate_step,
            2: scheme.robins_serious_step,
            3: scheme.robins_critical_step,
        }[level]
        word = STEP_WORDS.get(step, "not serious")
        return Judgement(
            step,
            f"ROBINS-I: most of the {weight_kind} is from studies at {_ROBINS_ORDER[level]} "
            f"risk of bias or worse ({counts}){missing}; {_ROBINS_ORDER[level]} -> {word}",
            src,
            word,
            provisional=partial,
        )
    share_high = _weighted_share(w, c == "high")
    share_unclear = _weighted_share(w, c == "unclear")
    n_high, n_unc, n_low = (int((c == k).sum()) for k in ("high", "unclear", "low"))
    counts = f"{n_low} low, {n_unc} unclear/some concerns, {n_high} high risk"
    t, t2 = scheme.rob_share_threshold, scheme.rob_very_serious_share
    if share_high >= t2:
        return Judgement(
            -2,
            f"{share_high:.0%} of the {weight_kind} is from studies at high risk of bias "
            f"(>= {t2:.0%}; {counts}){missing}",
            f"{src}; {scheme.source('rob_very_serious_share')}",
            provisional=partial,
        )
    if share_high > t:
        return Judgement(
            -1,
            f"{share_high:.0%} of the {weight_kind} is from studies at high risk of bias "
            f"(> {t:.0%}; {counts}){missing}",
            src,
            provisional=partial,
        )
    return Judgement(
        0,
        f"{1 - share_high:.0%} of the {weight_kind} is from studies at low risk or with "
        f"some concerns ({share_unclear:.0%} some concerns/unclear; {counts}): not rated "
        f"down{missing}",
        src,
        provisional=partial,
    )


# ---------------------------------------------------------------------------- inconsistency


def judge_inconsistency(
    yi: Sequence[float],
    *,
    i2: float,
    q_p: float,
    ci_low: float,
    ci_high: float,
    pi_low: float,
    pi_high: float,
    measure: str,
    scheme: Scheme,
    aggregate: bool = False,
    vi: Sequence[float] | None = None,
    level: float = 0.95,
) -> Judgement:
    """GRADE 7: direction of the studies, overlap of their CIs, I2 and the Q test.

    * One study: not applicable.  Aggregate (meta-analysis) record: not assessed (its
      heterogeneity is not in the sheet).
    * I2 < ``i2_moderate``: not serious.
    * ``i2_moderate`` <= I2 < ``i2_considerable`` (or Q p >= ``heterogeneity_p``): serious when
      studies are significant in opposite directions (CIs that do not overlap), or when the
      prediction interval crosses the null while the CI does not and Q p < ``heterogeneity_p``.
    * I2 >= ``i2_considerable`` with Q p < ``heterogeneity_p``: serious; very serious when
      studies are significant in opposite directions.
    """
    src = f"{scheme.source('i2_moderate')}; {scheme.source('i2_considerable')}"
    k = len(yi)
    if aggregate:
        return not_assessed(
            "aggregate (meta-analysis) record; its heterogeneity statistics are not in the "
            "study sheet (check the source and record a judgement in the overrides)",
            src,
        )
    if k == 0:
        return not_assessed("no numeric results", src)
    if k < 2:
        return not_assessed("single study (inconsistency not applicable)", src, applicable=False)
    y = np.asarray(yi, dtype=float)
    comparative = measure not in NONCOMPARATIVE_MEASURES
    n_pos, n_neg = int((y > 0).sum()), int((y < 0).sum())
    sig_pos = sig_neg = 0
    if vi is not None and comparative:
        z = float(norm_ppf(0.5 + level / 2))
        se = np.sqrt(np.asarray(vi, dtype=float))
        sig_pos = int((y - z * se > 0).sum())
        sig_neg = int((y + z * se < 0).sum())
    opposite = comparative and sig_pos > 0 and sig_neg > 0
    if not comparative:
        direction = "no comparator (direction not assessed)"
    elif opposite:
        direction = (
            f"studies significant in opposite directions ({sig_neg} below, {sig_pos} "
            "above the null; their CIs do not overlap)"
        )
    else:
        direction = (
            f"point estimates {n_neg} below / {n_pos} above the null, no studies "
            "significant in opposite directions"
        )
    ci_crosses = ci_low < 0 < ci_high
    pi_crosses = (
        comparative
        and scheme.use_prediction_interval
        and math.isfinite(pi_low)
        and math.isfinite(pi_high)
        and pi_low < 0 < pi_high
        and not ci_crosses
    )
    i2_txt = f"I2 = {_f(i2, 0)}%"
    qp_txt = f"Q-test p = {_f(q_p, 3)}"
    if not math.isfinite(i2):
        return not_assessed(f"I2 not available (k = {k})", src)
    if i2 < scheme.i2_moderate:
        return Judgement(0, f"{i2_txt} (< {scheme.i2_moderate:g}%), {qp_txt}; {direction}", src)
    low_p = math.isfinite(q_p) and q_p < scheme.heterogeneity_p
    if i2 >= scheme.i2_considerable and low_p:
        step = -2 if opposite else -1
        return Judgement(
            step,
            f"{i2_txt} (>= {scheme.i2_considerable:g}%) with {qp_txt} (< "
            f"{scheme.heterogeneity_p:g}); {direction}",
            src,
        )
    band = f"{i2_txt} ({qp_txt})"
    if opposite:
        return Judgement(-1, f"{band}; {direction}", src)
    if pi_crosses and low_p:
        return Judgement(
            -1,
            f"{band}; {direction}, but the prediction interval "
            f"{fmt_effect(measure, pi_low)} to {fmt_effect(measure, pi_high)} crosses "
            f"{_null_label(measure)}",
            f"{src}; {scheme.source('use_prediction_interval')}",
        )
    return Judgement(0, f"{band}; {direction}: not rated down", src)


# ---------------------------------------------------------------------------- indirectness

_G8 = "GRADE 8: Guyatt GH et al. J Clin Epidemiol 2011;64:1303-1310"


def judge_indirectness(
    stream: str, scheme: Scheme, *, outcome_levels: Sequence[str | None] = ()
) -> Judgement:
    """Within-stream indirectness (GRADE 8) from what the sheet records.

    The sheet records the outcome level (``outcome_level``): a body whose records are mostly
    surrogate or mechanistic outcomes is rated down one level (surrogate outcome, GRADE 8).
    Population, intervention and comparator directness are not recorded in the sheet, so
    otherwise the domain is not assessed (a reviewer records it in the overrides).
    """
    levels = [str(v) for v in outcome_levels if v is not None and str(v) not in ("", "nan")]
    if levels:
        n_sur = sum(v in ("surrogate", "mechanistic") for v in levels)
        if n_sur * 2 > len(levels):
            return Judgement(
                -1,
                f"surrogate outcome: {n_sur} of {len(levels)} records measure a surrogate "
                "or mechanistic outcome level; population, intervention and comparator "
                "not recorded",
                _G8,
            )
        return not_assessed(
            f"outcome level recorded ({len(levels) - n_sur} of {len(levels)} records clinical "
            "or functional), but population, intervention and comparator directness are not "
            "recorded in the sheet: record a judgement in the overrides",
            _G8,
        )
    return not_assessed(
        f"population, intervention, comparator and outcome directness of the {stream} studies "
        "are not recorded in the sheet: record a judgement in the overrides",
        _G8,
    )


def judge_translational(stream: str, question: str | None, scheme: Scheme) -> Judgement:
    """Indirectness of a preclinical stream for a human question (separate from within-stream)."""
    if question is None or question == stream:
        return Judgement(
            0,
            f"not applicable: {stream} evidence for a {question or 'stream'} question",
            _G8,
            "not serious",
            True,
            False,
        )
    if question == "human" and stream in ("animal", "in_vitro"):
        name = "translational_animal" if stream == "animal" else "translational_in_vitro"
        step = getattr(scheme, name)
        what = "animal" if stream == "animal" else "cell-culture"
        return Judgement(
            step,
            f"{what} evidence for a human question: rated {step} ({STEP_WORDS[step]}) for "
            "translation",
            scheme.source(name),
        )
    return Judgement(
        0,
        f"not applicable: {stream} evidence for a {question} question",
        _G8,
        "not serious",
        True,
        False,
    )


# ---------------------------------------------------------------------------- imprecision


def events_from_ci(measure: str | None, se: float, estimate: float, n_participants: float) -> float:
    """Total events of a two-arm RR body reconstructed from its standard error and size.

    With equal arms of n/2 and control risk p0, ``var(log RR) = (2/n) ((1 - RR p0)/(RR p0) +
    (1 - p0)/p0)``, so ``p0 = (1/RR + 1) / (var n / 2 + 2)`` and events = ``n/2 p0 (1 + RR)``
    (delta method, as ``escalc(measure="RR")``).  NaN for other measures or when the solution
    is not a risk.
    """
    if measure != "RR" or not (
        math.isfinite(se)
        and se > 0
        and math.isfinite(estimate)
        and math.isfinite(n_participants)
        and n_participants > 0
    ):
        return math.nan
    rr = math.exp(estimate)
    p0 = (1 / rr + 1) / (se * se * n_participants / 2 + 2)
    if not (0 < p0 < 1 and rr * p0 < 1):
        return math.nan
    return n_participants / 2 * p0 * (1 + rr)


_HOOIJMANS = "Hooijmans CR et al. PLoS One 2018;13:e0187271"


def judge_imprecision(
    *,
    measure: str | None,
    estimate: float,
    ci_low: float,
    ci_high: float,
    n_events: float,
    n_participants: float,
    k: int,
    scheme: Scheme,
    level: float = 0.95,
    n_records: int = 0,
    stream: str = "human",
    thresholds: Thresholds | None = None,
    events_estimated: bool = False,
) -> Judgement:
    """Imprecision by the minimally contextualised approach (GRADE 6, GRADE 34, Core GRADE 2).

    The target follows the point estimate: an important effect (beyond a threshold) is judged
    against the null -- serious when the CI crosses the null, very serious when it also reaches
    an appreciable effect in the other direction; a trivial effect (between the thresholds) is
    judged against the thresholds on either side -- serious when the CI crosses one, very
    serious when it crosses both.  Without thresholds (e.g. MD with no MID given) the CI is
    judged against the null.  Thresholds: :func:`default_thresholds`.

    Then the optimal information size (human bodies): total events (binary) or participants
    against ``ois_events`` / ``ois_participants_total``; below the OIS serious, below
    ``ois_severe_fraction`` of it very serious; a CI crossing both thresholds (or the null and
    the opposite threshold) with information below ``ois_extreme_fraction`` of the OIS is
    extremely serious (GRADE 34).  ``events_estimated``: ``n_events`` was reconstructed
    (:func:`events_from_ci`), said so.  Without counts, ratio measures use the
    upper/lower CI ratio (GRADE 34: above ``ci_ratio_rr`` / ``ci_ratio_or`` the OIS is not met),
    other measures leave the OIS not assessed.  Animal and in vitro bodies are judged on the CI
    only: the human OIS is not applied (Hooijmans 2018).  The step is the more severe of the CI
    and OIS steps.
    """
    src_ci = (
        "GRADE 6: Guyatt GH et al. J Clin Epidemiol 2011;64:1283-1293; GRADE 34: Zeng L "
        "et al. J Clin Epidemiol 2022;150:216-224; Core GRADE 2: Guyatt GH et al. BMJ "
        "2025;389:e081904"
    )
    if measure is None or not (
        math.isfinite(estimate) and math.isfinite(ci_low) and math.isfinite(ci_high)
    ):
        step = scheme.imprecision_not_estimable
        return Judgement(
            step,
            f"no confidence interval for the estimate; rated {step} ({STEP_WORDS[step]})",
            scheme.source("imprecision_not_estimable"),
        )
    ci_txt = _ci_text(measure, ci_low, ci_high, level)
    parts: list[str] = []
    ci_step = 0
    if measure in NONCOMPARATIVE_MEASURES:
        return not_assessed(
            f"{ci_txt} for a proportion without a comparator: no effect threshold to judge "
            "the interval against (record a judgement in the overrides)",
            src_ci,
        )
    else:
        thr = thresholds if thresholds is not None else default_thresholds(measure, scheme)
        crosses_null = ci_low < 0 < ci_high
        if thr is None:
            ci_step = -1 if crosses_null else 0
            parts.append(
                f"{ci_txt} {'crosses' if crosses_null else 'excludes'} "
                f"{_null_label(measure)} (target: the null; no MID given for "
                f"{measure})"
            )
        else:
            src_ci = f"{src_ci}; thresholds: {thr.source}"
            cls = effect_size_class(estimate, thr)
            thr_txt = f"thresholds {fmt_effect(measure, thr.low)} / {fmt_effect(measure, thr.high)}"
            if cls == "trivial":
                below, above = ci_low < thr.low, ci_high > thr.high
                ci_step = -2 if (below and above) else (-1 if (below or above) else 0)
                what = (
                    "crosses both thresholds"
                    if below and above
                    else "crosses one threshold"
                    if below or above
                    else "lies between the thresholds"
                )
                parts.append(
                    f"point estimate {fmt_effect(measure, estimate)} is a trivial effect; "
                    f"target: {thr_txt}; {ci_txt} {what}"
                )
            else:
                other = thr.high if cls == "below" else thr.low
                reaches_other = ci_high > other if cls == "below" else ci_low < other
                if crosses_null and reaches_other:
                    ci_step = -2
                    what = (
                        f"crosses {_null_label(measure)} and includes an appreciable effect "
                        f"in the other direction ({measure} {fmt_effect(measure, other)})"
                    )
                elif crosses_null:
                    ci_step = -1
                    what = f"crosses {_null_label(measure)}"
                else:
                    what = f"excludes {_null_label(measure)}"
                parts.append(
                    f"point estimate {fmt_effect(measure, estimate)} is an important "
                    f"effect ({thr_txt}); target: the null; {ci_txt} {what}"
                )
    # optimal information size
    ois_step = 0
    binary = measure in BINARY_MEASURES
    if stream != "human":
        parts.append(
            f"OIS not applied to {stream.replace('_', ' ')} evidence (the human OIS "
            "does not transfer; judged on the CI)"
        )
        src = f"{src_ci}; {_HOOIJMANS}"
        return Judgement(min(ci_step, 0), "; ".join(parts), src)
    src_ois = ""
    if binary and math.isfinite(n_events):
        ois, have, unit = scheme.ois_events, n_events, "events"
        src_ois = scheme.source("ois_events")
    elif not binary and math.isfinite(n_participants) and measure not in NONCOMPARATIVE_MEASURES:
        ois, have, unit = scheme.ois_participants_total, n_participants, "participants"
        src_ois = scheme.source("ois_participants_total")
    else:
        ois = None
    if ois is not None:
        if events_estimated and unit == "events":
            unit = (
                "events (not recorded: reconstructed from the CI and "
                f"{n_participants:.0f} participants, equal arms assumed)"
            )
        if ci_step == -2 and have < scheme.ois_extreme_fraction * ois:
            ois_step = -3
            parts.append(
                f"OIS of {ois} {unit.split(' ')[0]} very far from met ({have:.0f} "
                f"{unit}, < {scheme.ois_extreme_fraction:.0%} of it) with a CI that "
                "crosses the thresholds: extremely serious"
            )
        elif have < scheme.ois_severe_fraction * ois:
            ois_step = -2
            parts.append(
                f"OIS of {ois} {unit.split(' ')[0]} far from met ({have:.0f} {unit}, "
                f"< {scheme.ois_severe_fraction:.0%} of it)"
            )
        elif have < ois:
            ois_step = -1
            parts.append(f"OIS of {ois} {unit.split(' ')[0]} not met ({have:.0f} {unit})")
        else:
            parts.append(f"OIS of {ois} {unit.split(' ')[0]} met ({have:.0f} {unit})")
        src_ois = f"{src_ois}; {scheme.source('ois_severe_fraction')}"
        if ois_step == -3:
            src_ois = f"{src_ois}; {scheme.source('ois_extreme_fraction')}"
    elif measure in BINARY_RATIO_MEASURES:
        ratio = math.exp(ci_high - ci_low)
        name = "ci_ratio_or" if measure == "OR" else "ci_ratio_rr"
        cut = getattr(scheme, name)
        src_ois = scheme.source(name)
        if ratio > cut:
            ois_step = -1
            parts.append(
                f"event counts not recorded; upper/lower CI ratio {ratio:.1f} > {cut:g}: "
                "OIS not met"
            )
        else:
            parts.append(
                f"event counts not recorded; upper/lower CI ratio {ratio:.1f} <= "
                f"{cut:g}: OIS taken as met"
            )
    elif measure not in NONCOMPARATIVE_MEASURES:
        parts.append("OIS not assessed (no participant counts recorded)")
        return Judgement(
            ci_step,
            "; ".join(parts) + (" (single study)" if k == 1 else ""),
            src_ci,
            provisional="optimal information size not assessed (no participant counts recorded)",
        )
    step = min(ci_step, ois_step)
    if k == 1:
        parts.append("single study")
    src = src_ci if not src_ois else f"{src_ci}; {src_ois}"
    partial = (
        "event counts not recorded (OIS judged from the CI ratio)"
        if ois is None and measure in BINARY_RATIO_MEASURES
        else "event counts not recorded (reconstructed from the CI)"
        if events_estimated
        else ""
    )
    return Judgement(step, "; ".join(parts), src, provisional=partial)


# ---------------------------------------------------------------------------- publication bias

_G5 = "GRADE 5: Guyatt GH et al. J Clin Epidemiol 2011;64:1277-1282"


def _conclusion(
    measure: str, est: float, lo: float, hi: float, thr: Thresholds | None
) -> tuple[str, bool]:
    return effect_size_class(est, thr), (lo < 0 < hi)


def judge_publication_bias(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    scheme: Scheme,
    *,
    aggregate: bool = False,
    n_unreported_registered: int = 0,
    measure: str | None = None,
    ni: Sequence[float] | np.ndarray | None = None,
    counts: tuple | None = None,
    estimate: float = math.nan,
    ci_low: float = math.nan,
    ci_high: float = math.nan,
    thresholds: Thresholds | None = None,
) -> Judgement:
    """Publication bias (GRADE 5; Sterne 2011; Zwetsloot 2017).

    * Aggregate record or fewer than ``egger_min_k`` studies: not assessed (a test is not
      meaningful; registered trials without results are named).
    * Otherwise the test suited to the measure (:func:`evidence.small_study.small_study_test`:
      Harbord/Peters for binary outcomes, the 1/sqrt(n) test for SMDs, Egger otherwise); a test
      that cannot be computed is 'not assessed' with its reason.
    * p >= ``egger_alpha``: not serious (undetected).  p < ``egger_alpha`` is a suggestion: the
      step is taken only when the small-study pattern would change the conclusion -- the
      trim-and-fill estimate falls in another effect class (against the imprecision
      thresholds) or its CI crosses the null while the pooled CI does not, or the regression's
      limit estimate for the largest studies does (not used for Harbord's test, whose
      intercept is on the score scale).  The reason shows the test, p and the adjusted
      estimates.
    """
    src = f"{scheme.source('egger_min_k')}; {scheme.source('egger_alpha')}"
    extra = ""
    if n_unreported_registered:
        extra = (
            f"; {n_unreported_registered} registered trial(s) without results: consider "
            "non-reporting bias"
        )
    if aggregate:
        return not_assessed(
            "aggregate (meta-analysis) record; small-study tests need study-level data" + extra, src
        )
    k = len(yi)
    if k < scheme.egger_min_k:
        return not_assessed(
            f"k = {k} < {scheme.egger_min_k}: too few studies for a test of "
            "small-study effects" + extra,
            src,
        )

    src = (
        f"{src}; Peters JL et al. JAMA 2006;295:676-680; Harbord RM et al. Stat Med "
        "2006;25:3443-3457; Zwetsloot PP et al. eLife 2017;6:e24260; " + _G5
    )
    try:
        res = small_study_test(
            measure or "", np.asarray(yi, float), np.asarray(vi, float), ni=ni, counts=counts
        )
    except EvidenceError as exc:
        return not_assessed(f"small-study test not estimable ({exc})" + extra, src)
    if not res.estimable:
        return not_assessed(f"{res.test} test not estimable: {res.note}" + extra, src)
    test = f"{res.test} test p = {res.p_value:.3f} (k = {k})"
    if res.p_value >= scheme.egger_alpha:
        return Judgement(
            0, f"{test}, >= {scheme.egger_alpha:g}: small-study effects undetected" + extra, src
        )
    # a suggestion: does the pattern change the conclusion?
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tf = trim_and_fill(np.asarray(yi, float), np.asarray(vi, float))
    except EvidenceError as exc:
        return Judgement(
            -1,
            f"{test}, < {scheme.egger_alpha:g}: small-study effects suggested; "
            f"trim-and-fill not estimable ({exc}): rated down" + extra,
            src,
        )
    m = measure or ""
    before = _conclusion(m, estimate, ci_low, ci_high, thresholds)
    adjusted = [("trim-and-fill", tf.estimate, tf.ci_low, tf.ci_high, f"{tf.k0} filled")]
    if res.test != "Harbord":  # Harbord's intercept is on the score scale, not an effect
        adjusted.append(
            (
                f"{res.test} limit (largest-studies)",
                res.limit_estimate,
                res.limit_ci_low,
                res.limit_ci_high,
                "regression intercept",
            )
        )
    texts, changed_by = [], []
    for name, est, lo, hi, note in adjusted:
        texts.append(
            f"{name} estimate {fmt_effect(m, est)} (95% CI {fmt_effect(m, lo)} to "
            f"{fmt_effect(m, hi)}, {note})"
        )
        after = _conclusion(m, est, lo, hi, thresholds)
        if after[0] != before[0] or (after[1] and not before[1]):
            changed_by.append(name)
    adj = "; ".join(texts) + f" against {fmt_effect(m, estimate)} pooled"
    if changed_by:
        return Judgement(
            -1,
            f"{test}, < {scheme.egger_alpha:g}: small-study effects; {adj}: "
            f"the {' and '.join(changed_by)} estimate changes the conclusion: "
            "rated down" + extra,
            src,
        )
    return Judgement(
        0,
        f"{test}, < {scheme.egger_alpha:g}: small-study effects suggested, but "
        f"{adj}: the conclusion is the same: not rated down" + extra,
        src,
    )


# ---------------------------------------------------------------------------- up domains


def or_to_rr(odds_ratio: float, control_risk: float) -> float:
    """Risk ratio from an odds ratio and the control-group risk p0:
    ``RR = OR / (1 - p0 + p0 * OR)`` (Zhang & Yu, JAMA 1998;280:1690)."""
    return odds_ratio / (1.0 - control_risk + control_risk * odds_ratio)


def judge_large_effect(
    *,
    measure: str | None,
    estimate: float,
    ci_low: float,
    ci_high: float,
    control_risk: float,
    scheme: Scheme,
) -> Judgement:
    """RR >= 5 or <= 0.2 -> +2; RR >= 2 or <= 0.5 -> +1 (GRADE 9), CI excluding the null.

    OR is converted to RR first with the pooled control-group risk; without a control risk the
    OR is not converted and no up-rating is suggested.  Measures other than RR/OR/HR: no GRADE
    numeric rule, 0.
    """
    src = f"{scheme.source('large_effect_rr')}; {scheme.source('very_large_effect_rr')}"
    if measure not in BINARY_RATIO_MEASURES or not math.isfinite(estimate):
        return not_assessed(f"no GRADE numeric rule for measure {measure or 'none'}", src)
    ratio = math.exp(estimate)
    lo, hi = math.exp(ci_low), math.exp(ci_high)
    how = f"{measure} {ratio:.2f}"
    if measure == "OR":
        if not (math.isfinite(control_risk) and 0 < control_risk < 1):
            return not_assessed(
                f"OR {ratio:.2f} not converted to RR (no control-group risk recorded); no "
                "up-rating suggested",
                src,
            )
        ratio = or_to_rr(ratio, control_risk)
        lo, hi = or_to_rr(lo, control_risk), or_to_rr(hi, control_risk)
        how = (
            f"OR {math.exp(estimate):.2f} = RR {ratio:.2f} at control risk {control_risk:.3f} "
            "(RR = OR / (1 - p0 + p0 x OR), Zhang J, Yu KF. JAMA 1998;280:1690)"
        )
        src += "; OR->RR: Zhang J, Yu KF. JAMA 1998;280:1690-1691"
    if lo <= 1 <= hi:
        return Judgement(0, f"{how}; CI {lo:.2f} to {hi:.2f} includes 1", src, "none")
    size = max(ratio, 1 / ratio)
    if size >= scheme.very_large_effect_rr:
        return Judgement(
            2, f"{how}: very large (>= {scheme.very_large_effect_rr:g}-fold)", src, "very large"
        )
    if size >= scheme.large_effect_rr:
        return Judgement(1, f"{how}: large (>= {scheme.large_effect_rr:g}-fold)", src, "large")
    return Judgement(0, f"{how}: less than {scheme.large_effect_rr:g}-fold", src, "none")


def judge_dose_response(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    dose: Sequence[float] | np.ndarray,
    *,
    pooled_estimate: float,
    scheme: Scheme,
) -> Judgement:
    """Fixed-effect meta-regression of yi on dose (weights 1/vi): +1 when the slope differs from
    0 at ``dose_response_alpha`` and points the same way as the pooled effect.

    Needs at least ``dose_response_min_levels`` distinct doses.
    """
    src = f"{scheme.source('dose_response_alpha')}; {scheme.source('dose_response_min_levels')}"
    y, v, d = (np.asarray(a, dtype=float) for a in (yi, vi, dose))
    ok = np.isfinite(y) & np.isfinite(v) & np.isfinite(d) & (v > 0)
    y, v, d = y[ok], v[ok], d[ok]
    levels = len(np.unique(d))
    if levels < scheme.dose_response_min_levels:
        return not_assessed(
            f"{levels} distinct dose level(s) with results (< {scheme.dose_response_min_levels})",
            src,
        )
    w = 1.0 / v
    dbar = np.sum(w * d) / np.sum(w)
    sxx = np.sum(w * (d - dbar) ** 2)
    slope = np.sum(w * (d - dbar) * y) / sxx
    se = math.sqrt(1.0 / sxx)
    z = slope / se

    p = float(2 * norm_sf(abs(z)))
    txt = f"slope {slope:.4g} per dose unit (z = {z:.2f}, p = {p:.3f}, {levels} dose levels)"
    if p < scheme.dose_response_alpha and np.sign(slope) == np.sign(pooled_estimate) != 0:
        return Judgement(1, f"{txt}: larger doses give larger effects", src, "present")
    return Judgement(0, f"{txt}: no gradient in the direction of the effect", src, "none")


def judge_plausible_confounding(scheme: Scheme) -> Judgement:
    """No automatic rule; off by default (Core GRADE 1 dropped it)."""
    if not scheme.enable_plausible_confounding:
        return not_assessed(
            "not used by default (Core GRADE dropped this up-rating); reviewer override only",
            scheme.source("enable_plausible_confounding"),
            applicable=False,
        )
    return not_assessed(
        "no automatic rule: a reviewer must judge whether all plausible confounding would "
        "reduce the effect (override to rate up)",
        "GRADE 9: Guyatt GH et al. J Clin Epidemiol 2011;64:1311-1316",
        applicable=False,
    )
