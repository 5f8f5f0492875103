"""The typed record of one body of evidence (indication x outcome x stream) as it is graded.

:func:`grading.grade` first selects and pools the body (every row of the best design tier with
results and their most common measure; an aggregate record alone when the body has one), then
judges it.  :class:`Body` carries what the judgement needs, instead of a loose dictionary.

Body of evidence (evigap conventions, documented here because GRADE gives no numeric rule):

* Records with a numeric result (finite ``yi``/``vi``) carry the estimate.  When the body has an
  aggregate record (``model == "meta_analysis"``) with a result, the one with the largest
  ``k_studies`` (then the latest) gives the estimate and primary studies are not pooled with it
  (they may be inside it: double counting).
* Otherwise every record of the best design tier with results (randomised > non-randomised >
  uncontrolled) and their most common measure is pooled.  Double-zero studies of a risk or
  odds ratio (no events in either arm, or events in every participant of both arms) are left
  out as not estimable, even when a zero-cell correction gave them numbers (Cochrane Handbook
  10.4.4.2; :mod:`grading.zero_cells`, the rule the forest plots use too); the basis names
  them.  Several records of one study
  (multiple comparisons, shared controls) are pooled with :func:`evidence.pool_clustered`
  (working random-effects model with the bias-reduced cluster-robust CR2 standard error by
  study and Satterthwaite degrees of freedom; Hedges, Tipton & Johnson 2010; Pustejovsky &
  Tipton 2018), never reduced to one silently.  See ``docs/grading.md`` for why this and not
  the three-level model.
* The starting level comes from that tier (see :class:`grading.scheme.Scheme`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from evidence import ClusteredPoolResult, PoolResult, pool, pool_clustered
from evidence.errors import EvidenceError, ValidationError
from evidence.internal import combine, group_positions
from evidence.measures import default_measure
from evidence.missing import is_blank
from grading import two_by_two as tbt
from grading.scheme import Scheme
from grading.two_by_two import (
    TWO_BY_TWO_SOURCE,
    inverse_variance_method,
    is_two_by_two,
    method_label,
)
from grading.zero_cells import DOUBLE_ZERO_MEASURES, DOUBLE_ZERO_SOURCE, double_zero_reasons

__all__ = ["Body", "make_body", "body_groups"]


@dataclass(frozen=True)
class Body:
    """One body of evidence after selection and pooling.

    Attributes
    ----------
    sel : ndarray
        Row positions (in the study table) of the records that carry the estimate.
    tier_rows : ndarray
        ``sel``, or the rows of the best design tier when nothing is estimable.
    ids : list
        Studies behind the estimate, in order of first appearance.
    row_ids : list or None
        Study id of each selected row (several rows may share one study).
    tier : int
        Design tier (code into :data:`TIERS`).
    aggregate : bool
        The estimate is one aggregate (meta-analysis) record.
    k, n_records : int
        Studies behind the estimate; rows in the body.
    basis : str
        Which rows were pooled, how, and why others were not.
    measure : str or None
    estimate, se, ci_low, ci_high, pi_low, pi_high, i2, tau2, q, q_p : float
        Pooled result (log scale for ratio measures); NaN where not available.
    q_df : float
        Degrees of freedom of Cochran's Q (NaN where not pooled).
    method : str or None
        tau2 estimator of the pooling as used (a fallback is named); None when not pooled.
    ci_method : str or None
        How the interval was computed: ``z``, ``hksj``, ``hksj_adhoc`` (:func:`evidence.pool`),
        ``z`` for a single record, ``CR2`` (cluster-robust with Satterthwaite df) for several
        rows per study; None when not estimable.
    clustered : bool
        Several rows per study pooled with a cluster-robust standard error.
    n_participants, n_events, control_risk, n_int_total, n_ctrl_total, events_int_total,
    events_ctrl_total : float
        Counts behind the estimate (NaN when not recorded).
    pool_error : str or None
        Why results that exist could not be pooled (the body is then not estimable).
    """

    sel: np.ndarray
    tier_rows: np.ndarray
    ids: list
    row_ids: list | None
    tier: int
    aggregate: bool
    k: int
    n_records: int
    basis: str
    measure: str | None
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    i2: float
    tau2: float
    q_p: float
    method: str | None
    clustered: bool
    n_participants: float
    n_events: float
    control_risk: float
    n_int_total: float
    n_ctrl_total: float
    events_int_total: float
    events_ctrl_total: float
    pool_error: str | None = None
    q: float = math.nan
    q_df: float = math.nan
    ci_method: str | None = None

    @property
    def estimable(self) -> bool:
        return bool(len(self.sel)) and bool(np.isfinite(self.estimate))

    @classmethod
    def from_parts(cls, parts: dict) -> Body:
        names = {f.name for f in fields(cls)}
        values: dict = {n: parts.get(n) for n in names}
        return cls(**values)


_UNCONTROLLED_MODELS = ("case_series", "case_report", "adverse_event_report")
_TIER_RANK = {
    "randomised": 3,
    "non_randomised": 2,
    "aggregate_other": 2,
    "uncontrolled": 1,
    "in_vitro": 0,
}
TIER_LABEL = {
    "randomised": "randomised",
    "non_randomised": "non-randomised",
    "aggregate_other": "aggregate record, design not randomised/unknown",
    "uncontrolled": "uncontrolled (case series/reports, single-arm)",
    "in_vitro": "in vitro",
}
TIERS: tuple[str, ...] = tuple(_TIER_RANK)  # a record's tier is a code into this
_TIER_RANKS = np.array([_TIER_RANK[t] for t in TIERS])


def _bool(v) -> bool | None:
    if is_blank(v):
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


def _records_text(n: int) -> str:
    return f"{n} record" + ("" if n == 1 else "s")


def tier_of(r: Mapping) -> str:
    """The design tier of one record (see :class:`Records`)."""
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


def _masked(series: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """The values and the missing-mask of a nullable numeric or boolean column (``Float64``,
    ``Int64``, ``boolean``) without a copy; None for other columns."""
    dtype = series.dtype
    if (
        isinstance(dtype, np.dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
    ):
        return None
    arr = series.array
    data, mask = getattr(arr, "_data", None), getattr(arr, "_mask", None)
    if not (
        isinstance(data, np.ndarray)
        and isinstance(mask, np.ndarray)
        and data.dtype.kind in "biuf"
        and mask.dtype == bool
        and data.shape == mask.shape
    ):
        return None
    return data, mask


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


class Records:
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
    :func:`evidence.missing.is_blank`), each distinct cell once.
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
        self.double_zero = self._double_zero()
        self.within = self._flags("within_subject")
        self.rob_codes = np.asarray(rob.codes)
        self.rob_labels = np.asarray(rob.categories, dtype=str)
        self.texts = {
            name: self.text_codes(name)
            for name in ("outcome_kind", "intervention", "comparator", "outcome_direction")
        }

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
        masked = _masked(series)
        if masked is not None:  # nullable numbers: read at ``pos`` only, no whole copy
            data, mask = masked
            values = data[pos].astype(float)
            values[mask[pos]] = math.nan
            return values
        dtype = series.dtype
        if not isinstance(dtype, pd.CategoricalDtype) and (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
        ):
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
        if series.dtype == object and any(
            not isinstance(v, str) and not is_blank(v) for v in cells
        ):
            # factorize merges equal cells of other types (1, 1.0, True) of other texts
            codes, cells = np.arange(self.n), series.tolist()
        texts = np.array([None if is_blank(v) else str(v) for v in cells], dtype=object)
        text_codes, labels = pd.factorize(texts)
        return text_codes.astype(np.int32)[codes], labels.tolist()

    # -- whole-table columns

    def _design(self) -> None:
        """``tier`` (codes into :data:`TIERS`), ``is_meta``, ``is_counts`` and
        ``unreported_registered``, judged once per distinct design cells."""
        names = [
            c
            for c in ("stream", "model", "randomised", "controlled", "data_type")
            if c in self.eff.columns
        ]
        combo, first = combine([self.factorized(c)[0] for c in names])
        cells = {c: self.cells(c, first) for c in names}
        tiers, meta, counts, none = [], [], [], []
        for i in range(len(first)):
            r = {c: cells[c][i] for c in names}
            tiers.append(TIERS.index(tier_of(r)))
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
            c, uniques = pd.factorize(
                _values(self.column("registry_id"))[rows], use_na_sentinel=False
            )
            missing = np.array([is_blank(v) for v in uniques.tolist()], dtype=bool)
            self.unreported_registered[rows[missing[c]]] = False

    def _measures(self) -> tuple[np.ndarray, list[str]]:
        """Codes of each record's measure (-1: none) and the measures."""
        text, labels = self.text_codes("measure")
        dt_codes, data_types = self.factorized("data_type")
        default = [default_measure(d) for d in data_types]
        all_labels = np.array([*labels, *default], dtype=object)
        codes = np.where(text >= 0, text, len(labels) + dt_codes)
        # the same text is the same measure, whether given or the default
        label_codes, measures = pd.factorize(all_labels)
        return label_codes.astype(np.int32)[codes], measures.tolist()

    def _double_zero(self) -> np.ndarray:
        """Records of a risk or odds ratio without events in either arm (or with every
        participant having the event in both): not estimable (:mod:`grading.zero_cells`)."""

        labels = np.array([*self.measure_labels, None], dtype=object)
        ratio = np.isin(
            np.array([str(x).upper() for x in labels], dtype=object), DOUBLE_ZERO_MEASURES
        )[self.measure]
        out = np.zeros(self.n, dtype=bool)
        if not ratio.any():
            return out
        rows = np.flatnonzero(ratio)
        notes = self.column("effect_note")
        ei, ni, ec, nc = (
            self.floats(c, rows) for c in ("events_int", "n_int", "events_ctrl", "n_ctrl")
        )
        reasons = double_zero_reasons(
            labels[self.measure[rows]],
            ei,
            ni,
            ec,
            nc,
            notes=None if notes is None else _values(notes)[rows],
        )
        out[rows] = reasons != ""
        return out

    def participants(self, pos: np.ndarray) -> np.ndarray:
        """Participants per record: ``n_int + n_ctrl`` (the larger one for within-subject
        designs), else ``n_total``, else ``n_int``."""
        if self._participants is None:
            a, b = self.floats("n_int", slice(None)), self.floats("n_ctrl", slice(None))
            total = self.floats("n_total", slice(None), keep=False)
            paired = np.where(b > a, b, a)  # max(a, b), the first on ties
            self._participants = np.where(
                np.isfinite(a) & np.isfinite(b),
                np.where(self.within, paired, a + b),
                np.where(np.isfinite(total), total, np.where(np.isfinite(a), a, math.nan)),
            )
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


def _sum(values: np.ndarray) -> float:
    """Left-to-right sum, as Python's ``sum`` (numpy sums pairwise: other last bits)."""
    return float(sum(values.tolist()))


def _aggregate(rec: Records, agg: np.ndarray, n_records: int) -> dict:
    """The aggregate record with the most studies (then the latest; first on ties)."""
    k = rec.floats("k_studies", agg)
    year = rec.floats("year", agg)
    k0, year0 = np.where(np.isfinite(k), k, 0), np.where(np.isfinite(year), year, 0)
    top = k0 == k0.max()
    i = int(np.flatnonzero(top & (year0 == year0[top].max()))[0])
    kk = float(k[i])
    k_out = int(kk) if math.isfinite(kk) else 1
    ids = rec.cells("study_id", agg[i : i + 1])
    basis = (
        f"aggregate record {ids[0]} (k_studies = "
        f"{k_out if math.isfinite(kk) else 'not recorded'})"
        + (
            f"; {_records_text(n_records - 1)} not pooled with it (may be inside it)"
            if n_records > 1
            else ""
        )
    )
    return {
        "sel": agg[i : i + 1],
        "ids": ids,
        "tier": int(rec.tier[agg[i]]),
        "aggregate": True,
        "k": k_out,
        "basis": basis,
    }


def _primary(
    rec: Records, num: np.ndarray, n_records: int, double_zero: np.ndarray | None = None
) -> dict:
    """The records of the best design tier with results and their most common measure; every
    row of them (a study with several comparisons contributes each, pooled with cluster-robust
    inference by study, see :func:`_pooled`).  ``double_zero``: rows of the body left out as
    double-zero studies of a risk or odds ratio (named in the basis when of that tier and
    measure)."""
    tier = _first_max_tier(rec.tier[num])
    cand = num[rec.tier[num] == tier]
    m = _mode_code(rec.measure[cand])
    sel = cand[rec.measure[cand] == m]
    ids = rec.cells("study_id", sel)
    keys: dict = {}
    for i in ids:
        keys.setdefault(i, len(keys))
    n_studies = len(keys)
    dz = (
        np.array([], dtype=np.intp)
        if double_zero is None
        else double_zero[(rec.tier[double_zero] == tier) & (rec.measure[double_zero] == m)]
    )
    left = n_records - len(sel) - len(dz)
    basis = (
        f"{TIER_LABEL[TIERS[tier]]} studies with results, measure "
        f"{rec.measure_labels[m] if m >= 0 else None}: {_records_text(len(sel))} from "
        f"{n_studies} stud{'y' if n_studies == 1 else 'ies'} pooled"
        + (f"; {_double_zero_text(rec, dz)}" if len(dz) else "")
        + (
            f"; {_records_text(left)} not pooled (other design tier, measure or no numeric result)"
            if left
            else ""
        )
    )
    unique_ids = list(keys)
    return {
        "sel": sel,
        "ids": unique_ids,
        "row_ids": ids,
        "tier": tier,
        "aggregate": False,
        "k": n_studies,
        "basis": basis,
    }


def _double_zero_text(rec: Records, dz: np.ndarray) -> str:

    studies = list(dict.fromkeys(str(i) for i in rec.cells("study_id", dz)))
    return (
        f"{_records_text(len(dz))} ({', '.join(studies)}) left out as not estimable: no "
        "events in either arm (or events in every participant of both arms) leave a risk "
        f"or odds ratio undefined ({DOUBLE_ZERO_SOURCE})"
    )


def _pooled(
    rec: Records, sel: np.ndarray, scheme: Scheme, z: float, row_ids: list | None = None
) -> dict:
    """Estimate, interval and heterogeneity of the selected records.

    One row per study: :func:`evidence.pool`.  Several rows from one study (multiple
    comparisons, shared controls) and at least two studies: :func:`evidence.pool_clustered`
    (working random-effects model, bias-reduced cluster-robust CR2 standard error by study,
    t with Satterthwaite df; Hedges, Tipton & Johnson 2010; Pustejovsky & Tipton 2018, as
    metafor ``robust(..., clubSandwich=TRUE)``).  Several rows
    from a single study: pooled as independent (no cluster adjustment is possible), said so.
    """
    res: dict = {
        "estimate": math.nan,
        "se": math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "pi_low": math.nan,
        "pi_high": math.nan,
        "i2": math.nan,
        "tau2": math.nan,
        "q_p": math.nan,
        "q": math.nan,
        "q_df": math.nan,
        "method": None,
        "ci_method": None,
        "clustered": False,
    }
    if len(sel) == 1:
        y, v = float(rec.yi[sel[0]]), float(rec.vi[sel[0]])
        se = math.sqrt(v)
        res.update(estimate=y, se=se, ci_low=y - z * se, ci_high=y + z * se, ci_method="z")
    elif len(sel) > 1:
        try:
            res.update(_pool_rows(rec, sel, scheme, row_ids))
        except EvidenceError as exc:  # one body never stops a run
            res["pool_error"] = f"the {len(sel)} results could not be pooled: {exc}"
    return res


def _pool_two_by_two(rec: Records, sel: np.ndarray, scheme: Scheme, n_studies: int) -> dict:
    """The Mantel-Haenszel / Peto result of the selected rows (scheme ``pool_method`` "MH" or
    "PETO"; :mod:`grading.two_by_two`), or ``{"method_note": why not}`` when the body is
    pooled by inverse variance instead."""
    method = str(scheme.pool_method).strip().upper()
    code = rec.measure[sel[0]]
    measure = rec.measure_labels[code] if code >= 0 else None
    counts = {c: rec.floats(c, sel) for c in tbt.COUNT_COLUMNS}
    complete = bool(rec.is_counts[sel].all()) and all(
        bool(np.isfinite(v).all()) for v in counts.values()
    )
    why = tbt.fallback_reason(
        method, measure, counts=complete, n_rows=len(sel), n_studies=n_studies
    )
    if why is None:
        try:
            pr = tbt.pool_counts(method, str(measure), *counts.values(), level=scheme.level)
        except EvidenceError as exc:
            why = f"{tbt.method_label(method)} could not pool the counts: {exc}"
        else:
            if np.isfinite(pr.estimate):
                return {
                    "clustered": False,
                    "estimate": pr.estimate,
                    "se": pr.se,
                    "ci_low": pr.ci_low,
                    "ci_high": pr.ci_high,
                    "pi_low": math.nan,
                    "pi_high": math.nan,
                    "i2": pr.i2,
                    "tau2": 0.0,
                    "q_p": pr.q_p,
                    "q": pr.q,
                    "q_df": float(pr.q_df),
                    "method": pr.method,
                    "ci_method": "z",
                    "method_note": None,
                }
            why = tbt.undefined_reason(method, str(measure))
    return {"method_note": why}


def _pool_rows(rec: Records, sel: np.ndarray, scheme: Scheme, row_ids: list | None) -> dict:
    """Pool several rows: by Mantel-Haenszel / Peto when the scheme asks for it and the rows
    are 2x2 tables (:mod:`grading.two_by_two`); else :func:`evidence.pool_clustered` when some
    study has several rows (and there are at least two studies), else :func:`evidence.pool`
    (inverse variance; the fixed-effect model when MH / Peto was asked for)."""

    res: dict = {"clustered": False}
    pr: PoolResult | ClusteredPoolResult
    n_clusters = len(set(row_ids)) if row_ids is not None else len(sel)
    method = scheme.pool_method
    if is_two_by_two(method):
        mh = _pool_two_by_two(rec, sel, scheme, n_clusters)
        if mh["method_note"] is None:
            return mh
        res["method_note"] = mh["method_note"]
        method = inverse_variance_method(method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if row_ids is not None and 2 <= n_clusters < len(sel):
            frame = pd.DataFrame(
                {"yi": rec.yi[sel], "vi": rec.vi[sel], "study": [str(i) for i in row_ids]}
            )
            pr = pool_clustered(
                frame, cluster="study", method=method, level=scheme.level, vcov="CR2"
            )
            res["clustered"] = True
            res["ci_method"] = pr.vcov_type
        else:
            pr = pool(
                rec.yi[sel],
                rec.vi[sel],
                method=method,
                ci_method=scheme.ci_method,
                level=scheme.level,
            )
            res["ci_method"] = pr.ci_method
    res.update(
        estimate=pr.estimate,
        se=pr.se,
        ci_low=pr.ci_low,
        ci_high=pr.ci_high,
        pi_low=pr.pi_low,
        pi_high=pr.pi_high,
        i2=pr.i2,
        tau2=pr.tau2,
        q_p=pr.q_p,
        q=pr.q,
        q_df=float(pr.q_df),
        method=pr.method,
    )
    return res


def _totals(rec: Records, sel: np.ndarray, tier_rows: np.ndarray) -> dict:
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
    for col, src in (
        ("n_int_total", "n_int"),
        ("n_ctrl_total", "n_ctrl"),
        ("events_int_total", "events_int"),
        ("events_ctrl_total", "events_ctrl"),
    ):
        vals = arms[src]
        ok = bool(len(vals)) and bool(np.isfinite(vals).all())
        if src.startswith("events") and not counts:
            ok = False
        out[col] = _sum(vals) if ok else math.nan
    return out


def make_body(rec: Records, pos: np.ndarray, scheme: Scheme, z: float) -> Body:
    """Choose the records of the body at rows ``pos`` that carry the estimate and pool them.

    The returned ``sel`` and ``tier_rows`` are row positions, ``tier`` a code into
    :data:`TIERS`.
    """
    n_records = len(pos)
    numeric = pos[rec.numeric[pos]]
    # double-zero studies of a risk or odds ratio are not estimable (Cochrane Handbook
    # 10.4.4.2), even with the 0.5 correction's numbers: left out, as the forest does
    dzero = rec.double_zero[numeric]
    num = numeric[~dzero]
    agg = num[rec.is_meta[num]]
    if len(agg):
        out = _aggregate(rec, agg, n_records)
    elif len(num):
        out = _primary(rec, num, n_records, numeric[dzero])
    elif dzero.any():
        out = {
            "sel": np.array([], dtype=np.intp),
            "tier": _first_max_tier(rec.tier[pos]),
            "aggregate": False,
            "k": 0,
            "basis": f"not estimable: {_records_text(int(dzero.sum()))} of "
            f"{n_records} with a result, each without events in either arm (or "
            "with events in every participant of both arms): a risk or odds ratio "
            f"is not estimable ({DOUBLE_ZERO_SOURCE})",
        }
    else:
        out = {
            "sel": np.array([], dtype=np.intp),
            "tier": _first_max_tier(rec.tier[pos]),
            "aggregate": False,
            "k": 0,
            "basis": f"not estimable: none of the {_records_text(n_records)} has a numeric result",
        }
    sel = out["sel"]
    out["n_records"] = n_records
    if not len(sel):
        out["tier_rows"] = pos[rec.tier[pos] == out["tier"]]
        out["ids"] = rec.cells("study_id", out["tier_rows"])
    else:
        out["tier_rows"] = sel
    code = rec.measure[sel[0]] if len(sel) else -1
    out["measure"] = rec.measure_labels[code] if code >= 0 else None
    out.update(_pooled(rec, sel, scheme, z, out.get("row_ids")))
    if len(sel) == 1 and not out["aggregate"]:
        out["basis"] = out["basis"].replace("1 record from 1 study pooled", "single study")
    elif out["clustered"]:
        model = (
            "fixed-effect working model"
            if out["method"] in ("FE", "EE")
            else f"{out['method']} random effects"
        )
        out["basis"] += (
            f" ({model} with cluster-robust CR2 standard "
            "error by study and Satterthwaite df: several rows per study; Hedges, "
            "Tipton & Johnson 2010; Pustejovsky & Tipton 2018)"
        )
    elif len(sel) > 1 and out["k"] == 1:
        out["basis"] += (
            f" ({out['method']} random effects; the rows of one study pooled as "
            "independent: no cluster adjustment possible)"
        )
    elif len(sel) > 1 and out["method"] in ("MH", "PETO"):
        out["basis"] += (
            f" ({method_label(out['method'])} fixed effect from the 2x2 counts; "
            f"{TWO_BY_TWO_SOURCE})"
        )
    elif len(sel) > 1 and out["method"] not in ("FE", "EE"):
        out["basis"] += f" ({out['method']} random effects)"
    if out.get("method_note"):
        asked = str(scheme.pool_method).strip().upper()
        out["basis"] += (
            f"; not pooled by {method_label(asked)}: {out['method_note']}; pooled by inverse "
            f"variance ({out['method']}) instead"
        )
    out.update(_totals(rec, sel, out["tier_rows"]))
    return Body.from_parts(out)


def _key_codes(series: pd.Series) -> np.ndarray:
    """Codes of ``str(cell)``, missing cells read as ``"nan"`` (as ``pd.factorize`` of the
    cells as objects gives them back)."""
    codes, uniques = pd.factorize(_values(series), use_na_sentinel=False)
    texts = [
        "nan" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else str(v)
        for v in uniques.tolist()
    ]
    return pd.factorize(np.asarray(texts, dtype=object))[0][codes]


def body_groups(key_columns: list[pd.Series]) -> list[tuple[tuple[str, str, str], np.ndarray]]:
    """``((indication, outcome, stream), rows)`` per body in sorted key order, rows ascending;
    a key is the text of the body's first row (the body holds the cells of that text)."""
    n = len(key_columns[0])
    if not n:
        return []
    codes, first = combine([_key_codes(s) for s in key_columns])
    bodies = []
    ind, outcome, stream = key_columns
    for pos in group_positions(codes, len(first)):
        i = int(pos[0])
        bodies.append(((str(ind.iloc[i]), str(outcome.iloc[i]), str(stream.iloc[i])), pos))
    return sorted(bodies, key=lambda kp: kp[0])


def check_streams(stream: pd.Series, index: pd.Index) -> None:
    """Every record is of the human, animal or in vitro stream (each distinct cell checked once)."""
    codes, uniques = pd.factorize(_values(stream), use_na_sentinel=False)
    bad = np.array(
        [s not in ("human", "animal", "in_vitro") for s in uniques.tolist()], dtype=bool
    )[codes]
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"grade(): column 'stream' row {index[i]!r} has {stream.iloc[i]!r}; "
            "expected one of ['in_vitro', 'animal', 'human']."
        )
