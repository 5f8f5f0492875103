"""The main job as a library function: study sheet in, graded review (and its files) out.

:func:`run_review` is what ``evigap run`` calls and what the notebooks call, so both share one
code path: read and validate the sheet, compute effect sizes, pool per indication x outcome x
stream, grade, build the evidence profile, the gap summary and the claims audit, draw the
figures, write the CSV files, ``report.html`` and ``manifest.json``.
"""

from __future__ import annotations

import math
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd

from evidence.errors import EvidenceError, InvalidParameterError, ValidationError
from evidence.schema import indication_key

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
    "summary_of_findings.csv",  # issue 12 (gap helper)
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
        from evidence.export import terminal_text

        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {terminal_text(step)}"
        pad = " " * max(self._last_len - len(line), 0)
        self.stream.write("\r" + line + pad)
        self._last_len = len(line)
        if done >= total:
            self.stream.write("\n")
            self._last_len = 0
        self.stream.flush()


@dataclass(frozen=True)
class RunResult:
    """Everything one run produced.

    Attributes
    ----------
    ingest : IngestResult
        The validated sheet (``.studies``, ``.rejected``, ``.n_in``).
    evidence_table : DataFrame
        Every accepted record with ``yi``, ``vi`` and ``effect_note``.
    rejected : DataFrame
        Rejected input rows (``row, study_id, column, value, reason``).
    pooled : DataFrame
        One row per estimable graded body (:func:`grading.pooled.pooled_table`): the rows and
        numbers :func:`grading.grade` rated.
    grades : DataFrame
        Output of :func:`grading.certainty.grade`.
    profile : DataFrame
        Output of :func:`grading.tables.evidence_profile`.
    gap : DataFrame
        Output of :func:`grading.gap.gap_summary`.
    claims_audit : DataFrame or None
        Output of :func:`grading.claims.audit_claims` (None without claims).
    scheme : Scheme
        The grading scheme used.
    manifest : dict
        Provenance (see :mod:`grading.manifest`).
    out_dir : Path or None
        Output folder (None when nothing was written).
    files : tuple of Path
        Files written, sorted.
    notes : tuple of str
        Figures that could not be drawn from the data, and why (also in the report and the
        manifest; not raised as warnings).
    messages : tuple of str
        What the run did that the reader should know (``--measure`` applied to n rows, files
        in the output folder that evigap kept, ...); part of :meth:`summary`.
    """

    ingest: Any
    evidence_table: pd.DataFrame
    rejected: pd.DataFrame
    pooled: pd.DataFrame
    grades: pd.DataFrame
    profile: pd.DataFrame
    gap: pd.DataFrame
    claims_audit: pd.DataFrame | None
    scheme: Any
    manifest: dict = field(repr=False)
    out_dir: Path | None = None
    files: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()

    @property
    def indications(self) -> list[str]:
        """Indications graded, in the order of the grades table."""
        if "indication" not in self.grades.columns:
            return []
        return list(dict.fromkeys(self.grades["indication"].dropna().astype(str)))

    @property
    def report_path(self) -> Path | None:
        """Path of ``report.html`` (None when not written)."""
        if self.out_dir is None:
            return None
        p = self.out_dir / "report.html"
        return p if p in self.files else None

    def widest_gap(self) -> str | None:
        """One sentence naming the indication where the translational gap is widest."""
        return _widest_gap(self.gap)

    def summary(self) -> str:
        """A short text summary: records, indications and where the gap is widest."""
        n_in = self.manifest.get("counts", {}).get("rows_in", len(self.evidence_table))
        lines = [
            f"evigap: {n_in} input rows, {len(self.evidence_table)} accepted, "
            f"{_n_rejected(self.rejected)} rejected.",
            f"{len(self.indications)} indications, {len(self.grades)} graded "
            "indication x outcome x stream rows.",
        ]
        status = _status_line(self.grades)
        if status:
            lines.append(status)
        widest = self.widest_gap()
        if widest:
            lines.append(widest)
        n = sum(" not drawn" in note for note in self.notes)
        if n:
            lines.append(
                f"{n} figure{'s' if n != 1 else ''} not drawn (reasons under Notes in "
                "report.html and in manifest.json)."
            )
        n = len(self.notes) - n
        if n:
            lines.append(
                f"{n} figure{'s' if n != 1 else ''} drawn with a warning (under Notes "
                "in report.html and in manifest.json)."
            )
        lines.extend(self.messages)
        if self.out_dir is not None:
            lines.append(
                f"Results in {self.out_dir}"
                + (f" (open {self.report_path.name})" if self.report_path else "")
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(self.summary()) + "</pre>"


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


def _status_line(grades: pd.DataFrame) -> str | None:
    """:func:`grading.certainty.status_summary` with a pointer to the reasons (issue 11)."""
    if grades is None or len(grades) == 0 or "evidence_status" not in grades.columns:
        return None
    from grading.certainty import status_summary

    line = status_summary(grades) + "."
    if (grades["evidence_status"] != "rated").any():
        line += " Why: provisional_reason / no_evidence_reason in grades.csv."
    return line


def _n_rejected(rejected: pd.DataFrame) -> int:
    if rejected is None or len(rejected) == 0:
        return 0
    return int(rejected["row"].nunique()) if "row" in rejected.columns else len(rejected)


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out


_LEVEL_RANK = {"high": 4, "moderate": 3, "low": 2, "very low": 1}


def _widest_gap(gap: pd.DataFrame | None) -> str | None:
    """One sentence naming the indication with the widest translational gap, with its numbers.

    Read from :func:`grading.gap.gap_summary` (its ``verdict``, common-scale effects,
    certainties and ``human_note``):

    1. where both streams have an effect on the common scale, the smallest ``attenuation``
       (human SMD / animal SMD);
    2. otherwise, among indications with a positive (beneficial) preclinical SMD and no human
       effect on the common scale, the one whose promise is most certain, then rests on most
       animal records, then is largest;
    3. otherwise, the indication with most preclinical records relative to human records.

    A certainty is named only where one was rated (never "not rated" as if it were a level).
    """
    if gap is None or len(gap) == 0 or "indication" not in gap.columns:
        return None
    rows = [r for _, r in gap.iterrows()]

    def text(r, col: str) -> str:
        v = r.get(col)
        return (
            ""
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
            else str(v).strip()
        )

    def name(r) -> str:
        label = text(r, "indication_label") or text(r, "indication")
        verdict = text(r, "verdict")
        return f"{label} ({verdict})" if verdict else label

    def records(n: float, what: str) -> str:
        n = int(n) if pd.notna(n) else 0
        return f"{n} {what} record{'s' if n != 1 else ''}"

    def certainty(r, col: str) -> str:
        level = text(r, col)
        return f"{level} certainty, " if level in _LEVEL_RANK else ""

    def animal(r) -> str:
        outcome = text(r, "preclinical_outcome")
        outcome = f"{outcome} " if outcome and outcome != "none" else ""
        return (
            f"animal {outcome}SMD {_num(r['preclinical_smd']):+.2f} "
            f"({certainty(r, 'certainty_animal')}"
            f"{records(_num(r.get('n_animal')), 'animal')})"
        )

    def human(r) -> str:
        n_h = records(_num(r.get("n_human")), "human")
        note = text(r, "human_note")
        if not note or _num(r.get("n_human")) == 0 or not pd.notna(_num(r.get("n_human"))):
            return "no human record"
        return f"{note} ({n_h})"

    with_both = [r for r in rows if pd.notna(_num(r.get("attenuation")))]
    if with_both:
        r = min(with_both, key=lambda r: (_num(r["attenuation"]), str(r["indication"])))
        outcome = text(r, "human_outcome")
        outcome = f"{outcome} " if outcome and outcome != "none" else ""
        return (
            f"Gap widest for {name(r)}: human {outcome}SMD {_num(r['human_smd']):+.2f} "
            f"({certainty(r, 'certainty_human')}"
            f"{records(_num(r.get('n_human')), 'human')}) against {animal(r)}; "
            f"attenuation {_num(r['attenuation']):.2f}."
        )
    promising = [
        r
        for r in rows
        if _num(r.get("preclinical_smd")) > 0 and not pd.notna(_num(r.get("human_smd")))
    ]
    if promising:
        r = max(
            promising,
            key=lambda r: (
                _LEVEL_RANK.get(text(r, "certainty_animal"), 0),
                _num(r.get("n_animal")),
                _num(r["preclinical_smd"]),
                str(r["indication"]),
            ),
        )
        return f"Gap widest for {name(r)}: {animal(r)} against {human(r)}."
    if {"n_in_vitro", "n_animal", "n_human"} <= set(gap.columns):

        def lead(r) -> float:
            return (_num(r["n_in_vitro"]) + _num(r["n_animal"])) - _num(r["n_human"])

        r = max(rows, key=lambda r: (lead(r), str(r["indication"])))
        if lead(r) > 0:
            return (
                f"Gap widest for {name(r)}: "
                f"{records(_num(r['n_in_vitro']), 'in vitro')} and "
                f"{records(_num(r['n_animal']), 'animal')} against {human(r)}."
            )
    return None


# --------------------------------------------------------------------------- inputs


def bundled_inputs() -> dict[str, Path]:
    """Paths of the bundled exosome review: ``studies``, ``bib``, ``regulatory``, ``claims``."""
    from evidence.datasets import bundled_bib_path, bundled_path

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
    from grading.manifest import file_record, frame_record

    if source is None:
        return None
    if isinstance(source, pd.DataFrame):
        return frame_record(source, role=role)
    if isinstance(source, str | os.PathLike) and Path(source).is_file():
        return file_record(source, role=role)
    if isinstance(source, str):  # e.g. a scheme given as TOML text
        from grading.manifest import sha256_bytes

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
        n_rej = _n_rejected(rejected)
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
    import functools

    @functools.wraps(func)
    def wrapper(studies: Any, *args: Any, **kwargs: Any) -> RunResult:
        out_dir = kwargs.get("out_dir")
        if out_dir is None:
            return func(studies, *args, **kwargs)
        from dataclasses import replace

        from grading.outputs import OutputFolder

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
        from evidence.study_effects import _ALLOWED

        data_type = sheet["data_type"].astype("string")
        arm_types = [
            dt for dt, allowed in _ALLOWED.items() if dt != "estimate" and opts.measure in allowed
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
        from evidence.schema import indication_key

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
    import warnings

    from evidence.errors import StatisticalWarning
    from evidence.moderators import subgroup_analysis

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
    from grading.two_by_two import inverse_variance_method

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


def _resolve_scheme(scheme: Any):
    from grading.scheme import Scheme, load_scheme

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


# --------------------------------------------------------------------------- pooling


def _pooled_table(evidence_table: pd.DataFrame, scheme: Any) -> pd.DataFrame:
    """Pool every indication x outcome x stream x measure cell with usable ``yi``/``vi``."""
    from evidence._codes import per_value
    from evidence.pooling import pool_groups
    from evidence.schema import indication_key

    by = ["indication", "outcome", "stream", "measure"]
    if len(evidence_table) == 0:
        return pd.DataFrame(columns=by)
    data = evidence_table.assign(indication=indication_key(evidence_table))
    yi = pd.to_numeric(data["yi"], errors="coerce")
    vi = pd.to_numeric(data["vi"], errors="coerce")
    usable = (yi.notna() & vi.notna() & (vi > 0)).to_numpy()
    if "model" in data.columns:
        # published pooled results are graded, not pooled again with primary studies (nor are
        # rows without a model); compared once per distinct model, not per row
        usable = usable & per_value(
            data["model"], lambda m: (m.astype("string") != "meta_analysis").fillna(False)
        )
    data = data.loc[usable, by + ["yi", "vi"]].astype({"yi": float, "vi": float})
    if len(data) == 0:
        return pd.DataFrame(columns=by)
    options = {}
    for name, attr in (("method", "pool_method"), ("ci_method", "ci_method"), ("level", "level")):
        value = getattr(scheme, attr, None)
        if value is not None:
            options[name] = value
    return pool_groups(data, by, **options).sort_values(by, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- figures


#: Forests longer than this many rows are drawn in pages of this many rows.
_FOREST_PAGE_ROWS = 50


def _render_pages(title: str, func, *args, **kwargs) -> tuple[list[bytes], str | None]:
    """Draw a figure that may come in pages (a list of Axes) and render each to PNG."""
    import matplotlib.pyplot as plt

    from grading.report import figure_png

    try:
        drawn = func(*args, **kwargs)
    except EvidenceError as exc:
        plt.close("all")
        return [], f"{title} not drawn: {' '.join(str(exc).split())}"
    out = []
    for ax in drawn:
        try:
            out.append(figure_png(ax.figure, dpi=_FIGURE_DPI))
        finally:
            plt.close(ax.figure)
    return out, None


def _translational_scale(rows: pd.DataFrame) -> str | None:
    """The common scale with more estimable records (``"SMD"`` or ``"log_ratio"``), or None."""
    from evidence.schema import RATIO_MEASURES

    ok = pd.to_numeric(rows["yi"], errors="coerce").notna()
    measure = rows["measure"].astype("string")
    n_ratio = int((ok & measure.isin(RATIO_MEASURES)).sum())
    n_smd = int((ok & (measure == "SMD")).sum())
    if n_ratio == 0 and n_smd == 0:
        return None
    return "log_ratio" if n_ratio > n_smd else "SMD"


def _rob_frames(evidence_table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """robvis-layout frames (``Study``, domains, ``Overall``), one per risk-of-bias tool used."""
    from grading.rob import assess_rob, get_tool

    if len(evidence_table) == 0 or not (
        evidence_table.get("rob_domains", pd.Series(dtype=object)).notna().any()
        or evidence_table.get("rob_overall", pd.Series(dtype=object)).notna().any()
    ):
        return {}
    assessed = assess_rob(evidence_table)
    frames: dict[str, pd.DataFrame] = {}
    for tool_name, part in assessed.groupby("rob_tool", sort=True):
        part = part[part["overall"].notna()].drop_duplicates("study_id")
        if len(part) == 0:
            continue
        tool = get_tool(tool_name)
        domains = [d for d in getattr(tool, "domain_ids", ()) if d in part.columns]
        frame = pd.DataFrame({"Study": part["study_id"].astype(str).to_numpy()})
        for d in domains:
            frame[d] = part[d].fillna("no_information").to_numpy()
        frame["Overall"] = part["overall"].to_numpy()
        label = getattr(tool, "label", str(tool_name))
        frames[f"{label}|{tool_name}"] = frame
    return frames


#: State shared with forked figure workers (set just before the pool starts; copy-on-write).
_FIGURE_STATE: dict[str, Any] = {}


def _render(title: str, func, args: tuple, kwargs: dict) -> tuple[bytes | None, str | None]:
    """Draw one figure and render it to PNG; (None, note) when the data cannot be drawn."""
    import warnings

    import matplotlib.pyplot as plt

    from grading.report import figure_png

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # warnings while drawing become the figure's note
        try:
            drawn = func(*args, **kwargs)
        except EvidenceError as exc:
            plt.close("all")
            return None, f"{title} not drawn: {' '.join(str(exc).split())}"
        fig = getattr(drawn, "figure", drawn)
        try:
            png = figure_png(fig, dpi=_FIGURE_DPI)
        finally:
            plt.close(fig)
    said = list(dict.fromkeys(" ".join(str(w.message).split()) for w in caught))
    note = f"{title} drawn with a warning: {'; '.join(said)}" if said else None
    return png, note


def _indication_figures(index: int) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """Figures of one indication: [(title, file name, png)], notes.  Runs in a worker."""
    import matplotlib

    from grading import plots
    from grading.report import DETERMINISTIC_RC
    from grading.two_by_two import inverse_variance_method

    state = _FIGURE_STATE
    indication = state["indications"][index]
    table: pd.DataFrame = state["table"]
    rows = table[(state["keys"] == indication).fillna(False).to_numpy()]
    options = state["pool_options"]
    slug = _slug(indication, index)
    made: list[tuple[str, str, bytes]] = []
    notes: list[str] = []

    def add(title: str, filename: str, func, *args, **kwargs) -> None:
        png, note = _render(f"{title} for {indication}", func, args, kwargs)
        if png is not None:
            made.append((title, filename, png))
        if note:
            notes.append(note)

    with matplotlib.rc_context(DETERMINISTIC_RC):
        # records without a usable effect are listed in the figure, so draw it regardless
        add(
            "Translational forest",
            f"translational_forest_{slug}.png",
            plots.translational_forest,
            table,
            indication=indication,
            grades=state["grades"],
            scale=_translational_scale(rows) or "SMD",
            method=inverse_variance_method(options["method"]),  # MH / Peto: FE
            level=options["level"],
        )
        # one forest per graded body (indication x outcome x stream): the rows grade() pooled
        # (estimate_rows) and the body's rows it could not pool, listed as not estimable; the
        # diamond is the grade's and pooled.csv's estimate (issue 11, one body one estimate)
        from grading.pooled import body_forests

        grades = state["grades"]
        bodies = body_forests(table, grades[(grades["indication"] == indication).to_numpy()])
        if not bodies:
            notes.append(f"Forest plot for {indication} not drawn: no estimable primary record")
        for k, (g, data) in enumerate(bodies):
            outcome, measure, stream = str(g["outcome"]), str(g["measure"]), str(g["stream"])
            asked = state.get("subgroup")
            sub = asked if asked in data.columns else None
            if state.get("by") and "indication" in data.columns:
                # --by split the indication: the forest's title names the split
                data = data.assign(indication=indication)
            name = f"forest_{slug}_{k + 1:02d}_{_slug(outcome, None)[:30]}_{stream}"
            what = f"{outcome}, {measure}, {stream}"
            pages, note = _render_pages(
                f"Forest plot ({what}) for {indication}",
                plots.forest_pages,
                data,
                measure=measure,
                subgroup=sub,
                cluster="study_id",
                rows_per_page=_FOREST_PAGE_ROWS,
                **options,
            )
            if note:
                notes.append(note)
            for p, png in enumerate(pages):
                part = f", page {p + 1} of {len(pages)}" if len(pages) > 1 else ""
                made.append(
                    (
                        f"Forest plot ({what}{part})",
                        f"{name}_p{p + 1}.png" if len(pages) > 1 else f"{name}.png",
                        png,
                    )
                )
    return made, notes


def _figure_worker_init() -> None:
    """A figure worker ends with the run: default SIGTERM (not the CLI's handler), Ctrl-C left
    to the parent, and on Linux killed when the parent dies (a SIGKILLed run leaves no
    orphan worker holding its pipes)."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() == 1:  # the parent died before prctl
            os._exit(1)


def _fork_pool(jobs: int, n_tasks: int):
    """A fork-based process pool, or None when serial drawing is better or forking unavailable."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if jobs <= 1 or n_tasks < 4 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        return ProcessPoolExecutor(
            max_workers=min(jobs, n_tasks),
            mp_context=multiprocessing.get_context("fork"),
            initializer=_figure_worker_init,
        )
    except (OSError, ValueError):
        return None


def _draw_figures(
    run: dict,
    figures_dir: Path | None,
    progress: ProgressCallback,
    step: list[int],
    total: int,
    jobs: int,
) -> tuple[dict, dict, list[Path], list[str]]:
    """Draw the review-level and per-indication figures; save PNGs when ``figures_dir``.

    Per-indication figures are drawn in ``jobs`` forked worker processes when that pays off;
    each figure is rendered the same way wherever it is drawn, so the PNGs do not depend on
    ``jobs``.  A figure that cannot be drawn from the data (an :class:`EvidenceError` from the
    plotting function) is skipped with a note instead of failing the run.
    """
    from concurrent.futures import as_completed

    import matplotlib

    from grading import plots
    from grading.report import DETERMINISTIC_RC

    scheme = run["scheme"]
    table: pd.DataFrame = run["evidence_table"]
    indications: list[str] = run["indications"]
    _FIGURE_STATE.clear()
    _FIGURE_STATE.update(
        table=table,
        grades=run["grades"],
        indications=indications,
        keys=indication_key(table) if len(table) else pd.Series(dtype="string"),
        pool_options={
            "method": getattr(scheme, "pool_method", "REML"),
            "ci_method": getattr(scheme, "ci_method", "z"),
            "level": getattr(scheme, "level", 0.95),
        },
        # the run's extra grouping (--by: one forest per value) and subgroup column
        # (--subgroup: subgroup forests with the test for subgroup differences)
        by=tuple(run.get("by") or ()),
        subgroup=run.get("subgroup"),
    )
    general: dict[str, bytes] = {}
    per_indication: dict[str, dict[str, bytes]] = {}
    written: list[Path] = []
    notes: list[str] = []

    def keep(title: str, filename: str, png: bytes, indication: str | None) -> None:
        if indication is None:
            general[title] = png
        else:
            per_indication.setdefault(indication, {})[title] = png
        if figures_dir is not None:
            path = figures_dir / filename
            path.write_bytes(png)
            written.append(path)

    results: dict[int, tuple[list, list]] = {}
    # import what every figure needs before the workers fork, so that they inherit it instead
    # of each importing it again (~0.5 s per worker for pyplot)
    import matplotlib.pyplot  # noqa: F401
    import scipy.special  # noqa: F401

    pool = _fork_pool(jobs, len(indications))
    try:
        futures = {}
        if pool is not None:
            futures = {pool.submit(_indication_figures, i): i for i in range(len(indications))}
        step[0] += 1
        progress("figures: gap map and risk of bias", step[0], total)
        note: str | None
        with matplotlib.rc_context(DETERMINISTIC_RC):
            if len(run["grades"]) == 0:
                png, note = None, "Evidence gap map not drawn: no graded body of evidence"
            else:
                png, note = _render(
                    "Evidence gap map",
                    plots.gap_map,
                    (table,),
                    {"grades": run["grades"], "regulatory": run["regulatory"]},
                )
            if png is not None:
                keep("Evidence gap map", "gap_map.png", png, None)
            if note:
                notes.append(note)
            # --- issue 12 (gap helper): the translational ladder
            png, note = _render(
                "Translational ladder",
                plots.translational_ladder,
                (table,),
                {"grades": run["grades"], "gap": run.get("gap"), "regulatory": run["regulatory"]},
            )
            if png is not None:
                keep("Translational ladder", "translational_ladder.png", png, None)
            elif note:  # not drawn: the note says why
                notes.append(note)
            # --- end issue 12
            rob = _rob_frames(table)
            if not rob:
                notes.append(
                    "Risk-of-bias figure not drawn: no record has rob_tool, "
                    "rob_domains or rob_overall"
                )
            for key, frame in rob.items():
                label, tool_name = key.split("|", 1)
                title = f"Risk of bias ({label})"
                png, note = _render(title, plots.rob_summary, (frame,), {})
                if png is not None:
                    keep(title, f"risk_of_bias_{_slug(tool_name, None)}.png", png, None)
                if note:
                    notes.append(note)
        if pool is not None:
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                step[0] += 1
                progress(f"figures: {indications[i]}", step[0], total)
        else:
            for i, indication in enumerate(indications):
                step[0] += 1
                progress(f"figures: {indication}", step[0], total)
                results[i] = _indication_figures(i)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _FIGURE_STATE.clear()
    for i, indication in enumerate(indications):  # assemble in order: deterministic
        made, more = results[i]
        for title, filename, png in made:
            keep(title, filename, png, indication)
        notes.extend(more)
    return general, per_indication, written, notes


_FIGURE_DPI = 130


def _slug(text: str, index: int | None) -> str:
    """A file-name-safe ASCII form of ``text``, numbered when ``index`` is given."""
    safe = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in text.lower())
    while "__" in safe:
        safe = safe.replace("__", "_")
    safe = safe.strip("_")[:40] or "x"
    return safe if index is None else f"{index + 1:02d}_{safe}"


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
    from evidence.export import write_csv
    from evidence.ingest import read_studies
    from evidence.study_effects import study_effects
    from grading.certainty import grade
    from grading.gap import gap_summary
    from grading.manifest import build_manifest, write_manifest
    from grading.tables import evidence_profile

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

    from grading.config import check_options

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
    from grading.rob import rob_problems

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
    # pooled.csv holds the bodies grade() rates: same rows, same numbers (issue 11)
    from grading.pooled import pooled_table

    pooled = pooled_table(grades)

    tick("evidence profile and gap")
    profile = evidence_profile(grades, studies=evidence_table)
    gap = gap_summary(evidence_table, grades, regulatory=regulatory_frame, scheme=the_scheme)
    # --- issue 12 (gap helper): Summary of Findings table
    from grading.tables import summary_of_findings

    # baseline_risk rows of the overrides file beat the global --baseline-risk (more specific)
    sof = summary_of_findings(
        grades, baseline_risk=baseline_risk, studies=evidence_table, overrides=the_overrides
    )
    # --- end issue 12

    tick("claims audit")
    claims_audit = None
    if claims_frame is not None:
        from grading.claims import audit_claims

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
            "summary_of_findings.csv": sof,  # issue 12 (gap helper)
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
            "gap": gap,  # gap: issue 12 (gap helper), for the translational ladder
            "by": opts.by,
            "subgroup": opts.subgroup,
        }  # --by / --subgroup forests
        n_jobs = jobs if jobs is not None else min(os.cpu_count() or 1, 4)
        general_figs, indication_figs, fig_files, figure_notes = _draw_figures(
            run, figures_dir, progress, step, total, n_jobs
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
        "rows_rejected": _n_rejected(rejected),
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
        from grading.report import write_report

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
                sof=sof,  # issue 12 (gap helper)
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
    n_rej = _n_rejected(ingest.rejected)
    if ingest.n_in != len(ingest.studies) + n_rej:
        raise EvidenceError(
            f"Row accounting failed: {ingest.n_in} rows in, {len(ingest.studies)} accepted, "
            f"{n_rej} rejected."
        )
