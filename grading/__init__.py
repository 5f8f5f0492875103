"""evigap's judgement layer: risk of bias, certainty, stream integration, the translational gap."""

from __future__ import annotations

from grading.certainty import grade, informative_statement
from grading.claims import audit_claims
from grading.gap import gap_summary
from grading.harms import harms_summary
from grading.integrate import integrate_streams
from grading.overall import overall_certainty
from grading.overrides import read_overrides
from grading.pipeline import RunResult, TextProgress, run_review
from grading.plots.ladder import translational_ladder
from grading.report import render_report, write_report
from grading.rob import (
    GENERIC,
    IN_VITRO,
    OHAT,
    ROB2,
    ROBINS_I,
    SYRCLE,
    RobTool,
    assess_rob,
    overall_judgement,
    parse_rob_domains,
    read_robvis,
    rob_problems,
    write_robvis,
)
from grading.scheme import Scheme, load_scheme
from grading.tables import (
    evidence_profile,
    summary_of_findings,
    to_html,
    to_latex,
    to_markdown,
)

#: The documented public API (docs/api.md; tests/test_api.py checks the two agree).
__all__: list[str] = [
    "write_report",
    "run_review",
    "render_report",
    "TextProgress",
    "RunResult",
    "GENERIC",
    "IN_VITRO",
    "OHAT",
    "ROB2",
    "ROBINS_I",
    "SYRCLE",
    "RobTool",
    "Scheme",
    "assess_rob",
    "audit_claims",
    "evidence_profile",
    "gap_summary",
    "harms_summary",
    "grade",
    "informative_statement",
    "integrate_streams",
    "overall_certainty",
    "read_overrides",
    "load_scheme",
    "overall_judgement",
    "parse_rob_domains",
    "read_robvis",
    "rob_problems",
    "summary_of_findings",
    "to_html",
    "to_latex",
    "to_markdown",
    "translational_ladder",
    "write_robvis",
]
