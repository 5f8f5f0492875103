"""Reviewer overrides of the certainty engine, from a CSV file or from Python.

A reviewer can disagree on the record (GRADE: every judgement is the reviewer's; the rules only
suggest).  One table holds three kinds of rows, told apart by ``domain``:

``domain`` = a GRADE domain (``risk_of_bias``, ``inconsistency``, ``indirectness``,
``imprecision``, ``publication_bias``, ``translational_indirectness``, ``large_effect``,
``dose_response``, ``plausible_confounding``)
    Replaces the rule's step for the matching bodies.  ``step`` is an integer (0/-1/-2/-3 down,
    0/+1/+2 up) or a GRADE word (``not serious``, ``serious``, ``very serious``, ``extremely
    serious``; ``none``, ``large``, ``very large``, ``present``).  ``reason`` is mandatory.
    An override also records a domain the rules left "not assessed": the body is then rated
    on it (and is no longer provisional for that domain).

``domain`` = ``importance`` (or empty, with an ``importance`` cell)
    Outcome importance (GRADE 2: Guyatt GH et al. J Clin Epidemiol 2011;64:395-400):
    ``critical``, ``important`` or ``not important`` in the ``importance`` column.

``domain`` = ``thresholds``
    Decision thresholds for imprecision and statements for the matching bodies, on the natural
    scale (RR 0.8 / 1.25; MD -5 / 5) in ``threshold_low`` and ``threshold_high``.  ``reason``
    is mandatory.

``domain`` = ``baseline_risk``
    The assumed control risk (a probability, 0 < p < 1, in the ``baseline_risk`` column) of the
    Summary of Findings' absolute effects for the matching human bodies of binary outcomes
    (GRADE 12: Guyatt GH et al. J Clin Epidemiol 2013;66:158-172; Cochrane Handbook 14.1.5:
    the assumed risk may come from outside the included studies).  ``reason`` (the source of
    the risk) is mandatory.  It does not change the grade.  Precedence in
    :func:`grading.tables.summary_of_findings`: the more specific wins -- an override row
    naming the outcome, then the option's ``(indication, outcome)`` key, then an override row
    for every outcome of the indication, then the option's indication key, then its global
    value (``--baseline-risk``), then the pooled control arms.

Matching: ``indication`` is required; an empty ``outcome`` or ``stream`` matches every outcome or
stream of that indication.  An override that matches no body is an error in :func:`grading.grade`.
Later rows win over earlier ones.  Who (``by``) and why (``reason``) are shown in the outputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from evidence.errors import InvalidParameterError
from evidence.missing import is_blank
from grading.domains import ALL_DOMAINS, UP_DOMAINS

__all__ = ["OVERRIDE_COLUMNS", "IMPORTANCE_LEVELS", "read_overrides", "normalise_overrides"]

#: Columns of an overrides table (``importance``, ``threshold_low``, ``threshold_high``,
#: ``baseline_risk`` optional).
OVERRIDE_COLUMNS: tuple[str, ...] = (
    "indication",
    "outcome",
    "stream",
    "domain",
    "step",
    "reason",
    "by",
    "importance",
    "threshold_low",
    "threshold_high",
    "baseline_risk",
)
#: GRADE 2 outcome importance.
IMPORTANCE_LEVELS: tuple[str, ...] = ("critical", "important", "not important")

_WORDS_DOWN = {"not serious": 0, "serious": -1, "very serious": -2, "extremely serious": -3}
_WORDS_UP = {
    "none": 0,
    "large": 1,
    "very large": 2,
    "present": 1,
    "would reduce effect": 1,
    "would suggest spurious effect": 1,
}


def read_overrides(path: str | Path) -> pd.DataFrame:
    """Read an overrides CSV (UTF-8, header row) into the normalised table.

    Returns
    -------
    DataFrame
        Columns :data:`OVERRIDE_COLUMNS` plus ``kind`` (``domain``, ``importance``,
        ``thresholds`` or ``baseline_risk``) and ``line`` (the CSV line, for messages).
        ``step`` is an integer (``<NA>`` on other rows), thresholds and ``baseline_risk``
        floats (NaN on other rows).

    Raises
    ------
    InvalidParameterError
        Unreadable file, missing columns, or a bad cell (the message names line and column).
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidParameterError(
            f"The 'path' argument of read_overrides() names a missing file: {str(p)!r}."
        )
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidParameterError(
            f"The overrides file {str(p)!r} could not be read as CSV: {exc}"
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return normalise_overrides(frame, first_line=2, what=f"overrides file {p.name!r}")


def normalise_overrides(
    overrides, *, first_line: int | None = None, what: str = "'overrides' argument of grade()"
) -> pd.DataFrame:
    """The overrides of :func:`grading.grade` (None, a path, a DataFrame, a dict or a list of
    dicts) as the table :func:`read_overrides` returns."""
    cols = list(OVERRIDE_COLUMNS)
    if overrides is None:
        return pd.DataFrame(columns=[*cols, "kind", "line"])
    if isinstance(overrides, (str, Path)):
        return read_overrides(overrides)
    if isinstance(overrides, pd.DataFrame):
        if set(overrides.columns) == {*cols, "kind", "line"}:
            # already the table read_overrides() returns (checked, with the file's lines)
            return overrides.loc[:, [*cols, "kind", "line"]].reset_index(drop=True)
        frame = overrides.copy()
    elif isinstance(overrides, Mapping):
        frame = pd.DataFrame([overrides])
    elif isinstance(overrides, Iterable):
        frame = pd.DataFrame(list(overrides))
    else:
        raise InvalidParameterError(
            "The 'overrides' argument of grade() must be a path to a CSV file, a DataFrame or a "
            f"list of dicts with columns {cols[:7]}. Got {type(overrides).__name__}."
        )
    for col in ("indication",):
        if col not in frame.columns:
            raise InvalidParameterError(f"The {what} needs an {col!r} column (columns: {cols}).")
    if "domain" not in frame.columns and "importance" not in frame.columns:
        raise InvalidParameterError(
            f"The {what} needs a 'domain' column (or an 'importance' column; columns: {cols})."
        )
    unknown = [c for c in frame.columns if c not in cols]
    if unknown:
        raise InvalidParameterError(
            f"The {what} has an unknown column {unknown[0]!r} (known: {cols})."
        )
    for col in cols:
        if col not in frame.columns:
            frame[col] = None
    frame = frame[cols].reset_index(drop=True).astype(object)
    kinds, steps, imps, lows, highs, lines, risks = [], [], [], [], [], [], []
    for i, r in enumerate(frame.to_dict("records")):
        line = i + first_line if first_line is not None else i
        where = f"line {line}" if first_line is not None else f"row {line}"
        label = f"The {what}, {where}"
        if is_blank(r["indication"]):
            raise InvalidParameterError(f"{label}, column 'indication': missing (required).")
        domain = None if is_blank(r["domain"]) else str(r["domain"]).strip()
        importance = None if is_blank(r["importance"]) else str(r["importance"]).strip().lower()
        if domain is None and importance is not None:
            domain = "importance"
        if domain is None:
            raise InvalidParameterError(
                f"{label}, column 'domain': missing (a GRADE domain, "
                "'importance', 'thresholds' or 'baseline_risk')."
            )
        step = pd.NA
        low = high = risk = math.nan
        if domain == "importance":
            if importance not in IMPORTANCE_LEVELS:
                raise InvalidParameterError(
                    f"{label}, column 'importance': must be one of {list(IMPORTANCE_LEVELS)}. "
                    f"Got {r['importance']!r}."
                )
        elif domain == "thresholds":
            if is_blank(r["reason"]):
                raise InvalidParameterError(
                    f"{label}, column 'reason': missing (every override must say why)."
                )
            try:
                low, high = float(r["threshold_low"]), float(r["threshold_high"])
            except (TypeError, ValueError):
                raise InvalidParameterError(
                    f"{label}, columns 'threshold_low'/'threshold_high': two numbers needed. "
                    f"Got {r['threshold_low']!r} and {r['threshold_high']!r}."
                ) from None
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise InvalidParameterError(
                    f"{label}, columns 'threshold_low'/'threshold_high': need finite "
                    f"threshold_low < threshold_high. Got {low!r} and {high!r}."
                )
        elif domain == "baseline_risk":
            if is_blank(r["reason"]):
                raise InvalidParameterError(
                    f"{label}, column 'reason': missing (say where the baseline risk comes from)."
                )
            try:
                risk = float(str(r["baseline_risk"]).strip())
            except (TypeError, ValueError):
                risk = math.nan
            if not (math.isfinite(risk) and 0 < risk < 1):
                raise InvalidParameterError(
                    f"{label}, column 'baseline_risk': must be a probability between 0 and 1 "
                    f"(exclusive). Got {r['baseline_risk']!r}."
                )
        elif domain in ALL_DOMAINS:
            if is_blank(r["reason"]):
                raise InvalidParameterError(
                    f"{label}, column 'reason': missing (every override must say why)."
                )
            step = _step(r["step"], domain, label)
        else:
            raise InvalidParameterError(
                f"{label}, column 'domain': must be one of "
                f"{[*ALL_DOMAINS, 'importance', 'thresholds', 'baseline_risk']}. "
                f"Got {r['domain']!r}."
            )
        kinds.append(
            domain if domain in ("importance", "thresholds", "baseline_risk") else "domain"
        )
        risks.append(risk)
        frame.at[i, "domain"] = domain
        steps.append(step)
        imps.append(importance)
        lows.append(low)
        highs.append(high)
        lines.append(line)
    frame["step"] = pd.array(steps, dtype="Int64")
    frame["importance"] = imps
    frame["threshold_low"] = np.asarray(lows, dtype=float)
    frame["threshold_high"] = np.asarray(highs, dtype=float)
    frame["baseline_risk"] = np.asarray(risks, dtype=float)
    frame["kind"] = kinds
    frame["line"] = lines
    for col in ("outcome", "stream", "by", "reason"):
        frame[col] = pd.Series(
            [None if is_blank(v) else str(v) for v in frame[col]], index=frame.index, dtype=object
        )
    frame["indication"] = [str(v) for v in frame["indication"]]
    return frame


def _step(value, domain: str, label: str) -> int:
    up = domain in UP_DOMAINS
    lo, hi = (0, 2) if up else (-3, 0)
    given = value
    if isinstance(value, str):
        text = value.strip().lower()
        words = _WORDS_UP if up else _WORDS_DOWN
        if text in words:
            return words[text]
        try:
            value = float(text.replace("+", "").replace("−", "-"))
        except ValueError:
            raise InvalidParameterError(
                f"{label}, column 'step': must be an integer from {lo} to {hi} or one of "
                f"{list(words)}. Got {value!r}."
            ) from None
    ok = isinstance(value, (int, np.integer, float, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    ok = ok and math.isfinite(float(value)) and float(value) == int(value)
    if not ok or not lo <= int(value) <= hi:
        raise InvalidParameterError(
            f"{label}, column 'step': must be an integer from {lo} to {hi}. Got {given!r}."
        )
    return int(value)


def matches(row: Mapping, key: tuple[str, str, str]) -> bool:
    """Whether an override row applies to the body ``(indication, outcome, stream)``."""
    ind, out, stream = key
    if str(row["indication"]) != ind:
        return False
    if not is_blank(row.get("outcome")) and str(row["outcome"]) != out:
        return False
    return is_blank(row.get("stream")) or str(row["stream"]) == stream


def unmatched_error(row: Mapping) -> InvalidParameterError:
    where = f"line {row['line']}" if isinstance(row.get("line"), int) else "row"
    return InvalidParameterError(
        f"Override ({where}: indication {row['indication']!r}, outcome "
        f"{None if is_blank(row.get('outcome')) else row['outcome']!r}, stream "
        f"{None if is_blank(row.get('stream')) else row['stream']!r}, domain "
        f"{row['domain']!r}) matches no body of evidence."
    )
