"""Contour-enhanced funnel, Baujat plot and cumulative forest: drawn values equal the
metafor-pinned numbers (diagnostics_fixtures.json) and the contour formula of metafor
funnel(res, level = c(90, 95, 99), refline = 0)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from reference_loader import as_array, load_fixture

import evidence
from evidence.errors import InvalidParameterError
from grading.plots import baujat_plot, cumulative_forest, funnel_plot

FX = load_fixture("diagnostics")
# R: qnorm(c(0.95, 0.975, 0.995))
Z = {0.9: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _bcg():
    case = FX["influence"]["bcg_REML"]
    return as_array(case["input"]["yi"]), as_array(case["input"]["vi"]), case


def _get(ax, gid, kind="collections"):
    found = [a for a in getattr(ax, kind) if a.get_gid() == gid]
    assert len(found) == 1, gid
    return found[0]


@pytest.mark.parametrize("measure", [None, "RR"])
def test_contour_funnel_bands(measure):
    y, v, _ = _bcg()
    ax = funnel_plot(y, v, contours=(0.90, 0.95, 0.99), measure=measure)
    assert not [p for p in ax.patches if p.get_gid() == "funnel_region"]
    for lev, z in Z.items():
        xy = _get(ax, f"funnel_contour_{lev:g}", "patches").get_xy()
        se = xy[:, 1]
        x = np.log(xy[:, 0]) if measure else xy[:, 0]
        np.testing.assert_allclose(np.abs(x), z * se, rtol=1e-12, atol=1e-12)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["p > 0.1", "0.05 < p ≤ 0.1", "0.01 < p ≤ 0.05", "p ≤ 0.01"]
    pts = _get(ax, "funnel_studies").get_offsets()
    np.testing.assert_allclose(np.log(pts[:, 0]) if measure else pts[:, 0], y)


def test_contour_funnel_bad_input():
    y, v, _ = _bcg()
    with pytest.raises(InvalidParameterError, match="'contours' argument of funnel_plot"):
        funnel_plot(y, v, contours=(90, 95))
    with pytest.raises(InvalidParameterError, match="'contour_centre' argument of funnel_plot"):
        funnel_plot(y, v, contours=(0.95,), contour_centre="zero")


def test_baujat_plot_points():
    y, v, case = _bcg()
    ax = baujat_plot(y, v)
    pts = _get(ax, "baujat_points").get_offsets()
    np.testing.assert_allclose(pts[:, 0], as_array(case["expected"]["baujat_x"]), rtol=1e-6)
    np.testing.assert_allclose(pts[:, 1], as_array(case["expected"]["baujat_y"]), rtol=1e-6)
    assert ax.texts[0].get_text() == "1"


def test_cumulative_forest_rows():
    case = FX["cumul"]["bcg_REML_year"]
    frame = pd.DataFrame({k: as_array(v) for k, v in case["input"].items()})
    cu = evidence.cumulative(frame)
    ax = cumulative_forest(cu, measure="RR")
    pts = _get(ax, "cumulative_estimates").get_offsets()
    np.testing.assert_allclose(np.log(pts[:, 0]), as_array(case["expected"]["estimate"]), rtol=1e-6)
    assert pts[0, 1] > pts[-1, 1]  # first study at the top
    segs = _get(ax, "cumulative_ci").get_segments()
    np.testing.assert_allclose(
        np.log([s[0][0] for s in segs]), as_array(case["expected"]["ci_low"]), rtol=1e-6
    )
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("+ ") and labels[0].endswith("(1948)")
    with pytest.raises(InvalidParameterError, match="'cumul' argument of cumulative_forest"):
        cumulative_forest(frame)
