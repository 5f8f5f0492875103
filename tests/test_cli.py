"""Tests of the ``evigap`` command line (grading.cli)."""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from grading.cli import DEFAULT_OUT_DIR, main, version_string
from grading.pipeline import OUTPUT_FILES, TextProgress

ROOT = Path(__file__).resolve().parents[1]

# evigap records the manifests it writes (grading.outputs); keep this session's records out of
# the user's home folder
_STATE = tempfile.mkdtemp(prefix="evigap_state_")
atexit.register(shutil.rmtree, _STATE, True)
os.environ.setdefault("EVIGAP_STATE_DIR", _STATE)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    # what the console script does (``python -m grading.cli`` would work too, with a runpy
    # warning because the grading package imports grading.cli)
    code = "import sys; from grading.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _main(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``main(args)`` in this process (faster than a subprocess), captured like one."""
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse usage errors
                code = exc.code
    finally:
        os.chdir(old)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def _assert_clean_error(proc: subprocess.CompletedProcess, *, code: int, needle: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("evigap: error: ")
    assert needle in lines[0]


# --------------------------------------------------------------------------- version, usage


def test_version_from_package_metadata(capsys):
    from importlib.metadata import PackageNotFoundError, version

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    printed = capsys.readouterr().out.strip()
    assert printed == f"evigap {version_string()}"
    try:
        assert version_string() == version("evigap")
    except PackageNotFoundError:  # an uninstalled checkout
        import evidence

        assert version_string() == evidence.__version__


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "run" in capsys.readouterr().err


def test_unknown_option_is_a_one_line_usage_error(tmp_path):
    proc = _cli("run", "--frobnicate", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unrecognized arguments: --frobnicate" in proc.stderr


# --------------------------------------------------------------------------- run


@functools.cache
def shared_default_run() -> tuple[Path, int, str, str]:
    """``evigap run`` with no arguments, once per test session, in a fresh folder.

    Returns (output folder, exit code, stdout, stderr).  test_report and test_manifest reuse
    this run (importing it) instead of running the bundled review again.
    """
    cwd = Path(tempfile.mkdtemp(prefix="evigap_cli_run_"))
    atexit.register(shutil.rmtree, cwd, True)
    old = Path.cwd()
    out, err = io.StringIO(), io.StringIO()
    os.chdir(cwd)
    try:
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            code = main(["run"])
        finally:
            sys.stdout, sys.stderr = saved
    finally:
        os.chdir(old)
    return cwd / DEFAULT_OUT_DIR, code, out.getvalue(), err.getvalue()


@pytest.fixture()
def default_run():
    return shared_default_run()


def test_run_without_arguments_writes_everything(default_run):
    out, code, stdout, stderr = default_run
    assert code == 0, stderr
    for name in OUTPUT_FILES + ("report.html", "manifest.json"):
        assert (out / name).is_file(), name
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    for name in figures:
        assert (out / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grades = pd.read_csv(out / "grades.csv")
    indications = sorted(grades["indication"].unique())
    notes = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["notes"]
    assert "gap_map.png" in figures
    # every indication has its translational forest and its forest plots (one per outcome x
    # measure), or a note saying why not
    for i, ind in enumerate(indications):
        prefix = f"{i + 1:02d}_"
        for kind, title in (
            ("translational_forest_", "Translational forest"),
            ("forest_", "Forest plot"),
        ):
            drawn = [f for f in figures if f.startswith(kind + prefix)]
            noted = [n for n in notes if n.startswith(title) and f" for {ind} " in n]
            if kind == "forest_":
                assert drawn or noted, (ind, kind)
            else:
                assert len(drawn) + len(noted) == 1, (ind, kind, drawn, noted)
    assert sum(f.startswith("translational_forest_") for f in figures) >= len(indications) // 2
    rob_figures = [f for f in figures if f.startswith("risk_of_bias")]
    assert rob_figures or any(n.startswith("Risk-of-bias figure not drawn") for n in notes)
    # not a TTY: no progress bar
    assert "\r" not in stderr and "[#" not in stderr


def test_run_tables_are_consistent(default_run):
    out, *_ = default_run
    from evidence.datasets import bundled_path

    n_in = len(pd.read_csv(bundled_path("exosome_studies.csv")))
    table = pd.read_csv(out / "evidence_table.csv")
    rejected = pd.read_csv(out / "rejected_rows.csv")
    n_rej = rejected["row"].nunique() if len(rejected) else 0
    assert n_in == len(table) + n_rej  # no row lost silently
    assert {"yi", "vi", "effect_note"} <= set(table.columns)
    pooled = pd.read_csv(out / "pooled.csv")
    assert {"indication", "outcome", "stream", "estimate", "ci_low", "ci_high", "tau2", "k"} <= set(
        pooled.columns
    )
    assert (pooled["ci_low"] <= pooled["estimate"]).all()
    assert (pooled["estimate"] <= pooled["ci_high"]).all()
    claims = pd.read_csv(out / "claims_audit.csv")
    from evidence.datasets import bundled_path as bp

    assert len(claims) >= len(pd.read_csv(bp("claims.csv")))


def test_run_prints_short_summary(default_run):
    out, code, stdout, _ = default_run
    grades = pd.read_csv(out / "grades.csv")
    assert "indications" in stdout
    assert f"{grades['indication'].nunique()} indications" in stdout
    assert "accepted" in stdout and "rejected" in stdout
    assert "widest" in stdout.lower()
    assert len(stdout.splitlines()) <= 8
    # how many bodies are provisional / without evidence (issue 11), from grades.csv
    status = grades["evidence_status"].value_counts()
    assert (
        f"{len(grades)} bodies of evidence: {status.get('rated', 0)} rated, "
        f"{status.get('provisional', 0)} provisional (some domains not assessed), "
        f"{status.get('no evidence', 0)} without evidence."
    ) in stdout
    assert status.get("provisional", 0) > 0 and status.get("no evidence", 0) > 0
    counts = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["counts"]
    assert (counts["bodies_rated"], counts["bodies_provisional"], counts["bodies_no_evidence"]) == (
        status.get("rated", 0),
        status.get("provisional", 0),
        status.get("no evidence", 0),
    )
    # the widest-gap line is read from gap_summary.csv: verdict and numbers, no "not rated"
    gap = pd.read_csv(out / "gap_summary.csv")
    line = next(ln for ln in stdout.splitlines() if ln.startswith("Gap widest for "))
    assert "not rated" not in line
    row = gap[
        [
            line.startswith(f"Gap widest for {lab} ({v}): ")
            for lab, v in zip(gap["indication_label"], gap["verdict"], strict=True)
        ]
    ]
    assert len(row) == 1
    assert f"SMD {row['preclinical_smd'].iloc[0]:+.2f}" in line


def _gap_rows(**cols):
    base = {
        "indication": ["a", "b", "c"],
        "indication_label": ["A", "B", "C"],
        "verdict": [
            "preclinical only",
            "human efficacy not reported",
            "human efficacy reported, concordant",
        ],
        "preclinical_outcome": ["infarct volume", "lung injury score", "LVEF"],
        "preclinical_smd": [3.0, 1.5, 2.0],
        "human_smd": [float("nan")] * 2 + [0.5],
        "human_outcome": ["none", "none", "mRS"],
        "attenuation": [float("nan")] * 2 + [0.25],
        "certainty_animal": ["low", "high", "moderate"],
        "certainty_human": ["no records", "not rated: no pooled result", "very low"],
        "human_note": [
            "no human records",
            "no controlled human efficacy result reported; 2 registered trials without results",
            "",
        ],
        "n_in_vitro": [0, 0, 0],
        "n_animal": [4, 9, 5],
        "n_human": [0, 2, 3],
    }
    base.update(cols)
    return pd.DataFrame(base)


def test_widest_gap_names_the_verdict_and_the_numbers():
    from grading.run_result import _widest_gap

    # both streams on the common scale: the smallest attenuation
    assert _widest_gap(_gap_rows()) == (
        "Gap widest for C (human efficacy reported, concordant): human mRS SMD +0.50 "
        "(very low certainty, 3 human records) against animal LVEF SMD +2.00 (moderate "
        "certainty, 5 animal records); attenuation 0.25."
    )
    # no human effect anywhere: the most certain preclinical promise; a certainty is named
    # only where one was rated
    gap = _gap_rows(human_smd=[float("nan")] * 3, attenuation=[float("nan")] * 3)
    assert _widest_gap(gap) == (
        "Gap widest for B (human efficacy not reported): animal lung injury score SMD +1.50 "
        "(high certainty, 9 animal records) against no controlled human efficacy result "
        "reported; 2 registered trials without results (2 human records)."
    )
    gap = gap.assign(certainty_animal="not rated: no pooled result")
    assert _widest_gap(gap) == (
        "Gap widest for B (human efficacy not reported): animal lung injury score SMD +1.50 "
        "(9 animal records) against no controlled human efficacy result reported; 2 "
        "registered trials without results (2 human records)."
    )
    # no positive promise: most preclinical records against the human ones
    gap = gap.assign(preclinical_smd=float("nan"))
    assert _widest_gap(gap) == (
        "Gap widest for B (human efficacy not reported): 0 in vitro "
        "records and 9 animal records against no controlled human "
        "efficacy result reported; 2 registered trials without "
        "results (2 human records)."
    )
    assert _widest_gap(gap.iloc[0:0]) is None


def test_run_quiet_prints_nothing(tmp_path, capsys):
    from evidence.datasets import bundled_bib_path, bundled_path

    code = main(
        [
            "run",
            "--studies",
            str(bundled_path("exosome_studies.csv")),
            "--bib",
            str(bundled_bib_path()),
            "--out",
            str(tmp_path / "o"),
            "--quiet",
            "--no-figures",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out == "" and captured.err == ""
    assert (tmp_path / "o" / "grades.csv").is_file()
    assert not (tmp_path / "o" / "claims_audit.csv").exists()  # no claims given
    assert not list((tmp_path / "o").glob("figures/*.png"))


def _run_args(out: Path) -> list[str]:
    from grading.pipeline import bundled_inputs

    inputs = bundled_inputs()
    return [
        "run",
        "--studies",
        str(inputs["studies"]),
        "--bib",
        str(inputs["bib"]),
        "--out",
        str(out),
        "--quiet",
        "--no-figures",
    ]


def test_rerun_replaces_previous_outputs_only(tmp_path):
    from grading.pipeline import bundled_inputs

    out = tmp_path / "o"
    assert main(_run_args(out) + ["--claims", str(bundled_inputs()["claims"])]) == 0
    assert (out / "claims_audit.csv").is_file()
    (out / "my_notes.txt").write_text("keep me", encoding="utf-8")
    assert main(_run_args(out)) == 0  # no claims this time
    assert not (out / "claims_audit.csv").exists()  # stale output of the first run removed
    assert (out / "my_notes.txt").read_text(encoding="utf-8") == "keep me"
    listed = {o["file"] for o in json.loads((out / "manifest.json").read_text())["outputs"]}
    assert "claims_audit.csv" not in listed and "grades.csv" in listed


def test_run_with_scheme_file(tmp_path):
    from grading.manifest import sha256_file

    scheme = tmp_path / "lenient.toml"
    scheme.write_text("translational_animal = -1\n", encoding="utf-8")
    out = tmp_path / "o"
    assert main(_run_args(out) + ["--scheme", str(scheme)]) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["scheme"]["sha256"] == sha256_file(scheme)
    assert manifest["scheme"]["translational_animal"] == -1
    grades = pd.read_csv(out / "grades.csv")
    animal = grades[grades["stream"] == "animal"]
    # bodies with a result take the scheme's translational step; a body without one has no
    # certainty to step down (issue 11: "no evidence" is not rated), so the domain is not
    # assessed there
    rated = animal[animal["evidence_status"] != "no evidence"]
    empty = animal[animal["evidence_status"] == "no evidence"]
    assert len(rated) > 0 and len(empty) > 0
    assert (rated["translational_indirectness"] == -1).all()
    assert (rated["translational_indirectness_judgement"] == "serious").all()
    assert (empty["translational_indirectness"] == 0).all()
    assert (empty["translational_indirectness_judgement"] == "not assessed").all()
    assert empty["certainty"].isna().all()


def test_run_missing_studies_file_is_clean_error(tmp_path):
    proc = _cli("run", "--studies", "no_such_file.csv", "--out", "o", cwd=tmp_path)
    _assert_clean_error(proc, code=2, needle="no_such_file.csv")


def test_run_unusable_sheet_is_clean_error(tmp_path):
    (tmp_path / "bad.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    proc = _main("run", "--studies", "bad.csv", "--out", "o", cwd=tmp_path)
    _assert_clean_error(proc, code=2, needle="bad.csv")


def test_run_bad_scheme_is_clean_error(tmp_path):
    from evidence.datasets import bundled_path

    (tmp_path / "scheme.toml").write_text("this is = not [valid toml\n", encoding="utf-8")
    proc = _main(
        "run",
        "--studies",
        str(bundled_path("exosome_studies.csv")),
        "--scheme",
        "scheme.toml",
        "--out",
        "o",
        cwd=tmp_path,
    )
    _assert_clean_error(proc, code=2, needle="scheme")


def test_run_bib_without_studies_is_usage_error(tmp_path):
    proc = _main("run", "--bib", "x.bib", cwd=tmp_path)
    _assert_clean_error(proc, code=2, needle="--studies")


# --------------------------------------------------------------------------- validate


def _sheet(tmp_path: Path, *, break_row: bool) -> Path:
    from evidence.datasets import bundled_path

    sheet = pd.read_csv(bundled_path("exosome_studies.csv"), dtype="string").head(6)
    if break_row:
        sheet.loc[2, "stream"] = "plant"  # not a stream
    path = tmp_path / ("broken.csv" if break_row else "clean.csv")
    sheet.to_csv(path, index=False)
    return path


def test_validate_clean_sheet_exit_0(tmp_path):
    from evidence.datasets import bundled_bib_path
    from evidence.ingest import read_studies

    path = _sheet(tmp_path, break_row=False)
    expected = read_studies(path, bib=bundled_bib_path())
    proc = _main("validate", str(path), "--bib", str(bundled_bib_path()), cwd=tmp_path)
    n_rej = expected.rejected["row"].nunique() if len(expected.rejected) else 0
    assert proc.returncode == (1 if n_rej else 0), proc.stdout + proc.stderr
    assert (
        f"{expected.n_in} rows in, {len(expected.studies)} accepted, {n_rej} rejected"
        in proc.stdout
    )


def test_validate_broken_sheet_exit_1_with_table(tmp_path):
    path = _sheet(tmp_path, break_row=True)
    proc = _main("validate", str(path), "--rejected", "rej.csv", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "plant" in proc.stdout and "stream" in proc.stdout
    rejected = pd.read_csv(tmp_path / "rej.csv")
    assert 2 in set(rejected["row"])
    assert (rejected.loc[rejected["row"] == 2, "column"] == "stream").any()


def test_unknown_rob_tool_is_a_rejected_row_in_validate_and_run(tmp_path):
    from evidence.datasets import bundled_path

    sheet = pd.read_csv(bundled_path("exosome_studies.csv"), dtype="string").head(8)
    sheet.loc[3, "rob_tool"] = "robx"
    path = tmp_path / "tool.csv"
    sheet.to_csv(path, index=False)
    proc = _main("validate", str(path), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "unknown rob_tool 'robx'" in proc.stdout and "8 rows in, 7 accepted" in proc.stdout
    proc = _main("run", "--studies", str(path), "--out", "out", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rejected = pd.read_csv(tmp_path / "out" / "rejected_rows.csv")
    assert rejected[["row", "column", "value"]].values.tolist() == [[3, "rob_tool", "robx"]]
    assert len(pd.read_csv(tmp_path / "out" / "evidence_table.csv")) == 7


def test_validate_missing_file(tmp_path):
    proc = _main("validate", "nope.csv", cwd=tmp_path)
    _assert_clean_error(proc, code=2, needle="nope.csv")


# --------------------------------------------------------------------------- template


def test_template_writes_sheet_and_dictionary(tmp_path, capsys):
    from evidence.dictionary import data_dictionary
    from evidence.schema import COLUMN_NAMES

    target = tmp_path / "my_review.csv"
    assert main(["template", "--out", str(target)]) == 0
    sheet = pd.read_csv(target)
    assert tuple(sheet.columns) == COLUMN_NAMES
    assert len(sheet) == 0
    dictionary = tmp_path / "my_review_dictionary.md"
    assert dictionary.read_text(encoding="utf-8") == data_dictionary()
    # never overwrite a sheet someone may have filled in
    capsys.readouterr()
    assert main(["template", "--out", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["template", "--out", str(target), "--force"]) == 0


def test_template_round_trips_through_validate(tmp_path):
    assert main(["template", "--out", str(tmp_path / "t.csv")]) == 0
    proc = _main("validate", "t.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "0 rows in, 0 accepted, 0 rejected" in proc.stdout


# --------------------------------------------------------------------------- progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_tty():
    stream = _Tty()
    bar = TextProgress(stream, width=10)
    bar("reading", 1, 4)
    bar("grading", 4, 4)
    text = stream.getvalue()
    assert "\r[##........] 1/4 reading" in text  # round(2.5) == 2
    assert "\r[##########] 4/4 grading" in text
    assert text.endswith("\n")


def test_progress_silent_when_not_tty_or_disabled():
    plain = io.StringIO()
    TextProgress(plain)("x", 1, 2)
    assert plain.getvalue() == ""
    tty = _Tty()
    TextProgress(tty, enabled=False)("x", 1, 2)
    assert tty.getvalue() == ""


# --------------------------------------------------------------------------- warnings, help


def test_warning_log_names_the_origin_and_strips_escapes():
    from grading.cli import _WarningLog

    log = _WarningLog()
    log("mean of empty slice\x1b[31m", RuntimeWarning, "/x/site-packages/numpy/core/_methods.py", 1)
    log(
        "Attempting to set identical low and high ylims",
        UserWarning,
        "/x/site-packages/matplotlib/axes/_base.py",
        2,
    )
    from evidence.errors import StatisticalWarning

    log("0.5 added", StatisticalWarning, "/repo/evidence/study_effects.py", 3)
    log("0.5 added", StatisticalWarning, "/repo/evidence/study_effects.py", 3)
    stream = io.StringIO()
    log.report(stream)
    text = stream.getvalue()
    assert text.splitlines() == [
        "evigap: 4 warnings during the run (from evigap, matplotlib, numpy):",
        "  [evigap] StatisticalWarning: 0.5 added (x2)",
        "  [matplotlib] UserWarning: Attempting to set identical low and high ylims",
        "  [numpy] RuntimeWarning: mean of empty slice",
    ]


def test_library_log_messages_are_collected_not_printed(capsys):
    import logging

    from grading.cli import _LogToWarnings, _WarningLog

    log = _WarningLog()
    with _LogToWarnings(log):
        logging.getLogger("matplotlib.font_manager").warning("findfont: Font family 'X' not found.")
    assert log.counts == {("matplotlib", "log", "findfont: Font family 'X' not found."): 1}
    assert capsys.readouterr().err == ""
    assert logging.getLogger("matplotlib").handlers == []  # restored


def test_run_help_lists_the_run_options(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    for flag in (
        "--config",
        "--measure",
        "--method",
        "--ci-method",
        "--zero-cell",
        "--by",
        "--subgroup",
        "--question",
        "--overrides",
        "--baseline-risk",
        "--strict",
    ):
        assert flag in text, flag
