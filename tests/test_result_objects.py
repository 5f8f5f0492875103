"""Result objects: frozen, with ``to_frame()``, ``summary()`` and ``_repr_html_``."""

from __future__ import annotations

import dataclasses
import warnings

import pandas as pd
import pytest

import evidence
import grading

BCG = evidence.load_dataset("bcg")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ES = evidence.effect_sizes(BCG, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
Y, V = ES["yi"].to_numpy(), ES["vi"].to_numpy()


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


RESULTS = {
    "PoolResult": lambda: evidence.pool(Y, V),
    "EggerResult": lambda: evidence.egger_test(Y, V),
    "TrimFillResult": lambda: evidence.trim_and_fill(Y, V),
    "SubgroupResult": lambda: evidence.subgroup_analysis(ES, "alloc"),
    "MetaRegressionResult": lambda: evidence.meta_regression(ES, "ablat"),
    "ClusteredPoolResult": lambda: evidence.pool_clustered(ES, cluster="alloc"),
    "IngestResult": lambda: evidence.read_studies(evidence.bundled_path("exosome_studies.csv")),
    "Scheme": lambda: grading.load_scheme({"ois_events": 400}),
    "RunResult": lambda: grading.run_review(
        evidence.bundled_path("exosome_studies.csv"), figures=False, report=False
    ),
}


@pytest.fixture(scope="module", params=list(RESULTS))
def result(request):
    res = _quiet(RESULTS[request.param])
    assert type(res).__name__ == request.param
    return res


def test_result_is_frozen(result):
    assert dataclasses.is_dataclass(result)
    name = dataclasses.fields(result)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(result, name, None)


def test_result_has_tidy_frame_summary_and_html(result):
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0
    assert frame.columns.is_unique
    text = result.summary()
    assert isinstance(text, str) and any(ch.isdigit() for ch in text)
    page = result._repr_html_()
    assert page.startswith("<") and page.count("<") == page.count(">")


def test_pool_result_frame_holds_full_precision():
    res = evidence.pool(Y, V)
    row = res.to_frame().iloc[0]
    assert row["estimate"] == res.estimate  # exact, not rounded
    assert row["k"] == 13 and row["method"] == "REML"
    assert f"{res.estimate:.4f}" in res.summary()


def test_ingest_result_frame_is_a_row_ledger():
    studies = evidence.read_studies(evidence.bundled_path("exosome_studies.csv")).studies
    raw = studies.copy()
    raw["n_int"] = raw["n_int"].astype(object)
    raw.iloc[[0, 5], raw.columns.get_loc("n_int")] = "abc"
    res = evidence.read_studies(raw)
    ledger = res.to_frame()
    assert list(ledger.columns) == ["row", "study_id", "status", "studies_index", "reasons"]
    assert list(ledger["row"]) == list(range(res.n_in))  # every input row, once
    assert (ledger["status"] == "accepted").sum() == res.n_accepted == len(raw) - 2
    bad = ledger[ledger["status"] == "rejected"]
    assert list(bad["row"]) == [0, 5]
    assert list(bad["study_id"]) == list(raw["study_id"].iloc[[0, 5]])
    assert bad["reasons"].str.startswith("n_int: ").all()
    good = ledger[ledger["status"] == "accepted"]
    # studies_index points at the accepted row in res.studies
    assert (
        res.studies["study_id"].to_numpy()[good["studies_index"].to_numpy(dtype=int)]
        == good["study_id"].to_numpy()
    ).all()


def test_ingest_result_frame_of_empty_input():
    studies = evidence.read_studies(evidence.bundled_path("exosome_studies.csv")).studies
    ledger = evidence.read_studies(studies.iloc[:0]).to_frame()
    assert len(ledger) == 0
    assert list(ledger.columns) == ["row", "study_id", "status", "studies_index", "reasons"]


def test_scheme_frame_lists_settings_with_sources_and_changes():
    scheme = grading.load_scheme({"ois_events": 400})
    frame = scheme.to_frame()
    assert list(frame.columns) == ["setting", "value", "default", "changed", "source"]
    row = frame.set_index("setting").loc["ois_events"]
    assert row["value"] == 400 and row["default"] == 300 and bool(row["changed"])
    assert int(frame["changed"].sum()) == 1
    assert row["source"] == scheme.source("ois_events")
    # table settings are flattened with dotted names and keep their value
    phase = frame.set_index("setting").loc["loa_from_phase.phase_1", "value"]
    assert phase == pytest.approx(scheme.loa_from_phase["phase_1"])
    assert "* ois_events" in scheme.summary()
    assert grading.load_scheme(None).to_frame()["changed"].sum() == 0


def test_ingest_html_is_escaped():
    studies = evidence.read_studies(evidence.bundled_path("exosome_studies.csv")).studies
    raw = studies.astype(object)
    raw.iloc[0, raw.columns.get_loc("study_id")] = "<b>x</b>"
    raw.iloc[0, raw.columns.get_loc("n_int")] = "abc"
    page = evidence.read_studies(raw)._repr_html_()
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


# ------------------------------------------------------------------------------ docstrings
def _frames():
    """(documented callable, frame it returned with dynamic key columns dropped)."""
    import re
    from pathlib import Path
    from tempfile import TemporaryDirectory

    res = evidence.read_studies(
        evidence.bundled_path("exosome_studies.csv"), bib=evidence.bundled_bib_path()
    )
    st = res.studies
    grades = _quiet(grading.grade, st)
    rob = _quiet(grading.assess_rob, st)
    with TemporaryDirectory() as d:
        path = Path(d) / "rob.csv"
        grading.write_robvis(rob.dropna(subset=["overall"]).head(3), path)
        robvis = grading.read_robvis(path)
    claims = evidence.load_dataset("exosome_claims")

    def no_domains(frame):
        return frame.drop(columns=[c for c in frame.columns if re.fullmatch(r"D\d+", str(c))])

    return [
        (evidence.list_datasets, evidence.list_datasets()),
        (evidence.effect_sizes, ES[["yi", "vi"]]),
        (evidence.study_effects, _quiet(evidence.study_effects, st).iloc[:, -3:]),
        (evidence.pool_groups, evidence.pool_groups(ES, "alloc").drop(columns="alloc")),
        (evidence.funnel_data, evidence.funnel_data(Y, V)),
        (evidence.leave_one_out, evidence.leave_one_out(Y, V)),
        (grading.grade, grades),
        (grading.assess_rob, no_domains(rob)),
        (grading.integrate_streams, grading.integrate_streams(grades)),
        (grading.gap_summary, _quiet(grading.gap_summary, st, grades)),
        (
            grading.audit_claims,
            grading.audit_claims(claims, grades, studies=st).drop(columns=list(claims.columns)),
        ),
        (grading.evidence_profile, grading.evidence_profile(grades)),
        (grading.summary_of_findings, grading.summary_of_findings(grades)),
        (grading.read_robvis, no_domains(robvis)),
        (evidence.IngestResult.to_frame, res.to_frame()),
        (evidence.PoolResult.to_frame, evidence.pool(Y, V).to_frame()),
        (evidence.EggerResult.to_frame, evidence.egger_test(Y, V).to_frame()),
        (evidence.TrimFillResult.to_frame, evidence.trim_and_fill(Y, V).to_frame()),
        (
            evidence.SubgroupResult.to_frame,
            _quiet(evidence.subgroup_analysis, ES, "alloc").to_frame().drop(columns="alloc"),
        ),
        (evidence.MetaRegressionResult.to_frame, evidence.meta_regression(ES, "ablat").to_frame()),
        (
            evidence.ClusteredPoolResult.to_frame,
            _quiet(evidence.pool_clustered, ES, cluster="alloc").to_frame(),
        ),
        (grading.Scheme.to_frame, grading.load_scheme(None).to_frame()),
    ]


def test_docstrings_list_every_output_column():
    import inspect

    from grading.domains import ALL_DOMAINS

    problems = {}
    for func, frame in _frames():
        doc = inspect.getdoc(func)
        missing = []
        for col in map(str, frame.columns):
            generic = col
            for dom in ALL_DOMAINS:  # grade() documents <domain>_reason etc. once
                if col.startswith(dom + "_"):
                    generic = "<domain>" + col[len(dom) :]
            if col not in doc and generic not in doc:
                missing.append(col)
        if missing:
            problems[func.__qualname__] = missing
    assert not problems, f"output columns missing from the docstring: {problems}"
