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

import numpy as np
import pandas as pd

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


def _directions(st: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(indication, outcome) -> most common outcome_direction (ties: the first seen)."""
    if "outcome_direction" not in st.columns:
        return {}
    d = st["outcome_direction"].astype(object)
    valid = d.map(lambda v: isinstance(v, str) and bool(v), na_action="ignore")
    valid = valid.fillna(False).astype(bool).to_numpy()
    keys = pd.DataFrame({"ind": st["_ind"].to_numpy()[valid],
                         "out": st["outcome"].astype(str).to_numpy()[valid],
                         "d": d.to_numpy()[valid]})
    # sort=False keeps first-appearance order, so max() below breaks ties as a row scan would
    sizes = keys.groupby(["ind", "out", "d"], sort=False).size()
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for (ind, out, direction), n in sizes.items():
        counts.setdefault((ind, out), {})[direction] = int(n)
    return {k: max(v, key=v.__getitem__) for k, v in counts.items()}


def _direction_sign(directions: dict, ind: str, outcome: str) -> tuple[int, str]:
    d = directions.get((ind, outcome))
    if d is None:
        return 1, "direction unknown (sign as reported)"
    return (-1, "higher is worse: sign flipped") if d == "higher_is_worse" else (
        1, "higher is better")


def _best_body(g: pd.DataFrame, stream: str, directions: dict, ind: str) -> dict:
    f = g[(g["stream"] == stream) & (g["outcome_kind"].fillna("benefit") != "harm")].copy()
    out = {"outcome": None, "smd": math.nan, "note": "no estimable benefit outcome",
           "k": 0, "measure": None}
    if f.empty:
        return out
    conv = [to_smd(m, e) for m, e in zip(f["measure"], f["estimate"], strict=True)]
    f["_smd"] = [c[0] for c in conv]
    f["_how"] = [c[1] for c in conv]
    f["_ok"] = f["_smd"].map(math.isfinite)
    f = f.sort_values(["_ok", "k"], ascending=False, kind="stable")
    r = f.iloc[0]
    if not r["_ok"]:
        out.update(outcome=r["outcome"], note=f"'{r['outcome']}': {r['_how']}", k=int(r["k"]),
                   measure=r["measure"])
        return out
    sign, dnote = _direction_sign(directions, ind, r["outcome"])
    out.update(outcome=r["outcome"], smd=sign * r["_smd"], k=int(r["k"]), measure=r["measure"],
               note=f"'{r['outcome']}' ({r['_how']}; {dnote})")
    return out


def _best_level(g: pd.DataFrame, stream: str, col: str) -> str | None:
    f = g[g["stream"] == stream]
    if f.empty:
        return None
    return LEVELS[int(f[col].map(LEVEL_SCORE).max()) - 1]


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

    keep = [c for c in ("stream", "model", "data_type", "outcome", "outcome_direction")
            if c in studies.columns]
    st = studies[keep].copy()
    st["_ind"] = indication_key(studies).astype(str).to_numpy()
    directions = _directions(st)
    gcols = ["indication", "outcome", "stream", "outcome_kind", "measure", "estimate", "k",
             "certainty", "certainty_within_stream"]
    missing = [c for c in gcols if c not in grades.columns]
    if missing:
        raise ValidationError(f"gap_summary() needs column {missing[0]!r} in 'grades'.")
    grades = grades[gcols]
    inds = sorted(set(st["_ind"]) | set(grades["indication"].astype(str)))
    rows = []
    positions = st.groupby("_ind", sort=False).indices  # one pass, not one scan per indication
    none = np.array([], dtype=np.intp)
    for ind in inds:
        s = st.iloc[positions.get(ind, none)]
        g = grades[grades["indication"].astype(str) == ind]
        human = s[s["stream"] == "human"]
        phases = human[human["model"].isin(PHASE_ORDER)]
        with_res = phases[phases["data_type"] != "none"]

        def top(frame):
            if frame.empty:
                return None
            return max(frame["model"], key=PHASE_ORDER.index)

        hp_res, hp_reg = top(with_res), top(phases)
        models = s["model"].value_counts().sort_index()
        pre = _best_body(g, "animal", directions, ind)
        hum = _best_body(g, "human", directions, ind)
        att = (hum["smd"] / pre["smd"]) if (math.isfinite(hum["smd"]) and math.isfinite(
            pre["smd"]) and pre["smd"] != 0) else math.nan
        # regulatory
        reg_status, reg_cites = None, None
        if regulatory is not None and len(regulatory):
            m = [indication_matches(x, ind) for x in regulatory["indication"].astype(str)]
            r = regulatory[m]
            if len(r):
                parts = []
                for _, x in r.iterrows():
                    date = x.get("date")
                    date = "" if pd.isna(date) else f" ({date})"
                    parts.append(f"{x['jurisdiction']}: {x['status']}{date}")
                reg_status = "; ".join(parts)
                if "citation_key" in r.columns:
                    reg_cites = "; ".join(sorted(set(r["citation_key"].dropna().astype(str))))
        # prior
        phase = None
        for p in (hp_reg, hp_res):
            if p is not None and (phase is None or PHASE_ORDER.index(p) > PHASE_ORDER.index(phase)):
                phase = p
        area, assumed = scheme.area_for(ind)
        n_unknown_phase = int((human["model"] == "clinical_trial").sum())
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
        rows.append({
            "indication": ind,
            "highest_phase_with_results": hp_res,
            "highest_phase_registered": hp_reg,
            "n_in_vitro": int((s["stream"] == "in_vitro").sum()),
            "n_animal": int((s["stream"] == "animal").sum()),
            "n_human": int((s["stream"] == "human").sum()),
            "n_human_registered_no_results": int((phases["data_type"] == "none").sum()),
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
        })
    out = pd.DataFrame(rows)
    if not out.empty:
        out["attenuation"] = out["attenuation"].astype(float)
        out["prior_loa"] = out["prior_loa"].astype(float)
    return out.reset_index(drop=True) if len(out) else pd.DataFrame(columns=[
        "indication", "highest_phase_with_results", "highest_phase_registered"])

