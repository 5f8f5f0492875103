"""Audit marketing or public claims against the graded evidence.

Each claim (``claim_id, indication, claim, claimant, n_businesses, citation_key``) is matched to
the graded bodies of its indication and flagged:

``no_evidence``
    No study record and no graded body for the indication.
``only_preclinical``
    Evidence exists but no human body has a numeric result (only animal / in vitro results,
    or human records without results).
``human_below_threshold``
    The best human certainty for a benefit outcome is below the scheme's
    ``human_certainty_threshold`` (default moderate).
``harm_signal``
    Harm outcomes in the indication: human harm bodies whose CI shows an increase, or harm
    records with events in the intervention arm, case reports or adverse-event reports.

The verdict is the first that applies of: "no evidence", "preclinical only", "insufficient
human evidence", "supported by human evidence" (then "with harm signal" is appended when
flagged).  The threshold is an evigap convention (see ``Scheme.human_certainty_threshold``).
"""

from __future__ import annotations

import math

import pandas as pd

from evidence.errors import ValidationError
from evidence.internal import check_frame
from evidence.schema import indication_key
from grading.gap import indication_matches
from grading.scheme import LEVEL_SCORE, LEVELS, Scheme, load_scheme

__all__ = ["audit_claims", "CLAIM_FLAGS"]

CLAIM_FLAGS: tuple[str, ...] = (
    "no_evidence",
    "only_preclinical",
    "human_below_threshold",
    "harm_signal",
)
_CLAIM_COLS = ("claim_id", "indication", "claim")


def _matches(a: str, b: str) -> bool:

    return indication_matches(a, b)


def audit_claims(
    claims: pd.DataFrame,
    grades: pd.DataFrame,
    *,
    studies: pd.DataFrame | None = None,
    scheme: Scheme | str | None = None,
) -> pd.DataFrame:
    """Flag each claim against the certainty of the evidence for its indication.

    Parameters
    ----------
    claims : DataFrame
        ``claim_id, indication, claim`` (required) and ``claimant, n_businesses,
        citation_key`` (kept when present).
    grades : DataFrame
        Output of :func:`grading.grade`.
    studies : DataFrame, optional
        The study sheet; used to find harm records and to tell "no evidence" from "no result".
        Indications match by :func:`grading.gap.indication_matches` (equal, whole-word
        containment, or an 'all indications' claim).
    scheme : Scheme, optional
        Supplies ``human_certainty_threshold``.

    Returns
    -------
    DataFrame
        The claim columns followed by ``matched_indications``, ``best_human_certainty``,
        ``best_human_outcome``, ``best_preclinical_certainty`` (within stream), one boolean column
        per flag (``no_evidence``, ``only_preclinical``, ``human_below_threshold``,
        ``harm_signal``), ``flags`` ('; '-joined), ``verdict`` and ``reason`` (with the numbers
        and study ids).
    """
    scheme = load_scheme(scheme)
    check_frame(claims, "claims", "audit_claims", what="a DataFrame like data/claims.csv")
    check_frame(grades, "grades", "audit_claims", what="the DataFrame from grade()")
    if studies is not None:
        check_frame(
            studies, "studies", "audit_claims", what="the study sheet as a DataFrame or None"
        )
    for col in _CLAIM_COLS:
        if col not in claims.columns:
            raise ValidationError(f"audit_claims() needs column {col!r} in 'claims'.")
    threshold = scheme.human_certainty_threshold
    gcols = [
        "indication",
        "outcome",
        "stream",
        "outcome_kind",
        "estimate",
        "ci_low",
        "certainty",
        "certainty_within_stream",
    ]
    missing = [c for c in gcols if c not in grades.columns]
    if missing:
        raise ValidationError(f"audit_claims() needs column {missing[0]!r} in 'grades'.")
    grades = grades[gcols]
    st = None
    if studies is not None:
        keep = [
            c
            for c in ("study_id", "stream", "model", "outcome_kind", "events_int")
            if c in studies.columns
        ]
        st = studies[keep].copy()
        st["_ind"] = indication_key(studies).astype(str).to_numpy()
    rows = []
    for _, c in claims.iterrows():
        ind = str(c["indication"])
        g = grades[grades["indication"].astype(str).map(lambda x, ind=ind: _matches(x, ind))]
        s = None if st is None else st[st["_ind"].map(lambda x, ind=ind: _matches(x, ind))]
        matched = sorted(
            set(g["indication"].astype(str)) | (set() if s is None else set(s["_ind"]))
        )
        reasons: list[str] = []
        flags = dict.fromkeys(CLAIM_FLAGS, False)
        ben = g[g["outcome_kind"].fillna("benefit") != "harm"]
        ben = ben[ben["certainty"].notna()]  # "no evidence" bodies have no certainty
        hum = ben[ben["stream"] == "human"]
        hum_est = hum[hum["estimate"].map(lambda x: isinstance(x, float) and math.isfinite(x))]
        pre = ben[ben["stream"] != "human"]
        best_h = best_h_out = best_p = None
        if len(hum):
            i = hum["certainty"].map(LEVEL_SCORE).idxmax()
            best_h, best_h_out = hum.loc[i, "certainty"], hum.loc[i, "outcome"]
        if len(pre):
            best_p = LEVELS[int(pre["certainty_within_stream"].map(LEVEL_SCORE).max()) - 1]
        if not matched:
            flags["no_evidence"] = True
            reasons.append(f"no study record or graded body for '{ind}'")
        else:
            if hum_est.empty:
                flags["only_preclinical"] = True
                n_h = 0 if s is None else int((s["stream"] == "human").sum())
                reasons.append(
                    "no human body with a numeric result"
                    + (f" ({n_h} human record(s) without usable results)" if n_h else "")
                    + (
                        f"; preclinical evidence best rated {best_p} within its stream"
                        if best_p
                        else ""
                    )
                )
            if best_h is None or LEVEL_SCORE[best_h] < LEVEL_SCORE[threshold]:
                flags["human_below_threshold"] = True
                reasons.append(
                    f"best human certainty {best_h or 'none'}"
                    + (f" ('{best_h_out}')" if best_h_out else "")
                    + f" is below {threshold}"
                )
            else:
                reasons.append(f"best human certainty {best_h} ('{best_h_out}')")
        # harms
        harm_txt = []
        hg = g[(g["outcome_kind"] == "harm") & (g["stream"] == "human")]
        for _, h in hg.iterrows():
            if isinstance(h["ci_low"], float) and h["ci_low"] > 0:
                harm_txt.append(
                    f"'{h['outcome']}' increased (CI lower limit above the null, "
                    f"{h['certainty']} certainty)"
                )
        if s is not None and "outcome_kind" in s.columns:
            hs = s[s["outcome_kind"] == "harm"]
            if "events_int" in hs.columns:
                ev = pd.to_numeric(hs["events_int"], errors="coerce")
            else:
                ev = pd.Series(float("nan"), index=hs.index)
            sig = hs[hs["model"].isin(["case_report", "adverse_event_report"]) | (ev > 0)]
            if len(sig):
                ids = "; ".join(
                    f"{sid} ({stream})"
                    for sid, stream in sorted(
                        set(
                            zip(
                                sig.get("study_id", pd.Series(sig.index, index=sig.index)).astype(
                                    str
                                ),
                                sig["stream"].astype(str),
                                strict=True,
                            )
                        )
                    )
                )
                harm_txt.append(f"harm records with events or adverse-event/case reports: {ids}")
        if harm_txt:
            flags["harm_signal"] = True
            reasons.append("harm signal: " + "; ".join(harm_txt))
        if flags["no_evidence"]:
            verdict = "no evidence"
        elif flags["only_preclinical"]:
            verdict = "preclinical only"
        elif flags["human_below_threshold"]:
            verdict = "insufficient human evidence"
        else:
            verdict = "supported by human evidence"
        if flags["harm_signal"]:
            verdict += " (with harm signal)"
        row = {k: c[k] for k in claims.columns}
        row.update(
            {
                "matched_indications": "; ".join(matched) if matched else None,
                "best_human_certainty": best_h,
                "best_human_outcome": best_h_out,
                "best_preclinical_certainty": best_p,
                **flags,
                "flags": "; ".join(k for k, v in flags.items() if v),
                "verdict": verdict,
                "reason": "; ".join(reasons),
            }
        )
        rows.append(row)
    cols = [
        *claims.columns,
        "matched_indications",
        "best_human_certainty",
        "best_human_outcome",
        "best_preclinical_certainty",
        *CLAIM_FLAGS,
        "flags",
        "verdict",
        "reason",
    ]
    return pd.DataFrame(rows, columns=cols)
