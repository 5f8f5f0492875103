"""Risk-of-bias figures: robvis colours, symbols, shares."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from evidence.errors import InvalidParameterError, ValidationError
from grading.plots import ROB_PALETTES, rob_summary, rob_traffic_light

REF = Path(__file__).resolve().parent / "reference"

# robvis R/helpers.R get_colour() (mcguinlu/robvis @0810523): the two presets
ROBVIS_COCHRANE = {
    "low": "#02c100",
    "some_concerns": "#e2df07",
    "high": "#bf0000",
    "critical": "#820000",
    "no_information": "#4ea1f7",
}
ROBVIS_COLOURBLIND = {
    "low": "#fed98e",
    "some_concerns": "#fe9929",
    "high": "#d95f0e",
    "critical": "#993404",
    "no_information": "#ffffff",
}


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def rob():
    bcg = pd.read_csv(REF / "plots_bcg.csv")
    return pd.DataFrame(
        {
            "Study": bcg["study_id"],
            "D1": ["Low", "Some concerns", "High", "No information", "low"] * 2 + ["Low"] * 3,
            "D2": ["some_concerns"] * 13,
            "D3": ["High"] * 6 + ["Low"] * 7,
            "Overall": ["High"] * 5 + ["Some concerns"] * 8,
            "Weight": bcg["weight"],
        }
    )


def test_palettes_are_robvis():
    for key, hexcol in ROBVIS_COCHRANE.items():
        assert ROB_PALETTES["cochrane"][key].lower() == hexcol
    for key, hexcol in ROBVIS_COLOURBLIND.items():
        assert ROB_PALETTES["colourblind"][key].lower() == hexcol


@pytest.mark.parametrize(
    "palette,ref", [("cochrane", ROBVIS_COCHRANE), ("colourblind", ROBVIS_COLOURBLIND)]
)
def test_traffic_light_colours_follow_judgements(rob, palette, ref):
    ax = rob_traffic_light(rob, palette=palette)
    (lights,) = [c for c in ax.collections if c.get_gid() == "rob_lights"]
    faces = [to_hex(c) for c in lights.get_facecolors()]
    assert len(faces) == 13 * 4  # studies x (3 domains + Overall); Weight is not a domain
    key = {
        "low": "low",
        "some concerns": "some_concerns",
        "some_concerns": "some_concerns",
        "high": "high",
        "no information": "no_information",
    }
    expected = [
        ref[key[str(v).lower()]] for _, r in rob.iterrows() for v in (r.D1, r.D2, r.D3, r.Overall)
    ]
    assert faces == expected
    assert [t.get_text() for t in ax.get_yticklabels()] == list(rob["Study"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["D1", "D2", "D3", "Overall"]
    symbols = [t.get_text() for t in ax.texts if t.get_gid() == "rob_symbol"]
    assert symbols[:4] == ["+", "−", "×", "×"]  # Aronson: low, some concerns, high, high
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["+  Low", "−  Some concerns", "×  High", "?  No information"]


def test_robins_vocabulary_and_caption():
    rob = pd.DataFrame(
        {
            "Study": ["A 2020", "B 2021"],
            "D1": ["Serious", "Critical"],
            "D2": ["Moderate", "Low"],
            "Overall": ["Critical", "Serious"],
        }
    )
    ax = rob_traffic_light(rob, domain_labels={"D1": "Bias due to confounding"})
    (lights,) = [c for c in ax.collections if c.get_gid() == "rob_lights"]
    assert [to_hex(c) for c in lights.get_facecolors()] == [
        "#bf0000",
        "#e2df07",
        "#820000",
        "#820000",
        "#02c100",
        "#bf0000",
    ]
    assert any("D1: Bias due to confounding" in t.get_text() for t in ax.texts)


def test_summary_shares_unweighted_and_weighted(rob):
    ax = rob_summary(rob)
    bars = {
        p.get_gid(): p.get_width() for p in ax.patches if str(p.get_gid()).startswith("rob_bar")
    }
    assert bars["rob_bar:D3:High"] == pytest.approx(6 / 13)
    assert bars["rob_bar:D1:Low"] == pytest.approx(7 / 13)
    assert bars["rob_bar:Overall:High"] == pytest.approx(5 / 13)
    w = rob["Weight"].to_numpy()
    ax = rob_summary(rob, weighted=True, palette="colourblind")
    bars = {p.get_gid(): p for p in ax.patches if str(p.get_gid()).startswith("rob_bar")}
    assert bars["rob_bar:Overall:High"].get_width() == pytest.approx(w[:5].sum() / w.sum())
    assert to_hex(bars["rob_bar:Overall:High"].get_facecolor()) == "#d95f0e"
    for d in ("D1", "D2", "D3", "Overall"):
        assert sum(
            p.get_width() for g, p in bars.items() if g.startswith(f"rob_bar:{d}:")
        ) == pytest.approx(1.0)
    ylabels = [t.get_text() for t in ax.get_yticklabels()]
    assert ylabels[-1] == "Overall risk of bias"
    assert ax.get_yticklabels()[-1].get_fontweight() == "bold"


def test_rob_errors(rob):
    bad = rob.copy()
    bad.loc[2, "D2"] = "terrible"
    with pytest.raises(ValidationError, match=r"Column 'D2', row 2 .*'terrible'"):
        rob_traffic_light(bad)
    with pytest.raises(InvalidParameterError, match="'palette'"):
        rob_summary(rob, palette="rainbow")
    with pytest.raises(ValidationError, match="'Weight'"):
        rob_summary(rob.drop(columns="Weight"), weighted=True)
    with pytest.raises(ValidationError, match="'Study'"):
        rob_traffic_light(rob.drop(columns="Study"))
    assert np.isfinite(rob["Weight"]).all()
