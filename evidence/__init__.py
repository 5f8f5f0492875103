"""evigap's data layer: study records, validation, references, effect sizes and pooling."""

from __future__ import annotations

from evidence.bias import (
    EggerResult,
    TrimFillResult,
    egger_test,
    funnel_data,
    leave_one_out,
    trim_and_fill,
)
from evidence.datasets import bundled_bib_path, bundled_path, list_datasets, load_dataset
from evidence.diagnostics import baujat_data, cumulative, influence
from evidence.dictionary import data_dictionary, template_frame
from evidence.effects import effect_sizes, effects_from_ci
from evidence.errors import (
    ConvergenceError,
    ConvergenceWarning,
    EvidenceError,
    EvigapWarning,
    InvalidParameterError,
    StatisticalWarning,
    ValidationError,
)
from evidence.export import write_csv
from evidence.ingest import IngestResult, read_studies
from evidence.mantel_haenszel import MHResult, mantel_haenszel, peto
from evidence.moderators import (
    ClusteredPoolResult,
    MetaRegressionResult,
    SubgroupResult,
    meta_regression,
    pool_clustered,
    subgroup_analysis,
)
from evidence.multilevel import MultilevelResult, pool_multilevel
from evidence.pooling import PoolResult, pool, pool_groups
from evidence.proportions import PooledProportion, pool_proportions, proportion_ci
from evidence.publication_bias import FailSafeNResult, RankTestResult, fail_safe_n, ranktest
from evidence.readers import sheet_options
from evidence.references import Bibliography, Reference, read_bib, read_ris
from evidence.study_effects import study_effects


def __getattr__(name: str) -> str:
    # __version__ is looked up on first use
    if name != "__version__":
        raise AttributeError(f"module 'evidence' has no attribute {name!r}")
    # importlib.metadata costs ~10-30 ms: loaded only when the version is asked for
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("evigap")
    except PackageNotFoundError:  # running from a checkout that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found


#: The documented public API (docs/api.md; tests/test_api.py checks the two agree).
__all__ = [
    "__version__",
    "ConvergenceError",
    "ConvergenceWarning",
    "EvidenceError",
    "EvigapWarning",
    "InvalidParameterError",
    "StatisticalWarning",
    "ValidationError",
    "Bibliography",
    "IngestResult",
    "Reference",
    "bundled_bib_path",
    "bundled_path",
    "data_dictionary",
    "list_datasets",
    "load_dataset",
    "read_bib",
    "read_ris",
    "read_studies",
    "sheet_options",
    "template_frame",
    "write_csv",
    "effect_sizes",
    "effects_from_ci",
    "study_effects",
    "PoolResult",
    "pool",
    "pool_groups",
    "EggerResult",
    "TrimFillResult",
    "egger_test",
    "funnel_data",
    "leave_one_out",
    "trim_and_fill",
    "ClusteredPoolResult",
    "MetaRegressionResult",
    "SubgroupResult",
    "meta_regression",
    "pool_clustered",
    "subgroup_analysis",
    "MHResult",
    "mantel_haenszel",
    "peto",
    "PooledProportion",
    "pool_proportions",
    "proportion_ci",
    "FailSafeNResult",
    "RankTestResult",
    "fail_safe_n",
    "ranktest",
    "baujat_data",
    "cumulative",
    "influence",
    "MultilevelResult",
    "pool_multilevel",
]
