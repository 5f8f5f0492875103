"""Forests that read right (issue 13 item 6), on four public metadat datasets.

Fixtures: tests/reference/forest_metadat.R (metafor REML, escalc) -> forest_*.csv and
forest_metadat_summary.csv.  Checked: row labels, favours sides, totals with shared controls,
not-estimable rows, page splits, subgroup test, title, the pipeline's choice of forests.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from evidence.errors import InvalidParameterError, ValidationError
from grading.plots import forest_pages, forest_plot
from grading.plots._forest_core import (
    auto_favours,
    paginate,
    shared_controls,
    study_labels,
)

REF = Path(__file__).resolve().parent / "reference"


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def summary():
    return pd.read_csv(REF / "forest_metadat_summary.csv").set_index("name")


def texts(ax, gid):
    return [t.get_text() for t in ax.texts if t.get_gid() == gid]


def diamond(ax, gid="diamond_total"):
    (p,) = [p for p in ax.patches if p.get_gid() == gid]
    v = p.get_xy()
    return v[0][0], v[1][0], v[2][0]


def smoking():
    return pd.read_csv(REF / "forest_hartmannboyce2018.csv").assign(
        indication="Smoking cessation",
        outcome="Abstinence at 6+ months",
        outcome_direction="higher_is_better",
        measure="RR",
    )


# ------------------------------------------------------------------ labels
def test_rows_of_one_study_are_told_apart():
    d = pd.DataFrame(
        {
            "study_id": ["Watkins 2008a"] * 20 + ["Other 2010"],
            "comparison": [f"dose {i} vs vehicle" for i in range(20)] + [None],
        }
    )
    labs = study_labels(d, "study_id", 60)
    assert labs[0] == "Watkins 2008a: dose 0 vs vehicle"
    assert labs[-1] == "Other 2010"
    assert len(set(labs)) == 21
    # no telling column: the species, then the strain; nothing at all: numbered
    d = pd.DataFrame(
        {
            "study_id": ["A 2001"] * 3,
            "model": ["mouse", "rat", "rat"],
            "model_detail": ["C57BL/6", "Wistar", "Sprague-Dawley"],
        }
    )
    assert study_labels(d, "study_id", 60) == [
        "A 2001: C57BL/6",
        "A 2001: Wistar",
        "A 2001: Sprague-Dawley",
    ]
    d = pd.DataFrame({"study_id": ["A 2001"] * 3, "model": ["mouse", "rat", "rat"]})
    assert study_labels(d, "study_id", 60) == ["A 2001: mouse", "A 2001: rat #1", "A 2001: rat #2"]
    assert study_labels(pd.DataFrame({"study_id": ["B"] * 2}), "study_id", 60) == ["B: #1", "B: #2"]
    # cut to the width and still unique
    d = pd.DataFrame(
        {
            "study_id": ["Grigoropoulos 2024"] * 2,
            "comparison": [
                "Group B (10^10) vs Group A (10^9) in the trial",
                "Group B (10^10) vs Group A (10^9) in the cohort",
            ],
        }
    )
    labs = study_labels(d, "study_id", 40)
    assert all(len(lab) <= 40 for lab in labs) and len(set(labs)) == 2
    assert labs[0].startswith("Grigoropoulos 2024: Group B")


def test_curtis_plants_every_row_label_unique(summary):
    c = pd.read_csv(REF / "forest_curtis1998.csv").assign(
        indication="Elevated CO2 (woody plants)",
        outcome="Total biomass",
        outcome_direction="higher_is_better",
        measure="ROM",
    )
    ax = forest_plot(c)
    labs = texts(ax, "study_label")
    assert len(labs) == 102 and len(set(labs)) == 102
    assert labs[:3] == [
        "Paper 44: FERT (HIGH)",
        "Paper 44: FERT (CONTROL)",
        "Paper 121: ACER RUBRUM",
    ]
    ref = summary.loc["curtis1998"]
    _, centre, _ = diamond(ax)
    assert centre == pytest.approx(math.exp(ref.estimate), rel=1e-6)
    # biomass: higher is better, a ratio above 1 favours the intervention (elevated CO2)
    assert texts(ax, "favours_right") == ["Favours intervention"]
    assert texts(ax, "favours_left") == ["Favours control"]
    assert texts(ax, "title") == [
        "Elevated CO2 (woody plants): Total biomass\nRatio of Means, random-effects model (REML)"
    ]


# ------------------------------------------------------------------ favours
@pytest.mark.parametrize(
    ("direction", "kind", "measure", "expected"),
    [
        ("higher_is_worse", "benefit", "RR", ("Favours intervention", "Favours control")),
        ("higher_is_better", "benefit", "RR", ("Favours control", "Favours intervention")),
        ("higher_is_better", "benefit", "SMD", ("Favours control", "Favours intervention")),
        (None, "harm", "OR", ("Favours intervention", "Favours control")),
        (None, "benefit", "RR", ("Lower with intervention", "Higher with intervention")),
        ("higher_is_better", "benefit", "PR", None),
    ],
)
def test_favours_sides_follow_outcome_direction(direction, kind, measure, expected):
    d = pd.DataFrame({"outcome_direction": [direction] * 2, "outcome_kind": [kind] * 2})
    assert auto_favours(d, measure) == expected


def test_favours_mixed_directions_and_user_labels():
    d = smoking()
    d.loc[:3, "outcome_direction"] = "higher_is_worse"
    ax = forest_plot(d.iloc[:10])
    assert texts(ax, "favours_left") == ["Lower with intervention"]
    assert any("differ in outcome_direction" in t for t in texts(ax, "footer"))
    ax = forest_plot(smoking().iloc[:10], favours=("Favours placebo", "Favours NRT"))
    assert texts(ax, "favours_left") == ["Favours placebo"]
    assert texts(ax, "favours_right") == ["Favours NRT"]
    ax = forest_plot(smoking().iloc[:10], favours=None)
    assert not texts(ax, "favours_left")
    with pytest.raises(InvalidParameterError, match="'favours'"):
        forest_plot(smoking().iloc[:10], favours=("one",))


# ------------------------------------------------------------------ not estimable
def test_double_zero_trials_not_estimable_and_not_pooled(summary):
    a = pd.read_csv(REF / "forest_axfors2021.csv").assign(
        indication="COVID-19",
        outcome="All-cause mortality",
        outcome_direction="higher_is_worse",
        measure="OR",
    )
    both_zero = (a.events_int == 0) & (a.events_ctrl == 0)
    assert both_zero.sum() == 15 and np.isfinite(a.yi[both_zero]).all()  # 0.5 added
    ax = forest_plot(a)
    est = texts(ax, "estimate_text")
    assert [e for e, z in zip(est, both_zero, strict=True) if z] == ["Not estimable (a)"] * 15
    assert "1.00 [" not in " ".join(e for e, z in zip(est, both_zero, strict=True) if z)
    foot = texts(ax, "footer")
    assert any(
        f.startswith("(a) No events in either arm: the odds ratio is undefined; not pooled")
        and "10.4.4.2" in f
        for f in foot
    )
    # pooled without them: metafor escalc(drop00=TRUE) + rma(REML)
    ref = summary.loc["axfors2021_drop00"]
    assert ref.k == 18 and len(texts(ax, "weight_text")) == 18
    left, centre, right = diamond(ax)
    assert centre == pytest.approx(math.exp(ref.estimate), rel=1e-6)
    assert (left, right) == pytest.approx((math.exp(ref.ci_low), math.exp(ref.ci_high)), rel=1e-6)
    assert texts(ax, "favours_left") == ["Favours intervention"]  # mortality: lower is better
    # the totals still count the double-zero trials' participants (as RevMan)
    cells = texts(ax, "data_cell")
    assert cells[-4:-2] == [str(a.events_int.sum()), str(a.n_int.sum())]


def test_all_rows_not_estimable_is_a_clear_error():
    d = pd.DataFrame(
        {
            "study_id": ["A", "B"],
            "events_int": [0, 0],
            "n_int": [10, 12],
            "events_ctrl": [0, 0],
            "n_ctrl": [11, 10],
            "yi": [0.0, 0.1],
            "vi": [2.0, 2.1],
        }
    )
    with pytest.raises(ValidationError, match="no events in either arm"):
        forest_plot(d, measure="RR")
    # a risk difference of a double-zero study is estimable (0)
    ax = forest_plot(d, measure="RD")
    assert len(texts(ax, "weight_text")) == 2


# ------------------------------------------------------------------ shared controls
def test_shared_controls_flagged_and_counted_once(summary):
    b = pd.read_csv(REF / "forest_besson2016_rearing.csv")
    b["outcome_direction"] = "higher_is_better"
    ax = forest_plot(b.assign(indication="maternal_diet", outcome="Rearing", measure="SMD"))
    labs = texts(ax, "study_label")
    assert len(labs) == 35 and len(set(labs)) == 35
    assert labs[2] == "Garg et al. (2012): con_IUGR †"
    gid = shared_controls(b, "study_id")
    assert sum(lab.endswith("†") for lab in labs) == int((gid >= 0).sum()) == 27
    # control total: each distinct control group (study x control numbers) once
    key = pd.Series(
        list(
            zip(
                b.study_id,
                *(b[c].fillna(-1) for c in ("mean_ctrl", "sd_ctrl", "n_ctrl")),
                strict=True,
            )
        )
    )
    once = b.loc[~key.duplicated().to_numpy(), "n_ctrl"].sum()
    assert once == 197 < b.n_ctrl.sum()
    cells = texts(ax, "data_cell")
    assert cells[-2:] == [str(int(b.n_int.sum())), "197"]
    assert any(f.startswith("† 27 rows share 8 control groups") for f in texts(ax, "footer"))
    # with the dataset's own control ids (con_ID within sex): R's count
    ax = forest_plot(b.assign(cg=b.con_ID + b.sex), control_group="cg")
    ref = summary.loc["besson2016_rearing_n_ctrl_once"]
    assert texts(ax, "data_cell")[-1] == str(int(ref.estimate)) == "182"
    # pooled as metafor (rows without SDs not estimable, not pooled)
    _, centre, _ = diamond(ax)
    assert centre == pytest.approx(summary.loc["besson2016_rearing"].estimate, rel=1e-6)
    assert len(texts(ax, "weight_text")) == summary.loc["besson2016_rearing"].k == 28
    with pytest.raises(ValidationError, match="'control_group'"):
        forest_plot(b, control_group="nope")


# ------------------------------------------------------------------ pages and subgroups
def test_136_trials_in_pages_with_subgroups(summary):
    d = smoking()
    axes = forest_pages(d, subgroup="treatment", rows_per_page=50)
    assert len(axes) == 4
    labels = [lab for ax in axes for lab in texts(ax, "study_label")]
    assert len(labels) == 136 and len(set(labels)) == 136  # every trial once, told apart
    assert "Moolchan 2005: gum †" in labels and "Moolchan 2005: patch †" in labels
    for i, ax in enumerate(axes):
        n_rows = int(round(ax.get_ylim()[0] + 0.5))
        assert n_rows <= 50 + 2  # the summary rows stay whole on the last page
        assert texts(ax, "title")[0].endswith(f"(page {i + 1} of 4)")
        assert ax.get_xlim() == axes[0].get_xlim()  # one x axis for every page
    for ax in axes[:-1]:
        assert not [p for p in ax.patches if p.get_gid() == "diamond_total"]
        assert texts(ax, "footer")[0].startswith("Continued on page")
    ref = summary.loc["hartmannboyce2018"]
    _, centre, _ = diamond(axes[-1])
    assert centre == pytest.approx(math.exp(ref.estimate), rel=1e-6)
    foot = " ".join(texts(axes[-1], "footer"))
    sg = summary.loc["hartmannboyce2018_subgroups"]
    assert (
        f"Test for subgroup differences: Q = {sg.q:.2f}, df = 10 (P = {sg.q_p:.2f}), "
        f"I² = {sg.i2:.0f}%"
    ) in foot
    # a subgroup cut by a page break repeats its header
    heads = [h for ax in axes for h in texts(ax, "subgroup_label")]
    assert "gum (continued)" in heads
    # page= draws one page on its own; the same rows as forest_pages
    ax = forest_plot(d, subgroup="treatment", page=2)
    assert texts(ax, "study_label") == texts(axes[1], "study_label")
    # abstinence: higher is better
    assert texts(axes[0], "favours_right") == ["Favours intervention"]


def test_paginate_keeps_every_row_once():
    from grading.plots._forest_core import Row

    rows = [Row("study", f"s{i}") for i in range(23)] + [Row("total"), Row("pi")]
    pages = paginate(rows, 10)
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [r.label for p in pages for r in p if r.kind == "study"] == [f"s{i}" for i in range(23)]
    assert [r.kind for r in pages[-1][-2:]] == ["total", "pi"]
    with pytest.raises(InvalidParameterError, match="rows_per_page"):
        paginate(rows, 2)


def test_auto_title_names_indication_outcome_measure_and_model():
    d = (
        smoking()
        .iloc[:5]
        .drop(columns="indication")
        .assign(indication_label="smoking_cessation", stream="human")
    )
    ax = forest_plot(d, method="DL")
    assert texts(ax, "title") == [
        "Smoking cessation: Abstinence at 6+ months (human studies)\n"
        "Risk Ratio, random-effects model (DL)"
    ]
    assert not texts(forest_plot(d, title=None), "title")
    assert texts(forest_plot(d, title="My forest"), "title") == ["My forest"]


def test_single_arm_proportions_show_their_arm_and_no_favours():
    d = pd.DataFrame(
        {
            "study_id": ["A 2020", "B 2021"],
            "events_int": [4, 17],
            "n_int": [24, 30],
            "measure": "PR",
        }
    )
    d["yi"] = d.events_int / d.n_int
    d["vi"] = d.yi * (1 - d.yi) / d.n_int
    ax = forest_plot(d)
    assert texts(ax, "data_cell") == ["4", "24", "17", "30", "21", "54"]
    assert {"Events", "Total", "Intervention"} <= set(texts(ax, "column_header"))
    assert not texts(ax, "favours_left") and not texts(ax, "favours_right")


def test_paginate_never_leaves_a_subgroup_header_alone_at_a_page_end():
    from grading.plots._forest_core import Row

    rows = (
        [Row("header", "g1")]
        + [Row("study", f"a{i}") for i in range(8)]
        + [Row("header", "g2")]
        + [Row("study", f"b{i}") for i in range(4)]
    )
    pages = paginate(rows, 10)
    assert [r.label for r in pages[0]] == ["g1"] + [f"a{i}" for i in range(8)]
    assert [r.label for r in pages[1]][:2] == ["g2", "b0"]
    rows = [Row("header", "g1")] + [Row("study", f"a{i}") for i in range(12)]
    pages = paginate(rows, 10)
    assert pages[1][0].label == "g1 (continued)" and pages[1][1].label == "a9"
