"""Integrate the evidence streams into one statement per indication (IRIS/HAWC style).

Vocabulary (integrated judgements of the EPA IRIS evidence profile table, U.S. EPA ORD Staff
Handbook for Developing IRIS Assessments 2022, as implemented in HAWC ``hawc/tools/tables/ept.py``):

========  =====================================
⊕⊕⊕       evidence demonstrates
⊕⊕⊙       evidence indicates (likely)
⊕⊙⊙       evidence suggests
⊙⊙⊙       evidence inadequate
⊝⊝⊝       strong evidence supports no effect
========  =====================================

Rule (evigap convention; OHAT's Step 7 human x animal matrix is not used):

1. Each stream's best body is its benefit outcome with the highest certainty (human: certainty
   for the human question; preclinical streams: certainty within the stream).
2. Human best body with an effect (CI excludes the null): high -> demonstrates, moderate ->
   indicates, low -> suggests.
3. Human best body with high certainty and a CI that includes the null -> supports no effect.
4. Otherwise, animal evidence with an effect rated moderate or high within its stream ->
   suggests (preclinical only; human relevance not shown).
5. Otherwise -> inadequate.
"""

from __future__ import annotations

import math

import pandas as pd

from evidence.errors import ValidationError
from evidence.internal import check_frame
from grading.scheme import LEVEL_SCORE

__all__ = ["integrate_streams", "INTEGRATED_JUDGEMENTS", "INTEGRATION_SOURCE"]

INTEGRATED_JUDGEMENTS: dict[str, str] = {
    "demonstrates": "⊕⊕⊕",
    "indicates": "⊕⊕⊙",
    "suggests": "⊕⊙⊙",
    "inadequate": "⊙⊙⊙",
    "supports no effect": "⊝⊝⊝",
}
INTEGRATION_SOURCE = (
    "Judgement vocabulary: U.S. EPA ORD Staff Handbook for Developing IRIS Assessments (2022), "
    "evidence profile table (as implemented in HAWC). Mapping from per-stream GRADE certainty "
    "to these categories: evigap convention."
)

_NEEDED = (
    "indication",
    "outcome",
    "stream",
    "outcome_kind",
    "certainty",
    "certainty_within_stream",
    "estimate",
    "ci_low",
    "ci_high",
    "k",
)


def _best(frame: pd.DataFrame, col: str) -> pd.Series | None:
    if frame.empty:
        return None
    f = frame[frame[col].isin(list(LEVEL_SCORE))].copy()  # "no evidence" bodies are not rated
    if f.empty:
        return None
    f["_score"] = f[col].map(LEVEL_SCORE)
    f["_est"] = f["estimate"].map(lambda x: isinstance(x, float) and math.isfinite(x))
    f["_effect"] = (f["ci_low"] > 0) | (f["ci_high"] < 0)
    f = f.sort_values(["_score", "_est", "_effect", "k"], ascending=False, kind="stable")
    return f.iloc[0]


def _describe(row: pd.Series | None, col: str) -> str:
    if row is None:
        return "none"
    eff = (row["ci_low"] > 0) or (row["ci_high"] < 0)
    est = isinstance(row["estimate"], float) and math.isfinite(row["estimate"])
    what = (
        "effect (CI excludes the null)"
        if eff
        else ("CI includes the null" if est else "not estimable")
    )
    return f"{row[col]} for '{row['outcome']}' (k = {row['k']}, {what})"


def integrate_streams(grades: pd.DataFrame) -> pd.DataFrame:
    """One integrated judgement and statement per indication.

    Parameters
    ----------
    grades : DataFrame
        Output of :func:`grading.grade`.

    Returns
    -------
    DataFrame
        One row per indication with columns ``indication``, ``judgement`` (demonstrates /
        indicates / suggests / inadequate / supports no effect), ``symbol`` (⊕⊕⊕ ...),
        ``statement``, ``human_certainty``, ``human_outcome``, ``animal_certainty`` (within
        stream), ``animal_outcome``, ``in_vitro_certainty`` (within stream),
        ``in_vitro_outcome``, ``reason`` (which rule fired, with the bodies it used) and
        ``source``.
    """
    check_frame(grades, "grades", "integrate_streams", what="the DataFrame from grade()")
    for col in _NEEDED:
        if col not in grades.columns:
            raise ValidationError(
                f"integrate_streams() needs column {col!r} in 'grades' (output of grade())."
            )
    extra = [c for c in ("intervention",) if c in grades.columns]
    grades = grades[[*_NEEDED, *extra]]
    rows = []
    for ind, g in grades.groupby("indication", sort=True):
        ben = g[g["outcome_kind"].fillna("benefit") != "harm"]
        h = _best(ben[ben["stream"] == "human"], "certainty")
        a = _best(ben[ben["stream"] == "animal"], "certainty_within_stream")
        v = _best(ben[ben["stream"] == "in_vitro"], "certainty_within_stream")
        interv = next(
            (x for x in g.get("intervention", pd.Series(dtype=object)) if isinstance(x, str) and x),
            "the intervention",
        )

        def has_effect(r):
            return r is not None and ((r["ci_low"] > 0) or (r["ci_high"] < 0))

        if h is not None and has_effect(h) and h["certainty"] in ("high", "moderate", "low"):
            judgement = {"high": "demonstrates", "moderate": "indicates", "low": "suggests"}[
                h["certainty"]
            ]
            direction = "reduces" if h["estimate"] < 0 else "increases"
            statement = (
                f"Evidence {judgement} that {interv} {direction} {h['outcome']} in "
                f"humans ({h['certainty']} certainty)."
            )
            reason = f"rule 2: human evidence {_describe(h, 'certainty')}"
        elif (
            h is not None
            and h["certainty"] == "high"
            and not has_effect(h)
            and isinstance(h["estimate"], float)
            and math.isfinite(h["estimate"])
        ):
            judgement = "supports no effect"
            statement = (
                f"Strong evidence supports no effect of {interv} on {h['outcome']} in humans."
            )
            reason = f"rule 3: human evidence {_describe(h, 'certainty')}"
        elif (
            a is not None and has_effect(a) and a["certainty_within_stream"] in ("high", "moderate")
        ):
            judgement = "suggests"
            statement = (
                f"Evidence suggests an effect of {interv} on {a['outcome']} in animal "
                "models only; human relevance has not been shown (human evidence: "
                f"{_describe(h, 'certainty')})."
            )
            reason = (
                f"rule 4: human evidence {_describe(h, 'certainty')}; animal evidence "
                f"{_describe(a, 'certainty_within_stream')}"
            )
        else:
            judgement = "inadequate"
            statement = f"Evidence is inadequate to judge whether {interv} works for {ind}."
            reason = (
                f"rule 5: human {_describe(h, 'certainty')}; animal "
                f"{_describe(a, 'certainty_within_stream')}; in vitro "
                f"{_describe(v, 'certainty_within_stream')}"
            )
        rows.append(
            {
                "indication": ind,
                "judgement": judgement,
                "symbol": INTEGRATED_JUDGEMENTS[judgement],
                "statement": statement,
                "human_certainty": None if h is None else h["certainty"],
                "human_outcome": None if h is None else h["outcome"],
                "animal_certainty": None if a is None else a["certainty_within_stream"],
                "animal_outcome": None if a is None else a["outcome"],
                "in_vitro_certainty": None if v is None else v["certainty_within_stream"],
                "in_vitro_outcome": None if v is None else v["outcome"],
                "reason": reason,
                "source": INTEGRATION_SOURCE,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "indication",
            "judgement",
            "symbol",
            "statement",
            "human_certainty",
            "human_outcome",
            "animal_certainty",
            "animal_outcome",
            "in_vitro_certainty",
            "in_vitro_outcome",
            "reason",
            "source",
        ],
    )
