"""The translational ladder: how far each indication climbed from the bench to approval.

One row per indication, one column per rung: in vitro -> animal -> published animal
meta-analyses -> phase 1 -> phase 2 -> phase 3 -> approval, and (not joined to the rungs) human
records of no phase: case series and reports, cohorts, trials of unstated phase, meta-analyses.
A filled dot marks a rung with results (coloured by the best certainty of the stream, the number
of records inside); a hollow dot a rung with records but no results (e.g. registered trials); a
line joins the rungs reached.
On the right: the preclinical promise and the human effect on the SMD scale (from
:func:`grading.gap.gap_summary`) and a red triangle for a human harm signal.  It complements
:func:`grading.plots.gap_map`, which counts every design.
"""

from __future__ import annotations

import math

import pandas as pd

from evidence._validate import check_frame
from evidence.errors import InvalidParameterError, ValidationError
from evidence.schema import indication_key
from grading.plots import _style

__all__ = ["LADDER_RUNGS", "translational_ladder"]

#: Rung label -> (stream, models counted there).  Phase 1/2 counts under phase 1, phase 2/3
#: under phase 2, phase 4 under phase 3.
LADDER_RUNGS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "in vitro": ("in_vitro", None),
    "animal": ("animal", "not meta"),  # type: ignore[dict-item]
    "published\nanimal MA": ("animal", ("meta_analysis",)),
    "phase 1": ("human", ("phase_1", "phase_1_2")),
    "phase 2": ("human", ("phase_2", "phase_2_3")),
    "phase 3": ("human", ("phase_3", "phase_4")),
    "approval": ("regulatory", None),
    "other human\n(no phase)": ("human", ("case_series", "case_report", "adverse_event_report",
                                           "cohort", "case_control", "cross_sectional",
                                           "clinical_trial", "meta_analysis")),
}
_OFF_LADDER = "other human\n(no phase)"  # drawn, but not joined to the rungs
_LEVEL = {"very low": 1, "low": 2, "moderate": 3, "high": 4}


def _txt(ax, x, y, s, **kw):
    """Text drawn literally (a '$' in a label is never mathtext: ``_style.plain``)."""
    return ax.text(x, y, _style.plain(s), **kw)


def _stage_mask(studies: pd.DataFrame, stream: str, models) -> pd.Series:
    m = studies["stream"] == stream
    if models == "not meta":
        m &= studies["model"] != "meta_analysis"
    elif models is not None:
        m &= studies["model"].isin(models)
    return m.fillna(False)


def _certainty(grades: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    """(indication, stream) -> best certainty among bodies with a result (own stream)."""
    out: dict[tuple[str, str], str] = {}
    if grades is None or len(grades) == 0:
        return out
    for r in grades.to_dict("records"):
        est = r.get("estimate")
        if not isinstance(est, (int, float)) or not math.isfinite(est):
            continue
        if r.get("evidence_status") == "no evidence":
            continue
        col = "certainty" if r.get("stream") == "human" else "certainty_within_stream"
        lv = r.get(col)
        key = (str(r.get("indication")), str(r.get("stream")))
        if lv in _LEVEL and _LEVEL[lv] > _LEVEL.get(out.get(key, ""), 0):
            out[key] = lv
    return out


def translational_ladder(
    studies: pd.DataFrame,
    *,
    grades: pd.DataFrame | None = None,
    gap: pd.DataFrame | None = None,
    regulatory: pd.DataFrame | None = None,
    ax=None,
    figsize: tuple[float, float] | None = None,
):
    """Draw the translational ladder.

    Parameters
    ----------
    studies : DataFrame
        The accepted study sheet (``indication``, ``stream``, ``model``, ``data_type``).
    grades : DataFrame, optional
        :func:`grading.grade` output: dots coloured by the best certainty of the stream among
        bodies with a result (grey without).
    gap : DataFrame, optional
        :func:`grading.gap.gap_summary` output: labels, effects and harm signals on the right.
    regulatory : DataFrame, optional
        Rows whose ``status`` contains 'approved' (not 'not approved') for the indication fill
        the approval rung.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure sized to the rows otherwise.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    check_frame(studies, "studies", "translational_ladder", what="the study sheet as a DataFrame")
    for name, frame in (("grades", grades), ("gap", gap), ("regulatory", regulatory)):
        if frame is not None and not isinstance(frame, pd.DataFrame):
            raise InvalidParameterError(
                f"The '{name}' argument of translational_ladder() must be a DataFrame or None. "
                f"Got {type(frame).__name__}.")
    for col in ("indication", "stream", "model"):
        if col not in studies.columns:
            raise ValidationError(f"translational_ladder() needs column {col!r} in 'studies'.")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    keys = indication_key(studies)
    inds = sorted({k for k in keys.dropna().astype(str)})
    if not inds:
        raise ValidationError("translational_ladder() needs at least one record with an "
                              "indication.")
    has_result = (studies["data_type"] != "none").fillna(False) if "data_type" in \
        studies.columns else pd.Series(True, index=studies.index)
    cert = _certainty(grades)
    gap_rows = {} if gap is None or "indication" not in gap.columns else {
        str(r["indication"]): r for r in gap.to_dict("records")}
    rungs = list(LADDER_RUNGS)
    n = len(inds)
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (11.0, 1.5 + 0.3 * n))
        fig.subplots_adjust(left=0.01, right=0.99, top=0.99, bottom=1.25 / (1.5 + 0.3 * n))
    grid = []
    for ind in inds:
        mine = (keys == ind).fillna(False)
        row = []
        for stream, models in LADDER_RUNGS.values():
            if stream == "regulatory":
                ok = False
                if regulatory is not None and {"indication", "status"} <= set(
                        regulatory.columns):
                    from grading.gap import _is_global, indication_matches

                    for lab, st in zip(regulatory["indication"].astype(str),
                                       regulatory["status"].astype(str), strict=True):
                        s = st.lower().replace("_", " ")
                        if ("approved" in s and "not approved" not in s and not _is_global(lab)
                                and indication_matches(lab, ind)):
                            ok = True
                row.append((1 if ok else 0, 1 if ok else 0, "approved" if ok else None))
                continue
            m = mine & _stage_mask(studies, stream, models)
            row.append((int(m.sum()), int((m & has_result).sum()), cert.get((ind, stream))))
        grid.append(row)
    for i, (ind, row) in enumerate(zip(inds, grid, strict=True)):
        y = n - 1 - i
        off = rungs.index(_OFF_LADDER)
        reached = [j for j, (k, _, _) in enumerate(row) if k > 0 and j != off]
        if reached:
            ax.plot([min(reached), max(reached)], [y, y], color=_style.GRID, lw=2, zorder=1)
        for j, (k, k_res, lv) in enumerate(row):
            if k == 0:
                ax.plot(j, y, "o", ms=5, mfc="white", mec=_style.GRID, zorder=2)
                continue
            if lv == "approved":
                colour = "#1b7837"
            elif k_res == 0:
                colour = "white"
            else:
                colour = _style.CERTAINTY_COLOURS.get(lv, _style.NOT_GRADED_COLOUR)
            ax.plot(j, y, "o", ms=15, mfc=colour, mec="#444444", mew=0.8, zorder=3)
            if lv != "approved":
                dark = lv in ("very low", "high") and k_res > 0
                _txt(ax, j, y, k, ha="center", va="center", fontsize=7,
                     color="white" if dark else _style.TEXT_COLOUR, zorder=4)
        g = gap_rows.get(ind, {})
        label = g.get("indication_label") or ind
        _txt(ax, -0.55, y, _style.truncate(label, 28), ha="right", va="center",
             fontsize=_style.FONT_SIZE)
        pre, hum = g.get("preclinical_smd"), g.get("human_smd")
        parts = []
        if isinstance(pre, float) and math.isfinite(pre):
            parts.append(f"animal {pre:+.2f}")
        if isinstance(hum, float) and math.isfinite(hum):
            parts.append(f"human {hum:+.2f}")
        effect = " / ".join(parts) if parts else ("no effect on the SMD scale" if g else "")
        _txt(ax, len(rungs) - 0.45, y, effect, ha="left", va="center", fontsize=7.5,
             color=_style.MUTED)
        if g.get("harm_signal") is True or g.get("harm_signal") == "True":
            ax.plot(len(rungs) + 1.9, y, "^", ms=8, color="#b2182b", zorder=3)
    for j, rung in enumerate(rungs):
        _txt(ax, j, n - 0.35, rung, ha="center", va="bottom", fontsize=_style.FONT_SIZE,
             weight="bold")
    _txt(ax, len(rungs) - 0.45, n - 0.35, "SMD (benefit +)", ha="left", va="bottom",
         fontsize=_style.FONT_SIZE, weight="bold")
    _txt(ax, len(rungs) + 1.9, n - 0.35, "harm", ha="center", va="bottom",
         fontsize=_style.FONT_SIZE, weight="bold")
    ax.set_xlim(-3.1, len(rungs) + 2.3)
    ax.set_ylim(-0.8, n + 0.4)
    ax.axis("off")
    handles = [Line2D([], [], ls="", marker="o", ms=8, mfc=_style.CERTAINTY_COLOURS[lv],
                      mec="#444444", label=lv) for lv in _style.CERTAINTY_ORDER]
    handles += [Line2D([], [], ls="", marker="o", ms=8, mfc=_style.NOT_GRADED_COLOUR,
                       mec="#444444", label="results, not pooled"),
                Line2D([], [], ls="", marker="o", ms=8, mfc="white", mec="#444444",
                       label="records without results"),
                Line2D([], [], ls="", marker="^", ms=8, color="#b2182b",
                       label="human harm signal")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4,
              frameon=False, fontsize=7.5, title="certainty (best in the stream; number = "
              "records)", title_fontsize=7.5)
    return ax
