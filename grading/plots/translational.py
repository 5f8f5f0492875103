"""Translational forest: one indication, the in vitro, animal and human streams on one scale."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evidence.errors import EvidenceError, InvalidParameterError, ValidationError
from evidence.internal import (
    METHOD_ALIASES,
    check_bool,
    check_choice,
    check_frame,
    check_int,
    check_level,
    check_text,
    norm_ppf,
)
from evidence.pooling import METHODS
from evidence.schema import ANIMAL_MODELS, HUMAN_MODELS, RATIO_MEASURES, STREAMS, indication_key
from evidence.study_effects import study_effects
from grading import two_by_two as tbt
from grading.labels import indication_label
from grading.plots import _forest_core as core
from grading.plots import _style

__all__ = ["translational_forest"]

_SCALES = {"SMD": ("SMD",), "log_ratio": RATIO_MEASURES}
_MODEL_ORDER = {
    m: i for i, m in enumerate(("cell_culture", *ANIMAL_MODELS, *HUMAN_MODELS, "meta_analysis"))
}
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
_DRAWN_COLUMNS = (
    "study_id",
    "indication",
    "indication_label",
    "outcome",
    "stream",
    "model",
    "model_detail",
    "k_studies",
    "measure",
    "yi",
    "vi",
    "effect_note",
    "data_type",
    *tbt.COUNT_COLUMNS,
)
_CERT_LINE = 0.15  # inches between the two certainty lines of a preclinical stream
_INDENT = 0.12  # inches: study labels are indented under their model


def _level(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    c = str(value).strip().lower().replace("_", " ")
    return c if c in _style.CERTAINTY_SYMBOLS else None


def _stream_certainty(
    grades, indication, stream, outcome, plotted=(), where: str | None = None
) -> list[tuple[str, str]] | None:
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
    g = grades[
        (grades["indication"].astype(str).str.lower() == indication.lower())
        & (grades["stream"].astype(str) == stream)
    ]
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
    assert cert is not None  # rows without a certainty level were dropped above
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
    where = where or _WHERE.get(stream)
    if stream in _WHERE and within is not None and for_humans:
        return [
            (f"{_style.CERTAINTY_SYMBOLS[within]} {within} {where}{which}", within),
            (f"{sym} {cert} for humans", cert),
        ]
    if stream in _WHERE and within is not None:
        return [(f"{_style.CERTAINTY_SYMBOLS[within]} {within} {where}{which}", within)]
    return [(f"{sym} {cert}{which}", cert)]


def _two_by_two_pool(rows: pd.DataFrame, method: str, level: float) -> tuple[Any, str | None]:
    """The Mantel-Haenszel / Peto result of one stream's pooled ``rows`` (their 2x2 counts),
    or ``(None, reason)`` when :func:`grading.grade` would pool them by inverse variance: the
    one rule of :mod:`grading.two_by_two`, as in :func:`grading.plots.forest_plot`."""
    measures = rows["measure"].dropna().astype(str).str.upper().unique()
    measure = str(measures[0]) if len(measures) == 1 else None
    have = all(c in rows.columns for c in tbt.COUNT_COLUMNS)
    counts = [
        pd.to_numeric(rows[c], errors="coerce").to_numpy(float)
        for c in (tbt.COUNT_COLUMNS if have else ())
    ]
    complete = have and all(bool(np.isfinite(c).all()) for c in counts)
    if complete and "data_type" in rows.columns:
        complete = bool((rows["data_type"].astype("string") == "counts").all())
    n_studies = rows["study_id"].nunique() if "study_id" in rows.columns else len(rows)
    why = tbt.fallback_reason(
        method, measure, counts=complete, n_rows=len(rows), n_studies=n_studies
    )
    if why is not None:
        return None, why
    try:
        res = tbt.pool_counts(method, str(measure), *counts, level=level)
    except EvidenceError as exc:
        return None, f"{tbt.method_label(method)} could not pool the counts: {exc}"
    if not np.isfinite(res.estimate):
        return None, tbt.undefined_reason(method, str(measure))
    return res, None


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
        (give ``outcome``).  ``"MH"`` / ``"PETO"``: a stream whose rows are 2x2 tables is
        pooled by Mantel-Haenszel / Peto by the rule :func:`grading.grade` uses
        (:mod:`grading.two_by_two`), so its diamond is the graded estimate; other streams by
        inverse variance (fixed effect), with the reason in the footnote.
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

    func = "translational_forest"
    _style.check_ax(ax, func)
    check_text(indication, "indication", func)
    check_text(outcome, "outcome", func, optional=True)
    # MH / Peto: streams of 2x2 tables from their counts; the others by inverse variance (FE)
    two_by_two = method.strip().upper() if tbt.is_two_by_two(method) else None
    method = check_choice(
        tbt.inverse_variance_method(method), "method", func, METHODS, METHOD_ALIASES
    )
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
    _style.check_grades(grades, func)
    _style.check_columns(studies, {"indication", "stream", "model"}, "studies", func)
    if "yi" not in studies.columns or "vi" not in studies.columns:
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
    measure = (
        sel["measure"].astype("string").str.upper()
        if "measure" in sel.columns
        else pd.Series(pd.NA, index=sel.index, dtype="string")
    )
    y = pd.to_numeric(sel["yi"], errors="coerce")
    v = pd.to_numeric(sel["vi"], errors="coerce")
    on_scale = measure.isin(_SCALES[scale]).fillna(False).astype(bool)
    # a ratio of a table without events in either arm is not estimable (as in forest_plot)
    note = (
        sel["effect_note"].astype("string")
        if "effect_note" in sel.columns
        else pd.Series(pd.NA, index=sel.index, dtype="string")
    )
    double0 = (
        measure.isin(core.DOUBLE_ZERO_MEASURES)
        & note.str.contains("no events in either arm", regex=False)
    ).fillna(False)
    y, v = y.mask(double0.to_numpy()), v.mask(double0.to_numpy())
    has_num = y.notna() & v.notna()
    keep = (on_scale & has_num) | (~has_num & show_missing)
    n_other = int((has_num & ~on_scale).sum())
    sel = sel[keep.to_numpy()].assign(_y=y[keep], _v=v[keep])
    if double0.any() and "effect_note" in sel.columns:
        sel.loc[double0[keep].to_numpy(), "effect_note"] = "no events in either arm"
    ratio = scale == "log_ratio"
    tx = np.exp if ratio else (lambda a: a)

    z = norm_ppf(0.5 + level / 2)
    pct = f"{100 * level:g}%"

    if isinstance(grades, pd.DataFrame) and "indication" in grades.columns:
        # the indication's rows, once: _stream_certainty looks them up for every stream
        grades = grades[
            (grades["indication"].astype(str).str.lower() == str(indication).lower()).to_numpy()
        ]
    many_outcomes = "outcome" in sel.columns and sel["outcome"].nunique() > 1
    mixed_outcomes = False
    rows: list[core.Row] = []
    by_counts: list[str] = []  # streams pooled by MH / Peto
    by_iv: list[str] = []  # streams of several studies pooled by inverse variance
    not_counts: dict[str, list[str]] = {}  # why MH / Peto could not pool: [streams]
    for stream in STREAMS:
        s = sel[sel["stream"].astype(str) == stream]
        if s.empty:
            continue
        colour = _style.STREAM_COLOURS[stream]
        # an animal stream of non-animal organisms (plants, microbes) is not called animal
        words = core.stream_words(s, stream)
        slabel = (
            words[0].upper() + words[1:]
            if not words.endswith(" studies")
            else _style.STREAM_LABELS[stream]
        )
        where = None if words.endswith(" studies") else f"in {words}"
        rows.append(core.Row("stream", slabel, group=stream, colour=colour))
        models = sorted(s["model"].astype(str).unique(), key=lambda m: _MODEL_ORDER.get(m, 99))
        for m in models:
            sm = s[s["model"].astype(str) == m]
            if stream != "in_vitro" or len(models) > 1:
                rows.append(core.Row("model", _model_label(m)))
            sm = sm.sort_values("_y", na_position="last", kind="stable")
            labs = []
            for r in sm.to_dict("records"):
                lab = str(r.get("study_id", ""))
                if many_outcomes and isinstance(r.get("outcome"), str):
                    lab = f"{lab}: {r['outcome']}"
                elif "model_detail" in sm.columns and isinstance(r.get("model_detail"), str):
                    lab = f"{lab} ({r['model_detail']})"
                if m == "meta_analysis" and pd.notna(r.get("k_studies", np.nan)):
                    lab = f"{lab} [k = {int(r['k_studies'])}]"
                labs.append(lab)
            # rows of one study still alike are told apart as in forest_plot()
            shown = core.study_labels(sm.assign(_label=labs), "_label", label_width)
            for lab, r in zip(shown, sm.to_dict("records"), strict=True):
                note = r.get("effect_note") if "effect_note" in sm.columns else None
                rows.append(
                    core.Row(
                        "study",
                        lab,
                        r["_y"],
                        r["_v"],
                        group=stream,
                        colour=colour,
                        meta=m == "meta_analysis",
                        note=note if isinstance(note, str) and note else "no numeric result",
                    )
                )
        with_num = s[s["_y"].notna() & s["_v"].notna()]
        plotted = set(with_num["outcome"].dropna().astype(str)) if "outcome" in s.columns else set()
        pooled = with_num[with_num["model"].astype(str) != "meta_analysis"]
        n_out = pooled["outcome"].nunique() if "outcome" in pooled.columns else 1
        cert = (
            _stream_certainty(grades, str(indication), stream, outcome, plotted, where=where) or []
        )
        if n_out > 1:  # different outcomes (and directions) are never pooled together
            rows.append(
                core.Row(
                    "nodiamond",
                    f"{slabel}: {n_out} outcomes, not pooled",
                    group=stream,
                    colour=colour,
                    cert=cert,
                )
            )
            mixed_outcomes = True
        elif len(pooled):
            res: Any = None
            if two_by_two is not None and len(pooled) > 1:
                res, why = _two_by_two_pool(pooled, two_by_two, level)
                if why is not None:
                    not_counts.setdefault(why, []).append(slabel)
            if len(pooled) > 1:
                (by_iv if res is None else by_counts).append(slabel)
            if res is None:
                res = core.pool(
                    pooled["_y"].to_numpy(float), pooled["_v"].to_numpy(float), method, "z", level
                )
            rows.append(
                core.Row(
                    "diamond",
                    f"{slabel} pooled (k = {len(pooled)})",
                    group=stream,
                    colour=colour,
                    result=res,
                    cert=cert,
                )
            )
        else:
            what = (
                "published meta-analyses only (not pooled again)"
                if len(with_num)
                else "no estimate to pool"
            )
            rows.append(
                core.Row("nodiamond", f"{slabel}: {what}", group=stream, colour=colour, cert=cert)
            )
        rows.append(core.Row("blank"))
    if rows and rows[-1].kind == "blank":
        rows.pop()
    if not rows:
        raise ValidationError(
            f"translational_forest(): no record of {indication!r} on the {scale} scale."
        )

    def ci_txt(est, lo, hi):
        return _style.fmt_ci(tx(est), tx(lo), tx(hi), digits)

    for r in rows:
        if r.kind == "study":
            if r.estimable:
                se = np.sqrt(r.vi)
                r.ci = ci_txt(r.yi, r.yi - z * se, r.yi + z * se)
            else:
                r.ci = _style.truncate(r.note, 30)
        elif r.kind == "diamond":
            res = r.result
            r.ci = ci_txt(float(res.estimate), float(res.ci_low), float(res.ci_high))
    fs = _style.FONT_SIZE
    gap = _style.COL_GAP
    lab_w = max(
        _style.text_width(
            [r.label for r in rows if r.kind in ("study", "model")] + ["Study (model)"], fs
        )
        + _INDENT,
        _style.text_width(
            [r.label for r in rows if r.kind in ("stream", "diamond", "nodiamond")],
            fs,
            weight="bold",
        ),
    )
    ci_head = ["Ratio" if ratio else "SMD", f"[{pct} CI]"]
    ci_w = _style.text_width(ci_head + [r.ci for r in rows], fs, weight="bold")
    certs = [t for r in rows for t, _ in r.cert]
    cert_w = _style.text_width(certs + ["Certainty"], fs, weight="bold") if certs else 0
    left_total = lab_w + gap
    right_total = gap + ci_w + (gap + cert_w if cert_w else 0)
    n = len(rows)
    foot = []
    if n_other:
        foot.append(f"{n_other} record(s) of this indication on another scale are not shown.")
    if mixed_outcomes:
        foot.append("Streams with several outcomes are not pooled; pass outcome= to pool one.")
    pooled_by = f"inverse variance ({method})"
    if by_counts:
        counts_by = f"{tbt.method_label(str(two_by_two))} (2x2 counts, fixed effect)"
        pooled_by = f"{pooled_by}, by {counts_by}: {', '.join(by_counts)}" if by_iv else counts_by
    foot.append(
        f"Filled diamonds: each stream's primary studies pooled by {pooled_by}, {pct} CI; "
        "open diamonds: published meta-analyses (not pooled again)."
    )
    for why, streams in not_counts.items():
        text = (
            f"Not pooled by {tbt.method_label(str(two_by_two))} ({', '.join(streams)}): "
            f"{why}; inverse variance ({method}) instead."
        )
        foot.extend(_style.wrap(text, 110).split("\n"))
    if ratio:
        foot.append("Ratio measures (RR, OR, HR, ROM) share the log scale.")

    human = core.indication_text(sel) or indication_label(indication)
    title = human + (f": {outcome}" if outcome is not None else "")
    how = (
        f"{'Ratio' if ratio else 'Std. mean difference'}, each stream pooled separately "
        f"(random-effects, {method})"
        if method.upper() not in ("EE", "FE", "CE")
        else f"{'Ratio' if ratio else 'Std. mean difference'}, each stream pooled separately "
        f"(common-effect)"
    )
    title_lines = _style.wrap(title, 60, max_lines=2) + "\n" + how
    title_h = 0.18 * (title_lines.count("\n") + 1)
    if ax is None:
        ax = core.table_axes(
            left=left_total,
            plot=plot_width,
            right=right_total,
            n_rows=n,
            top=0.5 + title_h,
            bottom=0.55 + 0.17 * len(foot),
            min_width=_style.text_width(foot, fs - 0.5),
        )
    # x limits: the shared forest axis (estimates and pooled CIs always inside)
    lows, highs, core_vals = [], [], []
    for r in rows:
        if r.kind == "study" and r.estimable:
            se = np.sqrt(r.vi)
            core_vals.append(r.yi)
            lows.append(r.yi - z * se)
            highs.append(r.yi + z * se)
        elif r.kind == "diamond":
            core_vals += [float(r.result.ci_low), float(r.result.ci_high)]
    x0, x1, ticks = core.x_axis(
        lows,
        highs,
        core_vals,
        ratio=ratio,
        xlim=None,
        plot_width=plot_width,
        func=func,
        margin=0.5,
        min_spread=0.5,
    )
    core.setup_axes(ax, ratio=ratio, x0=x0, x1=x1, ticks=ticks, n_rows=n)
    null = 1.0 if ratio else 0.0
    t_lab = _style.offset_transform(ax, 0, -left_total)
    t_study = _style.offset_transform(ax, 0, -left_total + _INDENT)
    t_ci = _style.offset_transform(ax, 1, gap)
    cert_x = gap + ci_w + gap

    sq_x, sq_y, sq_c, sq_s = [], [], [], []
    ref = []
    side_pt = 0.6 * _style.ROW_HEIGHT * 72
    for yrow, r in enumerate(rows):
        kind = r.kind
        colour = r.colour or _style.TEXT_COLOUR
        if kind == "stream":
            core.text(
                ax,
                0,
                yrow,
                r.label,
                transform=t_lab,
                ha="left",
                va="center",
                fontsize=fs + 0.5,
                fontweight="bold",
                color=colour,
                gid="stream_label",
            )
        elif kind == "model":
            core.text(
                ax,
                0,
                yrow,
                r.label,
                transform=t_lab,
                ha="left",
                va="center",
                fontsize=fs,
                fontstyle="italic",
                gid="model_label",
            )
        elif kind in ("study", "diamond", "nodiamond"):
            bold = "bold" if kind != "study" else "normal"
            core.text(
                ax,
                0,
                yrow,
                r.label,
                transform=t_study if kind == "study" else t_lab,
                ha="left",
                va="center",
                fontsize=fs,
                fontweight=bold,
                gid="study_label" if kind == "study" else "stream_pooled_label",
            )
            if r.ci:
                muted = kind == "study" and not r.estimable
                core.text(
                    ax,
                    0,
                    yrow,
                    r.ci,
                    transform=t_ci,
                    ha="left",
                    va="center",
                    fontsize=fs,
                    fontweight=bold,
                    color=_style.MUTED if muted else _style.TEXT_COLOUR,
                    gid="estimate_text",
                )
            for li, (txt, lev) in enumerate(r.cert):
                # first line on the summary row, the second just under it (in the blank row
                # that follows every stream block)
                core.text(
                    ax,
                    0,
                    yrow,
                    txt,
                    transform=_style.offset_transform(ax, 1, cert_x, -li * _CERT_LINE),
                    ha="left",
                    va="center",
                    fontsize=fs,
                    fontweight="bold",
                    color=_style.CERTAINTY_TEXT_COLOURS.get(lev, _style.TEXT_COLOUR),
                    gid=f"stream_certainty:{r.group}",
                )
            ref.append(yrow)
        if kind == "study" and r.estimable:
            core.draw_ci(ax, yrow, r.yi, r.vi, z, tx, x0, x1, colour=colour, line=not r.meta)
            if r.meta:  # a published pooled estimate: open diamond, not pooled again
                se = np.sqrt(r.vi)
                core.draw_diamond(
                    ax,
                    yrow,
                    tx(r.yi),
                    max(tx(r.yi - z * se), x0),
                    min(tx(r.yi + z * se), x1),
                    half=0.3,
                    face="white",
                    edge=colour,
                    lw=1.0,
                    gid="meta_analysis_diamond",
                )
            else:
                sq_x.append(tx(r.yi))
                sq_y.append(yrow)
                sq_c.append(colour)
                sq_s.append(side_pt**2)
        if kind == "diamond":
            res = r.result
            core.draw_diamond(
                ax,
                yrow,
                tx(float(res.estimate)),
                tx(float(res.ci_low)),
                tx(float(res.ci_high)),
                half=0.36,
                face=colour,
                edge="black",
                gid=f"diamond_stream:{r.group}",
            )
    if sq_x:
        ax.scatter(
            sq_x,
            sq_y,
            s=sq_s,
            marker="s",
            c=sq_c,
            edgecolors="#333333",
            linewidths=0.4,
            zorder=4,
            gid="study_squares",
        )
    core.draw_null_line(ax, ref, null)
    heads = [(0, -left_total, "Study (model)", "left"), (1, gap, "\n".join(ci_head), "left")]
    if cert_w:
        heads.append((1, gap + ci_w + gap, "Certainty", "left"))
    for xa, dx, txt, ha in heads:
        ax.text(
            0,
            1,
            txt,
            transform=_style.offset_transform(ax, xa, dx, 0.06, y="axes"),
            ha=ha,
            va="bottom",
            fontsize=fs,
            fontweight="bold",
            gid="column_header",
        )
    core.draw_title(ax, title_lines, left=left_total, right=right_total)
    ax.set_xlabel(("Ratio (log scale)" if ratio else "Standardised mean difference"), fontsize=fs)
    core.draw_footer(ax, foot, left=left_total, dy_in=0.5, muted=True)
    return ax
