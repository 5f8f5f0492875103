"""Evidence gap map: indications x evidence columns, record counts coloured by certainty."""

from __future__ import annotations

import pandas as pd

from evidence._validate import check_frame
from evidence.errors import InvalidParameterError, ValidationError
from evidence.schema import ANIMAL_MODELS, indication_key
from grading.plots import _style

__all__ = ["GAP_COLUMNS", "gap_map"]

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
#: Extra columns, shown only when such records exist.
_EXTRA_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "trial, phase n/s": ("human", ("clinical_trial",)),
    "meta-analysis": ("", ("meta_analysis",)),
}
_ALL = {"all", "all_indications", "all indications", "*"}
_RANK = {"high": 4, "moderate": 3, "low": 2, "very low": 1}
_DARK = {"high", "very low"}


def _best_certainty(grades: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    """(indication, stream) -> highest certainty over that stream's outcomes."""
    if grades is None:
        return {}
    if not isinstance(grades, pd.DataFrame):
        raise InvalidParameterError(
            f"The 'grades' argument of gap_map() must be a grade() DataFrame or None. "
            f"Got {type(grades).__name__}."
        )
    need = {"indication", "stream", "certainty"}
    if not need <= set(grades.columns):
        raise ValidationError(
            f"The 'grades' frame of gap_map() needs columns {sorted(need)}. "
            f"Missing: {sorted(need - set(grades.columns))}."
        )
    best: dict[tuple[str, str], str] = {}
    for ind, stream, cert in grades[["indication", "stream", "certainty"]].itertuples(index=False):
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


def gap_map(
    studies: pd.DataFrame,
    *,
    grades: pd.DataFrame | None = None,
    regulatory: pd.DataFrame | None = None,
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
    order : list of str, optional
        Indication order (default: most records first).
    label_width : int, default 30
        Indication labels wrap at this many characters (two lines at most).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        One ``Rectangle`` per cell with gid ``"gap_cell:<indication>|<column>"``; the count
        text of each cell has gid ``"gap_count"``; regulatory texts ``"gap_regulatory"``.
        Columns: in vitro | animal | phase 1 | phase 2 | phase 3 | observational | case/AE
        (+ meta-analysis when such records exist; see ``GAP_COLUMNS``).
    """
    _style.check_ax(ax, "gap_map")
    check_frame(studies, "studies", "gap_map", what="a DataFrame")
    need = {"indication", "stream", "model"}
    if not need <= set(studies.columns):
        raise ValidationError(
            f"The 'studies' frame of gap_map() needs columns {sorted(need)}. "
            f"Missing: {sorted(need - set(studies.columns))}."
        )
    ind = indication_key(studies).fillna("(no indication)")
    model = studies["model"].astype("string").str.strip().str.lower()
    cols = dict(GAP_COLUMNS)
    for c, (stream, models) in _EXTRA_COLUMNS.items():
        if model.isin(models).any():
            cols[c] = (stream, models)
    col_of = {m: c for c, (_, models) in cols.items() for m in models}
    cell_col = model.map(col_of)
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
    best = _best_certainty(grades)
    reg = _regulatory_text(regulatory, 40)
    reg_all = "; ".join(
        v.replace("\n", " ") for k, v in reg.items() if k in _ALL
    )
    reg = {k: v for k, v in reg.items() if k not in _ALL}
    # stream of a meta-analysis/other cell: the stream of its records (first one)
    ma_stream: dict[tuple[str, str], str] = {}
    for i, c, st in zip(ind, cell_col, studies["stream"], strict=True):
        ma_stream.setdefault((str(i), c), str(st))

    n, m = len(counts), len(colnames)
    labels = [_style.wrap(str(i).replace("_", " "), label_width, max_lines=2)
              for i in counts.index]
    reg_w = 0.0
    if regulatory is not None:
        reg_w = max(_style.text_width(list(reg.values()) + ["Regulatory status"], _style.FONT_SIZE
                                      - 0.5), 1.2) + 0.2
    cell_w = max(0.7, _style.text_width(colnames) + 0.14)
    cell_h = 0.36
    if ax is None:
        label_w = _style.text_width(labels) + 0.2
        width = 0.1 + label_w + m * cell_w + reg_w + 0.15
        legend_h = 0.6 + (0.5 if reg_all else 0.0)
        height = 0.75 + n * cell_h + legend_h
        fig = _style.new_figure(width, height)
        ax = fig.add_axes([(0.1 + label_w) / width, legend_h / height, m * cell_w / width,
                           n * cell_h / height])
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
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=face, edgecolor="white",
                                   lw=1.5, gid=f"gap_cell:{indication}|{c}"))
            ax.text(j, i, str(k) if k else "–", ha="center", va="center",
                    fontsize=_style.FONT_SIZE + (0.5 if k else 0),
                    fontweight="bold" if k else "normal",
                    color="white" if cert in _DARK and k else (
                        _style.TEXT_COLOUR if k else "#b0b0b0"), gid="gap_count")
        if regulatory is not None:
            txt = reg.get(str(indication).strip().lower(), "none specific" if reg_all
                          else "none found")
            ax.text(0, i, txt, transform=_style.offset_transform(ax, 1, 0.15), ha="left",
                    va="center", fontsize=_style.FONT_SIZE - 0.5,
                    color=_style.MUTED if txt.startswith("none ") else _style.TEXT_COLOUR,
                    gid="gap_regulatory")
    ax.set_xlim(-0.5, m - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xticks(range(m), colnames)
    ax.xaxis.tick_top()
    ax.set_yticks(range(n), labels)
    ax.tick_params(length=0, labelsize=_style.FONT_SIZE)
    for s in ax.spines.values():
        s.set_visible(False)
    # stream group headers above the column labels
    groups: dict[str, list[int]] = {}
    for j, c in enumerate(colnames):
        groups.setdefault(cols[c][0] or "", []).append(j)
    for stream, js in groups.items():
        if not stream:
            continue
        from matplotlib.lines import Line2D

        x_l, x_r = (js[0] - 0.45 + 0.5) / m, (js[-1] + 0.45 + 0.5) / m
        tr = _style.offset_transform(ax, 0, 0, 0.27, y="axes")
        ax.add_line(Line2D([x_l, x_r], [1, 1], transform=tr, color=_style.STREAM_COLOURS[stream],
                           lw=2.5, clip_on=False, solid_capstyle="butt"))
        ax.text((x_l + x_r) / 2, 1, _style.STREAM_LABELS[stream],
                transform=_style.offset_transform(ax, 0, 0, 0.31, y="axes"), ha="center",
                va="bottom", fontsize=_style.FONT_SIZE, fontweight="bold")
    if regulatory is not None:
        ax.text(0, 1, "Regulatory status", transform=_style.offset_transform(ax, 1, 0.15, 0.08,
                y="axes"), ha="left", va="bottom", fontsize=_style.FONT_SIZE, fontweight="bold")
    handles = []
    for key in [*_style.CERTAINTY_ORDER, "not graded", "no records"]:
        if key not in used:
            continue
        face = {"not graded": _style.NOT_GRADED_COLOUR, "no records": _style.EMPTY_COLOUR}.get(
            key, _style.CERTAINTY_COLOURS.get(key))
        label = f"{_style.CERTAINTY_SYMBOLS[key]} {key}" if key in _style.CERTAINTY_SYMBOLS else key
        handles.append(Patch(facecolor=face, edgecolor="#888888", label=label))
    if reg_all:
        ax.text(0, 0, _style.wrap("Regulatory, all indications: " + reg_all, 120, max_lines=3),
                transform=_style.offset_transform(ax, 0, 0, -0.62, y="axes"), ha="left",
                va="top", fontsize=_style.FONT_SIZE - 0.5, color=_style.TEXT_COLOUR,
                gid="gap_regulatory_all")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              bbox_transform=_style.offset_transform(ax, 0, 0, -0.06, y="axes"),
              ncol=min(len(handles), 6), frameon=False, fontsize=_style.FONT_SIZE - 0.5,
              title="Certainty of evidence (best outcome in the stream); numbers are records",
              title_fontsize=_style.FONT_SIZE - 0.5, handlelength=1.4, columnspacing=1.0)
    return ax

