"""Row-wise expressions on low-cardinality columns, evaluated once per distinct value.

Study sheets have a million rows but a handful of distinct ``data_type``, ``stream`` or
``indication`` values.  :func:`distinct` splits a column into integer codes and its distinct
values (a short Series of the same dtype, missing value included), so an expression is
evaluated with the column's own pandas semantics on a few values and broadcast back with
``result[codes]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["distinct", "text_codes", "combine", "stable_order", "group_positions"]


def distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``(codes, reps)`` with ``reps.iloc[codes]`` equal to ``values`` row for row.

    ``reps`` holds each distinct value once, with the dtype of ``values``; for categoricals
    it holds every category (observed or not) and then the missing value.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        n = len(values.dtype.categories)
        codes = values.cat.codes.to_numpy()
        codes = np.where(codes < 0, n, codes)
        reps = pd.Categorical.from_codes(np.r_[np.arange(n), -1], dtype=values.dtype)
        return codes, pd.Series(reps)
    if values.dtype == object:
        # factorize() merges values that hash equal but print differently (1, 1.0, True)
        return np.arange(len(values)), values.reset_index(drop=True)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, pd.Series(uniques)


def stable_order(group: np.ndarray, n_groups: int) -> np.ndarray:
    """``np.argsort(group, kind="stable")`` for codes ``0 .. n_groups - 1``.

    Cast to the smallest integer type first: NumPy radix-sorts integers of up to 16 bits.
    """
    return np.argsort(group.astype(np.min_scalar_type(max(n_groups - 1, 0))), kind="stable")


def group_positions(group: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Row positions (ascending) of each group ``0 .. n_groups - 1`` of ``group``."""
    order = stable_order(group, n_groups)
    ends = np.cumsum(np.bincount(group, minlength=n_groups))
    return np.split(order, ends[:-1]) if n_groups else []


def text_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per row, a code of ``values.astype(str)`` (-1 where that is missing), and the texts."""
    codes, reps = distinct(values)
    text_of_rep, texts = pd.factorize(reps.astype(str).to_numpy(dtype=object))
    return text_of_rep[codes], np.asarray(texts, dtype=object)


def combine(codes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Code of each row's combination of ``codes`` and the first row of each combination.

    Combinations are numbered in order of first appearance (``codes`` may hold -1).
    """
    n = len(codes[0]) if codes else 0
    ids = np.zeros(n, dtype=np.int64)
    size = 1  # number of possible values of ``ids``
    for c in codes:
        width = int(c.max()) + 2 if n else 1
        if size * width >= 2**62:  # renumber densely so that the mixed-radix code cannot overflow
            ids = pd.factorize(ids)[0]
            size = int(ids.max()) + 1
        ids *= width
        ids += c
        ids += 1
        size *= width
    ids = pd.factorize(ids)[0]
    # numbered by first appearance, so a row starts a new combination where the running
    # maximum of the numbers grows
    top = np.maximum.accumulate(ids)
    return ids, np.flatnonzero(np.diff(top, prepend=-1) > 0)
