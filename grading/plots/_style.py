"""Shared layout helpers for the figures: colours, text fitting, number formats, saving.

Everything here is private to :mod:`grading.plots` except :func:`save_figure`.
matplotlib is imported inside the functions that need it.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evidence.errors import InvalidParameterError, ValidationError
from evidence.internal import check_choice
from evidence.measures import MEASURE_INFO, RATIO_MEASURES
from evidence.schema import MEASURES
from grading.plots.saving import save_figure
from grading.scheme import LEVEL_SYMBOLS, LEVELS

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import RendererAgg

__all__ = ["save_figure"]

#: Base font size (points) of every figure.
FONT_SIZE = 8.5
#: Height of one table row of a forest-like figure, in inches.
ROW_HEIGHT = 0.21
#: Horizontal gap between two text columns, in inches.
COL_GAP = 0.16

TEXT_COLOUR = "#1a1a1a"
MUTED = "#6b6b6b"
GRID = "#d9d9d9"
STUDY_COLOUR = "#2f4b7c"
DIAMOND_COLOUR = "#1a1a1a"
PI_COLOUR = "#b22222"

#: One colour per evidence stream (colour-blind safe, Okabe-Ito).
STREAM_COLOURS: dict[str, str] = {
    "in_vitro": "#E69F00",
    "animal": "#009E73",
    "human": "#0072B2",
}
STREAM_LABELS: dict[str, str] = {"in_vitro": "In vitro", "animal": "Animal", "human": "Human"}

#: GRADE certainty colours (sequential, darker = more certain; readable in grey scale).
CERTAINTY_ORDER: tuple[str, ...] = tuple(reversed(LEVELS))
CERTAINTY_COLOURS: dict[str, str] = {
    "high": "#1b7837",
    "moderate": "#7fbf7b",
    "low": "#fdb863",
    "very low": "#d7301f",
}
#: Darker variants for text on white.
CERTAINTY_TEXT_COLOURS: dict[str, str] = {
    "high": "#1b7837",
    "moderate": "#3f7f1f",
    "low": "#b35806",
    "very low": "#b2182b",
}
CERTAINTY_SYMBOLS: dict[str, str] = LEVEL_SYMBOLS
NOT_GRADED_COLOUR = "#e6e6e6"
EMPTY_COLOUR = "#ffffff"

MEASURE_LABELS: dict[str, str] = {n: m.label for n, m in MEASURE_INFO.items()}


def is_ratio(measure: str | None) -> bool:
    """Whether ``measure`` is a ratio measure of the sheet: stored on the log scale, drawn on
    a log axis and shown back-transformed."""
    return measure is not None and str(measure).upper() in RATIO_MEASURES


def measure_label(measure: str | None) -> str:
    if measure is None:
        return "Effect"
    return MEASURE_LABELS.get(str(measure).upper(), str(measure))


# ---------------------------------------------------------------------------
# text fitting
# ---------------------------------------------------------------------------


def truncate(text: object, width: int) -> str:
    """``text`` cut to at most ``width`` characters, with an ellipsis when cut."""
    s = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    s = " ".join(s.split())
    if width <= 1 or len(s) <= width:
        return s
    return s[: width - 1].rstrip() + "…"


def wrap(text: object, width: int, *, max_lines: int | None = None) -> str:
    """``text`` wrapped at ``width`` characters (newline-joined), truncated after ``max_lines``."""
    s = "" if text is None else " ".join(str(text).split())
    lines = textwrap.wrap(s, width=max(width, 4), break_long_words=True) or [""]
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = truncate(lines[-1] + " …", width)
        if not lines[-1].endswith("…"):
            lines[-1] = truncate(lines[-1], max(width - 1, 2)) + "…"
    return "\n".join(lines)


@functools.lru_cache(maxsize=4096)
def _line_width(line: str, fontsize: float, weight: str, family: str) -> float:
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    global _RENDERER
    if _RENDERER is None:
        _RENDERER = RendererAgg(10, 10, 72)  # 72 dpi: one pixel is one point
    families = family.split("|")[:-3]  # the last three parts are the hinting settings
    w, _, _ = _RENDERER.get_text_width_height_descent(
        line, FontProperties(size=fontsize, weight=weight, family=families), ismath=False
    )
    return w / 72.0


_RENDERER: RendererAgg | None = None


def text_width(texts: Iterable[object], fontsize: float = FONT_SIZE, *, weight="normal") -> float:
    """Width in inches of the widest of ``texts`` (multi-line texts: widest line)."""
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    import matplotlib as mpl

    # cache key: widths depend on the font and on how glyphs are hinted (evigap run draws
    # unhinted, DETERMINISTIC_RC below), so a width measured under other settings
    # is never reused
    rc = mpl.rcParams
    hinting = (rc["text.hinting"], rc["text.hinting_factor"], rc["text.kerning_factor"])
    family = "|".join(rc["font.family"]) + "|" + "|".join(str(v) for v in hinting)
    widest = 0.0
    for t in texts:
        for line in str(t).split("\n"):
            if line:
                widest = max(widest, _line_width(line, float(fontsize), str(weight), family))
    return widest


def plain(text: object) -> str:
    """``text`` made safe to draw as literal text: every ``$`` escaped.

    matplotlib reads a string with a pair of unescaped ``$`` as mathtext, so a study label
    ``"Alpha $x^$ 2020"`` would crash the drawing and ``"$5 and $10"`` would render as math.
    Pass every free-text string (labels, titles, notes, tick labels, annotations) through
    this helper before handing it to matplotlib; measure widths on the unescaped text.
    """
    s = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    return s.replace("$", r"\$")


def plain_all(texts: Iterable[object]) -> list[str]:
    """:func:`plain` applied to each of ``texts`` (tick labels)."""
    return [plain(t) for t in texts]


# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------


def fmt_num(x: float, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "–" if x is None or np.isnan(x) else ("∞" if x > 0 else "−∞")
    s = f"{x:.{digits}f}"
    if s.startswith("-"):
        s = "−" + s[1:]
        if float(s[1:]) == 0:
            s = s[1:]
    return s


def fmt_ci(est: float, low: float, high: float, digits: int = 2) -> str:
    """``'0.49 [0.34, 0.70]'`` (values already on the display scale)."""
    return f"{fmt_num(est, digits)} [{fmt_num(low, digits)}, {fmt_num(high, digits)}]"


def fmt_p(p: float) -> str:
    """``'P < 0.001'`` or ``'P = 0.41'``."""
    if p is None or not np.isfinite(p):
        return "P = –"
    if p < 0.001:
        return "P < 0.001"
    if p < 0.01:
        return f"P = {p:.3f}"
    return f"P = {p:.2f}"


def nice_ratio_ticks(low: float, high: float, *, min_gap: float = 0.28) -> list[float]:
    """Round ratio tick values (natural scale) within [low, high], 1 always included when
    inside, neighbours at least ``min_gap`` apart on the log10 scale (so labels do not touch)."""
    cands = sorted({m * 10.0**e for e in range(-6, 7) for m in (1, 2, 5)})
    inside = [c for c in cands if low * (1 - 1e-9) <= c <= high * (1 + 1e-9)]
    if not inside:
        return [low, high]

    # prefer powers of ten, then 5s, then 2s; keep a candidate if it is far enough from all kept
    def rank(c):
        r = round(np.log10(c) % 1, 6)
        if np.isclose(r, 0) or np.isclose(r, 1):
            return 0
        return 1 if np.isclose(r, np.log10(5)) else 2

    kept: list[float] = []
    anchor = [c for c in inside if np.isclose(c, 1.0)]
    for c in anchor + sorted(inside, key=lambda c: (rank(c), abs(np.log10(c)))):
        if all(abs(np.log10(c) - np.log10(k)) >= min_gap for k in kept):
            kept.append(c)
    return sorted(kept)


def fmt_tick(v: float) -> str:
    if v >= 10:
        return f"{v:.0f}"
    if v >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


# ---------------------------------------------------------------------------
# axes and figures
# ---------------------------------------------------------------------------


def new_figure(width: float, height: float):
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(width, height))


def offset_transform(ax, x_axes: float, dx_in: float, dy_in: float = 0.0, *, y="data"):
    """x in axes fraction plus ``dx_in`` inches; y in data coordinates (or axes fraction)."""
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    from matplotlib.transforms import Affine2D, ScaledTranslation, blended_transform_factory

    ytrans = ax.transData if y == "data" else ax.transAxes
    base = blended_transform_factory(ax.transAxes, ytrans)
    shift = Affine2D().translate(x_axes, 0)
    return shift + base + ScaledTranslation(dx_in, dy_in, ax.figure.dpi_scale_trans)


def data_x_offset_transform(ax, dy_in: float):
    """x in data coordinates; y at the axes bottom plus ``dy_in`` inches."""
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory

    base = blended_transform_factory(ax.transData, ax.transAxes)
    return base + ScaledTranslation(0, dy_in, ax.figure.dpi_scale_trans)


def check_ax(ax, caller: str):
    if ax is None:
        return None
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise InvalidParameterError(
            f"The 'ax' argument of {caller}() must be a matplotlib Axes or None. "
            f"Got {type(ax).__name__}."
        )
    return ax


def check_columns(frame: pd.DataFrame, need: set[str], arg: str, caller: str) -> None:
    """ValidationError naming the columns of ``need`` that the ``arg`` frame lacks."""
    if not need <= set(frame.columns):
        raise ValidationError(
            f"The '{arg}' frame of {caller}() needs columns {sorted(need)}. "
            f"Missing: {sorted(need - set(frame.columns))}."
        )


def check_grades(grades: Any, caller: str) -> None:
    """InvalidParameterError unless ``grades`` is a DataFrame (from grade()) or None."""
    if grades is not None and not isinstance(grades, pd.DataFrame):
        raise InvalidParameterError(
            f"The 'grades' argument of {caller}() must be a grade() DataFrame or None. "
            f"Got {type(grades).__name__}."
        )


def check_measure(measure, caller: str) -> str | None:
    """``None`` or one of the schema's effect measures (canonical upper case)."""
    if measure is None:
        return None

    return check_choice(measure, "measure", caller, MEASURES)
