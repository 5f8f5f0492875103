"""The one exception hierarchy of evigap (used by both ``evidence`` and ``grading``)."""

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
