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

from evidence.errors import InvalidParameterError, ValidationError
from evidence.internal import check_frame
from evidence.schema import indication_key
from grading.gap import indication_matches, is_global
from grading.labels import indication_label
from grading.plots import _style

__all__ = ["LADDER_RUNGS", "translational_ladder", "human_rungs_apply"]

#: Rung label -> (stream, models counted there: a tuple, None for every model, or "not meta" for
#: every model but published meta-analyses).  Phase 1/2 counts under phase 1, phase 2/3 under
#: phase 2, phase 4 under phase 3.
LADDER_RUNGS: dict[str, tuple[str, tuple[str, ...] | str | None]] = {
    "in vitro": ("in_vitro", None),
    "animal": ("animal", "not meta"),
    "published\nanimal MA": ("animal", ("meta_analysis",)),
    "phase 1": ("human", ("phase_1", "phase_1_2")),
    "phase 2": ("human", ("phase_2", "phase_2_3")),
    "phase 3": ("human", ("phase_3", "phase_4")),
    "approval": ("regulatory", None),
    "other human\n(no phase)": (
        "human",
        (
            "case_series",
            "case_report",
            "adverse_event_report",
            "cohort",
            "case_control",
            "cross_sectional",
            "clinical_trial",
            "meta_analysis",
        ),
    ),
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


def _organism_rung(studies: pd.DataFrame, rung: str) -> str:
    """The animal rungs' header in the words of the sheet's models: an 'animal' stream made
    only of non-animal organisms (model ``other_organism``: plants, microbes) is not called
    animal."""
    if LADDER_RUNGS.get(rung, ("",))[0] != "animal" or "model" not in studies.columns:
        return rung
    m = studies.loc[studies["stream"].astype("string").eq("animal").fillna(False), "model"]
    m = m.dropna().astype(str)
    if len(m) == 0 or not m.eq("other_organism").any():
        return rung
    only = bool(m.eq("other_organism").all())
    if rung == "animal":
        return "non-animal\norganisms" if only else "animal and\nother organisms"
    return "published\norganism MA" if only else rung


def human_rungs_apply(studies: pd.DataFrame, regulatory: pd.DataFrame | None = None) -> bool:
    """Whether the human rungs (phase 1-3, other human, approval) belong on the ladder.

    Rule: only when the sheet has at least one human record or regulatory rows are given.  A
    review without a human stream (an exposure studied in animals or plants, e.g. a maternal
    diet or elevated CO2) is not a therapeutic programme on its way to approval; drawing
    empty phase and approval rungs would show as "missing" steps that the review never set
    out to have.
    """
    if "stream" in studies.columns and studies["stream"].astype("string").eq("human").any():
        return True
    return regulatory is not None and len(regulatory) > 0


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

    The human rungs (phase 1-3, other human, approval) and the harm column are drawn only
    when the sheet has a human record or ``regulatory`` rows are given
    (:func:`human_rungs_apply`); otherwise a note says they are not drawn.  Indication labels
    are the report's (:func:`grading.labels.indication_label`), wrapped on two lines.

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
                f"Got {type(frame).__name__}."
            )
    for col in ("indication", "stream", "model"):
        if col not in studies.columns:
            raise ValidationError(f"translational_ladder() needs column {col!r} in 'studies'.")
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    from matplotlib.lines import Line2D

    keys = indication_key(studies)
    inds = sorted({k for k in keys.dropna().astype(str)})
    if not inds:
        raise ValidationError(
            "translational_ladder() needs at least one record with an indication."
        )

    has_result = (
        (studies["data_type"] != "none").fillna(False)
        if "data_type" in studies.columns
        else pd.Series(True, index=studies.index)
    )
    cert = _certainty(grades)
    gap_rows = (
        {}
        if gap is None or "indication" not in gap.columns
        else {str(r["indication"]): r for r in gap.to_dict("records")}
    )
    human = human_rungs_apply(studies, regulatory)
    rungs = [r for r in LADDER_RUNGS if human or LADDER_RUNGS[r][0] not in ("human", "regulatory")]
    n = len(inds)
    labels = []
    for ind in inds:
        g = gap_rows.get(ind, {})
        lab = g.get("indication_label") or ind
        labels.append(_style.wrap(indication_label(str(lab)), 34, max_lines=2))
    fs = _style.FONT_SIZE
    pre_word = (
        "organisms" if _organism_rung(studies, "animal") == "non-animal\norganisms" else "animal"
    )
    effects = []
    for ind in inds:
        g = gap_rows.get(ind, {})
        pre, hum = g.get("preclinical_smd"), g.get("human_smd")
        parts = []
        if isinstance(pre, float) and math.isfinite(pre):
            parts.append(f"{pre_word} {pre:+.2f}")
        if isinstance(hum, float) and math.isfinite(hum):
            parts.append(f"human {hum:+.2f}")
        effects.append(" / ".join(parts) if parts else ("no effect on the SMD scale" if g else ""))
    # layout in inches: labels | one column per rung | effect | harm; headers (two lines)
    # above the rows and the legend below them all have room of their own
    row_in = 0.36
    rung_in = max(
        0.82,
        _style.text_width([_organism_rung(studies, r) for r in rungs], fs, weight="bold") + 0.15,
    )
    lab_in = _style.text_width(labels, fs) + 0.15
    eff_in = (
        max(
            _style.text_width(effects, 7.5),
            _style.text_width(["SMD (benefit +)"], fs, weight="bold"),
            0.8,
        )
        + 0.25
    )
    harm_in = 0.55 if human else 0.0
    note = (
        None
        if human
        else (
            "No human record and no regulatory row in the inputs: the human "
            "rungs (phase 1-3, approval) are not drawn."
        )
    )
    top_in, bottom_in = 0.55, 0.95 + (0.2 if note else 0.0)
    if ax is None:
        width = 0.15 + lab_in + rung_in * len(rungs) + eff_in + harm_in + 0.15
        height = top_in + row_in * n + bottom_in
        fig = _style.new_figure(*(figsize or (width, height)))
        if figsize is None:
            ax = fig.add_axes(
                [
                    (0.15 + lab_in) / width,
                    bottom_in / height,
                    rung_in * len(rungs) / width,
                    row_in * n / height,
                ]
            )
        else:
            ax = fig.add_subplot()
    grid = []
    for ind in inds:
        mine = (keys == ind).fillna(False)
        row = []
        for rung in rungs:
            stream, models = LADDER_RUNGS[rung]
            if stream == "regulatory":
                ok = False
                if regulatory is not None and {"indication", "status"} <= set(regulatory.columns):
                    for lab, st in zip(
                        regulatory["indication"].astype(str),
                        regulatory["status"].astype(str),
                        strict=True,
                    ):
                        s = st.lower().replace("_", " ")
                        if (
                            "approved" in s
                            and "not approved" not in s
                            and not is_global(lab)
                            and indication_matches(lab, ind)
                        ):
                            ok = True
                row.append((1 if ok else 0, 1 if ok else 0, "approved" if ok else None))
                continue
            m = mine & _stage_mask(studies, stream, models)
            row.append((int(m.sum()), int((m & has_result).sum()), cert.get((ind, stream))))
        grid.append(row)
    off = rungs.index(_OFF_LADDER) if _OFF_LADDER in rungs else -1
    x_eff = len(rungs) - 0.5 + 0.15 / rung_in  # data units: one rung = rung_in inches
    x_harm = len(rungs) - 0.5 + (eff_in + harm_in / 2) / rung_in
    for i, (ind, row) in enumerate(zip(inds, grid, strict=True)):
        y = n - 1 - i
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
                colour = _style.CERTAINTY_COLOURS.get(lv or "", _style.NOT_GRADED_COLOUR)
            ax.plot(j, y, "o", ms=15, mfc=colour, mec="#444444", mew=0.8, zorder=3)
            if lv != "approved":
                dark = lv in ("very low", "high") and k_res > 0
                _txt(
                    ax,
                    j,
                    y,
                    k,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if dark else _style.TEXT_COLOUR,
                    zorder=4,
                )
        _txt(
            ax,
            -0.5 - 0.1 / rung_in,
            y,
            labels[i],
            ha="right",
            va="center",
            fontsize=fs,
            gid="indication_label",
        )
        _txt(ax, x_eff, y, effects[i], ha="left", va="center", fontsize=7.5, color=_style.MUTED)
        g = gap_rows.get(ind, {})
        if human and (g.get("harm_signal") is True or g.get("harm_signal") == "True"):
            ax.plot(x_harm, y, "^", ms=8, color="#b2182b", zorder=3)
    y_head = n - 0.5 + 0.06 / row_in
    shown_rungs = [_organism_rung(studies, r) for r in rungs]
    for j, rung in enumerate(shown_rungs):
        _txt(
            ax,
            j,
            y_head,
            rung,
            ha="center",
            va="bottom",
            fontsize=fs,
            weight="bold",
            gid="rung_header",
        )
    _txt(
        ax,
        x_eff,
        y_head,
        "SMD (benefit +)",
        ha="left",
        va="bottom",
        fontsize=fs,
        weight="bold",
        gid="rung_header",
    )
    if human:
        _txt(
            ax,
            x_harm,
            y_head,
            "harm",
            ha="center",
            va="bottom",
            fontsize=fs,
            weight="bold",
            gid="rung_header",
        )
    ax.set_xlim(-0.5, len(rungs) - 0.5)
    ax.set_ylim(-0.5, n - 0.5)
    ax.axis("off")
    handles = [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            ms=8,
            mfc=_style.CERTAINTY_COLOURS[lv],
            mec="#444444",
            label=lv,
        )
        for lv in _style.CERTAINTY_ORDER
    ]
    handles += [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            ms=8,
            mfc=_style.NOT_GRADED_COLOUR,
            mec="#444444",
            label="results, not pooled",
        ),
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            ms=8,
            mfc="white",
            mec="#444444",
            label="records without results",
        ),
    ]
    if human:
        handles.append(
            Line2D([], [], ls="", marker="^", ms=8, color="#b2182b", label="human harm signal")
        )
    leg = ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.0, 0.0),
        ncol=4 if human else 3,
        frameon=False,
        fontsize=7.5,
        title="certainty (best in the stream; number = records)",
        title_fontsize=7.5,
        borderaxespad=0.2,
    )
    leg._legend_box.align = "left"
    if note:
        avail = max(rung_in * len(rungs) + eff_in + harm_in, 3.0)
        note = next(
            (
                _style.wrap(note, w)
                for w in range(len(note), 20, -2)
                if _style.text_width(_style.wrap(note, w).split("\n"), 7.5) <= avail
            ),
            _style.wrap(note, 40),
        )
        _txt(
            ax,
            0,
            0,
            note,
            transform=_style.offset_transform(ax, 0, -0.1, -0.75, y="axes"),
            ha="left",
            va="top",
            fontsize=7.5,
            color=_style.MUTED,
            gid="ladder_note",
        )
    return ax
