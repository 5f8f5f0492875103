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
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from evidence._codes import combine, group_positions
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
from grading.rob import rob_classes
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
_TIERS: tuple[str, ...] = tuple(_TIER_RANK)  # a record's tier is a code into this
_TIER_RANKS = np.array([_TIER_RANK[t] for t in _TIERS])
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


def _apply_overrides(domain: str, jd: Judgement, ov: list[tuple[int, pd.Series]],
                     key: tuple[str, str, str], used: set[int]) -> tuple[int, str | None, str, str]:
    """``ov``: the rows of :func:`_overrides_frame`, as ``iterrows()`` gives them."""
    step, who_final, reason = jd.step, None, jd.reason
    for i, o in ov:
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


def _tier(r: Mapping) -> str:
    """The design tier of one record (see :class:`_Records`)."""
    stream, model = r.get("stream"), r.get("model")
    rand, ctrl = _bool(r.get("randomised")), _bool(r.get("controlled"))
    if stream == "in_vitro":
        return "in_vitro"
    if model == "meta_analysis":
        if rand:
            return "randomised"
        # preclinical meta-analyses pool controlled experiments by construction
        return "non_randomised" if stream == "animal" else "aggregate_other"
    if stream == "animal":
        if rand:
            return "randomised"
        return "uncontrolled" if ctrl is False else "non_randomised"
    if model in _UNCONTROLLED_MODELS or ctrl is False or r.get("data_type") == "single_arm":
        return "uncontrolled"
    return "randomised" if rand else "non_randomised"


def _values(series: pd.Series):
    """The column's values without a copy: a numpy array or a pandas extension array."""
    return series.to_numpy() if isinstance(series.dtype, np.dtype) else series.array


def _mode_code(codes: np.ndarray) -> int:
    """The most common of ``codes`` >= 0 (-1 when there is none); ties: the one seen first."""
    codes = codes[codes >= 0]
    if not len(codes):
        return -1
    counts = np.bincount(codes)
    top = np.flatnonzero(counts == counts.max())
    if len(top) > 1:
        return int(codes[np.isin(codes, top)][0])
    return int(top[0])


class _Records:
    """The records of the whole table, read the way the body rules read one record.

    The quantities every body needs are computed once for the table as compact columns
    (codes and flags, one value per record):

    * ``tier``: in vitro for the in vitro stream; a meta-analysis record is randomised when
      ``randomised``, else non-randomised (animal: pooled controlled experiments) or an
      aggregate of other designs; an animal record is randomised, uncontrolled (``controlled``
      false) or non-randomised; a human record is uncontrolled (case series/report,
      adverse-event report, ``controlled`` false or single-arm data), else randomised or not.
    * ``measure``: ``measure``, or the default of the ``data_type`` when it is missing.
    * ``numeric``: finite ``yi`` and ``vi`` with ``vi > 0``.

    Other cells are read at the positions a body asks for (its selected records).  Booleans
    are read with :func:`_bool`, numbers with :func:`_num` and text with ``str`` (missing per
    :func:`_missing`), each distinct cell once.
    """

    def __init__(self, eff: pd.DataFrame, rob: pd.Categorical) -> None:
        self.eff = eff
        self.n = len(eff)
        self._columns: dict[str, pd.Series | None] = {}
        self._float_columns: dict[str, np.ndarray] = {}
        self._participants: np.ndarray | None = None
        self.yi = self.floats("yi", slice(None))
        self.vi = self.floats("vi", slice(None))
        with np.errstate(invalid="ignore"):
            self.numeric = np.isfinite(self.yi) & np.isfinite(self.vi) & (self.vi > 0)
        self._design()
        self.measure, self.measure_labels = self._measures()
        self.within = self._flags("within_subject")
        self.rob_codes = np.asarray(rob.codes)
        self.rob_labels = np.asarray(rob.categories, dtype=str)
        self.texts = {name: self.text_codes(name)
                      for name in ("outcome_kind", "intervention", "comparator")}

    # -- reading cells

    def column(self, name: str) -> pd.Series | None:
        if name not in self._columns:  # DataFrame.__getitem__ builds a new Series each time
            self._columns[name] = self.eff[name] if name in self.eff.columns else None
        return self._columns[name]

    def factorized(self, name: str) -> tuple[np.ndarray, list]:
        """Codes of the column's distinct cells (the missing ones are one of them) and the
        distinct cells; the column must exist."""
        codes, uniques = pd.factorize(_values(self.column(name)), use_na_sentinel=False)
        return codes, uniques.tolist()

    def cells(self, name: str, pos) -> list:
        """The cells at ``pos`` as Python objects (None where the column is missing)."""
        series = self.column(name)
        if series is None:
            return [None] * len(pos)
        return _values(series)[pos].tolist()

    def floats(self, name: str, pos, *, keep: bool = True) -> np.ndarray:
        """The cells at ``pos`` as :func:`_num` reads them (NaN where the column is missing).

        Other than numpy columns are converted whole, once (``keep``): indexing extension
        arrays body by body is slow.
        """
        series = self.column(name)
        if series is None:
            return np.full(self.n if isinstance(pos, slice) else len(pos), math.nan)
        if isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":
            return series.to_numpy()[pos].astype(float, copy=False)
        if name in self._float_columns:
            return self._float_columns[name][pos]
        dtype = series.dtype
        if not isinstance(dtype, pd.CategoricalDtype) and (
                pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            values = series.to_numpy(dtype=float, na_value=math.nan)
        else:  # text, categories, objects: each distinct cell once
            codes, cells = self.factorized(name)
            values = np.array([_num(v) for v in cells], dtype=float)[codes]
        if keep:
            self._float_columns[name] = values
        return values[pos]

    def _flags(self, name: str) -> np.ndarray:
        """Records whose cell :func:`_bool` reads as True."""
        if name not in self.eff.columns:
            return np.zeros(self.n, dtype=bool)
        codes, uniques = self.factorized(name)
        return np.array([_bool(v) is True for v in uniques], dtype=bool)[codes]

    def text_codes(self, name: str) -> tuple[np.ndarray, list[str]]:
        """Codes of the cells' texts (``str(cell)``; -1 when missing) and the texts."""
        series = self.column(name)
        if series is None:
            return np.full(self.n, -1, dtype=np.int32), []
        codes, cells = self.factorized(name)
        if series.dtype == object and any(not isinstance(v, str) and not _missing(v)
                                          for v in cells):
            # factorize merges equal cells of other types (1, 1.0, True) of other texts
            codes, cells = np.arange(self.n), series.tolist()
        texts = np.array([None if _missing(v) else str(v) for v in cells], dtype=object)
        text_codes, labels = pd.factorize(texts)
        return text_codes.astype(np.int32)[codes], labels.tolist()

    # -- whole-table columns

    def _design(self) -> None:
        """``tier`` (codes into :data:`_TIERS`), ``is_meta``, ``is_counts`` and
        ``unreported_registered``, judged once per distinct design cells."""
        names = [c for c in ("stream", "model", "randomised", "controlled", "data_type")
                 if c in self.eff.columns]
        combo, first = combine([self.factorized(c)[0] for c in names])
        cells = {c: self.cells(c, first) for c in names}
        tiers, meta, counts, none = [], [], [], []
        for i in range(len(first)):
            r = {c: cells[c][i] for c in names}
            tiers.append(_TIERS.index(_tier(r)))
            meta.append(bool(r.get("model") == "meta_analysis"))
            counts.append(bool(r.get("data_type") == "counts"))
            none.append(bool(r.get("data_type") == "none"))
        self.tier = np.array(tiers, dtype=np.int8)[combo]
        self.is_meta = np.array(meta, dtype=bool)[combo]
        self.is_counts = np.array(counts, dtype=bool)[combo]
        # registered trials without results (possible non-reporting)
        self.unreported_registered = np.array(none, dtype=bool)[combo]
        if "registry_id" not in self.eff.columns:
            self.unreported_registered[:] = False
        elif self.unreported_registered.any():
            rows = np.flatnonzero(self.unreported_registered)
            c, uniques = pd.factorize(_values(self.column("registry_id"))[rows],
                                      use_na_sentinel=False)
            missing = np.array([_missing(v) for v in uniques.tolist()], dtype=bool)
            self.unreported_registered[rows[missing[c]]] = False

    def _measures(self) -> tuple[np.ndarray, list[str]]:
        """Codes of each record's measure (-1: none) and the measures."""
        text, labels = self.text_codes("measure")
        dt_codes, data_types = self.factorized("data_type")
        default = [_DEFAULT_MEASURE.get(d) for d in data_types]
        all_labels = np.array([*labels, *default], dtype=object)
        codes = np.where(text >= 0, text, len(labels) + dt_codes)
        # the same text is the same measure, whether given or the default
        label_codes, measures = pd.factorize(all_labels)
        return label_codes.astype(np.int32)[codes], measures.tolist()

    def participants(self, pos: np.ndarray) -> np.ndarray:
        """Participants per record: ``n_int + n_ctrl`` (the larger one for within-subject
        designs), else ``n_total``, else ``n_int``."""
        if self._participants is None:
            a, b = self.floats("n_int", slice(None)), self.floats("n_ctrl", slice(None))
            total = self.floats("n_total", slice(None), keep=False)
            paired = np.where(b > a, b, a)  # max(a, b), the first on ties
            self._participants = np.where(
                np.isfinite(a) & np.isfinite(b), np.where(self.within, paired, a + b),
                np.where(np.isfinite(total), total, np.where(np.isfinite(a), a, math.nan)))
        return self._participants[pos]

    def mode(self, name: str, pos: np.ndarray) -> str | None:
        """The most common text of the column at ``pos`` (ties: the first seen)."""
        codes, labels = self.texts[name]
        code = _mode_code(codes[pos])
        return labels[code] if code >= 0 else None


def _first_max_tier(tiers: np.ndarray) -> int:
    """The best design tier present; between tiers of equal rank, the first seen."""
    ranks = _TIER_RANKS[tiers]
    return int(tiers[np.argmax(ranks)])


def _one_per_study(rec: _Records, cand: np.ndarray) -> tuple[np.ndarray, list]:
    """One record per study, the most precise (smallest ``vi``; first on ties), studies in
    order of first appearance (several comparisons may share a control group); and their
    study ids.  Ids are one study when they are equal as dict keys."""
    ids = rec.cells("study_id", cand)
    if len(set(ids)) == len(ids):  # every record its own study
        return cand, ids
    keys: dict = {}
    codes = np.array([keys.setdefault(i, len(keys)) for i in ids])
    order = np.lexsort((rec.vi[cand], codes))  # stable: the first on ties
    first = np.ones(len(order), dtype=bool)
    first[1:] = codes[order][1:] != codes[order][:-1]
    keep = order[first]
    return cand[keep], [ids[i] for i in keep.tolist()]


def _sum(values: np.ndarray) -> float:
    """Left-to-right sum, as Python's ``sum`` (numpy sums pairwise: other last bits)."""
    return float(sum(values.tolist()))


def _aggregate(rec: _Records, agg: np.ndarray, n_records: int) -> dict:
    """The aggregate record with the most studies (then the latest; first on ties)."""
    k = rec.floats("k_studies", agg)
    year = rec.floats("year", agg)
    k0, year0 = np.where(np.isfinite(k), k, 0), np.where(np.isfinite(year), year, 0)
    top = k0 == k0.max()
    i = int(np.flatnonzero(top & (year0 == year0[top].max()))[0])
    kk = float(k[i])
    k_out = int(kk) if math.isfinite(kk) else 1
    ids = rec.cells("study_id", agg[i:i + 1])
    basis = (
        f"aggregate record {ids[0]} (k_studies = "
        f"{k_out if math.isfinite(kk) else 'not recorded'})"
        + (f"; {_records_text(n_records - 1)} not pooled with it (may be inside it)"
           if n_records > 1 else "")
    )
    return {"sel": agg[i:i + 1], "ids": ids, "tier": int(rec.tier[agg[i]]), "aggregate": True,
            "k": k_out, "basis": basis}


def _primary(rec: _Records, num: np.ndarray, n_records: int) -> dict:
    """The records of the best design tier with results and their most common measure, one
    per study."""
    tier = _first_max_tier(rec.tier[num])
    cand = num[rec.tier[num] == tier]
    m = _mode_code(rec.measure[cand])
    cand = cand[rec.measure[cand] == m]
    sel, ids = _one_per_study(rec, cand)
    left = n_records - len(sel)
    basis = (
        f"{_TIER_LABEL[_TIERS[tier]]} studies with results, measure "
        f"{rec.measure_labels[m] if m >= 0 else None}: {_records_text(len(sel))} pooled"
        + (f"; {_records_text(left)} not pooled (other design tier, measure, no numeric "
           "result, or a second comparison of the same study)" if left else "")
    )
    return {"sel": sel, "ids": ids, "tier": tier, "aggregate": False, "k": len(sel),
            "basis": basis}


def _pooled(rec: _Records, sel: np.ndarray, scheme: Scheme, z: float) -> dict:
    """Estimate, interval and heterogeneity of the selected records."""
    res = {"estimate": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan,
           "pi_low": math.nan, "pi_high": math.nan, "i2": math.nan, "tau2": math.nan,
           "q_p": math.nan, "method": None}
    if len(sel) == 1:
        y, v = float(rec.yi[sel[0]]), float(rec.vi[sel[0]])
        se = math.sqrt(v)
        res.update(estimate=y, se=se, ci_low=y - z * se, ci_high=y + z * se)
    elif len(sel) > 1:
        from evidence import pool

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pr = pool(rec.yi[sel], rec.vi[sel], method=scheme.pool_method,
                      ci_method=scheme.ci_method, level=scheme.level)
        res.update(estimate=pr.estimate, se=pr.se, ci_low=pr.ci_low, ci_high=pr.ci_high,
                   pi_low=pr.pi_low, pi_high=pr.pi_high, i2=pr.i2, tau2=pr.tau2, q_p=pr.q_p,
                   method=pr.method)
    return res


def _totals(rec: _Records, sel: np.ndarray, tier_rows: np.ndarray) -> dict:
    """Participants behind the estimate, events and per-arm sums of the selected records."""
    out: dict = {}
    ns = rec.participants(tier_rows)
    out["n_participants"] = float(np.nansum(ns)) if np.isfinite(ns).any() else math.nan
    counts = bool(len(sel)) and bool(rec.is_counts[sel].all())
    arms = {c: rec.floats(c, sel) for c in ("n_int", "n_ctrl", "events_int", "events_ctrl")}
    if counts:
        ev = arms["events_int"] + arms["events_ctrl"]
        out["n_events"] = _sum(ev) if np.isfinite(ev).all() else math.nan
        ec, nc = _sum(arms["events_ctrl"]), _sum(arms["n_ctrl"])
        out["control_risk"] = ec / nc if nc and math.isfinite(ec / nc) else math.nan
    else:
        out["n_events"] = math.nan
        out["control_risk"] = math.nan
    for col, src in (("n_int_total", "n_int"), ("n_ctrl_total", "n_ctrl"),
                     ("events_int_total", "events_int"), ("events_ctrl_total", "events_ctrl")):
        vals = arms[src]
        ok = bool(len(vals)) and bool(np.isfinite(vals).all())
        if src.startswith("events") and not counts:
            ok = False
        out[col] = _sum(vals) if ok else math.nan
    return out


def _body(rec: _Records, pos: np.ndarray, scheme: Scheme, z: float) -> dict:
    """Choose the records of the body at rows ``pos`` that carry the estimate and pool them.

    The returned ``sel`` and ``tier_rows`` are row positions, ``tier`` a code into
    :data:`_TIERS`.
    """
    n_records = len(pos)
    num = pos[rec.numeric[pos]]
    agg = num[rec.is_meta[num]]
    if len(agg):
        out = _aggregate(rec, agg, n_records)
    elif len(num):
        out = _primary(rec, num, n_records)
    else:
        out = {"sel": np.array([], dtype=np.intp), "tier": _first_max_tier(rec.tier[pos]),
               "aggregate": False, "k": 0,
               "basis": f"not estimable: none of the {_records_text(n_records)} has a numeric "
                        "result"}
    sel = out["sel"]
    out["n_records"] = n_records
    if not len(sel):
        out["tier_rows"] = pos[rec.tier[pos] == out["tier"]]
        out["ids"] = rec.cells("study_id", out["tier_rows"])
    else:
        out["tier_rows"] = sel
    code = rec.measure[sel[0]] if len(sel) else -1
    out["measure"] = rec.measure_labels[code] if code >= 0 else None
    out.update(_pooled(rec, sel, scheme, z))
    if len(sel) == 1 and not out["aggregate"]:
        out["basis"] = out["basis"].replace("1 record pooled", "single study")
    elif len(sel) > 1 and out["method"] not in ("FE", "EE"):
        out["basis"] += f" ({out['method']} random effects)"
    out.update(_totals(rec, sel, out["tier_rows"]))
    return out


def _key_codes(series: pd.Series) -> np.ndarray:
    """Codes of ``str(cell)``, missing cells read as ``"nan"`` (as ``pd.factorize`` of the
    cells as objects gives them back)."""
    codes, uniques = pd.factorize(_values(series), use_na_sentinel=False)
    texts = ["nan" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
             else str(v) for v in uniques.tolist()]
    return pd.factorize(np.asarray(texts, dtype=object))[0][codes]


def _bodies(key_columns: list[pd.Series]) -> list[tuple[tuple[str, str, str], np.ndarray]]:
    """``((indication, outcome, stream), rows)`` per body in sorted key order, rows ascending;
    a key is the text of the body's first row (the body holds the cells of that text)."""
    n = len(key_columns[0])
    if not n:
        return []
    codes, first = combine([_key_codes(s) for s in key_columns])
    bodies = []
    for pos in group_positions(codes, len(first)):
        i = int(pos[0])
        bodies.append((tuple(str(s.iloc[i]) for s in key_columns), pos))
    return sorted(bodies, key=lambda kp: kp[0])


def _check_streams(stream: pd.Series, index: pd.Index) -> None:
    """Every record is of the human, animal or in vitro stream (each distinct cell checked once)."""
    codes, uniques = pd.factorize(_values(stream), use_na_sentinel=False)
    bad = np.array([s not in ("human", "animal", "in_vitro") for s in uniques.tolist()],
                   dtype=bool)[codes]
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"grade(): column 'stream' row {index[i]!r} has {stream.iloc[i]!r}; "
            "expected one of ['in_vitro', 'animal', 'human']."
        )


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
        eff = studies
    else:
        from evidence import study_effects

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eff = study_effects(studies)
    from evidence import _distributions as dist
    from evidence.schema import indication_key

    indication = indication_key(eff)
    if "study_id" not in eff.columns:
        eff = eff.assign(study_id=[f"row {i}" for i in range(len(eff))])
    rob = rob_classes(eff)
    _check_streams(eff["stream"], eff.index)
    rec = _Records(eff, rob)
    z = float(dist.norm_ppf(0.5 + scheme.level / 2))
    ov_rows = list(ov.iterrows())
    out_rows = []
    used_overrides: set[int] = set()
    for key, pos in _bodies([indication, eff["outcome"], eff["stream"]]):
        ind, outcome, stream = key
        body = _body(rec, pos, scheme, z)
        tier = _TIERS[body["tier"]]
        start, start_src = _start(stream, tier, scheme)
        sel = body["sel"]
        j: dict[str, Judgement] = {}
        # risk of bias
        rrows = sel if len(sel) else body["tier_rows"]
        classes = rec.rob_labels[rec.rob_codes[rrows]]
        if len(sel):
            tau2 = body["tau2"] if math.isfinite(body["tau2"]) else 0.0
            weights = 1.0 / (rec.vi[sel] + tau2)
            wk = "inverse-variance weight" if len(sel) > 1 else "weight (single record)"
        else:
            weights = rec.participants(rrows)
            wk = "participants"
        j["risk_of_bias"] = judge_risk_of_bias(classes, weights, scheme, weight_kind=wk)
        ys, vs = rec.yi[sel], rec.vi[sel]
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
        n_unrep = int(rec.unreported_registered[pos].sum())
        j["publication_bias"] = judge_publication_bias(
            ys, vs, scheme, aggregate=body["aggregate"], n_unreported_registered=n_unrep
        )
        j["translational_indirectness"] = judge_translational(stream, question, scheme)
        j["large_effect"] = judge_large_effect(
            measure=body["measure"], estimate=body["estimate"], ci_low=body["ci_low"],
            ci_high=body["ci_high"], control_risk=body["control_risk"], scheme=scheme,
        )
        doses = rec.floats("dose", sel)
        j["dose_response"] = judge_dose_response(
            ys, vs, doses, pooled_estimate=body["estimate"], scheme=scheme
        )
        j["plausible_confounding"] = judge_plausible_confounding(scheme)

        row: dict = {
            "indication": ind,
            "outcome": outcome,
            "stream": stream,
            "outcome_kind": rec.mode("outcome_kind", pos),
            "intervention": rec.mode("intervention", pos),
            "comparator": rec.mode("comparator", pos),
            "design": _TIER_LABEL[tier],
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
            "study_ids": "; ".join(map(str, body["ids"])),
            "starting_level": start,
            "starting_level_source": start_src,
        }
        final: dict[str, int] = {}
        by: dict[str, str | None] = {}
        reason: dict[str, str] = {}
        source: dict[str, str] = {}

        for d in (*DOWN_DOMAINS, "translational_indirectness"):
            final[d], by[d], reason[d], source[d] = _apply_overrides(
                d, j[d], ov_rows, key, used_overrides)
        within_down = sum(final[d] for d in DOWN_DOMAINS)
        eligible = True
        why = ""
        if tier == "randomised" and scheme.uprate_non_randomised_only:
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
                d, j[d], ov_rows, key, used_overrides)
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
