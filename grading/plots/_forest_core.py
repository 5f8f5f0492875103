"""The row-building and layout core shared by :func:`forest_plot` and :func:`translational_forest`.

A forest-like figure is a list of :class:`Row` objects (one table row each) drawn on one Axes
whose text columns live outside it, placed in inches.  This module holds what both figures
need: study-row labels that tell rows apart, "not estimable" reasons (double-zero tables),
shared control arms, the favours labels of an outcome direction, the figure title, the x axis
(limits, ticks, log scale for ratios), and the drawing of CIs, squares, diamonds, the null
line and text.  matplotlib is imported inside the drawing functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evidence.errors import InvalidParameterError
from evidence.internal import norm_ppf, norm_sf
from evidence.measures import SINGLE_GROUP_MEASURES
from evidence.pooling import pool as fit
from grading.labels import indication_label
from grading.plots import _style
from grading.statements import model_word
from grading.zero_cells import (  # noqa: F401  (re-exported for the figures)
    DOUBLE_ZERO_MEASURES,
    DOUBLE_ZERO_SOURCE,
    double_zero_reasons,
)

#: Columns that tell apart several rows of one study, tried in this order.
DISAMBIGUATORS: tuple[str, ...] = (
    "comparison",
    "intervention",
    "model_detail",
    "model",
    "dose",
    "timepoint",
    "outcome",
    "comparator",
    "subgroup",
)
_COUNT_ARMS = ("events_int", "n_int", "events_ctrl", "n_ctrl")
_CTRL_ARMS = (("events_ctrl", "n_ctrl"), ("mean_ctrl", "sd_ctrl", "n_ctrl"))
# the double-zero rule is grading.zero_cells', shared with grade() (one body, one estimate)
SHARED_CONTROL_SOURCE = "Cochrane Handbook for Systematic Reviews of Interventions, section 23.3.4"
SHARED_MARK = "†"


@dataclass
class Row:
    """One table row of a forest-like figure."""

    kind: str  # header | study | subtotal | total | pi | text | blank | model | nodiamond
    label: str = ""
    yi: float = np.nan
    vi: float = np.nan
    weight: float = np.nan
    cells: list[str] = field(default_factory=list)
    #: the pooled result of a subtotal/total/pi/diamond row: an ``evidence.PoolResult``, a
    #: single study's own estimate (``_Single``) or the caller's ``result=`` (duck-typed)
    result: Any = None
    rob: list = field(default_factory=list)
    bold: bool = False
    group: str | None = None
    ci: str = ""
    note: str = ""  # why a study row has no estimate
    colour: str | None = None
    meta: bool = False  # a published pooled estimate (open diamond, not pooled again)
    cert: list = field(default_factory=list)
    #: (point, low, high) on the display scale when the drawn CI is not yi +- z*sqrt(vi)
    #: (a single-arm proportion: the observed proportion with its Wilson CI)
    disp: tuple[float, float, float] | None = None

    @property
    def estimable(self) -> bool:
        return bool(np.isfinite(self.yi) and np.isfinite(self.vi))


# --------------------------------------------------------------------------- rows


def _text(value) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    s = " ".join(str(value).split())
    return s or None


def study_labels(
    data: pd.DataFrame, labels: str, width: int, *, extra: tuple[str, ...] = DISAMBIGUATORS
) -> list[str]:
    """One label per row, different for rows that share a study label.

    Rows whose ``labels`` value repeats get the first column of ``extra`` that tells them apart
    appended (``"Watkins 2008a: high dose vs vehicle"``); when no single column does, the
    columns that vary are combined; rows still alike are numbered (``"#2"``).  Labels are cut
    to ``width`` characters (the detail is cut, not the study) and kept unique after cutting.
    """
    base = [_text(v) or "" for v in data[labels]]
    n = len(base)
    detail = [""] * n
    groups: dict[str, list[int]] = {}
    for i, b in enumerate(base):
        groups.setdefault(b, []).append(i)
    cols = [c for c in extra if c in data.columns and c != labels]
    for idx in groups.values():
        if len(idx) < 2:
            continue
        vals = {c: [_text(data[c].iloc[i]) for i in idx] for c in cols}
        varying = [c for c in cols if len(set(vals[c])) > 1]
        chosen = next(
            (
                c
                for c in varying
                if len(set(vals[c])) == len(idx) and all(v is not None for v in vals[c])
            ),
            None,
        )
        use = [chosen] if chosen else varying
        for j, i in enumerate(idx):
            parts = [v for c in use if (v := vals[c][j]) is not None]
            detail[i] = ", ".join(parts)
        seen: dict[str, int] = {}
        for i in idx:
            seen[detail[i]] = seen.get(detail[i], 0) + 1
        count: dict[str, int] = {}
        for i in idx:
            if seen[detail[i]] > 1:
                count[detail[i]] = count.get(detail[i], 0) + 1
                tag = f"#{count[detail[i]]}"
                detail[i] = f"{detail[i]} {tag}" if detail[i] else tag
    out = []
    for b, d in zip(base, detail, strict=True):
        if not d:
            out.append(_style.truncate(b, width))
            continue
        head = b if len(b) <= width - 6 else _style.truncate(b, max(width // 2, 4))
        out.append(_style.truncate(f"{head}: {d}", width) if head else _style.truncate(d, width))
    # cutting may make two labels alike again: number the later ones
    seen_out: dict[str, int] = {}
    for i, lab in enumerate(out):
        if lab in seen_out:
            seen_out[lab] += 1
            tag = f" #{seen_out[lab]}"
            out[i] = _style.truncate(lab, width - len(tag)) + tag
        else:
            seen_out[lab] = 1
    return out


def not_estimable_reasons(
    data: pd.DataFrame, measure: str | None, yi: np.ndarray, vi: np.ndarray
) -> list[str]:
    """Why each row has no estimate to draw ("" for an estimable row).

    A 2x2 table without events in either arm (or with every participant having the event in
    both) leaves a risk or odds ratio undefined: such a row is "not estimable" even when a
    zero-cell correction produced numbers (Cochrane Handbook 10.4.4.2).  Rows with a missing
    ``yi``/``vi`` give their ``effect_note`` (or "no numeric result").
    """
    n = len(data)
    m = None if measure is None else str(measure).upper()
    ei, ni, ec, nc = (
        pd.to_numeric(data[c], errors="coerce").to_numpy(float)
        if c in data.columns
        else np.full(n, np.nan)
        for c in _COUNT_ARMS
    )
    notes = data["effect_note"] if "effect_note" in data.columns else None
    out = list(
        double_zero_reasons(
            np.full(n, m, dtype=object),
            ei,
            ni,
            ec,
            nc,
            notes=None if notes is None else notes.astype(object).to_numpy(),
        )
    )
    for i in range(n):
        if not out[i] and not (np.isfinite(yi[i]) and np.isfinite(vi[i])):
            out[i] = (_text(notes.iloc[i]) if notes is not None else None) or "no numeric result"
    return out


def shared_controls(data: pd.DataFrame, labels: str, column: str | None = None) -> np.ndarray:
    """Group number of rows of one study that share a control arm (-1: not shared).

    Rows of one study label with the same value in ``column`` (a control-group id), or, when
    no column is given, with the same control-arm numbers (events and total, or mean, SD and
    total), compare several interventions with one control group: their totals must count
    that control once, and the rows are not independent (Cochrane Handbook 23.3.4).
    """
    gid = np.full(len(data), -1)
    if column is not None:
        key = pd.DataFrame(
            {
                "s": data[labels].astype("string").to_numpy(),
                "c": data[column].astype("string").to_numpy(),
            }
        )
        complete = key.notna().all(axis=1).to_numpy()
        if complete.any():
            sub = key[complete]
            codes = sub.groupby(["s", "c"], sort=False).ngroup().to_numpy()
            shared = np.bincount(codes)[codes] > 1
            gid[np.flatnonzero(complete)[shared]] = codes[shared]
        return gid
    arm = next((cols for cols in _CTRL_ARMS if all(c in data.columns for c in cols)), None)
    if arm is None or len(data) < 2:
        return gid
    key = pd.DataFrame({"s": data[labels].astype("string").to_numpy()})
    for c in arm:
        key[c] = pd.to_numeric(data[c], errors="coerce").to_numpy(float)
    # the study, its control total and its events (or mean) known; a missing SD may be
    # missing alike in the rows of one control group
    complete = (key["s"].notna() & key[arm[0]].notna() & key["n_ctrl"].notna()).to_numpy()
    if not complete.any():
        return gid
    sub = key[complete]
    codes = sub.groupby(list(sub.columns), sort=False, dropna=False).ngroup().to_numpy()
    counts = np.bincount(codes)
    shared = counts[codes] > 1
    gid[np.flatnonzero(complete)[shared]] = codes[shared]
    return gid


def outcome_direction(data: pd.DataFrame) -> str | None:
    """``"higher_is_better"``, ``"higher_is_worse"``, ``"mixed"`` or None (not known).

    From the rows' ``outcome_direction``; a row without it but of ``outcome_kind`` "harm" (an
    adverse event: more is worse) counts as ``higher_is_worse``.
    """
    d = (
        data["outcome_direction"].astype("string")
        if "outcome_direction" in data.columns
        else pd.Series(pd.NA, index=data.index, dtype="string")
    )
    if "outcome_kind" in data.columns:
        harm = data["outcome_kind"].astype("string").eq("harm").fillna(False).to_numpy()
        d = d.where(~(d.isna().to_numpy() & harm), "higher_is_worse")
    known = set(d.dropna())
    if not known:
        return None
    if len(known) > 1:
        return "mixed"
    return known.pop()


def auto_favours(data: pd.DataFrame, measure: str | None) -> tuple[str, str] | None:
    """(left, right) labels under the axis, from the outcome direction.

    The effect is intervention versus control, so an effect above the null (RR > 1, MD > 0)
    means more of the outcome with the intervention: for an outcome where higher is worse
    (mortality, adverse events) the left side favours the intervention; where higher is
    better (abstinence, biomass, survival) the right side does.  Without a known direction
    (or with rows of both directions) the labels only say which side is higher.  Single-arm
    measures (PR, PLO) have no control: None.
    """
    if measure is not None and str(measure).upper() in SINGLE_GROUP_MEASURES:
        return None
    direction = outcome_direction(data)
    if direction == "higher_is_worse":
        return ("Favours intervention", "Favours control")
    if direction == "higher_is_better":
        return ("Favours control", "Favours intervention")
    return ("Lower with intervention", "Higher with intervention")


def indication_text(data: pd.DataFrame) -> str | None:
    """The human indication of the rows: their one ``indication`` text, else their
    ``indication_label`` key in words (:func:`grading.labels.indication_label`, the label the
    report uses: ``"covid19_ards"`` -> ``"COVID-19 ARDS"``); None when neither is a single
    value."""

    for col in ("indication", "indication_label"):
        if col in data.columns:
            vals = data[col].dropna().astype(str).unique()
            if len(vals) == 1:
                return indication_label(vals[0].strip())
    return None


def stream_words(data: pd.DataFrame, stream: str) -> str:
    """The rows' stream in words for a title: 'animal studies', 'human studies', 'in vitro
    studies'; an animal stream of non-animal organisms only (model ``other_organism``:
    plants, microbes) is 'non-animal organisms', animals and others together 'animal and
    other organisms' (the statements' wording, :func:`grading.statements.model_prefix`)."""

    if stream == "animal" and "model" in data.columns:
        word = model_word("animal", data["model"].tolist())
        if word == "non-animal organism":
            return "non-animal organisms"
        if word == "animal and other organism":
            return "animal and other organisms"
    return f"{_style.STREAM_LABELS.get(stream, stream).lower()} studies"


def single_text(data: pd.DataFrame, col: str) -> str | None:
    if col not in data.columns:
        return None
    vals = data[col].dropna().astype(str).unique()
    return str(vals[0]) if len(vals) == 1 else None


def model_text(result, method: str, ci_method: str) -> str:
    """``"random-effects model (REML)"``; ``"one study (not pooled)"`` for k = 1."""
    if result is not None and int(getattr(result, "k", 2)) == 1:
        return "one study (not pooled)"
    meth = str(getattr(result, "method", method)) if result is not None else method
    if meth.upper() in ("MH", "PETO"):
        name = "Mantel-Haenszel" if meth.upper() == "MH" else "Peto"
        return f"{name} fixed-effect model ({'M-H' if meth.upper() == 'MH' else 'Peto'}, Fixed)"
    cim = str(getattr(result, "ci_method", ci_method)) if result is not None else ci_method
    common = meth.upper() in ("EE", "FE", "CE")
    model = "common-effect" if common else "random-effects"
    return f"{model} model ({meth}" + (f", {cim} CI" if cim.lower() != "z" else "") + ")"


# --------------------------------------------------------------------------- pooling


class _Single:
    """Pooled 'result' of one study (RevMan shows it without heterogeneity)."""

    def __init__(self, yi, vi, level):

        z = norm_ppf(0.5 + level / 2)
        self.k = 1
        self.estimate = float(yi)
        self.se = float(np.sqrt(vi))
        self.ci_low = self.estimate - z * self.se
        self.ci_high = self.estimate + z * self.se
        self.stat = self.estimate / self.se
        self.p_value = float(2 * norm_sf(abs(self.stat)))
        self.tau2 = self.i2 = self.q = self.q_p = self.pi_low = self.pi_high = np.nan
        self.q_df = 0
        self.ci_method = "z"
        self.method = "EE"
        self.level = level
        self.weights = np.array([100.0])


def pool(yi, vi, method, ci_method, level):
    """The pooled result of ``yi``/``vi`` (``evidence.pool``); one study: its own estimate."""
    if len(yi) == 1:
        return _Single(yi[0], vi[0], level)

    return fit(yi, vi, method=method, ci_method=ci_method, level=level)


# --------------------------------------------------------------------------- pages


def paginate(rows: list[Row], per_page: int) -> list[list[Row]]:
    """Rows split into pages of at most ``per_page`` rows (the summary block stays whole).

    A page never starts with a blank row; a subgroup that continues on the next page repeats
    its header there ("... (continued)"); the closing total and prediction rows stay with
    the last study rows.
    """
    if per_page < 5:
        raise InvalidParameterError(
            f"The 'rows_per_page' argument must be at least 5. Got {per_page!r}."
        )
    tail_kinds = ("total", "pi")
    n_tail = 0
    while n_tail < len(rows) and rows[len(rows) - 1 - n_tail].kind in tail_kinds:
        n_tail += 1
    body, tail = rows[: len(rows) - n_tail], rows[len(rows) - n_tail :]
    pages: list[list[Row]] = [[]]
    header: Row | None = None
    for r in body:
        if r.kind == "header":
            header = r
        elif r.kind == "blank":
            header = None
        page = pages[-1]
        # keep a subtotal with its heterogeneity / test lines; no header alone at a page end
        full = len(page) >= per_page or (r.kind == "header" and len(page) >= per_page - 1)
        if full and r.kind not in ("text",):
            pages.append([])
            page = pages[-1]
            if r.kind == "blank":
                continue
            if header is not None and r.kind != "header":
                page.append(Row("header", header.label + " (continued)", bold=True))
        page.append(r)
    pages[-1].extend(tail)
    return [p for p in pages if p]


# --------------------------------------------------------------------------- x axis


def x_axis(
    lows: list[float],
    highs: list[float],
    core: list[float],
    *,
    ratio: bool,
    xlim,
    plot_width: float,
    func: str,
    margin: float = 0.6,
    min_spread: float = 1e-6,
) -> tuple[float, float, list[float]]:
    """(x0, x1, ticks) on the display scale (ratios: natural scale).

    ``core`` are the values that must be inside (estimates, pooled CIs, the null 0); study CIs
    (``lows``/``highs``, analysis scale) extend it by at most ``margin`` x the core's spread,
    so one wide CI does not squash the figure (it ends in an arrow).
    """
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    from matplotlib.ticker import MaxNLocator

    if xlim is not None:
        if (
            not isinstance(xlim, (tuple, list))
            or len(xlim) != 2
            or not float(xlim[0]) < float(xlim[1])
            or (ratio and float(xlim[0]) <= 0)
        ):
            raise InvalidParameterError(
                f"The 'xlim' argument of {func}() must be (low, high) with low < high "
                f"(and low > 0 for ratio measures). Got {xlim!r}."
            )
        x0, x1 = float(xlim[0]), float(xlim[1])
        if ratio:
            return (
                x0,
                x1,
                _style.nice_ratio_ticks(
                    x0, x1, min_gap=0.36 * np.log10(x1 / x0) / max(plot_width, 1.0)
                ),
            )
        ticks = [
            float(v)
            for v in MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(x0, x1)
            if x0 - 1e-12 <= v <= x1 + 1e-12
        ]
        return x0, x1, ticks
    core = [float(c) for c in core if np.isfinite(c)] + [0.0]
    lo_core, hi_core = min(core), max(core)
    lows = [float(v) for v in lows if np.isfinite(v)]
    highs = [float(v) for v in highs if np.isfinite(v)]
    spread = max(hi_core - lo_core, min_spread)
    lo = max(min(lows + [lo_core]), lo_core - margin * spread)
    hi = min(max(highs + [hi_core]), hi_core + margin * spread)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    if ratio:
        lo_n, hi_n = np.exp(lo), np.exp(hi)
        cands = sorted({m * 10.0**e for e in range(-6, 7) for m in (1, 2, 5)} | {0.25, 4.0})
        x0 = max([c for c in cands if c <= lo_n * (1 + 1e-9)] or [lo_n])
        x1 = min([c for c in cands if c >= hi_n * (1 - 1e-9)] or [hi_n])
        return (
            x0,
            x1,
            _style.nice_ratio_ticks(
                x0, x1, min_gap=0.36 * np.log10(x1 / x0) / max(plot_width, 1.0)
            ),
        )
    t = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    return float(t[0]), float(t[-1]), [float(v) for v in t]


def setup_axes(ax, *, ratio: bool, x0: float, x1: float, ticks: list[float], n_rows: int) -> None:
    """Scale, limits and ticks of the plotting region; rows run top to bottom."""
    if ratio:
        ax.set_xscale("log")
    ax.set_xlim(x0, x1)
    ax.set_xticks(ticks)
    if ratio:
        ax.set_xticklabels([_style.fmt_tick(v) for v in ticks])
        ax.minorticks_off()
    ax.set_ylim(n_rows - 0.5, -0.6)
    ax.set_yticks([])
    for s in ("left", "right", "top"):
        ax.spines[s].set_visible(False)
    ax.tick_params(axis="x", labelsize=_style.FONT_SIZE)


# --------------------------------------------------------------------------- drawing


def text(ax, x, y, s, **kwargs):
    """``ax.text`` with ``s`` drawn literally (no mathtext)."""
    return ax.text(x, y, _style.plain(s), **kwargs)


def draw_ci(
    ax,
    y: float,
    yi: float,
    vi: float,
    z: float,
    tx,
    x0: float,
    x1: float,
    *,
    colour: str = _style.TEXT_COLOUR,
    line: bool = True,
    bounds: tuple[float, float] | None = None,
) -> None:
    """A study's CI line, with arrows where it leaves the axis (``bounds``: the display-scale
    CI when it is not ``yi`` +- z x sqrt(``vi``))."""
    if bounds is not None:
        lo, hi = float(bounds[0]), float(bounds[1])
    else:
        se = np.sqrt(vi)
        lo, hi = tx(yi - z * se), tx(yi + z * se)
    a, b = max(lo, x0), min(hi, x1)
    if line and a < b:
        ax.plot(
            [a, b], [y, y], color=colour, lw=0.9, solid_capstyle="butt", zorder=2, gid="study_ci"
        )
    for edge, cond, mk in ((x0, lo < x0, "<"), (x1, hi > x1, ">")):
        if cond:
            ax.plot(
                [edge],
                [y],
                marker=mk,
                color=colour,
                markersize=4,
                clip_on=False,
                zorder=3,
                gid="ci_arrow",
            )


def draw_diamond(
    ax,
    y: float,
    est: float,
    lo: float,
    hi: float,
    *,
    half: float,
    face: str,
    edge: str,
    gid: str,
    lw: float = 0.6,
):
    """A diamond (vertices left, top, right, bottom; the top vertex is the estimate)."""
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    from matplotlib.patches import Polygon

    return ax.add_patch(
        Polygon(
            [(lo, y), (est, y - half), (hi, y), (est, y + half)],
            closed=True,
            facecolor=face,
            edgecolor=edge,
            lw=lw,
            zorder=3,
            gid=gid,
            clip_on=True,
        )
    )


def draw_null_line(ax, ref_rows: list[int], null: float) -> None:
    """The line of no effect over runs of plotted rows (not through text rows)."""
    blocks: list[list[int]] = []
    for y in ref_rows:
        if blocks and y == blocks[-1][-1] + 1:
            blocks[-1].append(y)
        else:
            blocks.append([y])
    for bl in blocks:
        ax.plot(
            [null, null],
            [bl[0] - 0.5, bl[-1] + 0.5],
            color="#888888",
            lw=0.8,
            zorder=1,
            gid="null_line",
        )


MARGIN = 0.12  # inches left and right of the table


def table_axes(
    *,
    left: float,
    plot: float,
    right: float,
    n_rows: int,
    top: float,
    bottom: float,
    min_width: float = 0.0,
):
    """A new figure sized to a forest table and the Axes of its plotting region.

    ``left``/``right``: inches of text columns either side of the plot (``plot`` inches wide);
    ``top``: inches above the rows (headers, title); ``bottom``: inches below (axis, footer).
    """
    width = max(MARGIN + left + plot + right + MARGIN, MARGIN + min_width + MARGIN)
    height = top + n_rows * _style.ROW_HEIGHT + bottom
    fig = _style.new_figure(width, height)
    return fig.add_axes(
        [
            (MARGIN + left) / width,
            bottom / height,
            plot / width,
            n_rows * _style.ROW_HEIGHT / height,
        ]
    )


def draw_footer(
    ax, lines: list[str], *, left: float, dy_in: float, muted: bool = False, line_in: float = 0.17
) -> None:
    """Footer lines from the table's left edge, the first ``dy_in`` inches under the axes."""
    for i, line in enumerate(lines):
        text(
            ax,
            0,
            0,
            line,
            transform=_style.offset_transform(ax, 0, -left, -dy_in - line_in * i, y="axes"),
            ha="left",
            va="top",
            fontsize=_style.FONT_SIZE - 0.5,
            color=_style.MUTED if muted else _style.TEXT_COLOUR,
            gid="footer",
        )


def draw_title(ax, title: str, *, left: float, right: float, dy_in: float = 0.44) -> None:
    """The figure title centred over the whole table (``left`` inches of columns left of the
    plot, ``right`` right of it), ``dy_in`` inches above the axes top (over the headers)."""
    text(
        ax,
        0,
        1,
        title,
        transform=_style.offset_transform(ax, 0.5, (right - left) / 2, dy_in, y="axes"),
        ha="center",
        va="bottom",
        fontsize=_style.FONT_SIZE + 1,
        fontweight="bold",
        gid="title",
        linespacing=1.3,
    )


def fit_lines(s: str, max_in: float, fontsize: float) -> list[str]:
    """Wrap ``s`` so each line is at most ``max_in`` inches wide."""
    if _style.text_width([s], fontsize) <= max_in:
        return [s]
    width = len(s)
    while width > 10:
        width = int(width * 0.9)
        lines = _style.wrap(s, width).split("\n")
        if _style.text_width(lines, fontsize) <= max_in:
            return lines
    return _style.wrap(s, 10).split("\n")
