"""Forest plot to the standard of RevMan and metafor's ``forest()``.

Layout (one Axes; the text columns live outside it, placed in inches so the
figure can be resized): study labels and per-arm data on the left, the plot in
the middle, the estimate with its CI, the % weight and optional risk-of-bias
lights on the right; heterogeneity and tests under the axis.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from evidence import pool_clustered
from evidence.errors import (
    EvidenceError,
    InvalidParameterError,
    StatisticalWarning,
    ValidationError,
)
from evidence.internal import (
    CI_ALIASES,
    METHOD_ALIASES,
    check_bool,
    check_choice,
    check_frame,
    check_int,
    check_level,
    chi2_sf,
    norm_ppf,
    numeric_column,
)
from evidence.mantel_haenszel import MHResult
from evidence.measures import MEASURES, SINGLE_GROUP_MEASURES, ilogit, to_natural
from evidence.moderators import subgroup_analysis
from evidence.pooling import CI_METHODS, METHODS, PoolResult
from evidence.proportions import proportion_ci
from grading import two_by_two as tbt
from grading.plots import _forest_core as core
from grading.plots import _style
from grading.plots.rob import check_palette, judgement_style, split_rob
from grading.two_by_two import inverse_variance_method, is_two_by_two, method_label

__all__ = ["forest_pages", "forest_plot"]

_COUNTS = ("events_int", "n_int", "events_ctrl", "n_ctrl")
_CONT = ("mean_int", "sd_int", "n_int", "mean_ctrl", "sd_ctrl", "n_ctrl")
_RANDOM_LABEL = {"EE": "Fixed", "FE": "Fixed", "CE": "Fixed", "MH": "Fixed", "PETO": "Fixed"}
#: RevMan's name of the pooling of a 2x2-count (Mantel-Haenszel / Peto) forest.
_TWO_BY_TWO_HEAD = {"MH": "M-H, Fixed", "PETO": "Peto, Fixed"}


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
        out: list[tuple[str | None, str, str | None]] = []
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
    if has(("events_int", "n_int")):  # single-arm proportions: the one arm
        return [("Intervention", "Events", "events_int"), ("Intervention", "Total", "n_int")]
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

    frame, domains, _ = split_rob(rob, "forest_plot")
    lookup = {str(s): r for s, (_, r) in zip(frame["Study"], frame.iterrows(), strict=True)}
    out = []
    for lab in data[labels_col].astype(str):
        r = lookup.get(lab)
        out.append([None if r is None else r[d] for d in domains])
    return [str(d) for d in domains], out


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
    if getattr(res, "cluster_df", None) is not None:
        name = f"t({_style.fmt_num(float(res.cluster_df), 2).rstrip('0').rstrip('.')})"
    elif str(getattr(res, "ci_method", "z")).lower() in ("knha", "hksj", "t"):
        name = f"t({int(res.k) - 1})"
    return (
        f"Test for overall effect: {name} = {_style.fmt_num(float(res.stat), 2)} "
        f"({_style.fmt_p(float(res.p_value))})"
    )


_LETTERS = "abcdefghijklmnopqrstuvwxyz"

#: Citations of the cluster-robust standard error used with several rows per study.
CLUSTER_SOURCE = (
    "Hedges LV, Tipton E, Johnson MC. Res Synth Methods 2010;1:39-65; Pustejovsky "
    "JE, Tipton E. J Bus Econ Stat 2018;36:672-683"
)


class _ClusteredResult:
    """The pooled result of the working model with the cluster-robust (CR2) standard error of
    :func:`evidence.pool_clustered`: the estimate, weights and heterogeneity of the working
    model, the interval, test and prediction interval of the robust fit (as
    :func:`grading.grade` rates a body with several rows per study)."""

    k: int  # set from ``res`` with the other fields below

    def __init__(self, res, rob, cluster: str) -> None:
        for name in (
            "k",
            "estimate",
            "tau2",
            "i2",
            "h2",
            "q",
            "q_df",
            "q_p",
            "method",
            "level",
            "weights",
        ):
            setattr(self, name, getattr(res, name))
        for name in ("se", "stat", "p_value", "ci_low", "ci_high", "pi_low", "pi_high"):
            setattr(self, name, getattr(rob, name))
        self.ci_method = "t"
        self.cluster_df = float(rob.df)
        self.n_clusters = int(rob.n_clusters)
        self.cluster = cluster


def _cluster_pool(res, y: np.ndarray, v: np.ndarray, ids: np.ndarray, cluster: str, method, level):
    """``res`` with the cluster-robust interval when some cluster has several rows and there
    are at least two clusters; else ``res``."""
    n_clusters = len(pd.unique(ids))
    if res is None or n_clusters >= len(ids) or n_clusters < 2:
        return res

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rob = pool_clustered(
            pd.DataFrame({"yi": y, "vi": v, "c": [str(i) for i in ids]}),
            cluster="c",
            method=method,
            level=level,
            vcov="CR2",
        )
    return _ClusteredResult(res, rob, cluster)


#: The sheet's single-group measures (PLO, PR): drawn as proportions.
_PROPORTIONS = tuple(m for m in MEASURES if m in SINGLE_GROUP_MEASURES)


def _proportion_display(
    data: pd.DataFrame, y: np.ndarray, v: np.ndarray, measure: str, z: float, level: float
) -> tuple[list, str]:
    """(observed proportion, CI low, CI high) per row and the CI's name, for single-arm rows.

    From ``events_int``/``n_int`` with the Wilson score interval (:func:`evidence.proportion_ci`,
    no continuity correction: corrections belong to pooling only), else from the study table's
    ``proportion*`` columns (95% only), else the row's own interval back-transformed (PLO:
    inverse logit; PR: its Wald interval, cut to [0, 1]).
    """

    n_rows = len(data)
    out: list = [None] * n_rows
    names: set[str] = set()
    ev = (
        pd.to_numeric(data["events_int"], errors="coerce").to_numpy(float)
        if "events_int" in data.columns
        else np.full(n_rows, np.nan)
    )
    nn = (
        pd.to_numeric(data["n_int"], errors="coerce").to_numpy(float)
        if "n_int" in data.columns
        else np.full(n_rows, np.nan)
    )
    counts = (
        np.isfinite(ev)
        & np.isfinite(nn)
        & (nn > 0)
        & (ev >= 0)
        & (ev <= nn)
        & (ev == np.round(ev))
        & (nn == np.round(nn))
    )
    if counts.any():
        ci = proportion_ci(ev[counts], nn[counts], method="wilson", level=level)
        for j, i in enumerate(np.flatnonzero(counts).tolist()):
            out[i] = (
                float(ci["proportion"].iloc[j]),
                float(ci["ci_low"].iloc[j]),
                float(ci["ci_high"].iloc[j]),
            )
        names.add(str(ci["ci_method"].iloc[0]))
    cols = ("proportion", "proportion_ci_low", "proportion_ci_high")
    for i in range(n_rows):
        if out[i] is not None or not (np.isfinite(y[i]) and np.isfinite(v[i])):
            continue
        if abs(level - 0.95) < 1e-12 and all(c in data.columns for c in cols):
            vals = [
                pd.to_numeric(pd.Series([data[c].iloc[i]]), errors="coerce").iloc[0] for c in cols
            ]
            if all(np.isfinite(vals)):
                out[i] = tuple(float(x) for x in vals)
                method = (
                    str(data["proportion_ci_method"].iloc[i])
                    if "proportion_ci_method" in data.columns
                    else ""
                ) or "as given"
                names.add(method)
                continue
        se = float(np.sqrt(v[i]))
        lo, hi = y[i] - z * se, y[i] + z * se
        if measure == "PLO":
            out[i] = (ilogit(float(y[i])), ilogit(float(lo)), ilogit(float(hi)))
            names.add("Wald on the logit scale, back-transformed")
        else:
            out[i] = (float(y[i]), max(float(lo), 0.0), min(float(hi), 1.0))
            names.add("Wald, cut to [0, 1]")
    return out, " / ".join(sorted(names))


class _Forest:
    """Everything drawn, built once; pages draw subsets of ``rows`` on one common layout."""

    rows: list
    footer: list[str]
    title: str | None
    measure: str | None
    ratio: bool
    z: float
    pct: str
    dcols: list
    rob_names: list[str]
    fav: list[str] | None
    show_weight: bool
    subgroup: str | None
    x0: float
    x1: float
    ticks: list[float]
    palette: str
    plot_width: float
    prop: bool = False
    tx: Callable | None = None  # display transform (exp, inverse logit); None: identity
    ci_how: str | None = None  # "M-H, Fixed" / "Peto, Fixed" in the estimate column's head


def _two_by_two_pool(
    data: pd.DataFrame,
    mask: np.ndarray,
    measure: str | None,
    method: str,
    level: float,
    ids: np.ndarray | None,
) -> tuple[Any, str | None]:
    """The Mantel-Haenszel / Peto result of the rows ``mask`` (their 2x2 counts), or
    ``(None, reason)`` when :func:`grading.grade` would pool them by inverse variance
    (:mod:`grading.two_by_two`, the one rule for both).  One row: ``(None, None)`` (a single
    study is its own result)."""

    n_rows = int(mask.sum())
    if n_rows < 2:
        return None, None
    have = all(c in data.columns for c in _COUNTS)
    counts: list[np.ndarray] = [
        pd.to_numeric(data.loc[mask, c], errors="coerce").to_numpy(float)
        for c in (_COUNTS if have else ())
    ]
    complete = have and all(bool(np.isfinite(c).all()) for c in counts)
    if complete and "data_type" in data.columns:
        complete = bool((data.loc[mask, "data_type"].astype("string") == "counts").all())
    n_studies = len(pd.unique(ids[mask])) if ids is not None else n_rows
    why = tbt.fallback_reason(method, measure, counts=complete, n_rows=n_rows, n_studies=n_studies)
    if why is not None:
        return None, why
    try:
        res = tbt.pool_counts(method, str(measure), *counts, level=level)
    except EvidenceError as exc:
        return None, f"{tbt.method_label(method)} could not pool the counts: {exc}"
    if not np.isfinite(res.estimate):
        return None, tbt.undefined_reason(method, str(measure))
    return res, None


def _subgroup_test_from(results: list) -> str:
    """RevMan's test for subgroup differences from the subgroup estimates and their standard
    errors (inverse-variance fixed-effect Q across subgroups; used for Mantel-Haenszel / Peto
    subtotals)."""

    est = np.array([float(r.estimate) for r in results])
    w = 1 / np.array([float(r.se) for r in results]) ** 2
    mu = float((w * est).sum() / w.sum())
    q = float((w * (est - mu) ** 2).sum())
    df = len(results) - 1
    p = float(chi2_sf(q, df))
    i2 = max(0.0, (q - df) / q) * 100 if q > 0 else 0.0
    return (
        f"Test for subgroup differences: Q = {_style.fmt_num(q, 2)}, df = {df} "
        f"({_style.fmt_p(p)}), I² = {i2:.0f}%"
    )


def _build(
    data,
    *,
    yi,
    vi,
    labels,
    measure,
    result,
    subgroup,
    columns,
    rob,
    favours,
    prediction,
    method,
    ci_method,
    level,
    overall,
    xlim,
    digits,
    label_width,
    plot_width,
    palette,
    title,
    control_group,
    func,
    cluster=None,
) -> _Forest:

    check_frame(data, "data", func, columns=[yi, vi, labels])
    measure = _style.check_measure(measure, func)
    # MH / Peto: pooled from the 2x2 counts; what they cannot pool, by inverse variance (FE)
    two_by_two = method.strip().upper() if is_two_by_two(method) else None
    method = check_choice(
        inverse_variance_method(method),
        "method",
        func,
        METHODS,
        METHOD_ALIASES,
    )
    ci_method = check_choice(ci_method, "ci_method", func, CI_METHODS, CI_ALIASES)
    level = check_level(level, func)
    palette = check_palette(palette, func)
    digits = check_int(digits, "digits", func, minimum=0)
    label_width = check_int(label_width, "label_width", func, minimum=4)
    overall = check_bool(overall, "overall", func)
    prediction = check_bool(prediction, "prediction", func)
    if result is not None and not isinstance(result, PoolResult | MHResult):
        raise InvalidParameterError(
            f"The 'result' argument of {func}() must be a PoolResult or MHResult from "
            f"evidence.pool() or None. Got {type(result).__name__}."
        )
    if not (title is None or title is False or title == "auto" or isinstance(title, str)):
        raise InvalidParameterError(
            f"The 'title' argument of {func}() must be 'auto', a string, or None/False (no "
            f"title). Got {type(title).__name__}."
        )
    if not (
        favours is None
        or favours is False
        or (isinstance(favours, str) and favours == "auto")
        or (
            isinstance(favours, (tuple, list))
            and len(favours) == 2
            and all(isinstance(f, str) for f in favours)
        )
    ):
        raise InvalidParameterError(
            f"The 'favours' argument of {func}() must be 'auto' (from outcome_direction), two "
            f"labels (left, right) or None. Got {favours!r}."
        )
    for arg, col in (("yi", yi), ("vi", vi)):
        if col not in data.columns:
            raise ValidationError(
                f"Column {col!r} (argument {arg!r} of {func}()) is not in the data. "
                f"Compute effect sizes first (evidence.study_effects) or name the column."
            )
    if len(data) == 0:
        raise ValidationError(f"{func}() got an empty data frame (no study rows).")
    data = data.reset_index(drop=True)
    if labels not in data.columns:
        if labels != "study_id":
            raise ValidationError(f"Label column {labels!r} of {func}() is not in the data.")
        data = data.assign(study_id=[f"Study {i + 1}" for i in range(len(data))])
    if subgroup is not None and subgroup not in data.columns:
        raise ValidationError(
            f"Subgroup column {subgroup!r} of {func}() is not in the data. "
            f"Available: {list(data.columns)}."
        )
    if measure is None and "measure" in data.columns:
        m = data["measure"].dropna().unique()
        if len(m) == 1:
            measure = str(m[0]).upper()
    F = _Forest()
    F.measure, F.subgroup, F.palette, F.plot_width = measure, subgroup, palette, plot_width
    F.ratio = ratio = _style.is_ratio(measure)
    # the natural scale (evidence.measures): ratios exp; single-arm proportions are shown as
    # proportions, studies observed with a Wilson CI, the pooled logit back-transformed
    # (metafor transf.ilogit; evidence.pool_proportions)
    tx = functools.partial(to_natural, measure)
    F.prop = prop = measure in _PROPORTIONS
    F.tx = tx
    F.z = z = norm_ppf(0.5 + level / 2)
    F.pct = pct = f"{100 * level:g}%"

    y_all = numeric_column(data, yi, "yi", func, error=ValidationError)
    v_all = numeric_column(data, vi, "vi", func, error=ValidationError)
    neg = np.flatnonzero(np.isfinite(v_all) & (v_all < 0))
    if neg.size:
        raise ValidationError(
            f"Column {vi!r} (argument 'vi' of {func}()) holds negative sampling variances: "
            f"row {neg[0]} has {v_all[neg[0]]!r} ({neg.size} row(s) in all)."
        )
    reasons = core.not_estimable_reasons(data, measure, y_all, v_all)
    ok = np.isfinite(y_all) & np.isfinite(v_all) & np.array([not r for r in reasons])
    if not ok.any():
        why = sorted({r for r in reasons if r})
        raise ValidationError(
            f"{func}(): no row has an estimable effect to plot (finite 'yi' and 'vi'): "
            f"{'; '.join(why)}."
        )
    y_plot = np.where(ok, y_all, np.nan)
    v_plot = np.where(ok, v_all, np.nan)
    disp, disp_method = (
        _proportion_display(data, y_all, v_all, measure, z, level)
        if prop
        else ([None] * len(data), "")
    )

    F.dcols = dcols = _data_columns(data, columns)
    F.rob_names, rob_vals = _rob_table(data, rob, labels)
    extra = core.DISAMBIGUATORS + ((subgroup,) if subgroup is not None else ())
    shown = core.study_labels(data, labels, label_width, extra=extra)
    if control_group is not None and control_group not in data.columns:
        raise ValidationError(
            f"Column {control_group!r} (argument 'control_group' of {func}()) is not in the "
            f"data. Available: {list(data.columns)}."
        )
    shared = core.shared_controls(data, labels, control_group)
    shown = [f"{lab} {core.SHARED_MARK}" if shared[i] >= 0 else lab for i, lab in enumerate(shown)]

    # --- pooling ---------------------------------------------------------
    res_all: Any = None
    if cluster is not None and cluster not in data.columns:
        raise ValidationError(
            f"Column {cluster!r} (argument 'cluster' of {func}()) is not in the "
            f"data. Available: {list(data.columns)}."
        )
    all_ids = (
        data[cluster].astype("string").fillna("(missing)").to_numpy()
        if cluster is not None
        else None
    )
    not_two_by_two = None  # why MH / Peto could not pool the overall result
    if overall:
        if result is not None:
            res_all = result
            if int(res_all.k) != int(ok.sum()):
                raise InvalidParameterError(
                    f"The 'result' passed to {func}() pools k = {res_all.k} studies, but the "
                    f"data has {int(ok.sum())} estimable rows."
                )
        else:
            if two_by_two is not None:
                res_all, not_two_by_two = _two_by_two_pool(
                    data, ok, measure, two_by_two, level, all_ids
                )
            if res_all is None:
                res_all = core.pool(y_all[ok], v_all[ok], method, ci_method, level)
                if all_ids is not None:
                    res_all = _cluster_pool(
                        res_all, y_all[ok], v_all[ok], all_ids[ok], cluster, method, level
                    )
    if isinstance(res_all, MHResult) and res_all.method == "PETO":
        # Peto's forest shows each study's Peto odds ratio (metafor escalc "PETO", RevMan)
        y_all, v_all = y_all.copy(), v_all.copy()
        y_all[ok], v_all[ok] = res_all.yi, res_all.vi
        y_plot, v_plot = np.where(ok, y_all, np.nan), np.where(ok, v_all, np.nan)
    weights = np.full(len(data), np.nan)
    if res_all is not None:
        weights[ok] = np.asarray(res_all.weights, float)

    groups: list = [None]
    if subgroup is not None:
        gcol = data[subgroup].astype("string").fillna("(missing)")
        groups = list(pd.unique(gcol))

    def cells_for(i) -> list[str]:
        return [_fmt_cell(data.loc[i, c]) for (_, _, c) in dcols]

    ctrl_cols = {"events_ctrl", "n_ctrl", "mean_ctrl", "sd_ctrl"}

    def totals_for(mask) -> list[str]:
        first_of_shared = np.ones(len(data), bool)
        seen: set[int] = set()
        for i in np.flatnonzero(mask):
            if shared[i] >= 0:
                first_of_shared[i] = shared[i] not in seen
                seen.add(int(shared[i]))
        out = []
        for _, header, c in dcols:
            if header in ("Events", "Total") and c in data.columns:
                use = mask & first_of_shared if c in ctrl_cols else mask
                v = pd.to_numeric(data.loc[use, c], errors="coerce")
                out.append(_fmt_cell(v.sum()) if v.notna().any() else "")
            else:
                out.append("")
        return out

    letters: dict[str, str] = {}
    rows: list[core.Row] = []
    sub_pooled = 0
    sub_results: list = []
    for g in groups:
        mask = np.ones(len(data), bool) if g is None else (gcol == g).to_numpy()
        if g is not None:
            name = _style.STREAM_LABELS.get(str(g), g) if subgroup == "stream" else g
            rows.append(core.Row("header", _style.truncate(name, label_width + 8), bold=True))
        for i in np.flatnonzero(mask):
            r = core.Row(
                "study",
                shown[i],
                y_plot[i],
                v_plot[i],
                weights[i],
                cells_for(i),
                rob=rob_vals[i] if rob_vals else [],
                disp=disp[i] if ok[i] else None,
            )
            if not ok[i]:
                letter = letters.setdefault(reasons[i], _LETTERS[len(letters) % 26])
                r.note = reasons[i]
                r.ci = f"Not estimable ({letter})"
            rows.append(r)
        if g is not None:
            gm = mask & ok
            if gm.any():
                rg = None
                if isinstance(res_all, MHResult) or (two_by_two and not overall):
                    rg, _ = _two_by_two_pool(data, gm, measure, str(two_by_two), level, all_ids)
                if rg is None:
                    rg = core.pool(y_all[gm], v_all[gm], method, ci_method, level)
                sub_results.append(rg)
                sub_pooled += 1
                rows.append(
                    core.Row(
                        "subtotal",
                        f"Subtotal ({pct} CI)",
                        weight=np.nansum(weights[gm]) if res_all is not None else np.nan,
                        cells=totals_for(mask),
                        result=rg,
                        bold=True,
                        group=str(g),
                    )
                )
                rows.append(core.Row("text", _het_text(rg)))
                rows.append(core.Row("text", _overall_text(rg)))
            else:
                rows.append(core.Row("text", "Subtotal: not estimable"))
            rows.append(core.Row("blank"))
    # one estimable study: nothing is pooled, so no total row and no diamond (the study's
    # square and CI are the result; a diamond would read as a pooled estimate); said in the
    # footer.  Subgroups keep their subtotals (each is its own pooling).
    single = res_all is not None and int(res_all.k) == 1 and subgroup is None
    if res_all is not None and not single:
        rows.append(
            core.Row(
                "total",
                f"Total ({pct} CI)",
                weight=100.0,
                cells=totals_for(np.ones(len(data), bool)),
                result=res_all,
                bold=True,
            )
        )
        pil = float(getattr(res_all, "pi_low", np.nan))
        pih = float(getattr(res_all, "pi_high", np.nan))
        if prediction and res_all.k >= 3 and np.isfinite(pil) and np.isfinite(pih):
            rows.append(core.Row("pi", "Prediction interval", result=res_all))
    while rows and rows[-1].kind == "blank":
        rows.pop()

    # --- footer ------------------------------------------------------------
    footer: list[str] = []
    if res_all is not None:
        footer.append(_het_text(res_all))
        if not prop:  # a test of logit p = 0 (p = 0.5) or p = 0 answers no question here
            footer.append(_overall_text(res_all))
        if isinstance(res_all, _ClusteredResult):
            footer.append(
                f"Several rows per {res_all.cluster} ({int(res_all.k)} rows, "
                f"{res_all.n_clusters} clusters): the overall CI, test and prediction interval "
                "use a cluster-robust (CR2) standard error with Satterthwaite df "
                f"({CLUSTER_SOURCE}), as the graded body."
            )
    if sub_pooled >= 2 and any(isinstance(r, MHResult) for r in sub_results):
        footer.append(_subgroup_test_from(sub_results))
    elif sub_pooled >= 2:
        footer.append(
            _subgroup_test_text(
                data.loc[ok], y_all[ok], v_all[ok], gcol[ok].to_numpy(), method, ci_method, level
            )
        )
    if prop:
        how = (
            "pooled on the logit scale (0.5 added to the events and non-events of studies "
            "with 0 or n events) and back-transformed by the inverse logit, as "
            "evidence.pool_proportions / metafor transf.ilogit"
            if measure == "PLO"
            else "pooled untransformed (raw proportions, Wald CI)"
        )
        footer.append(
            f"Studies: observed proportion with {disp_method} {pct} CI (no "
            f"continuity correction)" + ("." if single or res_all is None else f"; {how}.")
        )
    direction = core.outcome_direction(data)
    model = core.model_text(res_all, method, ci_method)
    if isinstance(res_all, MHResult) and int(res_all.k) > 1:
        F.ci_how = _TWO_BY_TWO_HEAD[res_all.method]
        section = "10.4.1" if res_all.method == "MH" else "10.4.2"
        footer.append(
            f"{model[0].upper()}{model[1:]}: {method_label(res_all.method)} weights from the "
            f"2x2 counts, as metafor rma.{res_all.method.lower()}() (Cochrane Handbook "
            f"{section})."
        )
    elif res_all is None or int(res_all.k) > 1:
        footer.append(f"{model[0].upper()}{model[1:]}, inverse-variance weights.")
    if not_two_by_two:
        footer.append(
            f"Not pooled by {method_label(str(two_by_two))}: {not_two_by_two}; "
            f"inverse-variance {model} instead."
        )
    elif single:
        footer.append(
            "One study: its own estimate is the result; nothing is pooled, so no "
            "total row or diamond is drawn."
        )
    for reason, letter in letters.items():
        if reason in ("no events in either arm", "every participant had the event in both arms"):
            footer.append(
                f"({letter}) {reason[0].upper()}{reason[1:]}: the "
                f"{_style.measure_label(measure).lower()} is undefined; not pooled "
                f"({core.DOUBLE_ZERO_SOURCE})."
            )
        else:
            footer.append(f"({letter}) {reason[0].upper()}{reason[1:]}; not pooled.")
    n_shared = int((shared >= 0).sum())
    if n_shared:
        n_groups = len(set(shared[shared >= 0].tolist()))
        footer.append(
            f"{core.SHARED_MARK} {n_shared} rows share {n_groups} control "
            f"group{'s' if n_groups > 1 else ''} with other rows of their study: each shared "
            f"control is counted once in the totals; these rows are not independent "
            f"({core.SHARED_CONTROL_SOURCE})."
        )
    if direction == "mixed":
        footer.append(
            "Rows of this figure differ in outcome_direction (higher is better / "
            "worse): the sides say only where the intervention is higher."
        )

    # --- favours and title ----------------------------------------------
    if favours == "auto":
        favours = core.auto_favours(data, measure)
    F.fav = None
    if favours:
        F.fav = [_style.wrap(f, 24, max_lines=2) for f in favours]
    if title == "auto":
        what = [t for t in (core.indication_text(data), core.single_text(data, "outcome")) if t]
        stream = core.single_text(data, "stream")
        head = ": ".join(what)
        head = head[:1].upper() + head[1:]
        if stream and head:
            head += f" ({core.stream_words(data, stream)})"
        how = f"{'Proportion' if prop else _style.measure_label(measure)}, {model}"
        title = f"{head}\n{how}" if head else how
    F.title = title or None

    # --- texts of the right-hand columns --------------------------------
    def ci_text(est, lo, hi):
        return _style.fmt_ci(tx(est), tx(lo), tx(hi), digits)

    for r in rows:
        if r.kind == "study" and r.disp is not None:
            r.ci = _style.fmt_ci(*r.disp, digits)
        elif r.kind == "study" and r.estimable:
            se = np.sqrt(r.vi)
            r.ci = ci_text(r.yi, r.yi - z * se, r.yi + z * se)
        elif r.kind in ("subtotal", "total"):
            res = r.result
            r.ci = ci_text(float(res.estimate), float(res.ci_low), float(res.ci_high))
        elif r.kind == "pi":
            res = r.result
            r.ci = (
                f"[{_style.fmt_num(tx(float(res.pi_low)), digits)}, "
                f"{_style.fmt_num(tx(float(res.pi_high)), digits)}]"
            )
    F.show_weight = res_all is not None

    # --- x axis (common to every page) -----------------------------------
    ys = y_all[ok]
    ses = np.sqrt(v_all[ok])
    pooled = [r.result for r in rows if r.kind in ("subtotal", "total")]
    core_vals = list(ys) + [float(p.ci_low) for p in pooled] + [float(p.ci_high) for p in pooled]
    if res_all is not None and any(r.kind == "pi" for r in rows):
        core_vals += [float(res_all.pi_low), float(res_all.pi_high)]
    lows, highs = list(ys - z * ses), list(ys + z * ses)
    spread_min = float(np.median(2 * z * ses))
    if prop:  # the axis is the proportion scale
        shown_p = [d for d in disp if d is not None]
        core_vals = [d[0] for d in shown_p] + [float(tx(c)) for c in core_vals[len(ys) :]]
        lows, highs = [d[1] for d in shown_p], [d[2] for d in shown_p]
        spread_min = float(np.median([d[2] - d[1] for d in shown_p])) if shown_p else 0.1
    F.x0, F.x1, F.ticks = core.x_axis(
        lows,
        highs,
        core_vals,
        ratio=ratio,
        xlim=xlim,
        plot_width=plot_width,
        func=func,
        min_spread=max(spread_min, 1e-6),
    )
    if prop and xlim is None:  # a proportion lives in [0, 1]
        F.x0, F.x1 = max(F.x0, 0.0), min(F.x1, 1.0)
        F.ticks = [t for t in F.ticks if F.x0 - 1e-12 <= t <= F.x1 + 1e-12]
    F.rows, F.footer = rows, footer
    return F


def _subgroup_test_text(data, y, v, g, method, ci_method, level) -> str:
    """RevMan's test for subgroup differences, from :func:`evidence.subgroup_analysis`."""

    frame = pd.DataFrame({"_yi": y, "_vi": v, "_g": g})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        sa = subgroup_analysis(
            frame, "_g", yi="_yi", vi="_vi", method=method, ci_method=ci_method, level=level
        )
    q, df = float(sa.q_between), int(sa.q_between_df)
    i2 = max(0.0, (q - df) / q) * 100 if q > 0 else 0.0
    return (
        f"Test for subgroup differences: Q = {_style.fmt_num(q, 2)}, df = {df} "
        f"({_style.fmt_p(float(sa.q_between_p))}), I² = {i2:.0f}%"
    )


def _draw(F: _Forest, rows: list, footer: list[str], title: str | None, ax):
    """Draw ``rows`` (all of F.rows or one page of them) on the common layout of ``F``."""
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    from matplotlib.lines import Line2D
    from matplotlib.transforms import ScaledTranslation

    fs = _style.FONT_SIZE
    gap = _style.COL_GAP
    ratio, z, measure = F.ratio, F.z, F.measure
    tx = F.tx if F.tx is not None else functools.partial(to_natural, measure)
    mlabel = "Proportion" if F.prop else _style.measure_label(measure)
    every = F.rows  # widths from every row: all pages share the columns
    label_head = "Study or subgroup" if F.subgroup is not None else "Study"
    lab_w = max(
        _style.text_width([label_head] + [r.label for r in every if r.kind in ("study", "pi")], fs),
        _style.text_width([r.label for r in every if r.bold], fs, weight="bold"),
    )
    dcols = F.dcols
    col_ws = []
    for j, (_, header, _) in enumerate(dcols):
        vals = [header] + [r.cells[j] for r in every if r.cells]
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
    pct = F.pct
    ci_head = [mlabel, f"{F.ci_how}, {pct} CI" if F.ci_how else f"[{pct} CI]"]
    ci_w = _style.text_width(ci_head + [r.ci for r in every], fs, weight="bold")
    w_head = ["Weight", "(%)"]
    show_weight = F.show_weight
    w_w = _style.text_width(w_head + ["100.0"], fs, weight="bold") if show_weight else 0.0
    rob_names = F.rob_names
    rob_w = [max(_style.text_width([n], fs - 1, weight="bold"), 0.2) for n in rob_names]
    left_total = lab_w + sum(col_ws) + gap * len(col_ws) + gap
    right_parts = [gap, ci_w] + ([gap, w_w] if show_weight else [])
    for w in rob_w:
        right_parts += [0.05, w]
    right_total = sum(right_parts)
    plot_width = F.plot_width
    total_w_in = left_total + plot_width + right_total
    if title:  # a long title is wrapped to the table's width, never cut at the figure edge
        title = "\n".join(
            line
            for part in title.split("\n")
            for line in core.fit_lines(part, total_w_in - 0.4, fs + 1)
        )
    title_lines = title.count("\n") + 1 if title else 0
    title_h = 0.18 * title_lines + 0.08 if title else 0.0
    header_h = 0.42 + title_h
    n_fav = max(f.count("\n") + 1 for f in F.fav) if F.fav else 0
    axis_h = 0.22 + n_fav * 0.14 + 0.2
    footer_lines: list[str] = []
    for f in footer:
        footer_lines += core.fit_lines(f, total_w_in, fs - 0.5)

    n = len(rows)
    if ax is None:
        ax = core.table_axes(
            left=left_total,
            plot=plot_width,
            right=right_total,
            n_rows=n,
            top=0.1 + header_h,
            bottom=axis_h + 0.17 * len(footer_lines) + 0.12,
        )
    fig = ax.figure
    ax_w_in = ax.get_position().width * fig.get_figwidth()
    full_w = left_total + ax_w_in + right_total
    expanded: list = []  # text rows too long for the table get wrapped in place
    for r in rows:
        if r.kind == "text":
            expanded += [
                core.Row("text", line) for line in core.fit_lines(r.label, full_w, fs - 0.5)
            ]
        else:
            expanded.append(r)
    rows = expanded
    n = len(rows)
    x0, x1 = F.x0, F.x1
    core.setup_axes(ax, ratio=ratio, x0=x0, x1=x1, ticks=F.ticks, n_rows=n)
    null = 1.0 if ratio else 0.0

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

    max_w = np.nanmax([r.weight for r in every if r.kind == "study"] + [0.0])
    side_pt = 0.78 * _style.ROW_HEIGHT * 72
    sq_x, sq_y, sq_s = [], [], []
    ref_rows = []
    for y, r in enumerate(rows):
        if r.kind == "header":
            core.text(
                ax,
                0,
                y,
                r.label,
                transform=t_lab,
                ha="left",
                va="center",
                fontsize=fs,
                fontweight="bold",
                fontstyle="italic",
                gid="subgroup_label",
            )
        elif r.kind == "text":
            core.text(
                ax,
                0,
                y,
                r.label,
                transform=t_lab,
                ha="left",
                va="center",
                fontsize=fs - 0.5,
                color=_style.MUTED,
                gid="subgroup_text",
            )
        elif r.kind in ("study", "subtotal", "total", "pi"):
            weight = "bold" if r.bold else "normal"
            core.text(
                ax,
                0,
                y,
                r.label,
                transform=t_lab,
                ha="left",
                va="center",
                fontsize=fs,
                fontweight=weight,
                gid="study_label" if r.kind == "study" else f"{r.kind}_label",
            )
            for j, cell in enumerate(r.cells):
                if cell:
                    core.text(
                        ax,
                        0,
                        y,
                        cell,
                        transform=t_cols[j],
                        ha="right",
                        va="center",
                        fontsize=fs,
                        fontweight=weight,
                        gid="data_cell",
                    )
            core.text(
                ax,
                0,
                y,
                r.ci,
                transform=t_ci,
                ha="left",
                va="center",
                fontsize=fs,
                fontweight=weight,
                gid="estimate_text" if r.kind == "study" else f"{r.kind}_estimate_text",
                color=_style.MUTED if r.note else _style.TEXT_COLOUR,
            )
            if show_weight and np.isfinite(r.weight) and r.kind != "pi":
                ax.text(
                    0,
                    y,
                    f"{r.weight:.1f}",
                    transform=t_w,
                    ha="right",
                    va="center",
                    fontsize=fs,
                    fontweight=weight,
                    gid="weight_text" if r.kind == "study" else f"{r.kind}_weight_text",
                )
            ref_rows.append(y)
        if r.kind == "study" and r.estimable:
            core.draw_ci(
                ax, y, r.yi, r.vi, z, tx, x0, x1, bounds=None if r.disp is None else r.disp[1:]
            )
            area = side_pt**2 * (r.weight / max_w if np.isfinite(r.weight) and max_w > 0 else 0.35)
            sq_x.append(tx(r.yi) if r.disp is None else r.disp[0])
            sq_y.append(y)
            sq_s.append(max(area, 4.0))
        if r.kind in ("subtotal", "total"):
            res = r.result
            core.draw_diamond(
                ax,
                y,
                tx(float(res.estimate)),
                tx(float(res.ci_low)),
                tx(float(res.ci_high)),
                half=0.34,
                face=_style.DIAMOND_COLOUR if r.kind == "total" else "#555555",
                edge=_style.DIAMOND_COLOUR,
                gid="diamond_total" if r.kind == "total" else f"diamond_subgroup:{r.group}",
            )
        if r.kind == "pi":
            res = r.result
            pl, ph = tx(float(res.pi_low)), tx(float(res.pi_high))
            ax.plot(
                [max(pl, x0), min(ph, x1)],
                [y, y],
                color=_style.PI_COLOUR,
                lw=2.2,
                solid_capstyle="butt",
                zorder=3,
                gid="prediction_interval",
            )
            for edge, cond, mk in ((x0, pl < x0, "<"), (x1, ph > x1, ">")):
                if cond:
                    ax.plot(
                        [edge],
                        [y],
                        marker=mk,
                        color=_style.PI_COLOUR,
                        markersize=4,
                        clip_on=False,
                        gid="ci_arrow",
                    )
        if r.rob:
            for j, val in enumerate(r.rob):
                if val is None or (isinstance(val, float) and np.isnan(val)):
                    continue
                colour, symbol, _, _ = judgement_style(val, F.palette)
                tr = _style.offset_transform(ax, 1, rob_x[j])
                ax.scatter(
                    [0],
                    [y],
                    s=(0.8 * _style.ROW_HEIGHT * 72) ** 2,
                    c=[colour],
                    edgecolors="#444444",
                    linewidths=0.5,
                    transform=tr,
                    clip_on=False,
                    zorder=3,
                    gid="rob_light",
                )
                ax.text(
                    0,
                    y,
                    symbol,
                    transform=tr,
                    ha="center",
                    va="center_baseline",
                    fontsize=fs - 1.5,
                    fontweight="bold",
                    zorder=4,
                )
    if sq_x:
        ax.scatter(
            sq_x,
            sq_y,
            s=sq_s,
            marker="s",
            color=_style.STUDY_COLOUR,
            zorder=4,
            linewidths=0,
            gid="study_squares",
        )
    if not F.prop:  # a proportion has no line of no effect
        core.draw_null_line(ax, ref_rows, null)

    # --- headers -------------------------------------------------------------
    def head(x_axes, dx, s, ha, dy=0.06):
        return core.text(
            ax,
            0,
            1,
            s,
            transform=_style.offset_transform(ax, x_axes, dx, dy, y="axes"),
            ha=ha,
            va="bottom",
            fontsize=fs,
            fontweight="bold",
            gid="column_header",
        )

    head(0, -left_total, label_head, "left")
    for j, (_, header, _) in enumerate(dcols):
        head(0, col_x[j], header, "right")
    for gh, js in group_heads.items():
        head(0, (col_x[js[0]] - col_ws[js[0]] + col_x[js[-1]]) / 2, gh, "center", dy=0.22)
    head(1, x_ci, "\n".join(ci_head), "left")
    if show_weight:
        head(1, x_w, "\n".join(w_head), "right")
    for j, nm in enumerate(rob_names):
        core.text(
            ax,
            0,
            1,
            _style.truncate(nm, 8),
            transform=_style.offset_transform(ax, 1, rob_x[j], 0.06, y="axes"),
            ha="center",
            va="bottom",
            fontsize=fs - 1,
            fontweight="bold",
            gid="column_header",
        )
    ax.text(
        0,
        1,
        f"{mlabel} ({pct} CI)",
        transform=_style.offset_transform(ax, 0.5, 0, 0.06, y="axes"),
        ha="center",
        va="bottom",
        fontsize=fs,
        fontweight="bold",
        gid="column_header",
    )
    if title:
        core.draw_title(ax, title, left=left_total, right=right_total)
    ax.add_line(
        Line2D(
            [-left_total / ax_w_in, 1 + right_total / ax_w_in],
            [-0.55, -0.55],
            transform=_style.offset_transform(ax, 0, 0),
            color="#444444",
            lw=0.7,
            clip_on=False,
        )
    )

    # --- favours labels, axis title, footer ---------------------------------
    if F.fav:
        base = _style.data_x_offset_transform(ax, -0.24)
        core.text(
            ax,
            null,
            0,
            F.fav[0],
            transform=base + ScaledTranslation(-0.06, 0, fig.dpi_scale_trans),
            ha="right",
            va="top",
            fontsize=fs - 0.5,
            gid="favours_left",
        )
        core.text(
            ax,
            null,
            0,
            F.fav[1],
            transform=base + ScaledTranslation(0.06, 0, fig.dpi_scale_trans),
            ha="left",
            va="top",
            fontsize=fs - 0.5,
            gid="favours_right",
        )
    ax.set_xlabel(
        mlabel + (" (log scale)" if ratio else ""), fontsize=fs, labelpad=3 + n_fav * 0.14 * 72
    )
    core.draw_footer(ax, footer_lines, left=left_total, dy_in=axis_h + 0.05)
    return ax


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
    favours="auto",
    prediction: bool = True,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    overall: bool = True,
    xlim: tuple[float, float] | None = None,
    digits: int = 2,
    label_width: int = 60,
    plot_width: float = 2.8,
    palette: str = "cochrane",
    title="auto",
    control_group: str | None = None,
    cluster: str | None = None,
    page: int | None = None,
    rows_per_page: int = 50,
    ax=None,
):
    """Forest plot of study effects with the pooled diamond, RevMan/metafor style.

    Parameters
    ----------
    data : DataFrame
        One row per study (or comparison): ``yi`` and ``vi`` (log scale for ratio measures), a
        label column and, optionally, the per-arm data of the study sheet (``events_int``,
        ``n_int``, ``events_ctrl``, ``n_ctrl`` or ``mean_*``/``sd_*``/``n_*``) and the sheet's
        ``indication``/``outcome``/``outcome_direction``/``comparison``/... columns.  Rows
        with a missing ``yi``/``vi`` are listed as "Not estimable (a)" with the reason
        (``effect_note``) in a footnote and left out of the pooling; so are risk and odds
        ratios of 2x2 tables without events in either arm (or with every participant having
        the event in both), even when a zero-cell correction gave them numbers (Cochrane
        Handbook 10.4.4.2).
    yi, vi, labels : str
        Column names of the effect, its sampling variance and the study label.  Rows sharing
        a label are told apart by the first of ``comparison``, ``intervention``,
        ``model_detail`` (strain), ``model`` (species), ``dose``, ``timepoint``, ``outcome``,
        ``comparator`` that differs between them ("Watkins 2008a: high dose vs vehicle").
    measure : str, optional
        Effect measure (``"RR"``, ``"OR"``, ``"HR"``, ``"ROM"`` are drawn on a log axis with
        back-transformed ticks and text).  Defaults to the data's ``measure`` column when it
        holds one value.
    result : PoolResult, optional
        Pooled result of the estimable rows (in row order).  Pooled with
        ``evidence.pool(yi, vi, method=, ci_method=, level=)`` when omitted.
    subgroup : str, optional
        Column defining subgroups: each gets a header, its own diamond, heterogeneity and test
        lines; the footer adds the test for subgroup differences (``q_between`` of
        :func:`evidence.subgroup_analysis`: Q across subgroup estimates, as RevMan).
    columns : None, False, list or dict
        Per-arm data columns.  None: automatic (events/total or mean/SD/total per arm, or
        events/total of the one arm of single-arm rows, when present); False: none; list of
        columns or dict header -> column: those.  Rows of one
        study with the same control-arm numbers share a control group: they are marked "†",
        the control is counted once in the totals row, and a footnote says so.
    rob : None, True or DataFrame
        Risk-of-bias traffic lights: True reads the sheet's ``rob_domains``/``rob_overall``;
        a robvis-style frame is matched to the labels by its ``Study`` column.
    favours : "auto", (str, str) or None
        Labels under the axis, left and right of the null line.  "auto": from the data's
        ``outcome_direction`` (``outcome_kind`` "harm" counts as higher-is-worse): where
        higher is worse (mortality, adverse events; RR < 1 good) the left side "Favours
        intervention", where higher is better (abstinence, biomass) the right side does;
        without a known direction "Lower with intervention" / "Higher with intervention";
        none for single-arm measures (PR, PLO).
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
    label_width : int, default 60
        Study labels longer than this (characters) are truncated with an ellipsis.
    plot_width : float, default 2.8
        Width of the plotting region in inches (only when ``ax`` is None).
    palette : str, default "cochrane"
        robvis palette of the risk-of-bias lights.
    title : "auto", str or None
        "auto": the indication (its text, or its key in words), the outcome and, when one,
        the stream on the first line; the measure and the pooling model on the second.
    control_group : str, optional
        Column naming each row's control group: rows of one study with the same value share
        it.  Without it, rows of one study with identical control-arm numbers do.
    cluster : str, optional
        Column naming the study each row belongs to (usually ``"study_id"``).  When some
        study has several estimable rows (multiple comparisons, shared controls) and there are
        at least two studies, the overall diamond keeps the working random-effects estimate
        but its CI, test and prediction interval use the bias-reduced cluster-robust (CR2)
        standard error of :func:`evidence.pool_clustered` (t on Satterthwaite df; Hedges,
        Tipton & Johnson 2010; Pustejovsky & Tipton 2018), as :func:`grading.grade` rates the
        body; a footer line says so.  None (the
        default): rows are pooled as independent.
    page : int, optional
        Draw only page ``page`` (1-based) of the forest split into pages of at most
        ``rows_per_page`` rows (all pages share the columns and the x axis; the pooled rows
        and the footer are on the last page).  See :func:`forest_pages`.
    rows_per_page : int, default 50
        Page length for ``page``.
    ax : matplotlib Axes, optional
        Axes of the plotting region; the text columns are drawn outside it, so leave room
        (``ax=None`` builds a figure sized to the table).

    Returns
    -------
    matplotlib Axes
        Artists carry gids for inspection: ``"study_squares"`` (PathCollection, area ∝ weight),
        ``"study_ci"`` lines, ``"ci_arrow"`` markers, ``"diamond_total"`` /
        ``"diamond_subgroup:<name>"`` polygons (vertices: left, top, right, bottom; the top
        vertex is the estimate), ``"prediction_interval"``, texts ``"title"``,
        ``"study_label"``, ``"estimate_text"``, ``"weight_text"``, ``"data_cell"``,
        ``"favours_left"``/``"favours_right"``, ``"footer"``.  Free text is drawn literally
        (a ``$`` is never read as mathtext).
    """
    func = "forest_plot"
    _style.check_ax(ax, func)
    F = _build(
        data,
        yi=yi,
        vi=vi,
        labels=labels,
        measure=measure,
        result=result,
        subgroup=subgroup,
        columns=columns,
        rob=rob,
        favours=favours,
        prediction=prediction,
        method=method,
        ci_method=ci_method,
        level=level,
        overall=overall,
        xlim=xlim,
        digits=digits,
        label_width=label_width,
        plot_width=plot_width,
        palette=palette,
        title=title,
        control_group=control_group,
        func=func,
        cluster=cluster,
    )
    if page is None:
        return _draw(F, F.rows, F.footer, F.title, ax)
    pages = _pages(F, rows_per_page, func)

    page = check_int(page, "page", func, minimum=1)
    if page > len(pages):
        raise InvalidParameterError(
            f"The 'page' argument of {func}() must be between 1 and {len(pages)} (the forest "
            f"has {len(pages)} page(s) of at most {rows_per_page} rows). Got {page}."
        )
    return _draw_page(F, pages, page, ax)


def _pages(F: _Forest, rows_per_page, func) -> list[list]:

    rows_per_page = check_int(rows_per_page, "rows_per_page", func, minimum=5)
    return core.paginate(F.rows, rows_per_page)


def _draw_page(F: _Forest, pages: list[list], page: int, ax):
    n = len(pages)
    if n == 1:
        return _draw(F, pages[0], F.footer, F.title, ax)
    title = (F.title + f" (page {page} of {n})") if F.title else f"Page {page} of {n}"
    footer = (
        F.footer
        if page == n
        else [
            f"Continued on page {page + 1} of {n}; the pooled result and its tests are on page {n}."
        ]
    )
    return _draw(F, pages[page - 1], footer, title, ax)


def forest_pages(data: pd.DataFrame, *, rows_per_page: int = 50, **kwargs) -> list:
    """A long forest split into readable pages: one figure per page.

    Parameters
    ----------
    data : DataFrame
        As for :func:`forest_plot`.
    rows_per_page : int, default 50
        At most this many table rows per page (the pooled rows stay on the last page; a
        subgroup continued on the next page repeats its header).
    **kwargs
        Every other keyword of :func:`forest_plot` except ``ax`` and ``page``.

    Returns
    -------
    list of matplotlib Axes
        One Axes (each on its own figure) per page, in order.  Every page has the same
        columns and x axis; its title ends "(page i of n)"; the footer of the last page
        carries the heterogeneity and tests, earlier pages say where the pooled result is.
        A forest that fits on one page gives a list of one.
    """
    func = "forest_pages"
    for bad in ("ax", "page"):
        if bad in kwargs:
            raise InvalidParameterError(
                f"{func}() draws one figure per page; do not pass {bad!r} (use forest_plot("
                f"..., page=) to draw one page on your own Axes)."
            )

    defaults = {
        name: p.default
        for name, p in inspect.signature(forest_plot).parameters.items()
        if p.kind is p.KEYWORD_ONLY and name not in ("ax", "page", "rows_per_page")
    }
    unknown = set(kwargs) - set(defaults)
    if unknown:
        raise InvalidParameterError(
            f"{func}() got unknown keyword(s) {sorted(unknown)}; it takes those of "
            f"forest_plot(): {sorted(defaults)}."
        )
    defaults.update(kwargs)
    F = _build(data, func=func, **defaults)
    pages = _pages(F, rows_per_page, func)
    return [_draw_page(F, pages, i + 1, None) for i in range(len(pages))]
