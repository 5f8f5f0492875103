"""Forest plot to the standard of RevMan and metafor's ``forest()``.

Layout (one Axes; the text columns live outside it, placed in inches so the
figure can be resized): study labels and per-arm data on the left, the plot in
the middle, the estimate with its CI, the % weight and optional risk-of-bias
lights on the right; heterogeneity and tests under the axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evidence._validate import numeric_column
from evidence.errors import InvalidParameterError, ValidationError
from grading.plots import _style

__all__ = ["forest_plot"]

_COUNTS = ("events_int", "n_int", "events_ctrl", "n_ctrl")
_CONT = ("mean_int", "sd_int", "n_int", "mean_ctrl", "sd_ctrl", "n_ctrl")
_RANDOM_LABEL = {"EE": "Fixed", "FE": "Fixed", "CE": "Fixed"}


@dataclass
class _Row:
    kind: str  # header | study | subtotal | total | pi | text | blank
    label: str = ""
    yi: float = np.nan
    vi: float = np.nan
    weight: float = np.nan
    cells: list[str] = field(default_factory=list)
    result: object = None
    rob: list = field(default_factory=list)
    bold: bool = False
    group: str | None = None
    ci: str = ""


def _get_pool():
    try:
        from evidence.pooling import pool
    except ImportError as err:  # pragma: no cover - depends on the build state
        raise InvalidParameterError(
            "forest_plot() needs evidence.pooling.pool to pool the studies; pass 'result=' "
            "to draw a pooled result computed elsewhere."
        ) from err
    return pool


def _fmt_cell(v) -> str:
    if v is None or v is pd.NA:
        return ""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not np.isfinite(f):
        return ""
    if f.is_integer():
        return f"{int(f)}"
    return f"{f:.2f}".rstrip("0").rstrip(".")


def _data_columns(data: pd.DataFrame, columns) -> list[tuple[str | None, str, str | None]]:
    """[(group header, header, column)] of the per-arm data columns."""
    if columns is False or (columns is not None and len(columns) == 0):
        return []
    if columns is not None:
        if isinstance(columns, dict):
            pairs = list(columns.items())
        elif isinstance(columns, (list, tuple)):
            pairs = [(c, c) for c in columns]
        else:
            raise InvalidParameterError(
                "The 'columns' argument of forest_plot() must be None (automatic), False, a list "
                f"of column names or a dict header -> column. Got {type(columns).__name__}."
            )
        out = []
        for header, col in pairs:
            if col not in data.columns:
                raise ValidationError(
                    f"Column {col!r} named in 'columns' of forest_plot() is not in the data. "
                    f"Available: {list(data.columns)}."
                )
            out.append((None, str(header), col))
        return out

    def has(cols):
        return all(c in data.columns for c in cols) and data[list(cols)].notna().all(axis=1).any()

    if has(_COUNTS):
        return [
            ("Intervention", "Events", "events_int"),
            ("Intervention", "Total", "n_int"),
            ("Control", "Events", "events_ctrl"),
            ("Control", "Total", "n_ctrl"),
        ]
    if has(_CONT):
        return [
            ("Intervention", "Mean", "mean_int"),
            ("Intervention", "SD", "sd_int"),
            ("Intervention", "Total", "n_int"),
            ("Control", "Mean", "mean_ctrl"),
            ("Control", "SD", "sd_ctrl"),
            ("Control", "Total", "n_ctrl"),
        ]
    return []


def _rob_table(data, rob, labels_col) -> tuple[list[str], list[list]]:
    """(domain names, per-row judgements) for the risk-of-bias light columns."""
    if rob is None or rob is False:
        return [], []
    if rob is True:
        if "rob_domains" not in data.columns and "rob_overall" not in data.columns:
            raise ValidationError(
                "forest_plot(rob=True) needs a 'rob_domains' or 'rob_overall' column in the data."
            )
        parsed = []
        names: list[str] = []
        for _, row in data.iterrows():
            d = {}
            txt = row.get("rob_domains")
            if isinstance(txt, str) and txt.strip():
                for part in txt.split(";"):
                    if "=" in part:
                        k, v = part.split("=", 1)
                        d[k.strip()] = v.strip()
            if "rob_overall" in data.columns:
                d["Overall"] = row.get("rob_overall")
            parsed.append(d)
            for k in d:
                if k not in names:
                    names.append(k)
        names = [n for n in names if n != "Overall"] + (["Overall"] if "Overall" in names else [])
        return names, [[p.get(n) for n in names] for p in parsed]
    if not isinstance(rob, pd.DataFrame):
        raise InvalidParameterError(
            "The 'rob' argument of forest_plot() must be None, True (use the sheet's rob_domains/"
            f"rob_overall columns) or a robvis-style DataFrame. Got {type(rob).__name__}."
        )
    from grading.plots.rob import _split_rob

    frame, domains, _ = _split_rob(rob, "forest_plot")
    lookup = {str(s): r for s, (_, r) in zip(frame["Study"], frame.iterrows(), strict=True)}
    out = []
    for lab in data[labels_col].astype(str):
        r = lookup.get(lab)
        out.append([None if r is None else r[d] for d in domains])
    return [str(d) for d in domains], out


def _subgroup_test(results) -> tuple[float, int, float, float]:
    """Q test across subgroup estimates (RevMan; = metafor rma(est, sei=se, method='FE') QE)."""
    from evidence import _distributions as dist

    est = np.array([r[0] for r in results], float)
    se = np.array([r[1] for r in results], float)
    w = 1 / se**2
    mu = np.sum(w * est) / np.sum(w)
    q = float(np.sum(w * (est - mu) ** 2))
    df = len(est) - 1
    p = float(dist.chi2_sf(q, df)) if df > 0 else np.nan
    i2 = max(0.0, (q - df) / q) * 100 if q > 0 else 0.0
    return q, df, p, i2


class _Single:
    """Pooled 'result' of one study (RevMan shows it without heterogeneity)."""

    def __init__(self, yi, vi, level):
        from evidence import _distributions as dist

        z = dist.norm_ppf(0.5 + level / 2)
        self.k = 1
        self.estimate = float(yi)
        self.se = float(np.sqrt(vi))
        self.ci_low = self.estimate - z * self.se
        self.ci_high = self.estimate + z * self.se
        self.stat = self.estimate / self.se
        self.p_value = float(2 * dist.norm_sf(abs(self.stat)))
        self.tau2 = self.i2 = self.q = self.q_p = self.pi_low = self.pi_high = np.nan
        self.q_df = 0
        self.ci_method = "z"
        self.method = "EE"
        self.level = level
        self.weights = np.array([100.0])


def _pool(yi, vi, method, ci_method, level):
    if len(yi) == 1:
        return _Single(yi[0], vi[0], level)
    pool = _get_pool()
    return pool(yi, vi, method=method, ci_method=ci_method, level=level)


def _is_random(res) -> bool:
    return str(getattr(res, "method", "REML")).upper() not in _RANDOM_LABEL


def _het_text(res) -> str:
    if res.k < 2:
        return "Heterogeneity: not applicable (one study)"
    i2 = float(res.i2)
    parts = []
    if _is_random(res):
        tau2 = float(res.tau2)
        shown = "0" if tau2 == 0 else _style.fmt_num(tau2, 2 if tau2 >= 0.01 else 4)
        parts.append(f"τ² = {shown}")
    parts.append(
        f"Q = {_style.fmt_num(float(res.q), 2)}, df = {int(res.q_df)} "
        f"({_style.fmt_p(float(res.q_p))})"
    )
    parts.append(f"I² = {i2:.0f}%")
    return "Heterogeneity: " + "; ".join(parts)


def _overall_text(res) -> str:
    name = "Z"
    if str(getattr(res, "ci_method", "z")).lower() in ("knha", "hksj", "t"):
        name = f"t({int(res.k) - 1})"
    return f"Test for overall effect: {name} = {_style.fmt_num(float(res.stat), 2)} " \
        f"({_style.fmt_p(float(res.p_value))})"


def _fit_lines(text: str, max_in: float, fontsize: float) -> list[str]:
    """Wrap ``text`` so each line is at most ``max_in`` inches wide."""
    if _style.text_width([text], fontsize) <= max_in:
        return [text]
    width = len(text)
    while width > 10:
        width = int(width * 0.9)
        lines = _style.wrap(text, width).split("\n")
        if _style.text_width(lines, fontsize) <= max_in:
            return lines
    return _style.wrap(text, 10).split("\n")


def forest_plot(
    data: pd.DataFrame,
    *,
    yi: str = "yi",
    vi: str = "vi",
    labels: str = "study_id",
    measure: str | None = None,
    result=None,
    subgroup: str | None = None,
    columns=None,
    rob=None,
    favours: tuple[str, str] | None = ("Favours intervention", "Favours control"),
    prediction: bool = True,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    overall: bool = True,
    xlim: tuple[float, float] | None = None,
    digits: int = 2,
    label_width: int = 36,
    plot_width: float = 2.8,
    palette: str = "cochrane",
    ax=None,
):
    """Forest plot of study effects with the pooled diamond, RevMan/metafor style.

    Parameters
    ----------
    data : DataFrame
        One row per study: ``yi`` and ``vi`` (log scale for ratio measures), a label column
        and, optionally, the per-arm data of the study sheet (``events_int``, ``n_int``,
        ``events_ctrl``, ``n_ctrl`` or ``mean_*``/``sd_*``/``n_*``).  Rows with a missing
        ``yi``/``vi`` are listed as "Not estimable" and left out of the pooling.
    yi, vi, labels : str
        Column names of the effect, its sampling variance and the study label.
    measure : str, optional
        Effect measure (``"RR"``, ``"OR"``, ``"HR"``, ``"ROM"`` are drawn on a log axis with
        back-transformed ticks and text).  Defaults to the data's ``measure`` column when it
        holds one value.
    result : PoolResult, optional
        Pooled result of the estimable rows (in row order).  Pooled with
        ``evidence.pool(yi, vi, method=, ci_method=, level=)`` when omitted.
    subgroup : str, optional
        Column defining subgroups: each gets a header, its own diamond, heterogeneity and test
        lines; the footer adds the test for subgroup differences (Q across subgroup estimates,
        as RevMan).
    columns : None, False, list or dict
        Per-arm data columns.  None: automatic (events/total or mean/SD/total per arm, when
        present); False: none; list of columns or dict header -> column: those.
    rob : None, True or DataFrame
        Risk-of-bias traffic lights: True reads the sheet's ``rob_domains``/``rob_overall``;
        a robvis-style frame is matched to the labels by its ``Study`` column.
    favours : (str, str) or None
        Labels under the axis, left and right of the null line.
    prediction : bool, default True
        Draw the prediction interval of the overall model (when k >= 3).
    method, ci_method, level
        Passed to ``evidence.pool`` for the overall and subgroup pooling.
    overall : bool, default True
        Draw the overall diamond (False with subgroups: subgroup diamonds only).
    xlim : (float, float), optional
        Axis limits on the display scale (ratios: natural scale).  CIs beyond end in arrows.
    digits : int, default 2
        Decimals of the printed estimates.
    label_width : int, default 36
        Study labels longer than this (characters) are truncated with an ellipsis.
    plot_width : float, default 2.8
        Width of the plotting region in inches (only when ``ax`` is None).
    palette : str, default "cochrane"
        robvis palette of the risk-of-bias lights.
    ax : matplotlib Axes, optional
        Axes of the plotting region; the text columns are drawn outside it, so leave room
        (``ax=None`` builds a figure sized to the table).

    Returns
    -------
    matplotlib Axes
        Artists carry gids for inspection: ``"study_squares"`` (PathCollection, area ∝ weight),
        ``"study_ci"`` lines, ``"ci_arrow"`` markers, ``"diamond_total"`` /
        ``"diamond_subgroup:<name>"`` polygons (vertices: left, top, right, bottom; the top
        vertex is the estimate), ``"prediction_interval"``, texts ``"study_label"``,
        ``"estimate_text"``, ``"weight_text"``, ``"footer"``.
    """
    from evidence._validate import check_bool, check_choice, check_frame, check_int, check_level
    from evidence.pooling import _CI_ALIASES, _METHOD_ALIASES, CI_METHODS, METHODS, PoolResult
    from grading.plots.rob import _check_palette

    func = "forest_plot"
    _style.check_ax(ax, func)
    check_frame(data, "data", func, columns=[yi, vi, labels])
    measure = _style.check_measure(measure, func)
    method = check_choice(method, "method", func, METHODS, _METHOD_ALIASES)
    ci_method = check_choice(ci_method, "ci_method", func, CI_METHODS, _CI_ALIASES)
    level = check_level(level, func)
    palette = _check_palette(palette, func)
    digits = check_int(digits, "digits", func, minimum=0)
    label_width = check_int(label_width, "label_width", func, minimum=4)
    overall = check_bool(overall, "overall", func)
    prediction = check_bool(prediction, "prediction", func)
    if result is not None and not isinstance(result, PoolResult):
        raise InvalidParameterError(
            f"The 'result' argument of {func}() must be a PoolResult from evidence.pool() or "
            f"None. Got {type(result).__name__}."
        )
    for arg, col in (("yi", yi), ("vi", vi)):
        if col not in data.columns:
            raise ValidationError(
                f"Column {col!r} (argument {arg!r} of forest_plot()) is not in the data. "
                f"Compute effect sizes first (evidence.study_effects) or name the column."
            )
    if len(data) == 0:
        raise ValidationError("forest_plot() got an empty data frame (no study rows).")
    data = data.reset_index(drop=True)
    if labels not in data.columns:
        if labels != "study_id":
            raise ValidationError(f"Label column {labels!r} of forest_plot() is not in the data.")
        data = data.assign(study_id=[f"Study {i + 1}" for i in range(len(data))])
    if subgroup is not None and subgroup not in data.columns:
        raise ValidationError(f"Subgroup column {subgroup!r} of forest_plot() is not in the data.")
    if measure is None and "measure" in data.columns:
        m = data["measure"].dropna().unique()
        if len(m) == 1:
            measure = str(m[0])
    ratio = _style.is_ratio(measure)
    tx = np.exp if ratio else (lambda v: v)
    from evidence import _distributions as dist

    z = dist.norm_ppf(0.5 + level / 2)
    pct = f"{100 * level:g}%"

    y_all = numeric_column(data, yi, "yi", func, error=ValidationError)
    v_all = numeric_column(data, vi, "vi", func, error=ValidationError)
    neg = np.flatnonzero(np.isfinite(v_all) & (v_all < 0))
    if neg.size:
        raise ValidationError(
            f"Column {vi!r} (argument 'vi' of forest_plot()) holds negative sampling variances: "
            f"row {neg[0]} has {v_all[neg[0]]!r} ({neg.size} row(s) in all)."
        )
    ok = np.isfinite(y_all) & np.isfinite(v_all)
    if not ok.any():
        raise ValidationError("forest_plot(): no row has a finite yi and vi to plot.")

    dcols = _data_columns(data, columns)
    rob_names, rob_vals = _rob_table(data, rob, labels)

    # --- pooling ---------------------------------------------------------
    res_all = None
    if overall:
        if result is not None:
            res_all = result
            if int(res_all.k) != int(ok.sum()):
                raise InvalidParameterError(
                    f"The 'result' passed to forest_plot() pools k = {res_all.k} studies, but the "
                    f"data has {int(ok.sum())} rows with finite yi and vi."
                )
        else:
            res_all = _pool(y_all[ok], v_all[ok], method, ci_method, level)
    weights = np.full(len(data), np.nan)
    if res_all is not None:
        weights[ok] = np.asarray(res_all.weights, float)

    groups = [None]
    if subgroup is not None:
        groups = list(pd.unique(data[subgroup].astype("string").fillna("(missing)")))
        gcol = data[subgroup].astype("string").fillna("(missing)")

    def cells_for(idx) -> list[str]:
        return [_fmt_cell(data.loc[i, c]) if i is not None else "" for (_, _, c) in dcols
                for i in [idx]]

    def totals_for(mask) -> list[str]:
        out = []
        for _, header, c in dcols:
            if header in ("Events", "Total") and c in data.columns:
                v = pd.to_numeric(data.loc[mask, c], errors="coerce")
                out.append(_fmt_cell(v.sum()) if v.notna().any() else "")
            else:
                out.append("")
        return out

    rows: list[_Row] = []
    sub_results = []
    for g in groups:
        mask = np.ones(len(data), bool) if g is None else (gcol == g).to_numpy()
        if g is not None:
            rows.append(_Row("header", _style.truncate(g, label_width + 8), bold=True))
        for i in np.flatnonzero(mask):
            rows.append(
                _Row(
                    "study",
                    _style.truncate(data.loc[i, labels], label_width),
                    y_all[i],
                    v_all[i],
                    weights[i],
                    cells_for(i),
                    rob=rob_vals[i] if rob_vals else [],
                )
            )
        if g is not None:
            gm = mask & ok
            if gm.any():
                rg = _pool(y_all[gm], v_all[gm], method, ci_method, level)
                sub_results.append((float(rg.estimate), float(rg.se), g))
                rows.append(
                    _Row("subtotal", f"Subtotal ({pct} CI)",
                         weight=np.nansum(weights[gm]) if res_all is not None else np.nan,
                         cells=totals_for(mask), result=rg, bold=True)
                )
                rows[-1].group = g
                rows.append(_Row("text", _het_text(rg)))
                rows.append(_Row("text", _overall_text(rg)))
            else:
                rows.append(_Row("text", "Subtotal: not estimable"))
            rows.append(_Row("blank"))
    if res_all is not None:
        rows.append(
            _Row("total", f"Total ({pct} CI)", weight=100.0, cells=totals_for(np.ones(len(data),
                 bool)), result=res_all, bold=True)
        )
        pil, pih = float(getattr(res_all, "pi_low", np.nan)), float(getattr(res_all, "pi_high",
                                                                              np.nan))
        if prediction and res_all.k >= 3 and np.isfinite(pil) and np.isfinite(pih):
            rows.append(_Row("pi", "Prediction interval", result=res_all))
    while rows and rows[-1].kind == "blank":
        rows.pop()

    footer = []
    if res_all is not None:
        model = "Random-effects" if _is_random(res_all) else "Common-effect"
        meth = str(getattr(res_all, "method", method))
        cim = str(getattr(res_all, "ci_method", ci_method))
        footer.append(_het_text(res_all))
        footer.append(_overall_text(res_all))
        if len(sub_results) >= 2:
            q, df, p, i2 = _subgroup_test([(e, s) for e, s, _ in sub_results])
            footer.append(
                f"Test for subgroup differences: Q = {_style.fmt_num(q, 2)}, df = {df} "
                f"({_style.fmt_p(p)}), I² = {i2:.0f}%"
            )
        footer.append(
            f"{model} model, inverse-variance weights ({meth}"
            + (f", {cim} CI" if cim.lower() != "z" else "")
            + ")."
        )
    elif len(sub_results) >= 2:
        q, df, p, i2 = _subgroup_test([(e, s) for e, s, _ in sub_results])
        footer.append(
            f"Test for subgroup differences: Q = {_style.fmt_num(q, 2)}, df = {df} "
            f"({_style.fmt_p(p)}), I² = {i2:.0f}%"
        )

    # --- text of the right-hand columns ---------------------------------
    def ci_text(est, lo, hi):
        return _style.fmt_ci(tx(est), tx(lo), tx(hi), digits)

    for r in rows:
        if r.kind == "study":
            if np.isfinite(r.yi) and np.isfinite(r.vi):
                se = np.sqrt(r.vi)
                r.ci = ci_text(r.yi, r.yi - z * se, r.yi + z * se)
            else:
                r.ci = "Not estimable"
        elif r.kind in ("subtotal", "total"):
            res = r.result
            r.ci = ci_text(float(res.estimate), float(res.ci_low), float(res.ci_high))
        elif r.kind == "pi":
            res = r.result
            r.ci = f"[{_style.fmt_num(tx(float(res.pi_low)), digits)}, " \
                f"{_style.fmt_num(tx(float(res.pi_high)), digits)}]"
        else:
            r.ci = ""
    show_weight = res_all is not None
    fs = _style.FONT_SIZE
    gap = _style.COL_GAP

    # --- column widths (inches) -----------------------------------------
    label_head = "Study or subgroup" if subgroup is not None else "Study"
    lab_texts = [label_head] + [r.label for r in rows if r.kind in ("study", "pi")]
    lab_w = max(
        _style.text_width(lab_texts, fs),
        _style.text_width([r.label for r in rows if r.bold], fs, weight="bold"),
    )
    col_ws = []
    for j, (_, header, _) in enumerate(dcols):
        vals = [header] + [r.cells[j] for r in rows if r.cells]
        col_ws.append(max(_style.text_width(vals, fs, weight="bold"), 0.28))
    group_heads: dict[str, list[int]] = {}
    for j, (gh, _, _) in enumerate(dcols):
        if gh:
            group_heads.setdefault(gh, []).append(j)
    for gh, js in group_heads.items():  # widen sub-columns if the group header is wider
        need = _style.text_width([gh], fs, weight="bold")
        have = sum(col_ws[j] for j in js) + gap * (len(js) - 1)
        if need > have:
            for j in js:
                col_ws[j] += (need - have) / len(js)
    ci_head = [_style.measure_label(measure), f"[{pct} CI]"]
    ci_w = _style.text_width(ci_head + [r.ci for r in rows], fs, weight="bold")
    w_head = ["Weight", "(%)"]
    w_w = _style.text_width(w_head + ["100.0"], fs, weight="bold") if show_weight else 0.0
    rob_w = [max(_style.text_width([n], fs - 1, weight="bold"), 0.2) for n in rob_names]

    left_total = lab_w + sum(col_ws) + gap * len(col_ws) + gap
    right_parts = [gap, ci_w] + ([gap, w_w] if show_weight else [])
    for w in rob_w:
        right_parts += [0.05, w]
    right_total = sum(right_parts)

    n = len(rows)
    header_h = 0.42
    n_fav = 0
    fav = None
    if favours:
        if len(favours) != 2:
            raise InvalidParameterError(
                "The 'favours' argument of forest_plot() must be two labels (left, right) or None."
            )
        fav = [_style.wrap(f, 22, max_lines=2) for f in favours]
        n_fav = max(f.count("\n") + 1 for f in fav)
    axis_h = 0.22 + n_fav * 0.14 + 0.2
    total_w_in = left_total + plot_width + right_total
    footer_lines: list[str] = []
    for f in footer:
        footer_lines += _fit_lines(f, total_w_in, fs - 0.5)
    footer_h = 0.17 * len(footer_lines) + 0.12

    if ax is None:
        width = 0.12 + total_w_in + 0.12
        height = 0.1 + header_h + n * _style.ROW_HEIGHT + axis_h + footer_h
        fig = _style.new_figure(width, height)
        ax = fig.add_axes(
            [
                (0.12 + left_total) / width,
                (axis_h + footer_h) / height,
                plot_width / width,
                n * _style.ROW_HEIGHT / height,
            ]
        )
    fig = ax.figure
    ax_w_in = ax.get_position().width * fig.get_figwidth()

    # text rows that are too long for the whole table width get wrapped in place
    full_w = left_total + ax_w_in + right_total
    expanded: list[_Row] = []
    for r in rows:
        if r.kind == "text":
            for line in _fit_lines(r.label, full_w, fs - 0.5):
                expanded.append(_Row("text", line))
        else:
            expanded.append(r)
    rows = expanded
    n = len(rows)

    # --- x limits ---------------------------------------------------------
    ys = np.array([r.yi for r in rows if r.kind == "study" and np.isfinite(r.vi)
                   and np.isfinite(r.yi)], float)
    ses = np.array([np.sqrt(r.vi) for r in rows if r.kind == "study" and np.isfinite(r.vi)
                    and np.isfinite(r.yi)], float)
    pooled = [r.result for r in rows if r.kind in ("subtotal", "total")]
    core = list(ys) + [float(p.ci_low) for p in pooled] + [float(p.ci_high) for p in pooled]
    if any(r.kind == "pi" for r in rows):
        core += [float(res_all.pi_low), float(res_all.pi_high)]
    core.append(0.0)
    lo_core, hi_core = min(core), max(core)
    lo_all = min(lo_core, float(np.min(ys - z * ses)))
    hi_all = max(hi_core, float(np.max(ys + z * ses)))
    spread = max(hi_core - lo_core, float(np.median(2 * z * ses)), 1e-6)
    lo = max(lo_all, lo_core - 0.6 * spread)
    hi = min(hi_all, hi_core + 0.6 * spread)
    if xlim is not None:
        if len(xlim) != 2 or not xlim[0] < xlim[1] or (ratio and xlim[0] <= 0):
            raise InvalidParameterError(
                "The 'xlim' argument of forest_plot() must be (low, high) with low < high "
                f"(and low > 0 for ratio measures). Got {xlim!r}."
            )
        x0, x1 = float(xlim[0]), float(xlim[1])
        if ratio:
            ticks = _style.nice_ratio_ticks(
                x0, x1, min_gap=0.36 * np.log10(x1 / x0) / max(plot_width, 1.0)
            )
        else:
            from matplotlib.ticker import MaxNLocator

            ticks = [float(v) for v in MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])
                     .tick_values(x0, x1) if x0 - 1e-12 <= v <= x1 + 1e-12]
    elif ratio:
        lo_n, hi_n = np.exp(lo), np.exp(hi)
        cands = sorted({m * 10.0**e for e in range(-6, 7) for m in (1, 2, 5)} | {0.25, 4.0})
        x0 = max([c for c in cands if c <= lo_n * (1 + 1e-9)] or [lo_n])
        x1 = min([c for c in cands if c >= hi_n * (1 - 1e-9)] or [hi_n])
        ticks = _style.nice_ratio_ticks(
            x0, x1, min_gap=0.36 * np.log10(x1 / x0) / max(plot_width, 1.0)
        )
    else:
        from matplotlib.ticker import MaxNLocator

        t = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        x0, x1 = float(t[0]), float(t[-1])
        ticks = [float(v) for v in t]
    if ratio:
        ax.set_xscale("log")
    ax.set_xlim(x0, x1)
    if ticks is not None:
        ax.set_xticks(ticks)
        if ratio:
            ax.set_xticklabels([_style.fmt_tick(v) for v in ticks])
            ax.minorticks_off()
    ax.set_ylim(n - 0.5, -0.6)
    ax.set_yticks([])
    for s in ("left", "right", "top"):
        ax.spines[s].set_visible(False)
    ax.tick_params(axis="x", labelsize=fs)

    null = 1.0 if ratio else 0.0
    # --- draw rows ---------------------------------------------------------
    t_lab = _style.offset_transform(ax, 0, -left_total)
    col_x = []
    x = -left_total + lab_w + gap
    for w in col_ws:
        col_x.append(x + w)  # right edge (numbers right-aligned)
        x += w + gap
    t_cols = [_style.offset_transform(ax, 0, cx) for cx in col_x]
    x_ci = gap
    t_ci = _style.offset_transform(ax, 1, x_ci)
    x_w = gap + ci_w + gap + w_w
    t_w = _style.offset_transform(ax, 1, x_w)
    rob_x = []
    x = gap + ci_w + ((gap + w_w) if show_weight else 0)
    for w in rob_w:
        rob_x.append(x + 0.05 + w / 2)
        x += 0.05 + w

    max_w = np.nanmax([r.weight for r in rows if r.kind == "study"] + [0.0])
    side_pt = 0.78 * _style.ROW_HEIGHT * 72
    sq_x, sq_y, sq_s = [], [], []
    ref_rows = []
    for y, r in enumerate(rows):
        if r.kind == "header":
            ax.text(0, y, r.label, transform=t_lab, ha="left", va="center", fontsize=fs,
                    fontweight="bold", fontstyle="italic", gid="subgroup_label")
        elif r.kind == "text":
            ax.text(0, y, r.label, transform=t_lab, ha="left", va="center", fontsize=fs - 0.5,
                    color=_style.MUTED, gid="subgroup_text")
        elif r.kind in ("study", "subtotal", "total", "pi"):
            weight = "bold" if r.bold else "normal"
            ax.text(0, y, r.label, transform=t_lab, ha="left", va="center", fontsize=fs,
                    fontweight=weight,
                    gid="study_label" if r.kind == "study" else f"{r.kind}_label")
            for j, cell in enumerate(r.cells):
                if cell:
                    ax.text(0, y, cell, transform=t_cols[j], ha="right", va="center", fontsize=fs,
                            fontweight=weight, gid="data_cell")
            ax.text(0, y, r.ci, transform=t_ci, ha="left", va="center", fontsize=fs,
                    fontweight=weight, gid="estimate_text" if r.kind == "study"
                    else f"{r.kind}_estimate_text",
                    color=_style.MUTED if r.ci == "Not estimable" else _style.TEXT_COLOUR)
            if show_weight and np.isfinite(r.weight) and r.kind != "pi":
                ax.text(0, y, f"{r.weight:.1f}", transform=t_w, ha="right", va="center",
                        fontsize=fs, fontweight=weight,
                        gid="weight_text" if r.kind == "study" else f"{r.kind}_weight_text")
            ref_rows.append(y)
        if r.kind == "study" and np.isfinite(r.yi) and np.isfinite(r.vi):
            se = np.sqrt(r.vi)
            lo_i, hi_i = tx(r.yi - z * se), tx(r.yi + z * se)
            a, b = max(lo_i, x0), min(hi_i, x1)
            if a < b:
                ax.plot([a, b], [y, y], color=_style.TEXT_COLOUR, lw=0.9, solid_capstyle="butt",
                        zorder=2, gid="study_ci")
            if lo_i < x0:
                ax.plot([x0], [y], marker="<", color=_style.TEXT_COLOUR, markersize=4,
                        clip_on=False, zorder=3, gid="ci_arrow")
            if hi_i > x1:
                ax.plot([x1], [y], marker=">", color=_style.TEXT_COLOUR, markersize=4,
                        clip_on=False, zorder=3, gid="ci_arrow")
            area = side_pt**2 * (r.weight / max_w if np.isfinite(r.weight) and max_w > 0 else 0.35)
            sq_x.append(tx(r.yi))
            sq_y.append(y)
            sq_s.append(max(area, 4.0))
        if r.kind in ("subtotal", "total"):
            res = r.result
            est, cl, ch = tx(float(res.estimate)), tx(float(res.ci_low)), tx(float(res.ci_high))
            h = 0.34
            from matplotlib.patches import Polygon

            gid = "diamond_total" if r.kind == "total" else f"diamond_subgroup:{r.group}"
            ax.add_patch(Polygon(
                [(cl, y), (est, y - h), (ch, y), (est, y + h)], closed=True,
                facecolor=_style.DIAMOND_COLOUR if r.kind == "total" else "#555555",
                edgecolor=_style.DIAMOND_COLOUR, lw=0.6, zorder=3, gid=gid, clip_on=True,
            ))
        if r.kind == "pi":
            res = r.result
            pl, ph = tx(float(res.pi_low)), tx(float(res.pi_high))
            a, b = max(pl, x0), min(ph, x1)
            ax.plot([a, b], [y, y], color=_style.PI_COLOUR, lw=2.2, solid_capstyle="butt",
                    zorder=3, gid="prediction_interval")
            if pl < x0:
                ax.plot([x0], [y], marker="<", color=_style.PI_COLOUR, markersize=4,
                        clip_on=False, gid="ci_arrow")
            if ph > x1:
                ax.plot([x1], [y], marker=">", color=_style.PI_COLOUR, markersize=4,
                        clip_on=False, gid="ci_arrow")
        if r.rob:
            from grading.plots.rob import judgement_style

            for j, val in enumerate(r.rob):
                if val is None or (isinstance(val, float) and np.isnan(val)):
                    continue
                colour, symbol, _, _ = judgement_style(val, palette)
                tr = _style.offset_transform(ax, 1, rob_x[j])
                ax.scatter([0], [y], s=(0.8 * _style.ROW_HEIGHT * 72) ** 2, c=[colour],
                           edgecolors="#444444", linewidths=0.5, transform=tr, clip_on=False,
                           zorder=3, gid="rob_light")
                ax.text(0, y, symbol, transform=tr, ha="center", va="center_baseline",
                        fontsize=fs - 1.5, fontweight="bold", zorder=4)
    if sq_x:
        ax.scatter(sq_x, sq_y, s=sq_s, marker="s", color=_style.STUDY_COLOUR, zorder=4,
                   linewidths=0, gid="study_squares")

    # reference line over the plotted rows only (not through text rows)
    blocks: list[list[int]] = []
    for y in ref_rows:
        if blocks and y == blocks[-1][-1] + 1:
            blocks[-1].append(y)
        else:
            blocks.append([y])
    for bl in blocks:
        ax.plot([null, null], [bl[0] - 0.5, bl[-1] + 0.5], color="#888888", lw=0.8, zorder=1,
                gid="null_line")

    # --- headers -------------------------------------------------------------
    def head(x_axes, dx, text, ha, dy=0.06):
        return ax.text(0, 1, text, transform=_style.offset_transform(ax, x_axes, dx, dy, y="axes"),
                       ha=ha, va="bottom", fontsize=fs, fontweight="bold", gid="column_header")

    head(0, -left_total, label_head, "left")
    for j, (_, header, _) in enumerate(dcols):
        head(0, col_x[j], header, "right")
    for gh, js in group_heads.items():
        x_l = col_x[js[0]] - col_ws[js[0]]
        x_r = col_x[js[-1]]
        head(0, (x_l + x_r) / 2, gh, "center", dy=0.22)
    head(1, x_ci, "\n".join(ci_head), "left")
    if show_weight:
        head(1, x_w, "\n".join(w_head), "right")
    for j, nm in enumerate(rob_names):
        ax.text(0, 1, _style.truncate(nm, 8), transform=_style.offset_transform(
            ax, 1, rob_x[j], 0.06, y="axes"), ha="center", va="bottom", fontsize=fs - 1,
            fontweight="bold", gid="column_header")
    ax.text(0, 1, f"{_style.measure_label(measure)} ({pct} CI)",
            transform=_style.offset_transform(ax, 0.5, 0, 0.06, y="axes"), ha="center",
            va="bottom", fontsize=fs, fontweight="bold", gid="column_header")
    from matplotlib.lines import Line2D

    x_l = -left_total / ax_w_in
    x_r = 1 + right_total / ax_w_in
    for yy in (-0.55,):
        ax.add_line(Line2D([x_l, x_r], [yy, yy], transform=_style.offset_transform(ax, 0, 0),
                           color="#444444", lw=0.7, clip_on=False))

    # --- favours labels, axis title, footer ---------------------------------
    if fav:
        from matplotlib.transforms import ScaledTranslation

        base = _style.data_x_offset_transform(ax, -0.24)
        ax.text(null, 0, fav[0], transform=base + ScaledTranslation(-0.06, 0, fig.dpi_scale_trans),
                ha="right", va="top", fontsize=fs - 0.5, gid="favours_left")
        ax.text(null, 0, fav[1], transform=base + ScaledTranslation(0.06, 0, fig.dpi_scale_trans),
                ha="left", va="top", fontsize=fs - 0.5, gid="favours_right")
    ax.set_xlabel(
        _style.measure_label(measure) + (" (log scale)" if ratio else ""),
        fontsize=fs, labelpad=3 + n_fav * 0.14 * 72,
    )
    for i, line in enumerate(footer_lines):
        ax.text(0, 0, line, transform=_style.offset_transform(ax, 0, -left_total,
                -axis_h - 0.05 - 0.17 * i, y="axes"), ha="left", va="top", fontsize=fs - 0.5,
                gid="footer")
    return ax
