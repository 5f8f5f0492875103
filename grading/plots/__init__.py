"""Publication figures: forest, translational forest, gap map, translational ladder, risk of
bias, funnel (with significance contours), Baujat plot, cumulative forest.

Every function takes its data first, options as keywords, ``ax=None`` and returns the
matplotlib Axes it drew on; :func:`save_figure` writes PNG, SVG or PDF by suffix.
matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from grading.plots.baujat import baujat_plot
from grading.plots.cumulative import cumulative_forest
from grading.plots.forest import forest_pages, forest_plot
from grading.plots.funnel import funnel_plot
from grading.plots.gap_map import GAP_COLUMNS, gap_map
from grading.plots.ladder import LADDER_RUNGS, translational_ladder
from grading.plots.rob import ROB_PALETTES, rob_summary, rob_traffic_light
from grading.plots.saving import save_figure
from grading.plots.translational import translational_forest

__all__ = [
    "GAP_COLUMNS",
    "LADDER_RUNGS",
    "ROB_PALETTES",
    "baujat_plot",
    "cumulative_forest",
    "forest_pages",
    "forest_plot",
    "funnel_plot",
    "gap_map",
    "rob_summary",
    "rob_traffic_light",
    "save_figure",
    "translational_forest",
    "translational_ladder",
]
