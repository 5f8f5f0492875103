"""A self-contained HTML report of a review: one file, readable offline, no scripts.

Layout: the translational gap summary first; then one section per indication with its evidence
profile, its translational forest plot (and study forest plot), the studies behind it and the
reasons for each certainty rating; then the claims audit, the rejected rows and the provenance
(input digests, versions, scheme).  Figures are embedded as base64 PNG.  Every piece of
user-supplied text is escaped with :func:`html.escape`, and a Content-Security-Policy forbids
scripts, so a study called ``<script>alert(1)</script>`` is shown, never run.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DETERMINISTIC_RC",
    "figure_png",
    "save_figure",
    "render_report",
    "write_report",
]

#: rcParams that make matplotlib output reproducible byte for byte.
DETERMINISTIC_RC: dict[str, Any] = {
    "svg.hashsalt": "evigap",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    # unhinted glyphs do not depend on the FreeType hinter's version, and drawing text without
    # the hinter takes about a fifth less time (the main job: 12.5 s -> 10.5 s, benchmarks/)
    "text.hinting": "no_hinting",
}

_METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}

_DPI = 110


def figure_png(figure, *, dpi: int = _DPI) -> bytes:
    """Render a matplotlib Figure to PNG bytes without the ``Software`` metadata chunk."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(DETERMINISTIC_RC):
        figure.savefig(buffer, format="png", dpi=dpi, metadata=_METADATA["png"])
    return buffer.getvalue()


def save_figure(figure, path: str | os.PathLike, *, dpi: int = _DPI) -> Path:
    """Save a Figure reproducibly (PNG, SVG or PDF by suffix): no dates, fixed SVG ids."""
    import matplotlib

    p = Path(path)
    fmt = p.suffix.lstrip(".").lower() or "png"
    with matplotlib.rc_context(DETERMINISTIC_RC):
        figure.savefig(p, format=fmt, dpi=dpi, metadata=_METADATA.get(fmt))
    return p


# --------------------------------------------------------------------------- formatting

_e = html.escape


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if type(value).__name__ in {"NAType", "NaTType"}:
        return True
    try:
        return isinstance(value, float) and math.isnan(value)
    except TypeError:
        return False


def _fmt(value: Any, digits: int = 3) -> str:
    """Display text of one cell (rounding happens only here)."""
    if _is_missing(value):
        return ""
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        if value != 0 and abs(value) < 10 ** (-digits):
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


def _table(frame, *, columns: Sequence[str] | None = None, caption: str | None = None,
           classes: str = "tbl", max_rows: int | None = None) -> str:
    """An escaped HTML table of a DataFrame (``columns`` that exist, in that order)."""
    if frame is None:
        return '<p class="muted">Not available.</p>'
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    if len(frame) == 0 or not cols:
        return '<p class="muted">No rows.</p>'
    shown = frame if max_rows is None else frame.head(max_rows)
    parts = [f'<div class="scroll"><table class="{_e(classes)}">']
    if caption:
        parts.append(f"<caption>{_e(caption)}</caption>")
    parts.append("<thead><tr>" + "".join(f"<th>{_e(str(c))}</th>" for c in cols) + "</tr></thead>")
    parts.append("<tbody>")
    for row in shown[cols].itertuples(index=False, name=None):
        cells = []
        for value in row:
            text = _fmt(value)
            num = isinstance(value, int | float) and not isinstance(value, bool)
            if num:
                cells.append(f'<td class="num">{_e(text)}</td>')
            elif len(text) > 60:  # give long text room instead of a tall, narrow column
                cells.append(f'<td class="long">{_e(text)}</td>')
            else:
                cells.append(f"<td>{_e(text)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table></div>")
    if max_rows is not None and len(frame) > max_rows:
        parts.append(f'<p class="muted">First {max_rows} of {len(frame)} rows shown; '
                     "the full table is in the CSV files beside this report.</p>")
    return "".join(parts)


def _png_bytes(figure: Any) -> bytes:
    if isinstance(figure, bytes | bytearray):
        return bytes(figure)
    if isinstance(figure, str | os.PathLike):
        return Path(figure).read_bytes()
    fig = getattr(figure, "figure", figure)  # an Axes has .figure
    return figure_png(fig)


def _img(figure: Any, alt: str) -> str:
    data = base64.b64encode(_png_bytes(figure)).decode("ascii")
    return (f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(alt)}</figcaption></figure>")


def _domains(grades) -> list[str]:
    """GRADE domains present in ``grades`` (columns ``d`` with a ``d_reason`` beside them)."""
    return [c for c in grades.columns if f"{c}_reason" in grades.columns]


def _step(value: Any) -> str:
    if _is_missing(value):
        return ""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return str(value)
    return f"+{n}" if n > 0 else ("0" if n == 0 else f"−{-n}")


def _reasons(grades_rows) -> str:
    """Per outcome x stream: certainty, statement and one line per domain with its reason."""
    if grades_rows is None or len(grades_rows) == 0:
        return '<p class="muted">No graded outcomes.</p>'
    domains = _domains(grades_rows)
    out = []
    for _, row in grades_rows.iterrows():
        label = " · ".join(
            _fmt(row.get(c)) for c in ("outcome", "stream") if c in row.index and _fmt(row.get(c))
        )
        certainty = _fmt(row.get("certainty"))
        symbols = _fmt(row.get("certainty_symbols"))
        out.append('<details class="rating" open><summary>')
        out.append(f"<b>{_e(label)}</b>: <span class=\"cert\">{_e(symbols)} {_e(certainty)}</span>")
        if "k" in row.index:
            out.append(f' <span class="muted">(k = {_e(_fmt(row.get("k")))})</span>')
        moves = [f"{_step(row.get(d))} {d.replace('_', ' ')}" for d in domains
                 if _step(row.get(d)) not in ("", "0")]
        if moves:
            out.append(f' <span class="muted">: {_e(", ".join(moves))}</span>')
        out.append("</summary>")
        statement = _fmt(row.get("statement"))
        if statement:
            out.append(f'<p class="statement">{_e(statement)}</p>')
        start = _fmt(row.get("starting_level"))
        if start:
            out.append(f"<p>Starting level: {_e(start)}.</p>")
        if domains:
            out.append('<table class="tbl reasons"><thead><tr><th>domain</th><th>step</th>'
                       "<th>suggested</th><th>reason</th><th>source</th><th>override by</th>"
                       "</tr></thead><tbody>")
            for d in domains:
                out.append(
                    "<tr>"
                    f"<td>{_e(d.replace('_', ' '))}</td>"
                    f'<td class="num">{_e(_step(row.get(d)))}</td>'
                    f'<td class="num">{_e(_step(row.get(f"{d}_suggested")))}</td>'
                    f"<td>{_e(_fmt(row.get(f'{d}_reason')))}</td>"
                    f"<td>{_e(_fmt(row.get(f'{d}_source')))}</td>"
                    f"<td>{_e(_fmt(row.get(f'{d}_override_by')))}</td>"
                    "</tr>"
                )
            out.append("</tbody></table>")
        out.append("</details>")
    return "".join(out)


def _indication_column(frame) -> str | None:
    if frame is None:
        return None
    for c in frame.columns:
        if str(c).lower() == "indication":
            return c
    return None


def _rows_for(frame, indication: str):
    col = _indication_column(frame)
    if col is None:
        return None
    return frame[(frame[col].astype("string") == indication).fillna(False).to_numpy()]


def _profile_block(rows) -> str:
    """The evidence profile rows of one indication, footnotes listed under the table."""
    col = _indication_column(rows)
    shown = rows.drop(columns=[col]) if col is not None else rows
    notes_col = next((c for c in shown.columns if str(c).lower() == "footnotes"), None)
    parts = [_table(shown.drop(columns=[notes_col]) if notes_col else shown)]
    if notes_col:
        texts = [t for t in shown[notes_col].tolist() if not _is_missing(t) and str(t).strip()]
        if texts:
            parts.append('<div class="footnotes">')
            parts.extend(f"<p>{_e(str(t))}</p>" for t in texts)
            parts.append("</div>")
    return "".join(parts)


def _gap_block(gap) -> str:
    """The gap summary as a compact table (one readable cell per question); the full table is
    in ``gap_summary.csv``."""
    if gap is None:
        return _table(None)
    need = {"indication", "n_in_vitro", "n_animal", "n_human"}
    if not need <= set(gap.columns):
        return _table(gap)

    def get(row, col):
        return row.get(col) if col in row.index else None

    def trio(row, cols) -> str:
        return " / ".join(_fmt(get(row, c)) or "–" for c in cols)

    rows = []
    for _, r in gap.iterrows():
        phase = _fmt(get(r, "highest_phase_with_results")) or "none"
        registered = _fmt(get(r, "highest_phase_registered"))
        if registered and registered != phase:
            phase += f" (registered: {registered})"
        pre, hum = get(r, "preclinical_smd"), get(r, "human_smd")
        effect = f"{_fmt(pre, 2) or '–'} vs {_fmt(hum, 2) or '–'}"
        att = _fmt(get(r, "attenuation"), 2)
        if att:
            effect += f" (ratio {att})"
        prior = _fmt(get(r, "prior_loa"), 3)
        if prior and _fmt(get(r, "prior_phase")):
            prior += f" ({_fmt(get(r, 'prior_phase'))})"
        rows.append({
            "indication": _fmt(r["indication"]),
            "records: in vitro / animal / human": trio(r, ("n_in_vitro", "n_animal", "n_human")),
            "human: highest phase with results": phase,
            "certainty: in vitro / animal / human": trio(
                r, ("certainty_in_vitro", "certainty_animal", "certainty_human")),
            "effect (SMD): animal vs human": effect,
            "regulatory status": _fmt(get(r, "regulatory_status")),
            "prior probability of approval": prior,
        })
    import pandas as pd

    note = ('<p class="muted">Certainty: highest rating in each stream.  Effect: pooled '
            "animal and human effects of the main benefit outcome on the SMD scale (ratio = "
            "human / animal).  Prior: probability of eventual approval for a programme at that "
            "phase.  All columns are in gap_summary.csv.</p>")
    return _table(pd.DataFrame(rows)) + note


def _studies_for(evidence_table, indication: str):
    if evidence_table is None or len(evidence_table) == 0:
        return None
    from evidence.schema import indication_key

    rows = evidence_table[(indication_key(evidence_table) == indication).fillna(False)
                          .to_numpy()]
    if {"yi", "vi", "measure"} <= set(rows.columns):
        rows = rows.assign(**{"effect [95% CI]": [
            _effect_text(m, y, v) for m, y, v in zip(rows["measure"], rows["yi"], rows["vi"],
                                                     strict=True)]})
    return rows


def _effect_text(measure: Any, yi: Any, vi: Any) -> str:
    """``'0.41 [0.13, 1.26]'``: ratio measures back-transformed, normal-theory 95% CI."""
    try:
        y, v = float(yi), float(vi)
    except (TypeError, ValueError):
        return ""
    if math.isnan(y) or math.isnan(v) or v < 0:
        return ""
    half = 1.959963984540054 * math.sqrt(v)
    low, high = y - half, y + half
    if str(measure) in ("RR", "OR", "HR", "ROM"):  # stored on the log scale
        y, low, high = math.exp(y), math.exp(low), math.exp(high)
    return f"{measure} {y:.2f} [{low:.2f}, {high:.2f}]"


_STUDY_COLUMNS = (
    "study_id", "citation_key", "stream", "model", "outcome", "outcome_kind",
    "effect [95% CI]", "yi", "vi", "effect_note",
)

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:0;color:#1d2329;background:#fff}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:21px;margin:34px 0 8px;border-bottom:2px solid #2c6e91;padding-bottom:3px}
h3{font-size:17px;margin:22px 0 6px}
.muted{color:#66707a}.lead{font-size:16px}
.scroll{overflow-x:auto;margin:6px 0 12px}
table.tbl{border-collapse:collapse;font-size:13px;min-width:40%}
.tbl th,.tbl td{border:1px solid #d5dbe0;padding:3px 7px;text-align:left;vertical-align:top}
.tbl th{background:#eef3f6;overflow-wrap:anywhere;min-width:4em}
.tbl td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.tbl td.long{min-width:24em}
.tbl tbody tr:nth-child(even){background:#f8fafb}
figure{margin:10px 0 16px}figure img{max-width:100%;height:auto;border:1px solid #e3e7ea}
figcaption{font-size:13px;color:#66707a}
details.rating{border:1px solid #d5dbe0;border-radius:4px;margin:6px 0;padding:4px 10px}
details.rating summary{cursor:pointer}.cert{font-weight:600;color:#2c6e91}
.statement{font-style:italic}.footnotes{font-size:12.5px;color:#3d464f}
.footnotes p{margin:3px 0}nav ol{columns:2;font-size:14px}
.kv td:first-child{font-weight:600}
"""


def render_report(
    *,
    grades,
    gap=None,
    profile=None,
    evidence_table=None,
    claims_audit=None,
    rejected=None,
    figures: Mapping[str, Any] | None = None,
    indication_figures: Mapping[str, Mapping[str, Any]] | None = None,
    manifest: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    title: str = "evigap evidence report",
) -> str:
    """Build the report as one HTML string.

    Parameters
    ----------
    grades : DataFrame
        Output of :func:`grading.certainty.grade` (one row per indication x outcome x stream).
    gap : DataFrame, optional
        Output of :func:`grading.gap.gap_summary`; shown first.
    profile : DataFrame, optional
        Output of :func:`grading.tables.evidence_profile`; shown per indication.
    evidence_table : DataFrame, optional
        Accepted study records with ``yi``/``vi`` (:func:`evidence.study_effects.study_effects`).
    claims_audit, rejected : DataFrame, optional
        Claims audit and rejected input rows.
    figures : mapping, optional
        Title -> figure for the whole review (PNG bytes, a path, or a matplotlib Figure/Axes).
    indication_figures : mapping, optional
        Indication -> {title -> figure}.
    manifest : mapping, optional
        The run manifest; its inputs, counts, versions and scheme are listed at the end (its
        timestamp is deliberately left out so reports of identical runs are identical).
    notes : sequence of str
        Remarks shown in a "Notes" section (e.g. figures that could not be drawn).
    title : str
        Page title.

    Returns
    -------
    str
        The complete HTML document.
    """
    figures = figures or {}
    indication_figures = indication_figures or {}
    # pandas deep-copies .attrs on every operation; the profile's footnotes make that slow
    grades, gap, profile, evidence_table, claims_audit, rejected = (
        _plain(f) for f in (grades, gap, profile, evidence_table, claims_audit, rejected))
    indications: list[str] = []
    for frame in (gap, grades, profile):
        col = _indication_column(frame)
        if col is not None:
            for value in frame[col].dropna().astype(str):
                if value not in indications:
                    indications.append(value)
    for value in indication_figures:
        if value not in indications:
            indications.append(value)

    body: list[str] = [f"<h1>{_e(title)}</h1>"]
    if manifest is not None and manifest.get("counts"):
        c = manifest["counts"]
        body.append(
            '<p class="lead muted">'
            f"{_e(_fmt(c.get('rows_in')))} input rows: {_e(_fmt(c.get('rows_accepted')))} "
            f"accepted, {_e(_fmt(c.get('rows_rejected')))} rejected; "
            f"{len(indications)} indications.</p>"
        )
    if indications:
        body.append("<nav><ol>")
        for i, ind in enumerate(indications):
            body.append(f'<li><a href="#ind-{i}">{_e(ind)}</a></li>')
        body.append("</ol></nav>")

    body.append('<h2 id="gap">Translational gap summary</h2>')
    body.append(_gap_block(gap))
    for name, fig in figures.items():
        body.append(_img(fig, name))

    for i, ind in enumerate(indications):
        body.append(f'<h2 id="ind-{i}">{_e(ind)}</h2>')
        prof = _rows_for(profile, ind)
        if prof is not None:
            body.append("<h3>Evidence profile</h3>")
            body.append(_profile_block(prof))
        for name, fig in indication_figures.get(ind, {}).items():
            body.append(_img(fig, f"{name}: {ind}"))
        studies = _studies_for(evidence_table, ind)
        if studies is not None:
            body.append(f"<h3>Records ({len(studies)})</h3>")
            body.append(_table(studies, columns=_STUDY_COLUMNS))
        body.append("<h3>Why each rating</h3>")
        body.append(_reasons(_rows_for(grades, ind)))

    if claims_audit is not None:
        body.append('<h2 id="claims">Claims audit</h2>')
        body.append(_table(claims_audit))
    if rejected is not None:
        body.append(f'<h2 id="rejected">Rejected rows ({_e(_fmt(_n_rows(rejected)))})</h2>')
        body.append(_table(rejected))
    if notes:
        body.append('<h2 id="notes">Notes</h2><ul>')
        body.extend(f"<li>{_e(str(n))}</li>" for n in notes)
        body.append("</ul>")
    if manifest is not None:
        body.append(_provenance(manifest))

    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body><main>\n"
        + "\n".join(body)
        + "\n</main></body></html>\n"
    )


def _plain(frame):
    """A shallow copy without ``attrs`` (None stays None)."""
    if frame is None or not getattr(frame, "attrs", None):
        return frame
    frame = frame.copy(deep=False)
    frame.attrs = {}
    return frame


def _n_rows(rejected) -> int:
    if "row" in rejected.columns:
        return int(rejected["row"].nunique())
    return len(rejected)


def _kv(rows: Sequence[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><td>{_e(str(k))}</td><td>{_e(_fmt(v))}</td></tr>" for k, v in rows)
    return f'<table class="tbl kv"><tbody>{cells}</tbody></table>'


def _provenance(manifest: Mapping[str, Any]) -> str:
    out = ['<h2 id="provenance">Provenance</h2>', "<h3>Inputs</h3>"]
    rows = []
    for role, rec in sorted((manifest.get("inputs") or {}).items()):
        if rec is None:
            rows.append((role, "not given"))
        else:
            rows.append((role, f"{rec.get('name')}  sha256 {rec.get('sha256')}"))
    out.append(_kv(rows))
    out.append("<h3>Row counts</h3>")
    out.append(_kv(sorted((manifest.get("counts") or {}).items())))
    out.append("<h3>Versions</h3>")
    out.append(_kv(sorted((manifest.get("versions") or {}).items())))
    scheme = manifest.get("scheme")
    if scheme:
        out.append("<h3>Grading scheme</h3>")
        out.append(_kv(sorted(_flatten(scheme).items())))
    return "".join(out)


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = ", ".join(_fmt(v) for v in value)
        else:
            flat[name] = value
    return flat


def write_report(path: str | os.PathLike, **kwargs: Any) -> Path:
    """Write :func:`render_report` output to ``path`` (UTF-8) and return the path.

    All keyword arguments are passed to :func:`render_report`.
    """
    p = Path(path)
    p.write_text(render_report(**kwargs), encoding="utf-8", newline="\n")
    return p
