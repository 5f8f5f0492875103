"""The result of :func:`grading.pipeline.run_review`: every table, the manifest and the files.

:class:`RunResult` is frozen; ``summary()`` (also ``str()``) is the text ``evigap run`` prints,
``to_frame()`` the graded bodies, ``_repr_html_`` the summary in a notebook.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evidence.missing import is_null
from grading.certainty import status_summary

__all__ = ["RunResult", "count_rejected_rows"]


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
            f"{count_rejected_rows(self.rejected)} rejected.",
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

    def to_frame(self) -> pd.DataFrame:
        """The graded bodies: a copy of :attr:`grades` (one row per indication x outcome x
        stream, columns as documented on :func:`grading.certainty.grade`)."""
        return self.grades.copy()

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"


def _status_line(grades: pd.DataFrame) -> str | None:
    """:func:`grading.certainty.status_summary` with a pointer to the reasons."""
    if grades is None or len(grades) == 0 or "evidence_status" not in grades.columns:
        return None
    line = status_summary(grades) + "."
    if (grades["evidence_status"] != "rated").any():
        line += " Why: provisional_reason / no_evidence_reason in grades.csv."
    return line


def count_rejected_rows(rejected: pd.DataFrame | None) -> int:
    """Input rows rejected (a row with several reasons counts once), from a ``rejected`` table
    with the columns of :attr:`evidence.ingest.IngestResult.rejected`."""
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
        return "" if is_null(v) else str(v).strip()

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
