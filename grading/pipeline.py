"""The main job as a library function: study sheet in, graded review (and its files) out.

:func:`run_review` is what ``evigap run`` calls and what the notebooks call, so both share one
code path: read and validate the sheet, compute effect sizes, pool per indication x outcome x
stream, grade, build the evidence profile, the gap summary and the claims audit, draw the
figures (:mod:`grading.figures`), write the CSV files, ``report.html`` and ``manifest.json``,
and return a :class:`~grading.run_result.RunResult`.
"""

from __future__ import annotations

import functools
import os
import sys
import tomllib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import pandas as pd

from evidence.datasets import bundled_bib_path, bundled_path
from evidence.errors import (
    EvidenceError,
    InvalidParameterError,
    StatisticalWarning,
    ValidationError,
)
from evidence.export import terminal_text, write_csv
from evidence.ingest import read_studies
from evidence.measures import DATA_TYPE_MEASURES
from evidence.moderators import subgroup_analysis
from evidence.schema import indication_key
from evidence.study_effects import study_effects
from grading.certainty import grade
from grading.claims import audit_claims
from grading.config import check_options
from grading.figures import draw_figures
from grading.gap import gap_summary
from grading.manifest import (
    build_manifest,
    file_record,
    frame_record,
    sha256_bytes,
    write_manifest,
)
from grading.outputs import OutputFolder
from grading.pooled import pooled_table
from grading.report import write_report
from grading.rob import rob_problems
from grading.run_result import RunResult, count_rejected_rows
from grading.scheme import Scheme, load_scheme
from grading.tables import evidence_profile, summary_of_findings
from grading.two_by_two import inverse_variance_method

__all__ = [
    "ProgressCallback",
    "TextProgress",
    "RunResult",
    "run_review",
    "read_table",
    "bundled_inputs",
    "OUTPUT_FILES",
    "RejectedRowsError",
]

#: ``progress(step, done, total)``: ``step`` names the work just started, ``done`` of ``total``.
ProgressCallback = Callable[[str, int, int], None]

#: CSV files every run writes (``claims_audit.csv`` only when claims are given).
OUTPUT_FILES: tuple[str, ...] = (
    "evidence_table.csv",
    "rejected_rows.csv",
    "pooled.csv",
    "grades.csv",
    "evidence_profile.csv",
    "gap_summary.csv",
    "summary_of_findings.csv",
    "claims_audit.csv",
)


class TextProgress:
    """A plain-text progress bar on a stream (stderr by default).

    Silent when the stream is not a terminal (logs and pipes stay clean) or when ``enabled`` is
    False.  Call it as ``progress(step, done, total)``; it redraws one line with ``\\r`` and ends
    the line when ``done == total``.
    """

    def __init__(
        self, stream: IO[str] | None = None, *, enabled: bool | None = None, width: int = 28
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.width = width
        self._last_len = 0

    def __call__(self, step: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        total = max(int(total), 1)
        done = min(max(int(done), 0), total)
        filled = round(self.width * done / total)
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {terminal_text(step)}"
        pad = " " * max(self._last_len - len(line), 0)
        self.stream.write("\r" + line + pad)
        self._last_len = len(line)
        if done >= total:
            self.stream.write("\n")
            self._last_len = 0
        self.stream.flush()


def _status_counts(grades: pd.DataFrame) -> dict[str, int]:
    """Bodies rated, provisional and without evidence (``manifest.json`` counts)."""
    if grades is None or "evidence_status" not in grades.columns:
        return {}
    counts = grades["evidence_status"].value_counts()
    return {
        "bodies_rated": int(counts.get("rated", 0)),
        "bodies_provisional": int(counts.get("provisional", 0)),
        "bodies_no_evidence": int(counts.get("no evidence", 0)),
    }


# --------------------------------------------------------------------------- inputs


def bundled_inputs() -> dict[str, Path]:
    """Paths of the bundled exosome review: ``studies``, ``bib``, ``regulatory``, ``claims``."""
    files = {
        "studies": "exosome_studies.csv",
        "regulatory": "regulatory.csv",
        "claims": "claims.csv",
    }
    paths = {role: Path(bundled_path(name)) for role, name in files.items()}
    paths["bib"] = Path(bundled_bib_path())
    return {role: paths[role] for role in ("studies", "bib", "regulatory", "claims")}


def read_table(source: Any, *, what: str) -> pd.DataFrame | None:
    """A DataFrame from a CSV path (or a DataFrame, or None), with clear errors.

    Parameters
    ----------
    source : path-like, DataFrame or None
    what : str
        Name of the argument for messages (e.g. ``"regulatory"``).
    """
    if source is None:
        return None
    if isinstance(source, pd.DataFrame):
        return source.copy()
    if not isinstance(source, str | os.PathLike):
        raise InvalidParameterError(
            f"The '{what}' argument of run_review() must be a path to a CSV file, a DataFrame "
            f"or None. Got {type(source).__name__}."
        )
    path = Path(source)
    if not path.is_file():
        raise ValidationError(f"The {what} file '{path}' does not exist or is not a file.")
    try:
        return pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""])
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"The {what} file '{path}' is not UTF-8 text ({exc.reason} at byte {exc.start})."
        ) from None
    except pd.errors.EmptyDataError:
        raise ValidationError(f"The {what} file '{path}' is empty.") from None
    except pd.errors.ParserError as exc:
        raise ValidationError(f"The {what} file '{path}' is not a readable CSV: {exc}") from None


def _input_record(source: Any, role: str) -> dict | None:
    if source is None:
        return None
    if isinstance(source, pd.DataFrame):
        return frame_record(source, role=role)
    if isinstance(source, str | os.PathLike) and Path(source).is_file():
        return file_record(source, role=role)
    if isinstance(source, str):  # e.g. a scheme given as TOML text
        data = source.encode("utf-8")
        return {
            "role": role,
            "path": None,
            "name": "<text>",
            "bytes": len(data),
            "sha256": sha256_bytes(data),
        }
    return {"role": role, "path": None, "name": f"<{type(source).__name__}>", "sha256": None}


class RejectedRowsError(ValidationError):
    """``strict=True`` and some rows were rejected (nothing was written)."""

    def __init__(self, ingest: Any) -> None:
        rejected = ingest.rejected
        n_rej = count_rejected_rows(rejected)
        first = rejected.iloc[0]
        super().__init__(
            f"--strict: {n_rej} of {ingest.n_in} rows rejected (first: row {first['row']}, "
            f"column {first['column']}: {first['reason']}); nothing written. Run "
            "'evigap validate' to list them all."
        )
        self.n_in = int(ingest.n_in)
        self.n_rejected = n_rej


def _atomic_outputs(func: Callable[..., RunResult]) -> Callable[..., RunResult]:
    """Run ``func`` writing into a staging folder swapped in whole (:mod:`grading.outputs`)."""

    @functools.wraps(func)
    def wrapper(studies: Any, *args: Any, **kwargs: Any) -> RunResult:
        out_dir = kwargs.get("out_dir")
        if out_dir is None:
            return func(studies, *args, **kwargs)
        inputs = [studies] + [
            kwargs.get(k) for k in ("bib", "regulatory", "claims", "scheme", "overrides", "config")
        ]
        folder = OutputFolder(out_dir, inputs=inputs).open()
        try:
            result = func(studies, *args, **{**kwargs, "out_dir": folder.stage})
            folder.commit()
        finally:
            folder.close()
        out = folder.out
        files = tuple(sorted(out / p.relative_to(folder.stage) for p in result.files))
        return replace(
            result, out_dir=out, files=files, messages=result.messages + tuple(folder.notes)
        )

    return wrapper


def _with_pooling_options(scheme: Any, opts: Any) -> Any:
    """The scheme with ``--method``/``--ci-method`` applied (grade() and pooled.csv agree)."""
    changes = {}
    if opts.method is not None:
        changes["pool_method"] = opts.method
    if opts.ci_method is not None:
        changes["ci_method"] = opts.ci_method
    return scheme.replace(**changes) if changes else scheme


def _apply_sheet_options(studies: pd.DataFrame, opts: Any) -> tuple[pd.DataFrame, list[str]]:
    """``--measure`` and ``--by`` applied to the accepted sheet; messages for the summary."""
    messages: list[str] = []
    if not opts.measure and not opts.by and not opts.subgroup:
        return studies, messages
    sheet = studies.copy()
    for col in (*opts.by, *([opts.subgroup] if opts.subgroup else [])):
        if col not in sheet.columns:
            raise ValidationError(
                f"The column '{col}' (--by/--subgroup) is not in the study sheet. Columns: "
                f"{', '.join(map(str, sheet.columns))}."
            )
    if opts.measure and len(sheet):
        data_type = sheet["data_type"].astype("string")
        arm_types = [
            dt
            for dt, allowed in DATA_TYPE_MEASURES.items()
            if dt != "estimate" and opts.measure in allowed
        ]
        target = data_type.isin(arm_types).fillna(False).to_numpy()
        changed = (
            target & (sheet["measure"].astype("string") != opts.measure).fillna(True).to_numpy()
        )
        sheet["_measure_before"] = sheet["measure"]
        sheet.loc[target, "measure"] = opts.measure
        n_keep = int(len(sheet) - target.sum())
        messages.append(
            f"--measure {opts.measure}: {int(target.sum())} row(s) computed as {opts.measure} "
            f"({int(changed.sum())} changed)"
            + (
                f"; {n_keep} row(s) whose data_type cannot give {opts.measure} keep their measure."
                if n_keep
                else "."
            )
        )
    if opts.by and len(sheet):
        parts = [f"{col}: " + sheet[col].astype("string").fillna("not given") for col in opts.by]
        suffix = parts[0]
        for part in parts[1:]:
            suffix = suffix + "; " + part
        sheet["indication_label"] = indication_key(sheet) + " (" + suffix + ")"
        messages.append(
            f"Bodies split by {', '.join(opts.by)} (--by): indications are "
            "labelled 'indication (column: value)'."
        )
    return sheet, messages


def _note_measure(table: pd.DataFrame, sheet: pd.DataFrame, opts: Any) -> pd.DataFrame:
    """Say in ``effect_note`` where ``--measure`` changed a row's measure."""
    if "_measure_before" not in table.columns:
        return table
    before = table.pop("_measure_before").astype("string")
    changed = (before != table["measure"].astype("string")).fillna(True).to_numpy()
    if changed.any():
        note = table["effect_note"].astype("string").fillna("")
        text = (
            "measure "
            + before.fillna("(empty)")
            + " in the sheet, computed as "
            + str(opts.measure)
            + " (--measure)"
        )
        joined = (note + "; " + text).where(note != "", text)
        table["effect_note"] = note.where(~changed, joined).astype(object).to_numpy()
    return table


def _read_overrides(overrides: Any) -> Any:
    """Reviewer overrides for grade(): a file is handed to grade() as a path (it reads it
    with :func:`grading.overrides.read_overrides`, whose errors name the line); DataFrames
    and lists pass through."""
    if not isinstance(overrides, str | os.PathLike):
        return overrides
    path = Path(overrides)
    if not path.is_file():
        raise ValidationError(f"The overrides file '{path}' does not exist or is not a file.")
    return path


def _subgroup_tables(
    evidence_table: pd.DataFrame, column: str, scheme: Any
) -> dict[str, pd.DataFrame]:
    """``subgroups.csv`` (one pooled row per body x subgroup) and ``subgroup_tests.csv`` (the
    tests for subgroup differences per body, or why there is none)."""
    body = ["indication", "outcome", "stream", "measure"]
    data = evidence_table.assign(indication=indication_key(evidence_table))
    yi = pd.to_numeric(data["yi"], errors="coerce")
    vi = pd.to_numeric(data["vi"], errors="coerce")
    usable = (yi.notna() & vi.notna() & (vi > 0)).to_numpy()
    if "model" in data.columns:
        usable = (
            usable & (data["model"].astype("string") != "meta_analysis").fillna(True).to_numpy()
        )
    data = data.loc[usable, [*body, column, "yi", "vi"]].astype({"yi": float, "vi": float})
    data[column] = data[column].astype("string").fillna("not given")
    options: dict = {  # MH / Peto: subgroups are pooled by inverse variance (fixed effect)
        "method": inverse_variance_method(getattr(scheme, "pool_method", "REML")),
        "ci_method": getattr(scheme, "ci_method", "z"),
        "level": getattr(scheme, "level", 0.95),
    }
    groups, tests = [], []
    for key, rows in data.groupby(body, sort=True, dropna=False):
        keys = dict(zip(body, key, strict=True))
        n_sub = rows[column].nunique()
        if n_sub < 2:
            tests.append(
                {
                    **keys,
                    "subgroup": column,
                    "n_subgroups": n_sub,
                    "note": f"one subgroup only ({rows[column].iloc[0]}): no test",
                }
            )
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)  # said in 'note'
                res = subgroup_analysis(rows, column, **options)
        except EvidenceError as exc:
            tests.append(
                {
                    **keys,
                    "subgroup": column,
                    "n_subgroups": n_sub,
                    "note": f"not estimable: {' '.join(str(exc).split())}",
                }
            )
            continue
        g = res.to_frame().rename(columns={column: "subgroup_value"})
        g.insert(0, "subgroup", column)
        for i, (name, value) in enumerate(keys.items()):
            g.insert(i, name, value)
        groups.append(g)
        for _, t in res.tests().iterrows():
            tests.append(
                {**keys, "subgroup": column, "n_subgroups": n_sub, **t.to_dict(), "note": ""}
            )
    group_frame = (
        pd.concat(groups, ignore_index=True)
        if groups
        else pd.DataFrame(columns=[*body, "subgroup", "subgroup_value"])
    )
    test_frame = pd.DataFrame(
        tests,
        columns=[
            *body,
            "subgroup",
            "n_subgroups",
            "test",
            "stat",
            "df",
            "df2",
            "p_value",
            "tau2",
            "note",
        ],
    )
    return {"subgroups.csv": group_frame, "subgroup_tests.csv": test_frame}


def _jsonable_read_options(read_options: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(k): v for k, v in (read_options or {}).items()}


def _resolve_scheme(scheme: Any) -> Scheme:
    if isinstance(scheme, str) and "\n" not in scheme and "=" not in scheme:
        scheme = Path(scheme)  # a file name, whatever its suffix
    if isinstance(scheme, os.PathLike):
        path = Path(scheme)
        if not path.is_file():
            raise ValidationError(f"The scheme file '{path}' does not exist or is not a file.")
        try:
            return load_scheme(path)
        except EvidenceError as exc:
            raise ValidationError(f"Scheme file '{path}': {exc}") from None
        except (UnicodeDecodeError, OSError) as exc:
            raise ValidationError(f"Scheme file '{path}' cannot be read: {exc}") from None
    if scheme is None or isinstance(scheme, Scheme | str | Path | Mapping):
        return load_scheme(scheme)
    raise InvalidParameterError(
        "The 'scheme' argument of run_review() must be a Scheme, a path to a TOML file, TOML "
        f"text, a mapping or None. Got {type(scheme).__name__}."
    )


def _scheme_settings(scheme: Any) -> dict | None:
    try:
        return tomllib.loads(scheme.to_toml())
    except (AttributeError, tomllib.TOMLDecodeError):
        return None


# --------------------------------------------------------------------------- the run


@_atomic_outputs
def run_review(
    studies: Any,
    *,
    bib: Any = None,
    regulatory: Any = None,
    claims: Any = None,
    scheme: Any = None,
    out_dir: str | os.PathLike | None = None,
    figures: bool = True,
    report: bool = True,
    overrides: Any = None,
    jobs: int | None = None,
    progress: ProgressCallback | None = None,
    measure: str | None = None,
    method: str | None = None,
    ci_method: str | None = None,
    zero_cell: Mapping[str, Any] | str | None = None,
    by: str | list[str] | None = None,
    subgroup: str | None = None,
    question: str = "human",
    baseline_risk: float | None = None,
    strict: bool = False,
    read_options: Mapping[str, Any] | None = None,
    config: Any = None,
) -> RunResult:
    """Run a whole review: validate, compute, pool, grade, audit, draw and write.

    Parameters
    ----------
    studies : path-like or DataFrame
        The study sheet (CSV/Excel path as accepted by :func:`evidence.ingest.read_studies`, or a
        DataFrame with the schema columns).
    bib : path-like, optional
        BibTeX (or RIS) file the sheet's ``citation_key`` values refer to.
    regulatory : path-like or DataFrame, optional
        Regulatory status table (``indication, jurisdiction, status, date, ...``).
    claims : path-like or DataFrame, optional
        Marketing-claims table (``claim_id, indication, claim, ...``); audited when given.
    scheme : Scheme, path-like, TOML text, mapping or None
        Grading scheme; None uses the default :class:`grading.scheme.Scheme`.
    out_dir : path-like, optional
        Folder for the CSV files, ``figures/``, ``report.html`` and ``manifest.json``.  The run
        writes into a fresh folder beside it and swaps it in only when complete; the old
        results stay intact until then (see :mod:`grading.outputs`).  A second run into the
        same folder is refused while one is running.  Files there that evigap did not write
        (or that changed since) are kept; an input inside it, or an empty name, is refused.
        None computes everything in memory and writes nothing.
    figures : bool, default True
        Draw the figures (needed for the report's plots).
    report : bool, default True
        Write ``report.html`` (only with ``out_dir``).
    overrides : path-like, DataFrame or list of dict, optional
        Reviewer overrides for :func:`grading.certainty.grade` (a file is read with
        ``grading.overrides.read_overrides`` where available, else as CSV).
    jobs : int, optional
        Worker processes for drawing the per-indication figures (default: the number of CPUs,
        at most 4; 1 draws everything in this process).  Outputs do not depend on it.
    progress : callable, optional
        ``progress(step, done, total)``, e.g. :class:`TextProgress`.
    measure, method, ci_method, zero_cell, by, subgroup, question, baseline_risk, strict
        Run options, checked by :func:`grading.config.check_options` (what each does is
        documented on :class:`grading.config.RunOptions`).  ``method``/``ci_method`` override
        the scheme's ``pool_method``/``ci_method``; ``subgroup`` adds ``subgroups.csv`` and
        ``subgroup_tests.csv``; ``baseline_risk`` is the assumed control risk for the absolute
        effects of binary outcomes in ``summary_of_findings.csv`` (default: the pooled control
        arms of each body); ``strict`` raises :class:`RejectedRowsError` before anything is
        written when any row is rejected.
    read_options : mapping, optional
        Keywords for :func:`evidence.ingest.read_studies` (``columns``, ``na_values``,
        ``sheet``; a config file's ``[input]``/``[columns]``).
    config : path-like, optional
        The config file the options came from (recorded in ``manifest.json``; its options are
        not read here, see :func:`grading.config.load_config`).

    Returns
    -------
    RunResult

    Raises
    ------
    evidence.errors.EvidenceError
        On unusable input (missing file, missing required columns, bad scheme, ...).
    """
    if progress is None:

        def progress(step: str, done: int, total: int) -> None:
            return None

    if studies is None:
        raise InvalidParameterError(
            "The 'studies' argument of run_review() is required (a path or a DataFrame). Got None."
        )
    base_steps = 8
    step = [0]
    total = base_steps

    def tick(name: str) -> None:
        step[0] += 1
        progress(name, step[0], total)

    opts = check_options(
        measure=measure,
        method=method,
        ci_method=ci_method,
        zero_cell=zero_cell,
        by=by,
        subgroup=subgroup,
        question=question,
        baseline_risk=baseline_risk,
        strict=strict,
        figures=figures,
    )
    tick("reading and validating studies")
    the_scheme = _with_pooling_options(_resolve_scheme(scheme), opts)
    regulatory_frame = read_table(regulatory, what="regulatory")
    claims_frame = read_table(claims, what="claims")
    ingest = read_studies(studies, bib=bib, checks=(rob_problems,), **dict(read_options or {}))
    _check_no_loss(ingest)
    rejected = ingest.rejected
    if opts.strict and len(rejected):
        raise RejectedRowsError(ingest)
    sheet, messages = _apply_sheet_options(ingest.studies, opts)

    tick("effect sizes")
    evidence_table = _note_measure(study_effects(sheet, **opts.zero_cell), sheet, opts)

    tick("pooling")
    tick("grading")
    the_overrides = _read_overrides(overrides)
    grades = grade(
        evidence_table, scheme=the_scheme, question=opts.grade_question, overrides=the_overrides
    )
    # pooled.csv holds the bodies grade() rates: same rows, same numbers
    pooled = pooled_table(grades)

    tick("evidence profile and gap")
    profile = evidence_profile(grades, studies=evidence_table)
    gap = gap_summary(evidence_table, grades, regulatory=regulatory_frame, scheme=the_scheme)
    # baseline_risk rows of the overrides file beat the global --baseline-risk (more specific)
    sof = summary_of_findings(
        grades, baseline_risk=baseline_risk, studies=evidence_table, overrides=the_overrides
    )

    tick("claims audit")
    claims_audit = None
    if claims_frame is not None:
        claims_audit = audit_claims(claims_frame, grades, studies=evidence_table, scheme=the_scheme)

    indications = (
        list(dict.fromkeys(grades["indication"].dropna().astype(str)))
        if "indication" in grades.columns
        else []
    )
    if figures:
        total += 1 + len(indications)

    out = Path(out_dir) if out_dir is not None else None
    written: list[Path] = []
    tick("writing tables")
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValidationError(f"Cannot use the output folder '{out}': {exc}") from None
        tables = {
            "evidence_table.csv": evidence_table,
            "rejected_rows.csv": rejected,
            "pooled.csv": pooled,
            "grades.csv": grades,
            "evidence_profile.csv": profile,
            "gap_summary.csv": gap,
            "summary_of_findings.csv": sof,
        }
        if claims_audit is not None:
            tables["claims_audit.csv"] = claims_audit
        if opts.subgroup:
            tables.update(_subgroup_tables(evidence_table, opts.subgroup, the_scheme))
        for name, frame in tables.items():
            if frame.attrs:  # e.g. the profile's footnotes: not part of the CSV
                frame = frame.copy(deep=False)
                frame.attrs = {}
            written.append(Path(write_csv(frame, out / name)))

    general_figs: dict = {}
    indication_figs: dict = {}
    figure_notes: list[str] = []
    if figures:
        figures_dir = None
        if out is not None:
            figures_dir = out / "figures"
            figures_dir.mkdir(exist_ok=True)
        run = {
            "grades": grades,
            "evidence_table": evidence_table,
            "indications": indications,
            "regulatory": regulatory_frame,
            "scheme": the_scheme,
            "gap": gap,  # for the translational ladder
            "by": opts.by,  # --by / --subgroup forests
            "subgroup": opts.subgroup,
        }
        n_jobs = jobs if jobs is not None else min(os.cpu_count() or 1, 4)
        general_figs, indication_figs, fig_files, figure_notes = draw_figures(
            run, figures_dir, tick, n_jobs
        )
        written.extend(fig_files)

    inputs = {
        "studies": _input_record(studies, "studies"),
        "bib": _input_record(bib, "bib"),
        "regulatory": _input_record(regulatory, "regulatory"),
        "claims": _input_record(claims, "claims"),
        "scheme": _input_record(
            scheme if isinstance(scheme, str | os.PathLike) else None, "scheme"
        ),
        "overrides": _input_record(overrides, "overrides"),
        "config": _input_record(config, "config"),
    }
    counts = {
        "rows_in": int(ingest.n_in),
        "rows_accepted": int(len(ingest.studies)),
        "rows_rejected": count_rejected_rows(rejected),
        "rejection_reasons": int(len(rejected)),
        "indications": len(indications),
        "graded_rows": int(len(grades)),
        "pooled_groups": int(len(pooled)),
        **_status_counts(grades),
    }
    settings = _scheme_settings(the_scheme)
    extra = {
        "notes": figure_notes,
        "options": {
            **opts.to_dict(),
            "figures": bool(figures),
            "report": bool(report),
            "read_options": _jsonable_read_options(read_options),
        },
    }
    tick("report and manifest")
    if out is not None and report:
        preview = build_manifest(
            inputs=inputs, counts=counts, scheme=settings, extra=extra, timestamp=""
        )
        written.append(
            write_report(
                out / "report.html",
                grades=grades,
                gap=gap,
                profile=profile,
                evidence_table=evidence_table,
                claims_audit=claims_audit,
                rejected=rejected,
                figures=general_figs,
                indication_figures=indication_figs,
                manifest=preview,
                notes=figure_notes,
                sof=sof,
            )
        )
    manifest = build_manifest(
        inputs=inputs,
        counts=counts,
        scheme=settings,
        extra=extra,
        outputs=sorted(written),
        out_dir=out,
    )
    if out is not None:
        written.append(write_manifest(manifest, out / "manifest.json"))

    return RunResult(
        ingest=ingest,
        evidence_table=evidence_table,
        rejected=rejected,
        pooled=pooled,
        grades=grades,
        profile=profile,
        gap=gap,
        claims_audit=claims_audit,
        scheme=the_scheme,
        manifest=manifest,
        out_dir=out,
        files=tuple(sorted(written)),
        notes=tuple(figure_notes),
        messages=tuple(messages),
    )


def _check_no_loss(ingest: Any) -> None:
    """Rows in = accepted + rejected (non-negotiable 3); a mismatch is a bug upstream."""
    n_rej = count_rejected_rows(ingest.rejected)
    if ingest.n_in != len(ingest.studies) + n_rej:
        raise EvidenceError(
            f"Row accounting failed: {ingest.n_in} rows in, {len(ingest.studies)} accepted, "
            f"{n_rej} rejected."
        )
