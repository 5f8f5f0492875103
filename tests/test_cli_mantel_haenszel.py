"""``evigap run --method MH`` / ``PETO`` (issue 14 item 1): binary bodies with 2x2 counts are
graded on the Mantel-Haenszel / Peto estimate (metafor ``rma.mh`` / ``rma.peto``, fixtures in
``tests/reference/mh_peto.R``); other bodies fall back to inverse-variance fixed effect with
the reason recorded; pooled.csv, grades.csv, the report and the forest say which method."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import run_main
from reference_loader import as_array, load_fixture

FX = load_fixture("mh_peto")


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EVIGAP_STATE_DIR", str(tmp_path_factory.getbasetemp() / "state"))


def _sheet(path: Path, measure: str = "RR") -> pd.DataFrame:
    """dat.bcg (the 2x2 counts of mh_peto's bcg cases) as one binary outcome, plus a
    continuous outcome of 3 trials and a binary outcome whose rows give only yi/vi."""
    data = FX["cases"]["bcg_mh_RR"]["data"]
    n = len(data["ai"])
    ids = [f"Trial {i + 1}" for i in range(n)]
    common = {
        "citation_key": "colditz1994",
        "indication": "tuberculosis prevention",
        "outcome_direction": "higher_is_worse",
        "outcome_kind": "benefit",
        "stream": "human",
        "model": "clinical_trial",
    }
    binary = pd.DataFrame(
        {
            **common,
            "study_id": ids,
            "outcome": "tuberculosis",
            "data_type": "counts",
            "measure": measure,
            "events_int": data["ai"],
            "n_int": data["n1i"],
            "events_ctrl": data["ci"],
            "n_ctrl": data["n2i"],
        }
    )
    continuous = pd.DataFrame(
        {
            **common,
            "study_id": ids[:3],
            "outcome": "scar size",
            "outcome_direction": "higher_is_better",
            "data_type": "continuous",
            "measure": "MD",
            "mean_int": [5.1, 4.8, 5.6],
            "sd_int": [1.2, 1.1, 1.4],
            "n_int": [40, 52, 38],
            "mean_ctrl": [4.2, 4.5, 4.9],
            "sd_ctrl": [1.3, 1.0, 1.2],
            "n_ctrl": [41, 50, 37],
        }
    )
    sheet = pd.concat([binary, continuous], ignore_index=True)
    sheet.to_csv(path, index=False)
    return sheet


def _run(tmp_path: Path, *args: str) -> Path:
    code, stdout, stderr = run_main("run", "--studies", "s.csv", "--out", "o", *args, cwd=tmp_path)
    assert code == 0, stderr
    return tmp_path / "o"


@pytest.mark.parametrize(
    ("method", "measure", "case"),
    [("MH", "RR", "bcg_mh_RR"), ("MH", "OR", "bcg_mh_OR"), ("PETO", "OR", "bcg_peto")],
)
def test_run_grades_binary_bodies_on_the_mh_estimate(tmp_path, method, measure, case):
    _sheet(tmp_path / "s.csv", measure)
    out = _run(tmp_path, "--method", method, "--no-figures")
    exp = FX["cases"][case]["expected"]
    pooled = pd.read_csv(out / "pooled.csv").set_index("outcome")
    grades = pd.read_csv(out / "grades.csv").set_index("outcome")
    for frame in (pooled, grades):
        row = frame.loc["tuberculosis"]
        assert row["method"] == method and row["ci_method"] == "z" and row["k"] == 13
        np.testing.assert_allclose(
            [row[c] for c in ("estimate", "ci_low", "ci_high", "i2", "q", "q_p")],
            [exp[c] for c in ("beta", "ci.lb", "ci.ub", "I2", "QE", "QEp")],
            rtol=1e-10,
        )
        assert row["tau2"] == 0 and math.isnan(row["pi_low"])
        name = "Mantel-Haenszel" if method == "MH" else "Peto"
        assert f"({name} fixed effect from the 2x2 counts;" in row["estimate_basis"]
    assert pooled.loc["tuberculosis", "se"] == pytest.approx(exp["se"], rel=1e-10)
    # the continuous body: inverse variance, fixed effect, and why
    mdrow = grades.loc["scar size"]
    assert mdrow["method"] == "FE" and mdrow["measure"] == "MD"
    assert (
        f"not pooled by {'Mantel-Haenszel' if method == 'MH' else 'Peto'}: "
        in mdrow["estimate_basis"]
    )
    assert (
        "pools OR, RR, RD from 2x2 counts, not MD; pooled by inverse variance (FE) instead"
        in (mdrow["estimate_basis"])
        or "pools OR from 2x2 counts, not MD; pooled by inverse variance (FE)"
        in (mdrow["estimate_basis"])
    )
    from evidence import pool, study_effects

    table = pd.read_csv(out / "evidence_table.csv")
    md = table[table["outcome"] == "scar size"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fe = pool(md["yi"].to_numpy(), md["vi"].to_numpy(), method="FE")
    assert mdrow["estimate"] == pytest.approx(fe.estimate, rel=1e-12)
    assert study_effects is not None
    # the report says how the bodies were pooled
    report = (out / "report.html").read_text(encoding="utf-8")
    assert f"1 body pooled by {name} (fixed effect, from the 2x2 counts)" in report
    assert "1 body pooled by inverse variance instead" in report


def test_peto_falls_back_for_risk_ratios_and_effect_only_rows(tmp_path):
    sheet = _sheet(tmp_path / "s.csv", "RR")
    out = _run(tmp_path, "--method", "PETO", "--no-figures")
    row = pd.read_csv(out / "grades.csv").set_index("outcome").loc["tuberculosis"]
    assert row["method"] == "FE"
    assert "not pooled by Peto: Peto pools OR from 2x2 counts, not RR" in row["estimate_basis"]
    # MH with rows that report only an effect estimate (yi/vi): inverse variance, said so
    est = sheet.copy()
    tb = est["outcome"] == "tuberculosis"
    est.loc[tb.to_numpy().nonzero()[0][:2], "data_type"] = "estimate"
    est.loc[tb.to_numpy().nonzero()[0][:2], "estimate"] = [0.4, 0.2]
    est.loc[tb.to_numpy().nonzero()[0][:2], "ci_low"] = [0.13, 0.09]
    est.loc[tb.to_numpy().nonzero()[0][:2], "ci_high"] = [1.26, 0.49]
    est.loc[tb.to_numpy().nonzero()[0][:2], ["events_int", "events_ctrl"]] = np.nan
    est.to_csv(tmp_path / "s.csv", index=False)
    out = _run(tmp_path, "--method", "MH", "--no-figures")
    row = pd.read_csv(out / "grades.csv").set_index("outcome").loc["tuberculosis"]
    assert row["method"] == "FE" and row["k"] == 13
    assert "Mantel-Haenszel needs 2x2 counts" in row["estimate_basis"]


def test_forest_of_an_mh_run_draws_the_mh_diamond(tmp_path):
    # the forest of a graded body drawn as the run draws it: the diamond is the grade's
    # Mantel-Haenszel estimate and the weights are MH weights (metafor weights(rma.mh))
    import matplotlib

    matplotlib.use("Agg")
    from evidence import study_effects
    from evidence.ingest import read_studies
    from grading import grade
    from grading.plots import forest_plot
    from grading.pooled import body_forests
    from grading.scheme import load_scheme

    _sheet(tmp_path / "s.csv", "RR")
    studies = study_effects(read_studies(tmp_path / "s.csv").studies)
    scheme = load_scheme(None).replace(pool_method="MH")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grades = grade(studies, scheme=scheme)
    (g, rows), *_ = [b for b in body_forests(studies, grades) if b[0]["outcome"] == "tuberculosis"]
    ax = forest_plot(rows, measure="RR", method="MH", cluster="study_id")
    diamond = next(p for p in ax.patches if p.get_gid() == "diamond_total")
    top = diamond.get_xy()[1]
    assert math.log(top[0]) == pytest.approx(g["estimate"], rel=1e-9)
    exp = FX["cases"]["bcg_mh_RR"]["expected"]
    weights = [t.get_text() for t in ax.texts if t.get_gid() == "weight_text"]
    want = [f"{w:.1f}" for w in as_array(exp["weights"])]
    assert weights[: len(want)] == want
    texts = " ".join(t.get_text() for t in ax.figure.findobj(matplotlib.text.Text))
    assert "Risk Ratio\nM-H, Fixed, 95% CI" in texts
    assert "Mantel-Haenszel fixed-effect model (M-H, Fixed): Mantel-Haenszel weights" in texts


def _texts(ax, gid=None):
    import matplotlib

    return [
        t.get_text()
        for t in ax.figure.findobj(matplotlib.text.Text)
        if gid is None or t.get_gid() == gid
    ]


def _effects(tmp_path, measure):
    from evidence import study_effects
    from evidence.ingest import read_studies

    _sheet(tmp_path / "s.csv", measure)
    studies = study_effects(read_studies(tmp_path / "s.csv").studies)
    return studies[studies["outcome"] == "tuberculosis"].reset_index(drop=True)


def test_peto_forest_shows_each_studys_peto_odds_ratio(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from grading.plots import forest_plot

    rows = _effects(tmp_path, "OR")
    ax = forest_plot(rows, measure="OR", method="PETO")
    exp = FX["cases"]["bcg_peto"]["expected"]
    yi, vi = as_array(exp["yi"]), as_array(exp["vi"])
    z = 1.959963984540054
    want = [
        f"{math.exp(y):.2f} [{math.exp(y - z * math.sqrt(v)):.2f}, "
        f"{math.exp(y + z * math.sqrt(v)):.2f}]"
        for y, v in zip(yi, vi, strict=True)
    ]
    shown = [t.replace("\u2212", "-") for t in _texts(ax, "estimate_text")]
    assert shown[: len(want)] == want
    total = f"{math.exp(exp['beta']):.2f} [{math.exp(exp['ci.lb']):.2f}, "
    assert _texts(ax, "total_estimate_text")[0].replace("\u2212", "-").startswith(total)
    assert "Odds Ratio\nPeto, Fixed, 95% CI" in _texts(ax)


def test_mh_forest_subgroups_and_fallback_footer(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from evidence import pool
    from grading.plots import forest_plot

    rows = _effects(tmp_path, "RR").assign(arm=["a"] * 6 + ["b"] * 7)
    ax = forest_plot(rows, measure="RR", method="MH", subgroup="arm")
    fits = [
        pool(rows[rows["arm"] == g], method="MH", measure="RR") for g in ("a", "b")
    ]  # each subgroup's diamond is its own MH fit
    est, se = np.array([f.estimate for f in fits]), np.array([f.se for f in fits])
    w = 1 / se**2
    q = float((w * (est - (w * est).sum() / w.sum()) ** 2).sum())
    footer = " ".join(_texts(ax, "footer"))
    assert f"Test for subgroup differences: Q = {q:.2f}, df = 1" in footer
    # rows of one study: MH would count shared participants twice -> inverse variance
    dup = pd.concat([rows, rows.iloc[:1]], ignore_index=True)
    ax = forest_plot(dup, measure="RR", method="MH", cluster="study_id")
    footer = " ".join(_texts(ax, "footer"))
    assert "Not pooled by Mantel-Haenszel: several rows per study (14 rows from 13" in footer
    assert "M-H, Fixed" not in " ".join(_texts(ax, "column_header"))


def test_forest_bad_result_type():
    import matplotlib

    matplotlib.use("Agg")
    from evidence.errors import InvalidParameterError
    from grading.plots import forest_plot

    frame = pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.01, 0.02]})
    with pytest.raises(InvalidParameterError, match="PoolResult or MHResult"):
        forest_plot(frame, result=object())
    with pytest.raises(InvalidParameterError, match="'method' argument of forest_plot"):
        forest_plot(frame, method="MHX")


@pytest.mark.parametrize("case", ["nielweise2007_mh_OR", "nielweise2007_mh_RR", "hahn2001_peto"])
def test_grade_sparse_bodies_match_metafor(case):
    # single-zero trials enter the MH / Peto sums uncorrected; double-zero trials are left
    # out of the body as not estimable (they add nothing to the MH OR/RR and are not in Q),
    # so the grade is metafor's rma.mh() / rma.peto() on all trials
    from grading import grade
    from grading.scheme import load_scheme

    fx = FX["cases"][case]
    data = {k: as_array(v) for k, v in fx["data"].items()}
    n = len(data["ai"])
    measure = fx["args"].get("measure", "OR")
    sheet = pd.DataFrame(
        {
            "study_id": [f"T{i}" for i in range(n)],
            "indication": "infection",
            "outcome": "bloodstream infection",
            "outcome_direction": "higher_is_worse",
            "stream": "human",
            "model": "clinical_trial",
            "randomised": True,
            "data_type": "counts",
            "measure": measure,
            "events_int": data["ai"],
            "n_int": data["n1i"],
            "events_ctrl": data["ci"],
            "n_ctrl": data["n2i"],
        }
    )
    from evidence import study_effects

    method = "PETO" if "peto" in case else "MH"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = grade(study_effects(sheet), scheme=load_scheme(None).replace(pool_method=method)).iloc[
            0
        ]
    exp = fx["expected"]
    double_zero = int(((data["ai"] == 0) & (data["ci"] == 0)).sum())
    assert double_zero >= 1 and g["k"] == n - double_zero and g["method"] == method
    np.testing.assert_allclose(
        [g[c] for c in ("estimate", "ci_low", "ci_high", "q", "q_p", "i2")],
        [exp[c] for c in ("beta", "ci.lb", "ci.ub", "QE", "QEp", "I2")],
        rtol=1e-10,
    )
    assert "left out as not estimable" in g["estimate_basis"]


def test_mh_run_draws_the_forest(tmp_path):
    _sheet(tmp_path / "s.csv", "RR")
    out = _run(tmp_path, "--method", "MH")
    figures = sorted(p.name for p in (out / "figures").glob("forest_*.png"))
    assert len(figures) == 2 and any("tuberculosis" in f for f in figures)
    import json

    notes = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["notes"]
    assert not [n for n in notes if "Forest plot" in str(n)]


def _graded(tmp_path, measure, method):
    from grading import grade
    from grading.scheme import load_scheme

    rows = _effects(tmp_path, measure)
    scheme = load_scheme(None).replace(pool_method=method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grades = grade(rows, scheme=scheme)
    return rows, grades[grades["outcome"] == "tuberculosis"].iloc[0]


def _human_diamond(ax):
    (diamond,) = [p for p in ax.patches if p.get_gid() == "diamond_stream:human"]
    (lo, _), (est, _), (hi, _), _ = diamond.get_xy()[:4]
    return [math.log(est), math.log(lo), math.log(hi)]


@pytest.mark.parametrize(
    ("method", "measure", "case"),
    [("MH", "RR", "bcg_mh_RR"), ("MH", "OR", "bcg_mh_OR"), ("PETO", "OR", "bcg_peto")],
)
def test_translational_forest_diamond_is_the_graded_mh_estimate(tmp_path, method, measure, case):
    # one body, one interval: the translational forest of an MH / Peto run pools the human
    # stream as grade() does (metafor rma.mh / rma.peto), not by inverse variance
    import matplotlib

    matplotlib.use("Agg")
    from grading.plots import translational_forest

    rows, g = _graded(tmp_path, measure, method)
    assert g["method"] == method
    ax = translational_forest(
        rows, indication="tuberculosis prevention", scale="log_ratio", method=method
    )
    exp = FX["cases"][case]["expected"]
    drawn = _human_diamond(ax)
    np.testing.assert_allclose(drawn, [g["estimate"], g["ci_low"], g["ci_high"]], rtol=1e-9)
    np.testing.assert_allclose(drawn, [exp["beta"], exp["ci.lb"], exp["ci.ub"]], rtol=1e-9)
    name = "Mantel-Haenszel" if method == "MH" else "Peto"
    footer = " ".join(_texts(ax, "footer"))
    assert f"pooled by {name} (2x2 counts, fixed effect), 95% CI" in footer
    assert "inverse variance" not in footer
    assert "(common-effect)" in " ".join(_texts(ax))


def test_translational_forest_falls_back_to_inverse_variance_as_grade_does(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from evidence import pool
    from grading.plots import translational_forest

    # Peto pools odds ratios only: the risk ratios are pooled by inverse variance (FE)
    rows, g = _graded(tmp_path, "RR", "PETO")
    assert g["method"] == "FE"
    ax = translational_forest(
        rows, indication="tuberculosis prevention", scale="log_ratio", method="PETO"
    )
    fe = pool(rows["yi"].to_numpy(), rows["vi"].to_numpy(), method="FE")
    np.testing.assert_allclose(
        _human_diamond(ax), [g["estimate"], g["ci_low"], g["ci_high"]], rtol=1e-9
    )
    assert g["estimate"] == pytest.approx(fe.estimate, rel=1e-12)
    footer = " ".join(_texts(ax, "footer"))
    assert "pooled by inverse variance (FE), 95% CI" in footer
    assert (
        "Not pooled by Peto (Human): Peto pools OR from 2x2 counts, not RR; inverse "
        "variance (FE) instead." in footer
    )
    # several rows of one study: MH would count shared participants twice
    dup = pd.concat([rows, rows.iloc[:1]], ignore_index=True)
    ax = translational_forest(
        dup, indication="tuberculosis prevention", scale="log_ratio", method="MH"
    )
    fe = pool(dup["yi"].to_numpy(), dup["vi"].to_numpy(), method="FE")
    assert _human_diamond(ax)[0] == pytest.approx(fe.estimate, rel=1e-9)
    footer = " ".join(_texts(ax, "footer"))
    assert "Not pooled by Mantel-Haenszel (Human): several rows per study (14 rows from" in footer
    # the default (REML) is untouched: inverse variance, random effects
    ax = translational_forest(rows, indication="tuberculosis prevention", scale="log_ratio")
    reml = pool(rows["yi"].to_numpy(), rows["vi"].to_numpy(), method="REML")
    assert _human_diamond(ax)[0] == pytest.approx(reml.estimate, rel=1e-9)
    assert "pooled by inverse variance (REML), 95% CI" in " ".join(_texts(ax, "footer"))


def test_mh_run_translational_forest_shows_the_graded_interval(tmp_path, monkeypatch):
    # the run's translational forest and grades.csv give the body one interval
    from grading import plots

    drawn: list[list[float]] = []
    draw = plots.translational_forest

    def spy(*args, **kwargs):
        ax = draw(*args, **kwargs)
        drawn.append(_human_diamond(ax))
        return ax

    monkeypatch.setattr(plots, "translational_forest", spy)
    _sheet(tmp_path / "s.csv", "OR")
    out = _run(tmp_path, "--method", "MH")
    g = pd.read_csv(out / "grades.csv").set_index("outcome").loc["tuberculosis"]
    assert g["method"] == "MH"
    assert len(drawn) == 1
    np.testing.assert_allclose(drawn[0], [g["estimate"], g["ci_low"], g["ci_high"]], rtol=1e-9)
