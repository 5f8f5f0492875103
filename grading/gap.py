"""The translational gap per indication: how far human evidence lags the preclinical promise.

For each indication :func:`gap_summary` reports the human development stage (highest phase with
results, highest registered), how much evidence each stream and model holds, the preclinical and
human pooled effects on one scale (SMD, benefit positive) and their ratio, the certainty per
stream, the regulatory status, and a prior probability of eventual approval from the current
phase.

Common scale: SMD as is; log odds ratios are converted with ``SMD = ln(OR) x sqrt(3) / pi``
(Chinn S. Stat Med 2000;19:3127-3131: "a ln(odds ratio) can be converted to effect size by
dividing by 1.81").  Other measures (RR, HR, MD, ROM, proportions) have no such conversion and
are left out (the column says why).  Signs are aligned so that positive = benefit, using
``outcome_direction`` (``higher_is_worse`` flips the sign).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evidence._codes import combine, distinct, text_codes
from evidence._validate import check_frame
from evidence.errors import ValidationError
from grading.scheme import LEVEL_SCORE, LEVELS, Scheme, load_scheme

__all__ = ["gap_summary", "PHASE_ORDER", "to_smd", "indication_matches"]

PHASE_ORDER: tuple[str, ...] = ("phase_1", "phase_1_2", "phase_2", "phase_2_3", "phase_3",
                                "phase_4")
_PHASE_TO_LOA = {"phase_1": "phase_1", "phase_1_2": "phase_1", "phase_2": "phase_2",
                 "phase_2_3": "phase_2", "phase_3": "phase_3"}
CHINN = math.sqrt(3) / math.pi
CHINN_SOURCE = ("Chinn S. A simple method for converting an odds ratio to effect size for use in "
                "meta-analysis. Stat Med 2000;19:3127-3131 (ln OR / 1.81 = ln OR x sqrt(3)/pi)")


ALL_INDICATIONS = ("all", "all_indications", "all indications", "*")


def indication_matches(a: str, b: str) -> bool:
    """Whether two indication labels refer to each other.

    Equal (case, '_' vs ' ' ignored), either is an 'all indications' label, or one contains
    the other as whole words ('stroke' matches 'acute ischaemic stroke', 'all' not 'allergy').
    """
    import re

    x = " ".join(str(a).lower().replace("_", " ").split())
    y = " ".join(str(b).lower().replace("_", " ").split())
    if not x or not y:
        return False
    if x == y or x in ALL_INDICATIONS or y in ALL_INDICATIONS:
        return True
    short, long_ = (x, y) if len(x) <= len(y) else (y, x)
    return re.search(r"\b" + re.escape(short) + r"\b", long_) is not None


def to_smd(measure: str | None, value: float) -> tuple[float, str]:
    """A pooled value on the SMD scale and how it was obtained (NaN + reason if impossible)."""
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return math.nan, "no estimate"
    if measure == "SMD":
        return float(value), "SMD"
    if measure == "OR":
        return float(value) * CHINN, "log OR x sqrt(3)/pi (Chinn 2000)"
    return math.nan, f"{measure} has no conversion to SMD"


def _directions(studies: pd.DataFrame, ind: np.ndarray,
                ind_texts: np.ndarray) -> dict[tuple[str, str], str]:
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
    return (-1, "higher is worse: sign flipped") if d == "higher_is_worse" else (
        1, "higher is better")


def _is(value: object, text: str) -> bool:
    """Whether a pandas comparison ``column == text`` selects this value (missing: no)."""
    return isinstance(value, str) and value == text


def _rank(ok: bool, k: object) -> tuple[bool, bool, float]:
    """Sort key of a stable descending sort by (ok, k), missing k last."""
    missing = bool(pd.isna(k))
    return (not ok, missing, 0 if missing else -k)


def _best_body(g: list[dict], stream: str, directions: dict, ind: str) -> dict:
    """The stream's benefit body with an SMD-convertible estimate and the largest k."""
    f = [r for r in g if _is(r["stream"], stream) and not _is(r["outcome_kind"], "harm")]
    out = {"outcome": None, "smd": math.nan, "note": "no estimable benefit outcome",
           "k": 0, "measure": None}
    if not f:
        return out
    conv = [to_smd(r["measure"], r["estimate"]) for r in f]
    ok = [math.isfinite(smd) for smd, _ in conv]
    best = min(range(len(f)), key=lambda i: _rank(ok[i], f[i]["k"]))  # first of the best
    r, (smd, how) = f[best], conv[best]
    if not ok[best]:
        out.update(outcome=r["outcome"], note=f"'{r['outcome']}': {how}", k=int(r["k"]),
                   measure=r["measure"])
        return out
    sign, dnote = _direction_sign(directions, ind, r["outcome"])
    out.update(outcome=r["outcome"], smd=sign * smd, k=int(r["k"]), measure=r["measure"],
               note=f"'{r['outcome']}' ({how}; {dnote})")
    return out


def _best_level(g: list[dict], stream: str, col: str) -> str | None:
    scores = [LEVEL_SCORE.get(r[col]) for r in g if _is(r["stream"], stream)]
    if not scores:
        return None
    return LEVELS[int(max((s for s in scores if s is not None), default=math.nan)) - 1]


def _record_counts(studies: pd.DataFrame, ind_codes: np.ndarray,
                   ind_texts: np.ndarray) -> pd.DataFrame:
    """The study sheet collapsed to one row per indication x stream x model x data_type.

    Columns: ``stream``, ``model``, ``data_type`` (dtypes kept), ``_ind`` (indication text),
    ``_n`` (number of records) and the record classes of :func:`_gap_row` as booleans (the
    column comparisons are made here once; a missing value counts as not matching).
    """
    cols = ["stream", "model", "data_type"]
    ids, first = combine([ind_codes] + [distinct(studies[c])[0] for c in cols])
    table = studies[cols].iloc[first].reset_index(drop=True)
    table["_ind"] = np.append(ind_texts, np.nan)[ind_codes[first]]  # code -1: missing
    table["_n"] = np.bincount(ids)
    for stream in ("in_vitro", "animal", "human"):
        table[f"_{stream}"] = _mask(table["stream"] == stream)
    phase = table["_human"].to_numpy() & _mask(table["model"].isin(PHASE_ORDER))
    no_results = _mask(table["data_type"] == "none")
    table["_phase"] = phase
    table["_phase_no_results"] = phase & no_results
    table["_phase_results"] = phase & _mask(table["data_type"] != "none")
    table["_unknown_phase"] = table["_human"].to_numpy() & _mask(
        table["model"] == "clinical_trial")
    return table


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
    """Per-indication summary of the translational gap.

    Parameters
    ----------
    studies : DataFrame
        The accepted study sheet (needs ``indication``, ``stream``, ``model``, ``data_type``).
    grades : DataFrame
        Output of :func:`grading.grade` for the same studies.
    regulatory : DataFrame, optional
        ``indication, jurisdiction, status, date, detail, citation_key`` (``data/regulatory.csv``).
        Matched with :func:`indication_matches` ('all' rows apply to every indication).
    scheme : Scheme, optional
        Supplies the phase -> approval priors (``loa_from_phase``, ``loa_by_area``,
        ``indication_area``).

    Returns
    -------
    DataFrame
        One row per indication:

        ``indication``
        ``highest_phase_with_results``, ``highest_phase_registered``
            Among human phase-tagged records (``data_type`` 'none' = registered without
            results); None when there are none.
        ``n_in_vitro, n_animal, n_human``
            Records per stream; ``models`` lists records per model tag.
        ``n_human_registered_no_results``, ``n_human_trials_unknown_phase``
            Phase-tagged human records without results; interventional trials whose phase
            the source does not state (model ``clinical_trial``).
        ``preclinical_outcome, preclinical_smd, preclinical_note``
            Animal body used (benefit outcome, largest k with an SMD-convertible estimate),
            its pooled effect as SMD with positive = benefit, and how it was converted.
        ``human_outcome, human_smd, human_note``
            The same for the human stream.
        ``attenuation``
            human_smd / preclinical_smd (1 = human effect as large as in animals; NaN when
            either is missing).
        ``certainty_in_vitro, certainty_animal, certainty_human``
            Highest ``certainty_within_stream`` per stream (human: ``certainty``).
        ``regulatory_status``, ``regulatory_citations``
            "jurisdiction: status (date)" entries and their citation keys.
        ``prior_phase, prior_area, prior_area_assumed, prior_loa, prior_source``
            Phase used for the prior (highest registered or with results; 'preclinical' when no
            human record at all is a trial; 'unknown phase' (no prior) when the only trials are of
            unstated phase), the BIO disease area (assumed from the indication keyword table, or
            'All indications'), the probability of eventual approval and its citation.
    """
    scheme = load_scheme(scheme)
    check_frame(studies, "studies", "gap_summary", what="the study sheet as a DataFrame")
    check_frame(grades, "grades", "gap_summary", what="the DataFrame from grade()")
    if regulatory is not None:
        check_frame(regulatory, "regulatory", "gap_summary",
                    what="a DataFrame like data/regulatory.csv or None")
    for col in ("indication", "stream", "model", "data_type"):
        if col not in studies.columns:
            raise ValidationError(f"gap_summary() needs column {col!r} in 'studies'.")
    if regulatory is not None:
        for col in ("indication", "jurisdiction", "status"):
            if col not in regulatory.columns:
                raise ValidationError(f"gap_summary() needs column {col!r} in 'regulatory'.")
    from evidence.schema import indication_key

    ind_codes, ind_texts = text_codes(indication_key(studies))
    directions = _directions(studies, ind_codes, ind_texts)
    gcols = ["indication", "outcome", "stream", "outcome_kind", "measure", "estimate", "k",
             "certainty", "certainty_within_stream"]
    missing = [c for c in gcols if c not in grades.columns]
    if missing:
        raise ValidationError(f"gap_summary() needs column {missing[0]!r} in 'grades'.")
    grades = grades[gcols]
    records = _record_counts(studies, ind_codes, ind_texts)
    record_ind = records["_ind"].to_numpy()
    grade_ind = grades["indication"].astype(str).tolist()
    bodies: dict[str, list[dict]] = {}
    for key, body in zip(grade_ind, grades.to_dict("records"), strict=True):
        bodies.setdefault(key, []).append(body)
    reg = _Regulatory.from_frame(regulatory)
    rows = [
        _gap_row(ind, records.iloc[np.flatnonzero(record_ind == ind)], bodies.get(ind, []),
                 directions, reg, scheme)
        for ind in sorted(set(record_ind.tolist()) | set(grade_ind))
    ]
    out = pd.DataFrame(rows)
    if not out.empty:
        out["attenuation"] = out["attenuation"].astype(float)
        out["prior_loa"] = out["prior_loa"].astype(float)
    return out.reset_index(drop=True) if len(out) else pd.DataFrame(columns=[
        "indication", "highest_phase_with_results", "highest_phase_registered"])


def _gap_row(ind: str, s: pd.DataFrame, g: list[dict], directions: dict,
             regulatory: _Regulatory, scheme: Scheme) -> dict:
    """One indication's row: ``s`` its records (from :func:`_record_counts`), ``g`` its bodies."""
    n = s["_n"].to_numpy()
    model = s["model"].to_numpy(dtype=object)

    def count(kind: str) -> int:
        return int(n[s[kind].to_numpy()].sum())

    hp_res = _top_phase(model[s["_phase_results"].to_numpy()])
    hp_reg = _top_phase(model[s["_phase"].to_numpy()])
    models = s.groupby("model", observed=False, sort=True)["_n"].sum()  # as value_counts()
    pre = _best_body(g, "animal", directions, ind)
    hum = _best_body(g, "human", directions, ind)
    att = (hum["smd"] / pre["smd"]) if (math.isfinite(hum["smd"]) and math.isfinite(
        pre["smd"]) and pre["smd"] != 0) else math.nan
    reg_status, reg_cites = regulatory.status(ind)
    n_unknown_phase = count("_unknown_phase")
    prior_phase, area_used, assumed, loa, src = _prior(scheme, ind, hp_reg, hp_res,
                                                       n_unknown_phase)
    return {
        "indication": ind,
        "highest_phase_with_results": hp_res,
        "highest_phase_registered": hp_reg,
        "n_in_vitro": count("_in_vitro"),
        "n_animal": count("_animal"),
        "n_human": count("_human"),
        "n_human_registered_no_results": count("_phase_no_results"),
        "n_human_trials_unknown_phase": n_unknown_phase,
        "models": "; ".join(f"{k}: {v}" for k, v in models.items()),
        "preclinical_outcome": pre["outcome"],
        "preclinical_smd": pre["smd"],
        "preclinical_note": pre["note"],
        "human_outcome": hum["outcome"],
        "human_smd": hum["smd"],
        "human_note": hum["note"],
        "attenuation": att,
        "certainty_in_vitro": _best_level(g, "in_vitro", "certainty_within_stream"),
        "certainty_animal": _best_level(g, "animal", "certainty_within_stream"),
        "certainty_human": _best_level(g, "human", "certainty"),
        "regulatory_status": reg_status,
        "regulatory_citations": reg_cites,
        "prior_phase": prior_phase,
        "prior_area": area_used,
        "prior_area_assumed": bool(assumed),
        "prior_loa": loa,
        "prior_source": src,
    }


def _top_phase(models: np.ndarray) -> str | None:
    return max(models, key=PHASE_ORDER.index) if len(models) else None


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
            entries.append(f"{x['jurisdiction']}: {x['status']}{date}")
        cites = None
        if "citation_key" in regulatory.columns:
            cites = [None if pd.isna(c) else str(c) for c in regulatory["citation_key"]]
        return cls(regulatory["indication"].astype(str).tolist(), entries, cites)

    def status(self, ind: str) -> tuple[str | None, str | None]:
        """The entries matching the indication, and their citation keys."""
        hits = [i for i, label in enumerate(self.labels) if indication_matches(label, ind)]
        if not hits:
            return None, None
        status = "; ".join(self.entries[i] for i in hits)
        if self.cites is None:
            return status, None
        return status, "; ".join(sorted({self.cites[i] for i in hits} - {None}))


def _prior(scheme: Scheme, ind: str, hp_reg: str | None, hp_res: str | None,
           n_unknown_phase: int) -> tuple[str, str, bool, float, str]:
    """(prior phase, area used, area assumed, probability of approval, its source)."""
    phase = None
    for p in (hp_reg, hp_res):
        if p is not None and (phase is None or PHASE_ORDER.index(p) > PHASE_ORDER.index(phase)):
            phase = p
    area, assumed = scheme.area_for(ind)
    if phase is None and n_unknown_phase:
        prior_phase, loa, area_used = "unknown phase", math.nan, area
        src = (f"{n_unknown_phase} human trial record(s) of unstated phase (model "
               "'clinical_trial'): no phase-based prior computed")
    elif phase is None:
        prior_phase, loa = "preclinical", scheme.loa_from_phase.get("preclinical", math.nan)
        area_used = "all interventions"
        src = ("Ineichen et al. PLoS Biol 2024;22:e3002667: 5% of animal-tested interventions "
               "reach approval [V]; no registered human trial phase")
        assumed = False
    elif phase == "phase_4":
        prior_phase, loa, area_used = "phase_4", math.nan, area
        src = "phase 4 = post-approval study; no prior computed"
    else:
        prior_phase = _PHASE_TO_LOA[phase]
        table = scheme.loa_by_area.get(area) or scheme.loa_by_area.get("All indications")
        loa = float(table[prior_phase]) if table and prior_phase in table else float(
            scheme.loa_from_phase.get(prior_phase, math.nan))
        area_used = area
        src = scheme.source("loa_by_area") + (
            f"; area {area!r} " + ("ASSUMED from the indication keyword table"
                                   if assumed else "(no area match: all indications)"))
        if phase != prior_phase:
            src += f"; {phase} counted as {prior_phase}"
    return prior_phase, area_used, assumed, loa, src
