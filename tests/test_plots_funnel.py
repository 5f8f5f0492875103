"""Funnel plot: points, region and trim-and-fill points."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from evidence.bias import trim_and_fill
from evidence.pooling import pool
from grading.plots import funnel_plot

REF = Path(__file__).resolve().parent / "reference"


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def bcg():
    return pd.read_csv(REF / "plots_bcg.csv")


def _get(ax, gid, kind="collections"):
    found = [a for a in getattr(ax, kind) if a.get_gid() == gid]
    assert len(found) == 1, gid
    return found[0]


def test_points_centre_and_region_linear(bcg):
    ax = funnel_plot(bcg.yi, bcg.vi)
    pts = _get(ax, "funnel_studies").get_offsets()
    np.testing.assert_allclose(pts[:, 0], bcg.yi)
    np.testing.assert_allclose(pts[:, 1], np.sqrt(bcg.vi))
    w = 1 / bcg.vi
    fe = float((w * bcg.yi).sum() / w.sum())
    centre = _get(ax, "funnel_centre", "lines").get_xdata()
    assert centre[0] == pytest.approx(fe, rel=1e-12)
    region = _get(ax, "funnel_region", "patches").get_xy()
    top = np.sqrt(bcg.vi).max() * 1.05
    assert region[1].tolist() == pytest.approx([fe, 0.0])  # apex at the estimate, SE 0
    assert region[0].tolist() == pytest.approx([fe - 1.959963984540054 * top, top])
    assert ax.yaxis_inverted()
    assert ax.get_ylabel() == "Standard error"


def test_ratio_axis_pool_result_and_trimfill(bcg):
    res = pool(bcg.yi, bcg.vi)
    tf = trim_and_fill(bcg.yi, bcg.vi)
    ax = funnel_plot(bcg.yi, bcg.vi, estimate=res, trimfill=tf, measure="RR")
    assert ax.get_xscale() == "log"
    assert _get(ax, "funnel_centre", "lines").get_xdata()[0] == pytest.approx(np.exp(res.estimate))
    filled = _get(ax, "funnel_filled").get_offsets()
    assert len(filled) == tf.k0 and tf.k0 >= 1
    imputed = tf.data[tf.data["filled"]]
    np.testing.assert_allclose(filled[:, 0], np.exp(imputed["yi"]))
    line = _get(ax, "funnel_filled_estimate", "lines").get_xdata()[0]
    assert line == pytest.approx(np.exp(tf.estimate))
    # a plain frame of filled studies works too
    ax = funnel_plot(bcg.yi, bcg.vi, trimfill=imputed[["yi", "vi"]])
    assert len(_get(ax, "funnel_filled").get_offsets()) == tf.k0


def test_labels_only_outside_region(bcg):
    ax = funnel_plot(bcg.yi, bcg.vi, labels=bcg.study_id)
    w = 1 / bcg.vi
    fe = (w * bcg.yi).sum() / w.sum()
    outside = np.abs(bcg.yi - fe) > 1.959963984540054 * np.sqrt(bcg.vi)
    shown = sorted(t.get_text() for t in ax.texts)
    assert shown == sorted(bcg.study_id[outside])
