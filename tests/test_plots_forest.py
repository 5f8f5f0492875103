"""Forest plot: content checked against metafor numbers (tests/reference/plots_bcg*.csv)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from evidence.errors import InvalidParameterError, ValidationError
from evidence.pooling import pool
from grading.plots import forest_plot, save_figure

REF = Path(__file__).resolve().parent / "reference"


@pytest.fixture(scope="module")
def bcg():
    return pd.read_csv(REF / "plots_bcg.csv")


@pytest.fixture(scope="module")
def bcg_summary():
    return pd.read_csv(REF / "plots_bcg_summary.csv").set_index("name")


@pytest.fixture(scope="module")
def bcg_sub():
    return pd.read_csv(REF / "plots_bcg_subgroups.csv").set_index("alloc")


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def texts(ax, gid):
    return [t.get_text() for t in ax.texts if t.get_gid() == gid]


def patch(ax, gid):
    found = [p for p in ax.patches if p.get_gid() == gid]
    assert len(found) == 1, gid
    return found[0]


def diamond_xy(poly):
    """(left, centre, right) x of a diamond polygon (vertices: left, top, right, bottom)."""
    v = poly.get_xy()
    return v[0][0], v[1][0], v[2][0]


def assert_no_overlap(ax, pad=0.5):
    """No two texts (incl. tick labels and the x label) of the figure overlap; all inside it."""
    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    items = [t for t in ax.texts if t.get_text().strip()]
    items += [t for t in ax.get_xticklabels() if t.get_text().strip()]
    items.append(ax.xaxis.label)
    boxes = [(t, t.get_window_extent(r)) for t in items]
    fb = fig.bbox
    for t, b in boxes:
        inside = b.x0 >= fb.x0 - 1 and b.x1 <= fb.x1 + 1 and b.y0 >= fb.y0 - 1 and b.y1 <= fb.y1 + 1
        assert inside, f"text {t.get_text()!r} is outside the figure"
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i][1], boxes[j][1]
            ox = min(a.x1, b.x1) - max(a.x0, b.x0)
            oy = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert not (ox > pad and oy > pad), (
                f"{boxes[i][0].get_text()!r} overlaps {boxes[j][0].get_text()!r}"
            )


def test_rows_labels_and_texts_match_metafor(bcg, bcg_summary):
    ax = forest_plot(bcg, measure="RR")
    assert texts(ax, "study_label") == list(bcg["study_id"])
    # per-study estimate text = exp(yi ± 1.96 sqrt(vi)) to 2 decimals
    z = 1.959963984540054
    first = bcg.iloc[0]
    se = math.sqrt(first.vi)
    lo, hi = math.exp(first.yi - z * se), math.exp(first.yi + z * se)
    assert texts(ax, "estimate_text")[0] == f"{math.exp(first.yi):.2f} [{lo:.2f}, {hi:.2f}]"
    assert texts(ax, "estimate_text")[0] == "0.41 [0.13, 1.26]"
    # weights: metafor's weights(res), one decimal
    assert texts(ax, "weight_text") == [f"{w:.1f}" for w in bcg["weight"]]
    # the pooled row text is metafor's 0.49 [0.34, 0.70]
    assert texts(ax, "total_estimate_text") == ["0.49 [0.34, 0.70]"]
    # per-arm data columns and their totals (RevMan item 4)
    cells = texts(ax, "data_cell")
    assert cells[:4] == ["4", "123", "11", "139"]
    assert cells[-4:] == [
        str(bcg.events_int.sum()),
        str(bcg.n_int.sum()),
        str(bcg.events_ctrl.sum()),
        str(bcg.n_ctrl.sum()),
    ]
    assert_no_overlap(ax)


def test_diamond_centre_is_pooled_estimate_on_log_axis(bcg, bcg_summary):
    ax = forest_plot(bcg, measure="RR")
    ref = bcg_summary.loc["overall"]
    left, centre, right = diamond_xy(patch(ax, "diamond_total"))
    assert centre == pytest.approx(math.exp(ref.estimate), rel=1e-6)
    assert left == pytest.approx(math.exp(ref.ci_low), rel=1e-6)
    assert right == pytest.approx(math.exp(ref.ci_high), rel=1e-6)
    assert ax.get_xscale() == "log"
    ticks = ax.get_xticks()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert 1.0 in ticks and labels[list(ticks).index(1.0)] == "1"
    assert ax.get_xlabel() == "Risk Ratio (log scale)"
    # prediction interval of metafor predict(res)
    (pi,) = [ln for ln in ax.lines if ln.get_gid() == "prediction_interval"]
    assert pi.get_xdata()[0] == pytest.approx(math.exp(ref.pi_low), rel=1e-6)
    assert pi.get_xdata()[1] == pytest.approx(math.exp(ref.pi_high), rel=1e-6)


def test_square_area_proportional_to_weight(bcg):
    ax = forest_plot(bcg, measure="RR")
    (sq,) = [c for c in ax.collections if c.get_gid() == "study_squares"]
    sizes = sq.get_sizes()
    ratio = sizes / bcg["weight"].to_numpy()
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)
    np.testing.assert_allclose(sq.get_offsets()[:, 0], np.exp(bcg["yi"]), rtol=1e-12)


def test_heterogeneity_and_overall_test_footer(bcg, bcg_summary):
    ax = forest_plot(bcg, measure="RR")
    foot = " ".join(texts(ax, "footer"))
    ref = bcg_summary.loc["overall"]
    assert f"Q = {ref.q:.2f}, df = 12 (P < 0.001)" in foot
    assert f"τ² = {ref.tau2:.2f}" in foot
    assert f"I² = {ref.i2:.0f}%" in foot
    z = ref.estimate / ref.se
    assert f"Z = −{abs(z):.2f} (P < 0.001)" in foot
    # no outcome_direction in the data: the sides only say where the intervention is higher
    assert texts(ax, "favours_left") == ["Lower with intervention"]
    assert texts(ax, "favours_right") == ["Higher with intervention"]


def test_subgroups_diamonds_and_difference_test(bcg, bcg_sub, bcg_summary):
    ax = forest_plot(bcg, measure="RR", subgroup="alloc")
    subs = [p for p in ax.patches if str(p.get_gid()).startswith("diamond_subgroup:")]
    assert len(subs) == 3
    for p in subs:
        name = p.get_gid().split(":", 1)[1]
        left, centre, right = diamond_xy(p)
        assert centre == pytest.approx(math.exp(bcg_sub.loc[name, "estimate"]), rel=1e-6)
        assert left == pytest.approx(math.exp(bcg_sub.loc[name, "ci_low"]), rel=1e-6)
    assert texts(ax, "subgroup_label") == ["random", "alternate", "systematic"]
    assert len(texts(ax, "study_label")) == 13
    sg = bcg_summary.loc["subgroup_difference"]
    foot = " ".join(texts(ax, "footer"))
    assert f"Test for subgroup differences: Q = {sg.q:.2f}, df = 2 (P = {sg.q_p:.2f})" in foot
    # each subgroup's own heterogeneity line
    het = [t for t in texts(ax, "subgroup_text") if t.startswith("Heterogeneity")]
    assert len(het) == 3
    assert f"Q = {bcg_sub.loc['random', 'q']:.2f}, df = 6" in het[0]
    assert_no_overlap(ax)


def test_arrows_for_cis_beyond_limits(bcg):
    ax = forest_plot(bcg, measure="RR", xlim=(0.2, 2.0))
    z = 1.959963984540054
    lo = np.exp(bcg.yi - z * np.sqrt(bcg.vi))
    hi = np.exp(bcg.yi + z * np.sqrt(bcg.vi))
    expected = int((lo < 0.2).sum() + (hi > 2.0).sum())
    assert expected > 0
    arrows = [ln for ln in ax.lines if ln.get_gid() == "ci_arrow"]
    # the prediction interval (0.15, 1.55) also leaves the axis on the left
    assert len(arrows) == expected + 1
    assert ax.get_xlim() == pytest.approx((0.2, 2.0))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.2", "0.5", "1", "2"]


def test_two_studies_and_not_estimable_row(bcg):
    two = bcg.iloc[:2].copy()
    ax = forest_plot(two, measure="OR")
    assert texts(ax, "study_label") == list(two["study_id"])
    assert not [ln for ln in ax.lines if ln.get_gid() == "prediction_interval"]  # k < 3
    res = pool(two.yi, two.vi)
    _, centre, _ = diamond_xy(patch(ax, "diamond_total"))
    assert centre == pytest.approx(math.exp(res.estimate), rel=1e-9)
    assert_no_overlap(ax)

    three = pd.concat(
        [two, pd.DataFrame({"study_id": ["No data 2020"], "yi": [np.nan], "vi": [np.nan]})],
        ignore_index=True,
    )
    ax = forest_plot(three, measure="RR", columns=False)
    assert texts(ax, "study_label")[-1] == "No data 2020"
    assert texts(ax, "estimate_text")[-1] == "Not estimable (a)"
    assert "(a) No numeric result; not pooled." in texts(ax, "footer")
    assert len(texts(ax, "weight_text")) == 2


def test_sixty_studies_long_labels_linear_scale():
    rng = np.random.default_rng(7)
    k = 60
    labels = [
        f"Study {i}: a very long descriptive label about the mouse model and dose {i}"
        if i % 5 == 0
        else f"Author{i} {2000 + i % 20}"
        for i in range(k)
    ]
    n1, n2 = rng.integers(5, 30, k), rng.integers(5, 30, k)
    d = pd.DataFrame(
        {
            "study_id": labels,
            "mean_int": rng.normal(10, 2, k).round(1),
            "sd_int": rng.uniform(1, 3, k).round(2),
            "n_int": n1,
            "mean_ctrl": rng.normal(12, 2, k).round(1),
            "sd_ctrl": rng.uniform(1, 3, k).round(2),
            "n_ctrl": n2,
        }
    )
    d["yi"] = rng.normal(-0.5, 0.4, k)
    d["vi"] = 1 / n1 + 1 / n2
    ax = forest_plot(d, measure="SMD", label_width=30)
    shown = texts(ax, "study_label")
    assert len(shown) == 60
    assert all(len(s) <= 30 for s in shown)
    assert shown[0].endswith("…") and shown[1] == "Author1 2001"
    assert ax.get_xscale() == "linear"
    _, centre, _ = diamond_xy(patch(ax, "diamond_total"))
    assert centre == pytest.approx(pool(d.yi, d.vi).estimate, rel=1e-9)
    heads = texts(ax, "column_header")
    assert {"Mean", "SD", "Total", "Intervention", "Control"} <= set(heads)
    assert_no_overlap(ax)


def test_result_argument_and_knha_label(bcg):
    res = pool(bcg.yi, bcg.vi, method="DL", ci_method="knha")
    ax = forest_plot(bcg, measure="RR", result=res)
    _, centre, _ = diamond_xy(patch(ax, "diamond_total"))
    assert centre == pytest.approx(math.exp(res.estimate), rel=1e-12)
    assert any(t.startswith("Test for overall effect: t(12) = ") for t in texts(ax, "footer"))
    with pytest.raises(InvalidParameterError, match="k = 2"):
        forest_plot(bcg, measure="RR", result=pool(bcg.yi[:2], bcg.vi[:2]))


def test_rob_lights_from_sheet_columns(bcg):
    d = bcg.copy()
    d["rob_domains"] = "D1=low; D2=some_concerns; D3=high"
    d["rob_overall"] = "high"
    ax = forest_plot(d, measure="RR", rob=True)
    lights = [c for c in ax.collections if c.get_gid() == "rob_light"]
    assert len(lights) == 13 * 4
    colours = [tuple(np.round(c.get_facecolors()[0][:3], 3)) for c in lights[:4]]
    from matplotlib.colors import to_rgb

    assert colours == [
        tuple(np.round(to_rgb(h), 3)) for h in ("#02C100", "#E2DF07", "#BF0000", "#BF0000")
    ]
    assert {"D1", "D2", "D3", "Overall"} <= set(texts(ax, "column_header"))
    assert_no_overlap(ax)


def test_errors_name_the_problem(bcg):
    with pytest.raises(ValidationError, match="'yi'"):
        forest_plot(bcg.drop(columns="yi"))
    with pytest.raises(ValidationError, match="'arm'"):
        forest_plot(bcg, subgroup="arm")
    with pytest.raises(InvalidParameterError, match="'xlim'"):
        forest_plot(bcg, measure="RR", xlim=(0, 2))
    with pytest.raises(InvalidParameterError, match="'ax'"):
        forest_plot(bcg, ax="left")


def test_save_figure_formats(bcg, tmp_path):
    ax = forest_plot(bcg.iloc[:3], measure="RR")
    magic = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}
    for suffix, head in magic.items():
        out = save_figure(ax, tmp_path / f"forest{suffix}")
        assert out.read_bytes()[: len(head)] == head
    with pytest.raises(InvalidParameterError, match="'.png', '.svg', '.pdf'"):
        save_figure(ax, tmp_path / "forest.jpg")


def test_user_axes_and_subgroups_without_overall(bcg, bcg_summary):
    fig, (ax_left, ax_right) = plt.subplots(1, 2, figsize=(20, 6))
    fig.subplots_adjust(left=0.3, right=0.95, wspace=1.2)
    out = forest_plot(
        bcg, measure="RR", subgroup="alloc", overall=False, columns=False, ax=ax_right
    )
    assert out is ax_right and out.figure is fig
    assert not [p for p in out.patches if p.get_gid() == "diamond_total"]
    assert len([p for p in out.patches if str(p.get_gid()).startswith("diamond_subgroup")]) == 3
    assert not texts(out, "weight_text")  # weights belong to the overall model
    sg = bcg_summary.loc["subgroup_difference"]
    assert texts(out, "footer") == [
        f"Test for subgroup differences: Q = {sg.q:.2f}, df = 2 (P = {sg.q_p:.2f}), I² = 0%",
        "Random-effects model (REML), inverse-variance weights.",
    ]
    assert not ax_left.texts


def test_one_study_draws_no_total_diamond(bcg):
    """k = 1: nothing is pooled, so no 'Total' row and no diamond; the study row carries the
    result and the footer says why (the study's own RR and Wald CI, computed by hand)."""
    one = bcg.iloc[[0]]
    ax = forest_plot(one, measure="RR")
    assert not [p for p in ax.patches if str(p.get_gid()).startswith("diamond")]
    assert not [t for t in ax.texts if t.get_text().startswith("Total (")]
    foot = " ".join(texts(ax, "footer"))
    assert "One study: its own estimate is the result" in foot
    yi, vi = float(one["yi"].iloc[0]), float(one["vi"].iloc[0])
    half = 1.959963984540054 * math.sqrt(vi)
    want = f"{math.exp(yi):.2f} [{math.exp(yi - half):.2f}, {math.exp(yi + half):.2f}]"
    assert want in texts(ax, "estimate_text")
    # two studies still pool and draw the total diamond
    ax2 = forest_plot(bcg.iloc[:2], measure="RR")
    assert len([p for p in ax2.patches if p.get_gid() == "diamond_total"]) == 1


def test_long_title_is_wrapped_inside_the_figure(bcg):
    long = (
        "Green 2023 and a very long indication name that would never fit on one line of "
        "a small forest plot: all-cause mortality at the longest follow-up reported"
    )
    ax = forest_plot(bcg.iloc[:3], measure="RR", title=long)
    (title,) = texts(ax, "title")
    assert title.count("\n") >= 1 and title.replace("\n", " ") == long
    assert_no_overlap(ax)


def test_auto_title_uses_the_report_indication_label(bcg):
    data = bcg.iloc[:3].assign(indication="covid19_ards", outcome="mortality")
    ax = forest_plot(data, measure="RR")
    assert texts(ax, "title")[0].startswith("COVID-19 ARDS: mortality")


def _single_arm():
    from evidence.study_effects import study_effects

    st = pd.DataFrame(
        dict(
            study_id=["A 2001", "B 2005", "C 2010", "D 2015"],
            indication="covid19_ards",
            outcome="adverse events",
            stream="human",
            model="case_series",
            data_type="single_arm",
            events_int=[1, 0, 3, 10],
            n_int=[50, 30, 40, 60],
        )
    )
    with pytest.warns(Warning):
        return st, study_effects(st)


def _wilson(x, n, z=1.959963984540054):
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return p, centre - half, centre + half


def test_single_arm_forest_shows_observed_proportions_with_wilson_ci():
    from evidence.proportions import pool_proportions

    st, eff = _single_arm()
    ax = forest_plot(eff, measure="PLO")
    shown = texts(ax, "estimate_text")
    # Wilson score by hand: 1/50 -> 0.0035 to 0.1050; 0/30 -> 0 to 0.1135
    want = [_wilson(x, n) for x, n in zip(st["events_int"], st["n_int"], strict=True)]
    assert (round(want[0][1], 4), round(want[0][2], 4)) == (0.0035, 0.105)
    assert shown == [f"{p:.2f} [{lo:.2f}, {hi:.2f}]" for p, lo, hi in want]
    assert not any("-" in s or "−" in s for s in shown)  # never below 0
    # the square is the observed proportion (0 for 0/30, not the corrected 0.5/31)
    sq = [p for p in ax.collections if p.get_gid() == "study_squares"][0]
    assert list(sq.get_offsets()[:, 0]) == pytest.approx([w[0] for w in want], abs=1e-12)
    # pooled: the logit fit back-transformed, as evidence.pool_proportions (metafor-exact)
    ref = pool_proportions(st, measure="PLO").to_frame().iloc[0]
    lo, centre, hi = diamond_xy(patch(ax, "diamond_total"))
    assert (lo, centre, hi) == pytest.approx(
        (ref.proportion_ci_low, ref.proportion, ref.proportion_ci_high), rel=1e-9
    )
    assert texts(ax, "total_estimate_text") == [
        f"{ref.proportion:.2f} [{ref.proportion_ci_low:.2f}, {ref.proportion_ci_high:.2f}]"
    ]
    foot = " ".join(texts(ax, "footer"))
    assert "observed proportion with Wilson score 95% CI (no continuity correction)" in foot
    assert "back-transformed by the inverse logit" in foot
    assert "Test for overall effect" not in foot
    assert ax.get_xlim()[0] >= 0 and ax.get_xlim()[1] <= 1
    assert ax.get_xlabel() == "Proportion"
    assert_no_overlap(ax)


def test_plant_forest_title_does_not_say_animal(bcg):
    data = bcg.iloc[:3].assign(
        indication="elevated CO2", outcome="biomass", stream="animal", model="other_organism"
    )
    title = texts(forest_plot(data, measure="RR"), "title")[0]
    assert title.startswith("Elevated CO2: biomass (non-animal organisms)")
    mixed = data.assign(model=["other_organism", "rat", "rat"])
    assert "(animal and other organisms)" in texts(forest_plot(mixed, measure="RR"), "title")[0]
    rats = data.assign(model="rat")
    assert "(animal studies)" in texts(forest_plot(rats, measure="RR"), "title")[0]
