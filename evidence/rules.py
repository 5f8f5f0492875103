"""The row rules of the study sheet: each declared once, with the text ``data/SCHEMA.md``
shows, the check that flags rows and the cells its problems show."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from evidence._codes import combine
from evidence.measures import DATA_TYPE_MEASURES
from evidence.problems import CompactText, Problems, SomeCells, cells, fmt_value
from evidence.schema import MODEL_STREAM, RATIO_MEASURES, REQUIRED_COLUMNS

TRUE_TEXT = ("true", "yes", "1")


FALSE_TEXT = ("false", "no", "0")


KEY_COLUMNS = ("study_id", "outcome", "comparison", "timepoint")


#: Text columns the row rules (row_rules, duplicates, the citation check) read after parsing.
RULE_TEXT = frozenset({"model", "stream", "data_type", "measure", "citation_key", *KEY_COLUMNS})


def _equal_cell_codes(values: pd.Series) -> np.ndarray:
    """An integer per cell, shared by equal cells (missing ones included), as compact as the
    column allows: Arrow text is dictionary-encoded in place into 32-bit codes."""
    if getattr(values.dtype, "storage", None) == "pyarrow":
        # pyarrow is optional (the parquet extra): imported only on its fast path
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.chunked_array(values.array.__arrow_array__())
        # one dictionary is shared by every chunk, so the codes agree across chunks
        encoded = pc.dictionary_encode(arr, null_encoding="encode")
        if encoded.num_chunks == 0:
            return np.zeros(0, dtype=np.int32)
        return np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in encoded.chunks])
    # missing comparison / timepoint cells match each other, as in DataFrame.duplicated()
    return pd.factorize(values, use_na_sentinel=False)[0]


def duplicates(problems: Problems, text, present, n: int) -> None:
    """Reject later rows repeating (study_id, outcome, comparison, timepoint)."""
    usable = present["study_id"] & present["outcome"]
    if not usable.any():
        return
    # only rows sharing their study_id with another usable row can repeat a key
    study = _equal_cell_codes(text["study_id"])
    usable &= np.bincount(study[usable], minlength=int(study.max()) + 1)[study] > 1
    if not usable.any():
        return
    pos = np.flatnonzero(usable)
    every = len(pos) == n

    def codes(column: str) -> np.ndarray:
        return _equal_cell_codes(text[column] if every else text[column].take(pos))

    group, first = study[pos], None
    del study
    for column in KEY_COLUMNS[1:]:  # one column at a time: a few code arrays alive, not all
        group, first = combine([group, codes(column)])
    dup_sub = np.ones(len(pos), dtype=bool)
    dup_sub[first] = False
    if not dup_sub.any():
        return
    first_in_group = pos[first]
    dup = np.zeros(n, dtype=bool)
    dup[pos[dup_sub]] = True
    why = [
        f"duplicate of row {first_in_group[g]} (same study_id, outcome, comparison and "
        "timepoint); the first occurrence is kept"
        for g in group[dup_sub]
    ]
    problems.add(dup, "study_id", text["study_id"], why)


#: Common words for a model tag that string similarity alone does not find.
_MODEL_SYNONYMS: dict[str, str] = {
    "mice": "mouse",
    "murine": "mouse",
    "rats": "rat",
    "rabbits": "rabbit",
    "pigs": "pig",
    "swine": "pig",
    "porcine": "pig",
    "minipig": "pig",
    "ovine": "sheep",
    "dogs": "dog",
    "canine": "dog",
    "monkey": "non_human_primate",
    "monkeys": "non_human_primate",
    "macaque": "non_human_primate",
    "primate": "non_human_primate",
    "nhp": "non_human_primate",
    "in_vitro": "cell_culture",
    "cells": "cell_culture",
    "cell_line": "cell_culture",
    "rct": "clinical_trial",
    "plant": "other_organism",
    "plants": "other_organism",
    "microbe": "other_organism",
    "microbes": "other_organism",
    "bacteria": "other_organism",
    "yeast": "other_organism",
    "fungus": "other_organism",
    "fungi": "other_organism",
    "algae": "other_organism",
}


def _suggest(value: str, vocabulary: tuple[str, ...]) -> str | None:
    """The closest vocabulary entry (case, spaces and hyphens ignored), or None."""
    lowered = {v.lower(): v for v in vocabulary}
    key = re.sub(r"[\s\-]+", "_", value.strip().lower())
    if key in lowered:
        return lowered[key]
    synonym = _MODEL_SYNONYMS.get(key)
    if synonym in vocabulary:
        return synonym
    close = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def vocabulary_reason(column: str, vocabulary: tuple[str, ...]):
    cache: dict[str, str] = {}

    def reason(value: str) -> str:
        if value not in cache:
            guess = _suggest(value, vocabulary)
            if guess is not None:
                tail = f"did you mean '{guess}'?"
            else:
                tail = "expected one of " + ", ".join(vocabulary) + "."
            cache[value] = f"unknown {column} '{value}'; {tail}"
        return cache[value]

    return reason


#: How the numeric result of each ``data_type`` must be given: the columns that must hold a
#: value and the allowed ``measure`` values (``None``: any measure).  Continuous arms are
#: checked by their own rule (a mean with its SD, SE or CI, or a median with its quartiles).
DATA_TYPE_REQUIREMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "counts": (("events_int", "n_int", "events_ctrl", "n_ctrl"), DATA_TYPE_MEASURES["counts"]),
    "continuous": (("n_int", "n_ctrl"), DATA_TYPE_MEASURES["continuous"]),
    "estimate": (("estimate", "measure"), None),
    "single_arm": (("events_int", "n_int"), DATA_TYPE_MEASURES["single_arm"]),
    "none": ((), None),
}


class ColumnMasks(Protocol):
    """``masks[column]``: the bool mask of one column (evidence.ingest keeps them bit-packed)."""

    def __getitem__(self, name: str, /) -> np.ndarray: ...


@dataclass(frozen=True)
class Cells:
    """What a rule's check reads: the problems ledger and the parsed columns."""

    problems: Problems
    text: dict  # column -> stripped text (the columns in RULE_TEXT; categories hold valid values)
    num: dict  # column -> float64 values, NaN where missing or rejected
    present: ColumnMasks  # column -> bool mask of cells holding a value (evidence.ingest._Masks)
    shown: dict  # column -> the cells a problem shows (see drop_unshown)
    n: int

    def is_(self, column: str, value: str) -> np.ndarray:
        return (self.text[column] == value).to_numpy(dtype=bool, na_value=False)


#: A shown numeric cell: (the columns the predicate compares it with, rows it may show).
Shows = dict[str, tuple[tuple[str, ...], Callable[[np.ndarray, dict], np.ndarray]]]


@dataclass(frozen=True)
class Rule:
    """One row rule: its text in ``data/SCHEMA.md``, the check that flags rows (None when the
    reading or parsing of the cells enforces it), and which numeric cells its problems show
    (a superset of the rows it flags, so that validation keeps only those cells' text)."""

    text: str
    check: Callable[[Cells], None] | None = None
    shows: Shows = field(default_factory=dict)


def _below_one(v, num):
    return v < 1


def _arm_ci_shows(a: str) -> Callable[[np.ndarray, dict], np.ndarray]:
    """The rows whose arm ``a`` CI has ci_low_a >= ci_high_a."""
    return lambda v, num: v >= num[f"ci_high_{a}"]


def _arm_median_shows(a: str) -> Callable[[np.ndarray, dict], np.ndarray]:
    """The rows whose arm ``a`` median is outside [q1_a, q3_a] or has q1_a >= q3_a."""
    return lambda v, num: (
        (num[f"q1_{a}"] > v) | (v > num[f"q3_{a}"]) | (num[f"q1_{a}"] >= num[f"q3_{a}"])
    )


def _required(c: Cells) -> None:
    for name in REQUIRED_COLUMNS:
        c.problems.add(~c.present[name], name, None, f"required value missing in column '{name}'")


def _model_stream(c: Cells) -> None:
    model, stream = c.text["model"], c.text["stream"]
    # judged once per distinct (model, stream) pair, not once per row
    m_codes, m_values = pd.factorize(model)
    s_codes, s_values = pd.factorize(stream)
    valid = np.array(
        [[sv in MODEL_STREAM.get(mv, ()) for sv in s_values] for mv in m_values], dtype=bool
    ).reshape(len(m_values), len(s_values))
    both = (m_codes >= 0) & (s_codes >= 0)
    mismatch = both.copy()
    mismatch[both] = ~valid[m_codes[both], s_codes[both]]
    if mismatch.any():
        streams_of = {m: " or ".join(f"'{s}'" for s in s_) for m, s_ in MODEL_STREAM.items()}
        rows = np.flatnonzero(mismatch)
        pairs = zip(cells(model, rows), cells(stream, rows), strict=True)
        why = [f"model '{m}' belongs to stream {streams_of[m]}, not '{s}'" for m, s in pairs]
        c.problems.add(mismatch, "model", model, why)
    c.problems.add(
        c.is_("model", "meta_analysis") & ~c.present["k_studies"],
        "k_studies",
        None,
        "model 'meta_analysis' needs k_studies >= 1; k_studies is missing",
    )
    c.problems.add(
        c.num["k_studies"] < 1,
        "k_studies",
        c.shown["k_studies"],
        lambda v: f"k_studies must be >= 1 (number of pooled studies); got {v}",
    )


def _data_type(c: Cells) -> None:
    measure = c.text["measure"]
    for dt, (needed, measures) in DATA_TYPE_REQUIREMENTS.items():
        rows_dt = c.is_("data_type", dt)
        if not rows_dt.any():
            continue
        for col in needed:
            c.problems.add(
                rows_dt & ~c.present[col],
                col,
                None,
                f"data_type '{dt}' needs a value in '{col}'",
            )
        if measures is not None:
            allowed = ", ".join(measures)
            c.problems.add(
                rows_dt & ~c.present["measure"],
                "measure",
                None,
                f"data_type '{dt}' needs measure {allowed}; measure is missing",
            )
            wrong = (
                rows_dt
                & measure.notna().to_numpy()
                & ~measure.isin(measures).to_numpy(dtype=bool, na_value=False)
            )
            c.problems.add(
                wrong,
                "measure",
                measure,
                lambda v, dt=dt, allowed=allowed: (
                    f"data_type '{dt}' needs measure {allowed}; got '{v}'"
                ),
            )
        if dt == "estimate":
            ci = c.present["ci_low"] & c.present["ci_high"]
            lacking = rows_dt & ~ci & ~c.present["se"]
            has_low = c.present["ci_low"]  # the limit reported missing is the one not given
            for col, flagged in (("ci_low", lacking & ~has_low), ("ci_high", lacking & has_low)):
                c.problems.add(
                    flagged,
                    col,
                    None,
                    "data_type 'estimate' needs both 'ci_low' and 'ci_high', or 'se'",
                )


def _continuous_arms(c: Cells) -> None:
    is_cont = c.is_("data_type", "continuous")
    if not is_cont.any():
        return
    for arm in ("int", "ctrl"):
        has = {
            k: c.present[f"{k}_{arm}"]
            for k in ("mean", "sd", "se", "ci_low", "ci_high", "median", "q1", "q3")
        }
        c.problems.add(
            is_cont & ~has["mean"] & ~has["median"],
            f"mean_{arm}",
            None,
            f"data_type 'continuous' needs mean_{arm} (or median_{arm} with q1_{arm} and q3_{arm})",
        )
        spread = has["sd"] | has["se"] | (has["ci_low"] & has["ci_high"])
        c.problems.add(
            is_cont & has["mean"] & ~spread,
            f"sd_{arm}",
            None,
            f"data_type 'continuous' needs sd_{arm}, se_{arm} or both ci_low_{arm} and "
            f"ci_high_{arm}",
        )
        c.problems.add(
            is_cont & ~has["mean"] & has["median"] & ~(has["q1"] & has["q3"]),
            f"q1_{arm}",
            None,
            f"data_type 'continuous' with median_{arm} needs q1_{arm} and q3_{arm}",
        )


def _counts(c: Cells) -> None:
    num, shown = c.num, c.shown
    for col in ("events_int", "n_int", "events_ctrl", "n_ctrl", "n_total"):
        c.problems.add(
            num[col] < 0,
            col,
            shown[col],
            lambda v, col=col: f"negative count {v} in column '{col}'",
        )
    for events, total in (("events_int", "n_int"), ("events_ctrl", "n_ctrl")):
        over = num[events] > num[total]
        why = [
            f"events '{events}' ({fmt_value(num[events][r])}) exceed the total "
            f"'{total}' ({fmt_value(num[total][r])})"
            for r in np.flatnonzero(over)
        ]
        c.problems.add(over, events, shown[events], why)
    for col in ("n_int", "n_ctrl", "n_total"):
        small = (num[col] >= 0) & (num[col] < 1)
        c.problems.add(
            small, col, shown[col], lambda v, col=col: f"sample size '{col}' must be >= 1; got {v}"
        )


def _events_over(v, num, total):
    return (v < 1) | (v > num[total])


def _spreads(c: Cells) -> None:
    for col, what in (
        ("sd_int", "standard deviation"),
        ("sd_ctrl", "standard deviation"),
        ("se", "standard error"),
        ("se_int", "standard error"),
        ("se_ctrl", "standard error"),
    ):
        c.problems.add(
            c.num[col] <= 0,
            col,
            c.shown[col],
            lambda v, col=col, what=what: f"{what} '{col}' must be > 0; got {v}",
        )


def _estimate_ci(c: Cells) -> None:
    num, shown = c.num, c.shown
    lo, hi, est = num["ci_low"], num["ci_high"], num["estimate"]
    inverted = lo > hi
    why = [
        f"CI lower limit 'ci_low' ({fmt_value(lo[r])}) is above the upper limit "
        f"'ci_high' ({fmt_value(hi[r])})"
        for r in np.flatnonzero(inverted)
    ]
    c.problems.add(inverted, "ci_low", shown["ci_low"], why)
    outside = ~inverted & ((est < lo) | (est > hi))
    why = [
        f"estimate {fmt_value(est[r])} lies outside its confidence interval "
        f"({fmt_value(lo[r])}, {fmt_value(hi[r])})"
        for r in np.flatnonzero(outside)
    ]
    c.problems.add(outside, "estimate", shown["estimate"], why)


def _arm_ci_and_quartiles(c: Cells) -> None:
    num, shown = c.num, c.shown
    for arm in ("int", "ctrl"):
        lo, hi = num[f"ci_low_{arm}"], num[f"ci_high_{arm}"]
        bad = lo >= hi
        why = [
            f"CI of the arm mean: 'ci_low_{arm}' ({fmt_value(lo[r])}) must be below "
            f"'ci_high_{arm}' ({fmt_value(hi[r])})"
            for r in np.flatnonzero(bad)
        ]
        c.problems.add(bad, f"ci_low_{arm}", shown[f"ci_low_{arm}"], why)
        q1, med, q3 = num[f"q1_{arm}"], num[f"median_{arm}"], num[f"q3_{arm}"]
        unordered = (q1 > med) | (med > q3) | (q1 >= q3)
        why = [
            f"quartiles must satisfy q1_{arm} <= median_{arm} <= q3_{arm} with q1_{arm} < "
            f"q3_{arm}; got {fmt_value(q1[r])}, {fmt_value(med[r])}, {fmt_value(q3[r])}"
            for r in np.flatnonzero(unordered)
        ]
        c.problems.add(unordered, f"median_{arm}", shown[f"median_{arm}"], why)


def _ratio_scale(c: Cells) -> None:
    num, shown, measure = c.num, c.shown, c.text["measure"]
    is_ratio = measure.isin(RATIO_MEASURES).to_numpy(dtype=bool, na_value=False)
    for col in ("estimate", "ci_low", "ci_high"):
        bad = is_ratio & (num[col] <= 0)
        rows = np.flatnonzero(bad)
        why = [
            f"ratio measure '{m}' needs '{col}' > 0 (natural scale); got {fmt_value(num[col][r])}"
            for m, r in zip(cells(measure, rows), rows, strict=True)
        ]
        c.problems.add(bad, col, shown[col], why)
    is_rom = c.is_("measure", "ROM")
    for col in ("mean_int", "mean_ctrl"):
        c.problems.add(
            is_rom & (num[col] <= 0),
            col,
            shown[col],
            lambda v, col=col: f"measure 'ROM' needs positive means; '{col}' is {v}",
        )


def _ci_level(c: Cells) -> None:
    level = c.num["ci_level"]
    c.problems.add(
        (level <= 0) | (level >= 1),
        "ci_level",
        c.shown["ci_level"],
        lambda v: f"ci_level must be a fraction strictly between 0 and 1 (e.g. 0.95); got {v}",
    )


def _duplicate_keys(c: Cells) -> None:
    duplicates(c.problems, c.text, c.present, c.n)


#: The row rules, in the order ``data/SCHEMA.md`` lists them.
RULES: tuple[Rule, ...] = (
    Rule(
        "Text is stripped of surrounding spaces; an empty cell is a missing value, and so is a "
        "missing-value token (by default NA, N/A, NaN, NR, '.', '-' and 'not reported', in any "
        "of their usual cases; read_studies(na_values=...) or [sheet] na_values in a config "
        "file replaces the list). Other text in a numeric column is rejected."
    ),
    Rule("Every required column must hold a value.", _required),
    Rule(
        "Numeric columns hold numbers written with a '.' decimal point (a ';'-separated file "
        "may use decimal commas instead); 'int' columns hold whole numbers. A number whose "
        "square over- or underflows double precision (magnitude >= 1e154, or non-zero below "
        "1e-154) is rejected."
    ),
    Rule("Bool columns accept true/false, yes/no and 1/0 (any case) or an empty cell."),
    Rule(
        "Category columns accept exactly the listed values (case-sensitive); a near miss is "
        "rejected with a suggestion."
    ),
    Rule(
        "A CSV record with more or fewer cells than the header (a stray delimiter, a missing "
        "one) is rejected; a quote that is never closed makes the file unreadable (the error "
        "names its line). An Excel formula cell without a calculated value is rejected."
    ),
    Rule(
        "'model' must belong to the row's 'stream' (see the table above). Model "
        "'meta_analysis' needs k_studies >= 1.",
        _model_stream,
        {"k_studies": ((), _below_one)},
    ),
    Rule(
        "data_type 'counts' needs events_int, n_int, events_ctrl, n_ctrl and measure RR, OR or RD.",
        _data_type,
    ),
    Rule(
        "data_type 'continuous' needs n_int, n_ctrl, measure MD, SMD or ROM (ROM needs positive "
        "means) and, per arm, the mean with its SD, its SE (se_*) or both limits of its CI "
        "(ci_low_*, ci_high_* at ci_level), or else the median with both quartiles (median_*, "
        "q1_*, q3_*).",
        _continuous_arms,
    ),
    Rule("data_type 'estimate' needs estimate, measure and either both ci_low and ci_high or se."),
    Rule("data_type 'single_arm' needs events_int, n_int and measure PLO or PR."),
    Rule("data_type 'none' needs no numbers."),
    Rule(
        "Counts are >= 0, events do not exceed their arm total, arm totals and n_total are >= 1.",
        _counts,
        {
            "events_int": (("n_int",), lambda v, num: _events_over(v, num, "n_int")),
            "events_ctrl": (("n_ctrl",), lambda v, num: _events_over(v, num, "n_ctrl")),
            "n_int": ((), _below_one),
            "n_ctrl": ((), _below_one),
            "n_total": ((), _below_one),
        },
    ),
    Rule(
        "SDs and standard errors (sd_*, se, se_*) are > 0.",
        _spreads,
        {c: ((), _below_one) for c in ("sd_int", "sd_ctrl", "se", "se_int", "se_ctrl")},
    ),
    Rule(
        "ci_low <= estimate <= ci_high.",
        _estimate_ci,
        {
            "ci_low": (("ci_high",), lambda v, num: (v < 1) | (v > num["ci_high"])),
            "estimate": (
                ("ci_low", "ci_high"),
                lambda v, num: (v < 1) | (v < num["ci_low"]) | (v > num["ci_high"]),
            ),
        },
    ),
    Rule(
        "An arm's CI has ci_low_* < ci_high_*; quartiles satisfy q1_* <= median_* <= q3_* with "
        "q1_* < q3_*.",
        _arm_ci_and_quartiles,
        {
            **{f"ci_low_{a}": ((f"ci_high_{a}",), _arm_ci_shows(a)) for a in ("int", "ctrl")},
            **{
                f"median_{a}": ((f"q1_{a}", f"q3_{a}"), _arm_median_shows(a))
                for a in ("int", "ctrl")
            },
        },
    ),
    Rule(
        "Ratio measures (RR, OR, HR, ROM) and their CI limits are > 0 (natural scale).",
        _ratio_scale,
        {c: ((), _below_one) for c in ("estimate", "ci_low", "ci_high", "mean_int", "mean_ctrl")},
    ),
    Rule(
        "ci_level is a fraction strictly between 0 and 1.",
        _ci_level,
        {"ci_level": ((), lambda v, num: (v <= 0) | (v >= 1))},
    ),
    Rule(
        "(study_id, outcome, comparison, timepoint) is unique; later duplicates are rejected.",
        _duplicate_keys,
    ),
    Rule(
        "With a bibliography, every row needs a citation_key that is one of its keys; without "
        "one, citation_key is optional and rows lacking it are counted in a warning (they "
        "cannot be traced to a source)."
    ),
    Rule(
        "In `evigap run` and `evigap validate` (read_studies(checks=...) with "
        "grading.rob.rob_problems): rob_tool names one of the tools listed for it (or is "
        "empty: SYRCLE for animal rows, the in vitro tool for in vitro rows, generic "
        "otherwise) and rob_domains parse for the row's tool ('D1=low; D2=some concerns', the "
        "tool's domain ids and judgements)."
    ),
)


def _shown_by_rules() -> dict[str, tuple[tuple[str, ...], list[Callable]]]:
    out: dict[str, tuple[tuple[str, ...], list[Callable]]] = {}
    for rule in RULES:
        for column, (partners, predicate) in rule.shows.items():
            old_partners, predicates = out.get(column, ((), []))
            merged = tuple(dict.fromkeys(old_partners + partners))
            out[column] = (merged, [*predicates, predicate])
    return out


#: Numeric column -> (the columns its rules compare it with, the rules' "may show" predicates),
#: gathered from :data:`RULES`.
SHOWN_BY_RULES = _shown_by_rules()


def _may_be_shown(name: str, num: dict[str, np.ndarray]) -> np.ndarray:
    """Rows whose ``name`` cell a row rule can show (a superset of those it flags)."""
    v = num[name]
    mask = np.zeros(len(v), dtype=bool)
    for predicate in SHOWN_BY_RULES[name][1]:
        mask |= predicate(v, num)
    return mask


def drop_unshown(shown: dict, num: dict[str, np.ndarray]) -> None:
    """Keep, of each parsed numeric column whose rule partners are parsed too, only the cells
    a row rule can show: a full text column per numeric column would double what validating
    a large sheet holds."""
    for name in [c for c in num if c in shown and not isinstance(shown[c], SomeCells)]:
        entry = SHOWN_BY_RULES.get(name)
        if entry is None:
            shown[name] = None  # no row rule shows this column
        elif all(p in num for p in entry[0]):
            rows = np.flatnonzero(_may_be_shown(name, num))
            kept = (
                shown[name].take(rows)
                if isinstance(shown[name], CompactText)
                else shown[name].iloc[rows].astype(object).to_numpy()
            )
            shown[name] = SomeCells(rows, kept)


def row_rules(problems: Problems, text, num, present, shown, n: int) -> None:
    """Run the checks of :data:`RULES` (listed in data/SCHEMA.md)."""
    found = Cells(problems, text, num, present, shown, n)
    for rule in RULES:
        if rule.check is not None:
            rule.check(found)
