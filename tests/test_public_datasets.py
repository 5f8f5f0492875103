"""Four public datasets straight from their published tables through ``evigap run --config``
(issue 13, "Done when").

Each ``tests/data/public/<name>.csv`` is a metadat 1.2-0 dataset as R's ``write.csv`` wrote it
(original column names, ``NA`` for missing values), never edited; the config file beside it
maps the published header to evigap's columns (``[columns]``), supplies the columns every row
shares (``[defaults]``) and sets the run options.  The pooled numbers are checked against
metafor 3.8-1 (``tests/reference/public_datasets.R``) to 1e-6 relative, in ``pooled.csv`` and in
the grade's estimate (``grades.csv``), and every input row is accounted for.  Citations:
``tests/data/public/README.md``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from reference_loader import load_fixture

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ROOT / "tests" / "data" / "public"
DATASETS = ("hartmannboyce2018", "axfors2021", "besson2016", "curtis1998")
FX = load_fixture("public_datasets")
REL = 1e-6
POOLED = ("estimate", "se", "ci_low", "ci_high", "tau2", "i2")


def _run(config: Path, out: Path, state: Path, *extra: str) -> subprocess.CompletedProcess:
    """``evigap run --config CONFIG --out OUT`` in a fresh process, as a user types it."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MPLBACKEND": "Agg",
        "EVIGAP_STATE_DIR": str(state),
    }
    code = "import sys; from grading.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, "run", "--config", str(config), "--out", str(out), *extra],
        cwd=out.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Each dataset run once without figures; name -> results folder."""
    base = tmp_path_factory.mktemp("public")
    state = base / "state"
    out = {}
    for name in DATASETS:
        folder = base / name
        proc = _run(PUBLIC / f"{name}.toml", folder, state, "--no-figures")
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        out[name] = folder
    return out


def _close(got, want, what: str) -> None:
    if want is None:
        assert got is None or (isinstance(got, float) and math.isnan(got)), (what, got)
        return
    got = float(got)
    assert math.isfinite(got), (what, got)
    assert abs(got - want) <= REL * max(abs(want), 1e-12), (what, got, want)


def _bodies(name: str) -> dict[str, dict]:
    return {b["outcome"].strip(): b["pooled"] for b in FX[name]["bodies"]}


@pytest.mark.parametrize("name", DATASETS)
def test_every_row_is_accounted_for(runs, name):
    """rows in = accepted + rejected, against metafor's count of usable rows."""
    folder = runs[name]
    counts = json.loads((folder / "manifest.json").read_text())["counts"]
    raw = pd.read_csv(PUBLIC / f"{name}.csv")
    assert counts["rows_in"] == len(raw) == FX[name]["n_in"]
    assert counts["rows_accepted"] == FX[name]["n_accepted"]
    assert counts["rows_in"] == counts["rows_accepted"] + counts["rows_rejected"]
    rejected = pd.read_csv(folder / "rejected_rows.csv")
    assert rejected["row"].nunique() == counts["rows_rejected"]
    assert (rejected["reason"].str.len() > 0).all()
    table = pd.read_csv(folder / "evidence_table.csv")
    assert len(table) == counts["rows_accepted"]


def test_besson_rejections_name_the_missing_spread(runs):
    """Arms published without SD or SE (NA in the table) are rejected with the reason, not
    guessed; the SE-only arms are used (SD = SE * sqrt(n))."""
    rejected = pd.read_csv(runs["besson2016"] / "rejected_rows.csv")
    reasons = set(rejected["reason"])
    assert (
        "data_type 'continuous' needs sd_int, se_int or both ci_low_int and ci_high_int" in reasons
    )
    assert "standard error 'se_int' must be > 0; got 0" in reasons
    table = pd.read_csv(runs["besson2016"] / "evidence_table.csv")
    assert table["effect_note"].str.contains("SE", na=False).all()


@pytest.mark.parametrize("name", DATASETS)
def test_pooled_matches_metafor(runs, name):
    folder = runs[name]
    pooled = pd.read_csv(folder / "pooled.csv", keep_default_na=False, na_values=[""])
    want = _bodies(name)
    assert sorted(pooled["outcome"].str.strip()) == sorted(want)
    grades = pd.read_csv(folder / "grades.csv", keep_default_na=False, na_values=[""])
    for _, row in pooled.iterrows():
        ref = want[row["outcome"].strip()]
        what = f"{name} / {row['outcome']}"
        assert row["k"] == ref["k"] and row["k_records"] == ref["k_records"], what
        for col in POOLED:
            _close(None if pd.isna(row[col]) else row[col], ref[col], f"{what}: {col}")
        assert ("cluster-robust" in row["estimate_basis"]) == ref["clustered"], what
        grade = grades[grades["outcome"] == row["outcome"]]
        assert len(grade) == 1, what
        for col in ("estimate", "ci_low", "ci_high"):
            _close(grade[col].iloc[0], ref[col], f"{what}: grades.csv {col}")


def test_ratio_measures_on_the_natural_scale(runs):
    """pooled.csv gives ratio measures on the log scale and exp() beside them."""
    for name in ("hartmannboyce2018", "axfors2021", "curtis1998"):
        (ref,) = _bodies(name).values()
        row = pd.read_csv(runs[name] / "pooled.csv").iloc[0]
        _close(row["estimate_natural"], math.exp(ref["estimate"]), f"{name} natural")
        _close(row["ci_high_natural"], math.exp(ref["ci_high"]), f"{name} natural")


def test_subgroup_test_matches_metafor(runs):
    """``subgroup = "comparison"`` (NRT form) in the config: the test for subgroup differences."""
    tests = pd.read_csv(runs["hartmannboyce2018"] / "subgroup_tests.csv").set_index("test")
    ref = FX["hartmannboyce2018"]["subgroup_tests"]
    between = tests.loc["between (separate tau2)"]
    _close(between["stat"], ref["between"]["stat"], "Q between")
    _close(between["p_value"], ref["between"]["p_value"], "Q between p")
    assert between["df"] == ref["between"]["df"]
    moderator = tests.loc["moderator (common tau2)"]
    for col in ("stat", "p_value", "tau2"):
        _close(moderator[col], ref["moderator"][col], f"QM {col}")
    assert moderator["df"] == ref["moderator"]["df"]


def test_config_is_recorded(runs):
    """The config file and the options it set are in manifest.json."""
    manifest = json.loads((runs["axfors2021"] / "manifest.json").read_text())
    assert manifest["inputs"]["config"]["name"] == "axfors2021.toml"
    options = manifest["options"]
    assert options["measure"] == "OR" and options["method"] == "REML"
    assert options["read_options"]["columns"]["hcq_arm_event"] == "events_int"
    assert options["read_options"]["defaults"]["outcome_direction"] == "higher_is_worse"


def test_axfors_forest_is_drawn(tmp_path):
    """One run with figures (the small COVID-19 dataset: double-zero trials, three-arm trials
    sharing a control): one forest for the one indication x outcome."""
    out = tmp_path / "results"
    proc = _run(PUBLIC / "axfors2021.toml", out, tmp_path / "state")
    assert proc.returncode == 0, proc.stderr
    forests = sorted(p.name for p in (out / "figures").glob("forest_*.png"))
    assert forests == ["forest_01_covid_19_01_all_cause_mortality_human.png"]
    assert (out / "figures" / forests[0]).stat().st_size > 10_000
