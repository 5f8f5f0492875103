"""Free text is text (issue 16 item 4): a ``$`` in a label never starts mathtext."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from grading.plots import forest_plot, rob_summary, rob_traffic_light, translational_forest
from grading.plots._style import plain, plain_all

NASTY = ["Alpha $x^$ 2020", "$5 and $10", r"back\slash $a$", "Beta 2021"]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def shown(t: Text) -> tuple[str, bool]:
    """(the string matplotlib draws, whether it is drawn as mathtext)."""
    return t._preprocess_math(t.get_text())


def drawn_texts(fig) -> list[str]:
    """Every text of the figure as drawn; fails if any would be read as mathtext."""
    out = []
    for t in fig.findobj(Text):
        s, math = shown(t)
        assert not math, f"{t.get_text()!r} is drawn as mathtext"
        out.append(s)
    return out


def render(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)  # raises on a mathtext parse error
    return buf.getvalue()


def test_plain_escapes_every_dollar():
    assert plain("$5 and $10") == r"\$5 and \$10"
    assert plain(None) == "" and plain(float("nan")) == ""
    assert plain_all(["a$", 3]) == [r"a\$", "3"]
    t = Text(0, 0, plain("Alpha $x^$ 2020"))
    assert shown(t) == ("Alpha $x^$ 2020", False)


def test_forest_labels_titles_notes_with_dollars_render_literally():
    d = pd.DataFrame(
        {
            "study_id": NASTY,
            "yi": [0.1, -0.2, 0.3, np.nan],
            "vi": [0.04, 0.05, 0.03, np.nan],
            "effect_note": [None, None, None, "costs $3 per $ unit"],
            "comparison": ["$1 vs $2"] * 4,
            "indication": ["Pay $ to win $"] * 4,
            "outcome": ["$ outcome $"] * 4,
        }
    )
    ax = forest_plot(d, measure="MD", favours=("Favours $A$", "Favours $B$"), subgroup="comparison")
    texts = drawn_texts(ax.figure)
    for s in NASTY[:3]:
        assert s in texts
    assert "Pay $ to win $: $ outcome $\nMean Difference, random-effects model (REML)" in texts
    assert "Favours $A$" in texts and "Favours $B$" in texts
    assert "$1 vs $2" in texts
    assert "(a) Costs $3 per $ unit; not pooled." in texts
    assert render(ax.figure)[:4] == b"\x89PNG"
    # an explicit title too
    ax = forest_plot(d, measure="MD", title="Total $x^$")
    assert "Total $x^$" in drawn_texts(ax.figure)
    render(ax.figure)


def test_translational_forest_with_dollars():
    d = pd.DataFrame(
        {
            "study_id": ["Alpha $x^$ 2020", "$5 and $10", "Gamma 2019"],
            "indication": ["cost $ease$"] * 3,
            "outcome": ["o"] * 3,
            "stream": ["animal", "animal", "human"],
            "model": ["mouse", "rat", "phase_2"],
            "model_detail": ["C57 $x$", None, None],
            "measure": ["SMD"] * 3,
            "yi": [0.5, 0.7, 0.2],
            "vi": [0.1, 0.2, 0.1],
        }
    )
    ax = translational_forest(d, indication="cost $ease$")
    texts = drawn_texts(ax.figure)
    assert "Alpha $x^$ 2020 (C57 $x$)" in texts and "$5 and $10" in texts
    assert any(t.startswith("cost $ease$\nStd. mean difference") for t in texts)  # title
    render(ax.figure)


def test_risk_of_bias_figures_with_dollars():
    rob = pd.DataFrame(
        {
            "Study": ["Alpha $x^$ 2020", "$5 and $10"],
            "D$1$": ["low", "high"],
            "Overall": ["low", "high"],
        }
    )
    ax = rob_traffic_light(rob)
    texts = drawn_texts(ax.figure)
    assert "Alpha $x^$ 2020" in texts and "$5 and $10" in texts and "D$1$" in texts
    render(ax.figure)
    ax = rob_summary(rob)
    assert "D$1$" in drawn_texts(ax.figure)
    render(ax.figure)


# --------------------------------------------------------------- the other figures (issue 16)


def test_gap_map_labels_and_regulatory_text_with_dollars():
    from grading.plots import gap_map

    st = pd.DataFrame(
        {
            "study_id": ["A", "B", "C"],
            "indication": ["Pay $ to win $", "Pay $ to win $", "$5 and $10"],
            "stream": ["animal", "human", "in_vitro"],
            "model": ["rat", "phase_2", "cell_culture"],
            "data_type": ["none"] * 3,
        }
    )
    reg = pd.DataFrame(
        {
            "indication": ["Pay $ to win $", "all"],
            "jurisdiction": ["US", "US"],
            "status": ["costs $1 per $ dose", "safety_notice"],
            "date": ["2020-01-01", "2021-01-01"],
            "detail": ["$x$", "$y$"],
        }
    )
    ax = gap_map(st, regulatory=reg)
    texts = drawn_texts(ax.figure)
    assert "Pay $ to win $" in texts and "$5 and $10" in texts
    reg_texts = [t.get_text() for t in ax.texts if t.get_gid() == "gap_regulatory"]
    assert any("$" in t for t in reg_texts)  # the data's own text, escaped, not dropped
    render(ax.figure)


def test_translational_ladder_with_dollars():
    from grading.plots import translational_ladder

    st = pd.DataFrame(
        {
            "study_id": ["A", "B"],
            "indication": ["Pay $ to win $"] * 2,
            "stream": ["animal", "human"],
            "model": ["rat", "phase_1"],
            "data_type": ["none"] * 2,
        }
    )
    ax = translational_ladder(st)
    texts = drawn_texts(ax.figure)
    assert "Pay $ to win $" in texts
    render(ax.figure)


def test_funnel_and_baujat_study_labels_with_dollars():
    from grading.plots import baujat_plot, funnel_plot

    yi = np.array([0.1, 0.2, 0.15, 2.5, 0.05])
    vi = np.array([0.01, 0.02, 0.015, 0.01, 0.03])
    labels = ["Alpha $x^$ 2020", "$5 and $10", "Beta 2021", "Gamma $y$", "Delta"]
    ax = funnel_plot(yi, vi, labels=labels)
    texts = drawn_texts(ax.figure)
    assert "Gamma $y$" in texts  # the study outside the funnel is labelled literally
    render(ax.figure)
    ax = baujat_plot(yi, vi, labels=labels)
    texts = drawn_texts(ax.figure)
    for lab in labels:
        assert lab in texts
    render(ax.figure)


def test_cumulative_forest_labels_with_dollars():
    from evidence import cumulative
    from grading.plots import cumulative_forest

    d = pd.DataFrame(
        {
            "study_id": NASTY,
            "year": [2018, 2019, 2020, 2021],
            "yi": [0.1, -0.2, 0.3, 0.2],
            "vi": [0.04, 0.05, 0.03, 0.02],
        }
    )
    cu = cumulative(d, label="study_id")
    ax = cumulative_forest(cu, measure="MD")
    texts = drawn_texts(ax.figure)
    for s in NASTY:
        assert any(t.startswith(f"+ {s}") for t in texts), s
    render(ax.figure)
