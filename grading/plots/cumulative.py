"""Cumulative forest plot: the pooled estimate as studies are added one by one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evidence.errors import InvalidParameterError
from grading.plots import _style

__all__ = ["cumulative_forest"]

_NEEDED = ("label", "estimate", "ci_low", "ci_high", "k")


def cumulative_forest(cumul: pd.DataFrame, *, measure: str | None = None, ax=None):
    """Cumulative forest plot of an :func:`evidence.cumulative` result (metafor
    ``forest(cumul(res))``).

    Row i shows the pooled estimate and CI over the first i studies of the cumulative order,
    labelled "+ <study>" (and its order key, e.g. the year).

    Parameters
    ----------
    cumul : DataFrame
        The result of :func:`evidence.cumulative` (columns ``label``, ``order_key``, ``k``,
        ``estimate``, ``ci_low``, ``ci_high``; log scale for ratio measures).
    measure : str, optional
        Ratio measures (RR, OR, HR, ROM) get a log axis with back-transformed ticks.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Estimates: PathCollection gid ``"cumulative_estimates"``; CIs: LineCollection gid
        ``"cumulative_ci"``; null line gid ``"cumulative_null"``.
    """
    func = "cumulative_forest"
    _style.check_ax(ax, func)
    measure = _style.check_measure(measure, func)
    if not isinstance(cumul, pd.DataFrame) or any(c not in cumul.columns for c in _NEEDED):
        got = list(cumul.columns) if isinstance(cumul, pd.DataFrame) else type(cumul).__name__
        raise InvalidParameterError(
            f"The 'cumul' argument of {func}() must be an evidence.cumulative() result with the "
            f"columns {list(_NEEDED)}. Got {got}."
        )
    ratio = _style.is_ratio(measure)
    tx = np.exp if ratio else (lambda v: v)
    n = len(cumul)
    est = cumul["estimate"].to_numpy(float)
    lo, hi = cumul["ci_low"].to_numpy(float), cumul["ci_high"].to_numpy(float)
    key = cumul["order_key"] if "order_key" in cumul.columns else pd.Series([None] * n)
    labels = [
        f"+ {_style.truncate(lab, 28)}" + (f" ({_fmt_key(k)})" if _fmt_key(k) else "")
        for lab, k in zip(cumul["label"], key, strict=True)
    ]
    if ax is None:
        fig = _style.new_figure(6.2, 0.9 + _style.ROW_HEIGHT * max(n, 3))
        left = min(0.5, 0.15 + _style.text_width(labels) / 6.2)
        ax = fig.add_axes(
            [
                left,
                0.9 / (0.9 + _style.ROW_HEIGHT * max(n, 3)) * 0.8,
                0.95 - left,
                1 - 1.0 / (0.9 + _style.ROW_HEIGHT * max(n, 3)),
            ]
        )
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    from matplotlib.collections import LineCollection

    ys = np.arange(n)[::-1].astype(float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    segs = [[(tx(a), y), (tx(b), y)] for a, b, y in zip(lo[ok], hi[ok], ys[ok], strict=True)]
    ax.add_collection(
        LineCollection(segs, colors=_style.TEXT_COLOUR, linewidths=0.9, gid="cumulative_ci")
    )
    ax.scatter(
        tx(est),
        ys,
        marker="s",
        s=22,
        color=_style.STUDY_COLOUR,
        zorder=3,
        gid="cumulative_estimates",
    )
    null = 1.0 if ratio else 0.0
    ax.axvline(null, color=_style.MUTED, lw=0.8, ls="--", zorder=1, gid="cumulative_null")
    ax.set_yticks(ys, _style.plain_all(labels), fontsize=_style.FONT_SIZE)
    ax.set_ylim(-0.7, n - 0.3)
    xs = np.concatenate([lo[ok], hi[ok], est[np.isfinite(est)], [np.log(null) if ratio else 0]])
    pad = 0.05 * (np.ptp(xs) or 1.0)
    if ratio:
        ax.set_xscale("log")
        x0, x1 = np.exp(xs.min() - pad), np.exp(xs.max() + pad)
        ax.set_xlim(x0, x1)
        ticks = _style.nice_ratio_ticks(x0, x1)
        ax.set_xticks(ticks, [_style.fmt_tick(t) for t in ticks])
        ax.minorticks_off()
    else:
        ax.set_xlim(xs.min() - pad, xs.max() + pad)
    ax.set_xlabel(
        _style.measure_label(measure) + (" (log scale)" if ratio else "") + ", cumulative",
        fontsize=_style.FONT_SIZE,
    )
    ax.tick_params(axis="x", labelsize=_style.FONT_SIZE)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    return ax


def _fmt_key(k) -> str:
    if k is None or (isinstance(k, float) and np.isnan(k)):
        return ""
    if isinstance(k, float) and k.is_integer():
        return str(int(k))
    return str(k)
