"""The build checks of the bundled evidence base (data/build/check_inventory.py) run and bite.

The script re-does the accounting of data/README.md from data/build/sources.csv (the source
ledger) and the data files only, so it runs from a clean clone; these tests run it and check that
each of its rules catches a planted fault.
"""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "data" / "build" / "check_inventory.py"


@pytest.fixture(scope="module")
def ci():
    spec = importlib.util.spec_from_file_location("check_inventory", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def loaded(ci):
    return ci.load()


def test_bundled_data_pass_every_check(ci, loaded):
    assert ci.check(loaded) == []


def test_readme_blocks_are_up_to_date(ci, loaded):
    text = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    assert ci.readme_problems(text, ci.readme_blocks(loaded)) == []
    assert "| total | 62 | 93 | 6 | 161 |" in text


def test_accounting_matches_the_ledger(ci, loaded):
    a = ci.accounting(loaded)
    inv = a["inventory"]
    # exosome-evidence.md: 117 rows, 85 VERIFIED, 29 PARTIAL, 3 UNVERIFIED
    assert inv["items"] == 117
    assert dict(inv["status"]) == {"VERIFIED": 85, "PARTIAL": 29, "UNVERIFIED": 3}
    assert (inv["used"], len(inv["left_out"]), len(inv["unverified"])) == (93, 21, 3)
    assert [it["item"] for it in inv["unverified"]] == ["#9", "#13", "#100"]
    assert dict(inv["used_status"]) == {"VERIFIED": 70, "PARTIAL": 23}
    assert (a["rows"], a["study_ids"]) == (161, 91)
    assert dict(a["stream"]) == {"human": 93, "animal": 62, "in_vitro": 6}
    added = a["added_2026_12"]
    assert added["used"] == 4 and len(added["left_out"]) + len(added["unverified"]) == 5


def test_script_runs_from_the_command_line():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        cwd=ROOT / "tests",
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "inventory: 117 items, 93 used, 21 left out, 3 unverified" in proc.stdout
    assert "PROBLEM" not in proc.stdout


@pytest.mark.parametrize(
    ("notes", "items"),
    [
        ("inventory #65/66 and human-numbers E1-E3.", {"#65", "#66", "E1", "E2", "E3"}),
        ("inventory #73 and #19 (24 participants)", {"#73", "#19"}),
        ("human-numbers H4/S2: entered as 0/11.", {"H4", "S2"}),
        ("ANZSEV 2023 abstract #22; no inventory row", set()),
    ],
)
def test_note_items(ci, notes, items):
    assert ci.note_items(notes) == items


def _row(d, study_id, outcome=None):
    return next(
        r
        for r in d["studies"]
        if r["study_id"] == study_id and (outcome is None or r["outcome"] == outcome)
    )


def test_one_registry_id_per_trial(ci, loaded):
    d = copy.deepcopy(loaded)
    _row(d, "MEXCOVID 2022")["registry_id"] = ""
    _row(d, "NCT04491240")["registry_id"] = "NCT04276987"
    _row(d, "MEXCOVID 2022", "lymphocyte count and CT lesion resolution")["registry_id"] = (
        "NCT04276987"
    )
    assert (
        "registry id NCT04276987 appears under ['MEXCOVID 2022', 'NCT04491240']: one trial, "
        "one study_id"
    ) in ci.check(d)


def test_outcome_level_rules(ci, loaded):
    d = copy.deepcopy(loaded)
    _row(d, "Webb 2018 (pig)", "intracranial haemorrhage")["outcome_level"] = ""
    _row(d, "Oh 2024", "Wnt/beta-catenin markers")["outcome_level"] = "functional"
    _row(d, "NCT05354141")["outcome_level"] = "clinical"
    problems = "\n".join(ci.check(d))
    assert "(Webb 2018 (pig) / intracranial haemorrhage): names an outcome but has no " in problems
    assert "(Oh 2024 / Wnt/beta-catenin markers): in vitro record should be mechanistic" in problems
    assert "outcome_level on a record without a measured outcome" in problems


def test_left_out_items_stay_out(ci, loaded):
    d = copy.deepcopy(loaded)
    # inventory #77 (McIntyre 2016, MSC cells) is left out: citing it is an error
    _row(d, "Wang 2020", "survival")["notes"] += " See inventory #77."
    d["studies"][0]["citation_key"] = "mcintyre2016mscali"
    problems = ci.check(d)
    assert any("cites #77, which the ledger leaves out" in p for p in problems)
    assert any(p == "ledger #77: left_out but key mcintyre2016mscali is cited" for p in problems)


def test_used_items_must_be_in_the_data(ci, loaded):
    d = copy.deepcopy(loaded)
    d["studies"] = [r for r in d["studies"] if r["study_id"] != "Webb 2018 (pig)"]
    d["regulatory"] = [r for r in d["regulatory"] if r["citation_key"] != "fda2020consumeralert"]
    problems = ci.check(d)
    assert "ledger #50: study_rows but no study row cites it" in problems
    assert "ledger P1: regulatory but its key is not in regulatory.csv" in problems


def test_keys_need_an_identifier(ci, loaded):
    d = copy.deepcopy(loaded)
    d["bib"]["chandran2025ptd2021p"] = {"title": "no identifier"}
    assert "citation key chandran2025ptd2021p: bib entry has no DOI, PMID, NCT or URL" in ci.check(
        d
    )


def test_claims_counts(ci, loaded):
    d = copy.deepcopy(loaded)
    c02 = next(c for c in d["claims"] if c["claim_id"] == "C02")
    c02["n_businesses_exosome"] = "39"
    c11 = next(c for c in d["claims"] if c["claim_id"] == "C11")
    c11["products_counted"] = ""
    problems = ci.check(d)
    assert "claim C02: n_businesses_exosome > n_businesses" in problems
    assert "claim C11: a count without products_counted" in problems


def test_readme_out_of_date_is_reported(ci, loaded):
    text = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    stale = text.replace("| total | 62 | 93 | 6 | 161 |", "| total | 62 | 95 | 6 | 163 |")
    assert ci.readme_problems(stale, ci.readme_blocks(loaded)) == [
        "data/README.md: block 'counts' is out of date "
        "(run python data/build/check_inventory.py --write-readme)"
    ]
