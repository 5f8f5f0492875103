"""A run never loses, mixes or destroys data (issue 16, the running side).

Each case of the red-team report that the output folder, the lock, the exit codes or the
terminal output answer for is reproduced with a small file, through the command line where a
user would meet it: two runs into one folder, interrupted runs (an exception, SIGTERM and
SIGKILL at random points, in a subprocess), a forged ``manifest.json``, inputs inside
``--out``, an empty ``--out``, escape sequences in rejected cells.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grading.outputs import INCOMPLETE_MARKER, OutputFolder, OutputFolderError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory, monkeypatch):
    """evigap's ownership records in a folder of this test session, not the user's home."""
    state = tmp_path_factory.getbasetemp() / "evigap-state"
    monkeypatch.setenv("EVIGAP_STATE_DIR", str(state))
    return state


def _sheet(folder: Path, n: int = 40) -> Path:
    from evidence.datasets import bundled_path

    sheet = pd.read_csv(bundled_path("exosome_studies.csv"), dtype="string").head(n)
    path = folder / "studies.csv"
    sheet.to_csv(path, index=False)
    return path


def _files(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _assert_complete(out: Path, *, foreign: set[str] = frozenset()) -> dict:
    """``out`` holds one complete run: the manifest lists exactly the files there (apart from
    ``foreign`` ones the user put there), each with its hash."""
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    listed = {o["file"]: o["sha256"] for o in manifest["outputs"]}
    present = _files(out)
    assert not (out / INCOMPLETE_MARKER).exists()
    assert set(present) - {"manifest.json"} - set(foreign) == set(listed)
    for name, sha in listed.items():
        assert present[name] == sha, name
    return manifest


def _siblings(out: Path, keep: set[str]) -> list[Path]:
    return sorted(p for p in out.parent.iterdir() if p.name not in keep and p != out)


# --------------------------------------------------------------------------- the lock


def test_second_run_into_the_same_folder_is_refused(tmp_path):
    sheet = _sheet(tmp_path)
    out = tmp_path / "results"
    holder = OutputFolder(out).open()  # a run in progress
    try:
        code, stdout, stderr = run_main(
            "run", "--studies", str(sheet), "--out", "results", "-q", "--no-figures", cwd=tmp_path
        )
    finally:
        holder.close()
    assert code == 2
    assert f"Another evigap run (pid {os.getpid()}, started " in stderr
    assert "Wait for it to finish or choose another --out folder." in stderr
    assert not out.exists()  # the refused run wrote nothing
    assert _siblings(out, {"studies.csv"}) == []  # lock released, staging folder removed
    code, _, stderr = run_main(
        "run", "--studies", str(sheet), "--out", "results", "-q", "--no-figures", cwd=tmp_path
    )
    assert code == 0, stderr
    _assert_complete(out)


def test_two_processes_at_once_never_mix(tmp_path):
    """Two real processes started together: one writes, the other is refused cleanly (or,
    if the first finished before the second began, both complete); never a mixture."""
    sheet = _sheet(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    code = "import sys; from grading.cli import main; sys.exit(main())"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                "run",
                "--studies",
                str(sheet),
                "--out",
                "results",
                "-q",
                *extra,
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for extra in ([], ["--no-figures"])
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for c, err in results:
        if c == 2:
            assert "Another evigap run" in err
    manifest = _assert_complete(tmp_path / "results")
    has_png = any(o["file"].endswith(".png") for o in manifest["outputs"])
    assert has_png == manifest["options"]["figures"]  # the files are one run's, not a mix
    assert _siblings(tmp_path / "results", {"studies.csv"}) == []


# --------------------------------------------------------------------------- interruptions


def test_failure_during_figures_keeps_previous_results(tmp_path, monkeypatch):
    sheet = _sheet(tmp_path)
    out = tmp_path / "results"
    assert run_main("run", "--studies", str(sheet), "--out", "results", "-q", cwd=tmp_path)[0] == 0
    before = _files(out)

    import grading.pipeline as pipeline

    def boom(*args, **kwargs):
        raise RuntimeError("crash while drawing")

    monkeypatch.setattr(pipeline, "draw_figures", boom)
    code, _, stderr = run_main(
        "run", "--studies", str(sheet), "--out", "results", "-q", "--measure", "OR", cwd=tmp_path
    )
    assert code == 3 and "crash while drawing" in stderr
    assert _files(out) == before  # the previous complete results, untouched
    assert _siblings(out, {"studies.csv"}) == []  # no staging folder, no lock left


def test_ctrl_c_keeps_previous_results(tmp_path, monkeypatch):
    sheet = _sheet(tmp_path)
    out = tmp_path / "results"
    assert (
        run_main(
            "run", "--studies", str(sheet), "--out", "results", "-q", "--no-figures", cwd=tmp_path
        )[0]
        == 0
    )
    before = _files(out)
    import grading.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_subgroup_tables", interrupted)
    code, _, stderr = run_main(
        "run", "--studies", str(sheet), "--out", "results", "--subgroup", "model", cwd=tmp_path
    )
    assert code == 130
    assert "previous results (if any) are unchanged" in stderr
    assert _files(out) == before
    assert _siblings(out, {"studies.csv"}) == []


def test_figure_workers_get_the_run_from_the_pool_initializer(tmp_path, monkeypatch):
    """The parent process keeps no figure state in a module variable: the pool's workers
    receive it as the initializer's argument (and drawing in this process takes it as an
    argument), so runs in one process cannot see each other's tables."""
    import warnings

    import grading.figures as figures
    from grading.pipeline import run_review

    seen = {}
    fork_pool = figures._fork_pool

    def spy(jobs, state):
        seen["module_state"] = list(figures._WORKER_STATE)
        seen["state"] = state
        return fork_pool(jobs, state)

    monkeypatch.setattr(figures, "_fork_pool", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_review(_sheet(tmp_path), jobs=2, report=False)
    assert seen["module_state"] == [] and figures._WORKER_STATE == []
    assert seen["state"].indications == tuple(result.indications)
    assert seen["state"].table is result.evidence_table


def _spawn(sheet: Path, cwd: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    code = "import sys; from grading.cli import main; sys.exit(main())"
    log = open(cwd.parent / f"stderr-{time.monotonic_ns()}.txt", "w+", encoding="utf-8")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "run",
            "--studies",
            str(sheet),
            "--out",
            "results",
            "-q",
            "--measure",
            "OR",
            *extra,
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    proc.log = log  # a file, not a pipe: nothing can keep the test waiting on it
    return proc


def _stderr(proc: subprocess.Popen) -> str:
    proc.log.seek(0)
    return proc.log.read()


@pytest.fixture(scope="module")
def previous_run(tmp_path_factory):
    """A folder with complete results of a first run, a user's file beside them, and how
    long a second (different) run takes."""
    base = tmp_path_factory.mktemp("previous")
    state = tmp_path_factory.getbasetemp() / "evigap-state"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVIGAP_STATE_DIR", str(state))
        sheet = _sheet(base)
        assert run_main("run", "--studies", str(sheet), "--out", "results", "-q", cwd=base)[0] == 0
        (base / "results" / "my_notes.txt").write_text("keep me\n", encoding="utf-8")
        start = time.monotonic()
        proc = _spawn(sheet, base)
        assert proc.wait(timeout=120) == 0, _stderr(proc)
        duration = time.monotonic() - start
        shutil.rmtree(base / "results")
        assert run_main("run", "--studies", str(sheet), "--out", "results", "-q", cwd=base)[0] == 0
        (base / "results" / "my_notes.txt").write_text("keep me\n", encoding="utf-8")
    return base, duration


def _interrupt_at(previous_run, tmp_path: Path, fraction: float, sig: int) -> None:
    base, duration = previous_run
    work = tmp_path / "w"
    work.mkdir()
    shutil.copy(base / "studies.csv", work / "studies.csv")
    shutil.copytree(base / "results", work / "results")
    out = work / "results"
    old = _files(out)
    proc = _spawn(work / "studies.csv", work)
    time.sleep(fraction * duration)
    proc.send_signal(sig)
    code = proc.wait(timeout=120)
    stderr = _stderr(proc)
    assert "Traceback" not in stderr, stderr
    assert (out / "my_notes.txt").read_text(encoding="utf-8") == "keep me\n"
    now = _files(out)
    manifest = _assert_complete(out, foreign={"my_notes.txt"})
    if now != old:  # the signal came after the new results were swapped in
        assert manifest["options"]["measure"] == "OR"
    left = _siblings(out, {"studies.csv"})
    if sig == signal.SIGTERM:
        # cleaned up: no staging folder, no lock (SIGTERM before Python started: nothing made)
        assert left == [], (code, left)
        assert code in (0, 130, -signal.SIGTERM), (code, stderr)
    else:
        for extra in left:  # a killed run leaves only clearly marked folders (and its lock)
            if extra.name == ".results.evigap-lock":
                continue
            assert extra.is_dir() and extra.name.startswith("results.incomplete-"), extra
            assert (extra / INCOMPLETE_MARKER).is_file() or _files(extra) == {}, sorted(
                _files(extra)
            )
        # a stale lock of a killed run does not block the next run
        rerun = _spawn(work / "studies.csv", work)
        assert rerun.wait(timeout=120) == 0, _stderr(rerun)
        _assert_complete(out, foreign={"my_notes.txt"})


@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(fraction=st.floats(min_value=0.0, max_value=1.1))
def test_sigterm_at_any_point_leaves_old_or_complete_results(
    previous_run, tmp_path_factory, fraction
):
    _interrupt_at(previous_run, tmp_path_factory.mktemp("term"), fraction, signal.SIGTERM)


@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(fraction=st.floats(min_value=0.3, max_value=1.0))
def test_sigkill_at_any_point_leaves_old_results_or_a_marked_folder(
    previous_run, tmp_path_factory, fraction
):
    _interrupt_at(previous_run, tmp_path_factory.mktemp("kill"), fraction, signal.SIGKILL)


# --------------------------------------------------------------------------- ownership


def test_forged_manifest_deletes_nothing(tmp_path):
    sheet = _sheet(tmp_path)
    out = tmp_path / "results"
    out.mkdir()
    chapter = out / "thesis_chapter.docx"
    chapter.write_bytes(b"three years of work")
    forged = {
        "tool": "evigap",
        "outputs": [
            {
                "file": "thesis_chapter.docx",
                "sha256": hashlib.sha256(chapter.read_bytes()).hexdigest(),
            },
            {"file": "../studies.csv", "sha256": "0"},
        ],
    }
    (out / "manifest.json").write_text(json.dumps(forged), encoding="utf-8")
    code, _, stderr = run_main(
        "run", "--studies", str(sheet), "--out", "results", "-q", "--no-figures", cwd=tmp_path
    )
    assert code == 2
    assert "was not written by evigap on this computer" in stderr
    assert chapter.read_bytes() == b"three years of work"
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8")) == forged
    assert sheet.is_file()
    assert _siblings(out, {"studies.csv"}) == []


def test_rerun_replaces_own_files_keeps_changed_and_foreign_ones(tmp_path):
    sheet = _sheet(tmp_path)
    out = tmp_path / "results"
    args = ("run", "--studies", str(sheet), "--out", "results", "-q", "--no-figures")
    assert run_main(*args, "--subgroup", "model", cwd=tmp_path)[0] == 0
    assert (out / "subgroups.csv").is_file()
    (out / "notes").mkdir()
    (out / "notes" / "mine.txt").write_text("mine", encoding="utf-8")
    (out / "figures").mkdir(exist_ok=True)
    (out / "figures" / "my_drawing.png").write_bytes(b"not evigap's")
    with open(out / "subgroup_tests.csv", "a", encoding="utf-8") as handle:
        handle.write("a reviewer's edit\n")  # changed since evigap wrote it: not evigap's
    code, stdout, stderr = run_main(*args[:-2], "--no-figures", cwd=tmp_path)
    assert code == 0, stderr
    assert not (out / "subgroups.csv").exists()  # evigap's own stale output removed
    assert (out / "subgroup_tests.csv").read_text(encoding="utf-8").endswith("a reviewer's edit\n")
    assert (out / "notes" / "mine.txt").read_text(encoding="utf-8") == "mine"
    assert (out / "figures" / "my_drawing.png").read_bytes() == b"not evigap's"
    _assert_complete(
        out, foreign={"notes/mine.txt", "figures/my_drawing.png", "subgroup_tests.csv"}
    )
    assert _siblings(out, {"studies.csv"}) == []


def test_changed_output_with_the_same_name_is_never_overwritten(tmp_path):
    sheet = _sheet(tmp_path)
    out = tmp_path / "results"
    args = ("run", "--studies", str(sheet), "--out", "results", "-q", "--no-figures")
    assert run_main(*args, cwd=tmp_path)[0] == 0
    (out / "grades.csv").write_text("my own grades\n", encoding="utf-8")
    before = _files(out)
    code, _, stderr = run_main(*args, cwd=tmp_path)
    assert code == 2
    assert "grades.csv' was not written by evigap (or was changed after evigap wrote it)" in stderr
    assert _files(out) == before
    assert _siblings(out, {"studies.csv"}) == []


def test_swap_without_renameat2_gives_the_same_folder(tmp_path, monkeypatch):
    import grading.outputs as outputs

    sheet = _sheet(tmp_path)
    args = ("run", "--studies", str(sheet), "--out", "results", "-q", "--no-figures")
    assert run_main(*args, cwd=tmp_path)[0] == 0
    monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)
    (tmp_path / "results" / "keep.txt").write_text("k", encoding="utf-8")
    assert run_main(*args, "--measure", "OR", cwd=tmp_path)[0] == 0
    manifest = _assert_complete(tmp_path / "results", foreign={"keep.txt"})
    assert manifest["options"]["measure"] == "OR"
    assert _siblings(tmp_path / "results", {"studies.csv"}) == []


# --------------------------------------------------------------------------- refused up front


def test_input_inside_out_is_refused(tmp_path):
    review = tmp_path / "review"
    review.mkdir()
    sheet = _sheet(review)
    before = sheet.read_bytes()
    code, _, stderr = run_main(
        "run", "--studies", "review/studies.csv", "--out", "review", "-q", cwd=tmp_path
    )
    assert code == 2
    assert "The input 'review/studies.csv' is inside the output folder 'review'" in stderr
    assert sheet.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["review"]


@pytest.mark.parametrize(
    "out, needle",
    [
        ("", "The output folder (--out / out_dir) is empty"),
        ("  ", "The output folder (--out / out_dir) is empty"),
        (".", "is the current folder or contains it"),
        ("..", "is the current folder or contains it"),
        ("studies.csv", "is an existing file"),
    ],
)
def test_unusable_out_is_refused(tmp_path, out, needle):
    sheet = _sheet(tmp_path)
    code, stdout, stderr = run_main(
        "run", "--studies", str(sheet), "--out", out, "-q", cwd=tmp_path
    )
    assert code == 2
    assert needle in stderr and stderr.startswith("evigap: error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["studies.csv"]


def test_run_review_refuses_empty_out_dir(tmp_path):
    from grading.pipeline import run_review

    with pytest.raises(OutputFolderError, match="is empty"):
        run_review(_sheet(tmp_path), out_dir="", figures=False)


# --------------------------------------------------------------------------- exit codes


def test_every_row_rejected_exits_1_with_the_summary(tmp_path):
    sheet = pd.read_csv(_sheet(tmp_path, 5), dtype="string")
    sheet["stream"] = "plant"
    sheet.to_csv(tmp_path / "bad.csv", index=False)
    code, stdout, stderr = run_main("run", "--studies", "bad.csv", "--out", "o", cwd=tmp_path)
    assert code == 1
    assert "evigap: 5 input rows, 0 accepted, 5 rejected." in stdout
    assert "Nothing usable: no row was accepted" in stdout
    assert "Warning" not in stderr and "ylim" not in stderr  # no raw library warning
    assert len(pd.read_csv(tmp_path / "o" / "rejected_rows.csv")["row"].unique()) == 5


def test_strict_fails_on_one_rejected_row_and_writes_nothing(tmp_path):
    sheet = pd.read_csv(_sheet(tmp_path, 6), dtype="string")
    sheet.loc[2, "stream"] = "plant"
    sheet.to_csv(tmp_path / "one_bad.csv", index=False)
    code, _, stderr = run_main(
        "run", "--studies", "one_bad.csv", "--out", "o", "--strict", cwd=tmp_path
    )
    assert code == 1
    assert "--strict: 1 of 6 rows rejected (first: row 2, column stream:" in stderr
    assert not (tmp_path / "o").exists()
    code, _, _ = run_main(
        "run", "--studies", "one_bad.csv", "--out", "o", "-q", "--no-figures", cwd=tmp_path
    )
    assert code == 0  # without --strict the run goes on with the 5 good rows


# --------------------------------------------------------------------------- terminal


def test_validate_strips_terminal_escapes(tmp_path):
    sheet = pd.read_csv(_sheet(tmp_path, 3), dtype="string")
    sheet.loc[1, "stream"] = "\x1b]0;pwned\x07\x1b[2J\x1b[31mplant\x1b[0m\x08X\u202e"
    sheet.to_csv(tmp_path / "esc.csv", index=False)
    code, stdout, stderr = run_main("validate", "esc.csv", cwd=tmp_path)
    assert code == 1
    assert "\x1b" not in stdout and "\x07" not in stdout and "\x08" not in stdout
    assert "\u202e" not in stdout
    assert "plant?X?" in stdout  # the text stays, hidden characters show as '?'


def test_terminal_text():
    from evidence.export import terminal_text

    assert terminal_text("a\x1b[1;31mb\x1b[0m") == "ab"
    assert terminal_text("x\x1b]8;;https://evil\x1b\\link\x1b]8;;\x1b\\y") == "xlinky"
    assert terminal_text("\x9b2Jz\x00\x7f") == "z??"
    assert terminal_text("Müller et al.\tok\n") == "Müller et al.\tok\n"


def test_lock_without_flock_is_an_exclusive_file(tmp_path, monkeypatch):
    """Where fcntl is missing (Windows) the lock is a file created exclusively."""
    import grading.outputs

    monkeypatch.setattr(grading.outputs, "fcntl", None)  # as the module sets it on Windows
    first = OutputFolder(tmp_path / "r").open()
    try:
        assert (tmp_path / ".r.evigap-lock").is_file()
        with pytest.raises(OutputFolderError, match="if no run is going on, delete the lock"):
            OutputFolder(tmp_path / "r").open()
    finally:
        first.close()
    assert not (tmp_path / ".r.evigap-lock").exists()
    second = OutputFolder(tmp_path / "r").open()
    second.close()


def test_out_as_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path):
    sheet = _sheet(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    args = ("run", "--studies", str(sheet), "--out", "link", "-q", "--no-figures")
    assert run_main(*args, cwd=tmp_path)[0] == 0
    assert run_main(*args, "--measure", "OR", cwd=tmp_path)[0] == 0
    assert (tmp_path / "link").is_symlink()
    manifest = _assert_complete(tmp_path / "real")
    assert manifest["options"]["measure"] == "OR"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real", "studies.csv"]
