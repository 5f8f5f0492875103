"""GRADE certainty per indication x outcome x stream, in GRADE's order.

:func:`grade` forms one body of evidence per indication (``schema.indication_key``) x outcome x
stream and rates it step by step:

1. select and pool the body (:mod:`grading.body`: every row of the best design tier with
   results and their most common measure, several rows per study pooled with a cluster-robust
   standard error; an aggregate record alone when the body has one);
2. judge each domain (:mod:`grading.domains`, one rule per GRADE paper; a domain without data
   is "not assessed");
3. apply the reviewer's overrides (:mod:`grading.overrides`);
4. rate up (GRADE 9; GRADE 18 for ROBINS-I bodies);
5. score (starting level + steps; "provisional" when an applicable domain is not assessed,
   "no evidence" when there is no result to rate);
6. write the statements (:mod:`grading.statements`, GRADE 26).

Every domain keeps the rule's suggestion, the final step, the GRADE word, the reason with the
numbers, the publication behind the rule and who overrode it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from evidence import study_effects
from evidence.errors import InvalidParameterError, ValidationError
from evidence.internal import check_frame, norm_ppf
from evidence.measures import to_natural
from evidence.missing import is_blank
from evidence.schema import indication_key
from grading.body import (
    TIER_LABEL,
    TIERS,
    Records,
    body_groups,
    check_streams,
    make_body,
)
from grading.domains import (
    ALL_DOMAINS,
    DOMAIN_LABELS,
    DOWN_DOMAINS,
    NOT_ASSESSED,
    STEP_WORDS,
    UP_DOMAINS,
    Judgement,
    default_thresholds,
    events_from_ci,
    judge_dose_response,
    judge_imprecision,
    judge_inconsistency,
    judge_indirectness,
    judge_large_effect,
    judge_plausible_confounding,
    judge_publication_bias,
    judge_risk_of_bias,
    judge_translational,
    not_assessed,
)
from grading.overrides import matches, normalise_overrides, unmatched_error
from grading.rob import check_rob_studies, judge_rob, rob_combinations
from grading.scheme import LEVEL_SCORE, LEVEL_SYMBOLS, LEVELS, Scheme, load_scheme
from grading.statements import (
    STATEMENT_SOURCE,
    informative_statement,
    name_list,
    question_statement,
)

__all__ = ["grade", "informative_statement", "certainty_symbols", "status_summary", "GRADE_COLUMNS"]

_REQUIRED = ("indication", "outcome", "stream", "model", "data_type")

#: The fixed leading columns of grade()'s output.
GRADE_COLUMNS: tuple[str, ...] = (
    "indication",
    "outcome",
    "stream",
    "outcome_kind",
    "intervention",
    "comparator",
    "design",
    "k",
    "k_records",
    "n_participants",
    "n_events",
    "n_int_total",
    "n_ctrl_total",
    "events_int_total",
    "events_ctrl_total",
    "control_risk",
    "measure",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "pi_low",
    "pi_high",
    "i2",
    "tau2",
    "q",
    "q_df",
    "q_p",
    "method",
    "ci_method",
    "estimate_natural",
    "ci_low_natural",
    "ci_high_natural",
    "estimable",
    "estimate_basis",
    "study_ids",
    "estimate_rows",
    "starting_level",
    "starting_level_source",
)


def certainty_symbols(level: str) -> str:
    """⊕⊕⊕⊕ / ⊕⊕⊕◯ / ⊕⊕◯◯ / ⊕◯◯◯ for high / moderate / low / very low."""
    return LEVEL_SYMBOLS[level]


def _start(stream: str, tier: str, scheme: Scheme) -> tuple[str, str]:
    name = {
        ("human", "randomised"): "start_randomised_human",
        ("human", "non_randomised"): "start_non_randomised_human",
        ("human", "uncontrolled"): "start_uncontrolled_human",
        ("animal", "randomised"): "start_randomised_animal",
        ("animal", "non_randomised"): "start_non_randomised_animal",
        ("animal", "uncontrolled"): "start_uncontrolled_animal",
    }.get((stream, tier))
    if tier == "in_vitro" or stream == "in_vitro":
        name = "start_in_vitro"
    elif tier == "aggregate_other":
        name = "start_meta_analysis_other"
    if name is None:
        raise ValidationError(
            f"grade(): unknown stream {stream!r} (expected human, animal, "
            "in_vitro) in column 'stream'."
        )
    return getattr(scheme, name), f"{name}: {scheme.source(name)}"


# ---------------------------------------------------------------------------- main

_UP_WORDS = {
    "large_effect": {0: "none", 1: "large", 2: "very large"},
    "dose_response": {0: "none", 1: "present", 2: "present"},
    "plausible_confounding": {0: "none", 1: "would reduce effect", 2: "would reduce effect"},
}


def _word(domain: str, step: int) -> str:
    if domain in _UP_WORDS:
        return _UP_WORDS[domain].get(step, str(step))
    return STEP_WORDS.get(step, str(step))


def _label(domain: str) -> str:
    return DOMAIN_LABELS[domain].lower()


def _override(domain: str, jd: Judgement, rows: list[dict]) -> tuple[Judgement, str | None]:
    """The final judgement of ``domain`` after the matching override rows (last wins)."""
    final, who = jd, None
    for o in rows:
        if o["domain"] != domain:
            continue
        step = int(o["step"])
        who = None if is_blank(o.get("by")) else str(o["by"])
        rule = f"{jd.step:+d} {jd.judgement}: {jd.reason}" if jd.assessed else jd.reason
        final = Judgement(
            step,
            f"override{' by ' + who if who else ''}: {o['reason']} (rule: {rule})",
            jd.source,
            _word(domain, step),
            True,
            True,
            "",
        )
    return final, who


def _no_evidence_reason(rec: Records, pos: np.ndarray) -> str:
    """What exists for a body without a numeric result."""
    n = len(pos)
    n_reg = int(rec.unreported_registered[pos].sum())
    parts = []
    if n_reg:
        parts.append(f"{n_reg} registered trial{'s' if n_reg > 1 else ''} without results")
    rest = n - n_reg
    if rest:
        notes = [str(v) for v in rec.cells("effect_note", pos) if not is_blank(v)]
        why = ""
        if notes:
            common = max(set(notes), key=notes.count)
            why = f" ({common})"
        parts.append(f"{rest} record{'s' if rest > 1 else ''} without a numeric result{why}")
    return "no result to rate: " + "; ".join(parts)


class _Rob:
    """:func:`grading.rob.rob_judgements` of the study table, kept as each row's code into its
    distinct judgements: the same values, without a column of texts per row (memory of a
    million-row sheet).  ``tool``, ``judgement`` and ``judgement_class`` hold the values of
    the distinct combinations (as the columns of ``rob_judgements`` give them); ``codes`` maps
    each row to one of them."""

    def __init__(self, eff: pd.DataFrame) -> None:

        check_rob_studies(eff, None, "rob_judgements")
        codes, first = rob_combinations(eff)
        judged = judge_rob(eff, None, first)
        # built as rob_judgements() builds its frame, one row per combination
        small = pd.DataFrame(
            {
                "rob_tool": np.array([j.tool.name for j in judged], dtype=object),
                "judgement": np.array([j.final for j in judged], dtype=object),
                "judgement_class": np.array(
                    [j.cls if j.final is not None else NOT_ASSESSED for j in judged], dtype=object
                ),
            }
        )
        self.codes = codes
        self.tool = small["rob_tool"].to_numpy()
        self.judgement = small["judgement"].to_numpy()
        self.judgement_class = small["judgement_class"].to_numpy()
        cls = pd.Categorical(
            small["judgement_class"].replace(NOT_ASSESSED, "unclear"),
            categories=["low", "unclear", "high"],
        )
        #: the classes for weighting (not assessed read as unclear), one per row
        self.categorical = pd.Categorical.from_codes(
            np.asarray(cls.codes)[codes], categories=cls.categories
        )

    def classes(self, rows: np.ndarray) -> np.ndarray:
        return self.judgement_class[self.codes[rows]]

    def judgements(self, rows: np.ndarray) -> np.ndarray:
        return self.judgement[self.codes[rows]]

    def tools(self, rows: np.ndarray) -> np.ndarray:
        return self.tool[self.codes[rows]]


def _robins_body(rob: _Rob, rows: np.ndarray, tier: str, stream: str) -> bool:
    """A human non-randomised body whose assessed studies were all judged with ROBINS-I."""
    if tier != "non_randomised" or stream != "human" or not len(rows):
        return False
    tools = rob.tools(rows)
    assessed = rob.classes(rows) != NOT_ASSESSED
    return bool(assessed.any()) and bool(np.all(tools[assessed] == "robins_i"))


def grade(
    studies: pd.DataFrame,
    *,
    scheme: Scheme | str | None = None,
    question: str | None = "human",
    overrides=None,
) -> pd.DataFrame:
    """Rate the certainty of every body of evidence (indication x outcome x stream).

    The steps follow GRADE's order: select the body and pool it; judge each domain
    (:mod:`grading.domains`); apply the reviewer's overrides (:mod:`grading.overrides`); rate
    up; score; write the statements (:mod:`grading.statements`).

    Parameters
    ----------
    studies : DataFrame
        The accepted study sheet (columns of :mod:`evidence.schema`).  If it has no ``yi``/``vi``
        columns, :func:`evidence.study_effects` adds them.  An optional ``importance`` column
        (critical / important / not important) sets outcome importance; optional
        ``threshold_low`` / ``threshold_high`` (natural scale, e.g. RR 0.8 / 1.25 or MD -5 / 5)
        set the decision thresholds of an outcome (the overrides file wins).
    scheme : Scheme, TOML text or path, optional
        Thresholds and defaults (see :class:`grading.scheme.Scheme`); default ``Scheme()``.
    question : {"human", None}
        ``"human"``: the review question is about humans, so animal and in vitro bodies also get
        ``translational_indirectness``.  ``None``: each stream is rated for its own question.
    overrides : path, DataFrame or list of dict, optional
        Reviewer judgements, outcome importance and decision thresholds (see
        :func:`grading.overrides.read_overrides`).  An override that matches no body raises.

    Returns
    -------
    DataFrame
        One row per indication x outcome x stream, sorted by those keys:

        ``indication, outcome, stream``
            The body's keys (indication from ``indication_label`` where given).
        ``outcome_kind``
            benefit or harm.
        ``intervention, comparator``
            The names in the body (all of them, most common first: "A, B or C").
        ``design``
            Design tier that carries the estimate and sets the starting level.
        ``k``
            Studies behind the estimate (``k_studies`` for an aggregate record; 0 if none).
        ``k_records``
            Rows in the body (all designs, with or without results).
        ``n_participants, n_events``
            Participants (animals, replicates) and total events behind the estimate (events
            only when every pooled record has counts).
        ``n_int_total, n_ctrl_total, events_int_total, events_ctrl_total, control_risk``
            Per-arm sums over the pooled records (NaN when any is missing) and the pooled
            control-group risk (events_ctrl / n_ctrl, counts only).
        ``measure, estimate, se, ci_low, ci_high, pi_low, pi_high, i2, tau2``
            Pooled result; **log scale for RR/OR/HR/ROM** (and log odds for PLO).  NaN when
            not estimable; heterogeneity NaN for k = 1 or an aggregate record.  Every row of
            the chosen design tier and measure is pooled; several rows of one study are pooled
            with a cluster-robust standard error (``estimate_basis`` says so).
        ``q, q_df, q_p``
            Cochran's Q of the pooled records, its df and p-value (NaN for a single record).
        ``method, ci_method``
            tau2 estimator (the scheme's ``pool_method``; empty when one record carries the
            estimate; a fallback is named) and how the interval was computed (the scheme's
            ``ci_method``; ``z`` for a single record; ``CR2`` cluster-robust for several rows per
            study).  With ``pool_method`` ``"MH"``/``"PETO"``: ``MH``/``PETO`` (``z``) for
            binary bodies pooled from their 2x2 counts, ``FE`` for the others (inverse
            variance; ``estimate_basis`` says why; :mod:`grading.two_by_two`).
        ``estimate_natural, ci_low_natural, ci_high_natural``
            The same on the natural scale (exp for ratio measures, proportion for PLO).
        ``estimable``
            False when no record has a numeric result (the body is "no evidence").
        ``estimate_basis``
            Which records were pooled, how, and why others were not.
        ``study_ids``
            Studies behind the estimate ('; '-separated).
        ``estimate_rows``
            0-based positions in ``studies`` of the rows that carry the estimate ('; '-
            separated): the rows a forest plot of this body draws.
        ``starting_level, starting_level_source``
            Starting certainty and the scheme setting + citation that set it (ROBINS-I
            bodies start high, GRADE 18).
        for each domain in risk_of_bias, inconsistency, indirectness, imprecision,
        publication_bias, translational_indirectness, large_effect, dose_response,
        plausible_confounding:
            ``<domain>`` final integer step (0/-1/-2/-3 down, 0/+1/+2 up; 0 when not
            assessed); ``<domain>_suggested`` the rule's step; ``<domain>_judgement`` the GRADE
            word ('not serious', 'serious', 'very serious', 'extremely serious'; 'none',
            'large', 'very large', 'present', 'would reduce effect') or 'not assessed';
            ``<domain>_reason`` why, with the numbers; ``<domain>_source`` the publication
            behind the rule; ``<domain>_override_by`` reviewer or None.
        ``total_down, total_up``
            Sums of the final down steps (including translational) and up steps.
        ``certainty_within_stream``
            Starting level + within-stream steps (no translational step), very low..high.
        ``certainty, certainty_score, certainty_symbols``
            Certainty for ``question`` (all steps), 1-4, and ⊕ symbols.  Empty for
            "no evidence".
        ``evidence_status``
            'rated', 'provisional' (some applicable domain not assessed; the certainty comes
            from the assessed domains) or 'no evidence'.
        ``provisional_reason, no_evidence_reason``
            Which domains were not assessed; what exists instead of a result.
        ``importance``
            critical / important / not important or None (GRADE 2), from the sheet's
            ``importance`` column or the overrides.
        ``decision_thresholds``
            The thresholds used for imprecision and the statement, and where they come from.
        ``statement``
            GRADE 26 statement about the body's own model, with ``certainty_within_stream``.
        ``statement_question``
            What the body means for the review's question, with ``certainty``.
        ``statement_source``
            GRADE 26 (Santesso 2020).
    """
    scheme = load_scheme(scheme)
    if question not in ("human", None):
        raise InvalidParameterError(
            f"The 'question' argument of grade() must be one of ['human', None]. Got {question!r}."
        )
    check_frame(studies, "studies", "grade", what="a DataFrame")
    for col in _REQUIRED:
        if col not in studies.columns:
            raise ValidationError(f"grade() needs column {col!r} in 'studies' (missing).")
    ov = normalise_overrides(overrides)
    ov_rows = ov.to_dict("records")
    for o in ov_rows:
        if o["kind"] == "domain":
            o["step"] = int(o["step"])
    if "yi" in studies.columns and "vi" in studies.columns:
        eff = studies
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eff = study_effects(studies)

    indication = indication_key(eff)
    if "study_id" not in eff.columns:
        eff = eff.assign(study_id=[f"row {i}" for i in range(len(eff))])
    rob = _Rob(eff)
    check_streams(eff["stream"], eff.index)
    rec = Records(eff, rob.categorical)
    z = float(norm_ppf(0.5 + scheme.level / 2))
    out_rows = []
    used: set[int] = set()
    for key, pos in body_groups([indication, eff["outcome"], eff["stream"]]):
        ind, outcome, stream = key
        mine = []
        for i, o in enumerate(ov_rows):
            if _match_override(o, key):
                used.add(i)
                mine.append(o)
        out_rows.append(_grade_body(key, pos, rec, eff, scheme, z, question, mine, rob))
    unused = sorted(set(range(len(ov_rows))) - used)
    if unused:
        raise unmatched_error(ov_rows[unused[0]])
    cols = list(GRADE_COLUMNS)
    for d in ALL_DOMAINS:
        cols += [
            d,
            f"{d}_suggested",
            f"{d}_judgement",
            f"{d}_reason",
            f"{d}_source",
            f"{d}_override_by",
        ]
    cols += [
        "total_down",
        "total_up",
        "certainty_within_stream",
        "certainty",
        "certainty_score",
        "certainty_symbols",
        "evidence_status",
        "provisional_reason",
        "no_evidence_reason",
        "importance",
        "decision_thresholds",
        "statement",
        "statement_question",
        "statement_source",
    ]
    frame = pd.DataFrame(out_rows, columns=cols)
    for d in ALL_DOMAINS:
        frame[d] = frame[d].astype("int64")
        frame[f"{d}_suggested"] = frame[f"{d}_suggested"].astype("int64")
    frame["certainty_score"] = frame["certainty_score"].astype("Int64")
    return frame.reset_index(drop=True)


def status_summary(grades: pd.DataFrame) -> str:
    """One line for a run's summary: how many bodies are rated, provisional, without evidence.

    >>> status_summary(pd.DataFrame({"evidence_status": ["rated", "provisional", "no evidence"]}))
    '3 bodies of evidence: 1 rated, 1 provisional (some domains not assessed), 1 without evidence'
    """
    check_frame(grades, "grades", "status_summary", what="a DataFrame")
    if "evidence_status" not in grades.columns:
        raise ValidationError("status_summary() needs column 'evidence_status' in 'grades'.")
    counts = grades["evidence_status"].value_counts()
    n = len(grades)
    return (
        f"{n} bod{'y' if n == 1 else 'ies'} of evidence: {int(counts.get('rated', 0))} "
        f"rated, {int(counts.get('provisional', 0))} provisional (some domains not "
        f"assessed), {int(counts.get('no evidence', 0))} without evidence"
    )


def _match_override(o: Mapping, key: tuple[str, str, str]) -> bool:

    return matches(o, key)


def _grade_body(
    key,
    pos,
    rec: Records,
    eff: pd.DataFrame,
    scheme: Scheme,
    z: float,
    question,
    ov: list[dict],
    rob: _Rob,
) -> dict:
    """One body, in GRADE's order: select -> judge -> override -> rate up -> score -> state."""
    ind, outcome, stream = key
    # 1. the body and its numbers
    body = make_body(rec, pos, scheme, z)
    tier = TIERS[body.tier]
    sel = body.sel
    measure = body.measure
    estimable = bool(len(sel)) and math.isfinite(body.estimate)
    robins = _robins_body(rob, sel if len(sel) else body.tier_rows, tier, stream)
    if robins:
        start = scheme.start_robins_i
        start_src = f"start_robins_i: {scheme.source('start_robins_i')}"
    else:
        start, start_src = _start(stream, tier, scheme)
    given = None
    importance = None
    if "importance" in eff.columns:
        vals = [str(v).strip().lower() for v in rec.cells("importance", pos) if not is_blank(v)]
        if vals:
            importance = max(set(vals), key=vals.count)
    if "threshold_low" in eff.columns and "threshold_high" in eff.columns:
        lows = rec.floats("threshold_low", pos)
        highs = rec.floats("threshold_high", pos)
        ok = np.isfinite(lows) & np.isfinite(highs) & (lows < highs)
        if ok.any():  # the sheet's thresholds for this outcome (first row that gives them)
            i = int(np.flatnonzero(ok)[0])
            given = (float(lows[i]), float(highs[i]))
    for o in ov:
        if o["kind"] == "thresholds":
            given = (float(o["threshold_low"]), float(o["threshold_high"]))
        elif o["kind"] == "importance":
            importance = o["importance"]
    thr = default_thresholds(measure, scheme, given, body.control_risk)
    if given is not None and thr is not None:
        thr_text = f"{thr.label}; set for this outcome"
    elif thr is not None:
        thr_text = f"{thr.label} ({thr.source})"
    else:
        thr_text = (
            f"none for {measure} (judged against the null; set thresholds in the overrides)"
            if measure
            else "none"
        )
    names_rows = sel if len(sel) else pos
    intervention = name_list(rec.cells("intervention", names_rows), default="the intervention")
    comparator = name_list(rec.cells("comparator", names_rows), default="")
    row: dict = {
        "indication": ind,
        "outcome": outcome,
        "stream": stream,
        "outcome_kind": rec.mode("outcome_kind", pos),
        "intervention": intervention if intervention != "the intervention" else None,
        "comparator": comparator or None,
        "design": TIER_LABEL[tier] + (" (ROBINS-I)" if robins else ""),
        "k": body.k,
        "k_records": body.n_records,
        "n_participants": body.n_participants,
        "n_events": body.n_events,
        "n_int_total": body.n_int_total,
        "n_ctrl_total": body.n_ctrl_total,
        "events_int_total": body.events_int_total,
        "events_ctrl_total": body.events_ctrl_total,
        "control_risk": body.control_risk,
        "measure": measure,
        "estimate": body.estimate,
        "se": body.se,
        "ci_low": body.ci_low,
        "ci_high": body.ci_high,
        "pi_low": body.pi_low,
        "pi_high": body.pi_high,
        "i2": body.i2,
        "tau2": body.tau2,
        "q": body.q,
        "q_df": body.q_df,
        "q_p": body.q_p,
        "method": body.method,
        "ci_method": body.ci_method,
        "estimate_natural": to_natural(measure, body.estimate),
        "ci_low_natural": to_natural(measure, body.ci_low),
        "ci_high_natural": to_natural(measure, body.ci_high),
        "estimable": estimable,
        "estimate_basis": body.basis,
        "study_ids": "; ".join(map(str, body.ids)),
        "estimate_rows": "; ".join(str(int(i)) for i in body.sel),
        "starting_level": start,
        "starting_level_source": start_src,
        "importance": importance,
        "decision_thresholds": thr_text,
        "statement_source": STATEMENT_SOURCE,
    }
    if not estimable:
        reason = _no_evidence_reason(rec, pos)
        if body.pool_error:
            reason = f"not estimable: {body.pool_error}"
        elif rec.double_zero[pos].any():
            reason = body.basis  # every result a double-zero study (Cochrane Handbook 10.4.4.2)
        for d in ALL_DOMAINS:
            jd = not_assessed(
                "no evidence (no result to rate)",
                "GRADE 3: Balshem H et al. J Clin Epidemiol 2011;64:401-406",
            )
            fd, whod = _override(d, jd, ov)
            _put(row, d, jd, fd, whod)
        text = informative_statement(
            "very low",
            intervention=intervention,
            outcome=outcome,
            measure=None,
            estimate=math.nan,
            ci_low=math.nan,
            ci_high=math.nan,
            stream=stream,
            models=rec.cells("model", pos),
        )
        row.update(
            total_down=0,
            total_up=0,
            certainty_within_stream=None,
            certainty=None,
            certainty_score=None,
            certainty_symbols=None,
            evidence_status="no evidence",
            provisional_reason=None,
            no_evidence_reason=reason,
            statement=text,
            statement_question=text,
        )
        return row
    # 2. judge each domain
    ys, vs = rec.yi[sel], rec.vi[sel]
    j: dict[str, Judgement] = {}
    rrows = sel
    tau2 = body.tau2 if math.isfinite(body.tau2) else 0.0
    weights = 1.0 / (rec.vi[sel] + tau2)
    wk = "inverse-variance weight" if len(sel) > 1 else "weight (single record)"
    j["risk_of_bias"] = judge_risk_of_bias(
        rob.classes(rrows),
        weights,
        scheme,
        weight_kind=wk,
        judgements=rob.judgements(rrows),
        robins=robins,
    )
    j["inconsistency"] = judge_inconsistency(
        ys,
        i2=body.i2,
        q_p=body.q_p,
        ci_low=body.ci_low,
        ci_high=body.ci_high,
        pi_low=body.pi_low,
        pi_high=body.pi_high,
        measure=measure or "",
        scheme=scheme,
        aggregate=body.aggregate,
        vi=vs,
        level=scheme.level,
    )
    j["indirectness"] = judge_indirectness(
        stream, scheme, outcome_levels=rec.cells("outcome_level", pos)
    )
    n_events, estimated = body.n_events, False
    if not math.isfinite(n_events) and measure == "RR":
        n_events = events_from_ci(measure, body.se, body.estimate, body.n_participants)
        estimated = math.isfinite(n_events)
    j["imprecision"] = judge_imprecision(
        measure=measure,
        estimate=body.estimate,
        ci_low=body.ci_low,
        ci_high=body.ci_high,
        n_events=n_events,
        n_participants=body.n_participants,
        k=body.k,
        scheme=scheme,
        level=scheme.level,
        n_records=body.n_records,
        stream=stream,
        thresholds=thr,
        events_estimated=estimated,
    )
    n_unrep = int(rec.unreported_registered[pos].sum())
    ni = rec.participants(sel)
    counts = None
    if measure == "OR" and bool(rec.is_counts[sel].all()):
        e1, n1 = rec.floats("events_int", sel), rec.floats("n_int", sel)
        e0, n0 = rec.floats("events_ctrl", sel), rec.floats("n_ctrl", sel)
        if np.isfinite(np.concatenate([e1, n1, e0, n0])).all():
            counts = (e1, n1 - e1, e0, n0 - e0)
    j["publication_bias"] = judge_publication_bias(
        ys,
        vs,
        scheme,
        aggregate=body.aggregate,
        n_unreported_registered=n_unrep,
        measure=measure,
        ni=ni if np.isfinite(ni).all() and (ni > 0).all() else None,
        counts=counts,
        estimate=body.estimate,
        ci_low=body.ci_low,
        ci_high=body.ci_high,
        thresholds=thr,
    )
    j["translational_indirectness"] = judge_translational(stream, question, scheme)
    j["large_effect"] = judge_large_effect(
        measure=measure,
        estimate=body.estimate,
        ci_low=body.ci_low,
        ci_high=body.ci_high,
        control_risk=body.control_risk,
        scheme=scheme,
    )
    doses = rec.floats("dose", sel)
    j["dose_response"] = judge_dose_response(
        ys, vs, doses, pooled_estimate=body.estimate, scheme=scheme
    )
    j["plausible_confounding"] = judge_plausible_confounding(scheme)
    # 3. overrides of the down domains
    final: dict[str, Judgement] = {}
    who: dict[str, str | None] = {}
    for d in (*DOWN_DOMAINS, "translational_indirectness"):
        final[d], who[d] = _override(d, j[d], ov)
    # 4. rate up (GRADE 9; GRADE 18 for ROBINS-I bodies)
    blocking = [
        d for d in DOWN_DOMAINS if final[d].step < 0 and not (robins and d == "risk_of_bias")
    ]
    why = ""
    if tier == "randomised" and scheme.uprate_non_randomised_only:
        why = "randomised body (rating up is for non-randomised evidence)"
    elif blocking:
        why = f"body already rated down ({', '.join(_label(d) for d in blocking)})"
    for d in UP_DOMAINS:
        if why:
            rule = (
                f"the rule would give {j[d].step:+d}: {j[d].reason}" if j[d].step else j[d].reason
            )
            j[d] = Judgement(
                0,
                f"not applied: {why} ({rule})",
                f"{scheme.source('uprate_non_randomised_only')}; {j[d].source}",
                "none",
                True,
                False,
            )
        final[d], who[d] = _override(d, j[d], ov)
    for d in ALL_DOMAINS:
        _put(row, d, j[d], final[d], who[d])
    # 5. score
    within_down = sum(final[d].step for d in DOWN_DOMAINS)
    total_down = within_down + final["translational_indirectness"].step
    total_up = sum(final[d].step for d in UP_DOMAINS)
    s0 = LEVEL_SCORE[start]
    within = int(min(4, max(1, s0 + within_down + total_up)))
    score = int(min(4, max(1, s0 + total_down + total_up)))
    level = LEVELS[score - 1]
    gaps = []
    for d in DOWN_DOMAINS:
        f = final[d]
        if not f.assessed and f.applicable:
            gaps.append(f"{_label(d)} not assessed")
        elif f.provisional:
            gaps.append(f.provisional)
    row.update(
        total_down=total_down,
        total_up=total_up,
        certainty_within_stream=LEVELS[within - 1],
        certainty=level,
        certainty_score=score,
        certainty_symbols=LEVEL_SYMBOLS[level],
        evidence_status="provisional" if gaps else "rated",
        provisional_reason="; ".join(gaps) if gaps else None,
        no_evidence_reason=None,
    )
    # 6. statements (GRADE 26)
    own = informative_statement(
        LEVELS[within - 1],
        intervention=intervention,
        outcome=outcome,
        measure=measure,
        estimate=body.estimate,
        ci_low=body.ci_low,
        ci_high=body.ci_high,
        stream=stream,
        comparator=comparator or None,
        thresholds=thr,
        outcome_direction=rec.mode("outcome_direction", pos),
        models=rec.cells("model", names_rows),
        model_details=rec.cells("model_detail", names_rows),
    )
    row["statement"] = own
    row["statement_question"] = question_statement(
        level,
        stream=stream,
        intervention=intervention,
        outcome=outcome,
        own_statement=own,
        question=question,
        models=rec.cells("model", names_rows),
    )
    return row


def _put(row: dict, d: str, suggested: Judgement, final: Judgement, who: str | None) -> None:
    row[d] = final.step
    row[f"{d}_suggested"] = suggested.step
    row[f"{d}_judgement"] = final.judgement
    row[f"{d}_reason"] = final.reason
    row[f"{d}_source"] = final.source
    row[f"{d}_override_by"] = who
