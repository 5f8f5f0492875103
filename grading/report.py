"""A self-contained HTML report of a review: one file, readable offline, no scripts.

Layout: one opening screen (what was reviewed, the translation verdict per indication, the human
harms, what the certainty rests on, review-wide regulatory facts); the translational gap summary
with the gap map and the translational ladder; then one section per indication with its verdict
and narrative beside its translational forest plot, its Summary of Findings table, and (folded)
its evidence profile, records and the reasons for each rating; then the claims audit, the
rejected rows and the provenance (input digests, versions, scheme).  Figures are embedded as
downscaled palette PNGs (:func:`compact_png`; full resolution in ``figures/``); a print
stylesheet drops navigation and folded sections.  Every piece of
user-supplied text is escaped with :func:`html.escape`, and a Content-Security-Policy forbids
scripts, so a study called ``<script>alert(1)</script>`` is shown, never run.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

import pandas as pd

from evidence.measures import to_natural
from evidence.missing import is_null
from evidence.schema import indication_key
from grading.gap import VERDICT_RULES
from grading.labels import indication_label
from grading.plots.saving import DETERMINISTIC_RC, FIGURE_METADATA, save_figure
from grading.scheme import LEVELS
from grading.tables import proportion_ci_text

__all__ = [
    "DETERMINISTIC_RC",
    "REPORT_DPI",
    "figure_png",
    "save_figure",
    "render_report",
    "write_report",
]

#: Resolution (dots per inch) of the PNGs :func:`figure_png` renders: the figures ``evigap
#: run`` writes to ``figures/`` and embeds in the report.  Files saved with
#: :func:`grading.plots.save_figure` default to ``SAVE_DPI`` (200).
REPORT_DPI = 130


def figure_png(figure, *, dpi: int = REPORT_DPI) -> bytes:
    """Render a matplotlib Figure to PNG bytes reproducibly (:data:`DETERMINISTIC_RC`, no
    ``Software`` metadata chunk)."""
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(DETERMINISTIC_RC):
        figure.savefig(buffer, format="png", dpi=dpi, metadata=FIGURE_METADATA["png"])
    return buffer.getvalue()


# --------------------------------------------------------------------------- formatting

_e = html.escape


def _fmt(value: Any, digits: int = 3) -> str:
    """Display text of one cell (rounding happens only here)."""
    if is_null(value):
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


def _table(
    frame,
    *,
    columns: Sequence[str] | None = None,
    caption: str | None = None,
    classes: str = "tbl",
    max_rows: int | None = None,
) -> str:
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
        parts.append(
            f'<p class="muted">First {max_rows} of {len(frame)} rows shown; '
            "the full table is in the CSV files beside this report.</p>"
        )
    return "".join(parts)


def _png_bytes(figure: Any) -> bytes:
    if isinstance(figure, bytes | bytearray):
        return bytes(figure)
    if isinstance(figure, str | os.PathLike):
        return Path(figure).read_bytes()
    fig = getattr(figure, "figure", figure)  # an Axes has .figure
    return figure_png(fig)


#: Embedded figures are at most this wide (pixels) and stored as palette PNGs, so that the
#: bundled review's report stays under 2 MB; the full-resolution PNGs are in ``figures/``.
EMBED_MAX_WIDTH = 820
EMBED_COLOURS = 32


def compact_png(
    png: bytes, *, max_width: int = EMBED_MAX_WIDTH, colours: int = EMBED_COLOURS
) -> bytes:
    """A smaller PNG for embedding: downscaled to ``max_width`` and reduced to a palette.

    Deterministic (same input, same bytes).  Returns the input when Pillow cannot read it.
    """
    try:
        # PIL comes with matplotlib (heavy): imported only when a figure is drawn
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return png
    try:
        im: Image.Image = Image.open(io.BytesIO(png))
        im.load()
    except Exception:  # not a PNG Pillow can read: embed as given
        return png
    im = im.convert("RGB")
    if im.width > max_width:
        im = im.resize(
            (max_width, max(1, round(im.height * max_width / im.width))), Image.Resampling.LANCZOS
        )
    im = im.quantize(colors=colours, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    im.save(out, format="PNG", optimize=True)
    small = out.getvalue()
    return small if len(small) < len(png) else png


def _img(figure: Any, alt: str) -> str:
    data = base64.b64encode(compact_png(_png_bytes(figure))).decode("ascii")
    return (
        f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(alt)}</figcaption></figure>"
    )


def _domains(grades) -> list[str]:
    """GRADE domains present in ``grades`` (columns ``d`` with a ``d_reason`` beside them)."""
    return [c for c in grades.columns if f"{c}_reason" in grades.columns]


def _step(value: Any) -> str:
    if is_null(value):
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
    sources: dict[str, int] = {}  # each cited source listed once per section, cited as [n]

    def cite(text: str) -> str:
        if not text:
            return ""
        if text not in sources:
            sources[text] = len(sources) + 1
        return f"[{sources[text]}]"

    for _, row in grades_rows.iterrows():
        label = " · ".join(
            _fmt(row.get(c)) for c in ("outcome", "stream") if c in row.index and _fmt(row.get(c))
        )
        certainty = _fmt(row.get("certainty"))
        symbols = _fmt(row.get("certainty_symbols"))
        status = _fmt(row.get("evidence_status"))
        if status == "no evidence":  # no level for a body without a result
            certainty = "no evidence: " + (
                _fmt(row.get("no_evidence_reason")) or "no result to rate"
            )
            symbols = ""
        elif status == "provisional":
            certainty += (
                " (provisional: "
                + (_fmt(row.get("provisional_reason")) or "some domains not assessed")
                + ")"
            )
        out.append('<details class="rating" open><summary>')
        out.append(
            f'<b>{_e(label)}</b>: <span class="cert">'
            f"{_e((symbols + ' ' + certainty).strip())}</span>"
        )
        if "k" in row.index:
            out.append(f' <span class="muted">(k = {_e(_fmt(row.get("k")))})</span>')
        moves = [
            f"{_step(row.get(d))} {d.replace('_', ' ')}"
            for d in domains
            if _step(row.get(d)) not in ("", "0")
        ]
        if moves:
            out.append(f' <span class="muted">: {_e(", ".join(moves))}</span>')
        out.append("</summary>")
        statement = _fmt(row.get("statement"))
        if statement:
            out.append(f'<p class="statement">{_e(statement)}</p>')
        start = _fmt(row.get("starting_level"))
        if start:
            out.append(f"<p>Starting level: {_e(start)}.</p>")
        same = {_fmt(row.get(f"{d}_reason")) for d in domains}
        if status == "no evidence" and domains and len(same) == 1:
            # nothing to rate: one line instead of a table of identical rows
            out.append(f'<p class="muted">Every domain: {_e(same.pop())}.</p>')
        elif domains:
            overrides = any(_fmt(row.get(f"{d}_override_by")) for d in domains)
            words = any(f"{d}_judgement" in row.index for d in domains)
            out.append(
                '<table class="tbl reasons"><thead><tr><th>domain</th>'
                + ("<th>judgement</th>" if words else "")
                + "<th>step</th>"
                "<th>suggested</th><th>reason</th><th>source</th>"
                + ("<th>override by</th>" if overrides else "")
                + "</tr></thead><tbody>"
            )
            for d in domains:
                out.append(
                    "<tr>"
                    f"<td>{_e(d.replace('_', ' '))}</td>"
                    + (f"<td>{_e(_fmt(row.get(f'{d}_judgement')))}</td>" if words else "")
                    + f'<td class="num">{_e(_step(row.get(d)))}</td>'
                    f'<td class="num">{_e(_step(row.get(f"{d}_suggested")))}</td>'
                    f"<td>{_e(_fmt(row.get(f'{d}_reason')))}</td>"
                    f"<td>{_e(cite(_fmt(row.get(f'{d}_source'))))}</td>"
                    + (f"<td>{_e(_fmt(row.get(f'{d}_override_by')))}</td>" if overrides else "")
                    + "</tr>"
                )
            out.append("</tbody></table>")
        out.append("</details>")
    if sources:
        out.append('<ol class="footnotes">')
        out.extend(f"<li>{_e(t)}</li>" for t in sources)
        out.append("</ol>")
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
        texts = [t for t in shown[notes_col].tolist() if not is_null(t) and str(t).strip()]
        if texts:
            parts.append('<div class="footnotes">')
            parts.extend(f"<p>{_e(str(t))}</p>" for t in texts)
            parts.append("</div>")
    return "".join(parts)


def _label(key: Any) -> str:

    return indication_label(key)


def _gap_block(gap, anchors: Mapping[str, str] | None = None) -> str:
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
        if registered and registered not in (phase, "none"):
            phase += f" (registered: {registered})"
        prior = _fmt(get(r, "prior_loa"), 3)
        prior = (
            (
                f"{float(get(r, 'prior_loa')):.0%} (base rate, {_fmt(get(r, 'prior_phase'))}, "
                f"{_fmt(get(r, 'prior_area'))})"
            )
            if prior
            else (_fmt(get(r, "prior_source")).replace("no prior: ", "none: ") or "none")
        )
        rows.append(
            {
                "indication": _fmt(get(r, "indication_label")) or _label(r["indication"]),
                "verdict": _fmt(get(r, "verdict")),
                "what the numbers say": _fmt(get(r, "narrative")),
                "records: in vitro / animal / human": trio(
                    r, ("n_in_vitro", "n_animal", "n_human")
                ),
                "human: highest phase with results": phase,
                "regulatory (indication-specific)": (
                    "none specific"
                    if _fmt(get(r, "regulatory_status")).startswith("no indication-specific entry")
                    else _fmt(get(r, "regulatory_status"))
                ),
                "approval base rate": prior,
            }
        )

    note = (
        '<p class="muted">Verdict: the first rule that holds in the table below.  Effects '
        "are on the SMD scale with benefit positive; every conversion is named in "
        "gap_summary.csv (preclinical_note, human_note).  Approval base rate: share of "
        "programmes with results at that phase that reach FDA approval (BIO/Informa/QLS "
        "2021), not a forecast for these products.</p>"
    )
    return _table(pd.DataFrame(rows)) + note


def _opening(
    gap,
    gap_attrs: Mapping[str, Any],
    grades,
    evidence_table,
    manifest,
    n_indications: int,
    anchors: Mapping[str, str],
) -> str:
    """The first screen: what was reviewed, the verdict per indication, the harms, and what
    the certainty rests on."""
    out = ['<section class="first">']
    streams = ""
    if evidence_table is not None and "stream" in evidence_table.columns:
        vc = evidence_table["stream"].astype(str).value_counts()
        streams = ", ".join(
            f"{int(vc[k])} {k.replace('_', ' ')}"
            for k in ("in_vitro", "animal", "human")
            if k in vc.index
        )
        streams = f"{len(evidence_table)} records ({streams}) on "
    c = (manifest or {}).get("counts") or {}
    rej = ""
    if c:
        rej = (
            f"; {_fmt(c.get('rows_in'))} input rows, {_fmt(c.get('rows_accepted'))} "
            f"accepted, {_fmt(c.get('rows_rejected'))} rejected"
        )
    out.append("<h2>What was reviewed</h2>")
    out.append(f"<p>{_e(streams)}{n_indications} indications{_e(rej)}.</p>")
    line = _bottom_line(gap)
    if line:
        out.append(f'<p class="lead"><b>{_e(line)}</b></p>')
    if gap is not None and "verdict" in gap.columns:
        out.append("<h2>Translation verdict per indication</h2>")
        out.append('<table class="verdicts"><tbody>')
        for verdict, _rule in VERDICT_RULES:
            rows = gap[gap["verdict"] == verdict]
            if len(rows) == 0:
                continue
            links = ", ".join(
                f'<a href="#{_e(anchors.get(str(r["indication"]), "gap"))}">'
                f"{_e(_fmt(r.get('indication_label')) or _label(r['indication']))}</a>"
                for _, r in rows.iterrows()
            )
            cls = ' class="harm"' if verdict == "harm signal" else ""
            out.append(f"<tr><td{cls}>{_e(verdict)} ({len(rows)})</td><td>{links}</td></tr>")
        out.append("</tbody></table>")
    harms = gap_attrs.get("harms_review_wide") or {}
    if harms:
        out.append("<h2>Harms</h2>")
        out.append(f'<p class="harm">{_e(_fmt(harms.get("harm_text")))}.</p>')
        out.append(
            f'<p class="muted">{_e(_fmt(harms.get("n_harm_records")))} human harm '
            f"records; products: {_e(_fmt(harms.get('harm_products')))}.</p>"
        )
    out.append("<h2>What the certainty rests on</h2>")
    out.append(f"<p>{_e(_certainty_basis(grades))}</p>")
    pooling = _pooling_methods(grades)
    if pooling:
        out.append(f"<p>{_e(pooling)}</p>")
    reg = gap_attrs.get("regulatory_review_wide") or []
    if reg:
        entries = "; ".join(
            f"{x['entry']}" + (f" [{x['citation_key']}]" if x.get("citation_key") else "")
            for x in reg
        )
        out.append(f"<p><b>Regulatory, all indications:</b> {_e(entries)}.</p>")
    out.append("</section>")
    return "".join(out)


def _bottom_line(gap) -> str:
    """One sentence with numbers: animal promise, human delivery, harm signals."""
    if gap is None or not {"preclinical_smd", "human_smd", "verdict"} <= set(gap.columns):
        return ""

    pre = pd.to_numeric(gap["preclinical_smd"], errors="coerce")
    hum = pd.to_numeric(gap["human_smd"], errors="coerce")
    benefit = pre[pre > 0]
    parts = []
    if len(benefit):
        parts.append(
            f"Animal studies show a pooled benefit in {len(benefit)} of {len(gap)} "
            f"indications (SMD {benefit.min():+.2f} to {benefit.max():+.2f})"
        )
    else:
        parts.append(f"No indication of {len(gap)} has a pooled animal benefit on the SMD scale")
    with_h = gap[hum.notna()]
    if len(with_h):

        def item(r) -> str:
            what = _fmt(r.get("human_outcome"))
            vs = _fmt(r.get("human_comparison"))
            cert = _fmt(r.get("human_certainty")) or (f"{_fmt(r.get('certainty_human'))} certainty")
            return (
                f"{_fmt(r.get('indication_label')) or r['indication']}, "
                + (f"{what} " if what and what != "none" else "")
                + f"SMD {float(r['human_smd']):+.2f}"
                + (f" ({vs})" if vs else "")
                + f", {cert}"
            )

        items = "; ".join(item(r) for _, r in with_h.iterrows())
        parts.append(f"a controlled human efficacy result exists for {len(with_h)}: {items}")
    else:
        parts.append("no indication has a controlled human efficacy result")
    n_harm = int((gap["verdict"] == "harm signal").sum())
    if n_harm:
        parts.append(f"{n_harm} show a human harm signal")
    return "; ".join(parts) + "."


def _pooling_methods(grades) -> str:
    """How the pooled bodies were pooled, when a run asked for Mantel-Haenszel / Peto (the
    method of each body is the ``method`` column of grades.csv / pooled.csv; why a body was
    pooled otherwise is in its ``estimate_basis``); empty otherwise."""
    if grades is None or len(grades) == 0 or "method" not in grades.columns:
        return ""
    methods = grades["method"].astype("string")
    basis = grades.get("estimate_basis")
    fallback = (
        basis.astype("string").str.contains("; not pooled by ", regex=False).fillna(False)
        if basis is not None
        else methods.isna()
    )
    n_mh = {m: int((methods == m).sum()) for m in ("MH", "PETO")}
    if not any(n_mh.values()) and not fallback.any():
        return ""
    names = {"MH": "Mantel-Haenszel", "PETO": "Peto"}
    parts = [
        f"{n} bod{'y' if n == 1 else 'ies'} pooled by {names[m]} (fixed effect, from the 2x2 "
        "counts)"
        for m, n in n_mh.items()
        if n
    ]
    n_fb = int(fallback.sum())
    if n_fb:
        parts.append(
            f"{n_fb} bod{'y' if n_fb == 1 else 'ies'} pooled by inverse variance instead "
            "(no 2x2 counts, a measure the method does not pool, or several rows per study; "
            "the reason is in each body's estimate_basis)"
        )
    return "Pooling: " + "; ".join(parts) + ". Each body's method is in grades.csv (method)."


def _certainty_basis(grades) -> str:
    """Counts of rated bodies per stream and certainty, and the commonest reasons to rate
    down (human bodies)."""
    if grades is None or len(grades) == 0 or "estimate" not in grades.columns:
        return "No graded outcomes."

    est = pd.to_numeric(grades["estimate"], errors="coerce")
    has = est.notna()
    if "evidence_status" in grades.columns:
        has &= grades["evidence_status"].astype(str) != "no evidence"
    parts = []
    for stream, col in (
        ("human", "certainty"),
        ("animal", "certainty_within_stream"),
        ("in_vitro", "certainty_within_stream"),
    ):
        if col not in grades.columns:
            continue
        sub = grades[has & (grades["stream"] == stream)]
        if len(sub) == 0:
            continue
        vc = sub[col].value_counts()
        levels = ", ".join(f"{int(vc[lv])} {lv}" for lv in reversed(LEVELS) if lv in vc.index)
        label = stream.replace("_", " ") + (" (within its stream)" if stream != "human" else "")
        prov = ""
        if "evidence_status" in sub.columns:
            p = sub[sub["evidence_status"].astype(str) == "provisional"]
            if len(p):
                prov = f", {len(p)} of them provisional"
                if "risk_of_bias_judgement" in p.columns:
                    n_rob = int((p["risk_of_bias_judgement"].astype(str) == "not assessed").sum())
                    if n_rob:
                        prov += f" (risk of bias not assessed in {n_rob})"
        parts.append(f"{label}: {len(sub)} outcomes with a result ({levels}{prov})")
    n_none = int((~has).sum())
    text = "; ".join(parts) + (
        f"; {n_none} of {len(grades)} outcome bodies have no result "
        "to rate (no certainty shown for them)"
        if n_none
        else ""
    )
    human = grades[has & (grades["stream"] == "human")]
    domains = [
        d
        for d in (
            "risk_of_bias",
            "inconsistency",
            "indirectness",
            "imprecision",
            "publication_bias",
        )
        if d in grades.columns
    ]
    if len(human) and domains:
        down = {d: int((pd.to_numeric(human[d], errors="coerce") < 0).sum()) for d in domains}
        down = {d: n for d, n in sorted(down.items(), key=lambda x: -x[1]) if n}
        if down:
            text += ". Human outcomes were rated down for " + ", ".join(
                f"{d.replace('_', ' ')} ({n})" for d, n in down.items()
            )
        starts = human["starting_level"].value_counts() if "starting_level" in human else None
        if starts is not None and len(starts):
            text += (
                "; they start at "
                + ", ".join(f"{k} ({int(v)})" for k, v in starts.items())
                + " by design"
            )
    return text + "."


def _sof_block(rows, footnotes: Mapping[str, str]) -> str:
    """Summary-of-findings rows of one indication, each footnote listed once under them."""
    if rows is None or len(rows) == 0:
        return '<p class="muted">No outcome with a result to summarise (see the records below).</p>'

    shown = rows.drop(columns=[c for c in ("Indication", "Footnotes") if c in rows.columns])
    if "Importance" in shown.columns and (shown["Importance"] == "not rated").all():
        shown = shown.drop(columns="Importance")
    parts = [_table(shown)]
    markers: list[str] = []
    for text in rows.get("Footnotes", []):
        for mk in re.findall(r"(?:^|\s)([a-z]{1,3})\. ", str(text)):
            if mk in footnotes and mk not in markers:
                markers.append(mk)
    if markers:
        parts.append('<div class="footnotes">')
        parts.extend(f"<p>{_e(mk)}. {_e(footnotes[mk])}</p>" for mk in markers)
        parts.append("</div>")
    return "".join(parts)


def _studies_for(evidence_table, indication: str):
    if evidence_table is None or len(evidence_table) == 0:
        return None

    rows = evidence_table[(indication_key(evidence_table) == indication).fillna(False).to_numpy()]
    if {"yi", "vi", "measure"} <= set(rows.columns):
        texts = [
            _effect_text(m, y, v)
            for m, y, v in zip(rows["measure"], rows["yi"], rows["vi"], strict=True)
        ]
        props = [""] * len(rows)
        if "proportion" in rows.columns:  # single-arm rows: what was observed
            props = [_proportion_text(r) for r in rows.to_dict("records")]
        shown = [bool(p) for p in props]
        rows = rows.assign(
            **{"effect [95% CI]": [p or t for p, t in zip(props, texts, strict=True)]}
        )
        if any(shown):  # the continuity-corrected yi/vi stay inside pooling, not shown
            rows = rows.assign(yi=rows["yi"].mask(shown), vi=rows["vi"].mask(shown))
    return rows


def _proportion_text(r: Mapping[str, Any]) -> str:
    """``'0 of 28: 0% (95% CI 0% to 12%, Wilson score)'`` for a single-arm row: the observed
    proportion with the interval of :func:`evidence.study_effects` (no continuity correction,
    which stays inside pooling); empty when the row has none."""

    try:
        p, lo, hi = (
            float(r.get(c, "")) for c in ("proportion", "proportion_ci_low", "proportion_ci_high")
        )
        x, n = float(r.get("events_int", "")), float(r.get("n_int", ""))
    except (TypeError, ValueError):
        return ""
    if any(math.isnan(v) for v in (p, lo, hi, x, n)):
        return ""
    return f"{x:.0f} of {n:.0f}: " + proportion_ci_text(p, lo, hi, r.get("proportion_ci_method"))


def _effect_text(measure: Any, yi: Any, vi: Any) -> str:
    """``'RR 0.41 [0.13, 1.26]'``: normal-theory 95% CI on the analysis scale, shown on the
    natural scale (:func:`evidence.measures.to_natural`: ratios exp, PLO inverse logit)."""
    try:
        y, v = float(yi), float(vi)
    except (TypeError, ValueError):
        return ""
    if math.isnan(y) or math.isnan(v) or v < 0:
        return ""
    half = 1.959963984540054 * math.sqrt(v)
    low, high = y - half, y + half
    y, low, high = (to_natural(measure, x) for x in (y, low, high))
    return f"{measure} {y:.2f} [{low:.2f}, {high:.2f}]"


_STUDY_COLUMNS = (
    "study_id",
    "citation_key",
    "stream",
    "model",
    "outcome",
    "outcome_kind",
    "effect [95% CI]",
    "yi",
    "vi",
    "effect_note",
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
.first{border:1px solid #c9d6df;border-radius:6px;padding:10px 16px;background:#f7fafc}
.first h2{margin:10px 0 4px;font-size:17px;border:0;padding:0}
.first p{margin:3px 0}.first ul{margin:2px 0;padding-left:20px}.first li{margin:1px 0}
.verdicts td{padding:2px 8px;vertical-align:top;font-size:13.5px}
.verdicts td:first-child{font-weight:600;white-space:nowrap}
.harm{color:#a11d2b}.narrative{background:#f7fafc;border-left:4px solid #2c6e91;
padding:6px 10px;margin:6px 0 10px}
.pair{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:14px;align-items:start}
details.more{margin:6px 0}details.more>summary{cursor:pointer;font-weight:600;color:#2c6e91}
@media (max-width:900px){.pair{grid-template-columns:1fr}}
@media print{body{font-size:10.5pt}main{max-width:none;padding:0}nav{display:none}
h2{break-after:avoid}figure,table,.narrative{break-inside:avoid}
.scroll{overflow:visible}a{color:inherit;text-decoration:none}
.first{background:none}details.more>summary{display:none}}
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
    sof=None,
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
    sof : DataFrame, optional
        Output of :func:`grading.tables.summary_of_findings`; shown per indication.

    Returns
    -------
    str
        The complete HTML document.
    """
    figures = figures or {}
    indication_figures = indication_figures or {}
    # pandas deep-copies .attrs on every operation; the profile's footnotes make that slow
    gap_attrs = dict(getattr(gap, "attrs", None) or {})
    sof_notes = dict((getattr(sof, "attrs", None) or {}).get("footnotes", []))
    grades, gap, profile, evidence_table, claims_audit, rejected, sof = (
        _plain(f) for f in (grades, gap, profile, evidence_table, claims_audit, rejected, sof)
    )
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

    anchors = {ind: f"ind-{i}" for i, ind in enumerate(indications)}
    gap_rows = {}
    if gap is not None and "indication" in gap.columns:
        gap_rows = {str(r["indication"]): r for _, r in gap.iterrows()}

    def label(ind: str) -> str:
        r = gap_rows.get(ind)
        if r is not None and "indication_label" in r.index and _fmt(r["indication_label"]):
            return _fmt(r["indication_label"])
        return _label(ind)

    body: list[str] = [f"<h1>{_e(title)}</h1>"]
    body.append(
        _opening(gap, gap_attrs, grades, evidence_table, manifest, len(indications), anchors)
    )
    if indications:
        body.append("<nav><ol>")
        for ind in indications:
            body.append(f'<li><a href="#{anchors[ind]}">{_e(label(ind))}</a></li>')
        body.append("</ol></nav>")

    body.append('<h2 id="gap">Translational gap summary</h2>')
    body.append(_gap_block(gap, anchors))
    rules = gap_attrs.get("verdict_rules")
    if rules:
        body.append(
            '<details class="more"><summary>Verdict rules</summary>'
            '<table class="tbl"><thead><tr><th>verdict</th><th>when (first rule that '
            "holds)</th></tr></thead><tbody>"
        )
        body.extend(f"<tr><td>{_e(v)}</td><td>{_e(w)}</td></tr>" for v, w in rules)
        body.append("</tbody></table></details>")
    for name, fig in figures.items():
        body.append(_img(fig, name))

    for ind in indications:
        body.append(f'<h2 id="{anchors[ind]}">{_e(label(ind))}</h2>')
        r = gap_rows.get(ind)
        text = []
        if r is not None and "narrative" in r.index:
            text.append(
                f'<p class="narrative"><b>{_e(_fmt(r.get("verdict")))}.</b> '
                f"{_e(_fmt(r['narrative']))}</p>"
            )
            for col, what in (
                ("regulatory_status", "Regulatory"),
                ("prior_source", "Approval base rate"),
            ):
                if col in r.index and _fmt(r[col]):
                    text.append(f'<p class="muted">{what}: {_e(_fmt(r[col]))}</p>')
        figs = list(indication_figures.get(ind, {}).items())
        if figs:
            body.append(
                '<div class="pair"><div>'
                + "".join(text)
                + "</div><div>"
                + _img(figs[0][1], f"{figs[0][0]}: {label(ind)}")
                + "</div></div>"
            )
            for name, fig in figs[1:]:
                body.append(_img(fig, f"{name}: {label(ind)}"))
        else:
            body.extend(text)
        if sof is not None:
            body.append("<h3>Summary of findings</h3>")
            body.append(_sof_block(_rows_for(sof, ind), sof_notes))
        prof = _rows_for(profile, ind)
        if prof is not None:
            body.append('<details class="more"><summary>Evidence profile</summary>')
            body.append(_profile_block(prof))
            body.append("</details>")
        studies = _studies_for(evidence_table, ind)
        if studies is not None:
            body.append(f'<details class="more"><summary>Records ({len(studies)})</summary>')
            body.append(_table(studies, columns=_STUDY_COLUMNS))
            body.append("</details>")
        body.append('<details class="more"><summary>Why each rating</summary>')
        body.append(_reasons(_rows_for(grades, ind)))
        body.append("</details>")

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
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
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
