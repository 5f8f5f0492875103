"""GRADEpro-style evidence profile and summary-of-findings tables, with exporters.

Column sets follow grading-frameworks.md section 5.1 [V]: the GRADEpro GDT evidence profile
(certainty assessment: № of studies, study design, risk of bias, inconsistency, indirectness,
imprecision, other considerations; № of patients per arm; relative and absolute effect;
certainty; importance) and the classic Cochrane summary-of-findings layout (PMC4297244 T2:
outcomes, assumed and corresponding risk, relative effect, № of participants (studies),
certainty, comments).  evigap adds a "Translational indirectness" column so the preclinical
penalty stays visible.  Every rated domain and every certainty gets a footnote explaining it.

Footnotes are kept in ``frame.attrs["footnotes"]`` (list of ``(marker, text)``) and per row in
the ``Footnotes`` column; :func:`to_markdown`, :func:`to_html` and :func:`to_latex` print them
under the table.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from evidence._validate import check_bool, check_frame, check_text
from evidence.errors import ValidationError
from grading.domains import ALL_DOMAINS, DOMAIN_LABELS, STEP_WORDS, UP_DOMAINS
from grading.scheme import LEVEL_SYMBOLS

__all__ = [
    "evidence_profile",
    "summary_of_findings",
    "to_markdown",
    "to_html",
    "to_latex",
    "to_csv",
    "EVIDENCE_PROFILE_COLUMNS",
    "SUMMARY_OF_FINDINGS_COLUMNS",
]

EVIDENCE_PROFILE_COLUMNS: tuple[str, ...] = (
    "Indication", "Outcome", "Stream", "№ of studies", "Study design", "Risk of bias",
    "Inconsistency", "Indirectness", "Translational indirectness", "Imprecision",
    "Other considerations", "№ of patients: intervention", "№ of patients: comparison",
    "Relative (95% CI)", "Absolute (95% CI)", "Certainty", "Importance", "Footnotes",
)
SUMMARY_OF_FINDINGS_COLUMNS: tuple[str, ...] = (
    "Indication", "Stream", "Outcomes", "Assumed risk (comparator)",
    "Corresponding risk (intervention)", "Relative effect (95% CI)",
    "№ of participants (studies)", "Certainty of the evidence (GRADE)", "Comments", "Footnotes",
)
_RATIO = ("RR", "OR", "HR", "ROM")
_UP_WORDS = {
    "large_effect": {1: "strong association", 2: "very strong association"},
    "dose_response": {1: "dose response gradient"},
    "plausible_confounding": {
        1: "all plausible residual confounding would reduce the demonstrated effect"},
}
_NEEDED = ("indication", "outcome", "stream", "k", "measure", "estimate", "ci_low", "ci_high",
           "starting_level", "certainty", "design")


def _check(grades: pd.DataFrame, func: str) -> None:
    check_frame(grades, "grades", func, what="the DataFrame from grade()")
    for col in (*_NEEDED, *ALL_DOMAINS):
        if col not in grades.columns:
            raise ValidationError(f"{func}() needs column {col!r} in 'grades' (from grade()).")


def _fin(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _nat(measure, x):
    if measure in _RATIO:
        return math.exp(x)
    if measure == "PLO":
        return 1 / (1 + math.exp(-x))
    return x


def _relative(r) -> str:
    m = r["measure"]
    if m not in _RATIO or not _fin(r["estimate"]):
        return "—"
    return (f"{m} {_nat(m, r['estimate']):.2f} ({_nat(m, r['ci_low']):.2f} to "
            f"{_nat(m, r['ci_high']):.2f})")


def _risk_int(measure: str, value: float, cr: float) -> float:
    if measure == "RR":
        return cr * math.exp(value)
    if measure == "OR":
        o = math.exp(value)
        return o * cr / (1 - cr + o * cr)
    if measure == "RD":
        return cr + value
    return math.nan


def _per1000(d: float) -> str:
    n = round(abs(d) * 1000)
    return f"{n} {'fewer' if d < 0 else 'more'}"


def _absolute(r) -> str:
    m, est = r["measure"], r["estimate"]
    if not _fin(est):
        return "not estimable"
    cr = r.get("control_risk", math.nan)
    if m in ("RR", "OR", "RD") and _fin(cr):
        vals = [_risk_int(m, x, cr) - cr for x in (est, r["ci_low"], r["ci_high"])]
        return (f"{_per1000(vals[0])} per 1,000 (from {_per1000(vals[1])} to "
                f"{_per1000(vals[2])})")
    if m in ("MD", "SMD", "GEN"):
        def w(x):
            return f"{abs(x):.2f} {'lower' if x < 0 else 'higher'}"
        return f"{m} {w(est)} ({w(r['ci_low'])} to {w(r['ci_high'])})"
    if m in ("PLO", "PR"):
        return (f"proportion {_nat(m, est):.2f} ({_nat(m, r['ci_low']):.2f} to "
                f"{_nat(m, r['ci_high']):.2f}), no comparator")
    return "—"


def _arm(r, arm: str) -> str:
    n = r.get(f"n_{arm}_total", math.nan)
    e = r.get(f"events_{arm}_total", math.nan)
    if _fin(e) and _fin(n) and n > 0:
        return f"{e:.0f}/{n:.0f} ({100 * e / n:.1f}%)"
    if _fin(n):
        return f"{n:.0f}"
    return "—"


class _Notes:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, text: str) -> str:
        i = len(self.items)
        marker = ""
        while True:
            marker = chr(ord("a") + i % 26) + marker
            i = i // 26 - 1
            if i < 0:
                break
        self.items.append((marker, text))
        return marker


def _domain_cell(r, d: str, notes: _Notes, row_notes: list[str]) -> str:
    step = int(r[d])
    word = STEP_WORDS.get(step, f"{step:+d}") if d not in UP_DOMAINS else str(step)
    overridden = r.get(f"{d}_override_by") is not None and not (
        isinstance(r.get(f"{d}_override_by"), float))
    if step != 0 or overridden or str(r.get(f"{d}_reason", "")).startswith("override"):
        text = (f"{DOMAIN_LABELS[d]} ({step:+d}, {word}): {r[f'{d}_reason']}. "
                f"Source: {r[f'{d}_source']}")
        mk = notes.add(text)
        row_notes.append(f"{mk}. {text}")
        return f"{word} ({mk})"
    return word


def _certainty_note(r, notes: _Notes, row_notes: list[str]) -> str:
    if r.get("evidence_status") == "no evidence":  # issue 11 contract: no certainty to show
        return f"No evidence ({r.get('no_evidence_reason') or 'no result to rate'})"
    steps = [f"{DOMAIN_LABELS[d].lower()} {int(r[d]):+d}" for d in ALL_DOMAINS if int(r[d]) != 0]
    text = (f"Starts {r['starting_level']} ({r['design']}); "
            + (", ".join(steps) if steps else "no rating up or down")
            + f" = {r['certainty']}"
            + (f" (within the {r['stream']} stream: {r['certainty_within_stream']})"
               if "certainty_within_stream" in r and r['certainty_within_stream'] != r['certainty']
               else ""))
    mk = notes.add(text)
    row_notes.append(f"{mk}. {text}")
    return f"{LEVEL_SYMBOLS[r['certainty']]} {r['certainty'].capitalize()} ({mk})"


def evidence_profile(grades: pd.DataFrame) -> pd.DataFrame:
    """GRADEpro-style evidence profile, one row per graded body.

    Parameters
    ----------
    grades : DataFrame
        Output of :func:`grading.grade`.

    Returns
    -------
    DataFrame
        Columns :data:`EVIDENCE_PROFILE_COLUMNS`: Indication, Outcome, Stream, № of studies,
        Study design, Risk of bias, Inconsistency, Indirectness, Translational indirectness,
        Imprecision (cells 'not serious' / 'serious' / 'very serious' / 'extremely serious'
        with a footnote marker when rated), Other considerations (publication bias and
        up-ratings, or 'none'), № of patients: intervention, № of patients: comparison
        ('events/total (%)' for counts), Relative (95% CI) (ratio measures), Absolute (95% CI)
        (per 1,000 for binary outcomes with a control risk; MD/SMD lower/higher), Certainty
        ('⊕⊕◯◯ Low'), Importance ('not rated': evigap does not rate outcome importance), Footnotes.
        ``attrs["footnotes"]`` holds every footnote as (marker, text).
    """
    _check(grades, "evidence_profile")
    notes = _Notes()
    rows = []
    for r in grades.to_dict("records"):  # plain dicts: much cheaper than rows
        rn: list[str] = []
        cells = {d: _domain_cell(r, d, notes, rn) for d in (
            "risk_of_bias", "inconsistency", "indirectness", "translational_indirectness",
            "imprecision")}
        other = []
        pb = int(r["publication_bias"])
        if pb != 0 or str(r.get("publication_bias_reason", "")).startswith("override"):
            base = _domain_cell(r, "publication_bias", notes, rn)
            other.append("publication bias strongly suspected" + base[base.find(" ("):]
                         if pb != 0 else base)
        for d in UP_DOMAINS:
            if int(r[d]) != 0:
                mark = _domain_cell(r, d, notes, rn)
                other.append(_UP_WORDS[d].get(int(r[d]), DOMAIN_LABELS[d]) + mark[mark.find(
                    " ("):])
        rows.append({
            "Indication": r["indication"],
            "Outcome": r["outcome"],
            "Stream": r["stream"],
            "№ of studies": int(r["k"]),
            "Study design": r["design"],
            "Risk of bias": cells["risk_of_bias"],
            "Inconsistency": cells["inconsistency"],
            "Indirectness": cells["indirectness"],
            "Translational indirectness": cells["translational_indirectness"],
            "Imprecision": cells["imprecision"],
            "Other considerations": "; ".join(other) if other else "none",
            "№ of patients: intervention": _arm(r, "int"),
            "№ of patients: comparison": _arm(r, "ctrl"),
            "Relative (95% CI)": _relative(r),
            "Absolute (95% CI)": _absolute(r),
            "Certainty": _certainty_note(r, notes, rn),
            "Importance": "not rated",
            "Footnotes": " ".join(rn),
        })
    out = pd.DataFrame(rows, columns=list(EVIDENCE_PROFILE_COLUMNS))
    out.attrs["footnotes"] = list(notes.items)
    return out


def summary_of_findings(grades: pd.DataFrame) -> pd.DataFrame:
    """Summary-of-findings table (classic Cochrane layout), one row per graded body.

    Returns
    -------
    DataFrame
        Columns :data:`SUMMARY_OF_FINDINGS_COLUMNS`: Indication, Stream, Outcomes,
        Assumed risk (comparator) ('382 per 1,000' for binary outcomes with a control risk),
        Corresponding risk (intervention) (with its 95% CI; MD/SMD differences for continuous
        outcomes),
        Relative effect (95% CI), № of participants (studies), Certainty of the evidence (GRADE)
        (symbols + level + footnote), Comments (the GRADE informative statement), Footnotes.
        ``attrs["footnotes"]`` as in :func:`evidence_profile`.
    """
    _check(grades, "summary_of_findings")
    notes = _Notes()
    rows = []
    for r in grades.to_dict("records"):  # plain dicts: much cheaper than rows
        rn: list[str] = []
        m, cr = r["measure"], r.get("control_risk", math.nan)
        if m in ("RR", "OR", "RD") and _fin(cr) and _fin(r["estimate"]):
            assumed = f"{round(cr * 1000)} per 1,000"
            ri = [_risk_int(m, x, cr) for x in (r["estimate"], r["ci_low"], r["ci_high"])]
            corr = (f"{round(ri[0] * 1000)} per 1,000 ({round(ri[1] * 1000)} to "
                    f"{round(ri[2] * 1000)})")
        else:
            assumed = "—"
            corr = _absolute(r)
        n = r.get("n_participants", math.nan)
        npart = f"{n:.0f} ({int(r['k'])} {'study' if int(r['k']) == 1 else 'studies'})" if _fin(
            n) else f"— ({int(r['k'])} {'study' if int(r['k']) == 1 else 'studies'})"
        for d in ALL_DOMAINS:
            if int(r[d]) != 0:
                _domain_cell(r, d, notes, rn)
        cert = _certainty_note(r, notes, rn)
        rows.append({
            "Indication": r["indication"],
            "Stream": r["stream"],
            "Outcomes": r["outcome"],
            "Assumed risk (comparator)": assumed,
            "Corresponding risk (intervention)": corr,
            "Relative effect (95% CI)": _relative(r),
            "№ of participants (studies)": npart,
            "Certainty of the evidence (GRADE)": cert,
            "Comments": r.get("statement", ""),
            "Footnotes": " ".join(rn),
        })
    out = pd.DataFrame(rows, columns=list(SUMMARY_OF_FINDINGS_COLUMNS))
    out.attrs["footnotes"] = list(notes.items)
    return out


# ---------------------------------------------------------------------------- exporters

def _check_export(frame: object, footnotes: object, func: str) -> None:
    check_frame(frame, "frame", func, what="a pandas DataFrame (e.g. from summary_of_findings())")
    check_bool(footnotes, "footnotes", func)


def _cells(frame: pd.DataFrame, footnotes: bool) -> tuple[list[str], list[list[str]]]:
    cols = [c for c in frame.columns if footnotes is False or c != "Footnotes"]
    if footnotes is False:
        cols = [c for c in cols if c != "Footnotes"]

    def s(v) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        return str(v).replace("\r", " ").replace("\n", " ")

    return [str(c) for c in cols], [[s(v) for v in row] for row in frame[cols].itertuples(
        index=False)]


def _notes(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(frame.attrs.get("footnotes", []))


def to_markdown(frame: pd.DataFrame, *, footnotes: bool = True) -> str:
    """A pipe table (``|`` in cells escaped); footnotes listed under it."""
    _check_export(frame, footnotes, "to_markdown")
    cols, body = _cells(frame, footnotes=False)

    def esc(t: str) -> str:
        return t.replace("\\", "\\\\").replace("|", "\\|")

    lines = ["| " + " | ".join(esc(c) for c in cols) + " |",
             "|" + "|".join(" --- " for _ in cols) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in body]
    if footnotes and _notes(frame):
        lines.append("")
        lines += [f"{mk}. {esc(t)}  " for mk, t in _notes(frame)]
    return "\n".join(lines) + "\n"


def to_html(frame: pd.DataFrame, *, footnotes: bool = True, caption: str | None = None) -> str:
    """An HTML table with every cell escaped; footnotes in an ordered list under it."""
    _check_export(frame, footnotes, "to_html")
    check_text(caption, "caption", "to_html", optional=True)
    cols, body = _cells(frame, footnotes=False)
    e = html.escape
    out = ['<table class="evigap-table">']
    if caption:
        out.append(f"<caption>{e(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr></thead>")
    out.append("<tbody>")
    for row in body:
        out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    if footnotes and _notes(frame):
        out.append('<ol class="evigap-footnotes" type="a">')
        out += [f'<li id="fn-{e(mk)}">{e(t)}</li>' for mk, t in _notes(frame)]
        out.append("</ol>")
    return "\n".join(out) + "\n"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
          "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
          "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
          "|": r"\textbar{}"}


def _tex(t: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in t)


def to_latex(frame: pd.DataFrame, *, footnotes: bool = True) -> str:
    """A ``tabular`` with LaTeX special characters escaped; footnotes as an enumerate list.

    The ⊕/◯ symbols need a Unicode engine (LuaLaTeX/XeLaTeX) or ``newunicodechar``.
    """
    _check_export(frame, footnotes, "to_latex")
    cols, body = _cells(frame, footnotes=False)
    spec = "l" * len(cols)
    out = [f"\\begin{{tabular}}{{{spec}}}", "\\hline",
           " & ".join(_tex(c) for c in cols) + r" \\", "\\hline"]
    out += [" & ".join(_tex(c) for c in row) + r" \\" for row in body]
    out += ["\\hline", "\\end{tabular}"]
    if footnotes and _notes(frame):
        out.append("\\begin{itemize}")
        out += [f"\\item[{_tex(mk)}.] {_tex(t)}" for mk, t in _notes(frame)]
        out.append("\\end{itemize}")
    return "\n".join(out) + "\n"


def to_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV with :func:`evidence.export.write_csv` (formula-safe, deterministic)."""
    from evidence.export import write_csv

    return write_csv(frame, path)
