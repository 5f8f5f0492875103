"""Adversarial input: every public function fails with a clear evigap error, never a traceback.

Each case calls one public function of ``evidence``, ``grading`` or ``grading.plots`` with a
realistic mistake and checks (a) the error is an :class:`EvidenceError` of the expected
subclass and (b) the message names the function and the argument / column at fault.  Where a
function legitimately accepts odd input (NaN rows dropped with a warning, ...), the behaviour
is asserted instead.  ``test_every_public_function_is_covered`` keeps the list complete.
"""

from __future__ import annotations

import inspect
import re
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import evidence
import grading
import grading.plots
from evidence.errors import (
    EvidenceError,
    InvalidParameterError,
    StatisticalWarning,
    ValidationError,
)

# Another helper owns these; they are hardened separately.
EXCLUDED = {
    "run_review",
    "render_report",
    "write_report",
    "TextProgress",
    "RunResult",
}
# No argument to get wrong.
NO_ARGUMENTS = {"bundled_bib_path", "data_dictionary", "list_datasets", "template_frame"}

NOPE = "/nonexistent/dir/studies.csv"
BAD_DATA = [
    pytest.param([1.0, 2.0, 3.0], id="list"),
    pytest.param(NOPE, id="missing-path"),
    pytest.param(None, id="None"),
]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------------ inputs
BCG = evidence.load_dataset("bcg")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ES = evidence.effect_sizes(BCG, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
Y = ES["yi"].to_numpy()
V = ES["vi"].to_numpy()


def _es(**changes) -> pd.DataFrame:
    out = ES.copy()
    for col, (row, value) in changes.items():
        out[col] = out[col].astype(object)
        out.loc[row, col] = value
    return out


ABC = _es(yi=(2, "abc"))
NEG_V = _es(vi=(1, -0.1))
NAN_ONLY = ES.assign(yi=np.nan, vi=np.nan)
DUP = pd.concat([BCG, ES], axis=1)  # 'alloc', 'ablat', ... twice: a classic pd.concat slip


@pytest.fixture(scope="module")
def studies() -> pd.DataFrame:
    res = evidence.read_studies(
        evidence.bundled_path("exosome_studies.csv"), bib=evidence.bundled_bib_path()
    )
    return res.studies


@pytest.fixture(scope="module")
def grades(studies) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return grading.grade(studies)


ROBVIS = pd.DataFrame(
    {"Study": ["A", "B"], "D1": ["Low", "High"], "D2": ["Low", "Low"], "Overall": ["Low", "High"]}
)


def _raises(call, exc, *patterns):
    """Call, expect ``exc`` and every regex of ``patterns`` in the message."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc) as info:
            call()
    msg = str(info.value)
    for p in patterns:
        assert re.search(p, msg), f"{p!r} not in message: {msg}"
    return msg


# ------------------------------------------------------------------------------ yi/vi vectors
VECTOR_FUNCS = {
    "pool": evidence.pool,
    "egger_test": evidence.egger_test,
    "funnel_data": evidence.funnel_data,
    "leave_one_out": evidence.leave_one_out,
    "trim_and_fill": evidence.trim_and_fill,
    "funnel_plot": grading.plots.funnel_plot,
}
VECTOR_CASES = [
    # id, yi, vi, kwargs, error class, regexes the message must contain
    ("yi-None", None, V, {}, EvidenceError, [r"'yi'", "one-dimensional"]),
    ("yi-path", NOPE, V, {}, EvidenceError, [r"'yi'", "Got str"]),
    ("yi-abc", ["abc", *Y[1:]], V, {}, EvidenceError, [r"'yi'", r"row 0 has 'abc'"]),
    ("yi-2d", np.c_[Y, Y], V, {}, EvidenceError, [r"'yi'", r"shape \(13, 2\)"]),
    ("vi-negative", Y, np.r_[V[:4], -0.1, V[5:]], {}, EvidenceError, [r"'vi'", "-0.1"]),
    ("length-mismatch", Y, V[:-1], {}, EvidenceError, [r"'yi' and 'vi'", "13 and 12"]),
    ("empty", [], [], {}, EvidenceError, [r"yi.*vi"]),
    ("nan-only", [np.nan] * 3, [np.nan] * 3, {}, EvidenceError, [r"yi.*vi"]),
    ("yi-inf", np.r_[np.inf, Y[1:]], V, {}, EvidenceError, [r"'yi'", "inf"]),
    ("level-95", Y, V, {"level": 95}, InvalidParameterError, [r"'level'", "0.95, not 95", "95"]),
    ("level-1.5", Y, V, {"level": 1.5}, InvalidParameterError, [r"'level'", r"Got 1\.5"]),
    ("level-str", Y, V, {"level": "0.95"}, InvalidParameterError, [r"'level'", "'0.95'"]),
]


@pytest.mark.parametrize("name", list(VECTOR_FUNCS))
@pytest.mark.parametrize(
    ("case", "yi", "vi", "kwargs", "exc", "patterns"),
    VECTOR_CASES,
    ids=[c[0] for c in VECTOR_CASES],
)
def test_vector_functions_reject_bad_yi_vi(name, case, yi, vi, kwargs, exc, patterns):
    msg = _raises(lambda: VECTOR_FUNCS[name](yi, vi, **kwargs), exc, *patterns)
    assert f"{name}()" in msg


@pytest.mark.parametrize(
    ("name", "kwargs", "arg", "got"),
    [
        ("pool", {"method": "RMEL"}, "method", "'RMEL'"),
        ("pool", {"ci_method": "wald"}, "ci_method", "'wald'"),
        ("egger_test", {"method": "RMEL"}, "method", "'RMEL'"),
        ("egger_test", {"ci_method": "wald"}, "ci_method", "'wald'"),
        ("egger_test", {"model": "glm"}, "model", "'glm'"),
        ("leave_one_out", {"method": "RMEL"}, "method", "'RMEL'"),
        ("leave_one_out", {"ci_method": "wald"}, "ci_method", "'wald'"),
        ("leave_one_out", {"labels": ["a", "b"]}, "labels", "2"),
        ("trim_and_fill", {"method": "RMEL"}, "method", "'RMEL'"),
        ("trim_and_fill", {"estimator": "T0"}, "estimator", "'T0'"),
        ("trim_and_fill", {"side": "up"}, "side", "'up'"),
        ("trim_and_fill", {"maxiter": "100"}, "maxiter", "'100'"),
        ("trim_and_fill", {"maxiter": 0}, "maxiter", "0"),
        ("funnel_data", {"estimate": "abc"}, "estimate", "'abc'"),
        ("funnel_data", {"grid_size": 1}, "grid_size", "1"),
        ("funnel_plot", {"measure": "RRR"}, "measure", "'RRR'"),
        ("funnel_plot", {"labels": ["only one"]}, "labels", "1"),
        ("funnel_plot", {"trimfill": 3}, "trimfill", "int"),
        ("funnel_plot", {"ax": "axes"}, "ax", "str"),
    ],
)
def test_vector_functions_reject_bad_options(name, kwargs, arg, got):
    msg = _raises(
        lambda: VECTOR_FUNCS[name](Y, V, **kwargs),
        InvalidParameterError,
        f"'{arg}'",
        re.escape(got),
    )
    assert f"{name}()" in msg


def test_vector_functions_drop_nan_rows_with_a_warning():
    y = [*Y[:5], np.nan]
    v = [*V[:5], 0.1]
    with pytest.warns(StatisticalWarning, match=r"1 of 6 rows dropped"):
        res = evidence.pool(y, v)
    ref = evidence.pool(Y[:5], V[:5])
    assert res.k == 5
    assert res.estimate == pytest.approx(ref.estimate, rel=1e-12)
    assert np.isnan(res.weights[5])


@pytest.mark.parametrize(
    "yi",
    [[str(x) for x in Y], [True] * 13, np.ones(13, dtype=bool)],
    ids=["numeric-strings", "booleans", "bool-array"],
)
def test_pool_accepts_numbers_only(yi):
    _raises(
        lambda: evidence.pool(yi, V),
        InvalidParameterError,
        r"'yi' argument of pool\(\)",
        r"numbers",
    )


def test_too_few_studies_is_a_validation_error_naming_k():
    _raises(
        lambda: evidence.egger_test(Y[:2], V[:2]),
        ValidationError,
        r"egger_test\(\)",
        "at least 3",
        "k = 2",
    )
    _raises(
        lambda: evidence.leave_one_out(Y[:1], V[:1]), ValidationError, r"leave_one_out\(\)", "k = 1"
    )


# ------------------------------------------------------------------------------ long tables
FRAME_FUNCS = {
    "pool_groups": lambda d, **k: evidence.pool_groups(d, "alloc", **k),
    "subgroup_analysis": lambda d, **k: evidence.subgroup_analysis(d, "alloc", **k),
    "meta_regression": lambda d, **k: evidence.meta_regression(d, "ablat", **k),
    "pool_clustered": lambda d, **k: evidence.pool_clustered(d, cluster="alloc", **k),
    "pool_multilevel": lambda d, **k: evidence.pool_multilevel(d, study="alloc", **k),
    "forest_plot": lambda d, **k: grading.plots.forest_plot(d, labels="author", **k),
}
FRAME_CASES = [
    ("data-list", [1, 2, 3], {}, EvidenceError, [r"'data'", "DataFrame", "Got list"]),
    ("data-path", NOPE, {}, EvidenceError, [r"'data'", "DataFrame", "Got str"]),
    ("data-None", None, {}, EvidenceError, [r"'data'", "DataFrame", "Got NoneType"]),
    ("data-empty", pd.DataFrame(), {}, EvidenceError, [r"'(yi|alloc|author)'"]),
    ("vi-column-missing", ES.drop(columns="vi"), {}, EvidenceError, [r"'vi'"]),
    ("yi-names-nothing", ES, {"yi": "effect"}, EvidenceError, [r"'yi'", r"'effect'"]),
    ("yi-abc", ABC, {}, EvidenceError, [r"'yi'", r"row 2 has 'abc'"]),
    ("vi-negative", NEG_V, {}, EvidenceError, [r"'vi'", r"-0\.1"]),
    ("nan-only", NAN_ONLY, {}, EvidenceError, [r"yi.*vi"]),
    ("duplicate-columns", DUP, {}, ValidationError, [r"duplicated column", r"'(alloc|author)'"]),
    ("method", ES, {"method": "RMEL"}, InvalidParameterError, [r"'method'", r"Got 'RMEL'"]),
    ("level-95", ES, {"level": 95}, InvalidParameterError, [r"'level'", "Got 95"]),
    ("level-1.5", ES, {"level": 1.5}, InvalidParameterError, [r"'level'", r"Got 1\.5"]),
]


@pytest.mark.parametrize("name", [n for n in FRAME_FUNCS if n != "pool_groups"])
@pytest.mark.parametrize(
    ("case", "data", "kwargs", "exc", "patterns"), FRAME_CASES, ids=[c[0] for c in FRAME_CASES]
)
def test_frame_functions_reject_bad_tables(name, case, data, kwargs, exc, patterns):
    msg = _raises(lambda: FRAME_FUNCS[name](data, **kwargs), exc, *patterns)
    assert f"{name}()" in msg


@pytest.mark.parametrize(
    ("case", "data", "kwargs", "exc", "patterns"),
    [c for c in FRAME_CASES if c[0] != "nan-only"],
    ids=[c[0] for c in FRAME_CASES if c[0] != "nan-only"],
)
def test_pool_groups_rejects_bad_tables(case, data, kwargs, exc, patterns):
    msg = _raises(lambda: FRAME_FUNCS["pool_groups"](data, **kwargs), exc, *patterns)
    assert "pool_groups()" in msg


def test_pool_groups_keeps_groups_without_data_as_k0_rows():
    # documented: no group is lost; a group with no usable study has k = 0 and NaN results
    with pytest.warns(StatisticalWarning) as caught:
        out = evidence.pool_groups(NAN_ONLY, "alloc")
    assert any("13 of 13 rows dropped" in str(w.message) for w in caught)
    assert any("no study with both" in str(w.message) for w in caught)
    assert list(out["alloc"]) == ["alternate", "random", "systematic"]
    assert (out["k"] == 0).all() and out["estimate"].isna().all()


@pytest.mark.parametrize(
    "name", ["pool_groups", "subgroup_analysis", "meta_regression", "forest_plot"]
)
def test_frame_functions_reject_unknown_ci_method(name):
    _raises(
        lambda: FRAME_FUNCS[name](ES, ci_method="wald"),
        InvalidParameterError,
        r"'ci_method'",
        rf"{name}\(\)",
        "Got 'wald'",
    )


@pytest.mark.parametrize(
    ("call", "arg", "got"),
    [
        (lambda: evidence.pool_groups(ES, None), "by", "None"),
        (lambda: evidence.pool_groups(ES, "trial_arm"), "by", "'trial_arm'"),
        (lambda: evidence.subgroup_analysis(ES, 3), "by", "3"),
        (lambda: evidence.subgroup_analysis(ES, "trial_arm"), None, "'trial_arm'"),
        (lambda: evidence.meta_regression(ES, None), "moderators", "None"),
        (lambda: evidence.meta_regression(ES, "latitude"), None, "'latitude'"),
        (lambda: evidence.meta_regression(ES, "ablat", intercept="yes"), "intercept", "'yes'"),
        (lambda: evidence.meta_regression(ES, [], intercept=False), "moderators", "neither"),
        (lambda: evidence.pool_clustered(ES, cluster=None), "cluster", "None"),
        (lambda: evidence.pool_clustered(ES, cluster="centre"), None, "'centre'"),
        (
            lambda: evidence.pool_clustered(ES, cluster="alloc", small_sample="x"),
            "small_sample",
            "'x'",
        ),
    ],
)
def test_moderator_functions_name_the_bad_argument(call, arg, got):
    _raises(call, EvidenceError, *([f"'{arg}'"] if arg else []), re.escape(got))


def test_meta_regression_rejects_a_numeric_moderator_with_a_text_typo():
    data = _es(ablat=(4, "abc"))
    _raises(
        lambda: evidence.meta_regression(data, "ablat"),
        ValidationError,
        r"meta_regression\(\)",
        "'ablat'",
        "mixes numbers and text",
        "row 4 has 'abc'",
    )
    # a real factor still works (dummy coded); astype('category') is the documented way out
    res = evidence.meta_regression(ES, "alloc")
    assert list(res.coefficients["term"]) == ["intrcpt", "allocrandom", "allocsystematic"]


def test_pool_clustered_needs_two_clusters():
    _raises(
        lambda: evidence.pool_clustered(ES.assign(c=1), cluster="c"),
        ValidationError,
        r"pool_clustered\(\)",
        "at least 2 clusters",
        "'c'",
    )


# ------------------------------------------------------------------------------ forest plot
@pytest.mark.parametrize(
    ("kwargs", "arg", "got"),
    [
        ({"palette": "rainbow"}, "palette", "'rainbow'"),
        ({"measure": "RRR"}, "measure", "'RRR'"),
        ({"digits": "2"}, "digits", "'2'"),
        ({"result": 3}, "result", "int"),
        ({"overall": "yes"}, "overall", "'yes'"),
        ({"xlim": (1,)}, "xlim", r"(1,)"),
        ({"ax": 3}, "ax", "int"),
        ({"rob": 3}, "rob", "int"),
    ],
)
def test_forest_plot_options(kwargs, arg, got):
    _raises(
        lambda: grading.plots.forest_plot(ES, labels="author", **kwargs),
        InvalidParameterError,
        f"'{arg}'",
        r"forest_plot\(\)",
        re.escape(got),
    )


def test_forest_plot_column_errors():
    _raises(
        lambda: grading.plots.forest_plot(ES, labels="author", subgroup="region"),
        ValidationError,
        "'region'",
        r"forest_plot\(\)",
    )
    _raises(
        lambda: grading.plots.forest_plot(ES, labels="author", columns=["events"]),
        ValidationError,
        "'events'",
        r"forest_plot\(\)",
    )
    _raises(
        lambda: grading.plots.forest_plot(ES, labels="study"),
        ValidationError,
        "'study'",
        r"forest_plot\(\)",
    )
    _raises(
        lambda: grading.plots.forest_plot(ES.iloc[:0], labels="author"),
        ValidationError,
        "empty",
        r"forest_plot\(\)",
    )


def test_forest_pages_options():
    _raises(
        lambda: grading.plots.forest_pages(ES, labels="author", rows_per_page=2),
        InvalidParameterError,
        "'rows_per_page'",
        r"forest_pages\(\)",
        "Got 2",
    )
    _raises(
        lambda: grading.plots.forest_pages(ES, labels="author", page=1),
        InvalidParameterError,
        "'page'",
        r"forest_pages\(\)",
    )
    _raises(
        lambda: grading.plots.forest_plot(ES, labels="author", page=3),
        InvalidParameterError,
        "'page'",
        r"forest_plot\(\)",
        "Got 3",
    )


def test_forest_plot_without_label_column_numbers_the_studies():
    ax = grading.plots.forest_plot(ES)  # default labels="study_id" is absent from BCG
    labels = [t.get_text() for t in ax.figure.findobj(lambda a: a.get_gid() == "study_label")]
    assert labels[:2] == ["Study 1", "Study 2"]


# ------------------------------------------------------------------------------ effect sizes
RR_COLS = {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}


@pytest.mark.parametrize("data", BAD_DATA)
def test_effect_sizes_rejects_non_frames(data):
    _raises(
        lambda: evidence.effect_sizes(data, "RR", **RR_COLS),
        InvalidParameterError,
        r"'data'",
        r"effect_sizes\(\)",
        "DataFrame",
    )


@pytest.mark.parametrize(
    ("data", "measure", "kwargs", "exc", "patterns"),
    [
        (BCG, "RRR", {}, InvalidParameterError, [r"'measure'", "Got 'RRR'"]),
        (BCG, None, {}, InvalidParameterError, [r"'measure'", "Got None"]),
        (BCG, "RR", {"ai": "events"}, InvalidParameterError, [r"'ai'", "'events'"]),
        (pd.DataFrame(), "RR", {}, InvalidParameterError, [r"'ai'", "'tpos'"]),
        (
            BCG.assign(tpos=BCG["tpos"].astype(object).where(BCG.index != 3, "abc")),
            "RR",
            {},
            ValidationError,
            ["'tpos'", "numeric", "row 3"],
        ),
        (BCG.assign(tpos=-BCG["tpos"]), "RR", {}, ValidationError, ["'tpos'", "negative"]),
        (BCG, "RR", {"add": "x"}, InvalidParameterError, [r"'add'", "'x'"]),
        (BCG, "RR", {"to": "some"}, InvalidParameterError, [r"'to'", "'some'"]),
        (BCG, "RR", {"vtype": "UB"}, InvalidParameterError, [r"'vtype'", "'UB'"]),
    ],
)
def test_effect_sizes_names_the_problem(data, measure, kwargs, exc, patterns):
    _raises(
        lambda: evidence.effect_sizes(data, measure, **{**RR_COLS, **kwargs}),
        exc,
        r"effect_sizes\(\)",
        *patterns,
    )


def test_effect_sizes_needs_the_cells_of_its_measure():
    _raises(
        lambda: evidence.effect_sizes(BCG, "RR", ai="tpos", bi="tneg", ci="cpos"),
        InvalidParameterError,
        r"effect_sizes\(\)",
        "'di'",
        "'n2i'",
    )
    _raises(
        lambda: evidence.effect_sizes(NEG_V, "GEN", yi="yi", vi="vi"),
        ValidationError,
        "'vi'",
        r"row\(s\) 1",
    )


def test_effect_sizes_of_an_empty_table_is_an_empty_table():
    out = evidence.effect_sizes(BCG.iloc[:0], "RR", **RR_COLS)
    assert len(out) == 0 and {"yi", "vi"} <= set(out.columns)


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "patterns"),
    [
        (([1.2], [0.5], [2.0]), {"measure": "RRR"}, InvalidParameterError, ["'measure'", "'RRR'"]),
        ((["abc"], [0.5], [2.0]), {"measure": "RR"}, InvalidParameterError, ["'estimate'", "abc"]),
        (
            ([1.2], [0.5], [2.0]),
            {"measure": "RR", "level": 95},
            InvalidParameterError,
            ["'level'", "95"],
        ),
        (
            ([1.0, 2.0, 3.0], [0.5, 0.6], [2.0, 3.0]),
            {"measure": "MD"},
            InvalidParameterError,
            ["same length", r"\[3, 2, 2, 1, 1\]"],
        ),
        (([-1.0], [-2.0], [2.0]), {"measure": "RR"}, ValidationError, ["'estimate'", "> 0"]),
        (([1.0], [2.0], [0.5]), {"measure": "RR"}, ValidationError, ["'ci_low'", "'ci_high'"]),
        (([1.0], [0.5], [2.0]), {"measure": "RR", "se": [-0.1]}, ValidationError, ["'se'"]),
    ],
)
def test_effects_from_ci_names_the_problem(args, kwargs, exc, patterns):
    _raises(
        lambda: evidence.effects_from_ci(*args, **kwargs), exc, r"effects_from_ci\(\)", *patterns
    )


def test_effects_from_ci_reads_none_as_not_reported():
    yi, vi = evidence.effects_from_ci(None, [0.5], [2.0], measure="RR")
    assert np.isnan(yi[0])
    assert vi[0] == pytest.approx(((np.log(2.0) - np.log(0.5)) / (2 * 1.959963984540054)) ** 2)


@pytest.mark.parametrize("data", BAD_DATA)
def test_study_effects_rejects_non_frames(data):
    _raises(
        lambda: evidence.study_effects(data), ValidationError, r"study_effects\(\)", "DataFrame"
    )


def test_study_effects_column_problems(studies):
    _raises(
        lambda: evidence.study_effects(pd.DataFrame()),
        ValidationError,
        r"study_effects\(\)",
        "'data_type'",
    )
    bad = studies.assign(data_type=studies["data_type"].astype(object))
    bad.iloc[0, bad.columns.get_loc("data_type")] = "countz"
    _raises(lambda: evidence.study_effects(bad), ValidationError, "'data_type'", "'countz'")
    # without 'measure' no row is lost: each says why it has no effect size
    with pytest.warns(StatisticalWarning, match="0.5 added"):
        out = evidence.study_effects(studies.drop(columns="measure"))
    assert len(out) == len(studies)
    assert (
        out.loc[out["data_type"] == "counts", "effect_note"].str.startswith("measure missing").all()
    )


# ------------------------------------------------------------------------------ data in/out
@pytest.mark.parametrize(
    ("source", "exc", "patterns"),
    [
        ([1, 2], InvalidParameterError, ["'source'", r"read_studies\(\)", "Got list"]),
        (None, InvalidParameterError, ["'source'", "Got NoneType"]),
        (3, InvalidParameterError, ["'source'", "Got int"]),
        (NOPE, ValidationError, [re.escape(NOPE), "does not exist"]),
        (pd.DataFrame(), ValidationError, ["no columns", "study_id"]),
    ],
)
def test_read_studies_rejects_bad_sources(source, exc, patterns):
    _raises(lambda: evidence.read_studies(source), exc, *patterns)


def test_read_studies_missing_column_and_bad_bib(studies):
    _raises(
        lambda: evidence.read_studies(studies.drop(columns="study_id")),
        ValidationError,
        "missing required column",
        "'study_id'",
    )
    _raises(
        lambda: evidence.read_studies(studies, bib="/nonexistent.bib"),
        ValidationError,
        "'/nonexistent.bib'",
        "does not exist",
    )
    _raises(
        lambda: evidence.read_studies(studies, bib=3), InvalidParameterError, "'bib'", "Got int"
    )


@pytest.mark.parametrize(
    ("kwargs", "patterns"),
    [
        ({"columns": ["x"]}, ["'columns' argument of read_studies", "Got"]),
        ({"columns": {"x": 3}}, ["'columns' argument of read_studies"]),
        ({"na_values": "NA"}, ["'na_values' argument of read_studies", "list of strings"]),
        ({"na_values": [1]}, ["'na_values' argument of read_studies"]),
        ({"defaults": {"stream": ["human"]}}, ["'defaults' argument of read_studies"]),
        ({"defaults": "human"}, ["'defaults' argument of read_studies"]),
    ],
)
def test_read_studies_rejects_bad_reading_options(studies, kwargs, patterns):
    _raises(lambda: evidence.read_studies(studies, **kwargs), InvalidParameterError, *patterns)


def test_read_studies_sheet_applies_to_workbooks_only(studies, tmp_path):
    path = tmp_path / "s.csv"
    studies.to_csv(path, index=False)
    _raises(
        lambda: evidence.read_studies(path, sheet="Studies"),
        InvalidParameterError,
        "'sheet' argument of read_studies",
        "applies to .xlsx and .ods",
    )
    book = tmp_path / "s.xlsx"
    studies.head(2).to_excel(book, index=False)
    _raises(
        lambda: evidence.read_studies(book, sheet=2.5),
        InvalidParameterError,
        "'sheet' argument of read_studies",
        "Got float",
    )
    _raises(
        lambda: evidence.read_studies(book, sheet=7), ValidationError, "no sheet number 7", "Sheet1"
    )


def test_read_studies_rejects_bad_rows_instead_of_raising(studies):
    raw = studies.copy()
    raw["n_int"] = raw["n_int"].astype(object)
    raw.iloc[0, raw.columns.get_loc("n_int")] = "abc"
    res = evidence.read_studies(raw)
    assert res.n_in == len(raw) == res.n_accepted + res.rejected["row"].nunique()
    assert ((res.rejected["row"] == 0) & (res.rejected["column"] == "n_int")).any()


@pytest.mark.parametrize("func", [evidence.read_bib, evidence.read_ris])
@pytest.mark.parametrize(
    ("path", "exc", "patterns"),
    [
        (None, InvalidParameterError, ["'path'", "Got NoneType"]),
        ([1], InvalidParameterError, ["'path'", "Got list"]),
        (3, InvalidParameterError, ["'path'", "Got int"]),
        ("/nonexistent/refs.bib", ValidationError, ["does not exist"]),
        ("/tmp", ValidationError, ["not a file"]),
    ],
)
def test_reference_readers_reject_bad_paths(func, path, exc, patterns):
    msg = _raises(lambda: func(path), exc, *patterns)
    if exc is InvalidParameterError:
        assert f"{func.__name__}()" in msg


@pytest.mark.parametrize(
    ("call", "arg", "got"),
    [
        (lambda: evidence.load_dataset("bgc"), "name", "'bgc'"),
        (lambda: evidence.load_dataset(None), "name", "None"),
        (lambda: evidence.bundled_path("nope.csv"), "filename", "'nope.csv'"),
        (lambda: evidence.bundled_path("../pyproject.toml"), "filename", "'../pyproject.toml'"),
        (lambda: evidence.bundled_path(None), "filename", "None"),
        (lambda: evidence.write_csv([1, 2], "x.csv"), "frame", "list"),
        (lambda: evidence.write_csv(None, "x.csv"), "frame", "NoneType"),
        (lambda: evidence.write_csv(BCG, None), "path", "NoneType"),
        (lambda: evidence.write_csv(BCG, "/nonexistent/dir/x.csv"), "path", "/nonexistent"),
    ],
)
def test_dataset_and_export_arguments(call, arg, got):
    _raises(call, InvalidParameterError, f"'{arg}'", re.escape(got))


@pytest.mark.parametrize("config", [[1, 2], None], ids=["list", "None"])
def test_sheet_options_rejects_a_config_that_is_not_a_path_or_mapping(config):
    _raises(
        lambda: evidence.sheet_options(config),
        InvalidParameterError,
        "'config'",
        r"sheet_options\(\)",
        f"Got {type(config).__name__}",
    )


# ------------------------------------------------------------------------------ grading
GRADES_FUNCS = {
    "integrate_streams": grading.integrate_streams,
    "evidence_profile": grading.evidence_profile,
    "summary_of_findings": grading.summary_of_findings,
}


@pytest.mark.parametrize("name", ["grade", "assess_rob", "rob_problems", *GRADES_FUNCS])
@pytest.mark.parametrize("data", BAD_DATA)
def test_grading_functions_reject_non_frames(name, data):
    func = getattr(grading, name)
    _raises(
        lambda: func(data),
        InvalidParameterError,
        rf"{name}\(\)",
        "DataFrame",
        f"Got {type(data).__name__}",
    )


@pytest.mark.parametrize("name", ["grade", "assess_rob", *GRADES_FUNCS])
@pytest.mark.parametrize("data", [pd.DataFrame(), BCG], ids=["empty", "wrong-table"])
def test_grading_functions_name_the_missing_column(name, data):
    func = getattr(grading, name)
    _raises(lambda: func(data), ValidationError, rf"{name}\(\)", "'(indication|study_id)'")


@pytest.mark.parametrize("name", list(GRADES_FUNCS))
def test_table_functions_name_a_dropped_grades_column(name, grades):
    _raises(
        lambda: GRADES_FUNCS[name](grades.drop(columns="certainty")),
        ValidationError,
        rf"{name}\(\)",
        "'certainty'",
    )


@pytest.mark.parametrize(
    ("kwargs", "arg", "got"),
    [
        ({"scheme": "/nonexistent.toml"}, "path_or_text", "/nonexistent.toml"),
        ({"scheme": 3}, "path_or_text", "int"),
        ({"question": "martian"}, "question", "'martian'"),
        ({"overrides": 3}, "overrides", "int"),
        ({"overrides": pd.DataFrame({"x": [1]})}, "overrides", "'indication'"),
    ],
)
def test_grade_options(studies, kwargs, arg, got):
    _raises(
        lambda: grading.grade(studies, **kwargs), InvalidParameterError, f"'{arg}'", re.escape(got)
    )


def test_read_overrides_and_overall_certainty_arguments(tmp_path):
    # issue 11 (grade helper): the overrides file and the overall certainty
    _raises(
        lambda: grading.read_overrides(tmp_path / "none.csv"),
        InvalidParameterError,
        "'path'",
        r"read_overrides\(\)",
        "none.csv",
    )
    bad = tmp_path / "o.csv"
    bad.write_text("indication,domain,step,reason\nstroke,imprecision,-4,x\n", encoding="utf-8")
    _raises(
        lambda: grading.read_overrides(bad),
        InvalidParameterError,
        "line 2",
        "column 'step'",
        "'-4'",
    )
    _raises(
        lambda: grading.overall_certainty([1]),
        InvalidParameterError,
        "'grades'",
        r"overall_certainty\(\)",
    )
    _raises(
        lambda: grading.overall_certainty(pd.DataFrame({"indication": ["x"]})),
        ValidationError,
        "'stream'",
    )


def test_assess_rob_options(studies):
    _raises(
        lambda: grading.assess_rob(studies, tool="cochrane"),
        InvalidParameterError,
        "'tool'",
        r"assess_rob\(\)",
        "'cochrane'",
    )
    _raises(
        lambda: grading.assess_rob(studies, overrides=3),
        InvalidParameterError,
        "'overrides'",
        r"assess_rob\(\)",
    )


@pytest.mark.parametrize(
    ("arg", "bad"),
    [("studies", None), ("studies", [1]), ("studies", NOPE), ("grades", None), ("regulatory", [1])],
)
def test_gap_summary_rejects_non_frames(studies, grades, arg, bad):
    kwargs = {"studies": studies, "grades": grades, arg: bad}
    _raises(
        lambda: grading.gap_summary(**kwargs),
        InvalidParameterError,
        f"'{arg}'",
        r"gap_summary\(\)",
        f"Got {type(bad).__name__}",
    )


@pytest.mark.parametrize("bad", [None, [1], NOPE])
def test_harms_summary_rejects_non_frames(bad):
    _raises(
        lambda: grading.harms_summary(bad),
        InvalidParameterError,
        "'studies'",
        r"harms_summary\(\)",
        f"Got {type(bad).__name__}",
    )


def test_harms_summary_and_ladder_name_missing_columns(studies):
    _raises(
        lambda: grading.harms_summary(BCG), ValidationError, "'indication'", r"harms_summary\(\)"
    )
    _raises(
        lambda: grading.translational_ladder(studies, gap=[1]),
        InvalidParameterError,
        "'gap'",
        r"translational_ladder\(\)",
        "list",
    )


def test_gap_summary_names_missing_columns(studies, grades):
    _raises(
        lambda: grading.gap_summary(pd.DataFrame(), grades),
        ValidationError,
        "'indication'",
        "'studies'",
    )
    _raises(
        lambda: grading.gap_summary(studies, grades.drop(columns="certainty")),
        ValidationError,
        "'certainty'",
        "'grades'",
    )
    _raises(
        lambda: grading.gap_summary(studies, grades, regulatory=BCG),
        ValidationError,
        "'indication'",
        "'regulatory'",
    )


@pytest.mark.parametrize(
    ("arg", "bad"), [("claims", None), ("claims", [1]), ("grades", None), ("studies", [1])]
)
def test_audit_claims_rejects_non_frames(studies, grades, arg, bad):
    claims = evidence.load_dataset("exosome_claims")
    kwargs = {"claims": claims, "grades": grades, "studies": studies, arg: bad}
    _raises(
        lambda: grading.audit_claims(**kwargs),
        InvalidParameterError,
        f"'{arg}'",
        r"audit_claims\(\)",
        f"Got {type(bad).__name__}",
    )


def test_audit_claims_names_missing_columns(grades):
    _raises(lambda: grading.audit_claims(BCG, grades), ValidationError, "'claim_id'", "'claims'")


STATEMENT = {
    "intervention": "MSC exosomes",
    "outcome": "infarct size",
    "measure": "SMD",
    "estimate": -0.8,
    "ci_low": -1.2,
    "ci_high": -0.4,
}


@pytest.mark.parametrize(
    ("level", "changes", "arg", "got"),
    [
        ("great", {}, "level", "'great'"),
        ("high", {"stream": "martian"}, "stream", "'martian'"),
        ("high", {"estimate": "abc"}, "estimate", "'abc'"),
        ("high", {"ci_low": None}, "ci_low", "None"),
        ("high", {"intervention": 3}, "intervention", "int"),
        ("high", {"measure": 3}, "measure", "int"),
    ],
)
def test_informative_statement_arguments(level, changes, arg, got):
    kwargs = {**STATEMENT, **changes}
    _raises(
        lambda: grading.informative_statement(level, **kwargs),
        InvalidParameterError,
        f"'{arg}'",
        r"informative_statement\(\)",
        re.escape(got),
    )


def test_informative_statement_accepts_case_and_nan():
    text = grading.informative_statement("Moderate", **STATEMENT, stream="ANIMAL")
    assert text.startswith("In animal models, MSC exosomes likely reduces infarct size")
    text = grading.informative_statement("low", **{**STATEMENT, "estimate": float("nan")})
    assert "not estimable" in text


@pytest.mark.parametrize(
    ("source", "patterns"),
    [
        ("/nonexistent.toml", ["'path_or_text'", r"load_scheme\(\)", "missing file"]),
        (3, ["'path_or_text'", "Got int"]),
        ("this is = not [toml", ["TOML", "parsed"]),
        ({"i2_modrate": 40}, ["'i2_modrate'", "Known settings"]),
        ({"egger_alpha": "abc"}, ["'egger_alpha'", "'abc'"]),
        ({"i2_moderate": 90, "i2_considerable": 50}, ["'i2_moderate'", "i2_considerable"]),
    ],
)
def test_load_scheme_names_the_setting(source, patterns):
    _raises(lambda: grading.load_scheme(source), InvalidParameterError, *patterns)


@pytest.mark.parametrize(
    ("call", "exc", "patterns"),
    [
        (
            lambda: grading.overall_judgement("cochrane", {}),
            InvalidParameterError,
            ["'tool'", r"overall_judgement\(\)", "'cochrane'"],
        ),
        (
            lambda: grading.overall_judgement("rob2", None),
            InvalidParameterError,
            ["'domains'", r"overall_judgement\(\)", "NoneType"],
        ),
        (
            lambda: grading.overall_judgement("rob2", ["low"]),
            InvalidParameterError,
            ["'domains'", "list"],
        ),
        (
            lambda: grading.overall_judgement("rob2", {"D1": "meh"}),
            InvalidParameterError,
            ["'domains'", r"overall_judgement\(\)", "'meh'", "some_concerns"],
        ),
        (
            lambda: grading.overall_judgement("rob2", {"D9": "low"}),
            InvalidParameterError,
            ["'domains'", "'D9'", "D5"],
        ),
        (
            lambda: grading.parse_rob_domains("garbage"),
            InvalidParameterError,
            [r"parse_rob_domains\(\)", "'garbage'", "D1=low"],
        ),
        (
            lambda: grading.parse_rob_domains("D1=low", tool="nope"),
            InvalidParameterError,
            ["'tool'", r"parse_rob_domains\(\)"],
        ),
        (
            lambda: grading.parse_rob_domains("D9=low", tool="rob2"),
            InvalidParameterError,
            ["'D9'", "RoB 2"],
        ),
        (
            lambda: grading.read_robvis(None),
            InvalidParameterError,
            ["'path'", r"read_robvis\(\)", "NoneType"],
        ),
        (lambda: grading.read_robvis(NOPE), ValidationError, [r"read_robvis\(\)", "not found"]),
        (lambda: grading.read_robvis(NOPE, tool="nope"), InvalidParameterError, ["'tool'"]),
        (
            lambda: grading.write_robvis(None, "r.csv"),
            InvalidParameterError,
            ["'frame'", r"write_robvis\(\)", "NoneType"],
        ),
        (lambda: grading.write_robvis([1], "r.csv"), InvalidParameterError, ["'frame'", "list"]),
        (
            lambda: grading.write_robvis(BCG, "r.csv"),
            InvalidParameterError,
            ["'frame'", "'study_id'", "'overall'"],
        ),
        (
            lambda: grading.write_robvis(
                pd.DataFrame({"study_id": ["a"], "overall": ["low"]}), None
            ),
            InvalidParameterError,
            ["'path'", "NoneType"],
        ),
    ],
)
def test_rob_functions(call, exc, patterns):
    _raises(call, exc, *patterns)


def test_read_robvis_rejects_an_empty_file_and_bad_judgements(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _raises(
        lambda: grading.read_robvis(empty), ValidationError, r"read_robvis\(\)", "cannot be read"
    )
    bad = tmp_path / "bad.csv"
    ROBVIS.assign(D2=["Low", "meh"]).to_csv(bad, index=False)
    _raises(
        lambda: grading.read_robvis(bad, tool="rob2"), ValidationError, "row 1", "'D2'", "'meh'"
    )


@pytest.mark.parametrize("func", [grading.to_markdown, grading.to_html, grading.to_latex])
@pytest.mark.parametrize("frame", BAD_DATA)
def test_table_exporters_reject_non_frames(func, frame):
    _raises(
        lambda: func(frame),
        InvalidParameterError,
        "'frame'",
        rf"{func.__name__}\(\)",
        f"Got {type(frame).__name__}",
    )


def test_table_exporters_options_and_any_frame():
    _raises(
        lambda: grading.to_markdown(BCG, footnotes="yes"),
        InvalidParameterError,
        "'footnotes'",
        "'yes'",
    )
    _raises(
        lambda: grading.to_html(BCG, caption=3), InvalidParameterError, "'caption'", r"to_html\(\)"
    )
    # the exporters render any table (not only grade() output)
    md = grading.to_markdown(BCG.head(2)[["trial", "author"]])
    assert md.splitlines()[0] == "| trial | author |"


# ------------------------------------------------------------------------------ other plots
@pytest.mark.parametrize(
    "name",
    ["gap_map", "rob_summary", "rob_traffic_light", "translational_forest", "translational_ladder"],
)
@pytest.mark.parametrize("data", BAD_DATA)
def test_plot_functions_reject_non_frames(name, data):
    func = getattr(grading.plots, name)
    kwargs = {"indication": "stroke"} if name == "translational_forest" else {}
    _raises(
        lambda: func(data, **kwargs),
        InvalidParameterError,
        rf"{name}\(\)",
        "DataFrame",
        f"Got {type(data).__name__}",
    )


@pytest.mark.parametrize(
    "name",
    ["gap_map", "rob_summary", "rob_traffic_light", "translational_forest", "translational_ladder"],
)
def test_plot_functions_name_missing_columns(name):
    func = getattr(grading.plots, name)
    kwargs = {"indication": "stroke"} if name == "translational_forest" else {}
    _raises(lambda: func(BCG, **kwargs), ValidationError, rf"{name}\(\)", "'(indication|Study)'")


@pytest.mark.parametrize(
    ("call", "exc", "patterns"),
    [
        (
            lambda s: grading.plots.gap_map(s, grades=[1]),
            InvalidParameterError,
            ["'grades'", r"gap_map\(\)", "list"],
        ),
        (
            lambda s: grading.plots.gap_map(s, grades=BCG),
            ValidationError,
            ["'grades'", "certainty"],
        ),
        (
            lambda s: grading.plots.gap_map(s, regulatory=BCG),
            ValidationError,
            ["'regulatory'", "'status'"],
        ),
        (
            lambda s: grading.plots.gap_map(s, order=["atlantis"]),
            InvalidParameterError,
            ["'order'", "'atlantis'"],
        ),
        (
            lambda s: grading.plots.translational_forest(s, indication="atlantis"),
            ValidationError,
            [r"translational_forest\(\)", "'atlantis'"],
        ),
        (
            lambda s: grading.plots.translational_forest(s, indication=None),
            InvalidParameterError,
            ["'indication'", "NoneType"],
        ),
        (
            lambda s: grading.plots.translational_forest(s, indication="stroke", scale="RR"),
            InvalidParameterError,
            ["'scale'", "'RR'"],
        ),
        (
            lambda s: grading.plots.translational_forest(s, indication="stroke", method="RMEL"),
            InvalidParameterError,
            ["'method'", r"translational_forest\(\)", "'RMEL'"],
        ),
        (
            lambda s: grading.plots.translational_forest(s, indication="stroke", level=95),
            InvalidParameterError,
            ["'level'", r"translational_forest\(\)", "95"],
        ),
        (
            lambda s: grading.plots.translational_forest(s, indication="stroke", grades=[1]),
            InvalidParameterError,
            ["'grades'", "list"],
        ),
        (
            lambda s: grading.plots.translational_forest(s, indication="stroke", grades=BCG),
            ValidationError,
            ["'grades'", "certainty"],
        ),
        (
            lambda s: grading.plots.rob_summary(ROBVIS, palette="rainbow"),
            InvalidParameterError,
            ["'palette'", r"rob_summary\(\)", "'rainbow'"],
        ),
        (
            lambda s: grading.plots.rob_traffic_light(ROBVIS, palette="rainbow"),
            InvalidParameterError,
            ["'palette'", r"rob_traffic_light\(\)"],
        ),
        (
            lambda s: grading.plots.rob_traffic_light(ROBVIS.assign(D1=["Low", "meh"])),
            EvidenceError,
            ["'meh'"],
        ),
    ],
)
def test_plot_options(studies, call, exc, patterns):
    _raises(lambda: call(studies), exc, *patterns)


@pytest.mark.parametrize(
    ("args", "kwargs", "arg", "got"),
    [
        ((None, "x.png"), {}, "fig", "NoneType"),
        (("fig", "x.xyz"), {}, "path", ".xyz"),
        (("fig", None), {}, "path", "NoneType"),
        (("fig", "x.png"), {"dpi": "high"}, "dpi", "'high'"),
        (("fig", "x.png"), {"transparent": "no"}, "transparent", "'no'"),
    ],
)
def test_save_figure_arguments(tmp_path, args, kwargs, arg, got):
    fig = plt.figure()
    args = tuple(fig if a == "fig" else (tmp_path / a if isinstance(a, str) else a) for a in args)
    _raises(
        lambda: grading.plots.save_figure(*args, **kwargs),
        InvalidParameterError,
        f"'{arg}'",
        r"save_figure\(\)",
        re.escape(got),
    )


# ------------------------------------------------------------------------------ completeness
def _public_callables() -> set[str]:
    names = set()
    for mod in (evidence, grading, grading.plots):
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isfunction(obj):
                names.add(name)
    return names - EXCLUDED


def test_every_public_function_is_covered():
    source = Path(__file__).read_text()
    called = {
        name
        for name in _public_callables()
        if re.search(rf"\b{name}\(|[\"']{name}[\"']|\.{name}\b", source)
    }
    missing = _public_callables() - called - NO_ARGUMENTS
    assert not missing, f"public functions without a bad-input case: {sorted(missing)}"
    assert NO_ARGUMENTS <= _public_callables()
    for name in NO_ARGUMENTS:
        fn = getattr(evidence, name)
        assert not inspect.signature(fn).parameters


# ------------------------------------------------------------------------------ duplicated columns
def _dup(frame: pd.DataFrame, col: str) -> pd.DataFrame:
    return pd.concat([frame, frame[[col]]], axis=1)


@pytest.mark.parametrize(
    ("name", "call", "col"),
    [
        ("study_effects", lambda s, g: evidence.study_effects(_dup(s, "n_int")), "n_int"),
        ("grade", lambda s, g: grading.grade(_dup(s, "indication")), "indication"),
        ("assess_rob", lambda s, g: grading.assess_rob(_dup(s, "study_id")), "study_id"),
        ("gap_summary", lambda s, g: grading.gap_summary(_dup(s, "stream"), g), "stream"),
        (
            "integrate_streams",
            lambda s, g: grading.integrate_streams(_dup(g, "certainty")),
            "certainty",
        ),
        ("evidence_profile", lambda s, g: grading.evidence_profile(_dup(g, "k")), "k"),
        (
            "summary_of_findings",
            lambda s, g: grading.summary_of_findings(_dup(g, "certainty")),
            "certainty",
        ),
        ("gap_map", lambda s, g: grading.plots.gap_map(_dup(s, "model")), "model"),
        ("harms_summary", lambda s, g: grading.harms_summary(_dup(s, "stream")), "stream"),
        (
            "translational_ladder",
            lambda s, g: grading.plots.translational_ladder(_dup(s, "model")),
            "model",
        ),
        (
            "translational_forest",
            lambda s, g: grading.plots.translational_forest(_dup(s, "yi"), indication="stroke"),
            "yi",
        ),
        (
            "rob_traffic_light",
            lambda s, g: grading.plots.rob_traffic_light(_dup(ROBVIS, "D1")),
            "D1",
        ),
        ("rob_summary", lambda s, g: grading.plots.rob_summary(_dup(ROBVIS, "Overall")), "Overall"),
    ],
)
def test_duplicated_columns_are_named(studies, grades, name, call, col):
    if name == "translational_forest":
        with pytest.warns(StatisticalWarning, match="0.5 added"):
            studies = evidence.study_effects(studies)
    _raises(
        lambda: call(studies, grades),
        ValidationError,
        rf"{name}\(\)",
        "duplicated column",
        f"'{col}'",
    )


def test_funnel_plot_trimfill_frame_must_be_numeric():
    filled = pd.DataFrame({"yi": ["abc"], "vi": [0.1]})
    _raises(
        lambda: grading.plots.funnel_plot(Y, V, trimfill=filled),
        ValidationError,
        r"funnel_plot\(\)",
        "'trimfill'",
        "row 0 has 'abc'",
    )


# ------------------------------------------------------------------------------ engine-a additions
# Mantel-Haenszel/Peto, proportions, diagnostics, publication-bias tools and their figures
# (issue 14 items 1, 3, 4; issue 18 item 3). Detailed cases live in each module's test file.
TABLE = BCG.assign(n1i=BCG["tpos"] + BCG["tneg"], n2i=BCG["cpos"] + BCG["cneg"])


@pytest.mark.parametrize(
    ("call", "exc", "patterns"),
    [
        (
            lambda: evidence.mantel_haenszel(TABLE, ai="tpos", n1i="n1i", ci="cpos", n2i="nope"),
            InvalidParameterError,
            [r"'n2i'", r"mantel_haenszel\(\)", "'nope'"],
        ),
        (
            lambda: evidence.mantel_haenszel(
                TABLE, measure="HR", ai="tpos", n1i="n1i", ci="cpos", n2i="n2i"
            ),
            InvalidParameterError,
            [r"'measure'", r"mantel_haenszel\(\)", "'HR'"],
        ),
        (
            lambda: evidence.mantel_haenszel(
                TABLE.assign(tpos=-1), ai="tpos", n1i="n1i", ci="cpos", n2i="n2i"
            ),
            ValidationError,
            [r"'tpos'", "negative"],
        ),
        (
            lambda: evidence.peto(TABLE, ai="tpos", n1i="n1i", ci="cpos", n2i="n2i", level=95),
            InvalidParameterError,
            [r"'level'", r"peto\(\)", "95"],
        ),
        (lambda: evidence.peto([1, 2], ai="tpos"), EvidenceError, [r"'data'", r"peto\(\)"]),
        (
            lambda: evidence.proportion_ci([1, 2], [10, "x"]),
            InvalidParameterError,
            [r"'n'", r"proportion_ci\(\)"],
        ),
        (
            lambda: evidence.proportion_ci([11], [10]),
            ValidationError,
            [r"'events'", "larger than 'n'"],
        ),
        (
            lambda: evidence.pool_proportions(pd.DataFrame({"x": [1]}), xi="x", ni="n"),
            InvalidParameterError,
            [r"'ni'", "'n'"],
        ),
        (
            lambda: evidence.ranktest(Y, V, exact="yes"),
            InvalidParameterError,
            [r"'exact'", r"ranktest\(\)"],
        ),
        (
            lambda: evidence.ranktest(Y, V[:-1]),
            InvalidParameterError,
            [r"'yi' and 'vi'", "13 and 12"],
        ),
        (
            lambda: evidence.fail_safe_n(Y, V, type="Fisher"),
            InvalidParameterError,
            [r"'type'", r"fail_safe_n\(\)", "'Fisher'"],
        ),
        (
            lambda: evidence.fail_safe_n(["abc", *Y[1:]], V),
            InvalidParameterError,
            [r"'yi'", r"fail_safe_n\(\)", "'abc'"],
        ),
        (
            lambda: evidence.cumulative(ES, order="year_of_publication"),
            InvalidParameterError,
            [r"'order'", r"cumulative\(\)", "year_of_publication"],
        ),
        (
            lambda: evidence.cumulative(ES, order=None, level=95),
            InvalidParameterError,
            [r"'level'", "95"],
        ),
        (
            lambda: evidence.influence(Y, np.r_[V[:4], -0.1, V[5:]]),
            ValidationError,
            [r"'vi'", r"influence\(\)", r"-0\.1"],
        ),
        (lambda: evidence.influence(Y[:2], V[:2]), ValidationError, [r"influence\(\)", "k = 2"]),
        (
            lambda: evidence.baujat_data(Y, V, labels=["a"]),
            InvalidParameterError,
            [r"'labels'", r"baujat_data\(\)", "13"],
        ),
        (
            lambda: grading.plots.baujat_plot(Y, V, ax="axes"),
            InvalidParameterError,
            [r"'ax'", r"baujat_plot\(\)"],
        ),
        (
            lambda: grading.plots.cumulative_forest(ES),
            InvalidParameterError,
            [r"'cumul'", r"cumulative_forest\(\)"],
        ),
        (
            lambda: grading.plots.funnel_plot(Y, V, contours=(95,)),
            InvalidParameterError,
            [r"'contours'", r"funnel_plot\(\)"],
        ),
    ],
)
def test_engine_a_functions_name_the_bad_argument(call, exc, patterns):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        _raises(call, exc, *patterns)


# ------------------------------------------------------------------------------ one error class
# per kind of mistake (docs/architecture.md): a wrong call -> InvalidParameterError, data that
# cannot be analysed -> ValidationError, the same in every pooling/regression/bias function
_VEC_MISTAKES = {
    "booleans": (([True] * 13, V), InvalidParameterError),
    "numeric-strings": (([str(x) for x in Y], V), InvalidParameterError),
    "text": ((["abc", *Y[1:]], V), InvalidParameterError),
    "length-mismatch": ((Y, V[:-1]), InvalidParameterError),
    "negative-vi": ((Y, np.r_[-0.1, V[1:]]), ValidationError),
    "infinite-yi": ((np.r_[np.inf, Y[1:]], V), ValidationError),
    "all-missing": (([np.nan] * 13, [np.nan] * 13), ValidationError),
}


@pytest.mark.parametrize("mistake", sorted(_VEC_MISTAKES))
@pytest.mark.parametrize(
    "name", ["pool", "egger_test", "funnel_data", "leave_one_out", "trim_and_fill"]
)
def test_same_vector_mistake_same_error_class(name, mistake):
    (y, v), exc = _VEC_MISTAKES[mistake]
    func = getattr(evidence, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(EvidenceError) as info:
            func(y, v)
    assert type(info.value) is exc, (name, mistake, type(info.value))


def _cell(col, row, value):
    out = ES.copy()
    out[col] = out[col].astype(object)
    out.loc[row, col] = value
    return out


_FRAME_MISTAKES = {
    "text-cell": (lambda: _cell("yi", 2, "abc"), ValidationError),
    "boolean-cell": (lambda: _cell("yi", 2, True), ValidationError),
    "boolean-column": (lambda: ES.assign(yi=True), ValidationError),
    "negative-vi": (lambda: _cell("vi", 1, -0.1), ValidationError),
    "infinite-yi": (lambda: _cell("yi", 1, np.inf), ValidationError),
    "missing-column": (lambda: ES.drop(columns="vi"), InvalidParameterError),
}
_FRAME_POOLERS = {
    "pool_groups": lambda d: evidence.pool_groups(d, "alloc"),
    "subgroup_analysis": lambda d: evidence.subgroup_analysis(d, "alloc"),
    "meta_regression": lambda d: evidence.meta_regression(d, "ablat"),
    "pool_clustered": lambda d: evidence.pool_clustered(d, cluster="alloc"),
    "pool_multilevel": lambda d: evidence.pool_multilevel(d, study="alloc"),
}


@pytest.mark.parametrize("mistake", sorted(_FRAME_MISTAKES))
@pytest.mark.parametrize("name", sorted(_FRAME_POOLERS))
def test_same_table_mistake_same_error_class(name, mistake):
    make, exc = _FRAME_MISTAKES[mistake]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(EvidenceError) as info:
            _FRAME_POOLERS[name](make())
    assert type(info.value) is exc, (name, mistake, type(info.value))


def test_pool_clustered_identical_estimates_give_infinite_t_not_a_crash():
    data = pd.DataFrame({"yi": [0.2] * 6, "vi": [0.01, 0.02] * 3, "c": [1, 1, 2, 2, 3, 3]})
    res = evidence.pool_clustered(data, cluster="c")
    assert res.se == 0.0 and res.stat == np.inf and res.p_value == 0.0
