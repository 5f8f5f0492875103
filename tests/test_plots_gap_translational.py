"""Gap map and translational forest: counts, colours, stream diamonds, certainty labels."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from evidence.errors import InvalidParameterError, ValidationError
from evidence.pooling import pool
from evidence.schema import indication_key
from evidence.study_effects import study_effects
from grading.plots import GAP_COLUMNS, gap_map, translational_forest
from grading.plots._style import CERTAINTY_COLOURS, EMPTY_COLOUR, NOT_GRADED_COLOUR

DATA = Path(__file__).resolve().parents[1] / "data"
WOUND, ARDS = "Diabetic wound healing", "ARDS in COVID-19"


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def hand_sheet() -> pd.DataFrame:
    """A small hand-built study sheet (made-up numbers, test-only) covering every stream."""
    rows = []

    def add(sid, ind, stream, model, dt, measure=None, outcome="wound closure", **kw):
        rows.append(dict(study_id=sid, citation_key=sid.replace(" ", "").lower(), indication=ind,
                         outcome=outcome, outcome_kind="benefit", stream=stream, model=model,
                         data_type=dt, measure=measure, **kw))

    cont = dict(sd_int=6.0, sd_ctrl=7.0)
    add("Li 2019", WOUND, "in_vitro", "cell_culture", "continuous", "SMD", mean_int=80, n_int=3,
        mean_ctrl=55, n_ctrl=3, model_detail="HaCaT", **cont)
    add("Wang 2020", WOUND, "in_vitro", "cell_culture", "continuous", "SMD", mean_int=70, n_int=4,
        mean_ctrl=50, n_ctrl=4, **cont)
    add("Chen 2018", WOUND, "animal", "mouse", "continuous", "SMD", mean_int=90, n_int=6,
        mean_ctrl=70, n_ctrl=6, **cont)
    add("Zhao 2021", WOUND, "animal", "rat", "continuous", "SMD", mean_int=85, n_int=8,
        mean_ctrl=72, n_ctrl=8, **cont)
    add("Sun 2022", WOUND, "animal", "mouse", "continuous", "SMD", mean_int=88, n_int=5,
        mean_ctrl=75, n_ctrl=5, **cont)
    add("Trial A 2023", WOUND, "human", "phase_1", "single_arm", "PLO", events_int=8, n_int=10)
    add("NCT0000001", WOUND, "human", "phase_2", "none")
    add("Case 2021", WOUND, "human", "case_report", "none")
    add("Cohort 2020", ARDS, "human", "cohort", "single_arm", "PLO", outcome="survival",
        events_int=17, n_int=24)
    add("RCT 2023", ARDS, "human", "phase_2", "counts", "RR", outcome="60-day mortality",
        events_int=8, n_int=62, events_ctrl=12, n_ctrl=40)
    add("Mouse 2020", ARDS, "animal", "mouse", "counts", "RR", outcome="60-day mortality",
        events_int=2, n_int=10, events_ctrl=6, n_ctrl=10)
    add("Hair 2022", "Hair loss", "in_vitro", "cell_culture", "none")
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def sheet():
    return study_effects(hand_sheet())


@pytest.fixture(scope="module")
def grades():
    return pd.DataFrame({
        "indication": [WOUND] * 3 + [ARDS] * 2,
        "outcome": ["wound closure"] * 3 + ["60-day mortality"] * 2,
        "stream": ["in_vitro", "animal", "human", "human", "animal"],
        "k": [2, 3, 1, 1, 1],
        "certainty": ["low", "moderate", "very low", "low", "very low"],
        "certainty_symbols": ["⊕⊕◯◯", "⊕⊕⊕◯", "⊕◯◯◯", "⊕⊕◯◯", "⊕◯◯◯"],
    })


def cells(ax):
    return {p.get_gid().split(":", 1)[1]: p for p in ax.patches
            if str(p.get_gid()).startswith("gap_cell:")}


def test_gap_map_counts_and_certainty_colours(sheet, grades):
    reg = pd.DataFrame({"indication": [WOUND, "all"], "jurisdiction": ["FDA", "US"],
                        "status": ["not_approved", "safety_notice"]})
    ax = gap_map(sheet, grades=grades, regulatory=reg)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(GAP_COLUMNS)
    assert [t.get_text() for t in ax.get_yticklabels()] == [WOUND, ARDS, "Hair loss"]
    c = cells(ax)
    assert len(c) == 3 * 7
    counts = [t.get_text() for t in ax.texts if t.get_gid() == "gap_count"]
    assert counts[:7] == ["2", "3", "1", "1", "–", "–", "1"]  # wound healing row
    assert to_hex(c[f"{WOUND}|in vitro"].get_facecolor()) == CERTAINTY_COLOURS["low"]
    assert to_hex(c[f"{WOUND}|animal"].get_facecolor()) == CERTAINTY_COLOURS["moderate"]
    assert to_hex(c[f"{WOUND}|phase 1"].get_facecolor()) == CERTAINTY_COLOURS["very low"]
    assert to_hex(c[f"{WOUND}|phase 3"].get_facecolor()) == EMPTY_COLOUR
    # ARDS: human stream graded low (best outcome), animal very low
    assert to_hex(c[f"{ARDS}|observational"].get_facecolor()) == CERTAINTY_COLOURS["low"]
    assert to_hex(c[f"{ARDS}|animal"].get_facecolor()) == CERTAINTY_COLOURS["very low"]
    assert to_hex(c["Hair loss|in vitro"].get_facecolor()) == NOT_GRADED_COLOUR
    regs = [t.get_text() for t in ax.texts if t.get_gid() == "gap_regulatory"]
    assert regs == ["FDA: not approved", "none specific", "none specific"]
    assert [t.get_text() for t in ax.texts if t.get_gid() == "gap_regulatory_all"] == [
        "Regulatory, all indications: US: safety notice"]


def test_gap_map_bundled_data_counts_every_record():
    studies = pd.read_csv(DATA / "exosome_studies.csv")
    ax = gap_map(studies)
    counts = sum(int(t.get_text()) for t in ax.texts
                 if t.get_gid() == "gap_count" and t.get_text() != "–")
    assert counts == len(studies)  # no record lost
    ind = indication_key(studies)
    top = ind.value_counts().index[0]
    assert ax.get_yticklabels()[0].get_text() == str(top).replace("_", " ")


def test_gap_map_errors(sheet):
    with pytest.raises(ValidationError, match="'model'"):
        gap_map(sheet.drop(columns="model"))
    with pytest.raises(InvalidParameterError, match="'order'"):
        gap_map(sheet, order=["Nope"])


def test_translational_forest_streams_and_certainty(sheet, grades):
    ax = translational_forest(sheet, indication=WOUND, grades=grades)
    diamonds = {p.get_gid().split(":")[1]: p for p in ax.patches
                if str(p.get_gid()).startswith("diamond_stream:")}
    assert set(diamonds) == {"in_vitro", "animal"}  # human rows have no SMD
    animal = sheet[(sheet.indication == WOUND) & (sheet.stream == "animal")]
    expected = pool(animal.yi, animal.vi).estimate
    assert diamonds["animal"].get_xy()[1][0] == pytest.approx(expected, rel=1e-12)
    cert = {t.get_gid().split(":")[1]: t.get_text() for t in ax.texts
            if str(t.get_gid()).startswith("stream_certainty:")}
    assert cert == {"in_vitro": "⊕⊕◯◯ low", "animal": "⊕⊕⊕◯ moderate",
                    "human": "⊕◯◯◯ very low"}
    labels = [t.get_text().strip() for t in ax.texts if t.get_gid() == "study_label"]
    # in vitro, then animal by species (mouse before rat), then human by phase
    assert labels == ["Wang 2020", "Li 2019 (HaCaT)", "Sun 2022", "Chen 2018", "Zhao 2021",
                      "NCT0000001", "Case 2021"]
    assert [t.get_text() for t in ax.texts if t.get_gid() == "model_label"] == [
        "Mouse", "Rat", "Phase 2", "Case report"]
    assert any("1 record(s)" in t.get_text() for t in ax.texts if t.get_gid() == "footer")


def test_translational_forest_log_ratio(sheet, grades):
    ax = translational_forest(sheet, indication=ARDS, grades=grades, scale="log_ratio")
    assert ax.get_xscale() == "log"
    diamonds = {p.get_gid().split(":")[1]: p for p in ax.patches
                if str(p.get_gid()).startswith("diamond_stream:")}
    human = sheet[(sheet.indication == ARDS) & (sheet.measure == "RR")
                  & (sheet.stream == "human")]
    assert diamonds["human"].get_xy()[1][0] == pytest.approx(np.exp(human.yi.iloc[0]))
    with pytest.raises(InvalidParameterError, match="'scale'"):
        translational_forest(sheet, indication=ARDS, scale="RR")
    with pytest.raises(ValidationError, match="no record for indication 'Gout'"):
        translational_forest(sheet, indication="Gout")


def test_translational_forest_bundled_meta_analyses():
    studies = pd.read_csv(DATA / "exosome_studies.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eff = study_effects(studies)
    key = indication_key(eff).astype(str)
    smd = eff[(key == "kidney_disease") & (eff["measure"] == "SMD") & eff["yi"].notna()]
    ax = translational_forest(eff, indication="kidney_disease")
    ma = [p for p in ax.patches if p.get_gid() == "meta_analysis_diamond"]
    assert len(ma) == int((smd["model"] == "meta_analysis").sum()) > 0
    tops = sorted(p.get_xy()[1][0] for p in ma)
    np.testing.assert_allclose(tops, sorted(smd.loc[smd.model == "meta_analysis", "yi"]))


def test_translational_forest_never_pools_different_outcomes():
    studies = pd.read_csv(DATA / "exosome_studies.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eff = study_effects(studies)
    ax = translational_forest(eff, indication="covid19_ards", scale="log_ratio")
    human_rr = eff[(indication_key(eff) == "covid19_ards") & (eff.stream == "human")
                   & eff.measure.isin(["RR", "OR", "HR", "ROM"]) & eff.yi.notna()]
    assert human_rr["outcome"].nunique() > 1
    assert not [p for p in ax.patches if str(p.get_gid()).startswith("diamond_stream:")]
    assert any("outcomes, not pooled" in t.get_text() for t in ax.texts)
    outcome = human_rr["outcome"].value_counts().index[0]
    one = human_rr[human_rr["outcome"] == outcome]
    ax = translational_forest(eff, indication="covid19_ards", scale="log_ratio", outcome=outcome)
    (d,) = [p for p in ax.patches if p.get_gid() == "diamond_stream:human"]
    expected = pool(one.yi, one.vi).estimate if len(one) > 1 else one.yi.iloc[0]
    assert d.get_xy()[1][0] == pytest.approx(np.exp(expected), rel=1e-9)
