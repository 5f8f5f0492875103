"""The harm side of the gap: adverse-event reports, case series of harms and trial adverse events.

:func:`harms_summary` counts the human harm records (``stream == 'human'`` and
``outcome_kind == 'harm'``) per indication and across the review, with the products and settings
involved.  Record classes:

``report``
    adverse-event reports and case reports (``model`` ``adverse_event_report`` / ``case_report``),
    and case series without a numeric result (the series describes the harm itself).
``series``
    case series and cohorts with a counted harm outcome (events / participants).
``trial``
    trial records (any phase, ``clinical_trial``) and meta-analyses of trials.

A *harm signal* is any report, or any counted record with at least one event.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from evidence.errors import ValidationError
from evidence.internal import check_frame
from evidence.schema import indication_key
from grading.labels import indication_label, model_label

__all__ = ["harms_summary", "REVIEW_WIDE"]

REVIEW_WIDE = "(whole review)"
_REPORT_MODELS = ("adverse_event_report", "case_report")
_SERIES_MODELS = ("case_series", "cohort", "case_control", "cross_sectional")


def _frame(studies: pd.DataFrame, harm: np.ndarray, keys: np.ndarray) -> pd.DataFrame:
    """The harm records as plain columns: key, class, model, outcome, events, participants,
    product (vectorised: one pass over the sheet); ``keys`` are the harm rows' indications."""

    def col(name: str, numeric: bool = False) -> np.ndarray:
        if name not in studies.columns:
            return np.full(
                int(harm.sum()), np.nan if numeric else None, dtype=object if not numeric else float
            )
        v = studies.loc[harm, name]
        if numeric:
            return pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
        return v.astype(object).where(v.notna(), None).to_numpy()

    model, data_type = col("model"), col("data_type")
    n_int, n_total = col("n_int", True), col("n_total", True)
    report = np.isin(model, _REPORT_MODELS) | ((model == "case_series") & (data_type == "none"))
    series = ~report & np.isin(model, _SERIES_MODELS)
    klass = np.where(report, "report", np.where(series, "series", "trial"))
    return pd.DataFrame(
        {
            "key": keys,
            "klass": klass,
            "model": model,
            "outcome": col("outcome"),
            "events": col("events_int", True),
            "part": np.where(np.isfinite(n_int), n_int, n_total),
            "product": col("intervention_source"),
        }
    )


def _summarise(h: pd.DataFrame) -> dict:
    klass = h["klass"].to_numpy()
    events_all, part_all = h["events"].to_numpy(float), h["part"].to_numpy(float)
    counted = np.isfinite(events_all) & np.isfinite(part_all)
    n_rep = int((klass == "report").sum())
    events, exposed = float(events_all[counted].sum()), float(part_all[counted].sum())
    signal = n_rep > 0 or bool((events_all[counted] > 0).any())
    products = sorted({str(p) for p in h["product"].dropna().unique()})
    settings = sorted({model_label(m) for m in h["model"].dropna().unique()})
    reports: dict[str, int] = {}
    for m, o, n in h.loc[klass == "report", ["model", "outcome", "part"]].itertuples(index=False):
        text = f"{model_label(m)}: {o}" + (
            f" ({n:.0f} patient{'s' if n != 1 else ''})" if math.isfinite(n) else ""
        )
        reports[text] = reports.get(text, 0) + 1
    parts = [t + (f" (x{c} records)" if c > 1 else "") for t, c in reports.items()]
    n_counted = int(counted.sum())
    if n_counted:
        parts.append(
            f"{events:.0f} event{'s' if events != 1 else ''} in {exposed:.0f} "
            f"participants over {n_counted} counted harm outcome"
            f"{'s' if n_counted != 1 else ''}"
        )
    n_unc = int((~counted & (klass != "report")).sum())
    if n_unc:
        parts.append(f"{n_unc} harm outcome{'s' if n_unc != 1 else ''} without numbers read")
    return {
        "n_harm_records": len(h),
        "n_harm_reports": n_rep,
        "n_harm_series": int((klass == "series").sum()),
        "n_harm_trial_records": int((klass == "trial").sum()),
        "n_harm_events": events if n_counted else math.nan,
        "n_harm_exposed": exposed if n_counted else math.nan,
        "harm_signal": bool(signal),
        "harm_products": "; ".join(products) if products else "not stated",
        "harm_settings": "; ".join(settings),
        "harm_text": "; ".join(parts) if parts else "no human harm record",
    }


def harms_summary(studies: pd.DataFrame, *, review_wide: bool = True) -> pd.DataFrame:
    """Human harm records counted per indication (and for the whole review).

    Parameters
    ----------
    studies : DataFrame
        The accepted study sheet (``indication``, ``stream``, ``model``, ``outcome_kind``,
        ``data_type``; ``events_int``, ``n_int``, ``n_total``, ``intervention_source`` used when
        present).
    review_wide : bool, default True
        Append one row ``indication == '(whole review)'`` over all indications.

    Returns
    -------
    DataFrame
        One row per indication that has any human record (plus the review-wide row):

        ``indication``, ``indication_label``
            Grouping key (``indication_label`` column of the sheet, else ``indication``) and
            its readable form.
        ``n_harm_records``
            Human records with ``outcome_kind == 'harm'``.
        ``n_harm_reports``, ``n_harm_series``, ``n_harm_trial_records``
            Of which adverse-event / case reports (and case series describing a harm),
            counted case series and cohorts, trial records (see the module docstring).
        ``n_harm_events``, ``n_harm_exposed``
            Sum of ``events_int`` and of participants over records reporting both (NaN when no
            record does: see ``harm_text``).
        ``harm_signal``
            True when there is any report or any counted event.
        ``harm_products``
            Distinct ``intervention_source`` values of the harm records ('not stated').
        ``harm_settings``
            Study designs of the harm records, as words.
        ``harm_text``
            One readable sentence: the reports (what, how many patients), events / participants,
            outcomes without numbers; 'no human harm record' when there is none.
    """
    check_frame(studies, "studies", "harms_summary", what="the study sheet as a DataFrame")
    for col in ("indication", "stream", "model", "outcome_kind"):
        if col not in studies.columns:
            raise ValidationError(f"harms_summary() needs column {col!r} in 'studies'.")

    keys = indication_key(studies)
    human = (studies["stream"] == "human").fillna(False).to_numpy(dtype=bool)
    harm = human & (studies["outcome_kind"] == "harm").fillna(False).to_numpy(dtype=bool)
    # Python strings only for the harm rows (a whole-sheet object array costs ~70 MB at 1M rows)
    h = _frame(studies, harm, keys[harm].astype(object).to_numpy())
    groups = {k: g for k, g in h.groupby("key", sort=False)} if len(h) else {}
    empty = h.iloc[:0]
    rows = []
    for ind in sorted({k for k in pd.unique(keys[human].dropna()) if isinstance(k, str)}):
        rows.append(
            {
                "indication": ind,
                "indication_label": indication_label(ind),
                **_summarise(groups.get(ind, empty)),
            }
        )
    if review_wide:
        rows.append(
            {"indication": REVIEW_WIDE, "indication_label": "Whole review", **_summarise(h)}
        )
    out = pd.DataFrame(rows)
    if len(out):
        out["n_harm_events"] = out["n_harm_events"].astype(float)
        out["n_harm_exposed"] = out["n_harm_exposed"].astype(float)
    return out if len(out) else pd.DataFrame(columns=["indication", "n_harm_records"])
