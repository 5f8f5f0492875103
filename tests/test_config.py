"""The run steered from the command line and from a TOML config file (issue 13, item 5).

End to end on a real public dataset (BCG vaccine trials, Colditz 1994 via metadat's dat.bcg,
bundled as ``data/bcg.csv``): a config file chooses OR, DerSimonian-Laird with Knapp-Hartung
intervals and a subgroup analysis by allocation; the pooled numbers and the tests for subgroup
differences agree with metafor (``tests/reference/cli_run.R``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import run_main

from grading.config import (
    UnsupportedOptionError,
    check_options,
    load_config,
    parse_zero_cell,
    supported,
)

REF = Path(__file__).resolve().parent / "reference" / "cli_run_fixtures.json"


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EVIGAP_STATE_DIR", str(tmp_path_factory.getbasetemp() / "state"))


def _bcg_sheet(path: Path) -> Path:
    """dat.bcg in evigap's columns (as a user would prepare it), measure RR in the sheet."""
    from evidence.datasets import load_dataset

    bcg = load_dataset("bcg")
    sheet = pd.DataFrame(
        {
            "study_id": bcg["author"].astype(str) + " " + bcg["year"].astype(str),
            "citation_key": "colditz1994",
            "indication": "tuberculosis prevention",
            "outcome": "tuberculosis",
            "outcome_direction": "higher_is_worse",
            "outcome_kind": "benefit",
            "stream": "human",
            "model": "clinical_trial",
            "data_type": "counts",
            "measure": "RR",
            "events_int": bcg["tpos"],
            "n_int": bcg["tpos"] + bcg["tneg"],
            "events_ctrl": bcg["cpos"],
            "n_ctrl": bcg["cpos"] + bcg["cneg"],
            "alloc": bcg["alloc"],
        }
    )
    sheet.to_csv(path, index=False)
    return path


def _close(a, b, rel=1e-6):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rel, atol=1e-12)


def test_config_file_run_matches_metafor(tmp_path):
    ref = json.loads(REF.read_text(encoding="utf-8"))
    (tmp_path / "data").mkdir()
    _bcg_sheet(tmp_path / "data" / "bcg_trials.csv")
    config = tmp_path / "review.toml"
    config.write_text(
        'studies = "data/bcg_trials.csv"\n'
        'out = "results"\n'
        'measure = "OR"\n'
        'method = "DL"\n'
        'ci_method = "knha"\n'
        'subgroup = "alloc"\n'
        "figures = false\n",
        encoding="utf-8",
    )
    code, stdout, stderr = run_main("run", "--config", "review.toml", cwd=tmp_path)
    assert code == 0, stderr
    assert "--measure OR: 13 row(s) computed as OR (13 changed)." in stdout
    out = tmp_path / "results"
    pooled = pd.read_csv(out / "pooled.csv")
    assert len(pooled) == 1
    row = pooled.iloc[0]
    exp = ref["pooled"]["all_OR_DL_knha"]
    assert (row["measure"], row["method"], row["ci_method"], row["k"]) == ("OR", "DL", "hksj", 13)
    _close(
        [row[c] for c in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q")],
        [exp[c] for c in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q")],
    )
    # the grades use the same pooling options
    grades = pd.read_csv(out / "grades.csv")
    _close(
        grades[["estimate", "ci_low", "ci_high"]].to_numpy()[0],
        [exp["estimate"], exp["ci_low"], exp["ci_high"]],
    )  # log scale, as stored
    table = pd.read_csv(out / "evidence_table.csv")
    assert (table["measure"] == "OR").all()
    assert (
        table["effect_note"]
        .str.contains("measure RR in the sheet, computed as OR (--measure)", regex=False)
        .all()
    )
    # subgroups: one pooled row per allocation, and the two tests
    groups = pd.read_csv(out / "subgroups.csv").set_index("subgroup_value")
    for alloc in ("random", "alternate", "systematic"):
        exp = ref["pooled"][f"{alloc}_OR_DL_knha"]
        got = groups.loc[alloc]
        assert got["k"] == exp["k"]
        _close(
            [got[c] for c in ("estimate", "se", "ci_low", "ci_high", "tau2")],
            [exp[c] for c in ("estimate", "se", "ci_low", "ci_high", "tau2")],
        )
    tests = pd.read_csv(out / "subgroup_tests.csv").set_index("test")
    between, moderator = ref["between"], ref["moderator"]
    _close(
        tests.loc["between (separate tau2)", ["stat", "p_value"]],
        [between["stat"], between["p_value"]],
    )
    assert tests.loc["between (separate tau2)", "df"] == between["df"]
    _close(
        tests.loc["moderator (common tau2)", ["stat", "p_value", "tau2"]],
        [moderator["stat"], moderator["p_value"], moderator["tau2"]],
    )
    # the config file and every option are in the manifest
    from grading.manifest import sha256_file

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["config"]["sha256"] == sha256_file(config)
    assert {
        "measure": "OR",
        "method": "DL",
        "ci_method": "hksj",
        "subgroup": "alloc",
        "figures": False,
    }.items() <= manifest["options"].items()
    assert manifest["scheme"]["pool_method"] == "DL"
    assert manifest["scheme"]["ci_method"] == "hksj"


def test_command_line_wins_over_config(tmp_path):
    _bcg_sheet(tmp_path / "bcg.csv")
    (tmp_path / "c.toml").write_text(
        'studies = "bcg.csv"\nout = "from_config"\nmethod = "DL"\nfigures = false\n',
        encoding="utf-8",
    )
    code, _, stderr = run_main(
        "run", "--config", "c.toml", "--method", "REML", "--out", "cli", "-q", cwd=tmp_path
    )
    assert code == 0, stderr
    assert not (tmp_path / "from_config").exists()
    pooled = pd.read_csv(tmp_path / "cli" / "pooled.csv")
    assert pooled["method"].tolist() == ["REML"]


def test_by_splits_bodies(tmp_path):
    _bcg_sheet(tmp_path / "bcg.csv")
    code, stdout, stderr = run_main(
        "run", "--studies", "bcg.csv", "--by", "alloc", "--out", "o", "--no-figures", cwd=tmp_path
    )
    assert code == 0, stderr
    grades = pd.read_csv(tmp_path / "o" / "grades.csv")
    assert sorted(grades["indication"]) == [
        "tuberculosis prevention (alloc: alternate)",
        "tuberculosis prevention (alloc: random)",
        "tuberculosis prevention (alloc: systematic)",
    ]
    assert sorted(grades["k"]) == [2, 4, 7]
    assert "Bodies split by alloc (--by)" in stdout


def test_question_within_is_passed_to_grade(tmp_path):
    from evidence.datasets import bundled_path

    sheet = pd.read_csv(bundled_path("exosome_studies.csv"), dtype="string").head(40)
    sheet.to_csv(tmp_path / "s.csv", index=False)
    for question in ("human", "within"):
        code, _, stderr = run_main(
            "run",
            "--studies",
            "s.csv",
            "--question",
            question,
            "--out",
            question,
            "-q",
            "--no-figures",
            cwd=tmp_path,
        )
        assert code == 0, stderr
    human = pd.read_csv(tmp_path / "human" / "grades.csv")
    within = pd.read_csv(tmp_path / "within" / "grades.csv")
    animal_h = human[human["stream"] == "animal"]
    animal_w = within[within["stream"] == "animal"]
    assert len(animal_h) > 0
    assert (animal_h["translational_indirectness"] < 0).any()  # downgraded for a human question
    assert (animal_w["translational_indirectness"] == 0).all()  # own question: no step


# --------------------------------------------------------------------------- refused up front


def _refused(tmp_path: Path, *args: str) -> str:
    _bcg_sheet(tmp_path / "bcg.csv")
    code, stdout, stderr = run_main(
        "run", "--studies", "bcg.csv", "--out", "o", *args, cwd=tmp_path
    )
    assert code == 2, stderr
    assert "Traceback" not in stderr and "pool_groups" not in stderr
    assert not (tmp_path / "o").exists()
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("evigap: error: ")
    return lines[0]


def test_unsupported_method_lists_the_supported_ones(tmp_path):
    from evidence.pooling import METHODS

    line = _refused(tmp_path, "--method", "NOPE")
    assert line.endswith(f"supported methods: {', '.join([*METHODS, 'MH', 'PETO'])}.")
    assert "--method 'NOPE' is not supported by this version" in line


def test_mantel_haenszel_and_peto_are_run_options():
    # grade() pools binary bodies with 2x2 counts by MH / Peto (issue 14 item 1)
    assert check_options(method="mh").method == "MH"
    assert check_options(method=" Peto ").method == "PETO"
    assert supported()["method"][-2:] == ("MH", "PETO")


def test_unsupported_question_and_ci_method(tmp_path):
    line = _refused(tmp_path, "--question", "plants")
    assert f"supported questions: {', '.join(supported()['question'])}." in line
    assert "within" in supported()["question"] and "human" in supported()["question"]
    # exactly what grade(question=) takes ("within" is None there)
    from evidence.errors import InvalidParameterError
    from evidence.ingest import read_studies
    from grading import grade

    studies = read_studies(_bcg_sheet(tmp_path / "q.csv")).studies
    expected = []
    for q in ("human", "within", "animal", "in_vitro"):
        try:
            grade(studies, question=None if q == "within" else q)
        except InvalidParameterError:
            continue
        expected.append(q)
    assert sorted(supported()["question"]) == sorted(expected)
    if "animal" not in expected:
        folder = tmp_path / "animal"
        folder.mkdir()
        line = _refused(folder, "--question", "animal")
        assert line.endswith(f"supported questions: {', '.join(expected)}.")
    line = _refused(
        tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path, "--ci-method", "bootstrap"
    )
    assert "supported CI methods: z, hksj, hksj_adhoc" in line


def test_zero_cell_settings(tmp_path):
    assert parse_zero_cell("add=0.25, to=all,drop00=true") == {
        "add": 0.25,
        "to": "all",
        "drop00": True,
    }
    assert check_options(zero_cell="add=0.5,to=only0,drop00=false").zero_cell == {}  # defaults
    with pytest.raises(UnsupportedOptionError, match="to 'sometimes' is not supported"):
        check_options(zero_cell="to=sometimes")
    with pytest.raises(UnsupportedOptionError, match="unknown setting 'pad'"):
        check_options(zero_cell={"pad": 1})
    settable = supported()["zero_cell"]
    if "add" in settable:
        assert check_options(zero_cell="add=1").zero_cell == {"add": 1.0}
    else:
        line = _refused(tmp_path, "--zero-cell", "add=1")
        assert "--zero-cell add=1.0 is not supported by this version" in line
        assert "metafor's defaults (add=0.5, to=only0, drop00=false)" in line


def test_baseline_risk(tmp_path):
    with pytest.raises(UnsupportedOptionError, match="between 0 and 1"):
        check_options(baseline_risk="1.5")
    if supported()["baseline_risk"]:
        assert check_options(baseline_risk="0.2").baseline_risk == 0.2
    else:
        line = _refused(tmp_path, "--baseline-risk", "0.2")
        assert "--baseline-risk is not supported by this version yet" in line


def test_missing_by_column_is_a_clean_error(tmp_path):
    line = _refused(tmp_path, "--subgroup", "continent")
    assert "The column 'continent' (--by/--subgroup) is not in the study sheet" in line


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('studies = "x.csv"\nmesure = "OR"\n', encoding="utf-8")
    with pytest.raises(Exception, match="unknown key 'mesure'"):
        load_config(bad)
    bad.write_text("studies = [1]\n", encoding="utf-8")
    with pytest.raises(Exception, match="'studies' must be a file or folder name"):
        load_config(bad)
    bad.write_text("this is not toml = [\n", encoding="utf-8")
    code, _, stderr = run_main("run", "--config", "bad.toml", cwd=tmp_path)
    assert code == 2 and "is not valid TOML" in stderr


def test_config_input_tables(tmp_path):
    """``[input]``/``[columns]`` go to read_studies() when it takes them, else refused."""
    sheet = _bcg_sheet(tmp_path / "bcg.csv")
    raw = pd.read_csv(sheet).rename(columns={"events_int": "x.vacc", "n_int": "n.vacc"})
    raw.to_csv(tmp_path / "raw.csv", index=False)
    (tmp_path / "c.toml").write_text(
        'studies = "raw.csv"\nfigures = false\n[columns]\n"x.vacc" = "events_int"\n'
        '"n.vacc" = "n_int"\n',
        encoding="utf-8",
    )
    if "columns" in supported()["input"]:
        code, _, stderr = run_main("run", "--config", "c.toml", "--out", "o", "-q", cwd=tmp_path)
        assert code == 0, stderr
        assert len(pd.read_csv(tmp_path / "o" / "evidence_table.csv")) == 13
    else:
        code, _, stderr = run_main("run", "--config", "c.toml", "--out", "o", cwd=tmp_path)
        assert code == 2
        assert "[columns] is not supported by this version yet" in stderr
        assert not (tmp_path / "o").exists()


def test_overrides_file_from_the_command_line(tmp_path):
    from grading.manifest import sha256_file

    _bcg_sheet(tmp_path / "bcg.csv")
    (tmp_path / "overrides.csv").write_text(
        "indication,outcome,stream,domain,step,reason,by\n"
        "tuberculosis prevention,tuberculosis,human,publication_bias,-1,"
        "asymmetric funnel judged by the reviewers,AB\n",
        encoding="utf-8",
    )
    code, _, stderr = run_main(
        "run",
        "--studies",
        "bcg.csv",
        "--overrides",
        "overrides.csv",
        "--out",
        "o",
        "-q",
        "--no-figures",
        cwd=tmp_path,
    )
    assert code == 0, stderr
    grades = pd.read_csv(tmp_path / "o" / "grades.csv")
    assert grades["publication_bias"].tolist() == [-1]
    assert grades["publication_bias_override_by"].tolist() == ["AB"]
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["overrides"]["sha256"] == sha256_file(tmp_path / "overrides.csv")


def test_zero_cell_from_the_command_line_matches_escalc(tmp_path):
    """--zero-cell to=all,drop00=true on metadat's dat.hahn2001 (12 trials, 3 without events
    in either arm; labels below are neutral, the counts are the dataset's) gives metafor's
    escalc(measure="RR", ..., to="all", drop00=TRUE) in evidence_table.csv, and the pooled
    body leaves the dropped trials out."""
    from reference_loader import as_array, load_fixture

    case = load_fixture("escalc")["cases"]["hahn2001_RR_all_drop00"]
    d = case["data"]
    ai, n1, ci, n2 = (as_array(d[c]) for c in ("ai", "n1i", "ci", "n2i"))
    pd.DataFrame(
        {
            "study_id": [f"trial {i + 1}" for i in range(len(ai))],
            "indication": "dat.hahn2001",
            "outcome": "event as coded in dat.hahn2001",
            "outcome_kind": "benefit",
            "outcome_direction": "higher_is_worse",
            "stream": "human",
            "model": "clinical_trial",
            "data_type": "counts",
            "measure": "RR",
            "events_int": ai,
            "n_int": n1,
            "events_ctrl": ci,
            "n_ctrl": n2,
        }
    ).to_csv(tmp_path / "hahn.csv", index=False)
    code, stdout, stderr = run_main(
        "run",
        "--studies",
        "hahn.csv",
        "--zero-cell",
        "to=all,drop00=true",
        "--out",
        "o",
        "--no-figures",
        cwd=tmp_path,
    )
    assert code == 0, stderr
    table = pd.read_csv(tmp_path / "o" / "evidence_table.csv")
    expected = as_array(case["yi"])
    np.testing.assert_array_equal(table["yi"].isna(), np.isnan(expected))
    _close(table["yi"].fillna(0), np.nan_to_num(expected))
    _close(table["vi"].fillna(0), np.nan_to_num(as_array(case["vi"])))
    assert (table["effect_note"].str.endswith("(drop00)").fillna(False)).sum() == 3
    pooled = pd.read_csv(tmp_path / "o" / "pooled.csv")
    assert pooled["k"].tolist() == [9]  # 12 trials, 3 without events dropped
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["options"]["zero_cell"] == {"to": "all", "drop00": True}


def test_subgroup_and_by_reach_the_forests(tmp_path, monkeypatch):
    """--subgroup draws each body's forest by subgroup with the test for subgroup differences
    (the same test as subgroup_tests.csv); --by gives one forest per value, titled with it."""
    from grading import plots
    from grading.pipeline import run_review

    drawn = []
    original = plots.forest_pages

    def spy(data, **kwargs):
        axes = original(data, **kwargs)
        drawn.append(
            (
                kwargs.get("subgroup"),
                len(data),
                [t.get_text() for ax in axes for t in [*ax.texts, ax.title]],
            )
        )
        return axes

    monkeypatch.setattr(plots, "forest_pages", spy)
    sheet = _bcg_sheet(tmp_path / "bcg.csv")
    result = run_review(
        sheet, out_dir=tmp_path / "sub", subgroup="alloc", method="DL", jobs=1, report=False
    )
    assert [(sub, n) for sub, n, _ in drawn] == [("alloc", 13)]
    texts = " ".join(drawn[0][2])
    tests = pd.read_csv(tmp_path / "sub" / "subgroup_tests.csv").set_index("test")
    between = tests.loc["between (separate tau2)"]
    assert "Test for subgroup differences" in texts
    assert f"{between['stat']:.2f}" in texts
    for alloc in ("random", "alternate", "systematic"):
        assert alloc in texts
    assert any(p.name.startswith("forest_01_tuberculosis_prevention") for p in result.files)

    drawn.clear()
    result = run_review(sheet, out_dir=tmp_path / "by", by="alloc", jobs=1, report=False)
    assert sorted(n for _, n, _ in drawn) == [2, 4, 7]
    assert all(sub is None for sub, _, _ in drawn)
    titles = sorted(
        text
        for _, _, texts in drawn
        for text in texts
        if text.startswith("Tuberculosis prevention")
    )
    assert [t.split("\n")[0] for t in titles] == [
        "Tuberculosis prevention (alloc: alternate): tuberculosis (human studies)",
        "Tuberculosis prevention (alloc: random): tuberculosis (human studies)",
        "Tuberculosis prevention (alloc: systematic): tuberculosis (human studies)",
    ]
