"""GRADE-like certainty per indication x outcome x evidence stream.

:func:`grade` forms one body of evidence per indication (``schema.indication_key``) x outcome x
stream, picks the records that carry its estimate, pools them, and rates the body with the
explicit rules of :mod:`grading.domains`.  Every domain keeps the rule's suggestion, the final
step (a reviewer override may replace it), the reason with the numbers, the rule's source and
who overrode it.

Body of evidence (evigap conventions, documented here because GRADE gives no numeric rule):

* Records with a numeric result (finite ``yi``/``vi``) carry the estimate.  When the body has an
  aggregate record (``model == "meta_analysis"``) with a result, the one with the largest
  ``k_studies`` gives the estimate and primary studies are not pooled with it (they may be
  inside it: double counting).
* Otherwise the records of the best design tier with results are pooled (randomised >
  non-randomised > uncontrolled), using their most common measure; one result per study (the
  most precise, when a study has several comparisons sharing a control group).
* The starting level comes from that tier (see :class:`grading.scheme.Scheme`).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from evidence._validate import check_choice, check_frame, check_number, check_text
from evidence.errors import InvalidParameterError, ValidationError
from evidence.schema import STREAMS
from grading.domains import (
    ALL_DOMAINS,
    DOWN_DOMAINS,
    NONCOMPARATIVE_MEASURES,
    UP_DOMAINS,
    Judgement,
    judge_dose_response,
    judge_imprecision,
    judge_inconsistency,
    judge_indirectness,
    judge_large_effect,
    judge_plausible_confounding,
    judge_publication_bias,
    judge_risk_of_bias,
    judge_translational,
)
from grading.rob import assess_rob
from grading.scheme import LEVEL_SCORE, LEVEL_SYMBOLS, LEVELS, Scheme, load_scheme

__all__ = ["grade", "informative_statement", "certainty_symbols", "GRADE_COLUMNS"]

_RATIO = ("RR", "OR", "HR", "ROM")
_DEFAULT_MEASURE = {"counts": "RR", "continuous": "MD", "single_arm": "PLO"}
_UNCONTROLLED_MODELS = ("case_series", "case_report", "adverse_event_report")
_TIER_RANK = {"randomised": 3, "non_randomised": 2, "aggregate_other": 2, "uncontrolled": 1,
              "in_vitro": 0}
_TIER_LABEL = {
    "randomised": "randomised",
    "non_randomised": "non-randomised",
    "aggregate_other": "aggregate record, design not randomised/unknown",
    "uncontrolled": "uncontrolled (case series/reports, single-arm)",
    "in_vitro": "in vitro",
}
_REQUIRED = ("indication", "outcome", "stream", "model", "data_type")

#: The fixed leading columns of grade()'s output.
GRADE_COLUMNS: tuple[str, ...] = (
    "indication", "outcome", "stream", "outcome_kind", "intervention", "comparator", "design",
    "k", "k_records", "n_participants", "n_events", "n_int_total", "n_ctrl_total",
    "events_int_total", "events_ctrl_total", "control_risk", "measure", "estimate", "se", "ci_low",
    "ci_high", "pi_low", "pi_high", "i2", "tau2", "estimate_natural", "ci_low_natural",
    "ci_high_natural", "estimable", "estimate_basis", "study_ids", "starting_level",
    "starting_level_source",
)


def certainty_symbols(level: str) -> str:
    """⊕⊕⊕⊕ / ⊕⊕⊕◯ / ⊕⊕◯◯ / ⊕◯◯◯ for high / moderate / low / very low."""
    return LEVEL_SYMBOLS[level]


def _missing(v) -> bool:
    if v is None or v is pd.NA:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip().lower() in ("", "nan", "<na>", "none")


def _bool(v) -> bool | None:
    if _missing(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return bool(v)
    s = str(v).strip().lower()
    if s in ("true", "yes", "1", "y", "t"):
        return True
    if s in ("false", "no", "0", "n", "f"):
        return False
    return None


def _num(v) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def _start(stream: str, tier: str, scheme: Scheme) -> tuple[str, str]:
    name = {
        ("human", "randomised"): "start_randomised_human",
        ("human", "non_randomised"): "start_non_randomised_human",
        ("human", "uncontrolled"): "start_uncontrolled_human",
        ("animal", "randomised"): "start_randomised_animal",
        ("animal", "non_randomised"): "start_non_randomised_animal",
        ("animal", "uncontrolled"): "start_uncontrolled_animal",
    }.get((stream, tier))
    if tier == "in_vitro" or stream == "in_vitro":
        name = "start_in_vitro"
    elif tier == "aggregate_other":
        name = "start_meta_analysis_other"
    if name is None:
        raise ValidationError(f"grade(): unknown stream {stream!r} (expected human, animal, "
                              "in_vitro) in column 'stream'.")
    return getattr(scheme, name), f"{name}: {scheme.source(name)}"


def _mode(values: Iterable) -> str | None:
    values = list(values)
    try:
        seen = Counter(values)  # C-speed count; keeps first-seen order
    except TypeError:  # unhashable cells
        seen = None
    if seen is not None and all(type(v) is str or _missing(v) for v in seen):
        counts: dict[str, int] = {}
        for v, c in seen.items():
            if not _missing(v):
                counts[v] = c
        if not counts:
            return None
        return max(counts, key=counts.__getitem__)  # ties: first seen
    counts = {}
    for v in values:
        if not _missing(v):
            counts[str(v)] = counts.get(str(v), 0) + 1
    if not counts:
        return None
    return max(counts, key=counts.__getitem__)  # ties: first seen


# ---------------------------------------------------------------------------- overrides

def _overrides_frame(overrides) -> pd.DataFrame:
    cols = ["indication", "outcome", "stream", "domain", "step", "reason", "by"]
    if overrides is None:
        return pd.DataFrame(columns=cols)
    if isinstance(overrides, pd.DataFrame):
        frame = overrides.copy()
    elif isinstance(overrides, Mapping):
        frame = pd.DataFrame([overrides])
    elif isinstance(overrides, Iterable) and not isinstance(overrides, str):
        frame = pd.DataFrame(list(overrides))
    else:
        raise InvalidParameterError(
            "The 'overrides' argument of grade() must be a DataFrame or a list of dicts with "
            f"columns {cols}. Got {type(overrides).__name__}."
        )
    for col in ("indication", "domain", "step", "reason"):
        if col not in frame.columns:
            raise InvalidParameterError(
                f"The 'overrides' argument of grade() needs a {col!r} column (columns: {cols})."
            )
    for col in ("outcome", "stream", "by"):
        if col not in frame.columns:
            frame[col] = None
    frame = frame.reset_index(drop=True)
    steps: list[int] = []
    for i, r in frame.iterrows():
        label = f"override {i} ({r['indication']!r}, {r['domain']!r})"
        if _missing(r["reason"]):
            raise InvalidParameterError(
                f"The 'reason' of {label} is missing: every override must say why."
            )
        if r["domain"] not in ALL_DOMAINS:
            raise InvalidParameterError(
                f"The 'domain' of {label} must be one of {list(ALL_DOMAINS)}. Got {r['domain']!r}."
            )
        step = r["step"]
        if isinstance(step, str):
            try:
                step = float(step.strip())
            except ValueError:
                pass
        ok = isinstance(step, (int, np.integer, float, np.floating)) and not isinstance(step, bool)
        ok = ok and math.isfinite(float(step)) and float(step) == int(step)
        lo, hi = (0, 2) if r["domain"] in UP_DOMAINS else (-3, 0)
        if not ok or not lo <= int(step) <= hi:
            raise InvalidParameterError(
                f"The 'step' of {label} must be an integer from {lo} to {hi}. Got {step!r}."
            )
        steps.append(int(step))
    frame["step"] = pd.Series(steps, index=frame.index, dtype="int64")
    return frame


def _apply_overrides(domain: str, jd: Judgement, ov: pd.DataFrame, key: tuple[str, str, str],
                     used: set[int]) -> tuple[int, str | None, str, str]:
    step, who_final, reason = jd.step, None, jd.reason
    for i, o in ov.iterrows():
        if o["domain"] == domain and _match(o, key):
            used.add(i)
            step = int(o["step"])
            who = None if _missing(o.get("by")) else str(o["by"])
            who_final = who
            reason = (
                f"override{' by ' + who if who else ''}: {o['reason']} (rule suggested "
                f"{jd.step:+d}: {jd.reason})"
            )
    return step, who_final, reason, jd.source


def _match(ov: Mapping, key: tuple[str, str, str]) -> bool:
    ind, out, stream = key
    if str(ov["indication"]) != ind:
        return False
    if not _missing(ov.get("outcome")) and str(ov["outcome"]) != out:
        return False
    return _missing(ov.get("stream")) or str(ov["stream"]) == stream


# ---------------------------------------------------------------------------- statements

def informative_statement(
    level: str,
    *,
    intervention: str,
    outcome: str,
    measure: str | None,
    estimate: float,
    ci_low: float,
    ci_high: float,
    stream: str = "human",
) -> str:
    """GRADE informative statement (GRADE 26, Santesso 2020, as quoted [V]).

    high: "X reduces Y"; moderate: "X likely reduces Y"; low: "X may reduce Y"; very low: "The
    evidence is very uncertain about the effect of X on Y".  When the CI includes the null the
    wording is "results in little to no difference in Y".  Preclinical streams get the prefix
    "In animal models," / "In cell culture,".
    """
    func = "informative_statement"
    level = check_choice(level, "level", func, LEVELS)
    stream = check_choice(stream, "stream", func, STREAMS)
    check_text(intervention, "intervention", func)
    check_text(outcome, "outcome", func)
    if measure is not None and not (isinstance(measure, float) and math.isnan(measure)):
        check_text(measure, "measure", func, optional=True)
    else:
        measure = None
    estimate = check_number(estimate, "estimate", func)
    ci_low = check_number(ci_low, "ci_low", func)
    ci_high = check_number(ci_high, "ci_high", func)
    prefix = {"animal": "In animal models, ", "in_vitro": "In cell culture, "}.get(stream, "")
    if measure is None or not math.isfinite(estimate):
        text = (f"no study reported a numeric result for {outcome}: the effect of {intervention} "
                f"on {outcome} is not estimable.")
        return prefix + text if prefix else text[0].upper() + text[1:]
    if level == "very low":
        text = (f"the evidence is very uncertain about the effect of {intervention} on "
                f"{outcome}.")
        return prefix + text if prefix else text[0].upper() + text[1:]
    if measure in NONCOMPARATIVE_MEASURES:
        text = (f"without a comparator, the effect of {intervention} on {outcome} cannot be "
                "stated (pooled proportion only).")
        return prefix + text if prefix else text[0].upper() + text[1:]
    null_in = ci_low <= 0 <= ci_high
    verbs = {
        "high": ("results in little to no difference in", "reduces", "increases"),
        "moderate": ("likely results in little to no difference in", "likely reduces",
                     "likely increases"),
        "low": ("may result in little to no difference in", "may reduce", "may increase"),
    }[level]
    verb = verbs[0] if null_in else (verbs[1] if estimate < 0 else verbs[2])
    return f"{prefix}{intervention} {verb} {outcome}."


# ---------------------------------------------------------------------------- main

def _records_text(n: int) -> str:
    return f"{n} record" + ("" if n == 1 else "s")


def _first_max_tier(tiers: np.ndarray) -> str:
    """The best design tier present; between tiers of equal rank, the first seen."""
    return max(dict.fromkeys(tiers.tolist()), key=lambda t: _TIER_RANK[t])


def _one_per_study(cand: np.ndarray, study_id: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """Positions of one record per study, the most precise (smallest ``vi``; first on ties),
    studies in order of first appearance (several comparisons may share a control group)."""
    codes, _ = pd.factorize(study_id[cand], use_na_sentinel=False)
    order = np.lexsort((np.arange(len(cand)), vi[cand], codes))
    first = np.ones(len(order), dtype=bool)
    first[1:] = codes[order][1:] != codes[order][:-1]
    return cand[order[first]]


def _sum(values: np.ndarray) -> float:
    """Left-to-right sum, as Python's ``sum`` (numpy sums pairwise: other last bits)."""
    return float(sum(values.tolist()))


def _body(c: dict[str, np.ndarray], scheme: Scheme) -> dict:
    """Choose the records that carry the estimate and pool them.

    ``c`` holds the body's records as aligned arrays (see :func:`_record_arrays`); the
    returned ``sel`` and ``tier_rows`` are positions into them.
    """
    n_records = len(c["tier"])
    num = np.flatnonzero(c["numeric"])
    agg = num[c["is_meta"][num]]
    out: dict = {"aggregate": False, "n_records": n_records}
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + scheme.level / 2))
    if len(agg):
        k_or_0 = [x if math.isfinite(x) else 0 for x in c["k_studies"][agg].tolist()]
        year_or_0 = [x if math.isfinite(x) else 0 for x in c["year"][agg].tolist()]
        best = agg[max(range(len(agg)), key=lambda i: (k_or_0[i], year_or_0[i]))]
        sel, tier = np.array([best]), c["tier"][best]
        out["aggregate"] = True
        kk = float(c["k_studies"][best])
        out["k"] = int(kk) if math.isfinite(kk) else 1
        out["basis"] = (
            f"aggregate record {c['study_id'][best]} (k_studies = "
            f"{out['k'] if math.isfinite(kk) else 'not recorded'})"
            + (f"; {_records_text(n_records - 1)} not pooled with it (may be inside it)"
               if n_records > 1 else "")
        )
    elif len(num):
        tier = _first_max_tier(c["tier"][num])
        cand = num[c["tier"][num] == tier]
        m = _mode(c["measure"][cand].tolist())
        cand = cand[c["measure"][cand] == m]
        sel = _one_per_study(cand, c["study_id"], c["vi"])
        out["k"] = len(sel)
        left = n_records - len(sel)
        out["basis"] = (
            f"{_TIER_LABEL[tier]} studies with results, measure {m}: "
            f"{_records_text(len(sel))} pooled"
            + (f"; {_records_text(left)} not pooled (other design tier, measure, no numeric "
               "result, or a second comparison of the same study)" if left else "")
        )
    else:
        tier = _first_max_tier(c["tier"])
        sel = np.array([], dtype=np.intp)
        out["k"] = 0
        out["basis"] = (f"not estimable: none of the {_records_text(n_records)} has a numeric "
                        "result")
    out["tier"] = tier
    out["sel"] = sel
    out["tier_rows"] = np.flatnonzero(c["tier"] == tier) if not len(sel) else sel
    measure = c["measure"][sel[0]] if len(sel) else None
    out["measure"] = measure
    res = {"estimate": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan,
           "pi_low": math.nan, "pi_high": math.nan, "i2": math.nan, "tau2": math.nan,
           "q_p": math.nan}
    if len(sel) == 1:
        y, v = float(c["yi"][sel[0]]), float(c["vi"][sel[0]])
        se = math.sqrt(v)
        res.update(estimate=y, se=se, ci_low=y - z * se, ci_high=y + z * se)
        if not out["aggregate"]:
            out["basis"] = out["basis"].replace("1 record pooled", "single study")
    elif len(sel) > 1:
        from evidence import pool

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pr = pool(c["yi"][sel], c["vi"][sel], method=scheme.pool_method,
                      ci_method=scheme.ci_method, level=scheme.level)
        res.update(estimate=pr.estimate, se=pr.se, ci_low=pr.ci_low, ci_high=pr.ci_high,
                   pi_low=pr.pi_low, pi_high=pr.pi_high, i2=pr.i2, tau2=pr.tau2, q_p=pr.q_p)
        out["basis"] += f" ({pr.method} random effects)" if pr.method not in ("FE", "EE") else ""
    out.update(res)
    ns = c["n"][out["tier_rows"]]
    out["n_participants"] = float(np.nansum(ns)) if np.isfinite(ns).any() else math.nan
    counts = bool(len(sel)) and bool(c["is_counts"][sel].all())
    if counts:
        ev = c["events_int"][sel] + c["events_ctrl"][sel]
        out["n_events"] = _sum(ev) if np.isfinite(ev).all() else math.nan
        ec, nc = _sum(c["events_ctrl"][sel]), _sum(c["n_ctrl"][sel])
        out["control_risk"] = ec / nc if nc and math.isfinite(ec / nc) else math.nan
    else:
        out["n_events"] = math.nan
        out["control_risk"] = math.nan
    for col, src in (("n_int_total", "n_int"), ("n_ctrl_total", "n_ctrl"),
                     ("events_int_total", "events_int"), ("events_ctrl_total", "events_ctrl")):
        vals = c[src][sel]
        ok = bool(len(vals)) and bool(np.isfinite(vals).all())
        if src.startswith("events") and not counts:
            ok = False
        out[col] = _sum(vals) if ok else math.nan
    return out


def _column(eff: pd.DataFrame, name: str) -> pd.Series | None:
    return eff[name] if name in eff.columns else None


def _objects(series: pd.Series | None, n: int) -> np.ndarray:
    """The cells as an object array (each distinct text is one Python object)."""
    if series is None:
        return np.full(n, None, dtype=object)
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = np.asarray([*series.cat.categories.astype(object).tolist(), math.nan],
                          dtype=object)
        return cats[series.cat.codes.to_numpy()]
    if isinstance(series.dtype, np.dtype):
        return series.to_numpy()
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    return np.asarray(uniques, dtype=object)[codes]


def _floats(series: pd.Series | None, n: int) -> np.ndarray:
    """The cells as floats (NaN when missing or not a number), as ``_num`` reads them."""
    if series is None:
        return np.full(n, math.nan)
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=float, na_value=math.nan)
    return np.array([_num(v) for v in series.tolist()], dtype=float)


def _per_value(series: pd.Series | None, n: int, func, default) -> np.ndarray:
    """``func`` applied to each distinct cell (not to each row), spread back to the rows."""
    if series is None:
        return np.full(n, default, dtype=object)
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    table = np.empty(len(uniques), dtype=object)
    table[:] = [func(u) for u in uniques.tolist()]
    return table[codes]


def _record_arrays(eff: pd.DataFrame) -> dict[str, np.ndarray]:
    """The per-record quantities the body rules read, computed once for the whole table.

    * ``tier``: in vitro for the in vitro stream; a meta-analysis record is randomised when
      ``randomised``, else non-randomised (animal: pooled controlled experiments) or an
      aggregate of other designs; an animal record is randomised, uncontrolled (``controlled``
      false) or non-randomised; a human record is uncontrolled (case series/report,
      adverse-event report, ``controlled`` false or single-arm data), else randomised or not.
    * ``measure``: ``measure``, or the default of the ``data_type`` when it is missing.
    * ``n``: participants, ``n_int + n_ctrl`` (the larger one for within-subject designs),
      else ``n_total``, else ``n_int``.

    Booleans are read with :func:`_bool`, numbers with :func:`_num`, one distinct value at a
    time.
    """
    n = len(eff)

    def obj(name: str) -> np.ndarray:
        return _objects(_column(eff, name), n)

    def flt(name: str) -> np.ndarray:
        return _floats(_column(eff, name), n)

    def flag(name: str) -> np.ndarray:  # True / False / None
        return _per_value(_column(eff, name), n, _bool, None)

    stream, model, data_type = obj("stream"), obj("model"), obj("data_type")
    is_meta = model == "meta_analysis"
    rand, ctrl = flag("randomised") == True, flag("controlled") == False  # noqa: E712
    uncontrolled = np.isin(model, _UNCONTROLLED_MODELS) | ctrl | (data_type == "single_arm")
    tier = np.select(
        [stream == "in_vitro", is_meta & rand, is_meta & (stream == "animal"), is_meta,
         (stream == "animal") & rand, (stream == "animal") & ctrl, stream == "animal",
         uncontrolled, rand],
        ["in_vitro", "randomised", "non_randomised", "aggregate_other", "randomised",
         "uncontrolled", "non_randomised", "uncontrolled", "randomised"],
        "non_randomised",
    ).astype(object)
    measure = _per_value(_column(eff, "measure"), n,
                         lambda m: None if _missing(m) else str(m), None)
    default = np.array([_DEFAULT_MEASURE.get(d) for d in data_type.tolist()], dtype=object) \
        if (measure == None).any() else None  # noqa: E711
    if default is not None:
        measure = np.where(measure == None, default, measure)  # noqa: E711
    n_int, n_ctrl, n_total = flt("n_int"), flt("n_ctrl"), flt("n_total")
    both = np.isfinite(n_int) & np.isfinite(n_ctrl)
    within = flag("within_subject") == True  # noqa: E712
    n_rec = np.where(both, np.where(within, np.fmax(n_int, n_ctrl), n_int + n_ctrl),
                     np.where(np.isfinite(n_total), n_total,
                              np.where(np.isfinite(n_int), n_int, math.nan)))
    yi, vi = flt("yi"), flt("vi")
    with np.errstate(invalid="ignore"):
        numeric = np.isfinite(yi) & np.isfinite(vi) & (vi > 0)
    registered = ~_per_value(_column(eff, "registry_id"), n, _missing, True).astype(bool)
    return {
        "tier": tier, "measure": measure, "n": n_rec, "numeric": numeric, "yi": yi, "vi": vi,
        "is_meta": is_meta, "is_counts": data_type == "counts",
        "unreported_registered": (data_type == "none") & registered,
        "k_studies": flt("k_studies"), "year": flt("year"), "dose": flt("dose"),
        "events_int": flt("events_int"), "events_ctrl": flt("events_ctrl"),
        "n_int": n_int, "n_ctrl": n_ctrl, "study_id": obj("study_id"),
        "outcome_kind": obj("outcome_kind"), "intervention": obj("intervention"),
        "comparator": obj("comparator"), "rob_class": obj("_rob_class"),
    }


def _bodies(eff: pd.DataFrame):
    """Yield ``((indication, outcome, stream), arrays)`` in sorted key order, each body's
    records in row order as aligned arrays (see :func:`_record_arrays`)."""
    n = len(eff)
    if not n:
        return
    codes = np.zeros(n, dtype=np.int64)
    for name in ("_indication", "outcome", "stream"):
        c, uniq = pd.factorize(eff[name].astype(object), use_na_sentinel=False)
        text = [str(u) for u in uniq]  # the key is the str() of the cell, as before
        c2, utext = pd.factorize(np.asarray(text, dtype=object)[c])
        codes = pd.factorize(codes * (len(utext) + 1) + c2)[0]  # stays < n: no overflow
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    keys = []
    for pos in np.split(order, bounds):
        i = pos[0]
        keys.append((tuple(str(eff[name].iloc[i]) for name in ("_indication", "outcome",
                                                               "stream")), pos))
    arrays = _record_arrays(eff)
    for key, pos in sorted(keys, key=lambda kp: kp[0]):
        yield key, {name: values[pos] for name, values in arrays.items()}


def _natural(measure: str | None, x: float) -> float:
    if measure in _RATIO and math.isfinite(x):
        return math.exp(x)
    if measure == "PLO" and math.isfinite(x):
        return 1.0 / (1.0 + math.exp(-x))
    return x


def grade(
    studies: pd.DataFrame,
    *,
    scheme: Scheme | str | None = None,
    question: str | None = "human",
    overrides=None,
) -> pd.DataFrame:
    """Rate the certainty of every body of evidence (indication x outcome x stream).

    Parameters
    ----------
    studies : DataFrame
        The accepted study sheet (columns of :mod:`evidence.schema`).  If it has no ``yi``/``vi``
        columns, :func:`evidence.study_effects` adds them.
    scheme : Scheme, TOML text or path, optional
        Thresholds and defaults (see :class:`grading.scheme.Scheme`); default ``Scheme()``.
    question : {"human", None}
        ``"human"``: the review question is about humans, so animal and in vitro bodies also get
        ``translational_indirectness`` (scheme ``translational_animal`` /
        ``translational_in_vitro``).  ``None``: each stream is rated for its own question.
    overrides : DataFrame or list of dict, optional
        Reviewer judgements with ``indication``, ``outcome`` (optional), ``stream`` (optional),
        ``domain``, ``step`` (integer), ``reason`` (mandatory) and ``by``.  An override that
        matches no body raises.

    Returns
    -------
    DataFrame
        One row per indication x outcome x stream, sorted by those keys:

        ``indication, outcome, stream``
            The body's keys (indication from ``indication_label`` where given).
        ``outcome_kind``
            benefit or harm.
        ``intervention, comparator``
            Most common values in the body (used in the statement).
        ``design``
            Design tier that carries the estimate and sets the starting level.
        ``k``
            Studies behind the estimate (``k_studies`` for an aggregate record; 0 if none).
        ``k_records``
            Rows in the body (all designs, with or without results).
        ``n_participants, n_events``
            Participants (animals, replicates) and total events behind the estimate (events
            only when every pooled record has counts).
        ``n_int_total, n_ctrl_total, events_int_total, events_ctrl_total, control_risk``
            Per-arm sums over the pooled records (NaN when any is missing) and the pooled
            control-group risk (events_ctrl / n_ctrl, counts only).
        ``measure, estimate, se, ci_low, ci_high, pi_low, pi_high, i2, tau2``
            Pooled result; **log scale for RR/OR/HR/ROM** (and log odds for PLO).  NaN when
            not estimable; heterogeneity NaN for k = 1 or an aggregate record.
        ``estimate_natural, ci_low_natural, ci_high_natural``
            The same on the natural scale (exp for ratio measures, proportion for PLO).
        ``estimable``
            False when no record has a numeric result (imprecision is then rated
            ``imprecision_not_estimable`` and the statement says "not estimable").
        ``estimate_basis``
            Which records were pooled and why others were not.
        ``study_ids``
            Studies behind the estimate ('; '-separated).
        ``starting_level, starting_level_source``
            Starting certainty and the scheme setting + citation that set it.
        for each domain in risk_of_bias, inconsistency, indirectness, imprecision,
        publication_bias, translational_indirectness, large_effect, dose_response,
        plausible_confounding:
            ``<domain>`` final integer step (0/-1/-2/-3 down, 0/+1/+2 up);
            ``<domain>_suggested`` the rule's step; ``<domain>_reason`` why, with the numbers;
            ``<domain>_source`` the rule's citation; ``<domain>_override_by`` reviewer or None.
        ``total_down, total_up``
            Sums of the final down steps (including translational) and up steps.
        ``certainty_within_stream``
            Starting level + within-stream steps (no translational step), clamped to
            very low..high.
        ``certainty, certainty_score, certainty_symbols``
            Certainty for ``question`` (all steps), 1-4, and ⊕ symbols.
        ``statement``
            GRADE 26 informative statement for ``certainty``.

    Notes
    -----
    Up-rating (large effect, dose-response, plausible confounding) is suggested only for
    non-randomised bodies with no within-stream down-rating (Core GRADE 1; PMC6692166 [V]);
    otherwise the suggestion is 0 and the reason says what the rule would have given.
    """
    scheme = load_scheme(scheme)
    if question not in ("human", None):
        raise InvalidParameterError(
            f"The 'question' argument of grade() must be one of ['human', None]. Got {question!r}."
        )
    check_frame(studies, "studies", "grade", what="a DataFrame")
    for col in _REQUIRED:
        if col not in studies.columns:
            raise ValidationError(f"grade() needs column {col!r} in 'studies' (missing).")
    ov = _overrides_frame(overrides)
    if "yi" in studies.columns and "vi" in studies.columns:
        eff = studies.copy(deep=False)  # copy-on-write: columns added below stay ours
    else:
        from evidence import study_effects

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eff = study_effects(studies)
    from evidence.schema import indication_key

    eff = eff.copy(deep=False)
    eff["_indication"] = indication_key(eff).to_numpy()
    if "study_id" not in eff.columns:
        eff["study_id"] = [f"row {i}" for i in range(len(eff))]
    rob = assess_rob(eff)
    eff["_rob_class"] = rob["overall_class"].to_numpy()
    bad = eff["stream"].map(lambda s: s not in ("human", "animal", "in_vitro"))
    if bad.any():
        i = bad.to_numpy().nonzero()[0][0]
        raise ValidationError(
            f"grade(): column 'stream' row {eff.index[i]!r} has {eff['stream'].iloc[i]!r}; "
            "expected one of ['in_vitro', 'animal', 'human']."
        )
    out_rows = []
    used_overrides: set[int] = set()
    for key, g in _bodies(eff):
        ind, outcome, stream = key
        body = _body(g, scheme)
        start, start_src = _start(stream, body["tier"], scheme)
        sel = body["sel"]
        j: dict[str, Judgement] = {}
        # risk of bias
        rrows = sel if len(sel) else body["tier_rows"]
        classes = g["rob_class"][rrows].tolist()
        if len(sel):
            tau2 = body["tau2"] if math.isfinite(body["tau2"]) else 0.0
            weights = [1.0 / (v + tau2) for v in g["vi"][sel].tolist()]
            wk = "inverse-variance weight" if len(sel) > 1 else "weight (single record)"
        else:
            weights = g["n"][rrows].tolist()
            wk = "participants"
        j["risk_of_bias"] = judge_risk_of_bias(classes, weights, scheme, weight_kind=wk)
        ys = g["yi"][sel].tolist()
        vs = g["vi"][sel].tolist()
        j["inconsistency"] = judge_inconsistency(
            ys, i2=body["i2"], q_p=body["q_p"], ci_low=body["ci_low"], ci_high=body["ci_high"],
            pi_low=body["pi_low"], pi_high=body["pi_high"], measure=body["measure"] or "",
            scheme=scheme, aggregate=body["aggregate"],
        )
        j["indirectness"] = judge_indirectness(stream, scheme)
        j["imprecision"] = judge_imprecision(
            measure=body["measure"], estimate=body["estimate"], ci_low=body["ci_low"],
            ci_high=body["ci_high"], n_events=body["n_events"],
            n_participants=body["n_participants"], k=body["k"], scheme=scheme,
            level=scheme.level, n_records=body["n_records"],
        )
        n_unrep = int(g["unreported_registered"].sum())
        j["publication_bias"] = judge_publication_bias(
            ys, vs, scheme, aggregate=body["aggregate"], n_unreported_registered=n_unrep
        )
        j["translational_indirectness"] = judge_translational(stream, question, scheme)
        j["large_effect"] = judge_large_effect(
            measure=body["measure"], estimate=body["estimate"], ci_low=body["ci_low"],
            ci_high=body["ci_high"], control_risk=body["control_risk"], scheme=scheme,
        )
        doses = g["dose"][sel].tolist()
        j["dose_response"] = judge_dose_response(
            ys, vs, doses, pooled_estimate=body["estimate"], scheme=scheme
        )
        j["plausible_confounding"] = judge_plausible_confounding(scheme)

        row: dict = {
            "indication": ind,
            "outcome": outcome,
            "stream": stream,
            "outcome_kind": _mode(g["outcome_kind"].tolist()),
            "intervention": _mode(g["intervention"].tolist()),
            "comparator": _mode(g["comparator"].tolist()),
            "design": _TIER_LABEL[body["tier"]],
            "k": body["k"],
            "k_records": body["n_records"],
            "n_participants": body["n_participants"],
            "n_events": body["n_events"],
            "n_int_total": body["n_int_total"],
            "n_ctrl_total": body["n_ctrl_total"],
            "events_int_total": body["events_int_total"],
            "events_ctrl_total": body["events_ctrl_total"],
            "control_risk": body["control_risk"],
            "measure": body["measure"],
            "estimate": body["estimate"],
            "se": body["se"],
            "ci_low": body["ci_low"],
            "ci_high": body["ci_high"],
            "pi_low": body["pi_low"],
            "pi_high": body["pi_high"],
            "i2": body["i2"],
            "tau2": body["tau2"],
            "estimate_natural": _natural(body["measure"], body["estimate"]),
            "ci_low_natural": _natural(body["measure"], body["ci_low"]),
            "ci_high_natural": _natural(body["measure"], body["ci_high"]),
            "estimable": bool(len(sel)),
            "estimate_basis": body["basis"],
            "study_ids": "; ".join(
                str(x) for x in g["study_id"][sel if len(sel) else body["tier_rows"]].tolist()),
            "starting_level": start,
            "starting_level_source": start_src,
        }
        final: dict[str, int] = {}
        by: dict[str, str | None] = {}
        reason: dict[str, str] = {}
        source: dict[str, str] = {}

        for d in (*DOWN_DOMAINS, "translational_indirectness"):
            final[d], by[d], reason[d], source[d] = _apply_overrides(
                d, j[d], ov, key, used_overrides)
        within_down = sum(final[d] for d in DOWN_DOMAINS)
        eligible = True
        why = ""
        if body["tier"] == "randomised" and scheme.uprate_non_randomised_only:
            eligible, why = False, "randomised body (up-rating is for non-randomised evidence)"
        elif within_down < 0:
            rated = [d for d in DOWN_DOMAINS if final[d] < 0]
            eligible, why = False, f"body already rated down ({', '.join(rated)})"
        elif not len(sel):
            eligible, why = False, "not estimable"
        for d in UP_DOMAINS:
            if not eligible and j[d].step != 0:
                j[d] = Judgement(
                    0,
                    f"not applied: {why}; the rule would give {j[d].step:+d} ({j[d].reason})",
                    f"{scheme.source('uprate_non_randomised_only')}; {j[d].source}",
                )
            elif not eligible:
                j[d] = Judgement(0, f"not applied: {why} ({j[d].reason})", j[d].source)
            final[d], by[d], reason[d], source[d] = _apply_overrides(
                d, j[d], ov, key, used_overrides)
        for d in ALL_DOMAINS:
            row[d] = final[d]
            row[f"{d}_suggested"] = j[d].step
            row[f"{d}_reason"] = reason[d]
            row[f"{d}_source"] = source[d]
            row[f"{d}_override_by"] = by[d]
        total_down = sum(final[d] for d in (*DOWN_DOMAINS, "translational_indirectness"))
        total_up = sum(final[d] for d in UP_DOMAINS)
        s0 = LEVEL_SCORE[start]
        within = int(min(4, max(1, s0 + within_down + total_up)))
        score = int(min(4, max(1, s0 + total_down + total_up)))
        level = LEVELS[score - 1]
        row["total_down"] = total_down
        row["total_up"] = total_up
        row["certainty_within_stream"] = LEVELS[within - 1]
        row["certainty"] = level
        row["certainty_score"] = score
        row["certainty_symbols"] = LEVEL_SYMBOLS[level]
        row["statement"] = informative_statement(
            level,
            intervention=row["intervention"] or "the intervention",
            outcome=outcome,
            measure=body["measure"],
            estimate=body["estimate"],
            ci_low=body["ci_low"],
            ci_high=body["ci_high"],
            stream=stream,
        )
        out_rows.append(row)
    unused = sorted(set(range(len(ov))) - used_overrides)
    if unused:
        o = ov.iloc[unused[0]]
        raise InvalidParameterError(
            f"Override {unused[0]} (indication {o['indication']!r}, outcome "
            f"{None if _missing(o.get('outcome')) else o['outcome']!r}, stream "
            f"{None if _missing(o.get('stream')) else o['stream']!r}, domain {o['domain']!r}) "
            "matches no body of evidence."
        )
    cols = list(GRADE_COLUMNS)
    for d in ALL_DOMAINS:
        cols += [d, f"{d}_suggested", f"{d}_reason", f"{d}_source", f"{d}_override_by"]
    cols += ["total_down", "total_up", "certainty_within_stream", "certainty",
             "certainty_score", "certainty_symbols", "statement"]
    frame = pd.DataFrame(out_rows, columns=cols)
    for d in ALL_DOMAINS:
        frame[d] = frame[d].astype("int64")
        frame[f"{d}_suggested"] = frame[f"{d}_suggested"].astype("int64")
    return frame.reset_index(drop=True)
