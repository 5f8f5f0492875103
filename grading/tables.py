"""GRADEpro-style evidence profile and summary-of-findings tables, with exporters.

Column sets follow grading-frameworks.md section 5.1 [V]: the GRADEpro GDT evidence profile
(certainty assessment: № of studies, study design, risk of bias, inconsistency, indirectness,
imprecision, other considerations; № of patients per arm; relative and absolute effect;
certainty; importance) and the classic Cochrane summary-of-findings layout (PMC4297244 T2:
outcomes, assumed and corresponding risk, relative effect, № of participants (studies),
certainty, comments).  evigap adds a "Translational indirectness" column so the preclinical
penalty stays visible.  Every rated domain and every certainty gets a footnote explaining it.

Footnotes are kept in ``frame.attrs["footnotes"]`` (list of ``(marker, text)``) and per row in
the ``Footnotes`` column; :func:`to_markdown`, :func:`to_html` and :func:`to_latex` print them
under the table.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from evidence.errors import InvalidParameterError, ValidationError
from evidence.export import write_csv
from evidence.internal import check_bool, check_frame, check_text
from evidence.measures import is_ratio, to_natural
from evidence.proportions import single_arm_columns
from grading.domains import (
    ALL_DOMAINS,
    BINARY_MEASURES,
    BINARY_RATIO_MEASURES,
    DOMAIN_LABELS,
    STEP_WORDS,
    UP_DOMAINS,
)
from grading.overrides import normalise_overrides
from grading.scheme import LEVEL_SYMBOLS

__all__ = [
    "evidence_profile",
    "summary_of_findings",
    "to_markdown",
    "to_html",
    "to_latex",
    "to_csv",
    "EVIDENCE_PROFILE_COLUMNS",
    "SUMMARY_OF_FINDINGS_COLUMNS",
]

EVIDENCE_PROFILE_COLUMNS: tuple[str, ...] = (
    "Indication",
    "Outcome",
    "Stream",
    "№ of studies",
    "Study design",
    "Risk of bias",
    "Inconsistency",
    "Indirectness",
    "Translational indirectness",
    "Imprecision",
    "Other considerations",
    "№ of patients: intervention",
    "№ of patients: comparison",
    "Relative (95% CI)",
    "Absolute (95% CI)",
    "Certainty",
    "Importance",
    "Footnotes",
)
SUMMARY_OF_FINDINGS_COLUMNS: tuple[str, ...] = (
    "Indication",
    "Outcome",
    "Stream",
    "Importance",
    "№ of participants (studies)",
    "Certainty of the evidence (GRADE)",
    "Relative effect (95% CI)",
    "Risk with comparator",
    "Risk difference with intervention (95% CI)",
    "What happens",
    "Footnotes",
)
_UP_WORDS = {
    "large_effect": {1: "strong association", 2: "very strong association"},
    "dose_response": {1: "dose response gradient"},
    "plausible_confounding": {
        1: "all plausible residual confounding would reduce the demonstrated effect"
    },
}
_NEEDED = (
    "indication",
    "outcome",
    "stream",
    "k",
    "measure",
    "estimate",
    "ci_low",
    "ci_high",
    "starting_level",
    "certainty",
    "design",
    "statement_question",
)


def _check(grades: pd.DataFrame, func: str) -> None:
    check_frame(grades, "grades", func, what="the DataFrame from grade()")
    for col in (*_NEEDED, *ALL_DOMAINS):
        if col not in grades.columns:
            raise ValidationError(f"{func}() needs column {col!r} in 'grades' (from grade()).")


def _fin(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _relative(r) -> str:
    m = r["measure"]
    if not is_ratio(m) or not _fin(r["estimate"]):
        return "—"
    return (
        f"{m} {to_natural(m, r['estimate']):.2f} ({to_natural(m, r['ci_low']):.2f} to "
        f"{to_natural(m, r['ci_high']):.2f})"
    )


def _risk_int(measure: str, value: float, cr: float) -> float:
    if measure == "RR":
        return cr * math.exp(value)
    if measure == "OR":
        o = math.exp(value)
        return o * cr / (1 - cr + o * cr)
    if measure == "RD":
        return cr + value
    return math.nan


def _per1000(d: float) -> str:
    n = round(abs(d) * 1000)
    return f"{n} {'fewer' if d < 0 else 'more'}"


def _absolute(r) -> str:
    m, est = r["measure"], r["estimate"]
    if not _fin(est):
        return "not estimable"
    cr = r.get("control_risk", math.nan)
    if m in ("RR", "OR", "RD") and _fin(cr):
        vals = [_risk_int(m, x, cr) - cr for x in (est, r["ci_low"], r["ci_high"])]
        return f"{_per1000(vals[0])} per 1,000 (from {_per1000(vals[1])} to {_per1000(vals[2])})"
    if m in ("MD", "SMD", "GEN"):

        def w(x):
            return f"{abs(x):.2f} {'lower' if x < 0 else 'higher'}"

        return f"{m} {w(est)} ({w(r['ci_low'])} to {w(r['ci_high'])})"
    if m in ("PLO", "PR"):  # a Wald interval can cross 0 or 1: shown within [0, 1]
        lo, hi = (min(1.0, max(0.0, to_natural(m, r[c]))) for c in ("ci_low", "ci_high"))
        how = "logit scale, back-transformed" if m == "PLO" else "Wald"
        what = "pooled proportion" if _fin(r.get("k")) and r["k"] > 1 else "proportion"
        return f"{what} {to_natural(m, est):.2f} ({lo:.2f} to {hi:.2f}, {how}), no comparator"
    return "—"


def _arm(r, arm: str) -> str:
    n = r.get(f"n_{arm}_total", math.nan)
    e = r.get(f"events_{arm}_total", math.nan)
    if _fin(e) and _fin(n) and n > 0:
        return f"{e:.0f}/{n:.0f} ({100 * e / n:.1f}%)"
    if _fin(n):
        return f"{n:.0f}"
    return "—"


class _Notes:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, text: str) -> str:
        """The marker of ``text`` (a footnote used by several rows keeps one marker)."""
        for mk, old in self.items:
            if old == text:
                return mk
        i = len(self.items)
        marker = ""
        while True:
            marker = chr(ord("a") + i % 26) + marker
            i = i // 26 - 1
            if i < 0:
                break
        self.items.append((marker, text))
        return marker


def _judgement(r, d: str) -> str:
    """The domain's GRADE word (``<domain>_judgement``; from the step for older frames)."""
    j = r.get(f"{d}_judgement")
    if isinstance(j, str) and j:
        return j
    step = int(r[d])
    return STEP_WORDS.get(step, f"{step:+d}") if d not in UP_DOMAINS else str(step)


def _not_assessed(r, d: str) -> bool:
    return _judgement(r, d) == "not assessed"


def _domain_cell(r, d: str, notes: _Notes, row_notes: list[str], *, explain: bool = True) -> str:
    """The cell of one domain: its GRADE word, with a footnote when it was rated, overridden
    or not assessed (a not-assessed domain never reads as a judgement)."""
    step = int(r[d])
    word = _judgement(r, d)
    overridden = r.get(f"{d}_override_by") is not None and not (
        isinstance(r.get(f"{d}_override_by"), float)
    )
    reason = str(r.get(f"{d}_reason", ""))
    if word == "not assessed":
        if not explain:
            return word
        why = reason if reason.startswith("not assessed") else f"not assessed: {reason}"
        text = f"{DOMAIN_LABELS[d]}: {why}. Source: {r[f'{d}_source']}"
    elif step != 0 or overridden or reason.startswith("override"):
        text = f"{DOMAIN_LABELS[d]} ({step:+d}, {word}): {reason}. Source: {r[f'{d}_source']}"
    else:
        return word
    mk = notes.add(text)
    row_notes.append(f"{mk}. {text}")
    return f"{word} ({mk})"


def _provisional_note(r, notes: _Notes, row_notes: list[str]) -> str:
    """' provisional (c)' for a provisional body (its footnote names what was not assessed)."""
    if r.get("evidence_status") != "provisional":
        return ""
    why = r.get("provisional_reason")
    text = (
        "Provisional: "
        + (str(why) if isinstance(why, str) and why else "some domains were not assessed")
        + ("; the certainty comes from the assessed domains only")
    )
    mk = notes.add(text)
    row_notes.append(f"{mk}. {text}")
    return f" provisional ({mk})"


def _certainty_note(r, notes: _Notes, row_notes: list[str]) -> str:
    if r.get("evidence_status") == "no evidence":  # no certainty to show
        return f"No evidence ({r.get('no_evidence_reason') or 'no result to rate'})"
    steps = [f"{DOMAIN_LABELS[d].lower()} {int(r[d]):+d}" for d in ALL_DOMAINS if int(r[d]) != 0]
    text = (
        f"Starts {r['starting_level']} ({r['design']}); "
        + (", ".join(steps) if steps else "no rating up or down")
        + f" = {r['certainty']}"
        + (
            f" (within the {r['stream']} stream: {r['certainty_within_stream']})"
            if "certainty_within_stream" in r and r["certainty_within_stream"] != r["certainty"]
            else ""
        )
    )
    mk = notes.add(text)
    row_notes.append(f"{mk}. {text}")
    return f"{LEVEL_SYMBOLS[r['certainty']]} {r['certainty'].capitalize()} ({mk})"


def _importance(r) -> str:
    imp = r.get("importance")
    return imp if isinstance(imp, str) and imp else "not rated"


def fmt_pct(x: float) -> str:
    """A proportion as a percentage: whole percent from 10%, one decimal below."""
    v = 100 * x
    t = f"{v:.0f}" if v >= 10 else f"{v:.1f}".removesuffix(".0")
    return f"{t}%"


#: The study-table columns of a single-arm body's observed proportion
#: (:func:`evidence.study_effects`): proportion, its interval and method, events and n.
SINGLE_ARM_COLUMNS: tuple[str, ...] = (
    "proportion",
    "proportion_ci_low",
    "proportion_ci_high",
    "proportion_ci_method",
    "events_int",
    "n_int",
)


def proportion_ci_text(p: float, lo: float, hi: float, method: Any, *, note: str = "") -> str:
    """``'32% (95% CI 16% to 53%, Wilson score)'``: an observed proportion with its interval
    and method (``proportion_ci_method``, e.g. ``'Clopper-Pearson 90%'``: a trailing level
    replaces the 95%; empty: Wilson score); ``note`` goes before the closing parenthesis."""
    method = str(method or "").strip()
    level = "95%"
    if method.endswith("%"):
        method, _, level = method.rpartition(" ")
    return (
        f"{fmt_pct(p)} ({level} CI {fmt_pct(lo)} to {fmt_pct(hi)}, "
        f"{method or 'Wilson score'}{note})"
    )


def _proportion_text(prop: dict) -> str:
    """'0% (95% CI 0% to 12%, Wilson score; no comparator)': the observed proportion of a
    single-arm body with its interval and the method named (no continuity correction)."""
    return proportion_ci_text(
        prop["proportion"],
        prop["ci_low"],
        prop["ci_high"],
        prop.get("method"),
        note="; no comparator",
    )


def _single_arm_lookup(studies, grades: pd.DataFrame, func: str) -> dict[int, dict]:
    """Observed proportion of each one-study single-arm body (PR/PLO), by position in
    ``grades``: events, n, proportion, ci_low, ci_high, method, from the study table's
    ``proportion*`` columns (:func:`evidence.study_effects`) at the body's ``estimate_rows``.
    """
    if studies is None:
        return {}
    check_frame(studies, "studies", func, what="the study table given to grade()")
    if "estimate_rows" not in grades.columns:
        return {}
    if "proportion" not in studies.columns:
        studies = studies.assign(**single_arm_columns(studies))
    cols = {c: studies[c].to_numpy() for c in SINGLE_ARM_COLUMNS if c in studies.columns}
    if len(cols) < len(SINGLE_ARM_COLUMNS):
        return {}
    out: dict[int, dict] = {}
    for i, (m, rows) in enumerate(zip(grades["measure"], grades["estimate_rows"], strict=True)):
        if m not in ("PR", "PLO") or not isinstance(rows, str) or not rows.strip():
            continue
        pos = [p.strip() for p in rows.split(";") if p.strip()]
        if len(pos) != 1 or not pos[0].isdigit() or int(pos[0]) >= len(studies):
            continue
        j = int(pos[0])
        p = cols["proportion"][j]
        if not _fin(p):
            continue
        out[i] = {
            "proportion": float(p),
            "ci_low": float(cols["proportion_ci_low"][j]),
            "ci_high": float(cols["proportion_ci_high"][j]),
            "method": cols["proportion_ci_method"][j],
            "events": float(cols["events_int"][j]),
            "n": float(cols["n_int"][j]),
        }
    return out


def evidence_profile(grades: pd.DataFrame, *, studies: pd.DataFrame | None = None) -> pd.DataFrame:
    """GRADEpro-style evidence profile, one row per graded body.

    Parameters
    ----------
    grades : DataFrame
        Output of :func:`grading.grade`.
    studies : DataFrame, optional
        The study table given to :func:`grading.grade`; when given, one-study single-arm
        bodies show their observed proportion with its Wilson (or exact) CI, method named
        (see :func:`summary_of_findings`).

    Returns
    -------
    DataFrame
        Columns :data:`EVIDENCE_PROFILE_COLUMNS`: Indication, Outcome, Stream, № of studies,
        Study design, Risk of bias, Inconsistency, Indirectness, Translational indirectness,
        Imprecision (the GRADE word from ``<domain>_judgement``: 'not serious' / 'serious' /
        'very serious' / 'extremely serious' with a footnote marker when rated, or 'not
        assessed' with a footnote saying why; bodies with no evidence: 'not assessed'
        without a note, the Certainty cell says why), Other considerations (publication bias
        and up-ratings when rated or not assessed, or 'none'), № of patients: intervention,
        № of patients: comparison ('events/total (%)' for counts; single-arm bodies with
        ``studies``: 'events/n (%)' and 'no comparator'), Relative (95% CI) (ratio
        measures), Absolute (95% CI) (per 1,000 for binary outcomes with a control risk;
        MD/SMD lower/higher; single-arm: the observed proportion with its CI and method),
        Certainty ('⊕⊕◯◯ Low (a)', then ' provisional (b)' when some applicable domain was
        not assessed; 'No evidence (...)' without a level), Importance (``importance`` from
        grade(), else 'not rated'), Footnotes.
        ``attrs["footnotes"]`` holds every footnote as (marker, text).
    """
    _check(grades, "evidence_profile")
    single = _single_arm_lookup(studies, grades, "evidence_profile")
    notes = _Notes()
    rows = []
    for i, r in enumerate(grades.to_dict("records")):  # plain dicts: much cheaper than rows
        rn: list[str] = []
        rated = r.get("evidence_status") != "no evidence"
        cells = {
            d: _domain_cell(r, d, notes, rn, explain=rated)
            for d in (
                "risk_of_bias",
                "inconsistency",
                "indirectness",
                "translational_indirectness",
                "imprecision",
            )
        }
        other = []
        pb = int(r["publication_bias"])
        if pb != 0 or str(r.get("publication_bias_reason", "")).startswith("override"):
            base = _domain_cell(r, "publication_bias", notes, rn)
            other.append(
                "publication bias strongly suspected" + base[base.find(" (") :] if pb != 0 else base
            )
        elif rated and _not_assessed(r, "publication_bias"):
            mark = _domain_cell(r, "publication_bias", notes, rn)
            other.append("publication bias not assessed" + mark[mark.find(" (") :])
        for d in UP_DOMAINS:
            if int(r[d]) != 0:
                mark = _domain_cell(r, d, notes, rn)
                other.append(
                    _UP_WORDS[d].get(int(r[d]), DOMAIN_LABELS[d]) + mark[mark.find(" (") :]
                )
            elif rated and _not_assessed(r, d):
                mark = _domain_cell(r, d, notes, rn)
                other.append(f"{DOMAIN_LABELS[d].lower()} not assessed" + mark[mark.find(" (") :])
        if not rated:
            other = ["not assessed"]
        cert = _certainty_note(r, notes, rn)
        if rated:
            cert += _provisional_note(r, notes, rn)
        prop = single.get(i)
        rows.append(
            {
                "Indication": r["indication"],
                "Outcome": r["outcome"],
                "Stream": r["stream"],
                "№ of studies": int(r["k"]),
                "Study design": r["design"],
                "Risk of bias": cells["risk_of_bias"],
                "Inconsistency": cells["inconsistency"],
                "Indirectness": cells["indirectness"],
                "Translational indirectness": cells["translational_indirectness"],
                "Imprecision": cells["imprecision"],
                "Other considerations": "; ".join(other) if other else "none",
                "№ of patients: intervention": (
                    f"{prop['events']:.0f}/{prop['n']:.0f} ({100 * prop['proportion']:.1f}%)"
                    if prop
                    else _arm(r, "int")
                ),
                "№ of patients: comparison": "no comparator" if prop else _arm(r, "ctrl"),
                "Relative (95% CI)": _relative(r),
                "Absolute (95% CI)": _proportion_text(prop) if prop else _absolute(r),
                "Certainty": cert,
                "Importance": _importance(r),
                "Footnotes": " ".join(rn),
            }
        )
    out = pd.DataFrame(rows, columns=list(EVIDENCE_PROFILE_COLUMNS))
    out.attrs["footnotes"] = list(notes.items)
    return out


def _baseline(baseline_risk, r, risk_rows: list[dict] | None = None) -> tuple[float, str]:
    """(assumed control risk, where it comes from) for a body.

    The more specific source wins: an overrides row naming the outcome, the option's
    ``(indication, outcome)`` key, an overrides row for every outcome of the indication, the
    option's indication key, its ``'*'`` key or single value, then the pooled control arms.
    Among overrides rows of one specificity the later row wins.
    """
    ind, out = str(r["indication"]), str(r["outcome"])
    per_outcome = per_indication = None
    for o in risk_rows or ():
        if str(o["indication"]) != ind:
            continue
        if o.get("outcome") is None:
            per_indication = o
        elif str(o["outcome"]) == out:
            per_outcome = o

    def given(o) -> tuple[float, str]:
        why = f": {o['reason']}" if o.get("reason") else ""
        return float(o["baseline_risk"]), f"baseline risk from the overrides{why}"

    as_dict = baseline_risk if isinstance(baseline_risk, dict) else {}
    if per_outcome is not None:
        return given(per_outcome)
    if (r["indication"], r["outcome"]) in as_dict:
        return float(as_dict[(r["indication"], r["outcome"])]), "baseline risk given"
    if per_indication is not None:
        return given(per_indication)
    for key in (r["indication"], "*"):
        if key in as_dict:
            return float(as_dict[key]), "baseline risk given"
    if baseline_risk is not None and not isinstance(baseline_risk, dict):
        return float(baseline_risk), "baseline risk given"
    cr = r.get("control_risk", math.nan)
    if _fin(cr):
        return float(cr), "control arms"
    return math.nan, ""


def _risk_with(measure: str, x: float, cr: float) -> float:
    """Risk with the intervention from an effect ``x`` (log scale for ratios) at risk ``cr``."""
    if measure == "HR":
        return 1 - (1 - cr) ** math.exp(x)
    return _risk_int(measure, x, cr)


def _diff_text(d: float) -> str:
    n = round(abs(d) * 1000)
    if n == 0:
        return "0 fewer"
    return f"{n} {'fewer' if d < 0 else 'more'}"


def _cohen(smd: float) -> str:
    a = abs(smd)
    size = (
        ("small" if a < 0.5 else "moderate" if a < 0.8 else "large")
        if a >= 0.2
        else ("less than small")
    )
    return f"{size} effect by the 0.2/0.5/0.8 rule of thumb (Cochrane Handbook 15.5.3.1)"


def summary_of_findings(
    grades: pd.DataFrame,
    *,
    baseline_risk=None,
    include_no_evidence: bool = False,
    studies: pd.DataFrame | None = None,
    overrides=None,
) -> pd.DataFrame:
    """Summary-of-findings table in GRADEpro's layout, one row per body with a result.

    Layout of GRADE guidelines 12 and 13 (Guyatt GH et al. J Clin Epidemiol 2013;66:158-172 and
    66:173-183): per outcome the number of participants (studies), the certainty with
    footnotes, the relative effect with its CI, the anticipated absolute effects (risk with the
    comparator and risk difference with the intervention per 1,000, with CI) and a
    plain-language statement (GRADE informative statements, Santesso 2020).

    Parameters
    ----------
    grades : DataFrame
        Output of :func:`grading.grade`.
    baseline_risk : float or dict, optional
        Assumed control risk for binary outcomes, replacing the control arms' pooled risk: a
        probability, or a dict keyed by ``(indication, outcome)``, ``indication`` or ``'*'``.
    overrides : path, DataFrame or list of dict, optional
        The reviewer's overrides table (:func:`grading.overrides.read_overrides`); its
        ``baseline_risk`` rows set the assumed control risk per indication (and outcome).
        The more specific source wins: an override naming the outcome, then
        ``baseline_risk[(indication, outcome)]``, an override for every outcome of the
        indication, ``baseline_risk[indication]``, ``baseline_risk['*']`` or a single
        ``baseline_risk`` (``--baseline-risk``), then the pooled control arms.  Other kinds
        of rows are ignored here (they act in :func:`grading.grade`).
    include_no_evidence : bool, default False
        Also list bodies without a result (their row says so; no certainty is shown).  Bodies
        left out are listed in ``attrs['not_shown']`` as ``(indication, outcome, stream, why)``.
    studies : DataFrame, optional
        The study table given to :func:`grading.grade` (from :func:`evidence.study_effects`).
        When given, a one-study single-arm body (PR/PLO) shows its observed proportion with
        the study table's interval and method ("0% (95% CI 0% to 12%, Wilson score; no
        comparator)", ``proportion*`` columns) instead of the continuity-corrected value
        used for pooling.

    Returns
    -------
    DataFrame
        Columns :data:`SUMMARY_OF_FINDINGS_COLUMNS`:

        ``Indication``, ``Outcome``, ``Stream``
            The body (stream: human, animal, in vitro).
        ``Importance``
            From ``importance`` when grade() provides it, else 'not rated'.
        ``№ of participants (studies)``
            '220 (2 studies)'; participants '—' when not reported.
        ``Certainty of the evidence (GRADE)``
            '⊕⊕◯◯ Low (a)' with a footnote listing the start, each step and its reason;
            'provisional' appended when ``evidence_status`` says so.
        ``Relative effect (95% CI)``
            'RR 0.52 (0.33 to 0.83)' for ratio measures; '—' otherwise.
        ``Risk with comparator``
            Assumed control risk '382 per 1,000' and its origin ('control arms', 'baseline
            risk given' or 'baseline risk from the overrides: <reason>'); 'not applicable'
            for animal and in-vitro bodies and continuous outcomes.
        ``Risk difference with intervention (95% CI)``
            '183 fewer per 1,000 (from 256 fewer to 65 fewer)' for binary outcomes with a
            control risk; 'MD 3.67 higher (2.10 higher to 5.24 higher)' or 'SMD ...' for
            continuous ones (SMD with its size by the 0.2/0.5/0.8 rule); proportions without a
            comparator as such (with ``studies``: the observed proportion of a one-study body
            with its Wilson or exact CI, the method named; otherwise the pooled value and
            its Wald or back-transformed logit interval, named); otherwise the reason it is
            not estimable.
        ``What happens``
            The body's GRADE 26 informative statement for the review's question at the
            certainty shown (``statement_question`` from :func:`grade`: high 'reduces',
            moderate 'likely reduces', low 'may reduce', very low 'the evidence is very
            uncertain'; "little to no difference" when the point estimate is trivial; animal
            and in vitro bodies say what they mean for the human question).
        ``Footnotes``
            The row's footnotes ('a. ...').

        ``attrs['footnotes']`` holds every footnote as (marker, text).
    """
    _check(grades, "summary_of_findings")
    check_bool(include_no_evidence, "include_no_evidence", "summary_of_findings")
    if baseline_risk is not None and not isinstance(baseline_risk, dict):
        if not _fin(baseline_risk) or not 0 < float(baseline_risk) < 1:
            raise InvalidParameterError(
                "The 'baseline_risk' argument of summary_of_findings() must be a probability "
                f"between 0 and 1 (exclusive) or a dict of them. Got {baseline_risk!r}."
            )

    ov = normalise_overrides(overrides, what="'overrides' argument of summary_of_findings()")
    risk_rows = [o for o in ov.to_dict("records") if o["kind"] == "baseline_risk"]
    notes = _Notes()
    rows, not_shown = [], []
    has_imp = (
        "importance" in grades.columns
        and grades["importance"].isin(["critical", "important"]).any()
    )
    single = _single_arm_lookup(studies, grades, "summary_of_findings")
    for i, r in enumerate(grades.to_dict("records")):  # plain dicts: much cheaper than rows
        status = r.get("evidence_status")
        has = _fin(r["estimate"]) and status != "no evidence"
        if has_imp and r.get("importance") not in ("critical", "important"):
            not_shown.append(
                (
                    r["indication"],
                    r["outcome"],
                    r["stream"],
                    f"importance: {r.get('importance') or 'not rated'}",
                )
            )
            continue
        if not has and not include_no_evidence:
            why = r.get("no_evidence_reason") or r.get("estimate_basis") or "no pooled result"
            not_shown.append((r["indication"], r["outcome"], r["stream"], str(why)))
            continue
        rn: list[str] = []
        m = r["measure"]
        k = int(r["k"]) if _fin(r["k"]) else 0
        n = r.get("n_participants", math.nan)
        studies = f"{k} {'study' if k == 1 else 'studies'}"
        npart = f"{n:.0f} ({studies})" if _fin(n) else f"— ({studies})"
        if not has:
            why = r.get("no_evidence_reason") or "no result to rate"
            rows.append(
                {
                    "Indication": r["indication"],
                    "Outcome": r["outcome"],
                    "Stream": r["stream"],
                    "Importance": r.get("importance") or "not rated",
                    "№ of participants (studies)": f"— ({why})",
                    "Certainty of the evidence (GRADE)": "no result to rate",
                    "Relative effect (95% CI)": "—",
                    "Risk with comparator": "—",
                    "Risk difference with intervention (95% CI)": "—",
                    "What happens": "No result to rate.",
                    "Footnotes": "",
                }
            )
            continue
        for d in ALL_DOMAINS:
            if int(r[d]) != 0:
                word = (
                    STEP_WORDS.get(int(r[d]), f"{int(r[d]):+d}")
                    if d not in UP_DOMAINS
                    else _UP_WORDS[d].get(int(r[d]), DOMAIN_LABELS[d])
                )
                text = f"{DOMAIN_LABELS[d]}: {word} ({int(r[d]):+d}). {r[f'{d}_reason']}"
                rn.append(f"{notes.add(text)}. {text}")
        cert = _certainty_note(r, notes, rn) + _provisional_note(r, notes, rn)
        human = r["stream"] == "human"
        if m in BINARY_MEASURES and human:
            cr, origin = _baseline(baseline_risk, r, risk_rows)
            if _fin(cr):
                vals = [
                    _risk_with(m, x, cr) - cr for x in (r["estimate"], r["ci_low"], r["ci_high"])
                ]
                assumed = f"{round(cr * 1000)} per 1,000 ({origin})"
                lo, hi = sorted(vals[1:])
                diff = (
                    f"{_diff_text(vals[0])} per 1,000 (from {_diff_text(lo)} to {_diff_text(hi)})"
                )
            else:
                assumed = "not reported"
                diff = "not estimable: no control risk (give a baseline risk)"
        elif m in ("MD", "SMD", "GEN"):
            assumed = (
                "not applicable (continuous outcome)"
                if human
                else (f"not applicable ({r['stream'].replace('_', ' ')} outcome)")
            )
            diff = _absolute(r)
            if m == "SMD":
                diff += f"; {_cohen(r['estimate'])}"
        elif m in ("PLO", "PR"):
            assumed = "no comparator"
            prop = single.get(i)
            diff = _proportion_text(prop) if prop else _absolute(r)
            if prop:
                npart = f"{prop['n']:.0f} (1 study)"
        else:
            assumed = "not applicable" if not human else "not reported"
            diff = _absolute(r) if not human else "not estimable: no control risk"
            if m in BINARY_RATIO_MEASURES:
                diff = f"not applicable ({r['stream'].replace('_', ' ')} outcome)"
        rows.append(
            {
                "Indication": r["indication"],
                "Outcome": r["outcome"],
                "Stream": str(r["stream"]).replace("_", " "),
                "Importance": r.get("importance") or "not rated",
                "№ of participants (studies)": npart,
                "Certainty of the evidence (GRADE)": cert,
                "Relative effect (95% CI)": _relative(r),
                "Risk with comparator": assumed,
                "Risk difference with intervention (95% CI)": diff,
                "What happens": r["statement_question"],
                "Footnotes": " ".join(rn),
            }
        )
    out = pd.DataFrame(rows, columns=list(SUMMARY_OF_FINDINGS_COLUMNS))
    out.attrs["footnotes"] = list(notes.items)
    out.attrs["not_shown"] = not_shown
    return out


# ---------------------------------------------------------------------------- exporters


def _check_export(frame: object, footnotes: object, func: str) -> None:
    check_frame(frame, "frame", func, what="a pandas DataFrame (e.g. from summary_of_findings())")
    check_bool(footnotes, "footnotes", func)


def _cells(frame: pd.DataFrame, footnotes: bool) -> tuple[list[str], list[list[str]]]:
    cols = [c for c in frame.columns if footnotes is False or c != "Footnotes"]
    if footnotes is False:
        cols = [c for c in cols if c != "Footnotes"]

    def s(v) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        return str(v).replace("\r", " ").replace("\n", " ")

    return [str(c) for c in cols], [
        [s(v) for v in row] for row in frame[cols].itertuples(index=False)
    ]


def _notes(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(frame.attrs.get("footnotes", []))


_MD_ESCAPE = {
    "\\": "\\\\",
    "|": "\\|",
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "[": "\\[",
    "]": "\\]",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "!": "\\!",
    "~": "\\~",
}


def _md(text: str) -> str:
    """Cell text as inert Markdown: HTML characters as entities (no raw HTML such as
    ``<script>`` or ``<img onerror>``), link/image/emphasis/code syntax backslash-escaped (no
    ``[x](javascript:...)`` links, no ``![](http://...)`` remote images), pipes escaped."""
    return "".join(_MD_ESCAPE.get(ch, ch) for ch in text)


def to_markdown(frame: pd.DataFrame, *, footnotes: bool = True) -> str:
    """A pipe table with every cell made inert (see :func:`_md`); footnotes listed under it.

    Raw HTML, links, images, emphasis and code spans in cells are escaped, so a cell shows its
    text literally in any CommonMark/GFM renderer.
    """
    _check_export(frame, footnotes, "to_markdown")
    cols, body = _cells(frame, footnotes=False)
    esc = _md
    lines = [
        "| " + " | ".join(esc(c) for c in cols) + " |",
        "|" + "|".join(" --- " for _ in cols) + "|",
    ]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in body]
    if footnotes and _notes(frame):
        lines.append("")
        lines += [f"{esc(mk)}. {esc(t)}  " for mk, t in _notes(frame)]
    return "\n".join(lines) + "\n"


def to_html(frame: pd.DataFrame, *, footnotes: bool = True, caption: str | None = None) -> str:
    """An HTML table with every cell escaped; footnotes in an ordered list under it."""
    _check_export(frame, footnotes, "to_html")
    check_text(caption, "caption", "to_html", optional=True)
    cols, body = _cells(frame, footnotes=False)
    e = html.escape
    out = ['<table class="evigap-table">']
    if caption:
        out.append(f"<caption>{e(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr></thead>")
    out.append("<tbody>")
    for row in body:
        out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    if footnotes and _notes(frame):
        out.append('<ol class="evigap-footnotes" type="a">')
        out += [f'<li id="fn-{e(mk)}">{e(t)}</li>' for mk, t in _notes(frame)]
        out.append("</ol>")
    return "\n".join(out) + "\n"


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}


def _tex(t: str) -> str:
    """LaTeX-escaped text; a leading ``[`` is guarded with ``{}`` so that it is never read as
    the optional argument of a preceding ``\\\\`` or ``\\item``."""
    out = "".join(_LATEX.get(ch, ch) for ch in t)
    return "{}" + out if out.startswith("[") else out


def to_latex(frame: pd.DataFrame, *, footnotes: bool = True) -> str:
    """A ``tabular`` with LaTeX special characters escaped; footnotes as an enumerate list.

    The ⊕/◯ symbols need a Unicode engine (LuaLaTeX/XeLaTeX) or ``newunicodechar``.
    """
    _check_export(frame, footnotes, "to_latex")
    cols, body = _cells(frame, footnotes=False)
    spec = "l" * len(cols)
    out = [
        f"\\begin{{tabular}}{{{spec}}}",
        "\\hline",
        " & ".join(_tex(c) for c in cols) + r" \\",
        "\\hline",
    ]
    out += [" & ".join(_tex(c) for c in row) + r" \\" for row in body]
    out += ["\\hline", "\\end{tabular}"]
    if footnotes and _notes(frame):
        out.append("\\begin{itemize}")
        out += [f"\\item[{_tex(mk)}.] {_tex(t)}" for mk, t in _notes(frame)]
        out.append("\\end{itemize}")
    return "\n".join(out) + "\n"


def to_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV with :func:`evidence.export.write_csv` (formula-safe, deterministic)."""

    return write_csv(frame, path)
