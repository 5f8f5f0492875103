"""Tests of grading.manifest and of run reproducibility (byte-identical outputs)."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grading.manifest import (
    build_manifest,
    file_record,
    frame_record,
    package_versions,
    read_manifest,
    run_timestamp,
    sha256_file,
    write_manifest,
)


def test_sha256_file_matches_known_digest(tmp_path):
    # FIPS 180-2 test vector: SHA-256("abc")
    p = tmp_path / "abc.txt"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_sha256_file_large_file_chunked(tmp_path):
    data = bytes(range(256)) * 20_000  # 5 MB, several chunks
    p = tmp_path / "big.bin"
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()


def test_file_record_fields(tmp_path):
    p = tmp_path / "studies.csv"
    p.write_text("a,b\n1,2\n", encoding="utf-8")
    rec = file_record(p, role="studies")
    assert rec == {
        "path": str(p),
        "name": "studies.csv",
        "bytes": 8,
        "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest(),
        "role": "studies",
    }


def test_frame_record_is_deterministic_and_content_sensitive():
    a = pd.DataFrame({"x": [1.5, 2.0], "y": ["p", "q"]})
    rec1, rec2 = frame_record(a), frame_record(a.copy())
    assert rec1 == rec2
    assert rec1["rows"] == 2 and rec1["path"] is None
    assert rec1["sha256"] == hashlib.sha256(b"x,y\n1.5,p\n2.0,q\n").hexdigest()
    b = a.assign(x=[1.5, 2.5])
    assert frame_record(b)["sha256"] != rec1["sha256"]


def test_package_versions_lists_required_packages():
    import platform

    versions = package_versions()
    for name in ("evigap", "python", "numpy", "pandas", "scipy", "matplotlib", "statsmodels"):
        assert name in versions
    assert versions["python"] == platform.python_version()
    assert versions["numpy"] == np.__version__
    assert versions["pandas"] == pd.__version__


def test_timestamp_honours_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert run_timestamp() == "2023-11-14T22:13:20Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    stamp = run_timestamp()
    assert stamp.endswith("Z") and len(stamp) == 20


def test_build_and_write_manifest_sorted_and_relative(tmp_path):
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "b.csv").write_text("1\n")
    (out / "figures" / "a.png").write_bytes(b"\x89PNG")
    (out / "a.csv").write_text("22\n")
    manifest = build_manifest(
        inputs={"studies": {"name": "s.csv", "sha256": "00"}, "claims": None},
        counts={"rows_in": 5, "rows_accepted": 4, "rows_rejected": 1},
        scheme={"imprecision": {"ois_events": np.int64(300)}, "level": np.float64(0.95)},
        outputs=[out / "b.csv", out / "figures" / "a.png", out / "a.csv", out / "missing.csv"],
        out_dir=out,
        timestamp="2026-01-01T00:00:00Z",
    )
    assert [o["file"] for o in manifest["outputs"]] == ["a.csv", "b.csv", "figures/a.png"]
    assert manifest["outputs"][0] == {
        "file": "a.csv",
        "bytes": 3,
        "sha256": hashlib.sha256(b"22\n").hexdigest(),
    }
    assert manifest["inputs"]["claims"] is None
    assert manifest["counts"] == {"rows_in": 5, "rows_accepted": 4, "rows_rejected": 1}
    assert manifest["scheme"] == {"imprecision": {"ois_events": 300}, "level": 0.95}
    path = write_manifest(manifest, out / "manifest.json")
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    keys = list(json.loads(text))
    assert keys == sorted(keys)
    assert read_manifest(path) == manifest
    # identical manifests give identical bytes
    write_manifest(dict(reversed(list(manifest.items()))), out / "again.json")
    assert (out / "again.json").read_bytes() == path.read_bytes()


def test_nan_and_missing_become_json_null(tmp_path):
    manifest = build_manifest(
        inputs={}, counts={"x": 1}, extra={"a": float("nan"), "b": pd.NA}, timestamp="t"
    )
    path = write_manifest(manifest, tmp_path / "m.json")
    data = json.loads(path.read_text())  # strict JSON parse
    assert data["a"] is None and data["b"] is None
    assert "NaN" not in path.read_text()


# --------------------------------------------------------------------------- whole runs


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The shared ``evigap run`` (figures drawn in worker processes) and a second run of the
    same input in this process (``jobs=1``): outputs must not depend on either."""
    from test_cli import shared_default_run

    from grading.pipeline import bundled_inputs, run_review

    first, code, _, stderr = shared_default_run()
    assert code == 0, stderr
    inputs = bundled_inputs()
    second = tmp_path_factory.mktemp("repro") / "b"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the run's own warnings are tested elsewhere
        run_review(
            inputs["studies"],
            bib=inputs["bib"],
            regulatory=inputs["regulatory"],
            claims=inputs["claims"],
            out_dir=second,
            jobs=1,
        )
    return first, second


def test_manifest_of_bundled_run(two_runs):
    out, _ = two_runs
    manifest = read_manifest(out / "manifest.json")
    inputs = manifest["inputs"]
    for role in ("studies", "bib", "regulatory", "claims"):
        rec = inputs[role]
        assert rec["sha256"] == sha256_file(rec["path"])
        assert rec["bytes"] == Path(rec["path"]).stat().st_size
    assert inputs["scheme"] is None  # built-in scheme, no file
    counts = manifest["counts"]
    assert counts["rows_in"] == counts["rows_accepted"] + counts["rows_rejected"]
    assert counts["rows_accepted"] == len(pd.read_csv(out / "evidence_table.csv"))
    assert counts["rows_in"] == len(pd.read_csv(inputs["studies"]["path"]))
    assert counts["graded_rows"] == len(pd.read_csv(out / "grades.csv"))
    from grading.scheme import Scheme

    assert manifest["scheme"]["ois_participants_total"] == Scheme().ois_participants_total
    assert manifest["scheme"]["translational_animal"] == Scheme().translational_animal
    for name in ("evigap", "python", "numpy", "pandas", "scipy", "matplotlib", "statsmodels"):
        assert manifest["versions"][name]
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    listed = {o["file"] for o in manifest["outputs"]}
    assert listed == written - {"manifest.json"}
    for o in manifest["outputs"]:
        assert sha256_file(out / o["file"]) == o["sha256"]


def test_two_runs_are_byte_identical_apart_from_timestamp(two_runs):
    first, second = two_runs
    files_a = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    assert files_a == files_b
    assert any(name.endswith(".png") for name in files_a)
    for name in files_a:
        a = (first / name).read_bytes()
        b = (second / name).read_bytes()
        if name == "manifest.json":
            ma, mb = json.loads(a), json.loads(b)
            ma.pop("timestamp"), mb.pop("timestamp")
            assert ma == mb
            lines_a = [ln for ln in a.splitlines() if b'"timestamp"' not in ln]
            lines_b = [ln for ln in b.splitlines() if b'"timestamp"' not in ln]
            assert lines_a == lines_b
        else:
            assert a == b, f"{name} differs between two identical runs"


# --------------------------------------------------------------------------- ownership


def test_run_records_its_manifest_and_options(tmp_path, monkeypatch):
    from evidence.datasets import bundled_path
    from grading.outputs import INCOMPLETE_MARKER, is_recorded_manifest
    from grading.pipeline import run_review

    monkeypatch.setenv("EVIGAP_STATE_DIR", str(tmp_path / "state"))
    sheet = pd.read_csv(bundled_path("exosome_studies.csv"), dtype="string").head(20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_review(
            sheet, out_dir=tmp_path / "out", figures=False, method="DL", question="within"
        )
    out = tmp_path / "out"
    assert result.out_dir == out and all(p.is_relative_to(out) for p in result.files)
    digest = sha256_file(out / "manifest.json")
    assert is_recorded_manifest(digest)
    assert (tmp_path / "state" / "manifests" / digest).is_file()
    manifest = read_manifest(out / "manifest.json")
    assert INCOMPLETE_MARKER not in {o["file"] for o in manifest["outputs"]}
    assert manifest["options"]["method"] == "DL" and manifest["options"]["question"] == "within"
    assert manifest["scheme"]["pool_method"] == "DL"
    assert manifest["inputs"]["config"] is None and manifest["inputs"]["overrides"] is None
    # nothing beside the folder: no staging folder, no lock
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "state"]
