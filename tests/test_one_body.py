"""One body, one set of numbers (issue 11 item 1).

For every graded body that pools primary studies, the estimate of ``grade()``, the estimate of
``pooled.csv`` (``RunResult.pooled``) and the diamond of the body's forest
(:func:`grading.pooled.body_forests` drawn with :func:`grading.plots.forest_plot`) are one
number, and the forest draws exactly the rows ``estimate_rows`` names.  Checked on the bundled
review and on two sheets built from metadat fixtures of ``tests/reference/`` (written by
``forest_metadat.R`` with metafor 3.8-1):

* ``dat.axfors2021``: 33 COVID-19 trials, 15 without deaths in either arm.  Double-zero trials
  are not estimable for an odds ratio (Cochrane Handbook 10.4.4.2): the grade, pooled.csv and
  the forest all leave them out, and the estimate is metafor's ``rma()`` on
  ``escalc(..., drop00=TRUE)``;
* ``dat.besson2016`` (Rearing): several comparisons per study, pooled with a cluster-robust
  (CR2) standard error by study; the forest's diamond carries the same interval.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from evidence.measures import to_natural  # noqa: E402
from grading import grade  # noqa: E402
from grading.pipeline import bundled_inputs, run_review  # noqa: E402
from grading.plots import forest_plot  # noqa: E402
from grading.plots._forest_core import not_estimable_reasons  # noqa: E402
from grading.pooled import body_forests  # noqa: E402

REF = Path(__file__).parent / "reference"


def _diamond(ax) -> tuple[float, float, float]:
    (p,) = [p for p in ax.patches if p.get_gid() == "diamond_total"]
    v = p.get_xy()
    return v[0][0], v[1][0], v[2][0]


def _check_one_body(result) -> int:
    """Grade == pooled.csv == forest diamond for every body; returns the bodies checked."""
    grades, pooled, table = result.grades, result.pooled, result.evidence_table
    key = ["indication", "outcome", "stream"]
    estimable = grades[grades["estimable"].astype(bool)]
    # pooled.csv is the graded bodies: same keys, same numbers
    assert len(pooled) == len(estimable)
    merged = estimable.merge(pooled, on=key, suffixes=("", "_pooled"), validate="1:1")
    for col in ("estimate", "ci_low", "ci_high", "estimate_rows", "estimate_basis"):
        assert (merged[col] == merged[f"{col}_pooled"]).all(), col
    scheme = result.manifest.get("scheme") or {}
    options = {
        "method": scheme.get("pool_method", "REML"),
        "ci_method": scheme.get("ci_method", "z"),
        "level": scheme.get("level", 0.95),
    }
    checked = 0
    for g, rows in body_forests(table, grades):
        sel = [int(i) for i in str(g["estimate_rows"]).split("; ")]
        m = str(g["measure"])
        # the forest draws exactly the graded rows; the others of the body are not estimable
        yi = pd.to_numeric(rows["yi"], errors="coerce").to_numpy(float)
        vi = pd.to_numeric(rows["vi"], errors="coerce").to_numpy(float)
        reasons = not_estimable_reasons(rows.reset_index(drop=True), m, yi, vi)
        positions = [table.index.get_loc(i) for i in rows.index]
        drawn = sorted(p for p, r in zip(positions, reasons, strict=True) if not r)
        assert drawn == sorted(sel), (g["indication"], g["outcome"], g["stream"])
        pooled_row = merged[(merged[key] == g[key]).all(axis=1)].iloc[0]
        if len(sel) == 1:  # one row: the forest shows it without a diamond
            assert g["estimate"] == pytest.approx(float(yi[[not r for r in reasons]][0]), rel=1e-12)
            checked += 1
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ax = forest_plot(rows, measure=m, cluster="study_id", **options)
        left, centre, right = _diamond(ax)
        plt.close(ax.figure)
        for est in (g["estimate"], pooled_row["estimate_pooled"]):
            assert centre == pytest.approx(to_natural(m, est), rel=1e-9)
        assert left == pytest.approx(to_natural(m, g["ci_low"]), rel=1e-9)
        assert right == pytest.approx(to_natural(m, g["ci_high"]), rel=1e-9)
        checked += 1
    return checked


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    paths = bundled_inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_review(
            paths["studies"],
            bib=paths["bib"],
            out_dir=tmp_path_factory.mktemp("bundled"),
            figures=False,
            report=False,
        )


def test_bundled_review_one_body_one_estimate(bundled):
    n = _check_one_body(bundled)
    assert n >= 5  # bodies of primary studies in the bundled review


def _sheet(frame: pd.DataFrame, **cells) -> pd.DataFrame:
    base = {
        "citation_key": "",
        "intervention": "intervention",
        "comparator": "control",
        "stream": "human",
        "model": "phase_3",
        "randomised": True,
        "controlled": True,
        "data_type": "counts",
    }
    base.update(cells)
    return frame.assign(**base)


def _run(frame: pd.DataFrame, tmp_path: Path):
    csv = tmp_path / "sheet.csv"
    frame.to_csv(csv, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_review(csv, out_dir=tmp_path / "out", figures=False, report=False)


def test_double_zero_trials_left_out_everywhere(tmp_path):
    a = pd.read_csv(REF / "forest_axfors2021.csv")
    both_zero = (a.events_int == 0) & (a.events_ctrl == 0)
    assert int(both_zero.sum()) == 15
    # two trials have two rows each (two arms against one control); metafor's fit in the
    # fixture treats the 33 rows as independent, so the rows get their own ids here
    dup = a["study_id"].duplicated(keep=False)
    a.loc[dup, "study_id"] = (
        a.loc[dup, "study_id"] + " arm " + (a[dup].groupby("study_id").cumcount() + 1).astype(str)
    )
    sheet = _sheet(
        a[["study_id", "events_int", "n_int", "events_ctrl", "n_ctrl"]],
        indication="COVID-19",
        outcome="all-cause mortality",
        outcome_direction="higher_is_worse",
        outcome_kind="harm",
        measure="OR",
    )
    result = _run(sheet, tmp_path)
    (g,) = [g for _, g in result.grades.iterrows()]
    assert g["k"] == 18
    assert "15 records" in g["estimate_basis"] and "10.4.4.2" in g["estimate_basis"]
    assert "left out as not estimable" in g["estimate_basis"]
    # metafor: rma(escalc("OR", ..., drop00=TRUE), method="REML")
    summary = pd.read_csv(REF / "forest_metadat_summary.csv", index_col=0)
    ref = summary.loc["axfors2021_drop00"]
    assert g["estimate"] == pytest.approx(ref.estimate, rel=1e-6)
    assert g["ci_low"] == pytest.approx(ref.ci_low, rel=1e-6)
    assert g["ci_high"] == pytest.approx(ref.ci_high, rel=1e-6)
    assert _check_one_body(result) == 1


def test_only_double_zero_trials_is_no_evidence():
    d = pd.DataFrame(
        {
            "study_id": ["A", "B"],
            "events_int": [0, 0],
            "n_int": [10, 12],
            "events_ctrl": [0, 0],
            "n_ctrl": [11, 10],
        }
    )
    sheet = _sheet(
        d,
        indication="x",
        outcome="death",
        outcome_direction="higher_is_worse",
        outcome_kind="harm",
        measure="RR",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = grade(sheet).iloc[0]
    assert not g["estimable"] and g["evidence_status"] == "no evidence"
    assert "10.4.4.2" in g["no_evidence_reason"]
    assert g["certainty"] in ("", None) or pd.isna(g["certainty"])


def test_several_rows_per_study_cluster_robust_in_grade_and_forest(tmp_path):
    b = pd.read_csv(REF / "forest_besson2016_rearing.csv")
    b = b[np.isfinite(b["sd_int"]) & np.isfinite(b["sd_ctrl"])]
    sheet = _sheet(
        b[
            [
                "study_id",
                "comparison",
                "mean_int",
                "sd_int",
                "n_int",
                "mean_ctrl",
                "sd_ctrl",
                "n_ctrl",
            ]
        ].reset_index(drop=True),
        indication="maternal diet",
        outcome="rearing",
        outcome_direction="higher_is_better",
        outcome_kind="benefit",
        measure="SMD",
        stream="animal",
        model="rat",
        data_type="continuous",
    )
    assert sheet["study_id"].duplicated().any()
    result = _run(sheet, tmp_path)
    (g,) = [g for _, g in result.grades.iterrows()]
    assert "cluster-robust" in g["estimate_basis"]
    assert _check_one_body(result) == 1
    # the forest says how its interval was made
    ((_, rows),) = body_forests(result.evidence_table, result.grades)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ax = forest_plot(rows, measure="SMD", cluster="study_id")
    foot = [t.get_text() for t in ax.texts if t.get_gid() == "footer"]
    plt.close(ax.figure)
    text = " ".join(foot)
    assert "cluster-robust (CR2)" in text and "Pustejovsky" in text


# ------------------------------------------------------------------ the stated method (CR2)

ML = json.loads((REF / "multilevel_fixtures.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["cr2_uni_assink_reml", "cr2_uni_kon_reml"])
def test_grade_pools_several_rows_per_study_with_cr2_as_clubsandwich(name):
    """grade() pools a body with several rows per study as metafor 3.8-1
    ``robust(rma(yi, vi, method="REML"), cluster=study, clubSandwich=TRUE)`` (CR2,
    Satterthwaite df; fixtures of ``tests/reference/multilevel.R``)."""
    case = ML["cases"][name] if "cases" in ML else ML[name]
    inp, exp = case["input"], case["expected"]
    sheet = pd.DataFrame(
        {"study_id": [f"study {c}" for c in inp["cluster"]], "yi": inp["yi"], "vi": inp["vi"]}
    ).assign(
        indication="x",
        outcome="y",
        stream="human",
        model="phase_3",
        randomised=True,
        controlled=True,
        data_type="estimate",
        measure="MD",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = grade(sheet).iloc[0]
    assert g["k"] == exp["n_clusters"] and g["k_records"] == len(inp["yi"])
    assert "CR2" in g["estimate_basis"] and "Pustejovsky" in g["estimate_basis"]
    for col, key in (
        ("estimate", "beta"),
        ("se", "se"),
        ("ci_low", "ci_lb"),
        ("ci_high", "ci_ub"),
        ("pi_low", "pi_lb"),
        ("pi_high", "pi_ub"),
        ("tau2", "tau2"),
    ):
        assert g[col] == pytest.approx(exp[key], rel=1e-6), col
