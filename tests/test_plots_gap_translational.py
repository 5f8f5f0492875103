"""Gap map and translational forest: counts, colours, stream diamonds, certainty labels."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.text import Text

from evidence.errors import InvalidParameterError, ValidationError
from evidence.pooling import pool
from evidence.schema import indication_key
from evidence.study_effects import study_effects
from grading.certainty import grade
from grading.plots import GAP_COLUMNS, gap_map, translational_forest
from grading.plots._style import (
    CERTAINTY_COLOURS,
    CERTAINTY_TEXT_COLOURS,
    EMPTY_COLOUR,
    NOT_GRADED_COLOUR,
)

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
        rows.append(
            dict(
                study_id=sid,
                citation_key=sid.replace(" ", "").lower(),
                indication=ind,
                outcome=outcome,
                outcome_kind="benefit",
                stream=stream,
                model=model,
                data_type=dt,
                measure=measure,
                **kw,
            )
        )

    cont = dict(sd_int=6.0, sd_ctrl=7.0)
    add(
        "Li 2019",
        WOUND,
        "in_vitro",
        "cell_culture",
        "continuous",
        "SMD",
        mean_int=80,
        n_int=3,
        mean_ctrl=55,
        n_ctrl=3,
        model_detail="HaCaT",
        **cont,
    )
    add(
        "Wang 2020",
        WOUND,
        "in_vitro",
        "cell_culture",
        "continuous",
        "SMD",
        mean_int=70,
        n_int=4,
        mean_ctrl=50,
        n_ctrl=4,
        **cont,
    )
    add(
        "Chen 2018",
        WOUND,
        "animal",
        "mouse",
        "continuous",
        "SMD",
        mean_int=90,
        n_int=6,
        mean_ctrl=70,
        n_ctrl=6,
        **cont,
    )
    add(
        "Zhao 2021",
        WOUND,
        "animal",
        "rat",
        "continuous",
        "SMD",
        mean_int=85,
        n_int=8,
        mean_ctrl=72,
        n_ctrl=8,
        **cont,
    )
    add(
        "Sun 2022",
        WOUND,
        "animal",
        "mouse",
        "continuous",
        "SMD",
        mean_int=88,
        n_int=5,
        mean_ctrl=75,
        n_ctrl=5,
        **cont,
    )
    add("Trial A 2023", WOUND, "human", "phase_1", "single_arm", "PLO", events_int=8, n_int=10)
    add("NCT0000001", WOUND, "human", "phase_2", "none")
    add("Case 2021", WOUND, "human", "case_report", "none")
    add(
        "Cohort 2020",
        ARDS,
        "human",
        "cohort",
        "single_arm",
        "PLO",
        outcome="survival",
        events_int=17,
        n_int=24,
    )
    add(
        "RCT 2023",
        ARDS,
        "human",
        "phase_2",
        "counts",
        "RR",
        outcome="60-day mortality",
        events_int=8,
        n_int=62,
        events_ctrl=12,
        n_ctrl=40,
    )
    add(
        "Mouse 2020",
        ARDS,
        "animal",
        "mouse",
        "counts",
        "RR",
        outcome="60-day mortality",
        events_int=2,
        n_int=10,
        events_ctrl=6,
        n_ctrl=10,
    )
    add("Hair 2022", "Hair loss", "in_vitro", "cell_culture", "none")
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def sheet():
    return study_effects(hand_sheet())


@pytest.fixture(scope="module")
def grades():
    return pd.DataFrame(
        {
            "indication": [WOUND] * 3 + [ARDS] * 2,
            "outcome": ["wound closure"] * 3 + ["60-day mortality"] * 2,
            "stream": ["in_vitro", "animal", "human", "human", "animal"],
            "k": [2, 3, 1, 1, 1],
            # for the human question: preclinical streams rated down for translation ...
            "certainty": ["very low", "very low", "very low", "low", "very low"],
            "certainty_symbols": ["⊕◯◯◯", "⊕◯◯◯", "⊕◯◯◯", "⊕⊕◯◯", "⊕◯◯◯"],
            # ... from their certainty within the stream
            "certainty_within_stream": ["low", "moderate", "very low", "low", "low"],
            "translational_indirectness": [-2, -2, 0, 0, -2],
            "translational_indirectness_reason": [
                "cell-culture evidence for a human question: rated -2",
                "animal evidence for a human question: rated -2",
                "not applicable: human evidence for a human question",
                "not applicable: human evidence for a human question",
                "animal evidence for a human question: rated -2",
            ],
        }
    )


def cells(ax):
    return {
        p.get_gid().split(":", 1)[1]: p
        for p in ax.patches
        if str(p.get_gid()).startswith("gap_cell:")
    }


def colour(c, key):
    return to_hex(c[key].get_facecolor())


def overlapping_texts(ax):
    """Pairs of visible texts of the figure whose boxes overlap, and texts outside the figure."""
    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [
        (t.get_text(), t.get_window_extent(r))
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip()
    ]
    fb = fig.bbox
    outside = [
        n
        for n, b in boxes
        if b.x0 < fb.x0 - 1 or b.x1 > fb.x1 + 1 or b.y0 < fb.y0 - 1 or b.y1 > fb.y1 + 1
    ]
    pairs = [
        (boxes[i][0], boxes[j][0])
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
        if boxes[i][1].x0 < boxes[j][1].x1 - 1
        and boxes[j][1].x0 < boxes[i][1].x1 - 1
        and boxes[i][1].y0 < boxes[j][1].y1 - 1
        and boxes[j][1].y0 < boxes[i][1].y1 - 1
    ]
    return outside, pairs


@pytest.fixture(scope="module")
def bundled():
    studies = pd.read_csv(DATA / "exosome_studies.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return studies, study_effects(studies), grade(studies)


def test_gap_map_counts_and_certainty_colours(sheet, grades):
    reg = pd.DataFrame(
        {
            "indication": [WOUND, "all"],
            "jurisdiction": ["FDA", "US"],
            "status": ["not_approved", "safety_notice"],
        }
    )
    ax = gap_map(sheet, grades=grades, regulatory=reg)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(GAP_COLUMNS)
    assert [t.get_text() for t in ax.get_yticklabels()] == [WOUND, ARDS, "Hair loss"]
    c = cells(ax)
    assert len(c) == 3 * 7
    counts = [t.get_text() for t in ax.texts if t.get_gid() == "gap_count"]
    assert counts[:7] == ["2", "3", "1", "1", "–", "–", "1"]  # wound healing row
    # default: certainty within each stream (before the translational step)
    assert colour(c, f"{WOUND}|in vitro") == CERTAINTY_COLOURS["low"]
    assert colour(c, f"{WOUND}|animal") == CERTAINTY_COLOURS["moderate"]
    assert colour(c, f"{WOUND}|phase 1") == CERTAINTY_COLOURS["very low"]
    assert colour(c, f"{WOUND}|phase 3") == EMPTY_COLOUR
    # ARDS: human stream graded low (best outcome), animal low within the stream
    assert colour(c, f"{ARDS}|observational") == CERTAINTY_COLOURS["low"]
    assert colour(c, f"{ARDS}|animal") == CERTAINTY_COLOURS["low"]
    assert colour(c, "Hair loss|in vitro") == NOT_GRADED_COLOUR
    regs = [t.get_text() for t in ax.texts if t.get_gid() == "gap_regulatory"]
    assert regs == ["FDA: not approved", "none specific", "none specific"]
    assert [t.get_text() for t in ax.texts if t.get_gid() == "gap_regulatory_all"] == [
        "Regulatory, all indications: US: safety notice"
    ]
    assert overlapping_texts(ax) == ([], [])


def test_gap_map_certainty_option_and_legend(sheet, grades):
    ax = gap_map(sheet, grades=grades, certainty="human_question")
    c = cells(ax)
    # for the human question the preclinical cells take the rated-down certainty
    assert colour(c, f"{WOUND}|in vitro") == CERTAINTY_COLOURS["very low"]
    assert colour(c, f"{WOUND}|animal") == CERTAINTY_COLOURS["very low"]
    assert colour(c, f"{ARDS}|animal") == CERTAINTY_COLOURS["very low"]
    assert colour(c, f"{ARDS}|observational") == CERTAINTY_COLOURS["low"]
    leg = ax.get_legend()
    assert leg.get_title().get_text().startswith("Certainty for the human question")
    # every certainty level is listed, with its colour, even the absent ones (high)
    entries = {
        t.get_text(): to_hex(h.get_facecolor())
        for t, h in zip(leg.get_texts(), leg.legend_handles, strict=True)
    }
    assert entries == {
        "⊕⊕⊕⊕ high": CERTAINTY_COLOURS["high"],
        "⊕⊕⊕◯ moderate": CERTAINTY_COLOURS["moderate"],
        "⊕⊕◯◯ low": CERTAINTY_COLOURS["low"],
        "⊕◯◯◯ very low": CERTAINTY_COLOURS["very low"],
        "not graded": NOT_GRADED_COLOUR,
        "no records": EMPTY_COLOUR,
    }
    ax = gap_map(sheet, grades=grades)
    assert (
        ax.get_legend()
        .get_title()
        .get_text()
        .startswith("Certainty within each stream (before rating down for translation to humans)")
    )
    # without grades no certainty level is listed
    ax = gap_map(sheet)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["not graded", "no records"]
    # grades without the within-stream column: a clear error, and the way out
    old = grades.drop(columns="certainty_within_stream")
    with pytest.raises(ValidationError, match="'certainty_within_stream'.*human_question"):
        gap_map(sheet, grades=old)
    c = cells(gap_map(sheet, grades=old, certainty="human_question"))
    assert colour(c, f"{WOUND}|animal") == CERTAINTY_COLOURS["very low"]
    with pytest.raises(InvalidParameterError, match="'certainty'.*'within_stream'.*'final'"):
        gap_map(sheet, grades=grades, certainty="final")


def test_gap_map_meta_analyses_under_their_stream(grades):
    extra = pd.DataFrame(
        [
            dict(
                study_id="MA animal 2022",
                indication=WOUND,
                stream="animal",
                model="meta_analysis",
                outcome="wound closure",
            ),
            dict(
                study_id="MA animal 2023",
                indication=WOUND,
                stream="animal",
                model="meta_analysis",
                outcome="wound closure",
            ),
            dict(
                study_id="MA human 2024",
                indication=ARDS,
                stream="human",
                model="meta_analysis",
                outcome="60-day mortality",
            ),
        ]
    )
    sheet = pd.concat([hand_sheet(), extra], ignore_index=True)
    ax = gap_map(sheet, grades=grades)
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert names == [
        "in vitro",
        "animal",
        "animal MA",
        "phase 1",
        "phase 2",
        "phase 3",
        "observational",
        "case/AE",
        "human MA",
    ]
    m = len(names)
    bars = {
        ln.get_gid().split(":")[1]: ln.get_xdata()
        for ln in ax.lines
        if str(ln.get_gid()).startswith("gap_stream_bar:")
    }

    def under(stream):
        return [n for j, n in enumerate(names) if bars[stream][0] < (j + 0.5) / m < bars[stream][1]]

    assert under("in_vitro") == ["in vitro"]
    assert under("animal") == ["animal", "animal MA"]
    assert under("human") == [
        "phase 1",
        "phase 2",
        "phase 3",
        "observational",
        "case/AE",
        "human MA",
    ]
    heads = {
        t.get_gid().split(":")[1]: t.get_text()
        for t in ax.texts
        if str(t.get_gid()).startswith("gap_stream_header:")
    }
    assert heads == {"in_vitro": "In vitro", "animal": "Animal", "human": "Human"}
    c = cells(ax)
    texts = [t.get_text() for t in ax.texts if t.get_gid() == "gap_count"]
    row = dict(zip(names, texts[:m], strict=True))  # wound healing row
    assert row["animal MA"] == "2" and row["human MA"] == "–" and row["animal"] == "3"
    row = dict(zip(names, texts[m : 2 * m], strict=True))  # ARDS row
    assert row["human MA"] == "1" and row["animal MA"] == "–"
    # an MA cell takes its stream's certainty (within the stream)
    assert colour(c, f"{WOUND}|animal MA") == CERTAINTY_COLOURS["moderate"]
    assert colour(c, f"{ARDS}|human MA") == CERTAINTY_COLOURS["low"]
    assert any(
        "MA: published meta-analyses" in t.get_text() for t in ax.texts if t.get_gid() == "gap_note"
    )
    assert overlapping_texts(ax) == ([], [])
    # a meta-analysis of no known stream, and an unknown model: own columns, under no header
    odd = pd.DataFrame(
        [
            dict(study_id="X", indication="Hair loss", stream=None, model="meta_analysis"),
            dict(study_id="Y", indication="Hair loss", stream="human", model="weird"),
        ]
    )
    ax = gap_map(pd.concat([hand_sheet(), odd], ignore_index=True))
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert names[-2:] == ["meta-analysis", "other"]
    assert (
        sum(
            int(t.get_text())
            for t in ax.texts
            if t.get_gid() == "gap_count" and t.get_text() != "–"
        )
        == len(hand_sheet()) + 2
    )
    bars = [ln.get_xdata() for ln in ax.lines if str(ln.get_gid()).startswith("gap_stream_bar")]
    assert max(x[1] for x in bars) < (len(names) - 2 + 0.5) / len(names)


def test_gap_map_bundled_data_counts_every_record(bundled):
    studies, _, grades_ = bundled
    ax = gap_map(studies, grades=grades_)
    counts = sum(
        int(t.get_text()) for t in ax.texts if t.get_gid() == "gap_count" and t.get_text() != "–"
    )
    assert counts == len(studies)  # no record lost
    ind = indication_key(studies)
    top = ind.value_counts().index[0]
    from grading.labels import indication_label

    assert ax.get_yticklabels()[0].get_text() == indication_label(top)
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert "meta-analysis" not in names
    # the meta-analysis column of each stream holds that stream's meta-analysis records
    texts = [t.get_text() for t in ax.texts if t.get_gid() == "gap_count"]
    per_col = {
        n: sum(int(x) for x in texts[j :: len(names)] if x != "–") for j, n in enumerate(names)
    }
    ma = studies[studies["model"] == "meta_analysis"]
    for stream, col in (("animal", "animal MA"), ("human", "human MA")):
        assert per_col[col] == int((ma["stream"] == stream).sum()) > 0
    # colours follow the certainty within the stream: the best stroke animal bodies (SCRT
    # 2023 meta-analysis, infarct volume and mNSS, provisional: risk of bias not assessed) are
    # high within animals although they are low for humans (issue 11 engine)
    g = grades_[(grades_["indication"] == "stroke") & (grades_["stream"] == "animal")]
    rated = g[g["evidence_status"] != "no evidence"]
    assert set(rated["certainty"]) == {"low", "very low"}
    assert set(rated["certainty_within_stream"]) == {"high", "moderate"}
    assert g.loc[g["evidence_status"] == "no evidence", "certainty"].isna().all()
    c = cells(ax)
    assert colour(c, "stroke|animal") == colour(c, "stroke|animal MA") == CERTAINTY_COLOURS["high"]
    # ... and the figure says these levels are provisional (no risk-of-bias data in the sheet)
    n_rated = int((grades_["evidence_status"] != "no evidence").sum())
    assert n_rated == 55
    assert [t.get_text() for t in ax.texts if t.get_gid() == "gap_note"][0].endswith(
        "Certainty provisional in 55 of 55 rated bodies (risk of bias not assessed in 55)."
    )
    # the human stroke records (Dehghani 2022, phase 1/2) have no result to rate: not graded
    h = grades_[(grades_["indication"] == "stroke") & (grades_["stream"] == "human")]
    assert (h["evidence_status"] == "no evidence").all()
    assert colour(c, "stroke|phase 1") == NOT_GRADED_COLOUR
    c = cells(gap_map(studies, grades=grades_, certainty="human_question"))
    assert colour(c, "stroke|animal") == CERTAINTY_COLOURS["low"]


def test_gap_map_errors(sheet):
    with pytest.raises(ValidationError, match="'model'"):
        gap_map(sheet.drop(columns="model"))
    with pytest.raises(InvalidParameterError, match="'order'"):
        gap_map(sheet, order=["Nope"])


def certainty_texts(ax):
    out: dict[str, list[str]] = {}
    for t in ax.texts:
        if str(t.get_gid()).startswith("stream_certainty:"):
            out.setdefault(t.get_gid().split(":")[1], []).append(t.get_text())
    return out


def test_translational_forest_streams_and_certainty(sheet, grades):
    ax = translational_forest(sheet, indication=WOUND, grades=grades)
    diamonds = {
        p.get_gid().split(":")[1]: p
        for p in ax.patches
        if str(p.get_gid()).startswith("diamond_stream:")
    }
    assert set(diamonds) == {"in_vitro", "animal"}  # human rows have no SMD
    animal = sheet[(sheet.indication == WOUND) & (sheet.stream == "animal")]
    expected = pool(animal.yi, animal.vi).estimate
    assert diamonds["animal"].get_xy()[1][0] == pytest.approx(expected, rel=1e-12)
    assert certainty_texts(ax) == {
        "in_vitro": ["⊕⊕◯◯ low in vitro", "⊕◯◯◯ very low for humans"],
        "animal": ["⊕⊕⊕◯ moderate in animals", "⊕◯◯◯ very low for humans"],
        "human": ["⊕◯◯◯ very low"],
    }
    # the two lines of a preclinical stream sit one above the other, coloured by their level
    fig = ax.figure
    fig.canvas.draw()
    top, bottom = [t for t in ax.texts if t.get_gid() == "stream_certainty:animal"]
    b1, b2 = top.get_window_extent(), bottom.get_window_extent()
    assert b1.y0 >= b2.y1 - 0.5 and b1.x0 == pytest.approx(b2.x0)
    assert top.get_color() == CERTAINTY_TEXT_COLOURS["moderate"]
    assert bottom.get_color() == CERTAINTY_TEXT_COLOURS["very low"]
    assert overlapping_texts(ax) == ([], [])
    labels = [t.get_text().strip() for t in ax.texts if t.get_gid() == "study_label"]
    # in vitro, then animal by species (mouse before rat), then human by phase
    assert labels == [
        "Wang 2020",
        "Li 2019 (HaCaT)",
        "Sun 2022",
        "Chen 2018",
        "Zhao 2021",
        "NCT0000001",
        "Case 2021",
    ]
    assert [t.get_text() for t in ax.texts if t.get_gid() == "model_label"] == [
        "Mouse",
        "Rat",
        "Phase 2",
        "Case report",
    ]
    assert any("1 record(s)" in t.get_text() for t in ax.texts if t.get_gid() == "footer")


def test_translational_forest_log_ratio(sheet, grades):
    ax = translational_forest(sheet, indication=ARDS, grades=grades, scale="log_ratio")
    assert ax.get_xscale() == "log"
    diamonds = {
        p.get_gid().split(":")[1]: p
        for p in ax.patches
        if str(p.get_gid()).startswith("diamond_stream:")
    }
    human = sheet[(sheet.indication == ARDS) & (sheet.measure == "RR") & (sheet.stream == "human")]
    assert diamonds["human"].get_xy()[1][0] == pytest.approx(np.exp(human.yi.iloc[0]))
    with pytest.raises(InvalidParameterError, match="'scale'"):
        translational_forest(sheet, indication=ARDS, scale="RR")
    with pytest.raises(ValidationError, match="no record for indication 'Gout'"):
        translational_forest(sheet, indication="Gout")


def test_translational_forest_certainty_without_translation(sheet, grades):
    # grade(question=None): no translational step, the stream's own certainty only
    own = grades.assign(
        certainty=grades["certainty_within_stream"],
        translational_indirectness=0,
        translational_indirectness_reason="not applicable: animal evidence for a stream question",
    )
    ax = translational_forest(sheet, indication=WOUND, grades=own)
    assert certainty_texts(ax) == {
        "in_vitro": ["⊕⊕◯◯ low in vitro"],
        "animal": ["⊕⊕⊕◯ moderate in animals"],
        "human": ["⊕◯◯◯ very low"],
    }
    # a hand-made frame with the final certainty only: shown as given
    ax = translational_forest(
        sheet, indication=WOUND, grades=grades.drop(columns="certainty_within_stream")
    )
    assert certainty_texts(ax)["animal"] == ["⊕◯◯◯ very low"]


def test_translational_forest_bundled_meta_analyses(bundled):
    _, eff, grades_ = bundled
    key = indication_key(eff).astype(str)
    smd = eff[(key == "kidney_disease") & (eff["measure"] == "SMD") & eff["yi"].notna()]
    ax = translational_forest(eff, indication="kidney_disease", grades=grades_)
    ma = [p for p in ax.patches if p.get_gid() == "meta_analysis_diamond"]
    assert len(ma) == int((smd["model"] == "meta_analysis").sum()) > 0
    tops = sorted(p.get_xy()[1][0] for p in ma)
    np.testing.assert_allclose(tops, sorted(smd.loc[smd.model == "meta_analysis", "yi"]))
    # the animal numbers are all published meta-analyses: said so, not "no estimate"
    summary = [t.get_text() for t in ax.texts if t.get_gid() == "stream_pooled_label"]
    assert summary == [
        "Animal: published meta-analyses only (not pooled again)",
        "Human: no estimate to pool",
    ]
    assert not [p for p in ax.patches if str(p.get_gid()).startswith("diamond_stream:")]
    # kidney animal outcomes (k = 31 each): the surrogate and mechanistic ones are moderate
    # within animals (indirectness serious, GRADE 8) and very low for humans; the kidney
    # injury score (functional) is high within animals, low for humans.  The forest shows the
    # first of the largest bodies and names it, since the outcomes differ in certainty.
    g = grades_[
        (grades_["indication"] == "kidney_disease")
        & (grades_["stream"] == "animal")
        & (grades_["k"] > 0)
    ]
    assert set(g["certainty_within_stream"]) == {"high", "moderate"}
    assert set(g["certainty"]) == {"low", "very low"}
    assert set(g.loc[g["certainty_within_stream"] == "moderate", "indirectness_judgement"]) == {
        "serious"
    }
    # the human kidney record has no numeric result: no certainty line for the human stream
    h = grades_[(grades_["indication"] == "kidney_disease") & (grades_["stream"] == "human")]
    assert (h["evidence_status"] == "no evidence").all()
    assert certainty_texts(ax) == {
        "animal": ["⊕⊕⊕◯ moderate in animals (serum creatinine)", "⊕◯◯◯ very low for humans"]
    }
    assert overlapping_texts(ax) == ([], [])


def test_translational_forest_bundled_stroke_shows_the_gap(bundled):
    _, eff, grades_ = bundled
    ax = translational_forest(eff, indication="stroke", grades=grades_)
    g = grades_[(grades_["indication"] == "stroke") & (grades_["stream"] == "animal")]
    best = g.sort_values("k", ascending=False).iloc[0]
    # issue 11 engine: controlled animal experiments start high; risk of bias not recorded is
    # 'not assessed' (provisional), not a step down; -2 for translation to humans
    assert (best["certainty_within_stream"], best["certainty"]) == ("high", "low")
    assert best["evidence_status"] == "provisional"
    # the two plotted animal outcomes (infarct volume, mNSS) share their certainty: no name
    assert certainty_texts(ax)["animal"] == ["⊕⊕⊕⊕ high in animals", "⊕⊕◯◯ low for humans"]
    # no human stroke record has a result to rate: no human certainty is shown
    assert "human" not in certainty_texts(ax)
    assert overlapping_texts(ax) == ([], [])
    # on the ratio scale only the two single-study animal outcomes are plotted (imprecision
    # serious: moderate in animals, very low for humans)
    ax = translational_forest(eff, indication="stroke", grades=grades_, scale="log_ratio")
    assert certainty_texts(ax)["animal"] == ["⊕⊕⊕◯ moderate in animals", "⊕◯◯◯ very low for humans"]
    assert overlapping_texts(ax) == ([], [])


def test_translational_forest_axis_without_numbers(bundled):
    _, eff, grades_ = bundled
    ax = translational_forest(eff, indication="acne_scars", grades=grades_, scale="log_ratio")
    ticks = list(ax.get_xticks())
    assert len(ticks) == len(set(ticks)) >= 2 and 1.0 in ticks
    assert overlapping_texts(ax) == ([], [])


def test_translational_forest_never_pools_different_outcomes(bundled):
    _, eff, _ = bundled
    ax = translational_forest(eff, indication="covid19_ards", scale="log_ratio")
    human_rr = eff[
        (indication_key(eff) == "covid19_ards")
        & (eff.stream == "human")
        & eff.measure.isin(["RR", "OR", "HR", "ROM"])
        & eff.yi.notna()
    ]
    assert human_rr["outcome"].nunique() > 1
    assert not [p for p in ax.patches if str(p.get_gid()).startswith("diamond_stream:")]
    assert any("outcomes, not pooled" in t.get_text() for t in ax.texts)
    outcome = human_rr["outcome"].value_counts().index[0]
    one = human_rr[human_rr["outcome"] == outcome]
    ax = translational_forest(eff, indication="covid19_ards", scale="log_ratio", outcome=outcome)
    (d,) = [p for p in ax.patches if p.get_gid() == "diamond_stream:human"]
    expected = pool(one.yi, one.vi).estimate if len(one) > 1 else one.yi.iloc[0]
    assert d.get_xy()[1][0] == pytest.approx(np.exp(expected), rel=1e-9)


# --------------------------------------------------------------------------- translational ladder


def _ladder_sheet() -> pd.DataFrame:
    base = dict(outcome_kind="benefit", outcome="o", outcome_direction="higher_is_better")
    rows = [
        dict(
            base,
            study_id="A1",
            indication="stroke",
            stream="animal",
            model="rat",
            data_type="estimate",
            measure="SMD",
            yi=1.0,
            vi=0.05,
            randomised=True,
        ),
        dict(
            base,
            study_id="M1",
            indication="stroke",
            stream="animal",
            model="meta_analysis",
            data_type="estimate",
            measure="SMD",
            yi=1.2,
            vi=0.05,
        ),
        dict(
            base,
            study_id="T1",
            indication="stroke",
            stream="human",
            model="phase_1_2",
            data_type="none",
        ),
        dict(
            base,
            study_id="T2",
            indication="stroke",
            stream="human",
            model="phase_1_2",
            data_type="none",
        ),
        dict(
            base,
            study_id="R1",
            indication="skin $x^$ 2020",
            stream="human",
            model="case_report",
            data_type="none",
            outcome_kind="harm",
            outcome="necrosis",
        ),
    ]
    return pd.DataFrame(rows)


def test_translational_ladder_marks_rungs_certainty_and_harm():
    from grading.gap import gap_summary
    from grading.plots import LADDER_RUNGS, translational_ladder

    st = _ladder_sheet()
    g = grade(st)
    gap = gap_summary(st, g)
    fig, ax = plt.subplots()
    out = translational_ladder(st, grades=g, gap=gap, ax=ax)
    assert out is ax
    texts = [t.get_text() for t in ax.texts]
    # rung headers, labels as text (a '$' pair is never mathtext), counts inside the dots
    for rung in LADDER_RUNGS:
        assert rung in texts
    assert "Stroke" in texts
    # drawn literally (escaped with _style.plain, as every other figure's free text)
    assert any(t._preprocess_math(t.get_text()) == ("skin $x^$ 2020", False) for t in ax.texts)
    assert "2" in texts  # two registered phase 1/2 trials on the phase 1 rung
    pre = gap.set_index("indication").loc["stroke", "preclinical_smd"]
    assert f"animal {pre:+.2f}" in texts
    # big dots: stroke animal, animal MA, phase 1 (hollow: no results), skin's other-human dot
    big = [ln for ln in ax.lines if ln.get_marker() == "o" and ln.get_markersize() == 15]
    assert len(big) == 4
    faces = sorted(to_hex(ln.get_markerfacecolor()) for ln in big)
    assert faces.count("#ffffff") == 2  # registered trials and the case report: no results
    animal = g[(g["stream"] == "animal")]["certainty_within_stream"].iloc[0]
    assert to_hex(CERTAINTY_COLOURS[animal]) in faces
    # the harm signal of the case report
    assert sum(1 for ln in ax.lines if ln.get_marker() == "^") == 1
    fig.canvas.draw()  # renders without mathtext errors


def test_translational_ladder_without_grades_and_bad_input():
    from grading.plots import translational_ladder

    ax = translational_ladder(_ladder_sheet())
    assert ax.figure is not None
    with pytest.raises(InvalidParameterError, match="'grades'"):
        translational_ladder(_ladder_sheet(), grades=[1])
    with pytest.raises(ValidationError, match="'model'"):
        translational_ladder(_ladder_sheet().drop(columns="model"))


def test_translational_ladder_approval_rung_from_indication_specific_rows_only():
    from grading.plots import translational_ladder

    st = _ladder_sheet()
    reg = pd.DataFrame(
        {
            "indication": ["stroke", "all"],
            "jurisdiction": ["EU", "US"],
            "status": ["approved", "approved"],
        }
    )
    ax = translational_ladder(st, regulatory=reg)
    big = [ln for ln in ax.lines if ln.get_marker() == "o" and ln.get_markersize() == 15]
    # stroke gets a filled approval dot; the review-wide 'all' row fills nothing for skin
    assert sum(to_hex(ln.get_markerfacecolor()) == "#1b7837" for ln in big) == 1
    assert len(big) == 5


def test_translational_forest_double_zero_not_estimable_and_dollars_literal():
    d = pd.DataFrame(
        {
            "study_id": ["A $x^$ 2020", "B 2021", "C 2022"],
            "indication": "x",
            "outcome": "death",
            "stream": "human",
            "model": "phase_2",
            "measure": "RR",
            "yi": [0.0, 0.2, -0.3],
            "vi": [2.0, 0.1, 0.2],
            "effect_note": [
                "0.5 added to all cells (zero cell); no events in either arm",
                None,
                None,
            ],
        }
    )
    ax = translational_forest(d, indication="x", scale="log_ratio")
    est = {t.get_text() for t in ax.texts if t.get_gid() == "estimate_text"}
    assert "no events in either arm" in est
    # the double-zero trial is not pooled: the human diamond pools B and C only
    res = pool(d.yi[1:], d.vi[1:])
    (dia,) = [p for p in ax.patches if p.get_gid() == "diamond_stream:human"]
    assert dia.get_xy()[1][0] == pytest.approx(np.exp(res.estimate), rel=1e-9)
    assert "Human pooled (k = 2)" in [t.get_text() for t in ax.texts]
    labels = [t for t in ax.texts if t.get_gid() == "study_label"]
    assert any(t._preprocess_math(t.get_text()) == ("A $x^$ 2020", False) for t in labels)


def _inside_figure(ax):
    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    fb = fig.bbox
    out = []
    for t in ax.texts:
        if not t.get_text().strip():
            continue
        b = t.get_window_extent(r)
        if not (
            b.x0 >= fb.x0 - 1 and b.x1 <= fb.x1 + 1 and b.y0 >= fb.y0 - 1 and b.y1 <= fb.y1 + 1
        ):
            out.append(t.get_text())
    return out


def test_translational_ladder_preclinical_review_has_no_human_rungs():
    """Rule: the phase/approval rungs are drawn only when the sheet has a human record or
    regulatory rows are given; a non-therapeutic animal/plant review gets a note instead.
    Headers and long indication names stay whole inside the figure."""
    from grading.plots import translational_ladder

    long = "maternal diet during pregnancy and lactation (offspring coping style)"
    st = pd.DataFrame(
        [
            dict(
                study_id="P1",
                indication="elevated CO2",
                stream="animal",
                model="other_organism",
                data_type="none",
                outcome="biomass",
            ),
            dict(
                study_id="M1",
                indication=long,
                stream="animal",
                model="rat",
                data_type="none",
                outcome="open arm time",
            ),
        ]
    )
    ax = translational_ladder(st)
    texts = [t.get_text() for t in ax.texts]
    assert not any(t.startswith(("phase", "approval", "other human")) for t in texts)
    assert "harm" not in texts
    (note,) = [t.get_text() for t in ax.texts if t.get_gid() == "ladder_note"]
    assert note.replace("\n", " ").startswith("No human record and no regulatory row")
    labels = [
        t.get_text().replace("\n", " ") for t in ax.texts if t.get_gid() == "indication_label"
    ]
    assert long in labels and "elevated CO2" in labels  # wrapped, never cut
    # an 'animal' stream holding a plant study is not headed 'animal' alone
    assert "animal and\nother organisms" in texts
    assert _inside_figure(ax) == []
    # regulatory rows (or a human record) bring the human rungs back
    reg = pd.DataFrame({"indication": ["elevated CO2"], "status": ["not approved"]})
    texts = [t.get_text() for t in translational_ladder(st, regulatory=reg).texts]
    assert "phase 1" in texts and "approval" in texts
    only_plants = st.iloc[[0]]
    texts = [t.get_text() for t in translational_ladder(only_plants).texts]
    assert "non-animal\norganisms" in texts and "animal" not in texts


def test_translational_ladder_bundled_headers_inside_the_figure(bundled):
    from grading.plots import translational_ladder

    _, eff, grades_ = bundled
    ax = translational_ladder(eff, grades=grades_)
    assert "phase 3" in [t.get_text() for t in ax.texts]
    assert _inside_figure(ax) == []


def test_plant_review_gap_and_translational_forest_say_non_animal_organisms():
    from grading.gap import gap_summary

    st = pd.DataFrame(
        [
            dict(
                study_id=f"P{i}",
                indication="elevated CO2",
                outcome="biomass",
                stream="animal",
                model="other_organism",
                model_detail="PINUS",
                data_type="continuous",
                measure="SMD",
                controlled=True,
                intervention="elevated CO2",
                comparator="ambient CO2",
                outcome_direction="higher_is_better",
                mean_int=m,
                sd_int=1.0,
                n_int=6,
                mean_ctrl=5.0,
                sd_ctrl=1.0,
                n_ctrl=6,
            )
            for i, m in enumerate([7.0, 6.5, 6.8])
        ]
    )
    eff = study_effects(st)
    g = grade(eff, question=None)
    gap = gap_summary(eff, g).iloc[0]
    assert gap["narrative"].startswith("Non-animal organisms: biomass SMD")
    assert "Animal" not in gap["narrative"]
    ax = translational_forest(eff, indication="elevated CO2", grades=g)
    labels = [t.get_text() for t in ax.texts]
    assert "Non-animal organisms" in labels and "Animal" not in labels
    assert any(t.endswith("in non-animal organisms") for t in labels)
