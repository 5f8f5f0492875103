"""Risk-of-bias figures in the style of robvis: traffic-light plot and weighted summary bars.

The input is a robvis-style frame: a ``Study`` column, one column per domain
(``D1``, ``D2``, ...), optionally ``Overall`` and ``Weight``.  Judgements may be
written as in robvis ("Low", "Some concerns", "High", "Serious", "Critical",
"No information", ...) or as in the study sheet (``some_concerns``,
``probably_high``, ...); case, spaces and hyphens do not matter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evidence.errors import InvalidParameterError, ValidationError
from evidence.internal import check_frame
from grading.plots import _style

__all__ = ["ROB_PALETTES", "rob_traffic_light", "rob_summary"]

# Colours copied from robvis, R/helpers.R, function get_colour()
# (mcguinlu/robvis, commit 0810523161cd8ac239f319ebc33961eea5c5fe50): "cochrane" and
# "colourblind" presets; "critical" is the fifth colour robvis uses for ROBINS-I/-E,
# "not_applicable" its na_colour.  Symbols follow robvis R/rob_traffic_light.R
# (commit 01289b1f3841f79397fdd647d1602ba76610f010): shapes 43 "+", 45 "-", 120 "x",
# 33 "!", 63 "?".
ROB_PALETTES: dict[str, dict[str, str]] = {
    "cochrane": {
        "low": "#02C100",
        "some_concerns": "#E2DF07",
        "high": "#BF0000",
        "critical": "#820000",
        "no_information": "#4EA1F7",
        "not_applicable": "#cccccc",
    },
    "colourblind": {
        "low": "#fed98e",
        "some_concerns": "#fe9929",
        "high": "#d95f0e",
        "critical": "#993404",
        "no_information": "#ffffff",
        "not_applicable": "#cccccc",
    },
}


# judgement -> (palette level, symbol, legend label, order)
_JUDGEMENTS: dict[str, tuple[str, str, str, int]] = {
    "low": ("low", "+", "Low", 0),
    "definitely_low": ("low", "++", "Definitely low", 1),
    "probably_low": ("low", "+", "Probably low", 2),
    "some_concerns": ("some_concerns", "−", "Some concerns", 3),
    "moderate": ("some_concerns", "−", "Moderate", 4),
    "unclear": ("some_concerns", "?", "Unclear", 5),
    "probably_high": ("high", "−", "Probably high", 6),
    "high": ("high", "×", "High", 7),
    "serious": ("high", "×", "Serious", 8),
    "definitely_high": ("critical", "−−", "Definitely high", 9),
    "critical": ("critical", "!", "Critical", 10),
    "very_high": ("critical", "!", "Very high", 11),
    "no_information": ("no_information", "?", "No information", 12),
    "not_applicable": ("not_applicable", "", "Not applicable", 13),
}
_ALIASES = {
    "l": "low",
    "+": "low",
    "++": "definitely_low",
    "s": "some_concerns",
    "some": "some_concerns",
    "m": "moderate",
    "h": "high",
    "-": "probably_high",
    "--": "definitely_high",
    "c": "critical",
    "ni": "no_information",
    "n": "no_information",
    "no_info": "no_information",
    "na": "not_applicable",
    "x": "not_applicable",
    "": "not_applicable",
}


def _normalise(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "not_applicable"
    s = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    s = _ALIASES.get(s, s)
    return s


def judgement_style(value, palette: str = "cochrane") -> tuple[str, str, str, int]:
    """(colour, symbol, legend label, order) of one judgement.  Unknown judgements raise."""
    key = _normalise(value)
    if key not in _JUDGEMENTS:
        raise ValidationError(
            f"Unknown risk-of-bias judgement {value!r}. Expected one of "
            f"{[v[2] for v in _JUDGEMENTS.values()]} (or their snake_case forms)."
        )
    level, symbol, label, rank = _JUDGEMENTS[key]
    return ROB_PALETTES[palette][level], symbol, label, rank


def check_palette(palette, caller):
    """The name of one of :data:`ROB_PALETTES` (``"colorblind"`` accepted) for ``caller()``."""
    if isinstance(palette, str) and palette.lower() in ("colorblind",):
        palette = "colourblind"
    if palette not in ROB_PALETTES:
        raise InvalidParameterError(
            f"The 'palette' argument of {caller}() must be one of {list(ROB_PALETTES)}. "
            f"Got {palette!r}."
        )
    return palette


def split_rob(rob, caller) -> tuple[pd.DataFrame, list[str], pd.Series | None]:
    """(frame, domain columns incl. Overall, weights)."""
    check_frame(
        rob,
        "rob",
        caller,
        what="a pandas DataFrame (robvis layout: Study, D1..Dn, Overall, Weight)",
    )
    cols = {c.lower(): c for c in rob.columns}
    if "study" not in cols:
        raise ValidationError(
            f"The 'rob' frame of {caller}() needs a 'Study' column. "
            f"Got columns {list(rob.columns)}."
        )
    study = cols["study"]
    weight = cols.get("weight")
    domains = [c for c in rob.columns if c not in (study, weight)]
    if not domains:
        raise ValidationError(f"The 'rob' frame of {caller}() has no domain columns.")
    # Overall last, as in robvis
    overall = [c for c in domains if str(c).lower() == "overall"]
    domains = [c for c in domains if c not in overall] + overall
    for c in domains:
        for i, v in rob[c].items():
            try:
                judgement_style(v)
            except ValidationError as err:
                raise ValidationError(
                    f"Column {c!r}, row {i} (study {rob.loc[i, study]!r}) of the 'rob' frame: {err}"
                ) from None
    w = None
    if weight is not None:
        w = pd.to_numeric(rob[weight], errors="coerce")
        if w.isna().any() or (w < 0).any():
            raise ValidationError(
                f"The {weight!r} column of the 'rob' frame must hold non-negative numbers."
            )
    return rob.rename(columns={study: "Study"}), domains, w


def _legend(
    ax, used: dict[str, tuple[str, str, int]], *, ncol=None, anchor_in=0.0, title=None, marker="o"
):
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    from matplotlib.lines import Line2D

    items = sorted(used.items(), key=lambda kv: kv[1][2])
    handles = [
        Line2D(
            [],
            [],
            marker=marker,
            linestyle="",
            markersize=9,
            markerfacecolor=colour,
            markeredgecolor="#555555",
            label=_style.plain(f"{symbol}  {label}" if symbol else label),
        )
        for label, (colour, symbol, _) in items
    ]
    return ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=_style.offset_transform(ax, 0, 0, -anchor_in, y="axes"),
        ncol=ncol or min(len(handles), 4),
        frameon=False,
        fontsize=_style.FONT_SIZE,
        title=title,
        title_fontsize=_style.FONT_SIZE,
        handletextpad=0.3,
        columnspacing=1.2,
    )


def rob_traffic_light(
    rob: pd.DataFrame,
    *,
    palette: str = "cochrane",
    domain_labels: dict[str, str] | None = None,
    label_width: int = 40,
    ax=None,
):
    """Traffic-light plot of per-domain risk-of-bias judgements (robvis style).

    Parameters
    ----------
    rob : DataFrame
        robvis layout: ``Study``, one column per domain, optional ``Overall`` (drawn last,
        on a grey band) and ``Weight`` (ignored here).
    palette : {"cochrane", "colourblind"}
        robvis colour preset.
    domain_labels : dict, optional
        Domain column -> description, printed as a caption ("D1: Bias arising from ...").
    label_width : int, default 40
        Study labels longer than this are truncated with an ellipsis.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure sized to the table is made when omitted.

    Returns
    -------
    matplotlib Axes
        One circle per study x domain (a ``PathCollection`` with gid ``"rob_lights"``,
        facecolours row-major: study by study, domain by domain), the judgement symbol
        inside, study labels as y tick labels, domains as x tick labels on top, a legend.
    """
    palette = check_palette(palette, "rob_traffic_light")
    _style.check_ax(ax, "rob_traffic_light")
    frame, domains, _ = split_rob(rob, "rob_traffic_light")
    n, m = len(frame), len(domains)
    labels = [_style.truncate(s, label_width) for s in frame["Study"]]
    caption = []
    if domain_labels:
        caption = [
            _style.truncate(f"{d}: {domain_labels[d]}", 110) for d in domains if d in domain_labels
        ]

    cell = 0.32
    cell_w = max(cell, _style.text_width([str(d) for d in domains]) + 0.1)
    if ax is None:
        label_w = _style.text_width(labels) + 0.25
        width = max(label_w + m * cell_w + 0.3, 4.6)
        legend_h = 0.75
        cap_h = 0.17 * len(caption)
        height = 0.55 + n * cell + legend_h + cap_h
        fig = _style.new_figure(width, height)
        ax = fig.add_axes(
            [label_w / width, (legend_h + cap_h) / height, m * cell_w / width, n * cell / height]
        )
    fig = ax.figure

    xs, ys, colours, used = [], [], [], {}
    for i, (_, row) in enumerate(frame.iterrows()):
        for j, d in enumerate(domains):
            colour, symbol, label, rank = judgement_style(row[d], palette)
            xs.append(j)
            ys.append(i)
            colours.append(colour)
            used[label] = (colour, symbol, rank)
            if symbol:
                ax.text(
                    j,
                    i,
                    symbol,
                    ha="center",
                    va="center_baseline",
                    fontsize=_style.FONT_SIZE + 1,
                    fontweight="bold",
                    color="black",
                    gid="rob_symbol",
                )
    # circle diameter: 78% of the smaller cell side, in points
    bbox = ax.get_position()
    w_in = bbox.width * fig.get_figwidth() / m
    h_in = bbox.height * fig.get_figheight() / n
    d_pt = 0.78 * min(w_in, h_in) * 72
    ax.scatter(
        xs,
        ys,
        s=d_pt**2,
        c=colours,
        edgecolors="#444444",
        linewidths=0.6,
        zorder=2,
        gid="rob_lights",
    )
    for t in ax.texts:
        t.set_zorder(3)
    if domains[-1].lower() == "overall":
        ax.axvspan(m - 1.5, m - 0.5, color="#d3d3d3", zorder=0, lw=0)
    ax.set_xlim(-0.5, m - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xticks(range(m), _style.plain_all(domains))
    ax.xaxis.tick_top()
    ax.set_yticks(range(n), _style.plain_all(labels))
    ax.tick_params(length=0, labelsize=_style.FONT_SIZE)
    for k in range(m + 1):
        ax.axvline(k - 0.5, color=_style.GRID, lw=0.6, zorder=1)
    for k in range(n + 1):
        ax.axhline(k - 0.5, color=_style.GRID, lw=0.6, zorder=1)
    for s in ax.spines.values():
        s.set_visible(False)
    leg = _legend(ax, used, anchor_in=0.08, title="Judgement")
    if caption:
        ax.text(
            0,
            0,
            _style.plain("\n".join(caption)),
            transform=_style.offset_transform(ax, 0, 0, -0.72, y="axes"),
            ha="left",
            va="top",
            fontsize=_style.FONT_SIZE - 0.5,
            color=_style.MUTED,
        )
    leg.set_gid("rob_legend")
    return ax


def rob_summary(
    rob: pd.DataFrame,
    *,
    weighted: bool = False,
    palette: str = "cochrane",
    domain_labels: dict[str, str] | None = None,
    ax=None,
):
    """Summary bar plot: share of studies (or of weight) at each judgement, per domain.

    Parameters
    ----------
    rob : DataFrame
        robvis layout (``Study``, domains, optional ``Overall`` and ``Weight``).
    weighted : bool, default False
        Weight each study by the ``Weight`` column (robvis ``weighted=TRUE``).
    palette : {"cochrane", "colourblind"}
        robvis colour preset.
    domain_labels : dict, optional
        Domain column -> description used as the bar label instead of the column name.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        One horizontal 100% stacked bar per domain (first domain on top, ``Overall``
        last and bold); each segment is a ``Rectangle`` with gid ``"rob_bar:<domain>:<label>"``
        and width equal to the share (0-1).
    """
    palette = check_palette(palette, "rob_summary")
    _style.check_ax(ax, "rob_summary")
    frame, domains, w = split_rob(rob, "rob_summary")
    if weighted and w is None:
        raise ValidationError("rob_summary(weighted=True) needs a 'Weight' column in 'rob'.")
    weights = w.to_numpy(float) if weighted and w is not None else np.ones(len(frame))
    if weights.sum() <= 0:
        raise ValidationError("The 'Weight' column of 'rob' sums to zero.")
    names = [_style.truncate(domain_labels.get(d, d) if domain_labels else d, 60) for d in domains]
    names = [
        "Overall risk of bias"
        if str(d).lower() == "overall" and not (domain_labels and d in domain_labels)
        else nm
        for d, nm in zip(domains, names, strict=True)
    ]
    m = len(domains)
    if ax is None:
        label_w = _style.text_width(names, weight="bold") + 0.25
        width = label_w + 4.6
        height = 0.55 + 0.34 * m + 0.75
        fig = _style.new_figure(width, height)
        ax = fig.add_axes([label_w / width, 0.9 / height, 4.3 / width, 0.34 * m / height])
    used = {}
    for i, d in enumerate(domains):
        shares: dict[str, list] = {}
        for v, wt in zip(frame[d], weights, strict=True):
            colour, symbol, label, rank = judgement_style(v, palette)
            entry = shares.setdefault(label, [colour, symbol, rank, 0.0])
            entry[3] += wt
        left = 0.0
        for label, (colour, symbol, rank, total) in sorted(shares.items(), key=lambda kv: kv[1][2]):
            share = total / weights.sum()
            used[label] = (colour, symbol, rank)
            ax.barh(
                i,
                share,
                left=left,
                height=0.7,
                color=colour,
                edgecolor="black",
                linewidth=0.6,
                gid=f"rob_bar:{d}:{label}",
            )
            if share >= 0.08:
                ax.text(
                    left + share / 2,
                    i,
                    f"{100 * share:.0f}%",
                    ha="center",
                    va="center",
                    fontsize=_style.FONT_SIZE - 0.5,
                    color="white"
                    if colour in ("#BF0000", "#820000", "#993404", "#d95f0e")
                    else "black",
                )
            left += share
    ax.set_xlim(0, 1)
    ax.set_ylim(m - 0.5, -0.5)
    ax.set_yticks(range(m), _style.plain_all(names))
    for lab, d in zip(ax.get_yticklabels(), domains, strict=True):
        if str(d).lower() == "overall":
            lab.set_fontweight("bold")
    ax.set_xticks(np.linspace(0, 1, 5), [f"{p}%" for p in (0, 25, 50, 75, 100)])
    ax.tick_params(axis="y", length=0, labelsize=_style.FONT_SIZE)
    ax.tick_params(axis="x", labelsize=_style.FONT_SIZE)
    for s in ("top", "right", "left"):
        ax.spines[s].set_visible(False)
    ax.set_xlabel(
        "Share of total weight" if weighted else "Share of studies", fontsize=_style.FONT_SIZE
    )
    _legend(ax, used, anchor_in=0.42, ncol=min(len(used), 5), marker="s")
    return ax
