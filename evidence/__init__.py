"""evigap's data layer: study records, validation, references, effect sizes and pooling."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from evidence.errors import (
    ConvergenceError,
    ConvergenceWarning,
    EvidenceError,
    InvalidParameterError,
    StatisticalWarning,
    ValidationError,
)

try:
    __version__ = version("evigap")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "ConvergenceError",
    "ConvergenceWarning",
    "EvidenceError",
    "InvalidParameterError",
    "StatisticalWarning",
    "ValidationError",
]
