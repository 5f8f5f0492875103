"""Evidence gap map: indications x evidence columns, record counts coloured by certainty."""

from __future__ import annotations

import pandas as pd

from evidence.errors import InvalidParameterError, ValidationError
from evidence.internal import check_choice, check_frame
from evidence.schema import ANIMAL_MODELS, indication_key
from grading.labels import indication_label
from grading.plots import _style

__all__ = ["GAP_COLUMNS", "MA_COLUMNS", "gap_map"]

#: Column label -> (stream, models counted there).  Combined phases count in the earlier
#: phase (phase 1/2 under phase 1, phase 2/3 under phase 2); phase 4 counts under phase 3.
GAP_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "in vitro": ("in_vitro", ("cell_culture",)),
    "animal": ("animal", ANIMAL_MODELS),
    "phase 1": ("human", ("phase_1", "phase_1_2")),
    "phase 2": ("human", ("phase_2", "phase_2_3")),
    "phase 3": ("human", ("phase_3", "phase_4")),
    "observational": ("human", ("cohort", "case_control", "cross_sectional")),
    "case/AE": ("human", ("case_series", "case_report", "adverse_event_report")),
}
#: Extra human column, shown only when such records exist.
_EXTRA_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "trial, phase n/s": ("human", ("clinical_trial",)),
}
#: Published meta-analyses (aggregate records) get a column under their own stream, shown only
#: when such records exist: "in vitro MA" after in vitro, "animal MA" after animal, "human MA"
#: after the human columns.  A meta-analysis record of no known stream goes to "meta-analysis".
MA_COLUMNS: dict[str, str] = {"in_vitro": "in vitro MA", "animal": "animal MA", "human": "human MA"}
_MA_MODEL = "meta_analysis"
_ALL = {"all", "all_indications", "all indications", "*"}
_RANK = {"high": 4, "moderate": 3, "low": 2, "very low": 1}
_DARK = {"high", "very low"}
_NOTE_LINE = 0.16  # inches per line of the notes under the legend
_CERTAINTY_CHOICES = ("within_stream", "human_question")
_CAPTION = {
    "within_stream": "Certainty within each stream (before rating down for translation to "
    "humans), best outcome in the stream",
    "human_question": "Certainty for the human question (animal and in vitro evidence rated "
    "down for translation to humans), best outcome in the stream",
}


def _best_certainty(grades: pd.DataFrame | None, which: str) -> dict[tuple[str, str], str]:
    """(indication, stream) -> highest certainty over that stream's outcomes.

    ``which="within_stream"`` reads ``certainty_within_stream`` (for human rows, ``certainty``
    where the within-stream column is empty: the two are equal for human evidence);
    ``"human_question"`` reads ``certainty``.
    """
    if grades is None:
        return {}
    _style.check_grades(grades, "gap_map")
    _style.check_columns(grades, {"indication", "stream", "certainty"}, "grades", "gap_map")
    stream_col = grades["stream"].astype(str)
    cert_col = grades["certainty"]
    if which == "within_stream":
        if "certainty_within_stream" in grades.columns:
            cert_col = grades["certainty_within_stream"].where(
                grades["certainty_within_stream"].notna() | (stream_col != "human"),
                grades["certainty"],
            )
        elif (stream_col != "human").any():
            raise ValidationError(
                "The 'grades' frame of gap_map() has no 'certainty_within_stream' column, "
                "needed for certainty='within_stream' (grade() output has it). Pass "
                "certainty='human_question' to colour by 'certainty'."
            )
    best: dict[tuple[str, str], str] = {}
    for ind, stream, cert in zip(grades["indication"], stream_col, cert_col, strict=True):
        if pd.isna(cert):
            continue
        c = str(cert).strip().lower().replace("_", " ")
        if c not in _RANK:
            continue
        key = (str(ind), str(stream))
        if key not in best or _RANK[c] > _RANK[best[key]]:
            best[key] = c
    return best


def _regulatory_text(regulatory: pd.DataFrame | None, width: int) -> dict[str, str]:
    if regulatory is None:
        return {}
    if not isinstance(regulatory, pd.DataFrame) or not {"indication", "status"} <= set(
        regulatory.columns
    ):
        raise ValidationError(
            "The 'regulatory' argument of gap_map() must be a DataFrame with at least the "
            "columns 'indication' and 'status' (data/regulatory.csv)."
        )
    out: dict[str, list[str]] = {}
    for _, r in regulatory.iterrows():
        if pd.isna(r["status"]):
            continue
        j = r.get("jurisdiction")
        s = str(r["status"]).replace("_", " ")
        if s.lower() == "ind cleared":
            s = "IND cleared"
        part = f"{j}: {s}" if isinstance(j, str) and j.strip() else s
        lst = out.setdefault(str(r["indication"]).strip().lower(), [])
        if part not in lst:
            lst.append(part)
    return {k: _style.wrap("; ".join(v), width, max_lines=2) for k, v in out.items()}


def _provisional_note(grades) -> str:
    """' Certainty provisional in 55 of 55 rated bodies (risk of bias not assessed in 55).'
    (a provisional certainty comes from the assessed domains only)."""
    if grades is None or "evidence_status" not in grades.columns:
        return ""
    status = grades["evidence_status"].astype(str)
    rated = int((status != "no evidence").sum())
    prov = status == "provisional"
    if not prov.any():
        return ""
    text = f" Certainty provisional in {int(prov.sum())} of {rated} rated bodies"
    if "risk_of_bias_judgement" in grades.columns:
        n_rob = int((prov & (grades["risk_of_bias_judgement"].astype(str) == "not assessed")).sum())
        if n_rob:
            text += f" (risk of bias not assessed in {n_rob})"
    return text + "."


def gap_map(
    studies: pd.DataFrame,
    *,
    grades: pd.DataFrame | None = None,
    regulatory: pd.DataFrame | None = None,
    certainty: str = "within_stream",
    order: list[str] | None = None,
    label_width: int = 30,
    ax=None,
):
    """Evidence gap map: one row per indication, one column per kind of evidence.

    Parameters
    ----------
    studies : DataFrame
        Study sheet with ``indication`` (or ``indication_label``), ``stream`` and ``model``.
    grades : DataFrame, optional
        ``grading.grade()`` output; each non-empty cell is coloured by the highest certainty
        among that indication's outcomes in the cell's stream (cells of the human columns
        share the human stream's certainty).  Cells with records but no grade are grey.
    regulatory : DataFrame, optional
        ``indication, jurisdiction, status`` rows (data/regulatory.csv), shown as a side
        column, matched to the indication label case-insensitively.
    certainty : {"within_stream", "human_question"}, default "within_stream"
        Which certainty colours the cells.  ``"within_stream"``: how sure we are about each
        stream's evidence on its own effect (``certainty_within_stream`` of ``grade()``,
        before the animal and in vitro streams are rated down for translation to humans;
        for human evidence the two are equal).  ``"human_question"``: ``certainty``, the
        certainty for the human question (all steps).
    order : list of str, optional
        Indication order (default: most records first).
    label_width : int, default 30
        Indication labels wrap at this many characters (two lines at most).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        One ``Rectangle`` per cell with gid ``"gap_cell:<indication>|<column>"``; the count
        text of each cell has gid ``"gap_count"``; regulatory texts ``"gap_regulatory"``;
        the stream header texts ``"gap_stream_header:<stream>"``; the caption under the
        legend ``"gap_note"``.
        Columns: in vitro | animal | phase 1 | phase 2 | phase 3 | observational | case/AE
        (see ``GAP_COLUMNS``), plus, when such records exist, "trial, phase n/s" (human) and
        one column of published meta-analyses per stream ("in vitro MA", "animal MA",
        "human MA"; see ``MA_COLUMNS``), each under its stream's header.  The legend lists
        every certainty level.
    """

    _style.check_ax(ax, "gap_map")
    check_frame(studies, "studies", "gap_map", what="a DataFrame")
    certainty = check_choice(certainty, "certainty", "gap_map", _CERTAINTY_CHOICES)
    _style.check_columns(studies, {"indication", "stream", "model"}, "studies", "gap_map")
    ind = indication_key(studies).fillna("(no indication)")
    model = studies["model"].astype("string").str.strip().str.lower()
    stream_of = studies["stream"].astype("string").str.strip().str.lower()
    cols = dict(GAP_COLUMNS)
    for c, (stream, models) in _EXTRA_COLUMNS.items():
        if model.isin(models).any():
            cols[c] = (stream, models)
    col_of = {m: c for c, (_, models) in cols.items() for m in models}
    cell_col = model.map(col_of).astype("object")
    # published meta-analyses: one column per stream, beside that stream's columns
    is_ma = (model == _MA_MODEL).fillna(False).astype(bool)
    ma_col = stream_of.map(MA_COLUMNS).astype("object").where(stream_of.notna(), None)
    ma_col = ma_col.where(ma_col.notna(), "meta-analysis")
    cell_col = cell_col.where(~is_ma, ma_col)
    present = set(cell_col[is_ma])
    ordered: dict[str, tuple[str, tuple[str, ...]]] = {}
    for c, spec in cols.items():
        if c == "phase 1" and MA_COLUMNS["animal"] in present:
            ordered[MA_COLUMNS["animal"]] = ("animal", (_MA_MODEL,))
        if c == "animal" and MA_COLUMNS["in_vitro"] in present:
            ordered[MA_COLUMNS["in_vitro"]] = ("in_vitro", (_MA_MODEL,))
        ordered[c] = spec
    if MA_COLUMNS["human"] in present:
        ordered[MA_COLUMNS["human"]] = ("human", (_MA_MODEL,))
    if "meta-analysis" in present:
        ordered["meta-analysis"] = ("", (_MA_MODEL,))
    cols = ordered
    if cell_col.isna().any():  # a model tag this map does not know: counted, never dropped
        cols["other"] = ("", tuple(sorted(model[cell_col.isna()].fillna("(missing)").unique())))
        cell_col = cell_col.fillna("other")
    colnames = list(cols)
    counts = pd.crosstab(ind, cell_col).reindex(columns=colnames, fill_value=0)
    if order is None:
        order = sorted(counts.index, key=lambda i: (-int(counts.loc[i].sum()), str(i)))
    else:
        missing = [o for o in order if o not in counts.index]
        if missing:
            raise InvalidParameterError(
                f"The 'order' argument of gap_map() names indications not in the data: {missing}."
            )
    counts = counts.loc[list(order)]
    best = _best_certainty(grades, certainty)
    reg = _regulatory_text(regulatory, 40)
    reg_all = "; ".join(v.replace("\n", " ") for k, v in reg.items() if k in _ALL)
    reg = {k: v for k, v in reg.items() if k not in _ALL}
    # stream of an ungrouped ("meta-analysis", "other") cell: the stream of its first record
    ma_stream: dict[tuple[str, str], str] = {}
    for i, c, st in zip(ind, cell_col, studies["stream"], strict=True):
        ma_stream.setdefault((str(i), c), str(st))

    n, m = len(counts), len(colnames)

    labels = [_style.wrap(indication_label(i), label_width, max_lines=2) for i in counts.index]
    fs_small = _style.FONT_SIZE - 0.5
    caption = _CAPTION[certainty] if grades is not None else "Records not graded"
    notes = [
        "Numbers are records"
        + (
            "; MA: published meta-analyses (aggregate records), counted under the stream they pool"
            if is_ma.any()
            else ""
        )
        + "."
        + _provisional_note(grades)
    ]
    if reg_all:
        notes.append(_style.wrap("Regulatory, all indications: " + reg_all, 120, max_lines=3))
    reg_w = 0.0
    if regulatory is not None:
        reg_w = (
            max(
                _style.text_width(list(reg.values()), fs_small),
                _style.text_width(["Regulatory status"], weight="bold"),
                1.2,
            )
            + 0.25
        )
    cell_w = max(0.7, _style.text_width(colnames) + 0.14)
    cell_h = 0.36
    n_note_lines = sum(t.count("\n") + 1 for t in notes)
    note_dy = 0.5  # inches below the axes: under the legend (caption line + one handle row)
    if ax is None:
        label_w = _style.text_width(labels) + 0.2
        left = 0.1 + label_w
        axes_w = m * cell_w
        # the legend is centred under the cells; the notes start at the cells' left edge
        legend_w = max(_style.text_width([caption], fs_small), 5.6)
        left = max(left, legend_w / 2 - axes_w / 2 + 0.1)
        width = max(
            left + axes_w + reg_w + 0.15,
            left + axes_w / 2 + legend_w / 2 + 0.1,
            left + _style.text_width(notes, fs_small) + 0.1,
        )
        legend_h = note_dy + 0.06 + _NOTE_LINE * n_note_lines
        height = 0.75 + n * cell_h + legend_h
        fig = _style.new_figure(width, height)
        ax = fig.add_axes([left / width, legend_h / height, axes_w / width, n * cell_h / height])
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    used = set()
    for i, indication in enumerate(counts.index):
        for j, c in enumerate(colnames):
            k = int(counts.loc[indication, c])
            stream = cols[c][0] or ma_stream.get((str(indication), c), "")
            cert = best.get((str(indication), stream))
            if k == 0:
                face, key = _style.EMPTY_COLOUR, "no records"
            elif cert is None:
                face, key = _style.NOT_GRADED_COLOUR, "not graded"
            else:
                face, key = _style.CERTAINTY_COLOURS[cert], cert
            used.add(key)
            ax.add_patch(
                Rectangle(
                    (j - 0.5, i - 0.5),
                    1,
                    1,
                    facecolor=face,
                    edgecolor="white",
                    lw=1.5,
                    gid=f"gap_cell:{indication}|{c}",
                )
            )
            ax.text(
                j,
                i,
                str(k) if k else "–",
                ha="center",
                va="center",
                fontsize=_style.FONT_SIZE + (0.5 if k else 0),
                fontweight="bold" if k else "normal",
                color="white" if cert in _DARK and k else (_style.TEXT_COLOUR if k else "#b0b0b0"),
                gid="gap_count",
            )
        if regulatory is not None:
            txt = reg.get(
                str(indication).strip().lower(), "none specific" if reg_all else "none found"
            )
            ax.text(
                0,
                i,
                _style.plain(txt),
                transform=_style.offset_transform(ax, 1, 0.15),
                ha="left",
                va="center",
                fontsize=fs_small,
                color=_style.MUTED if txt.startswith("none ") else _style.TEXT_COLOUR,
                gid="gap_regulatory",
            )
    ax.set_xlim(-0.5, m - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xticks(range(m), colnames)
    ax.xaxis.tick_top()
    ax.set_yticks(range(n), _style.plain_all(labels))
    ax.tick_params(length=0, labelsize=_style.FONT_SIZE)
    for s in ax.spines.values():
        s.set_visible(False)
    # stream group headers above the column labels (a stream's columns are adjacent)
    groups: dict[str, list[int]] = {}
    for j, c in enumerate(colnames):
        groups.setdefault(cols[c][0] or "", []).append(j)
    for stream, js in groups.items():
        if not stream:
            continue
        x_l, x_r = (js[0] - 0.45 + 0.5) / m, (js[-1] + 0.45 + 0.5) / m
        tr = _style.offset_transform(ax, 0, 0, 0.27, y="axes")
        ax.add_line(
            Line2D(
                [x_l, x_r],
                [1, 1],
                transform=tr,
                color=_style.STREAM_COLOURS[stream],
                lw=2.5,
                clip_on=False,
                solid_capstyle="butt",
                gid=f"gap_stream_bar:{stream}",
            )
        )
        ax.text(
            (x_l + x_r) / 2,
            1,
            _style.STREAM_LABELS[stream],
            transform=_style.offset_transform(ax, 0, 0, 0.31, y="axes"),
            ha="center",
            va="bottom",
            fontsize=_style.FONT_SIZE,
            fontweight="bold",
            gid=f"gap_stream_header:{stream}",
        )
    if regulatory is not None:
        ax.text(
            0,
            1,
            "Regulatory status",
            transform=_style.offset_transform(ax, 1, 0.15, 0.08, y="axes"),
            ha="left",
            va="bottom",
            fontsize=_style.FONT_SIZE,
            fontweight="bold",
        )
    keys = [*(_style.CERTAINTY_ORDER if grades is not None else ()), "not graded", "no records"]
    handles = []
    for key in keys:
        if key not in _style.CERTAINTY_COLOURS and key not in used:
            continue
        swatch = {"not graded": _style.NOT_GRADED_COLOUR, "no records": _style.EMPTY_COLOUR}.get(
            key, _style.CERTAINTY_COLOURS.get(key)
        )
        label = f"{_style.CERTAINTY_SYMBOLS[key]} {key}" if key in _style.CERTAINTY_SYMBOLS else key
        handles.append(Patch(facecolor=swatch, edgecolor="#888888", label=label))
    ax.text(
        0,
        0,
        _style.plain(notes[0]),
        transform=_style.offset_transform(ax, 0, 0, -note_dy, y="axes"),
        ha="left",
        va="top",
        fontsize=fs_small,
        color=_style.TEXT_COLOUR,
        gid="gap_note",
    )
    if reg_all:
        ax.text(
            0,
            0,
            _style.plain(notes[1]),
            transform=_style.offset_transform(ax, 0, 0, -note_dy - _NOTE_LINE, y="axes"),
            ha="left",
            va="top",
            fontsize=fs_small,
            color=_style.TEXT_COLOUR,
            gid="gap_regulatory_all",
        )
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=_style.offset_transform(ax, 0, 0, -0.06, y="axes"),
        ncol=len(handles),
        frameon=False,
        fontsize=fs_small,
        title=caption,
        title_fontsize=fs_small,
        handlelength=1.4,
        columnspacing=1.0,
        borderaxespad=0.0,
        borderpad=0.2,
    )
    return ax
