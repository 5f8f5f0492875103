"""Baujat plot: each study's contribution to heterogeneity against its influence."""

from __future__ import annotations

import numpy as np

from evidence.diagnostics import baujat_data
from grading.plots import _style

__all__ = ["baujat_plot"]


def baujat_plot(yi, vi, *, method: str = "REML", ci_method: str = "z", labels=None, ax=None):
    """Baujat plot (Baujat et al. 2002, Stat Med 21:2641), as metafor ``baujat()``.

    The coordinates are :func:`evidence.baujat_data`: x is the study's contribution to the
    heterogeneity statistic, ``(yi - estimate)^2 / (vi + tau2)``; y its influence on the
    pooled estimate, ``(estimate_without - estimate)^2 / var(estimate_without)``. Studies in
    the upper right both drive heterogeneity and move the result.

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and sampling variances.
    method, ci_method : str
        Model options, as :func:`evidence.pool`.
    labels : sequence, optional
        Study labels written at the points (default: 1-based study numbers, as metafor).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Points: PathCollection gid ``"baujat_points"`` (offsets are the x, y above).
    """

    func = "baujat_plot"
    _style.check_ax(ax, func)
    data = baujat_data(yi, vi, method=method, ci_method=ci_method, labels=labels)
    if ax is None:
        fig = _style.new_figure(5.0, 4.2)
        ax = fig.add_axes([0.14, 0.13, 0.82, 0.82])
    x, y = data["x"].to_numpy(float), data["y"].to_numpy(float)
    ax.scatter(x, y, s=18, color=_style.STUDY_COLOUR, zorder=3, gid="baujat_points")
    names = data["label"] if labels is not None else data["label"] + 1
    for xi, yi_, lab in zip(x, y, names, strict=True):
        ax.annotate(
            _style.plain(_style.truncate(lab, 20)),
            (xi, yi_),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=_style.FONT_SIZE - 1,
        )
    ax.grid(True, color=_style.GRID, lw=0.6, zorder=0)
    pad_x, pad_y = 0.08 * (np.ptp(x) or 1.0), 0.08 * (np.ptp(y) or 1.0)
    ax.set_xlim(min(0.0, x.min()) - pad_x, x.max() + pad_x)
    ax.set_ylim(min(0.0, y.min()) - pad_y, y.max() + pad_y)
    fe = method.upper() in ("FE", "EE")
    # metafor's axis titles: Q contributions under FE, squared Pearson residuals otherwise
    ax.set_xlabel(
        "Contribution to overall heterogeneity" if fe else "Squared Pearson residual",
        fontsize=_style.FONT_SIZE,
    )
    ax.set_ylabel("Influence on overall result", fontsize=_style.FONT_SIZE)
    ax.tick_params(labelsize=_style.FONT_SIZE)
    return ax
