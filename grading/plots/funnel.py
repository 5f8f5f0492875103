"""Funnel plot with the pseudo-confidence region (or significance contours) and optional
trim-and-fill points."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from evidence.bias import funnel_data
from evidence.errors import InvalidParameterError, ValidationError
from evidence.internal import check_level, check_yi_vi, norm_isf, numeric_column
from grading.plots import _style

__all__ = ["funnel_plot"]

# contour-enhanced funnel: white where p > the largest alpha, darker greys as p gets smaller;
# the colour after the last band is the background (the most significant region)
_CONTOUR_SHADES = ("#ffffff", "#dcdcdc", "#b4b4b4", "#8c8c8c", "#6e6e6e", "#505050")


def _contour_levels(contours, func: str) -> list[float]:
    """Validated contour levels, ascending (0.90, 0.95, 0.99)."""
    if contours is None:
        return []
    vals = [contours] if isinstance(contours, int | float) else contours
    try:
        levels = sorted({float(v) for v in vals})
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"The 'contours' argument of {func}() must be confidence levels as fractions, "
            f"e.g. (0.90, 0.95, 0.99). Got {contours!r}."
        ) from exc
    if not levels or len(levels) > len(_CONTOUR_SHADES) - 1 or any(not 0 < v < 1 for v in levels):
        raise InvalidParameterError(
            f"The 'contours' argument of {func}() must hold 1 to {len(_CONTOUR_SHADES) - 1} "
            f"confidence levels strictly between 0 and 1, e.g. (0.90, 0.95, 0.99). "
            f"Got {contours!r}."
        )
    return levels


def _filled_points(trimfill) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(yi, vi) of the imputed studies and the adjusted estimate, from a TrimFillResult or frame."""
    if trimfill is None:
        return np.array([]), np.array([]), None
    est = None
    frame = trimfill
    if not isinstance(trimfill, pd.DataFrame):
        frame = getattr(trimfill, "data", None)
        est = getattr(trimfill, "estimate", None)
        if not isinstance(frame, pd.DataFrame):
            raise InvalidParameterError(
                "The 'trimfill' argument of funnel_plot() must be a trim_and_fill() result or a "
                f"DataFrame with 'yi' and 'vi' columns of the filled studies. Got "
                f"{type(trimfill).__name__}."
            )
    for c in ("yi", "vi"):
        if c not in frame.columns:
            raise ValidationError(
                f"The 'trimfill' frame of funnel_plot() needs a {c!r} column. "
                f"Got {list(frame.columns)}."
            )
    if "filled" in frame.columns:
        frame = frame[frame["filled"].astype(bool)]
    return (
        numeric_column(frame, "yi", "trimfill", "funnel_plot", error=ValidationError),
        numeric_column(frame, "vi", "trimfill", "funnel_plot", error=ValidationError),
        None if est is None else float(est),
    )


def funnel_plot(
    yi,
    vi,
    *,
    estimate=None,
    trimfill=None,
    measure: str | None = None,
    level: float = 0.95,
    labels=None,
    contours=None,
    contour_centre: float = 0.0,
    ax=None,
):
    """Funnel plot: effect sizes against their standard errors (inverted axis), metafor style.

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes (log scale for ratio measures) and sampling variances.
    estimate : float or PoolResult, optional
        Centre of the funnel.  Default: the inverse-variance (equal-effects) estimate, as
        ``evidence.funnel_data``.
    trimfill : TrimFillResult or DataFrame, optional
        ``evidence.trim_and_fill`` result (its ``data`` rows with ``filled == True`` are drawn
        as open circles and its ``estimate`` as a dashed line), or a frame of the filled
        studies' ``yi``/``vi``.
    measure : str, optional
        Ratio measures (RR, OR, HR, ROM) get a log axis with back-transformed ticks.
    level : float, default 0.95
        Level of the pseudo-confidence region ``estimate ± z·SE``.
    labels : sequence of str, optional
        Study labels, written next to the points outside the region.
    contours : sequence of float, optional
        Contour-enhanced funnel (Peters et al. 2008, J Clin Epidemiol 61:991), as metafor
        ``funnel(res, level = c(90, 95, 99), refline = 0, shade = ...)``: instead of the
        pseudo-confidence region, shaded bands ``contour_centre ± z_{(1+l)/2} SE`` for each
        level ``l`` (fractions, e.g. ``(0.90, 0.95, 0.99)``) show where a study's two-sided
        p-value against the null would be above 0.10, between 0.10 and 0.05, between 0.05 and
        0.01, and below 0.01 (outside every band).
    contour_centre : float, default 0.0
        Null value of the contours on the analysis scale (0: log ratio 0, i.e. ratio 1).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Observed studies: PathCollection gid ``"funnel_studies"``; filled studies:
        ``"funnel_filled"``; region: Polygon gid ``"funnel_region"``; centre line
        ``"funnel_centre"`` (x = estimate, natural scale for ratios). With ``contours``, one
        Polygon per level with gid ``"funnel_contour_<level>"`` (e.g. ``funnel_contour_0.95``)
        replaces the region.
    """

    func = "funnel_plot"
    _style.check_ax(ax, func)
    measure = _style.check_measure(measure, func)
    level = check_level(level, func)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # funnel_data() below warns about dropped rows once
        check_yi_vi(yi, vi, func)
    if labels is not None:
        if isinstance(labels, str) or not hasattr(labels, "__len__") or len(labels) != len(yi):
            n = len(labels) if hasattr(labels, "__len__") and not isinstance(labels, str) else 1
            raise InvalidParameterError(
                f"The 'labels' argument of {func}() must have one label per study "
                f"({len(yi)}). Got {n}."
            )

    if hasattr(estimate, "estimate") and not isinstance(estimate, (int, float)):
        estimate = float(estimate.estimate)
    fd = funnel_data(yi, vi, estimate=estimate, level=level)
    st = fd[fd["kind"] == "study"]
    region = fd[fd["kind"] == "region"]
    centre = float(fd["estimate"].iloc[0])
    fy, fv, f_est = _filled_points(trimfill)
    ratio = _style.is_ratio(measure)
    tx = np.exp if ratio else (lambda v: v)

    if ax is None:
        fig = _style.new_figure(5.4, 4.4)
        ax = fig.add_axes([0.13, 0.12, 0.83, 0.8])
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    from matplotlib.patches import Polygon

    se_max = float(max(region["sei"].max(), np.sqrt(fv).max() if len(fv) else 0))
    se_top = se_max * 1.05 if se_max > 0 else 1.0

    crit = float(norm_isf((1 - level) / 2))

    def _band(mid: float, z: float) -> list[tuple[float, float]]:
        if ratio:  # straight edges on a log axis need the curve sampled
            grid = np.linspace(0, se_top, 60)
            return [(tx(mid - z * s), s) for s in grid[::-1]] + [(tx(mid + z * s), s) for s in grid]
        return [(tx(mid - z * se_top), se_top), (tx(mid), 0.0), (tx(mid + z * se_top), se_top)]

    levels = _contour_levels(contours, func)
    if (
        isinstance(contour_centre, bool)
        or not isinstance(contour_centre, int | float)
        or not np.isfinite(contour_centre)
    ):
        raise InvalidParameterError(
            f"The 'contour_centre' argument of {func}() must be a finite number (analysis "
            f"scale, 0 for a ratio of 1). Got {contour_centre!r}."
        )
    extent = [centre - crit * se_top, centre + crit * se_top]
    if levels:
        cc = float(contour_centre)
        shades = _CONTOUR_SHADES[: len(levels)]
        back = _CONTOUR_SHADES[len(levels)]
        for lev, shade in zip(levels[::-1], shades[::-1], strict=True):  # widest band first
            z = float(norm_isf((1 - lev) / 2))
            extent += [cc - z * se_top, cc + z * se_top]
            ax.add_patch(
                Polygon(
                    _band(cc, z),
                    closed=True,
                    facecolor=shade,
                    edgecolor="none",
                    zorder=1,
                    gid=f"funnel_contour_{lev:g}",
                )
            )
        ax.set_facecolor(back)
        # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
        from matplotlib.patches import Patch

        bounds = [1.0] + [1 - lev for lev in levels]
        handles = [
            Patch(
                facecolor=sh,
                edgecolor="#777777",
                lw=0.5,
                label=f"{bounds[i + 1]:.2g} < p ≤ {bounds[i]:.2g}" if i else f"p > {bounds[1]:.2g}",
            )
            for i, sh in enumerate(shades)
        ]
        handles.append(
            Patch(facecolor=back, edgecolor="#777777", lw=0.5, label=f"p ≤ {bounds[-1]:.2g}")
        )
        ax.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.01),
            ncol=len(handles),
            frameon=False,
            fontsize=_style.FONT_SIZE - 0.5,
            handletextpad=0.3,
            columnspacing=0.8,
        )
    else:
        ax.add_patch(
            Polygon(
                _band(centre, crit),
                closed=True,
                facecolor="white",
                edgecolor="#777777",
                lw=0.8,
                linestyle="--",
                zorder=1,
                gid="funnel_region",
            )
        )
        ax.set_facecolor("#eeeeee")
    ax.plot(
        [tx(centre), tx(centre)],
        [0, se_top],
        color="#333333",
        lw=0.9,
        zorder=2,
        gid="funnel_centre",
    )
    ax.scatter(
        tx(st["yi"].to_numpy(float)),
        st["sei"].to_numpy(float),
        s=26,
        color="black",
        zorder=3,
        gid="funnel_studies",
        label="Studies",
    )
    if len(fy):
        ax.scatter(
            tx(fy),
            np.sqrt(fv),
            s=26,
            facecolors="white",
            edgecolors="black",
            zorder=3,
            gid="funnel_filled",
            label=f"Filled by trim-and-fill (k0 = {len(fy)})",
        )
        if f_est is not None and not levels:
            ax.plot(
                [tx(f_est), tx(f_est)],
                [0, se_top],
                color="#b22222",
                lw=0.9,
                ls="--",
                zorder=2,
                gid="funnel_filled_estimate",
                label="Trim-and-fill estimate",
            )
        ax.legend(
            loc="lower center",
            bbox_to_anchor=(0.5, 1.01),
            ncol=3,
            frameon=False,
            fontsize=_style.FONT_SIZE - 0.5,
            handletextpad=0.3,
            columnspacing=1.0,
        )
    pad_in = {"left": 0.0, "right": 0.0}
    if labels is not None:
        labs = list(labels)
        for _, r in st.iterrows():
            if bool(r["outside"]):  # label on the outer side, away from the funnel
                left = r["yi"] < centre
                ax.annotate(
                    _style.plain(_style.truncate(labs[int(r["study"])], 24)),
                    (tx(r["yi"]), r["sei"]),
                    xytext=(-5 if left else 5, 0),
                    textcoords="offset points",
                    ha="right" if left else "left",
                    va="center",
                    fontsize=_style.FONT_SIZE - 1,
                    annotation_clip=False,
                )
                side = "left" if left else "right"
                pad_in[side] = max(
                    pad_in[side],
                    0.1
                    + _style.text_width(
                        [_style.truncate(labs[int(r["study"])], 24)], _style.FONT_SIZE - 1
                    ),
                )
    xs = np.concatenate([st["yi"].to_numpy(float), fy, extent])
    pad = 0.05 * (xs.max() - xs.min() or 1.0)
    if ratio:
        ax.set_xscale("log")
        x0, x1 = np.exp(xs.min() - pad), np.exp(xs.max() + pad)
        ax.set_xlim(x0, x1)
        ticks = _style.nice_ratio_ticks(x0, x1, min_gap=0.3 * np.log10(x1 / x0) / 4)
        ax.set_xticks(ticks, [_style.fmt_tick(t) for t in ticks])
        ax.minorticks_off()
    else:
        ax.set_xlim(xs.min() - pad, xs.max() + pad)
    # widen the x range so labels written outside the points stay inside the axes
    ax_w = ax.get_position().width * ax.figure.get_figwidth()
    if pad_in["left"] or pad_in["right"]:
        f = np.log if ratio else (lambda a: a)
        a, b = (f(v) for v in ax.get_xlim())
        span = b - a
        free = max(ax_w - pad_in["left"] - pad_in["right"], 0.3 * ax_w)
        a -= span * pad_in["left"] / free
        b += span * pad_in["right"] / free
        ax.set_xlim(*((np.exp(a), np.exp(b)) if ratio else (a, b)))
    ax.set_ylim(se_top, 0)
    ax.set_ylabel("Standard error", fontsize=_style.FONT_SIZE)
    ax.set_xlabel(
        _style.measure_label(measure) + (" (log scale)" if ratio else ""), fontsize=_style.FONT_SIZE
    )
    ax.tick_params(labelsize=_style.FONT_SIZE)
    return ax
