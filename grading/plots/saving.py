"""Saving figures reproducibly: the rcParams and metadata under which evigap draws and saves
figures, and :func:`save_figure` (the one function that writes a figure file)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from evidence.errors import InvalidParameterError
from evidence.internal import check_bool, check_int, check_path

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = ["DETERMINISTIC_RC", "FIGURE_METADATA", "SAVE_DPI", "save_figure"]

#: rcParams that make matplotlib output reproducible byte for byte (figures are drawn and saved
#: under them by ``evigap run``; :func:`save_figure` saves under them).
DETERMINISTIC_RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "evigap",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    # unhinted glyphs do not depend on the FreeType hinter's version, and drawing text without
    # the hinter takes about a fifth less time (the main job: 12.5 s -> 10.5 s, benchmarks/)
    "text.hinting": "no_hinting",
}
#: Metadata left out of saved figures (dates, software versions): same figure, same bytes.
FIGURE_METADATA: dict[str, dict[str, None]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}
#: Default resolution (dots per inch) of the PNG files :func:`save_figure` writes.
SAVE_DPI = 200


def save_figure(fig, path, *, dpi: int = SAVE_DPI, transparent: bool = False) -> Path:
    """Save a figure (or the figure of an Axes) as PNG, SVG or PDF, chosen by the suffix,
    reproducibly: under :data:`DETERMINISTIC_RC`, without dates or software versions
    (:data:`FIGURE_METADATA`), so the same figure gives the same bytes.

    Parameters
    ----------
    fig : matplotlib Figure or Axes
        What to save; an Axes saves its whole figure.
    path : str or Path
        Target file; the suffix (``.png``, ``.svg`` or ``.pdf``) picks the format.
    dpi : int, default :data:`SAVE_DPI` (200)
        Resolution of PNG output.
    transparent : bool, default False
        Transparent background.

    Returns
    -------
    Path
        The path written.
    """
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    import matplotlib
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if isinstance(fig, Axes):
        fig = fig.figure
    if not isinstance(fig, Figure):
        raise InvalidParameterError(
            "The 'fig' argument of save_figure() must be a matplotlib Figure or Axes. "
            f"Got {type(fig).__name__}."
        )

    path = check_path(path, "path", "save_figure")
    dpi = check_int(dpi, "dpi", "save_figure", minimum=1)
    transparent = check_bool(transparent, "transparent", "save_figure")
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise InvalidParameterError(
            "The 'path' argument of save_figure() must end in one of ['.png', '.svg', '.pdf']. "
            f"Got {str(path)!r}."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(DETERMINISTIC_RC):
        fig.savefig(
            path,
            format=fmt,
            dpi=dpi,
            bbox_inches="tight",
            pad_inches=0.08,
            transparent=transparent,
            facecolor="none" if transparent else "white",
            metadata=FIGURE_METADATA[fmt],
        )
    return path
