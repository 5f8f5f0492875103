"""One error class per kind of mistake (the rule: ``evidence/errors.py``, docs/architecture.md).

The same bad input gives the same class, with a message naming the argument, in every
function that takes effect sizes: a wrong call (unknown option, level outside (0, 1), text in
a vector, vectors of different lengths) is an InvalidParameterError; values that cannot be
analysed (negative or infinite variances, no usable row, a text cell in a data column) are a
ValidationError; a missing value (NaN) is omitted with a StatisticalWarning, as metafor's
``na.omit``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import evidence
from evidence.errors import InvalidParameterError, StatisticalWarning, ValidationError
from evidence.small_study import regression_test

Y = np.array([0.1, 0.3, -0.2, 0.5, 0.2, 0.4, 0.0, 0.6, 0.3, 0.1, 0.25])
V = np.array([0.04, 0.05, 0.03, 0.06, 0.02, 0.05, 0.04, 0.03, 0.05, 0.04, 0.03])


def _frame(y: Any, v: Any) -> pd.DataFrame:
    n = len(y)
    return pd.DataFrame(
        {"yi": y, "vi": v, "g": ["a", "b"] * (n // 2) + ["a"] * (n % 2), "x": np.arange(n)}
        | {"study": np.arange(n) // 2, "year": np.arange(n)}
    )


# functions of two vectors: f(yi, vi, **options)
VECTOR: dict[str, Callable[..., Any]] = {
    "pool": evidence.pool,
    "egger_test": evidence.egger_test,
    "regression_test": regression_test,
    "trim_and_fill": evidence.trim_and_fill,
    "funnel_data": evidence.funnel_data,
    "leave_one_out": evidence.leave_one_out,
    "influence": evidence.influence,
    "baujat_data": evidence.baujat_data,
    "ranktest": evidence.ranktest,
    "fail_safe_n": evidence.fail_safe_n,
}
# functions of a table with yi/vi columns: f(yi, vi, **options) builds the table
FRAME: dict[str, Callable[..., Any]] = {
    "pool_groups": lambda y, v, **k: evidence.pool_groups(_frame(y, v), "g", **k),
    "meta_regression": lambda y, v, **k: evidence.meta_regression(_frame(y, v), "x", **k),
    "subgroup_analysis": lambda y, v, **k: evidence.subgroup_analysis(_frame(y, v), "g", **k),
    "cumulative": lambda y, v, **k: evidence.cumulative(_frame(y, v), **k),
    "pool_multilevel": lambda y, v, **k: evidence.pool_multilevel(_frame(y, v), study="study", **k),
    "pool_clustered": lambda y, v, **k: evidence.pool_clustered(_frame(y, v), cluster="study", **k),
}
ALL = {**VECTOR, **FRAME}
#: the functions with a ``level`` / a tau2 ``method`` option
WITH_LEVEL = sorted(set(ALL) - {"ranktest", "fail_safe_n"})
WITH_METHOD = sorted(set(ALL) - {"ranktest", "fail_safe_n", "regression_test", "funnel_data"})


def _with(index: int, value: Any, values: np.ndarray) -> np.ndarray:
    out = values.astype(object if isinstance(value, str) else float)
    out[index] = value
    return out


@pytest.mark.parametrize("name", sorted(ALL))
def test_negative_variance_is_a_validation_error(name: str) -> None:
    with pytest.raises(ValidationError, match="'vi'") as info:
        ALL[name](Y, _with(2, -0.1, V))
    assert not isinstance(info.value, InvalidParameterError)


@pytest.mark.parametrize("name", sorted(ALL))
def test_infinite_effect_is_a_validation_error(name: str) -> None:
    with pytest.raises(ValidationError, match="'yi'|'vi'") as info:
        ALL[name](_with(1, np.inf, Y), V)
    assert "inf" in str(info.value).lower() or "finite" in str(info.value)
    assert not isinstance(info.value, InvalidParameterError)


@pytest.mark.parametrize("name", sorted(set(ALL) - {"pool_groups", "regression_test"}))
def test_no_usable_row_is_a_validation_error(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        with pytest.raises(ValidationError) as info:
            ALL[name](np.full(Y.size, np.nan), V)
    assert not isinstance(info.value, InvalidParameterError)


def test_group_wise_functions_report_an_empty_body_instead() -> None:
    """pool_groups and the small-study tests never stop a run for one body: k = 0, a note."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        out = evidence.pool_groups(_frame(np.full(Y.size, np.nan), V), "g")
        res = regression_test(np.full(Y.size, np.nan), V)
    assert out["k"].tolist() == [0, 0] and out["estimate"].isna().all()
    assert not res.estimable and res.note == "needs at least 3 studies (k = 0)"


@pytest.mark.parametrize("name", sorted(ALL))
def test_a_missing_value_is_omitted_with_a_warning(name: str) -> None:
    with pytest.warns(StatisticalWarning, match="1 .*(row|stud)|dropped|omitted|missing"):
        ALL[name](_with(3, np.nan, Y), V)


@pytest.mark.parametrize("name", sorted(VECTOR))
def test_vectors_of_different_lengths_are_an_invalid_parameter(name: str) -> None:
    with pytest.raises(InvalidParameterError, match="'yi' and 'vi'|same length"):
        VECTOR[name](Y[:-1], V)


@pytest.mark.parametrize("name", sorted(VECTOR))
def test_text_in_a_vector_is_an_invalid_parameter(name: str) -> None:
    with pytest.raises(InvalidParameterError, match="'yi'"):
        VECTOR[name](_with(0, "a", Y), V)


@pytest.mark.parametrize("name", sorted(FRAME))
def test_text_in_a_data_column_is_a_validation_error(name: str) -> None:
    with pytest.raises(ValidationError, match="'yi'") as info:
        FRAME[name](_with(0, "a", Y), V)
    assert not isinstance(info.value, InvalidParameterError)


@pytest.mark.parametrize("name", WITH_LEVEL)
@pytest.mark.parametrize("level", [1.5, 0, 95, "0.95", True])
def test_a_bad_level_is_an_invalid_parameter(name: str, level: Any) -> None:
    with pytest.raises(InvalidParameterError, match="'level'"):
        ALL[name](Y, V, level=level)


@pytest.mark.parametrize("name", WITH_METHOD)
def test_an_unknown_method_is_an_invalid_parameter(name: str) -> None:
    with pytest.raises(InvalidParameterError, match="'method'.*RMEL"):
        ALL[name](Y, V, method="RMEL")
