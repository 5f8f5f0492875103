"""Internal API for grading: no stability promise to users.

The helpers that ``grading`` shares with ``evidence`` and that are not part of the documented
user API (``docs/api.md``): the argument checks (one wording for every public function of both
packages), the low-cardinality column codes, the distribution tails without ``scipy.stats``,
and the vocabularies grading checks options against.  ``grading`` imports from ``evidence``'s
public modules and from this module only, never from an underscore module or an underscore
name (``tests/test_boundary.py``).  Names here may change in any release; users should not
import them.

The helpers live in ``evidence``'s private modules (``_validate``, ``_codes``,
``_distributions``) and in ``pooling``/``moderators``/``study_effects``; this module only
re-exports them, so there is one definition of each.
"""

from __future__ import annotations

from evidence._codes import (
    combine,
    distinct,
    group_positions,
    stable_order,
    text_codes,
)
from evidence._distributions import (
    chi2_sf,
    f_sf,
    norm_isf,
    norm_ppf,
    norm_sf,
    t_isf,
    t_sf,
)
from evidence._validate import (
    as_vector,
    check_bool,
    check_choice,
    check_frame,
    check_int,
    check_level,
    check_mapping,
    check_number,
    check_path,
    check_text,
    numeric_column,
)
from evidence.moderators import check_yi_vi
from evidence.pooling import CI_ALIASES, METHOD_ALIASES

__all__ = [
    # argument checks (evidence._validate)
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
    "check_yi_vi",
    "numeric_column",
    # column codes (evidence._codes)
    "combine",
    "distinct",
    "group_positions",
    "stable_order",
    "text_codes",
    # distribution tails and quantiles (evidence._distributions)
    "chi2_sf",
    "f_sf",
    "norm_isf",
    "norm_ppf",
    "norm_sf",
    "t_isf",
    "t_sf",
    # vocabularies
    "CI_ALIASES",
    "METHOD_ALIASES",
]
