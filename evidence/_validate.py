"""Shared argument checks: one wording for every public function of evidence and grading.

Every helper raises an :mod:`evidence.errors` exception whose message names the function, the
argument (or column) and what was expected, metafor style::

    The 'method' argument of pool() must be one of ['FE', ...]. Got 'RMEL'.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evidence.errors import EvidenceError, InvalidParameterError, ValidationError

__all__ = [
    "as_vector",
    "check_bool",
    "check_choice",
    "check_frame",
    "check_int",
    "check_level",
    "check_mapping",
    "check_number",
    "check_path",
    "check_text",
    "numeric_column",
]


def _is_number(x: Any) -> bool:
    numeric = isinstance(x, int | float | np.integer | np.floating)
    return numeric and not isinstance(x, bool | np.bool_)


def _is_blank(x: Any) -> bool:
    return isinstance(x, str) and x.strip() == ""


def check_choice(
    value: Any, arg: str, func: str, choices: Sequence[str], aliases: dict[str, str] | None = None
) -> str:
    """Return the canonical spelling of ``value`` (case-insensitive; aliases resolved)."""
    aliases = aliases or {}
    allowed = list(choices) + list(aliases)
    if isinstance(value, str):
        for cand in allowed:
            if value.upper() == cand.upper():
                return aliases.get(cand, cand)
    raise InvalidParameterError(
        f"The '{arg}' argument of {func}() must be one of {allowed}. Got {value!r}."
    )


def check_level(level: Any, func: str, arg: str = "level") -> float:
    """A confidence level given as a fraction strictly between 0 and 1."""
    ok = _is_number(level)
    if ok and 0.0 < float(level) < 1.0:
        return float(level)
    hint = " (use 0.95, not 95)" if ok and 1.0 < float(level) <= 100.0 else ""
    raise InvalidParameterError(
        f"The '{arg}' argument of {func}() must be a fraction strictly between 0 and 1, "
        f"e.g. 0.95{hint}. Got {level!r}."
    )


def check_bool(value: Any, arg: str, func: str) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise InvalidParameterError(
        f"The '{arg}' argument of {func}() must be True or False. Got {value!r}."
    )


def check_int(value: Any, arg: str, func: str, *, minimum: int | None = None) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if ok and (minimum is None or value >= minimum):
        return int(value)
    bound = f" >= {minimum}" if minimum is not None else ""
    raise InvalidParameterError(
        f"The '{arg}' argument of {func}() must be an integer{bound}. Got {value!r}."
    )


def check_number(value: Any, arg: str, func: str, *, allow_nan: bool = True) -> float:
    if _is_number(value) and (allow_nan or not np.isnan(value)) and not np.isinf(value):
        return float(value)
    what = "a finite number" if allow_nan else "a finite number (not NaN)"
    raise InvalidParameterError(f"The '{arg}' argument of {func}() must be {what}. Got {value!r}.")


def check_text(value: Any, arg: str, func: str, *, optional: bool = False) -> str | None:
    if isinstance(value, str) or (optional and value is None):
        return value
    what = "a string or None" if optional else "a string"
    raise InvalidParameterError(
        f"The '{arg}' argument of {func}() must be {what}. Got {type(value).__name__} ({value!r})."
    )


def check_path(value: Any, arg: str, func: str) -> Path:
    """A str or os.PathLike (existence is checked by the caller, with its own wording)."""
    if isinstance(value, str | os.PathLike) and str(value) != "":
        return Path(value)
    raise InvalidParameterError(
        f"The '{arg}' argument of {func}() must be a file path (str or pathlib.Path). "
        f"Got {type(value).__name__}."
    )


def check_mapping(value: Any, arg: str, func: str, what: str = "a mapping (dict)") -> Any:

    if isinstance(value, Mapping):
        return value
    raise InvalidParameterError(
        f"The '{arg}' argument of {func}() must be {what}. Got {type(value).__name__}."
    )


def check_frame(
    data: Any,
    arg: str,
    func: str,
    *,
    what: str = "a pandas DataFrame",
    columns: Iterable[Any] = (),
    error: type[EvidenceError] = InvalidParameterError,
) -> pd.DataFrame:
    """A DataFrame whose named ``columns`` (those the caller will use) are not duplicated."""
    if not isinstance(data, pd.DataFrame):
        raise error(f"The '{arg}' argument of {func}() must be {what}. Got {type(data).__name__}.")
    dup = data.columns[data.columns.duplicated()]
    wanted = set(columns) if columns else None
    bad = [c for c in dict.fromkeys(dup) if wanted is None or c in wanted]
    if bad:
        raise ValidationError(
            f"The '{arg}' argument of {func}() has duplicated column name(s) {bad}; each "
            f"column it uses must appear once (rename or drop the copies, e.g. after pd.concat)."
        )
    return data


def as_vector(
    x: Any, arg: str, func: str, error: type[EvidenceError] = InvalidParameterError
) -> np.ndarray:
    """A one-dimensional float array; names the first value that is not a number."""
    if isinstance(x, np.ndarray) and x.ndim == 1 and x.dtype.kind == "f":
        return x.astype(float)  # already numbers: nothing to parse (a copy, as below)
    if isinstance(x, str | bytes) or x is None or isinstance(x, dict) or np.ndim(x) == 0:
        raise error(
            f"The '{arg}' argument of {func}() must be a one-dimensional sequence of numbers. "
            f"Got {type(x).__name__}."
        )
    if np.ndim(x) != 1:
        raise error(
            f"The '{arg}' argument of {func}() must be one-dimensional. Got shape {np.shape(x)}."
        )
    values = np.asarray(x, dtype=object).ravel()
    parsed = pd.to_numeric(pd.Series(values), errors="coerce")
    missing = pd.isna(pd.Series(values)).to_numpy() | np.array([_is_blank(x) for x in values], bool)
    bad = np.flatnonzero(parsed.isna().to_numpy() & ~missing)
    if bad.size:
        labels = x.index if isinstance(x, pd.Series) else range(len(values))
        i = int(bad[0])
        raise error(
            f"The '{arg}' argument of {func}() must contain only numbers (or NaN); "
            f"row {labels[i]!r} has {values[i]!r} ({bad.size} non-numeric value(s) in all)."
        )
    return parsed.to_numpy(dtype=float)


def numeric_column(
    data: pd.DataFrame,
    col: str,
    arg: str,
    func: str,
    error: type[EvidenceError] = InvalidParameterError,
) -> np.ndarray:
    """Column ``col`` of ``data`` as floats: the one parser of a numeric data column.

    Numbers, NaN/None and blank text (read as NaN) are accepted.  A column name that occurs
    more than once is a :class:`ValidationError`; a column of booleans, a boolean cell or a
    text that is not a number is ``error``, naming the column and the first bad row.
    """
    raw = data[col]
    if isinstance(raw, pd.DataFrame):
        raise ValidationError(
            f"The '{arg}' argument of {func}() names column {col!r}, a duplicated column name "
            "of data; each column it uses must appear once."
        )
    if pd.api.types.is_bool_dtype(raw.dtype):
        raise error(
            f"The '{arg}' argument of {func}() names column {col!r}, which holds booleans "
            f"(True/False), not numbers."
        )
    if pd.api.types.is_numeric_dtype(raw.dtype):  # nothing to parse: no per-value checks
        return raw.to_numpy(dtype=float, na_value=np.nan)
    if raw.dtype == object:
        flags = raw.map(lambda x: isinstance(x, bool | np.bool_)).to_numpy(dtype=bool)
        if flags.any():
            row = raw.index[int(np.flatnonzero(flags)[0])]
            raise error(
                f"The '{arg}' argument of {func}() names column {col!r}, which must be "
                f"numeric; row {row!r} has a boolean ({raw[row]!r})."
            )
    parsed = pd.to_numeric(raw, errors="coerce")
    bad = parsed.isna() & raw.notna() & ~raw.map(_is_blank).astype(bool)
    if bad.any():
        row = bad[bad].index[0]
        raise error(
            f"The '{arg}' argument of {func}() names column {col!r}, which must be numeric; "
            f"row {row!r} has {raw[row]!r} ({int(bad.sum())} non-numeric value(s) in all)."
        )
    return parsed.to_numpy(dtype=float, na_value=np.nan)
