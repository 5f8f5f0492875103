"""The one exception hierarchy of evigap (used by both ``evidence`` and ``grading``).

Which class for which mistake (the same bad input raises the same class in every public
function; ``tests/test_error_classes.py`` checks it across pool, pool_groups, egger_test,
regression_test, trim_and_fill, funnel_data, leave_one_out, meta_regression,
subgroup_analysis, cumulative, influence, baujat_data, ranktest, fail_safe_n,
pool_multilevel and pool_clustered):

- :class:`InvalidParameterError`: the call is wrong whatever the numbers. An unknown option
  (``method="RMEL"``), a ``level`` outside (0, 1), a non-boolean flag, an argument of the
  wrong type or shape (``None``, a 2-D array, booleans or text in a ``yi``/``vi`` vector), a
  column name that is not in ``data``, ``yi`` and ``vi`` vectors of different lengths.
- :class:`ValidationError`: the call is fine but the data cannot be analysed. A text cell in
  a ``data`` column, infinite values, negative (or, where the method needs it, zero)
  sampling variances, no row with both ``yi`` and ``vi``, too few studies for the method,
  collinear moderators, a file or table that cannot be read.
- :class:`ConvergenceError`: an iterative estimate without a fallback failed
  (:class:`ConvergenceWarning` when a fallback was used).
- A missing value (NaN) is not an error: the row is omitted with a
  :class:`StatisticalWarning` (metafor's ``na.omit``).  Functions that summarise many
  bodies at once (``pool_groups``, the small-study tests) report a body they cannot
  estimate (``k = 0``, a note) instead of raising.

Every message names the function and the argument (or column and row).
"""

from __future__ import annotations

__all__ = [
    "EvidenceError",
    "ValidationError",
    "InvalidParameterError",
    "ConvergenceError",
    "EvigapWarning",
    "ConvergenceWarning",
    "StatisticalWarning",
]


class EvidenceError(Exception):
    """Base class of every error evigap raises on purpose."""


class ValidationError(EvidenceError, ValueError):
    """Input data that cannot be used at all (file, table or column level).

    The message names the file, the column and what was expected.  Row-level
    problems never raise: they are reported in ``IngestResult.rejected``.
    """


class InvalidParameterError(EvidenceError, ValueError, TypeError):
    """A function argument with a wrong value or type.

    Message template: ``The 'method' argument of pool() must be one of [...]. Got 'RMEL'.``
    """


class ConvergenceError(EvidenceError, ValueError):
    """An iterative estimator that did not converge and has no fallback."""


class EvigapWarning(UserWarning):
    """Base class of evigap's warnings."""


class ConvergenceWarning(EvigapWarning):
    """An iterative estimator did not converge and a fallback was used (the message says which)."""


class StatisticalWarning(EvigapWarning):
    """A principled repair was applied (zero-cell correction, tau2 truncated, rows dropped, ...)."""
