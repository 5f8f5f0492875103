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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grading.scheme import Scheme

__all__ = [
    "Judgement",
    "DOWN_DOMAINS",
    "UP_DOMAINS",
    "ALL_DOMAINS",
    "DOMAIN_LABELS",
    "BINARY_MEASURES",
    "NONCOMPARATIVE_MEASURES",
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

BINARY_MEASURES = ("RR", "OR", "HR", "RD")
NONCOMPARATIVE_MEASURES = ("PLO", "PR")
_RATIO = ("RR", "OR", "HR", "ROM")


@dataclass(frozen=True)
class Judgement:
    """One domain judgement: ``step`` (int), ``reason`` (with the numbers), ``source``."""

    step: int
    reason: str
    source: str


def _f(x: float, digits: int = 2) -> str:
    if x is None or not math.isfinite(x):
        return "NA"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


def fmt_effect(measure: str, value: float) -> str:
    """A log-scale value on the natural scale for display (exp for ratio measures)."""
    if measure in _RATIO:
        return _f(math.exp(value))
    if measure == "PLO":
        return _f(1.0 / (1.0 + math.exp(-value)))
    return _f(value)


def _null_label(measure: str) -> str:
    return f"{measure}=1" if measure in _RATIO else f"{measure}=0"


def _ci_text(measure: str, lo: float, hi: float, level: float) -> str:
    return f"{level * 100:.0f}% CI {fmt_effect(measure, lo)} to {fmt_effect(measure, hi)}"


# ---------------------------------------------------------------------------- risk of bias

def judge_risk_of_bias(
    classes: Sequence[str],
    weights: Sequence[float],
    scheme: Scheme,
    *,
    weight_kind: str = "inverse-variance weight",
) -> Judgement:
    """Share of weight from studies at high / not-low risk of bias.

    ``classes`` are per-study classes ``low``/``unclear``/``high`` (see
    :func:`grading.rob.judgement_class`); ``weights`` non-negative (any scale).
    -2 when the share at high risk exceeds ``rob_share_threshold``; -1 when the share not at
    low risk (high + unclear) exceeds it; else 0.
    """
    src = scheme.source("rob_share_threshold")
    if len(classes) == 0:
        return Judgement(0, "no studies", src)
    w = np.asarray(weights, dtype=float)
    if not np.all(np.isfinite(w)) or w.sum() <= 0:
        w = np.ones(len(classes))
        weight_kind = "equal weight per study"
    w = w / w.sum()
    c = np.asarray(classes)
    share_high = float(w[c == "high"].sum())
    share_unclear = float(w[c == "unclear"].sum())
    share_not_low = share_high + share_unclear
    n_high, n_unc, n_low = int((c == "high").sum()), int((c == "unclear").sum()), int(
        (c == "low").sum()
    )
    counts = f"{n_low} low, {n_unc} unclear/some concerns, {n_high} high risk"
    t = scheme.rob_share_threshold
    if share_high > t:
        return Judgement(
            -2,
            f"{share_high:.0%} of the {weight_kind} comes from studies at high risk of bias "
            f"(> {t:.0%}; {counts})",
            src,
        )
    if share_not_low > t:
        return Judgement(
            -1,
            f"{share_not_low:.0%} of the {weight_kind} comes from studies not at low risk of "
            f"bias (> {t:.0%}; {counts})",
            src,
        )
    return Judgement(
        0,
        f"{1 - share_not_low:.0%} of the {weight_kind} comes from studies at low risk of bias "
        f"({counts})",
        src,
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
) -> Judgement:
    """I2 bands x direction agreement (PMC7195185 matrix), plus the prediction interval.

    * k < 2: not assessable, 0.  Aggregate (meta-analysis) record: heterogeneity not in the
      sheet, 0 with that reason.
    * I2 < ``i2_moderate``: 0.
    * ``i2_moderate`` <= I2 < ``i2_considerable`` (or I2 >= considerable with Q p >=
      ``heterogeneity_p``): -1 if point estimates fall on both sides of the null, or (same
      direction) if the prediction interval crosses the null while the CI does not; else 0.
    * I2 >= ``i2_considerable`` and Q p < ``heterogeneity_p``: -1 same direction, -2 different.
    """
    src = f"{scheme.source('i2_moderate')}; {scheme.source('i2_considerable')}"
    k = len(yi)
    if aggregate:
        return Judgement(
            0,
            "not assessed: aggregate (meta-analysis) record; its heterogeneity statistics are not "
            "in the study sheet (check the source and override if it reports important "
            "heterogeneity)",
            src,
        )
    if k == 0:
        return Judgement(0, "not assessable: no numeric results", src)
    if k < 2:
        return Judgement(0, "not assessable: single study", src)
    y = np.asarray(yi, dtype=float)
    comparative = measure not in NONCOMPARATIVE_MEASURES
    n_pos, n_neg = int((y > 0).sum()), int((y < 0).sum())
    differ = comparative and n_pos > 0 and n_neg > 0
    direction = (
        f"point estimates on both sides of the null ({n_neg} below, {n_pos} above)"
        if differ
        else "point estimates in the same direction"
        if comparative
        else "no comparator (direction not assessed)"
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
        return Judgement(0, f"not assessable: I2 not available (k = {k})", src)
    if i2 < scheme.i2_moderate:
        return Judgement(0, f"{i2_txt} (< {scheme.i2_moderate:g}%); {direction}", src)
    considerable = i2 >= scheme.i2_considerable and math.isfinite(q_p) and (
        q_p < scheme.heterogeneity_p
    )
    if considerable:
        step = -2 if differ else -1
        return Judgement(
            step,
            f"{i2_txt} (>= {scheme.i2_considerable:g}%) with {qp_txt} (< "
            f"{scheme.heterogeneity_p:g}); {direction}",
            src,
        )
    band = f"{i2_txt} ({scheme.i2_moderate:g}-{scheme.i2_considerable:g}% band, {qp_txt})"
    if differ:
        return Judgement(-1, f"{band}; {direction}", src)
    if pi_crosses:
        return Judgement(
            -1,
            f"{band}; {direction}, but the prediction interval "
            f"{fmt_effect(measure, pi_low)} to {fmt_effect(measure, pi_high)} crosses "
            f"{_null_label(measure)}",
            f"{src}; {scheme.source('use_prediction_interval')}",
        )
    return Judgement(0, f"{band}; {direction}", src)


# ---------------------------------------------------------------------------- indirectness

def judge_indirectness(stream: str, scheme: Scheme) -> Judgement:
    """Within-stream indirectness has no numeric rule: 0 with a prompt to judge the PICO."""
    return Judgement(
        0,
        f"no automatic rule: judge population, intervention, comparator and outcome of the "
        f"{stream} studies against the review question and override to rate down",
        "GRADE 8 (Guyatt 2011 JCE 64:1303) [V, abstract]; Core GRADE 5 (BMJ 2025;389:e083865) "
        "Table 2 [V]",
    )


def judge_translational(stream: str, question: str | None, scheme: Scheme) -> Judgement:
    """Indirectness of a preclinical stream for a human question (separate from within-stream)."""
    if question is None or question == stream:
        return Judgement(0, f"not applicable: {stream} evidence for a {question or 'stream'} "
                            "question", "evigap convention")
    if question == "human" and stream == "animal":
        step = scheme.translational_animal
        return Judgement(
            step,
            f"animal evidence for a human question: rated {step} ({STEP_WORDS[step]}) for "
            "translation",
            scheme.source("translational_animal"),
        )
    if question == "human" and stream == "in_vitro":
        step = scheme.translational_in_vitro
        return Judgement(
            step,
            f"cell-culture evidence for a human question: rated {step} ({STEP_WORDS[step]}) for "
            "translation",
            scheme.source("translational_in_vitro"),
        )
    return Judgement(0, f"not applicable: {stream} evidence for a {question} question",
                     "evigap convention")


# ---------------------------------------------------------------------------- imprecision

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
) -> Judgement:
    """CI against the null and the appreciable-effect thresholds, then the OIS.

    * No estimate: ``imprecision_not_estimable`` (default -3) 'not estimable'.
    * Ratio measures (RR/OR/HR): CI crossing the null -> -1; crossing both RR 0.75 and 1.25
      -> -2; upper/lower CI ratio >= 3 (RR/HR) or >= 2.5 (OR) -> -2 (GRADE 34).  A CI that
      excludes the null but spans an appreciable-effect threshold (includes both trivial and
      appreciable effects, GRADE 6) -> -1.
    * OIS: binary outcomes total events vs ``ois_events``; continuous outcomes participants vs
      ``ois_participants_total``; below the OIS -> -1, below ``ois_severe_fraction`` of it -> -2.
    * The final step is the more severe of the CI and OIS steps (not their sum).
    """
    src_ci = ("GRADE 6 (Guyatt 2011 JCE 64:1283) [V]: the 95% CI is the primary criterion; "
              "precision adequate if it excludes the null and the OIS is met")
    if measure is None or not (math.isfinite(estimate) and math.isfinite(ci_low)
                               and math.isfinite(ci_high)):
        step = scheme.imprecision_not_estimable
        what = f"{n_records} record(s)" if n_records else "the records"
        return Judgement(
            step,
            f"not estimable: no numeric result in {what}; rated {step} "
            f"({STEP_WORDS[step]})",
            scheme.source("imprecision_not_estimable"),
        )
    ci_txt = _ci_text(measure, ci_low, ci_high, level)
    parts: list[str] = []
    ci_step = 0
    crosses = ci_low < 0 < ci_high
    if measure in NONCOMPARATIVE_MEASURES:
        parts.append(f"{ci_txt} (proportion, no comparator: no null to cross)")
    elif measure in ("RR", "OR", "HR"):
        src_ci = f"{src_ci}; {scheme.source('imprecision_rr_benefit')}"
        lo_t, hi_t = math.log(scheme.imprecision_rr_benefit), math.log(scheme.imprecision_rr_harm)
        ratio = math.exp(ci_high - ci_low)
        ratio_cut = scheme.ci_ratio_or if measure == "OR" else scheme.ci_ratio_rr
        if crosses and ci_low < lo_t and ci_high > hi_t:
            ci_step = -2
            parts.append(
                f"{ci_txt} crosses {_null_label(measure)} and includes both appreciable benefit "
                f"({measure} < {scheme.imprecision_rr_benefit:g}) and harm (> "
                f"{scheme.imprecision_rr_harm:g})"
            )
        elif crosses:
            ci_step = -1
            parts.append(f"{ci_txt} crosses {_null_label(measure)}")
        elif ci_low < lo_t < ci_high or ci_low < hi_t < ci_high:
            ci_step = -1
            thr = scheme.imprecision_rr_benefit if ci_low < lo_t < ci_high else (
                scheme.imprecision_rr_harm
            )
            parts.append(
                f"{ci_txt} excludes {_null_label(measure)} but spans the appreciable-effect "
                f"threshold {measure} = {thr:g} (trivial and appreciable effects both compatible)"
            )
        else:
            parts.append(f"{ci_txt} excludes {_null_label(measure)}")
        if ratio >= ratio_cut * (1 - 1e-12):  # guard float round-off at the boundary
            if ci_step > -2:
                ci_step = -2
            parts.append(
                f"upper/lower CI ratio {ratio:.1f} >= {ratio_cut:g} ({measure}; OIS very far "
                "from met)"
            )
            which = "ci_ratio_or" if measure == "OR" else "ci_ratio_rr"
            src_ci = f"{src_ci}; {scheme.source(which)}"
    else:
        if crosses:
            ci_step = -1
            parts.append(f"{ci_txt} crosses {_null_label(measure)}")
        else:
            parts.append(f"{ci_txt} excludes {_null_label(measure)}")
    # optimal information size
    binary = measure in BINARY_MEASURES
    ois_step = 0
    if binary and math.isfinite(n_events):
        ois, have, unit = scheme.ois_events, n_events, "events"
        src_ois = scheme.source("ois_events")
    elif math.isfinite(n_participants):
        ois, have, unit = scheme.ois_participants_total, n_participants, "participants"
        if binary:
            unit = "participants (events not recorded)"
        src_ois = scheme.source("ois_participants_total")
    else:
        ois = None
        src_ois = ""
    if ois is None:
        parts.append("OIS not assessable (no event or participant counts recorded)")
    elif have < scheme.ois_severe_fraction * ois:
        ois_step = -2
        parts.append(
            f"the OIS of {ois} {unit.split(' ')[0]} is far from met ({have:.0f} {unit}, < "
            f"{scheme.ois_severe_fraction:.0%} of it)"
        )
    elif have < ois:
        ois_step = -1
        parts.append(f"the OIS of {ois} {unit.split(' ')[0]} is not met ({have:.0f} {unit})")
    else:
        parts.append(f"the OIS of {ois} {unit.split(' ')[0]} is met ({have:.0f} {unit})")
    step = min(ci_step, ois_step)
    if k == 1:
        parts.append("single study")
    src = src_ci if not src_ois else f"{src_ci}; {src_ois}; {scheme.source('ois_severe_fraction')}"
    reason = " and ".join(parts[:2]) + ("; " + "; ".join(parts[2:]) if len(parts) > 2 else "")
    return Judgement(step, reason, src)


# ---------------------------------------------------------------------------- publication bias

def judge_publication_bias(
    yi: Sequence[float],
    vi: Sequence[float],
    scheme: Scheme,
    *,
    aggregate: bool = False,
    n_unreported_registered: int = 0,
) -> Judgement:
    """Egger's test when k >= ``egger_min_k``: p < ``egger_alpha`` -> -1; else 0.

    Fewer studies: 'not assessed (k < 10)' as 0.  Registered trials without results are named
    in the reason (possible non-reporting) but not rated automatically.
    """
    src = f"{scheme.source('egger_min_k')}; {scheme.source('egger_alpha')}"
    extra = ""
    if n_unreported_registered:
        extra = (
            f"; {n_unreported_registered} registered trial(s) without results: consider "
            "non-reporting bias"
        )
    if aggregate:
        return Judgement(
            0,
            "not assessed: aggregate (meta-analysis) record, small-study tests need study-level "
            "data" + extra,
            src,
        )
    k = len(yi)
    if k < scheme.egger_min_k:
        return Judgement(0, f"not assessed (k = {k} < {scheme.egger_min_k})" + extra, src)
    from evidence import bias

    res = bias.egger_test(np.asarray(yi, float), np.asarray(vi, float))
    p = float(res.p_value)
    if p < scheme.egger_alpha:
        return Judgement(
            -1,
            f"Egger test p = {p:.3f} (< {scheme.egger_alpha:g}, k = {k}): small-study effects "
            "(funnel asymmetry)" + extra,
            src,
        )
    return Judgement(
        0, f"Egger test p = {p:.3f} (>= {scheme.egger_alpha:g}, k = {k})" + extra, src
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
    if measure not in ("RR", "OR", "HR") or not math.isfinite(estimate):
        return Judgement(0, f"no GRADE numeric rule for measure {measure or 'none'}", src)
    ratio = math.exp(estimate)
    lo, hi = math.exp(ci_low), math.exp(ci_high)
    how = f"{measure} {ratio:.2f}"
    if measure == "OR":
        if not (math.isfinite(control_risk) and 0 < control_risk < 1):
            return Judgement(
                0,
                f"OR {ratio:.2f} not converted to RR (no control-group risk recorded); no "
                "up-rating suggested",
                src,
            )
        ratio = or_to_rr(ratio, control_risk)
        lo, hi = or_to_rr(lo, control_risk), or_to_rr(hi, control_risk)
        how = (
            f"OR {math.exp(estimate):.2f} = RR {ratio:.2f} at control risk {control_risk:.3f} "
            "(RR = OR / (1 - p0 + p0 x OR), Zhang & Yu JAMA 1998)"
        )
        src += "; OR->RR: Zhang J, Yu KF. JAMA 1998;280:1690-1691"
    if lo <= 1 <= hi:
        return Judgement(0, f"{how}; CI {lo:.2f} to {hi:.2f} includes 1", src)
    size = max(ratio, 1 / ratio)
    if size >= scheme.very_large_effect_rr:
        return Judgement(2, f"{how}: very large (>= {scheme.very_large_effect_rr:g}-fold)", src)
    if size >= scheme.large_effect_rr:
        return Judgement(1, f"{how}: large (>= {scheme.large_effect_rr:g}-fold)", src)
    return Judgement(0, f"{how}: less than {scheme.large_effect_rr:g}-fold", src)


def judge_dose_response(
    yi: Sequence[float],
    vi: Sequence[float],
    dose: Sequence[float],
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
        return Judgement(
            0,
            f"not assessable: {levels} distinct dose level(s) with results (< "
            f"{scheme.dose_response_min_levels})",
            src,
        )
    w = 1.0 / v
    dbar = np.sum(w * d) / np.sum(w)
    sxx = np.sum(w * (d - dbar) ** 2)
    slope = np.sum(w * (d - dbar) * y) / sxx
    se = math.sqrt(1.0 / sxx)
    z = slope / se
    from evidence import _distributions as dist

    p = float(2 * dist.norm_sf(abs(z)))
    txt = f"slope {slope:.4g} per dose unit (z = {z:.2f}, p = {p:.3f}, {levels} dose levels)"
    if p < scheme.dose_response_alpha and np.sign(slope) == np.sign(pooled_estimate) != 0:
        return Judgement(1, f"{txt}: larger doses give larger effects", src)
    return Judgement(0, f"{txt}: no gradient in the direction of the effect", src)


def judge_plausible_confounding(scheme: Scheme) -> Judgement:
    """No automatic rule; off by default (Core GRADE 1 dropped it)."""
    if not scheme.enable_plausible_confounding:
        return Judgement(
            0,
            "not used by default (Core GRADE dropped this up-rating); reviewer override only",
            scheme.source("enable_plausible_confounding"),
        )
    return Judgement(
        0,
        "no automatic rule: a reviewer must judge whether all plausible confounding would "
        "reduce the effect (override to rate up)",
        "Cochrane Handbook 5.1 Table 12.2.c; GRADE 9 [V]",
    )
