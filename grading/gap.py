"""The translational gap per indication: preclinical promise against human delivery, with numbers.

For each indication :func:`gap_summary` reports how far human development got (highest phase
with results, highest registered), how much evidence each stream holds, the preclinical promise
and the human effect on one scale (SMD, benefit positive) with every conversion named, the
certainty per stream, the human harms, a translation verdict from the rule table
:data:`VERDICT_RULES` with a one-sentence narrative built from the numbers, the regulatory
facts specific to the indication, and a base rate of approval for programmes with results at a
phase.  No cell is left empty without a note that says why.

Promise selection
    Among the animal benefit bodies with a pooled estimate, the most clinically meaningful
    ``outcome_level`` (clinical, then functional, surrogate, mechanistic; bodies without a level
    last), then one whose estimate converts to the common scale, then the largest k.  The note
    says which level was used, or "outcome level not recorded".

Common scale
    See :mod:`grading.common_scale`: SMD as is; ln OR x sqrt(3)/pi (Chinn 2000; Hasselblad &
    Hedges 1995); RR -> OR with the body's control risk; MD / pooled SD where the records report
    SDs.  Signs follow ``outcome_direction`` so that positive = benefit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evidence.errors import ValidationError
from evidence.internal import check_frame, combine, distinct, text_codes
from evidence.measures import SINGLE_GROUP_MEASURES
from evidence.proportions import single_arm_columns
from evidence.schema import indication_key
from grading.common_scale import CHINN, pooled_sd, to_common_smd
from grading.harms import REVIEW_WIDE, harms_summary
from grading.labels import indication_label, model_label, phase_label
from grading.scheme import BIO_2021_LOA, LEVEL_SCORE, LEVELS, Scheme, load_scheme
from grading.tables import SINGLE_ARM_COLUMNS, proportion_ci_text

__all__ = [
    "gap_summary",
    "PHASE_ORDER",
    "to_smd",
    "indication_matches",
    "VERDICT_RULES",
    "GAP_COLUMNS",
    "CHINN",
]

PHASE_ORDER: tuple[str, ...] = (
    "phase_1",
    "phase_1_2",
    "phase_2",
    "phase_2_3",
    "phase_3",
    "phase_4",
)
_PHASE_TO_LOA = {
    "phase_1": "phase_1",
    "phase_1_2": "phase_1",
    "phase_2": "phase_2",
    "phase_2_3": "phase_2",
    "phase_3": "phase_3",
}
_LEVEL_RANK = {"clinical": 0, "functional": 1, "surrogate": 2, "mechanistic": 3}
_SINGLE_GROUP = SINGLE_GROUP_MEASURES
BIO_SOURCE = (
    "BIO, Informa Pharma Intelligence, QLS. Clinical Development Success Rates "
    "2011-2020 (February 2021), Figure 5b"
)

#: The translation verdict: the first rule whose condition holds (``efficacy_verdict`` applies
#: the same table without the first rule).
VERDICT_RULES: tuple[tuple[str, str], ...] = (
    (
        "harm signal",
        "a human adverse-event report, case report or case series describing a "
        "harm, or at least one harm event counted in a human record",
    ),
    ("preclinical only", "no human record"),
    ("human safety data only", "human records exist but none reports a benefit outcome"),
    (
        "human efficacy reported, concordant",
        "a controlled human benefit estimate on the common "
        "scale in the same direction as the preclinical promise (both benefit or both harm)",
    ),
    (
        "human efficacy reported, discordant",
        "a controlled human benefit estimate on the common "
        "scale in the opposite direction to the preclinical promise",
    ),
    (
        "human efficacy reported, not comparable",
        "a controlled human benefit estimate that "
        "cannot be set against a preclinical estimate on the common scale",
    ),
    (
        "human efficacy uncontrolled only",
        "human benefit results only from single-group designs (proportions without a comparator)",
    ),
    (
        "human efficacy untested beyond phase 1",
        "no human benefit result; no human trial beyond "
        "phase 1 (phase 1/2 counts as phase 1) registered or reported",
    ),
    (
        "human efficacy not reported",
        "no human benefit result although trials at phase 2 or later, or of unstated phase, exist",
    ),
)

GAP_COLUMNS: tuple[str, ...] = (
    "indication",
    "indication_label",
    "verdict",
    "efficacy_verdict",
    "narrative",
    "highest_phase_with_results",
    "highest_phase_registered",
    "n_in_vitro",
    "n_animal",
    "n_animal_meta_analyses",
    "n_human",
    "n_human_registered_no_results",
    "n_human_trials_unknown_phase",
    "models",
    "preclinical_outcome",
    "preclinical_outcome_level",
    "preclinical_smd",
    "preclinical_note",
    "human_outcome",
    "human_outcome_level",
    "human_smd",
    "human_note",
    "human_certainty",
    "human_comparison",
    "attenuation",
    "attenuation_note",
    "certainty_in_vitro",
    "certainty_animal",
    "certainty_human",
    "n_harm_records",
    "n_harm_reports",
    "n_harm_events",
    "n_harm_exposed",
    "harm_signal",
    "harm_products",
    "harm_text",
    "regulatory_status",
    "regulatory_citations",
    "prior_phase",
    "prior_area",
    "prior_area_assumed",
    "prior_loa",
    "prior_source",
)

ALL_INDICATIONS = ("all", "all_indications", "all indications", "*")


def indication_matches(a: str, b: str) -> bool:
    """Whether two indication labels refer to each other.

    Equal (case, '_' vs ' ' ignored), either is an 'all indications' label, or one contains
    the other as whole words ('stroke' matches 'acute ischaemic stroke', 'all' not 'allergy').
    """

    x = " ".join(str(a).lower().replace("_", " ").split())
    y = " ".join(str(b).lower().replace("_", " ").split())
    if not x or not y:
        return False
    if x == y or x in ALL_INDICATIONS or y in ALL_INDICATIONS:
        return True
    short, long_ = (x, y) if len(x) <= len(y) else (y, x)
    return re.search(r"\b" + re.escape(short) + r"\b", long_) is not None


def is_global(label: str) -> bool:
    """True when ``label`` means every indication ("all", "all indications", "*", ...)."""
    return " ".join(str(label).lower().replace("_", " ").split()) in ALL_INDICATIONS


def to_smd(
    measure: str | None, value: float, *, control_risk: float | None = None, sd: float | None = None
) -> tuple[float, str]:
    """A pooled value on the SMD scale and how it was obtained (NaN + reason if impossible).

    Thin wrapper of :func:`grading.common_scale.to_common_smd`.
    """
    return to_common_smd(measure, value, control_risk=control_risk, sd=sd)


def _directions(
    studies: pd.DataFrame, ind: np.ndarray, ind_texts: np.ndarray
) -> dict[tuple[str, str], str]:
    """(indication, outcome) -> most common outcome_direction (ties: the first seen).

    ``ind`` codes each row's indication text in ``ind_texts`` (-1: missing).  Counted per
    combination of codes; combinations are numbered in order of first appearance, so max()
    below breaks ties as a scan of the rows would.
    """
    if "outcome_direction" not in studies.columns:
        return {}
    d_codes, d_reps = distinct(studies["outcome_direction"])
    d_values = d_reps.astype(object).to_numpy()
    valid_rep = np.array([isinstance(v, str) and bool(v) for v in d_values], dtype=bool)
    out, out_texts = text_codes(studies["outcome"])
    ids, first = combine([ind, out, np.where(valid_rep[d_codes], d_codes, -1)])
    sizes = np.bincount(ids)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for row, n in zip(first, sizes, strict=True):
        i, o, d = ind[row], out[row], d_codes[row]
        if i >= 0 and o >= 0 and valid_rep[d]:  # rows with a missing key are not counted
            counts.setdefault((ind_texts[i], out_texts[o]), {})[d_values[d]] = int(n)
    return {k: max(v, key=v.__getitem__) for k, v in counts.items()}


def _direction_sign(directions: dict, ind: str, outcome: str) -> tuple[int, str]:
    d = directions.get((ind, outcome))
    if d is None:
        return 1, "direction unknown (sign as reported)"
    return (
        (-1, "higher is worse: sign flipped") if d == "higher_is_worse" else (1, "higher is better")
    )


def _is(value: object, text: str) -> bool:
    """Whether a pandas comparison ``column == text`` selects this value (missing: no)."""
    return isinstance(value, str) and value == text


def _has_result(r: dict) -> bool:
    """A body with a pooled estimate that is not marked 'no evidence' (``evidence_status``)."""
    if _is(r.get("evidence_status"), "no evidence"):
        return False
    est = r.get("estimate")
    return isinstance(est, (int, float)) and not isinstance(est, bool) and math.isfinite(est)


def _body_levels(studies: pd.DataFrame, keys: pd.Series) -> dict[tuple, str]:
    """(indication key, outcome, stream) -> most clinically meaningful recorded outcome_level."""
    if "outcome_level" not in studies.columns:
        return {}
    lv = studies["outcome_level"]
    has = lv.notna().to_numpy()
    if not has.any():
        return {}
    sub = pd.DataFrame(
        {
            "k": keys[has].astype(object).to_numpy(),
            "o": studies.loc[has, "outcome"].astype(object).to_numpy(),
            "s": studies.loc[has, "stream"].astype(object).to_numpy(),
            "l": lv[has].astype(object).to_numpy(),
        }
    ).drop_duplicates()
    out: dict[tuple, str] = {}
    for k, o, s, level in sub.itertuples(index=False):
        if level not in _LEVEL_RANK:
            continue
        old = out.get((k, o, s))
        if old is None or _LEVEL_RANK[level] < _LEVEL_RANK[old]:
            out[(k, o, s)] = level
    return out


def _body_sds(studies: pd.DataFrame, keys: pd.Series) -> dict[tuple, float]:
    """(indication key, outcome, stream) -> SD pooled over the MD body's two-arm records."""
    need = ("measure", "sd_int", "sd_ctrl", "n_int", "n_ctrl")
    if not set(need) <= set(studies.columns):
        return {}
    md = (
        (studies["measure"] == "MD").fillna(False).to_numpy(dtype=bool)
        & studies["sd_int"].notna().to_numpy()
        & studies["sd_ctrl"].notna().to_numpy()
    )
    if not md.any():
        return {}
    sub = studies.loc[md, ["outcome", "stream", *need[1:]]].copy()
    sub["_k"] = keys[md].astype(object).to_numpy()
    out = {}
    for (k, o, s), grp in sub.groupby(["_k", "outcome", "stream"], sort=False, observed=True):
        sd, n = pooled_sd(grp)
        if n:
            out[(k, o, s)] = sd
    return out


def _pick(g: list[dict], stream: str, ctx: dict, ind: str, *, comparative: bool) -> dict:
    """The stream's benefit body that stands for the indication, on the common scale.

    Bodies with a result only; ranked by outcome level (clinical first, unrecorded last), then
    convertibility to the common scale, then k (larger first); the first such body wins.
    ``comparative`` keeps only bodies with a comparator (no single-group proportions).
    """
    out: dict = {
        "outcome": None,
        "level": None,
        "smd": math.nan,
        "note": None,
        "k": 0,
        "measure": None,
        "certainty": None,
        "estimate": math.nan,
        "n_single": 0,
        "dir_known": False,
        "provisional": False,
    }
    f = [
        r
        for r in g
        if _is(r["stream"], stream) and not _is(r["outcome_kind"], "harm") and _has_result(r)
    ]
    single = [r for r in f if r.get("measure") in _SINGLE_GROUP]
    out["n_single"] = len(single)
    out["single"] = single
    if comparative:
        f = [r for r in f if r.get("measure") not in _SINGLE_GROUP]
    if not f:
        return out
    levels, sds = ctx["levels"], ctx["sds"]

    def conv(r):
        return to_common_smd(
            r["measure"],
            r["estimate"],
            control_risk=r.get("control_risk"),
            sd=sds.get((ind, r["outcome"], stream)),
        )

    convs = [conv(r) for r in f]

    def rank(i):
        r = f[i]
        lv = levels.get((ind, r["outcome"], stream))
        k = r["k"]
        return (
            _LEVEL_RANK.get(lv, 9),
            not math.isfinite(convs[i][0]),
            bool(pd.isna(k)),
            0 if pd.isna(k) else -k,
            i,
        )

    best = min(range(len(f)), key=rank)
    r, (smd, how) = f[best], convs[best]
    level = levels.get((ind, r["outcome"], stream))
    level_txt = f"{level} outcome" if level else "outcome level not recorded"
    out.update(
        outcome=r["outcome"],
        level=level or "not recorded",
        k=int(r["k"]),
        measure=r["measure"],
        estimate=float(r["estimate"]),
        certainty=r.get("certainty_within_stream") if stream != "human" else r.get("certainty"),
        provisional=r.get("evidence_status") == "provisional",
        for_humans=r.get("certainty") if stream != "human" else None,
        comparison=_comparison(r),
    )
    if not math.isfinite(smd):
        out["note"] = f"'{r['outcome']}' ({level_txt}): {how}"
        return out
    sign, dnote = _direction_sign(ctx["directions"], ind, r["outcome"])
    out["dir_known"] = (ind, r["outcome"]) in ctx["directions"]
    out.update(smd=sign * smd, note=f"'{r['outcome']}' ({level_txt}; {how}; {dnote})")
    return out


def _comparison(r: dict) -> str:
    """'intervention vs comparator' of a body; empty when the comparator is not recorded."""

    def text(c):
        v = r.get(c)
        return str(v).strip() if isinstance(v, str) and str(v).strip() else ""

    comp, inter = text("comparator"), text("intervention")
    if not comp:
        return ""
    return f"{inter} vs {comp}" if inter else f"vs {comp}"


def _single_arm_text(studies: pd.DataFrame):
    """A function body -> '7 of 22: 32% (95% CI 16% to 53%, Wilson score)' for a one-row
    single-arm body (the observed proportion, no continuity correction), else ''."""
    cols = SINGLE_ARM_COLUMNS
    if not {"events_int", "n_int", "data_type"} <= set(studies.columns):
        return lambda body: ""
    if "proportion" not in studies.columns:
        studies = studies.assign(**single_arm_columns(studies))
    arr = {c: studies[c].to_numpy() for c in cols}

    def text(body: dict) -> str:
        rows = body.get("estimate_rows")
        pos = [p.strip() for p in rows.split(";")] if isinstance(rows, str) else []
        if len(pos) != 1 or not pos[0].isdigit() or int(pos[0]) >= len(studies):
            return ""
        j = int(pos[0])
        p, lo, hi = (float(arr[c][j]) for c in cols[:3])
        if not all(math.isfinite(v) for v in (p, lo, hi)):
            return ""
        counts = f"{float(arr['events_int'][j]):.0f} of {float(arr['n_int'][j]):.0f}: "
        return counts + proportion_ci_text(p, lo, hi, arr["proportion_ci_method"][j])

    return text


def _cert(body: dict, where: str = "") -> str:
    """'moderate certainty', with '(provisional)' when some applicable domain was not
    assessed (the level then comes from the assessed domains only).  A preclinical body
    (``where`` = 'in animals') also gives its certainty for humans when that differs:
    'high certainty in animals, low for humans'."""
    text = f"{body['certainty']} certainty"
    q = body.get("for_humans")
    if where and isinstance(q, str) and q and q != body["certainty"]:
        text += f" {where}, {q} for humans"
    return text + (" (provisional)" if body.get("provisional") else "")


def _best_level(g: list[dict], stream: str, col: str, n_records: int) -> str:
    """Highest certainty among the stream's bodies with a result, or why there is none."""
    scores = [
        LEVEL_SCORE.get(r.get(col, "")) for r in g if _is(r["stream"], stream) and _has_result(r)
    ]
    known = [s for s in scores if s is not None]
    if known:
        return LEVELS[int(max(known)) - 1]
    if n_records == 0:
        return "no records"
    return "not rated: no pooled result"


def _mask(selected: pd.Series) -> np.ndarray:
    """A comparison as the rows it selects (missing: not selected)."""
    return selected.fillna(False).to_numpy(dtype=bool)


def gap_summary(
    studies: pd.DataFrame,
    grades: pd.DataFrame,
    *,
    regulatory: pd.DataFrame | None = None,
    scheme: Scheme | str | None = None,
) -> pd.DataFrame:
    """Per-indication summary of the translational gap, with a verdict and the harms.

    Parameters
    ----------
    studies : DataFrame
        The accepted study sheet (needs ``indication``, ``stream``, ``model``, ``data_type``;
        uses ``outcome_kind``, ``outcome_direction``, ``outcome_level``, the SD and event columns
        when present).
    grades : DataFrame
        Output of :func:`grading.grade` for the same studies.  ``evidence_status`` is
        used when present: a 'no evidence' body never counts as a result.
    regulatory : DataFrame, optional
        ``indication, jurisdiction, status, date, detail, citation_key`` (``data/regulatory.csv``).
        Rows for a specific indication are matched with :func:`indication_matches`; rows for
        'all indications' are review-wide facts, listed once in ``attrs['regulatory_review_wide']``
        and not repeated on every row.
    scheme : Scheme, optional
        Supplies the approval base rates (``loa_by_area``, ``indication_area``).

    Returns
    -------
    DataFrame
        One row per indication, columns :data:`GAP_COLUMNS`:

        ``indication``, ``indication_label``
            Grouping key and its readable form.
        ``verdict``, ``efficacy_verdict``
            The first rule of :data:`VERDICT_RULES` that holds (``efficacy_verdict``: the same
            without the harm-signal rule).
        ``narrative``
            The verdict told with numbers: animal promise, human result or what exists instead,
            certainty, harms.
        ``highest_phase_with_results``, ``highest_phase_registered``
            Among human phase-tagged records, as words ('phase 1/2'); 'none' when there is none.
        ``n_in_vitro, n_animal, n_animal_meta_analyses, n_human``
            Records per stream (published animal meta-analyses among the animal records).
        ``n_human_registered_no_results``, ``n_human_trials_unknown_phase``
            Phase-tagged human records without results; trials whose phase the source does not
            state.
        ``models``
            Records per design, as words, zero counts left out.
        ``preclinical_outcome, preclinical_outcome_level, preclinical_smd, preclinical_note``
            The preclinical promise (see the module docstring), its outcome level ('not
            recorded' when the sheet has none), its pooled effect as SMD (positive = benefit) and
            the note naming the conversion, or why there is no value.
        ``human_outcome, human_outcome_level, human_smd, human_note``
            The same for the human stream, from controlled comparisons only; when there is none,
            ``human_note`` says what exists instead (single-group results, registered trials
            without results, records without numbers).
        ``human_certainty``
            Certainty of the body behind ``human_smd`` (for the review's question, with
            '(provisional)' when some domain was not assessed); empty without a human result.
            ``certainty_human`` is the highest among all human bodies and can differ.
        ``human_comparison``
            What that body compared, from the sheet's ``intervention`` and ``comparator``
            ("inhaled EXO-CD24 10^10 vs EXO-CD24 10^9": a dose comparison is not a
            comparison with no treatment); empty without a human result.
        ``attenuation``, ``attenuation_note``
            human_smd / preclinical_smd (1 = as large as in animals) and why it is missing.
        ``certainty_in_vitro, certainty_animal, certainty_human``
            Highest certainty among the stream's bodies with a result (animal and in vitro:
            within their stream; human: for the review's question); 'no records' or 'not rated:
            no pooled result' otherwise.
        ``n_harm_records, n_harm_reports, n_harm_events, n_harm_exposed, harm_signal,``
        ``harm_products, harm_text``
            Human harms, see :func:`grading.harms.harms_summary`.
        ``regulatory_status``, ``regulatory_citations``
            Indication-specific "jurisdiction: status (date)" entries and their citation keys,
            or a sentence saying there is none (review-wide facts are in the attrs).
        ``prior_phase, prior_area, prior_area_assumed, prior_loa, prior_source``
            Base rate of eventual approval for programmes with results at the highest phase
            reached (BIO/Informa/QLS 2021, Fig. 5b; monotone in phase), with its label and
            source; empty with the reason for indications without human results at a stated
            phase and for non-therapeutic questions.  A base rate for the phase and disease
            area, not a forecast for these products.

        ``attrs['regulatory_review_wide']`` lists the review-wide regulatory entries and
        ``attrs['harms_review_wide']`` the harms summary over the whole review (a dict).
    """

    scheme = load_scheme(scheme)
    check_frame(studies, "studies", "gap_summary", what="the study sheet as a DataFrame")
    check_frame(grades, "grades", "gap_summary", what="the DataFrame from grade()")
    if regulatory is not None:
        check_frame(
            regulatory,
            "regulatory",
            "gap_summary",
            what="a DataFrame like data/regulatory.csv or None",
        )
    for col in ("indication", "stream", "model", "data_type"):
        if col not in studies.columns:
            raise ValidationError(f"gap_summary() needs column {col!r} in 'studies'.")
    if regulatory is not None:
        for col in ("indication", "jurisdiction", "status"):
            if col not in regulatory.columns:
                raise ValidationError(f"gap_summary() needs column {col!r} in 'regulatory'.")

    gcols = [
        "indication",
        "outcome",
        "stream",
        "outcome_kind",
        "measure",
        "estimate",
        "k",
        "certainty",
        "certainty_within_stream",
    ]
    missing = [c for c in gcols if c not in grades.columns]
    if missing:
        raise ValidationError(f"gap_summary() needs column {missing[0]!r} in 'grades'.")
    keys = indication_key(studies)
    ind_codes, ind_texts = text_codes(keys)
    ctx = {
        "directions": _directions(studies, ind_codes, ind_texts),
        "levels": _body_levels(studies, keys),
        "sds": _body_sds(studies, keys),
    }
    extra = [
        c
        for c in ("control_risk", "evidence_status", "intervention", "comparator", "estimate_rows")
        if c in grades.columns
    ]
    ctx["single_arm"] = _single_arm_text(studies)
    grades = grades[gcols + extra]
    records = _record_counts(studies, ind_codes, ind_texts)
    record_ind = records["_ind"].to_numpy()
    grade_ind = grades["indication"].astype(str).tolist()
    bodies: dict[str, list[dict]] = {}
    for key, body in zip(grade_ind, grades.to_dict("records"), strict=True):
        bodies.setdefault(key, []).append(body)
    reg = _Regulatory.from_frame(regulatory)
    harms = {}
    review_harms: dict = {}
    if "outcome_kind" in studies.columns:
        hs = harms_summary(studies)
        for r in hs.to_dict("records"):
            if r["indication"] == REVIEW_WIDE:
                review_harms = r
            else:
                harms[r["indication"]] = r
    rows = [
        _gap_row(
            ind,
            records.iloc[np.flatnonzero(record_ind == ind)],
            bodies.get(ind, []),
            ctx,
            reg,
            scheme,
            harms.get(ind, {}),
        )
        for ind in sorted(set(record_ind.tolist()) | set(grade_ind))
        if isinstance(ind, str)
    ]
    out = pd.DataFrame(rows, columns=list(GAP_COLUMNS))
    for col in (
        "preclinical_smd",
        "human_smd",
        "attenuation",
        "prior_loa",
        "n_harm_events",
        "n_harm_exposed",
    ):
        out[col] = out[col].astype(float)
    out.attrs["regulatory_review_wide"] = reg.review_wide()
    out.attrs["harms_review_wide"] = review_harms
    out.attrs["verdict_rules"] = list(VERDICT_RULES)
    return out.reset_index(drop=True)


_NO_HARMS = {
    "n_harm_records": 0,
    "n_harm_reports": 0,
    "n_harm_events": math.nan,
    "n_harm_exposed": math.nan,
    "harm_signal": False,
    "harm_products": "none",
    "harm_text": "no human harm record",
}


def _efficacy_verdict(
    n_human: int,
    n_human_benefit: int,
    hum: dict,
    pre: dict,
    top_phase: str | None,
    n_unknown_phase: int,
) -> str:
    if n_human == 0:
        return "preclinical only"
    if n_human_benefit == 0:
        return "human safety data only"
    if hum["outcome"] is not None:
        if math.isfinite(hum["smd"]) and math.isfinite(pre["smd"]) and pre["smd"] != 0:
            same = (hum["smd"] > 0) == (pre["smd"] > 0) and hum["smd"] != 0
            return (
                "human efficacy reported, concordant"
                if same
                else "human efficacy reported, discordant"
            )
        return "human efficacy reported, not comparable"
    if hum["n_single"]:
        return "human efficacy uncontrolled only"
    if n_unknown_phase == 0 and (
        top_phase is None or PHASE_ORDER.index(top_phase) <= PHASE_ORDER.index("phase_1_2")
    ):
        return "human efficacy untested beyond phase 1"
    return "human efficacy not reported"


def _fmt(x: float) -> str:
    return f"{x:+.2f}".replace("-", "\u2212")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _gap_row(
    ind: str,
    s: pd.DataFrame,
    g: list[dict],
    ctx: dict,
    regulatory: _Regulatory,
    scheme: Scheme,
    harm: dict,
) -> dict:
    """One indication's row: ``s`` its records (from :func:`_record_counts`), ``g`` its bodies."""
    n = s["_n"].to_numpy()
    model = s["model"].to_numpy(dtype=object)

    def count(kind: str) -> int:
        return int(n[s[kind].to_numpy()].sum())

    hp_res = _top_phase(model[s["_phase_results"].to_numpy()])
    hp_reg = _top_phase(model[s["_phase"].to_numpy()])
    models = s.groupby("model", observed=True, sort=True)["_n"].sum()
    models = models[models > 0]
    pre = _pick(g, "animal", ctx, ind, comparative=False)
    hum = _pick(g, "human", ctx, ind, comparative=True)
    n_vitro, n_animal, n_human = count("_in_vitro"), count("_animal"), count("_human")
    n_reg_no = count("_phase_no_results")
    n_unknown_phase = count("_unknown_phase")
    n_benefit = count("_human_benefit")
    harm = {**_NO_HARMS, **{k: v for k, v in harm.items() if k in _NO_HARMS}}

    # notes for empty values
    if pre["note"] is None:
        pre["note"] = (
            "no animal records"
            if n_animal == 0
            else f"no pooled animal benefit estimate ({_plural(n_animal, 'animal record')} "
            "without a numeric result)"
        )
    if hum["note"] is None:
        what = []
        if hum["n_single"]:
            ex = hum["single"][0]
            seen = ctx["single_arm"](ex)
            what.append(
                f"{_plural(hum['n_single'], 'single-group result')} without a "
                f"comparator (e.g. '{ex['outcome']}' "
                + (seen or f"proportion {ex['estimate']:.2f}")
                + ")"
                if ex.get("measure") == "PR" or seen
                else f"{_plural(hum['n_single'], 'single-group result')} without a comparator"
            )
        if n_reg_no:
            what.append(f"{_plural(n_reg_no, 'registered trial')} without results")
        if n_unknown_phase:
            what.append(f"{_plural(n_unknown_phase, 'trial record')} of unstated phase")
        if n_human == 0:
            hum["note"] = "no human records"
        elif n_benefit == 0:
            hum["note"] = "no human efficacy outcome (harm/safety records only)"
        else:
            hum["note"] = "no controlled human efficacy result reported" + (
                "; " + "; ".join(what) if what else ""
            )
    if math.isfinite(hum["smd"]) and math.isfinite(pre["smd"]) and pre["smd"] != 0:
        att, att_note = hum["smd"] / pre["smd"], "human SMD / animal SMD"
    elif not math.isfinite(hum["smd"]) and not math.isfinite(pre["smd"]):
        att, att_note = math.nan, "no effect on the common scale in either stream"
    elif not math.isfinite(hum["smd"]):
        att, att_note = math.nan, "no human effect on the common scale: see human_note"
    elif not math.isfinite(pre["smd"]):
        att, att_note = math.nan, "no preclinical effect on the common scale: see preclinical_note"
    else:
        att, att_note = math.nan, "preclinical SMD is 0: ratio undefined"

    top = (
        hp_reg
        if hp_res is None
        else (
            hp_res
            if hp_reg is None or PHASE_ORDER.index(hp_res) >= PHASE_ORDER.index(hp_reg)
            else hp_reg
        )
    )
    eff = _efficacy_verdict(n_human, n_benefit, hum, pre, top, n_unknown_phase)
    verdict = "harm signal" if harm["harm_signal"] else eff
    cert_animal = _best_level(g, "animal", "certainty_within_stream", n_animal)
    cert_human = _best_level(g, "human", "certainty", n_human)

    # the narrative, from the numbers; an 'animal' stream of non-animal organisms only (model
    # other_organism: plants, microbes) is not called animal
    in_vivo = {str(x) for x in model[s["_animal"].to_numpy() & (n > 0)]}
    plants = (
        bool(in_vivo)
        and in_vivo <= {"other_organism", "meta_analysis"}
        and "other_organism" in in_vivo
    )
    who, where = (
        ("Non-animal organisms", "in these organisms") if plants else ("Animal", "in animals")
    )
    if n_animal == 0:
        animal = "Animal: no records"
    elif math.isfinite(pre["smd"]):
        lv = pre["level"] if pre["level"] != "not recorded" else "outcome level not recorded"
        sign = "benefit positive" if pre["dir_known"] else "sign as reported"
        animal = (
            f"{who}: {pre['outcome']} SMD {_fmt(pre['smd'])} ({sign}; {lv}), "
            f"{_cert(pre, where)}, {_plural(n_animal, 'record')}"
        )
    elif pre["outcome"] is not None:
        animal = (
            f"{who}: {pre['outcome']} {pre['measure']} {pre['estimate']:.2f} (not on the "
            f"common scale), {_cert(pre, where)}, {_plural(n_animal, 'record')}"
        )
    else:
        animal = f"{who}: no pooled estimate, {_plural(n_animal, 'record')}"
    if n_human == 0:
        human = "Human: no records"
    else:
        if hum["outcome"] is not None and math.isfinite(hum["smd"]):
            vs = hum.get("comparison") or ""
            res = (
                f"{hum['outcome']} SMD {_fmt(hum['smd'])} (from {hum['measure']}"
                + (f"; {vs}" if vs else "")
                + f"), {_cert(hum)}"
            )
            if math.isfinite(att):
                res += f", {att:.2f} times the animal effect"
        elif hum["outcome"] is not None:
            res = (
                f"{hum['outcome']} {hum['measure']} {hum['estimate']:.2f}, not on the "
                f"common scale, {_cert(hum)}"
            )
        else:
            res = hum["note"][0].lower() + hum["note"][1:]
        human = f"Human ({_plural(n_human, 'record')}): {res}"
        if hp_res is not None:
            human += f"; highest phase with results: {phase_label(hp_res)}"
        elif hp_reg is not None and hum["outcome"] is None:
            human += f"; highest phase registered: {phase_label(hp_reg)}"
    sentences = [animal, human]
    if harm["n_harm_records"]:
        sentences.append(f"Harms: {harm['harm_text']}")
    narrative = ". ".join(sentences) + "."

    reg_status, reg_cites = regulatory.status(ind)
    if reg_status is None:
        nw = len(regulatory.review_wide())
        reg_status = "no indication-specific entry" + (
            f" ({nw} review-wide {'entry applies' if nw == 1 else 'entries apply'} to every "
            "indication)"
            if nw
            else ""
        )
        reg_cites = "none"
    prior = _prior(scheme, ind, hp_res, n_benefit > 0)
    return {
        "indication": ind,
        "indication_label": indication_label(ind),
        "verdict": verdict,
        "efficacy_verdict": eff,
        "narrative": narrative,
        "highest_phase_with_results": phase_label(hp_res),
        "highest_phase_registered": phase_label(hp_reg),
        "n_in_vitro": n_vitro,
        "n_animal": n_animal,
        "n_animal_meta_analyses": count("_animal_meta"),
        "n_human": n_human,
        "n_human_registered_no_results": n_reg_no,
        "n_human_trials_unknown_phase": n_unknown_phase,
        "models": "; ".join(f"{model_label(k)}: {v}" for k, v in models.items()) or "none",
        "preclinical_outcome": pre["outcome"] if pre["outcome"] is not None else "none",
        "preclinical_outcome_level": pre["level"] or "none",
        "preclinical_smd": pre["smd"],
        "preclinical_note": pre["note"],
        "human_outcome": hum["outcome"] if hum["outcome"] is not None else "none",
        "human_outcome_level": hum["level"] or "none",
        "human_smd": hum["smd"],
        "human_note": hum["note"],
        "human_certainty": _cert(hum)
        if hum["outcome"] is not None and math.isfinite(hum["smd"])
        else "",
        "human_comparison": (hum.get("comparison") or "")
        if hum["outcome"] is not None and math.isfinite(hum["smd"])
        else "",
        "attenuation": att,
        "attenuation_note": att_note,
        "certainty_in_vitro": _best_level(g, "in_vitro", "certainty_within_stream", n_vitro),
        "certainty_animal": cert_animal,
        "certainty_human": cert_human,
        **harm,
        "regulatory_status": reg_status,
        "regulatory_citations": reg_cites,
        **prior,
    }


def _record_counts(
    studies: pd.DataFrame, ind_codes: np.ndarray, ind_texts: np.ndarray
) -> pd.DataFrame:
    """The study sheet collapsed to one row per indication x stream x model x data_type
    (x outcome_kind when present).

    Columns: the grouping columns (dtypes kept), ``_ind`` (indication text), ``_n`` (number of
    records) and the record classes used by :func:`_gap_row` as booleans (the column comparisons
    are made here once; a missing value counts as not matching).
    """
    cols = ["stream", "model", "data_type"]
    if "outcome_kind" in studies.columns:
        cols.append("outcome_kind")
    ids, first = combine([ind_codes] + [distinct(studies[c])[0] for c in cols])
    table = studies[cols].iloc[first].reset_index(drop=True)
    table["_ind"] = np.append(ind_texts, np.nan)[ind_codes[first]]  # code -1: missing
    table["_n"] = np.bincount(ids)
    for stream in ("in_vitro", "animal", "human"):
        table[f"_{stream}"] = _mask(table["stream"] == stream)
    table["_animal_meta"] = table["_animal"].to_numpy() & _mask(table["model"] == "meta_analysis")
    if "outcome_kind" in cols:
        table["_human_benefit"] = table["_human"].to_numpy() & ~_mask(
            table["outcome_kind"] == "harm"
        )
    else:
        table["_human_benefit"] = table["_human"].to_numpy()
    phase = table["_human"].to_numpy() & _mask(table["model"].isin(PHASE_ORDER))
    no_results = _mask(table["data_type"] == "none")
    table["_phase"] = phase
    table["_phase_no_results"] = phase & no_results
    table["_phase_results"] = phase & _mask(table["data_type"] != "none")
    table["_unknown_phase"] = table["_human"].to_numpy() & _mask(table["model"] == "clinical_trial")
    return table


def _top_phase(models: np.ndarray) -> str | None:
    return max(models, key=PHASE_ORDER.index) if len(models) else None


_ACRONYMS = {
    "ind": "IND",
    "bla": "BLA",
    "nda": "NDA",
    "ema": "EMA",
    "fda": "FDA",
    "rmat": "RMAT",
    "eua": "EUA",
}


def _words(text: object) -> str:
    """A status key as words ('ind_cleared' -> 'IND cleared')."""
    return " ".join(_ACRONYMS.get(w, w) for w in str(text).split("_"))


@dataclass(frozen=True)
class _Regulatory:
    """The regulatory table as plain lists: labels, "jurisdiction: status (date)" entries and
    citation keys (``cites`` is None without a citation_key column)."""

    labels: list[str]
    entries: list[str]
    cites: list[str | None] | None

    @classmethod
    def from_frame(cls, regulatory: pd.DataFrame | None) -> _Regulatory:
        if regulatory is None:
            return cls([], [], None)
        entries = []
        for x in regulatory.to_dict("records"):
            date = x.get("date")
            date = "" if pd.isna(date) else f" ({date})"
            entries.append(f"{x['jurisdiction']}: {_words(x['status'])}{date}")
        cites = None
        if "citation_key" in regulatory.columns:
            cites = [None if pd.isna(c) else str(c) for c in regulatory["citation_key"]]
        return cls(regulatory["indication"].astype(str).tolist(), entries, cites)

    def review_wide(self) -> list[dict]:
        """The entries that apply to every indication: [{'entry', 'citation_key'}]."""
        return [
            {
                "entry": self.entries[i],
                "citation_key": None if self.cites is None else self.cites[i],
            }
            for i, label in enumerate(self.labels)
            if is_global(label)
        ]

    def status(self, ind: str) -> tuple[str | None, str | None]:
        """The indication-specific entries (review-wide ones left out) and their citation keys.

        For the 'all indications' row itself the review-wide entries are its own.
        """
        own = is_global(ind)
        hits = [
            i
            for i, label in enumerate(self.labels)
            if is_global(label) == own and (own or indication_matches(label, ind))
        ]
        if not hits:
            return None, None
        status = "; ".join(self.entries[i] for i in hits)
        if self.cites is None:
            return status, None
        return status, "; ".join(sorted({c for i in hits if (c := self.cites[i]) is not None}))


def _prior(scheme: Scheme, ind: str, hp_res: str | None, therapeutic: bool) -> dict:
    """Base rate of approval for a programme with results at ``hp_res`` (or why none)."""

    def none(phase: str, reason: str) -> dict:
        return {
            "prior_phase": phase,
            "prior_area": "not applicable",
            "prior_area_assumed": False,
            "prior_loa": math.nan,
            "prior_source": reason,
        }

    if is_global(ind):
        return none("not applicable", "no prior: review-wide records, not one programme")
    if not therapeutic:
        return none(
            "not applicable",
            "no prior: no human benefit outcome (not a therapeutic programme in this review)",
        )
    if hp_res is None:
        return none(
            "none",
            "no prior: no human trial with results at a stated phase (base "
            "rates apply to programmes with results at a phase; registered "
            "trials alone do not count)",
        )
    if hp_res == "phase_4":
        return none("phase 4", "no prior: phase 4 is a post-approval study")
    phase = _PHASE_TO_LOA[hp_res]
    area, assumed = scheme.area_for(ind)
    table = scheme.loa_by_area.get(area)
    if table is None:
        area, assumed, table = "All indications", False, scheme.loa_by_area.get("All indications")
    if not table or phase not in table:
        return none(
            phase_label(phase),
            f"no prior: the scheme has no base rate for {area}, {phase_label(phase)}",
        )
    seq = [float(table[p]) for p in ("phase_1", "phase_2", "phase_3") if p in table]
    if any(b < a for a, b in zip(seq, seq[1:], strict=False)):
        return none(
            phase_label(phase),
            f"no prior: the scheme's base rates for {area} are not monotone in phase",
        )
    loa = float(table[phase])
    default = dict(scheme.loa_by_area.get(area, {})) == BIO_2021_LOA.get(area)
    src = BIO_SOURCE if default else scheme.source("loa_by_area")
    label = (
        f"{loa:.1%} of {area.lower() if area != 'All indications' else 'all'} "
        f"programmes in {phase_label(phase)} reached FDA approval ({src})"
    )
    if assumed:
        label += f"; disease area '{area}' assumed from the indication keyword table"
    if hp_res != phase:
        label += f"; {phase_label(hp_res)} counted as {phase_label(phase)}"
    label += "; a base rate for the phase and area, not a forecast for this product"
    return {
        "prior_phase": phase_label(phase),
        "prior_area": area,
        "prior_area_assumed": bool(assumed),
        "prior_loa": loa,
        "prior_source": label,
    }
