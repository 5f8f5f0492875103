"""Risk of bias: tool templates, per-study domain judgements, overall rules, robvis CSV.

Each tool is a frozen :class:`RobTool` with its domains (``D1``.. ids and names), its judgement
vocabulary, the rule that turns domain judgements into an overall judgement, and its citation.
Every judgement also maps to one of three classes (``low``, ``unclear``, ``high``) that the
certainty engine uses to weigh risk of bias across a body of evidence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evidence.errors import InvalidParameterError, ValidationError
from evidence.export import write_csv
from evidence.internal import check_frame, check_mapping, check_path, combine
from evidence.missing import is_blank

__all__ = [
    "RobTool",
    "ROB2",
    "ROBINS_I",
    "SYRCLE",
    "OHAT",
    "IN_VITRO",
    "GENERIC",
    "TOOLS",
    "get_tool",
    "parse_rob_domains",
    "overall_judgement",
    "judgement_class",
    "assess_rob",
    "rob_classes",
    "rob_judgements",
    "rob_problems",
    "read_robvis",
    "write_robvis",
]

#: judgement -> class used for weighting (low / unclear / high)
_CLASS: dict[str, str] = {
    "low": "low",
    "definitely_low": "low",
    "probably_low": "low",
    "some_concerns": "unclear",
    "unclear": "unclear",
    "moderate": "unclear",
    "no_information": "unclear",
    "not_reported": "unclear",
    "high": "high",
    "serious": "high",
    "critical": "high",
    "probably_high": "high",
    "definitely_high": "high",
}

_ALIASES: dict[str, str] = {
    "some concerns": "some_concerns",
    "some_concern": "some_concerns",
    "no information": "no_information",
    "ni": "no_information",
    "nr": "not_reported",
    "not reported": "not_reported",
    "++": "definitely_low",
    "+": "probably_low",
    "-": "probably_high",
    "−": "probably_high",
    "--": "definitely_high",
    "−−": "definitely_high",
    "definitely low": "definitely_low",
    "probably low": "probably_low",
    "probably high": "probably_high",
    "definitely high": "definitely_high",
}


def _norm(value: object) -> str:
    text = str(value).strip().lower()
    if text in _ALIASES:
        return _ALIASES[text]
    return re.sub(r"[\s\-]+", "_", text)


def judgement_class(judgement: str | None) -> str:
    """Map any tool's judgement to ``low``, ``unclear`` or ``high`` (missing -> ``unclear``)."""
    if judgement is None or (isinstance(judgement, float) and math.isnan(judgement)):
        return "unclear"
    j = _norm(judgement)
    if j in ("", "nan", "<na>", "none"):
        return "unclear"
    if j not in _CLASS:
        raise InvalidParameterError(
            f"Unknown risk-of-bias judgement {judgement!r}. Known: {sorted(_CLASS)}."
        )
    return _CLASS[j]


@dataclass(frozen=True)
class RobTool:
    """A risk-of-bias (or reliability) tool template.

    Attributes
    ----------
    name : str
        Short id used in the sheet's ``rob_tool`` column (``rob2``, ``robins_i`` ...).
    label : str
        Display name.
    domains : tuple of (id, name)
        The tool's domains/items; empty for :data:`GENERIC` (any ``D<n>`` id accepted).
    judgements : tuple of str
        Accepted judgement values (normalised snake_case).
    aliases : mapping
        Extra accepted spellings -> judgement (e.g. SYRCLE ``yes`` -> ``low``).
    overall_rule : str
        Plain-words statement of the overall rule.
    citation : str
        Where the tool and its rule come from.
    robvis_labels : mapping
        judgement -> spelling used in robvis CSV files.
    """

    name: str
    label: str
    domains: tuple[tuple[str, str], ...]
    judgements: tuple[str, ...]
    overall_rule: str
    citation: str
    rule: Callable[[dict[str, str]], str]
    aliases: Mapping[str, str] | None = None
    robvis_labels: Mapping[str, str] | None = None

    @property
    def domain_ids(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.domains)

    def normalise(self, judgement: str) -> str:
        j = _norm(judgement)
        if self.aliases and j in self.aliases:
            j = self.aliases[j]
        if j not in self.judgements:
            raise InvalidParameterError(
                f"Judgement {judgement!r} is not valid for the {self.label} tool. "
                f"Allowed: {list(self.judgements)}."
            )
        return j

    def overall(self, domains: Mapping[str, str]) -> str:
        return overall_judgement(self, domains)

    def __repr__(self) -> str:
        return f"<RobTool {self.name}: {self.label}, {len(self.domains)} domains>"


def _worst(order: tuple[str, ...]) -> Callable[[dict[str, str]], str]:
    def rule(d: dict[str, str]) -> str:
        return max(d.values(), key=order.index)

    return rule


def _rob2_rule(d: dict[str, str]) -> str:
    vals = set(d.values())
    if "high" in vals:
        return "high"
    if vals == {"low"}:
        return "low"
    if vals <= {"low", "no_information"}:
        return "no_information" if "no_information" in vals else "low"
    return "some_concerns"


def _robins_rule(d: dict[str, str]) -> str:
    order = ("low", "moderate", "serious", "critical")
    graded = [v for v in d.values() if v in order]
    worst = max(graded, key=order.index) if graded else "no_information"
    if "no_information" in d.values() and worst in ("low", "moderate"):
        return "no_information"
    return worst


def _three_class_rule(low: str, mid: str, high: str) -> Callable[[dict[str, str]], str]:
    def rule(d: dict[str, str]) -> str:
        vals = set(d.values())
        if high in vals:
            return high
        if vals == {low}:
            return low
        return mid

    return rule


_OHAT_KEY = ("D1", "D4", "D8", "D9")


def _ohat_rule(d: dict[str, str]) -> str:
    cls = {k: _CLASS[v] for k, v in d.items()}
    key = [cls[k] for k in _OHAT_KEY if k in cls]
    others = [c for k, c in cls.items() if k not in _OHAT_KEY]
    if "high" in key or (others and sum(c == "high" for c in others) > len(others) / 2):
        return "probably_high"
    if (
        key
        and all(c == "low" for c in key)
        and (not others or sum(c == "low" for c in others) > len(others) / 2)
    ):
        return "probably_low"
    return "unclear"


ROB2 = RobTool(
    name="rob2",
    label="Cochrane RoB 2",
    domains=(
        ("D1", "Bias arising from the randomisation process"),
        ("D2", "Bias due to deviations from intended interventions"),
        ("D3", "Bias due to missing outcome data"),
        ("D4", "Bias in measurement of the outcome"),
        ("D5", "Bias in selection of the reported result"),
    ),
    judgements=("low", "some_concerns", "high", "no_information"),
    overall_rule=(
        "all domains low -> low; any domain high -> high; otherwise some concerns. Multiple "
        "'some concerns' that substantially lower confidence may be judged high: that is reviewer "
        "judgement (record it in rob_overall or as an override), not applied automatically."
    ),
    citation=(
        "Sterne JAC et al. RoB 2. BMJ 2019;366:l4898, doi:10.1136/bmj.l4898; overall = least "
        "favourable domain"
    ),
    rule=_rob2_rule,
    robvis_labels={
        "low": "Low",
        "some_concerns": "Some concerns",
        "high": "High",
        "no_information": "No information",
    },
)

ROBINS_I = RobTool(
    name="robins_i",
    label="ROBINS-I",
    domains=(
        ("D1", "Bias due to confounding"),
        ("D2", "Bias in selection of participants into the study"),
        ("D3", "Bias in classification of interventions"),
        ("D4", "Bias due to deviations from intended interventions"),
        ("D5", "Bias due to missing data"),
        ("D6", "Bias in measurement of outcomes"),
        ("D7", "Bias in selection of the reported result"),
    ),
    judgements=("low", "moderate", "serious", "critical", "no_information"),
    overall_rule=(
        "overall = the worst domain judgement (low < moderate < serious < critical); "
        "'no information' when some domain lacks information and none is serious or critical."
    ),
    citation=(
        "Sterne JAC et al. ROBINS-I. BMJ 2016;355:i4919, doi:10.1136/bmj.i4919: overall = the "
        "worst domain judgement (serious or critical in one domain makes the study serious or "
        "critical), applied here as the same "
        "worst-domain rule"
    ),
    rule=_robins_rule,
    robvis_labels={
        "low": "Low",
        "moderate": "Moderate",
        "serious": "Serious",
        "critical": "Critical",
        "no_information": "No information",
    },
)

SYRCLE = RobTool(
    name="syrcle",
    label="SYRCLE risk of bias (animal studies)",
    domains=(
        ("D1", "Sequence generation"),
        ("D2", "Baseline characteristics"),
        ("D3", "Allocation concealment"),
        ("D4", "Random housing"),
        ("D5", "Blinding of caregivers/investigators"),
        ("D6", "Random outcome assessment"),
        ("D7", "Blinding of outcome assessor"),
        ("D8", "Incomplete outcome data"),
        ("D9", "Selective outcome reporting"),
        ("D10", "Other sources of bias"),
    ),
    judgements=("low", "unclear", "high"),
    aliases={"yes": "low", "no": "high"},
    overall_rule=(
        "SYRCLE gives no summary score. evigap's overall (used only to weigh risk of bias across "
        "a body of evidence): any item high -> high; all items low -> low; otherwise unclear."
    ),
    citation=(
        "Hooijmans CR et al. BMC Med Res Methodol 2014;14:43, doi:10.1186/1471-2288-14-43 "
        "(10 items; yes = low, no = high, unclear; no summary score is given); the "
        "overall rule is an evigap convention"
    ),
    rule=_three_class_rule("low", "unclear", "high"),
    robvis_labels={"low": "Low", "unclear": "Unclear", "high": "High"},
)

OHAT = RobTool(
    name="ohat",
    label="OHAT risk of bias",
    domains=(
        ("D1", "Was administered dose or exposure level adequately randomized?"),
        ("D2", "Was allocation to study groups adequately concealed?"),
        ("D3", "Did selection of study participants result in appropriate comparison groups?"),
        (
            "D4",
            "Did the study design or analysis account for important confounding and "
            "modifying variables?",
        ),
        ("D5", "Were experimental conditions identical across study groups?"),
        ("D6", "Were research personnel and human subjects blinded to the study group?"),
        ("D7", "Were outcome data complete without attrition or exclusion from analysis?"),
        ("D8", "Can we be confident in the exposure characterization?"),
        ("D9", "Can we be confident in the outcome assessment?"),
        ("D10", "Were all measured outcomes reported?"),
        ("D11", "Were there no other potential threats to internal validity?"),
    ),
    judgements=(
        "definitely_low",
        "probably_low",
        "probably_high",
        "definitely_high",
        "not_reported",
        "unclear",
    ),
    overall_rule=(
        "evigap convention modelled on OHAT tiers (the OHAT tier algorithm is unverified): any key "
        "criterion (D1 randomisation, D4 confounding, D8 exposure, D9 outcome) probably/definitely "
        "high, or most other items high -> probably_high (tier 3); all key criteria low and most "
        "others low -> probably_low (tier 1); otherwise unclear (tier 2)."
    ),
    citation=(
        "OHAT Handbook for Conducting a Literature-Based Health Assessment (NTP 2015, 2019): "
        "risk-of-bias questions and response scale ++/+/-/--/NR; the tier algorithm is "
        "replaced by the evigap convention above"
    ),
    rule=_ohat_rule,
    robvis_labels={
        "definitely_low": "Low",
        "probably_low": "Low",
        "probably_high": "High",
        "definitely_high": "High",
        "not_reported": "No information",
        "unclear": "Unclear",
    },
)

IN_VITRO = RobTool(
    name="in_vitro",
    label="In vitro reliability (ToxRTool/SciRAP-style)",
    domains=(
        ("D1", "Test substance identification and characterisation (ToxRTool criteria 1-4)"),
        ("D2", "Test system characterisation (criteria 5-7)"),
        ("D3", "Study design: administration, doses, timing, controls, replicates (criteria 8-13)"),
        ("D4", "Documentation of endpoints, results and statistics (criteria 14-16)"),
        ("D5", "Plausibility of design and results (criteria 17-18)"),
    ),
    judgements=("low", "unclear", "high"),
    aliases={
        "fulfilled": "low",
        "partially_fulfilled": "unclear",
        "not_fulfilled": "high",
        "not_determined": "unclear",
        "yes": "low",
        "no": "high",
    },
    overall_rule=(
        "Klimisch-like: all groups low (reliable) -> low (Klimisch 1); any group high (not "
        "reliable) -> high (Klimisch 3); otherwise unclear (Klimisch 2, reliable with "
        "restrictions)."
    ),
    citation=(
        "ToxRTool in vitro criteria (Schneider K et al. Toxicol Lett 2009;189:138-144) and "
        "SciRAP in vitro (Roth N et al. Front Toxicol 2021;3:746430); grouping of the 18 "
        "criteria into 5 domains and the overall rule are evigap conventions"
    ),
    rule=_three_class_rule("low", "unclear", "high"),
    robvis_labels={"low": "Low", "unclear": "Unclear", "high": "High"},
)

_GENERIC_ORDER = (
    "low",
    "unclear",
    "no_information",
    "some_concerns",
    "moderate",
    "high",
    "serious",
    "critical",
)

GENERIC = RobTool(
    name="generic",
    label="Generic risk of bias",
    domains=(),
    judgements=_GENERIC_ORDER,
    overall_rule="overall = the worst domain judgement in the order " + " < ".join(_GENERIC_ORDER),
    citation="robvis 'Generic' template (McGuinness & Higgins 2020, doi:10.1002/jrsm.1411)",
    rule=_worst(_GENERIC_ORDER),
    robvis_labels={
        "low": "Low",
        "unclear": "Unclear",
        "no_information": "No information",
        "some_concerns": "Some concerns",
        "moderate": "Moderate",
        "high": "High",
        "serious": "Serious",
        "critical": "Critical",
    },
)

TOOLS: dict[str, RobTool] = {t.name: t for t in (ROB2, ROBINS_I, SYRCLE, OHAT, IN_VITRO, GENERIC)}
_TOOL_ALIASES = {
    "rob_2": "rob2",
    "robins-i": "robins_i",
    "robinsi": "robins_i",
    "invitro": "in_vitro",
}


def get_tool(tool: str | RobTool, func: str | None = None) -> RobTool:
    """A tool template by name (``rob2``, ``robins_i``, ``syrcle``, ``ohat``, ``in_vitro``,
    ``generic``) or pass a :class:`RobTool` through."""
    if isinstance(tool, RobTool):
        return tool
    key = _norm(tool) if isinstance(tool, str) else None
    key = _TOOL_ALIASES.get(key, key)
    if key not in TOOLS:
        of = f" of {func}()" if func else ""
        raise InvalidParameterError(
            f"The 'tool' argument{of} must be one of {sorted(TOOLS)} or a RobTool. Got {tool!r}."
        )
    return TOOLS[key]


def parse_rob_domains(text: str | None, tool: str | RobTool = "generic") -> dict[str, str]:
    """Parse ``"D1=low; D2=some concerns"`` into ``{"D1": "low", "D2": "some_concerns"}``.

    Domain ids are checked against the tool (any ``D<n>`` for the generic tool) and judgements
    against its vocabulary; problems raise :class:`InvalidParameterError` naming the part.
    """
    t = get_tool(tool, "parse_rob_domains")
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return {}
    text = str(text).strip()
    if not text or text.lower() in ("nan", "<na>"):
        return {}
    out: dict[str, str] = {}
    for part in re.split(r"[;,\n]", text):
        part = part.strip()
        if not part:
            continue
        if "=" not in part and ":" not in part:
            raise InvalidParameterError(
                f"parse_rob_domains(): risk-of-bias entry {part!r} of the 'text' argument must "
                f"look like 'D1=low'."
            )
        dom, _, judg = part.replace(":", "=", 1).partition("=")
        dom = dom.strip().upper()
        if t.domains:
            if dom not in t.domain_ids:
                raise InvalidParameterError(
                    f"Domain {dom!r} is not a {t.label} domain. Allowed: {list(t.domain_ids)}."
                )
        elif not re.fullmatch(r"D\d+", dom):
            raise InvalidParameterError(
                f"Domain {dom!r} must be an id like 'D1' for the generic tool."
            )
        out[dom] = t.normalise(judg)
    return out


def overall_judgement(tool: str | RobTool, domains: Mapping[str, str]) -> str:
    """The overall judgement by the tool's rule (see ``tool.overall_rule``).

    Domains not given count as missing; with none given the result is ``no_information``
    (``unclear`` / ``not_reported`` for tools without that value).
    """
    func = "overall_judgement"
    t = get_tool(tool, func)
    check_mapping(
        domains, "domains", func, "a mapping of domain id to judgement, e.g. {'D1': 'low'}"
    )
    try:
        d = {k: t.normalise(v) for k, v in domains.items()}
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"The 'domains' argument of {func}(): {exc}") from None
    unknown = [k for k in d if t.domains and str(k).strip().upper() not in t.domain_ids]
    if unknown:
        raise InvalidParameterError(
            f"The 'domains' argument of {func}() names {unknown}, which are not {t.label} "
            f"domains. Allowed: {list(t.domain_ids)}."
        )
    if not d:
        for missing in ("no_information", "unclear", "not_reported"):
            if missing in t.judgements:
                return missing
    return t.rule(d)


def _tool_for_row(row: Mapping, default: str | None) -> RobTool:
    name = row.get("rob_tool")
    if is_blank(name):
        if default is not None:
            return get_tool(default)
        stream = row.get("stream")
        if stream == "animal":
            return SYRCLE
        if stream == "in_vitro":
            return IN_VITRO
        return GENERIC
    return get_tool(str(name))


def _overrides_frame(overrides) -> pd.DataFrame:
    if overrides is None:
        return pd.DataFrame(columns=["study_id", "outcome", "overall", "reason", "by"])
    if isinstance(overrides, pd.DataFrame):
        frame = overrides.copy()
    elif isinstance(overrides, Iterable):
        frame = pd.DataFrame(list(overrides))
    else:
        raise InvalidParameterError(
            "The 'overrides' argument of assess_rob() must be a DataFrame or a list of dicts."
        )
    for col in ("study_id", "overall", "reason"):
        if col not in frame.columns:
            raise InvalidParameterError(
                f"The 'overrides' argument of assess_rob() needs a {col!r} column."
            )
    for col in ("outcome", "by"):
        if col not in frame.columns:
            frame[col] = None
    for i, r in frame.iterrows():
        if is_blank(r["reason"]):
            raise InvalidParameterError(
                f"Risk-of-bias override {i} (study {r['study_id']!r}) has no 'reason'; every "
                "override must say why."
            )
    return frame


#: The cells that decide a row's tool, domains and overall judgement.
_JUDGED_CELLS = ("rob_tool", "stream", "rob_domains", "rob_overall")
_CLASSES = ("low", "unclear", "high")


@dataclass(frozen=True)
class _Judged:
    """The judgement shared by every row with the same :data:`_JUDGED_CELLS`."""

    tool: RobTool
    domains: dict[str, str]
    by_rule: str | None
    final: str | None
    cls: str
    basis: str


def check_rob_studies(studies: pd.DataFrame, tool: str | None, func: str) -> None:
    """``studies`` is a DataFrame with ``study_id`` and the risk-of-bias columns ``func`` needs."""
    check_frame(studies, "studies", func, what="a DataFrame")
    if "study_id" not in studies.columns:
        raise ValidationError(f"{func}() needs a 'study_id' column in 'studies'.")
    if tool is not None:
        get_tool(tool, func)


def rob_combinations(studies: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the number of its combination of :data:`_JUDGED_CELLS`, and the first row of
    each combination; combinations are numbered in order of first appearance."""
    codes = [
        pd.factorize(studies[name], use_na_sentinel=False)[0]
        for name in _JUDGED_CELLS
        if name in studies.columns
    ]
    return combine(codes or [np.zeros(len(studies), dtype=np.int64)])


def judge_rob(studies: pd.DataFrame, tool: str | None, rows: np.ndarray) -> list[_Judged]:
    """The judgement of each of ``rows`` (errors name the row)."""
    cells = {
        name: studies[name].take(rows).astype(object).tolist()
        for name in _JUDGED_CELLS
        if name in studies.columns
    }
    judged = []
    for i, pos in enumerate(rows.tolist()):
        r = {name: values[i] for name, values in cells.items()}
        column = "rob_tool"
        try:
            t = _tool_for_row(r, tool)
            column = "rob_domains"
            doms = parse_rob_domains(r.get("rob_domains"), t)
        except InvalidParameterError as exc:
            sid = studies["study_id"].take([pos]).astype(object).tolist()[0]
            raise InvalidParameterError(
                f"Row {studies.index[pos]} (study {sid!r}), column {column!r}: {exc}"
            ) from None
        by_rule = t.rule(doms) if doms else None
        sheet = r.get("rob_overall")
        sheet = None if is_blank(sheet) else _norm(sheet)
        if sheet is not None:
            final = sheet
            basis = "sheet rob_overall (reviewer)"
            if by_rule is not None and judgement_class(by_rule) != judgement_class(sheet):
                basis += f"; the {t.label} rule gives {by_rule}"
        elif by_rule is not None:
            final, basis = by_rule, f"{t.label} rule: {t.overall_rule}"
        else:
            final, basis = None, "no risk-of-bias assessment recorded"
        judged.append(_Judged(t, doms, by_rule, final, judgement_class(final), basis))
    return judged


def rob_problems(studies: pd.DataFrame) -> pd.DataFrame:
    """The rows whose risk-of-bias cells cannot be judged, for ``read_studies(checks=...)``.

    A ``rob_tool`` that names no tool template, or ``rob_domains`` that do not parse for the
    row's tool (:func:`parse_rob_domains`), would stop :func:`assess_rob` and ``grade()``;
    ``evigap run`` and ``evigap validate`` pass this check to
    :func:`evidence.ingest.read_studies`, which rejects such rows with the reason instead.

    Returns
    -------
    DataFrame
        One row per problem: ``row`` (0-based position in ``studies``), ``column``
        (``rob_tool`` or ``rob_domains``), ``value`` (the cell) and ``reason``.
    """
    check_frame(studies, "studies", "rob_problems", what="a DataFrame")
    codes, first = rob_combinations(studies)
    cells = {
        name: studies[name].take(first).astype(object).tolist()
        for name in _JUDGED_CELLS
        if name in studies.columns
    }
    found: list[tuple[int, str, object, str]] = []  # (combination, column, cell, reason)
    for i in range(len(first)):
        r = {name: values[i] for name, values in cells.items()}
        try:
            t = _tool_for_row(r, None)
        except InvalidParameterError:
            found.append(
                (
                    i,
                    "rob_tool",
                    r.get("rob_tool"),
                    f"unknown rob_tool '{r.get('rob_tool')}'; expected one of "
                    f"{', '.join(sorted(TOOLS))}.",
                )
            )
            continue
        try:
            parse_rob_domains(r.get("rob_domains"), t)
        except InvalidParameterError as exc:
            why = " ".join(str(exc).split()).replace("parse_rob_domains(): ", "")
            found.append(
                (i, "rob_domains", r.get("rob_domains"), why.replace(" of the 'text' argument", ""))
            )
    # each row's problem is its combination's: one lookup per row, not one scan per combination
    which = np.full(len(first), -1, dtype=np.int64)
    which[[i for i, *_ in found]] = np.arange(len(found))
    rows = np.flatnonzero(which[codes] >= 0)
    pick = which[codes[rows]]

    def column_of(part: int) -> pd.arrays.StringArray:
        texts = [None if is_blank(f[part]) else str(f[part]) for f in found]
        return pd.array(np.array(texts, dtype=object)[pick] if found else [], dtype="string")

    return pd.DataFrame(
        {"row": rows, "column": column_of(1), "value": column_of(2), "reason": column_of(3)}
    )


def _per_row(values: list, codes: np.ndarray) -> np.ndarray:
    """``values[code]`` for every row, as an object array (dicts and None kept as they are)."""
    table = np.empty(len(values), dtype=object)
    table[:] = values
    return table[codes]


def _matches(value, series: pd.Series | None, n: int) -> np.ndarray:
    """Rows where ``value == cell`` (a missing column holds None), each distinct cell compared
    once."""
    if series is None:
        return np.full(n, bool(value == None))  # noqa: E711  (as the cell None would compare)
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    return np.array([bool(value == u) for u in uniques.tolist()], dtype=bool)[codes]


def rob_classes(studies: pd.DataFrame, *, tool: str | None = None) -> pd.Categorical:
    """``assess_rob(studies, tool=tool)["overall_class"]`` (``low``/``unclear``/``high`` per
    row) without building the per-row table."""
    check_rob_studies(studies, tool, "rob_classes")
    codes, first = rob_combinations(studies)
    judged = judge_rob(studies, tool, first)
    cls = np.array([_CLASSES.index(j.cls) for j in judged], dtype=np.int8)
    return pd.Categorical.from_codes(cls[codes], categories=list(_CLASSES))


def rob_judgements(studies: pd.DataFrame, *, tool: str | None = None) -> pd.DataFrame:
    """Per row: ``rob_tool`` (the tool's id), ``judgement`` (the final overall judgement,
    normalised, e.g. ``moderate``; ``None`` when nothing was recorded) and ``judgement_class``
    (``low``/``unclear``/``high``, or ``not assessed`` when nothing was recorded).

    Unlike :func:`rob_classes`, a row without any risk-of-bias assessment is ``not assessed``,
    never ``unclear``: missing data is not a judgement.
    """
    check_rob_studies(studies, tool, "rob_judgements")
    codes, first = rob_combinations(studies)
    judged = judge_rob(studies, tool, first)
    tools = np.array([j.tool.name for j in judged], dtype=object)[codes]
    finals = np.array([j.final for j in judged], dtype=object)[codes]
    classes = np.array(
        [j.cls if j.final is not None else "not assessed" for j in judged], dtype=object
    )[codes]
    return pd.DataFrame(
        {"rob_tool": tools, "judgement": finals, "judgement_class": classes}, index=studies.index
    )


def assess_rob(studies: pd.DataFrame, *, tool: str | None = None, overrides=None) -> pd.DataFrame:
    """Per-row risk-of-bias judgements: domains parsed, overall by the tool's rule.

    Parameters
    ----------
    studies : DataFrame
        Study sheet with ``study_id`` and optionally ``outcome``, ``stream``, ``rob_tool``,
        ``rob_domains``, ``rob_overall``.
    tool : str, optional
        Tool for rows without ``rob_tool`` (default: SYRCLE for animal rows, the in vitro template
        for in vitro rows, generic otherwise).
    overrides : DataFrame or list of dict, optional
        Per-outcome overrides with ``study_id``, ``overall``, ``reason`` (mandatory) and
        optionally ``outcome`` (missing = all outcomes of the study) and ``by``.

    Returns
    -------
    DataFrame
        One row per input row (same index): ``study_id``, ``outcome``, ``rob_tool``,
        ``domains`` (dict; rows with identical risk-of-bias cells share one dict, so treat it
        as read-only), one column per domain id found, ``overall_rule`` (by the tool's
        rule, ``None`` without domains), ``overall`` (final), ``overall_class``
        (low/unclear/high), ``overall_basis`` (why: rule / sheet / override / none),
        ``override_by``.
    """
    check_rob_studies(studies, tool, "assess_rob")
    ov = _overrides_frame(overrides)
    n = len(studies)
    # Tool, domains and overall depend only on the _JUDGED_CELLS: judge each distinct
    # combination once (in order of first appearance, so the first bad row is still the one
    # named in an error) and spread the results over the rows.
    codes, first = rob_combinations(studies)
    judged = judge_rob(studies, tool, first)
    domain_ids: list[str] = list(dict.fromkeys(d for j in judged for d in j.domains))
    domain_ids.sort(key=lambda d: int(d[1:]) if d[1:].isdigit() else 999)
    finals = _per_row([j.final for j in judged], codes)
    classes = _per_row([j.cls for j in judged], codes)
    bases = _per_row([j.basis for j in judged], codes)
    override_by = np.full(n, None, dtype=object)
    # later overrides win, as a row takes its last matching override
    for _, h in ov.iterrows():
        hit = _matches(h["study_id"], studies["study_id"], n)
        if not is_blank(h["outcome"]):
            hit &= _matches(h["outcome"], studies.get("outcome"), n)
        final = _norm(h["overall"])
        finals[hit], classes[hit] = final, judgement_class(final)
        override_by[hit] = None if is_blank(h["by"]) else str(h["by"])
        bases[hit] = f"override: {h['reason']}"

    def col(name: str) -> list:
        if name not in studies.columns:
            return [None] * n
        return studies[name].astype(object).tolist()

    # lists, not object arrays: the frame infers the column dtypes from the values
    data: dict = {
        "study_id": col("study_id"),
        "outcome": col("outcome"),
        "rob_tool": _per_row([j.tool.name for j in judged], codes).tolist(),
        "domains": _per_row([j.domains for j in judged], codes).tolist(),
    }
    for d in domain_ids:
        data[d] = _per_row([j.domains.get(d, np.nan) for j in judged], codes).tolist()
    data.update(
        {
            "overall_rule": _per_row([j.by_rule for j in judged], codes).tolist(),
            "overall": finals.tolist(),
            "overall_class": classes.tolist(),
            "overall_basis": bases.tolist(),
            "override_by": override_by.tolist(),
        }
    )
    return pd.DataFrame(data, index=studies.index)


# ---------------------------------------------------------------------------- robvis


def read_robvis(path: str | Path, *, tool: str | RobTool = "generic") -> pd.DataFrame:
    """Read a robvis wide CSV (``Study, D1..Dn, Overall[, Weight]``).

    Parameters
    ----------
    path : str or Path
        The CSV file.
    tool : str or RobTool, default "generic"
        Tool whose judgement vocabulary the cells are normalised to.

    Returns
    -------
    pandas.DataFrame
        One row per study: ``study_id`` (from ``Study``), ``D1`` .. ``Dn`` (the domain columns
        present, judgements in the tool's snake_case vocabulary, None when empty),
        ``overall`` and ``weight`` (``Weight``, 1.0 when the file has no such column).

    Raises
    ------
    InvalidParameterError
        ``path`` not a path, unknown ``tool``.
    ValidationError
        Missing or unreadable file, no ``Study``/``Overall`` column, a judgement outside the
        tool's vocabulary (the message names row and column).
    """
    p = check_path(path, "path", "read_robvis")
    t = get_tool(tool, "read_robvis")
    if not p.is_file():
        raise ValidationError(f"read_robvis(): file not found: {str(p)!r}.")
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"read_robvis(): {str(p)!r} cannot be read as a CSV table ({exc})."
        ) from None
    if "Study" not in raw.columns or "Overall" not in raw.columns:
        raise ValidationError(
            f"{str(p)!r} is not a robvis table: it needs 'Study' and 'Overall' columns "
            f"(found {list(raw.columns)})."
        )
    dcols = [c for c in raw.columns if re.fullmatch(r"D\d+", c)]
    out = pd.DataFrame({"study_id": raw["Study"]})
    for c in [*dcols, "Overall"]:
        vals: list[str | None] = []
        for i, v in enumerate(raw[c]):
            if is_blank(v):
                vals.append(None)
                continue
            try:
                vals.append(t.normalise(v))
            except InvalidParameterError as exc:
                raise ValidationError(f"{str(p)!r}, row {i}, column {c!r}: {exc}") from None
        out[c if c != "Overall" else "overall"] = vals
    if "Weight" in raw.columns:
        out["weight"] = pd.to_numeric(raw["Weight"], errors="coerce")
    else:
        out["weight"] = 1.0
    return out


def write_robvis(frame: pd.DataFrame, path: str | Path, *, tool: str | RobTool = "generic") -> Path:
    """Write risk-of-bias judgements as a robvis CSV (``Study, D1..Dn, Overall, Weight``).

    ``frame`` is the output of :func:`assess_rob` or :func:`read_robvis` (or any frame with
    ``study_id``, ``D<n>`` columns and ``overall``; ``weight`` optional, default 1).
    """
    t = get_tool(tool, "write_robvis")
    check_frame(
        frame,
        "frame",
        "write_robvis",
        what="a DataFrame from assess_rob() or read_robvis()",
        columns=["study_id", "overall"],
    )
    check_path(path, "path", "write_robvis")
    if "study_id" not in frame.columns or "overall" not in frame.columns:
        raise InvalidParameterError(
            "The 'frame' argument of write_robvis() needs 'study_id' and 'overall' columns."
        )
    dcols = [c for c in frame.columns if re.fullmatch(r"D\d+", str(c))]
    if t.domains:
        dcols = list(t.domain_ids)
    labels = dict(t.robvis_labels or {})

    def lab(v):
        if is_blank(v):
            return "No information" if "no_information" in labels else ""
        j = t.normalise(v)
        return labels.get(j, j.replace("_", " ").capitalize())

    out = pd.DataFrame({"Study": frame["study_id"].astype(str).to_numpy()})
    for c in dcols:
        col = frame[c] if c in frame.columns else [None] * len(frame)
        out[c] = [lab(v) for v in col]
    out["Overall"] = [lab(v) for v in frame["overall"]]
    w = frame["weight"] if "weight" in frame.columns else pd.Series(1.0, index=frame.index)
    out["Weight"] = pd.to_numeric(w, errors="coerce").fillna(1.0).to_numpy()
    p = Path(path)
    write_csv(out, p)
    return p
