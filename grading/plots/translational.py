"""Translational forest: one indication, the in vitro, animal and human streams on one scale."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evidence.errors import InvalidParameterError, ValidationError
from evidence.schema import ANIMAL_MODELS, HUMAN_MODELS, RATIO_MEASURES, STREAMS, indication_key
from grading.plots import _style
from grading.plots.forest import _pool

__all__ = ["translational_forest"]

_SCALES = {"SMD": ("SMD",), "log_ratio": RATIO_MEASURES}
_MODEL_ORDER = {m: i for i, m in enumerate(("cell_culture", *ANIMAL_MODELS, *HUMAN_MODELS,
                                            "meta_analysis"))}
_MODEL_LABEL = {
    "cell_culture": "Cell culture",
    "non_human_primate": "Non-human primate",
    "other_animal": "Other animal",
    "phase_1": "Phase 1",
    "phase_1_2": "Phase 1/2",
    "phase_2": "Phase 2",
    "phase_2_3": "Phase 2/3",
    "phase_3": "Phase 3",
    "phase_4": "Phase 4",
    "case_control": "Case-control",
    "cross_sectional": "Cross-sectional",
    "case_series": "Case series",
    "case_report": "Case report",
    "adverse_event_report": "Adverse-event report",
    "meta_analysis": "Published meta-analysis (not pooled again)",
}


def _model_label(m: str) -> str:
    return _MODEL_LABEL.get(m, str(m).replace("_", " ").capitalize())


_WHERE = {"animal": "in animals", "in_vitro": "in vitro"}
#: The record columns translational_forest() reads.
_DRAWN_COLUMNS = ("study_id", "outcome", "stream", "model", "model_detail", "k_studies",
                  "measure", "yi", "vi", "effect_note")
_CERT_LINE = 0.15  # inches between the two certainty lines of a preclinical stream


def _level(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    c = str(value).strip().lower().replace("_", " ")
    return c if c in _style.CERTAINTY_SYMBOLS else None


def _stream_certainty(grades, indication, stream, outcome,
                      plotted=()) -> list[tuple[str, str]] | None:
    """Certainty lines of one stream: ``[(text, level), ...]``, or None when not graded.

    Human stream: one line, the certainty.  Animal and in vitro streams graded for the human
    question: two lines, the certainty within the stream ("moderate in animals") and the
    certainty for humans after the translational step ("very low for humans").  The outcome
    shown is the one with most studies, among the outcomes ``plotted`` with numbers when any
    is graded; it is named when the stream's outcomes differ in certainty.
    """
    if grades is None:
        return None
    if not isinstance(grades, pd.DataFrame) or not {"indication", "stream", "certainty"} <= set(
        grades.columns
    ):
        raise ValidationError(
            "The 'grades' argument of translational_forest() must be a grade() DataFrame with "
            "columns 'indication', 'stream', 'certainty' (and 'k', 'outcome', "
            "'certainty_within_stream')."
        )
    g = grades[(grades["indication"].astype(str).str.lower() == indication.lower())
               & (grades["stream"].astype(str) == stream)]
    if outcome is not None and "outcome" in g.columns:
        g = g[g["outcome"].astype(str).str.lower() == str(outcome).lower()]
    g = g[g["certainty"].map(_level).notna()]
    if g.empty:
        return None
    if "outcome" in g.columns and plotted:
        on_plot = g["outcome"].astype(str).str.lower().isin({str(o).lower() for o in plotted})
        if on_plot.any():
            g = g[on_plot]
    by = [c for c in ("k", "k_records") if c in g.columns]
    if len(g) > 1 and by:
        g = g.sort_values(by, ascending=False, kind="stable")
    row = g.iloc[0]
    cert = _level(row["certainty"])
    sym = row.get("certainty_symbols") if "certainty_symbols" in g.columns else None
    if not isinstance(sym, str) or not sym:
        sym = _style.CERTAINTY_SYMBOLS[cert]
    levels = g["certainty"].map(_level)
    if "certainty_within_stream" in g.columns:
        levels = levels + "|" + g["certainty_within_stream"].map(_level).fillna("")
    which = ""
    if levels.nunique() > 1 and outcome is None and "outcome" in g.columns:
        which = f" ({_style.truncate(row['outcome'], 22)})"
    within = _level(row.get("certainty_within_stream"))
    reason = row.get("translational_indirectness_reason")
    # grade(question=None): no translational step, the certainty is the stream's own
    for_humans = not (isinstance(reason, str) and reason.startswith("not applicable"))
    if stream in _WHERE and within is not None and for_humans:
        return [(f"{_style.CERTAINTY_SYMBOLS[within]} {within} {_WHERE[stream]}{which}", within),
                (f"{sym} {cert} for humans", cert)]
    if stream in _WHERE and within is not None:
        return [(f"{_style.CERTAINTY_SYMBOLS[within]} {within} {_WHERE[stream]}{which}", within)]
    return [(f"{sym} {cert}{which}", cert)]


def translational_forest(
    studies: pd.DataFrame,
    *,
    indication: str,
    grades: pd.DataFrame | None = None,
    scale: str = "SMD",
    outcome: str | None = None,
    method: str = "REML",
    level: float = 0.95,
    show_missing: bool = True,
    label_width: int = 46,
    plot_width: float = 2.8,
    digits: int = 2,
    ax=None,
):
    """Forest plot of one indication across streams: in vitro, animal by species, human by phase.

    Parameters
    ----------
    studies : DataFrame
        Study sheet with ``yi``/``vi`` (``evidence.study_effects`` output); computed with
        ``study_effects`` when the columns are absent.
    indication : str
        Indication to draw (matched to ``indication_label``/``indication``, case-insensitive).
    grades : DataFrame, optional
        ``grading.grade()`` output; each stream's certainty (⊕ symbols and word) is printed
        beside its diamond.  For animal and in vitro streams graded for the human question,
        two lines: the certainty within the stream (``certainty_within_stream``, e.g.
        "⊕⊕⊕◯ moderate in animals") and the certainty for humans after rating down for
        translation (``certainty``, e.g. "⊕◯◯◯ very low for humans").  Human streams show
        their certainty.  With several outcomes in a stream (and ``outcome`` not given) the
        certainty of the outcome with most studies is shown, with its name.
    scale : {"SMD", "log_ratio"}
        Common scale: rows measured as SMD, or as a ratio (RR, OR, HR, ROM; log scale, drawn on a
        log axis with back-transformed ticks).  Rows on other scales are left out and counted
        in the footnote.
    outcome : str, optional
        Restrict to one outcome.
    method, level
        Pooling of each stream (``evidence.pool``); published meta-analysis records are shown
        but not pooled again, and a stream whose estimates span several outcomes is not pooled
        (give ``outcome``).
    show_missing : bool, default True
        List records without a numeric result (``yi`` missing) with the reason.
    label_width, plot_width, digits
        Layout: label truncation (characters), plot width (inches, ``ax=None`` only), decimals.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Stream diamonds are Polygons with gid ``"diamond_stream:<stream>"`` (top vertex =
        pooled estimate, natural scale for ratios); study squares ``"study_squares"``; study
        labels ``"study_label"``; certainty texts ``"stream_certainty:<stream>"`` (one Text
        per line: within the stream first, then for humans).  A stream whose only numbers
        are published meta-analyses is labelled "<Stream>: published meta-analyses only (not
        pooled again)".
    """
    from evidence._validate import (
        check_bool,
        check_choice,
        check_frame,
        check_int,
        check_level,
        check_text,
    )
    from evidence.pooling import _METHOD_ALIASES, METHODS

    func = "translational_forest"
    _style.check_ax(ax, func)
    check_text(indication, "indication", func)
    check_text(outcome, "outcome", func, optional=True)
    method = check_choice(method, "method", func, METHODS, _METHOD_ALIASES)
    level = check_level(level, func)
    show_missing = check_bool(show_missing, "show_missing", func)
    digits = check_int(digits, "digits", func, minimum=0)
    label_width = check_int(label_width, "label_width", func, minimum=4)
    if scale not in _SCALES:
        raise InvalidParameterError(
            f"The 'scale' argument of translational_forest() must be one of {list(_SCALES)}. "
            f"Got {scale!r}."
        )
    check_frame(studies, "studies", func, what="a DataFrame")
    if grades is not None and not isinstance(grades, pd.DataFrame):
        raise InvalidParameterError(
            f"The 'grades' argument of {func}() must be a grade() DataFrame or None. "
            f"Got {type(grades).__name__}."
        )
    need = {"indication", "stream", "model"}
    if not need <= set(studies.columns):
        raise ValidationError(
            f"The 'studies' frame of translational_forest() needs columns {sorted(need)}. "
            f"Missing: {sorted(need - set(studies.columns))}."
        )
    if "yi" not in studies.columns or "vi" not in studies.columns:
        from evidence.study_effects import study_effects

        studies = study_effects(studies)
    key = indication_key(studies).astype(str)
    # only the columns drawn: the per-stream and per-model selections below then copy little
    drawn = [c for c in _DRAWN_COLUMNS if c in studies.columns]
    sel = studies.loc[(key.str.lower() == str(indication).lower()).to_numpy(), drawn]
    if sel.empty:
        raise ValidationError(
            f"translational_forest(): no record for indication {indication!r}. Available: "
            f"{sorted(key.unique())[:20]}."
        )
    if outcome is not None:
        sel = sel[sel["outcome"].astype(str).str.lower() == str(outcome).lower()]
        if sel.empty:
            raise ValidationError(
                f"translational_forest(): no record for outcome {outcome!r} in {indication!r}."
            )
    measure = (sel["measure"].astype("string").str.upper() if "measure" in sel.columns
               else pd.Series(pd.NA, index=sel.index, dtype="string"))
    y = pd.to_numeric(sel["yi"], errors="coerce")
    v = pd.to_numeric(sel["vi"], errors="coerce")
    on_scale = measure.isin(_SCALES[scale]).fillna(False).astype(bool)
    has_num = y.notna() & v.notna()
    keep = (on_scale & has_num) | (~has_num & show_missing)
    n_other = int((has_num & ~on_scale).sum())
    sel = sel[keep.to_numpy()].assign(_y=y[keep], _v=v[keep])
    ratio = scale == "log_ratio"
    tx = np.exp if ratio else (lambda a: a)
    from evidence import _distributions as dist

    z = dist.norm_ppf(0.5 + level / 2)
    pct = f"{100 * level:g}%"

    if isinstance(grades, pd.DataFrame) and "indication" in grades.columns:
        # the indication's rows, once: _stream_certainty looks them up for every stream
        grades = grades[(grades["indication"].astype(str).str.lower()
                         == str(indication).lower()).to_numpy()]
    many_outcomes = "outcome" in sel.columns and sel["outcome"].nunique() > 1
    mixed_outcomes = False
    rows: list[dict] = []
    for stream in STREAMS:
        s = sel[sel["stream"].astype(str) == stream]
        if s.empty:
            continue
        rows.append({"kind": "stream", "label": _style.STREAM_LABELS[stream], "stream": stream})
        models = sorted(s["model"].astype(str).unique(), key=lambda m: _MODEL_ORDER.get(m, 99))
        for m in models:
            sm = s[s["model"].astype(str) == m]
            if stream != "in_vitro" or len(models) > 1:
                rows.append({"kind": "model", "label": _model_label(m)})
            sm = sm.sort_values("_y", na_position="last", kind="stable")
            for r in sm.to_dict("records"):
                lab = str(r.get("study_id", ""))
                if many_outcomes and isinstance(r.get("outcome"), str):
                    lab = f"{lab}: {r['outcome']}"
                elif "model_detail" in sm.columns and isinstance(r.get("model_detail"), str):
                    lab = f"{lab} ({r['model_detail']})"
                if m == "meta_analysis" and pd.notna(r.get("k_studies", np.nan)):
                    lab = f"{lab} [k = {int(r['k_studies'])}]"
                note = r.get("effect_note") if "effect_note" in sm.columns else None
                rows.append({
                    "kind": "study", "label": _style.truncate(lab, label_width), "yi": r["_y"],
                    "vi": r["_v"], "stream": stream, "meta": m == "meta_analysis",
                    "note": note if isinstance(note, str) and note else "no numeric result",
                })
        with_num = s[s["_y"].notna() & s["_v"].notna()]
        plotted = set(with_num["outcome"].dropna().astype(str)) if "outcome" in s.columns else set()
        pooled = with_num[with_num["model"].astype(str) != "meta_analysis"]
        n_out = pooled["outcome"].nunique() if "outcome" in pooled.columns else 1
        if n_out > 1:  # different outcomes (and directions) are never pooled together
            cert = _stream_certainty(grades, str(indication), stream, outcome, plotted)
            rows.append({"kind": "nodiamond", "label": f"{_style.STREAM_LABELS[stream]}: "
                         f"{n_out} outcomes, not pooled", "stream": stream, "cert": cert})
            mixed_outcomes = True
        elif len(pooled):
            res = _pool(pooled["_y"].to_numpy(float), pooled["_v"].to_numpy(float), method, "z",
                        level)
            cert = _stream_certainty(grades, str(indication), stream, outcome, plotted)
            rows.append({"kind": "diamond", "label": f"{_style.STREAM_LABELS[stream]} pooled "
                         f"(k = {len(pooled)})", "stream": stream, "res": res, "cert": cert})
        else:
            cert = _stream_certainty(grades, str(indication), stream, outcome, plotted)
            what = ("published meta-analyses only (not pooled again)" if len(with_num)
                    else "no estimate to pool")
            rows.append({"kind": "nodiamond", "label": f"{_style.STREAM_LABELS[stream]}: {what}",
                         "stream": stream, "cert": cert})
        rows.append({"kind": "blank", "label": ""})
    if rows and rows[-1]["kind"] == "blank":
        rows.pop()
    if not rows:
        raise ValidationError(
            f"translational_forest(): no record of {indication!r} on the {scale} scale."
        )

    def ci_txt(est, lo, hi):
        return _style.fmt_ci(tx(est), tx(lo), tx(hi), digits)

    for r in rows:
        r["ci"] = ""
        if r["kind"] == "study":
            if np.isfinite(r["yi"]) and np.isfinite(r["vi"]):
                se = np.sqrt(r["vi"])
                r["ci"] = ci_txt(r["yi"], r["yi"] - z * se, r["yi"] + z * se)
            else:
                r["ci"] = _style.truncate(r["note"], 30)
        elif r["kind"] == "diamond":
            res = r["res"]
            r["ci"] = ci_txt(float(res.estimate), float(res.ci_low), float(res.ci_high))
    fs = _style.FONT_SIZE
    gap = _style.COL_GAP
    lab_w = max(_style.text_width([r["label"] for r in rows if r["kind"] in ("study", "model")]
                                  + ["Study (model)"], fs),
                _style.text_width([r["label"] for r in rows if r["kind"] in
                                   ("stream", "diamond", "nodiamond")], fs, weight="bold"))
    ci_head = ["Ratio" if ratio else "SMD", f"[{pct} CI]"]
    ci_w = _style.text_width(ci_head + [r["ci"] for r in rows], fs, weight="bold")
    certs = [text for r in rows for text, _ in (r.get("cert") or [])]
    cert_w = _style.text_width(certs + ["Certainty"], fs, weight="bold") if certs else 0
    left_total = lab_w + gap
    right_total = gap + ci_w + (gap + cert_w if cert_w else 0)
    n = len(rows)
    foot = []
    if n_other:
        foot.append(f"{n_other} record(s) of this indication on another scale are not shown.")
    if mixed_outcomes:
        foot.append("Streams with several outcomes are not pooled; pass outcome= to pool one.")
    foot.append(f"Filled diamonds: each stream's primary studies pooled by inverse variance "
                f"({method}), {pct} CI; open diamonds: published meta-analyses (not pooled again).")
    if ratio:
        foot.append("Ratio measures (RR, OR, HR, ROM) share the log scale.")
    if ax is None:
        width = max(0.12 + left_total + plot_width + right_total + 0.12,
                    0.12 + _style.text_width(foot, fs - 0.5) + 0.12)
        bottom = 0.55 + 0.17 * len(foot)
        height = 0.5 + n * _style.ROW_HEIGHT + bottom
        fig = _style.new_figure(width, height)
        ax = fig.add_axes([(0.12 + left_total) / width, bottom / height, plot_width / width,
                           n * _style.ROW_HEIGHT / height])
    # x limits
    vals, lows, highs = [0.0], [], []
    for r in rows:
        if r["kind"] == "study" and np.isfinite(r["yi"]) and np.isfinite(r["vi"]):
            se = np.sqrt(r["vi"])
            vals.append(r["yi"])
            lows.append(r["yi"] - z * se)
            highs.append(r["yi"] + z * se)
        elif r["kind"] == "diamond":
            vals += [float(r["res"].ci_low), float(r["res"].ci_high)]
    lo_core, hi_core = min(vals), max(vals)
    spread = max(hi_core - lo_core, 0.5)
    lo = max(min(lows + [lo_core]), lo_core - 0.5 * spread)
    hi = min(max(highs + [hi_core]), hi_core + 0.5 * spread)
    if hi - lo < 1e-9:  # no number on the scale: an axis around the null
        lo, hi = lo - 0.5, hi + 0.5
    if ratio:
        ax.set_xscale("log")
        cands = sorted({m * 10.0**e for e in range(-6, 7) for m in (1, 2, 5)})
        x0 = max([c for c in cands if c <= np.exp(lo) * (1 + 1e-9)] or [np.exp(lo)])
        x1 = min([c for c in cands if c >= np.exp(hi) * (1 - 1e-9)] or [np.exp(hi)])
        ticks = _style.nice_ratio_ticks(x0, x1, min_gap=0.36 * np.log10(x1 / x0) / plot_width)
        ax.set_xlim(x0, x1)
        ax.set_xticks(ticks, [_style.fmt_tick(t) for t in ticks])
        ax.minorticks_off()
    else:
        from matplotlib.ticker import MaxNLocator

        t = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        x0, x1 = float(t[0]), float(t[-1])
        ax.set_xlim(x0, x1)
        ax.set_xticks(t)
    ax.set_ylim(n - 0.5, -0.6)
    ax.set_yticks([])
    for sp in ("left", "right", "top"):
        ax.spines[sp].set_visible(False)
    ax.tick_params(axis="x", labelsize=fs)
    null = 1.0 if ratio else 0.0
    t_lab = _style.offset_transform(ax, 0, -left_total)
    t_ci = _style.offset_transform(ax, 1, gap)
    cert_x = gap + ci_w + gap
    from matplotlib.patches import Polygon

    sq_x, sq_y, sq_c, sq_s = [], [], [], []
    ref = []
    side_pt = 0.6 * _style.ROW_HEIGHT * 72
    for yrow, r in enumerate(rows):
        kind = r["kind"]
        colour = _style.STREAM_COLOURS.get(r.get("stream"), _style.TEXT_COLOUR)
        if kind == "stream":
            ax.text(0, yrow, r["label"], transform=t_lab, ha="left", va="center", fontsize=fs + 0.5,
                    fontweight="bold", color=colour, gid="stream_label")
        elif kind == "model":
            ax.text(0, yrow, r["label"], transform=t_lab, ha="left", va="center", fontsize=fs,
                    fontstyle="italic", gid="model_label")
        elif kind in ("study", "diamond", "nodiamond"):
            bold = "bold" if kind != "study" else "normal"
            ax.text(0, yrow, ("   " if kind == "study" else "") + r["label"], transform=t_lab,
                    ha="left", va="center", fontsize=fs, fontweight=bold,
                    gid="study_label" if kind == "study" else "stream_pooled_label")
            if r["ci"]:
                muted = kind == "study" and not np.isfinite(r["yi"])
                ax.text(0, yrow, r["ci"], transform=t_ci, ha="left", va="center", fontsize=fs,
                        fontweight=bold, color=_style.MUTED if muted else _style.TEXT_COLOUR,
                        gid="estimate_text")
            lines = r.get("cert") or []
            for li, (text, lev) in enumerate(lines):
                # first line on the summary row, the second just under it (in the blank row
                # that follows every stream block)
                ax.text(0, yrow, text, transform=_style.offset_transform(ax, 1, cert_x,
                        -li * _CERT_LINE), ha="left", va="center", fontsize=fs, fontweight="bold",
                        color=_style.CERTAINTY_TEXT_COLOURS.get(lev, _style.TEXT_COLOUR),
                        gid=f"stream_certainty:{r['stream']}")
            ref.append(yrow)
        if kind == "study" and np.isfinite(r["yi"]) and np.isfinite(r["vi"]):
            se = np.sqrt(r["vi"])
            lo_i, hi_i = tx(r["yi"] - z * se), tx(r["yi"] + z * se)
            a, b = max(lo_i, x0), min(hi_i, x1)
            if a < b and not r["meta"]:
                ax.plot([a, b], [yrow, yrow], color=colour, lw=0.9, zorder=2, gid="study_ci")
            for edge, cond, mk in ((x0, lo_i < x0, "<"), (x1, hi_i > x1, ">")):
                if cond:
                    ax.plot([edge], [yrow], marker=mk, color=colour, markersize=4, clip_on=False,
                            gid="ci_arrow")
            if r["meta"]:  # a published pooled estimate: open diamond, not pooled again
                e, cl, ch = tx(r["yi"]), max(lo_i, x0), min(hi_i, x1)
                ax.add_patch(Polygon([(cl, yrow), (e, yrow - 0.3), (ch, yrow), (e, yrow + 0.3)],
                                     closed=True, facecolor="white", edgecolor=colour, lw=1.0,
                                     zorder=3, gid="meta_analysis_diamond"))
            else:
                sq_x.append(tx(r["yi"]))
                sq_y.append(yrow)
                sq_c.append(colour)
                sq_s.append(side_pt**2)
        if kind == "diamond":
            res = r["res"]
            est, cl, ch = tx(float(res.estimate)), tx(float(res.ci_low)), tx(float(res.ci_high))
            ax.add_patch(Polygon([(cl, yrow), (est, yrow - 0.36), (ch, yrow), (est, yrow + 0.36)],
                                 closed=True, facecolor=colour, edgecolor="black", lw=0.6,
                                 zorder=3, gid=f"diamond_stream:{r['stream']}"))
    if sq_x:
        ax.scatter(sq_x, sq_y, s=sq_s, marker="s", c=sq_c, edgecolors="#333333", linewidths=0.4,
                   zorder=4, gid="study_squares")
    blocks: list[list[int]] = []
    for yy in ref:
        if blocks and yy == blocks[-1][-1] + 1:
            blocks[-1].append(yy)
        else:
            blocks.append([yy])
    for bl in blocks:
        ax.plot([null, null], [bl[0] - 0.5, bl[-1] + 0.5], color="#888888", lw=0.8, zorder=1)
    heads = [(0, -left_total, "Study (model)", "left"), (1, gap, "\n".join(ci_head), "left")]
    if cert_w:
        heads.append((1, gap + ci_w + gap, "Certainty", "left"))
    for xa, dx, text, ha in heads:
        ax.text(0, 1, text, transform=_style.offset_transform(ax, xa, dx, 0.06, y="axes"), ha=ha,
                va="bottom", fontsize=fs, fontweight="bold", gid="column_header")
    title = str(indication).replace("_", " ") + (f": {outcome}" if outcome is not None else "")
    ax.text(0, 1, _style.wrap(title, 40, max_lines=2),
            transform=_style.offset_transform(ax, 0.5, 0, 0.06, y="axes"), ha="center",
            va="bottom", fontsize=fs, fontweight="bold", gid="title")
    ax.set_xlabel(("Ratio (log scale)" if ratio else "Standardised mean difference"), fontsize=fs)
    for i, line in enumerate(foot):
        ax.text(0, 0, line, transform=_style.offset_transform(ax, 0, -left_total,
                -0.5 - 0.17 * i, y="axes"), ha="left", va="top", fontsize=fs - 0.5,
                color=_style.MUTED, gid="footer")
    return ax
