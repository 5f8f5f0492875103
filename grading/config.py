"""Run options of ``evigap run`` and its TOML config file.

The options steer one run (which measure, which tau² estimator, zero-cell handling, extra
grouping, subgroups, the review question, ...).  They come from the command line or from a
config file (``evigap run --config review.toml``); the command line wins.  What each option
accepts is read from the engine itself (:data:`evidence.pooling.METHODS`, ...), so an option
this version cannot honour is refused before any work, with the list of what it supports.

Config file format (every key optional; paths relative to the config file's folder)::

    # review.toml
    studies = "smoking.csv"          # the study sheet
    bib = "references.bib"
    regulatory = "regulatory.csv"
    claims = "claims.csv"
    scheme = "scheme.toml"           # grading scheme
    overrides = "overrides.csv"      # reviewer overrides
    out = "results"                  # output folder

    measure = "OR"                   # --measure
    method = "REML"                  # --method (tau2 estimator, or MH / PETO)
    ci_method = "hksj"               # --ci-method
    by = ["comparison"]              # --by: extra grouping columns
    subgroup = "model"               # --subgroup
    question = "human"               # --question
    baseline_risk = 0.2              # --baseline-risk
    figures = true                   # false = --no-figures
    strict = false                   # --strict

    [zero_cell]                      # --zero-cell add=0.5,to=only0,drop00=false
    add = 0.5
    to = "only0"
    drop00 = false

    [sheet]                          # how to read the study sheet ([input] sheet/na_values
    name = "Data"                    # is read the same way): sheet name of an .xlsx/.ods file
    na_values = ["NA", "NR"]         # missing-value tokens

    [defaults]                       # a value for a column the sheet does not have
    stream = "human"

    [columns]                        # your header = evigap column
    "x.nrt" = "events_int"
    "n.nrt" = "n_int"

The file (path and SHA-256) and the options it set are recorded in ``manifest.json``.
"""

from __future__ import annotations

import inspect
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evidence.effects import TO_OPTIONS
from evidence.errors import EvidenceError, InvalidParameterError, ValidationError
from evidence.ingest import read_studies
from evidence.internal import CI_ALIASES, METHOD_ALIASES
from evidence.mantel_haenszel import TWO_BY_TWO_METHODS
from evidence.pooling import CI_METHODS, METHODS
from evidence.readers import sheet_options
from evidence.schema import MEASURES
from evidence.study_effects import study_effects
from grading import certainty
from grading.tables import summary_of_findings

__all__ = [
    "ConfigFile",
    "RunOptions",
    "UnsupportedOptionError",
    "PATH_KEYS",
    "OPTION_KEYS",
    "ZERO_CELL_DEFAULTS",
    "check_options",
    "load_config",
    "parse_zero_cell",
    "supported",
]

#: Config keys naming files (resolved against the config file's folder).
PATH_KEYS: tuple[str, ...] = (
    "studies",
    "bib",
    "regulatory",
    "claims",
    "scheme",
    "overrides",
    "out",
)
#: Config keys of run options (as ``evigap run`` options, with ``_`` for ``-``).
OPTION_KEYS: tuple[str, ...] = (
    "measure",
    "method",
    "ci_method",
    "zero_cell",
    "by",
    "subgroup",
    "question",
    "baseline_risk",
    "figures",
    "strict",
)
_TABLES = ("input", "sheet", "columns", "defaults")
_INPUT_KEYS = ("sheet", "na_values")
#: metafor's zero-cell defaults (``escalc``: add = 1/2, to = "only0", drop00 = FALSE).
ZERO_CELL_DEFAULTS: dict[str, Any] = {"add": 0.5, "to": "only0", "drop00": False}


class UnsupportedOptionError(InvalidParameterError):
    """An option value this version of the engine does not support (lists what it does)."""


# --------------------------------------------------------------------------- what is supported


def _methods() -> tuple[str, ...]:
    """tau² estimators of inverse-variance pooling, then the 2x2-count methods MH and PETO
    (grade() pools binary bodies with counts by them; :mod:`grading.two_by_two`)."""

    return (*METHODS, *TWO_BY_TWO_METHODS)


def _ci_methods() -> tuple[str, ...]:

    return tuple(CI_METHODS)


def _measures() -> tuple[str, ...]:

    return tuple(MEASURES)


def _questions() -> tuple[str, ...]:
    """Review questions grade() accepts; ``None`` (each stream for itself) is "within"."""

    accepted = getattr(certainty, "QUESTIONS", None)
    if accepted is None:  # grade() before it declared them: "human" or None
        accepted = ("human", None)
    return tuple("within" if q is None else str(q) for q in accepted)


def _zero_cell_keys() -> tuple[str, ...]:
    """Zero-cell settings study_effects() takes as keywords (none: metafor's defaults only)."""

    params = inspect.signature(study_effects).parameters
    return tuple(k for k in ZERO_CELL_DEFAULTS if k in params)


def _zero_cell_to() -> tuple[str, ...]:

    return tuple(TO_OPTIONS)


def _baseline_risk_supported() -> bool:

    return "baseline_risk" in inspect.signature(summary_of_findings).parameters


def _read_keywords() -> tuple[str, ...]:
    """``[input]``/``[columns]`` keywords read_studies() accepts in this version."""

    params = inspect.signature(read_studies).parameters
    return tuple(k for k in ("columns", "na_values", "sheet", "defaults") if k in params)


def supported() -> dict[str, Any]:
    """What this version accepts for each option (read from the engine, not a copy)."""
    return {
        "measure": _measures(),
        "method": _methods(),
        "ci_method": _ci_methods(),
        "question": _questions(),
        "zero_cell": {k: ZERO_CELL_DEFAULTS[k] for k in _zero_cell_keys()},
        "zero_cell_to": _zero_cell_to(),
        "baseline_risk": _baseline_risk_supported(),
        "input": _read_keywords(),
    }


def _choice(
    value: Any,
    what: str,
    flag: str,
    allowed: tuple[str, ...],
    aliases: Mapping[str, str] | None = None,
    fold=str.upper,
) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UnsupportedOptionError(f"{flag} needs one of: {', '.join(allowed)}. Got {value!r}.")
    text = value.strip()
    for name in allowed:
        if fold(name) == fold(text):
            return name
    for alias, name in (aliases or {}).items():
        if fold(alias) == fold(text) and name in allowed:
            return name
    raise UnsupportedOptionError(
        f"{flag} {text!r} is not supported by this version; supported {what}: {', '.join(allowed)}."
    )


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class RunOptions:
    """Checked run options (None: the scheme's or the engine's default).

    Attributes
    ----------
    measure : str or None
        Effect measure for rows computed from arm data (counts, continuous, single-arm) whose
        data type allows it; rows reported as estimates keep their own.
    method, ci_method : str or None
        tau² estimator (or ``MH`` / ``PETO``: binary bodies with 2x2 counts pooled by
        Mantel-Haenszel / Peto, the others by inverse-variance fixed effect;
        :mod:`grading.two_by_two`) and CI method (override the scheme's
        ``pool_method``/``ci_method``).
    zero_cell : dict
        Zero-cell settings differing from metafor's defaults (``add``, ``to``, ``drop00``).
    by : tuple of str
        Extra grouping columns: each body is split by their values.
    subgroup : str or None
        Column for a subgroup analysis of every body (``subgroups.csv``,
        ``subgroup_tests.csv``).
    question : str
        The review question (``human``, ``within``, ...).
    baseline_risk : float or None
        Assumed control-group risk for absolute effects in the summary of findings.
    strict : bool
        Stop (exit 1) when any row is rejected.
    figures : bool
        Draw figures.
    """

    measure: str | None = None
    method: str | None = None
    ci_method: str | None = None
    zero_cell: dict = field(default_factory=dict)
    by: tuple[str, ...] = ()
    subgroup: str | None = None
    question: str = "human"
    baseline_risk: float | None = None
    strict: bool = False
    figures: bool = True

    @property
    def grade_question(self) -> str | None:
        """The value for :func:`grading.certainty.grade`'s ``question`` ("within" is None
        for a grade() that spells it so)."""

        accepted = getattr(certainty, "QUESTIONS", ("human", None))
        if self.question == "within" and "within" not in accepted:
            return None
        return self.question

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["by"] = list(self.by)
        return out


def parse_zero_cell(text: str) -> dict[str, Any]:
    """``"add=0.5,to=all,drop00=true"`` -> ``{"add": 0.5, "to": "all", "drop00": True}``."""
    out: dict[str, Any] = {}
    for part in str(text).split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise UnsupportedOptionError(
                f"--zero-cell takes KEY=VALUE pairs separated by commas (keys: add, to, "
                f"drop00), e.g. --zero-cell add=0.5,to=only0,drop00=true. Got {part.strip()!r}."
            )
        if key == "drop00":
            if value.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise UnsupportedOptionError(
                    f"--zero-cell drop00 must be true or false. Got {value!r}."
                )
            out[key] = value.lower() in ("true", "yes", "1")
        elif key == "add":
            try:
                out[key] = float(value)
            except ValueError:
                raise UnsupportedOptionError(
                    f"--zero-cell add must be a number. Got {value!r}."
                ) from None
        else:
            out[key] = value
    return out


def _check_zero_cell(zero_cell: Any) -> dict[str, Any]:
    if zero_cell is None:
        return {}
    if isinstance(zero_cell, str):
        zero_cell = parse_zero_cell(zero_cell)
    if not isinstance(zero_cell, Mapping):
        raise UnsupportedOptionError(
            f"zero_cell must be a table with add, to, drop00. Got {type(zero_cell).__name__}."
        )
    unknown = [k for k in zero_cell if k not in ZERO_CELL_DEFAULTS]
    if unknown:
        raise UnsupportedOptionError(
            f"--zero-cell: unknown setting {unknown[0]!r}; settings: add, to, drop00."
        )
    out: dict[str, Any] = {}
    for key, value in zero_cell.items():
        if key == "add":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0 <= float(value) < float("inf"))
            ):
                raise UnsupportedOptionError(
                    f"--zero-cell add must be a number >= 0. Got {value!r}."
                )
            value = float(value)
        elif key == "to":
            value = _choice(
                value, "values of to", "--zero-cell to", _zero_cell_to(), fold=str.lower
            )
        elif key == "drop00" and not isinstance(value, bool):
            raise UnsupportedOptionError(
                f"--zero-cell drop00 must be true or false. Got {value!r}."
            )
        if value != ZERO_CELL_DEFAULTS[key]:
            out[key] = value
    able = _zero_cell_keys()
    refused = [k for k in out if k not in able]
    if refused:
        now = ", ".join(
            f"{k}={str(v).lower() if isinstance(v, bool) else v}"
            for k, v in ZERO_CELL_DEFAULTS.items()
        )
        value = out[refused[0]]
        shown = str(value).lower() if isinstance(value, bool) else value
        raise UnsupportedOptionError(
            f"--zero-cell {refused[0]}={shown} is not supported by this version: "
            f"effect sizes use metafor's defaults ({now})"
            + (f"; settable: {', '.join(able)}." if able else "; none is settable yet.")
        )
    return out


def _columns_list(value: Any, flag: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v for v in value.split(",")]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise UnsupportedOptionError(f"{flag} takes column names. Got {value!r}.")
    cols = tuple(dict.fromkeys(v.strip() for v in value if v.strip()))
    if not cols:
        raise UnsupportedOptionError(f"{flag} takes at least one column name.")
    return cols


def check_options(
    *,
    measure: Any = None,
    method: Any = None,
    ci_method: Any = None,
    zero_cell: Any = None,
    by: Any = None,
    subgroup: Any = None,
    question: Any = None,
    baseline_risk: Any = None,
    strict: Any = False,
    figures: Any = True,
) -> RunOptions:
    """Check run options against what this version supports.

    Returns
    -------
    RunOptions

    Raises
    ------
    UnsupportedOptionError
        Naming the option (as on the command line) and listing the supported values.
    """
    method_aliases = METHOD_ALIASES
    ci_aliases = CI_ALIASES
    if measure is not None:
        measure = _choice(measure, "measures", "--measure", _measures())
    if method is not None:
        method = _choice(method, "methods", "--method", _methods(), method_aliases)
    if ci_method is not None:
        ci_method = _choice(
            ci_method, "CI methods", "--ci-method", _ci_methods(), ci_aliases, fold=str.lower
        )
    question = _choice(
        "human" if question is None else question,
        "questions",
        "--question",
        _questions(),
        fold=str.lower,
    )
    by_cols = _columns_list(by, "--by")
    if subgroup is not None:
        sub = _columns_list(subgroup, "--subgroup")
        if len(sub) != 1:
            raise UnsupportedOptionError(f"--subgroup takes one column. Got {subgroup!r}.")
        subgroup = sub[0]
    if baseline_risk is not None:
        if isinstance(baseline_risk, str):
            try:
                baseline_risk = float(baseline_risk)
            except ValueError:
                pass
        if (
            isinstance(baseline_risk, bool)
            or not isinstance(baseline_risk, int | float)
            or not (0 < float(baseline_risk) < 1)
        ):
            raise UnsupportedOptionError(
                "--baseline-risk must be a proportion between 0 and 1 (e.g. 0.2 for 200 per "
                f"1000). Got {baseline_risk!r}."
            )
        if not _baseline_risk_supported():
            raise UnsupportedOptionError(
                "--baseline-risk is not supported by this version yet (its summary of "
                "findings has no absolute effects); run without it."
            )
        baseline_risk = float(baseline_risk)
    for name, value in (("strict", strict), ("figures", figures)):
        if not isinstance(value, bool):
            raise UnsupportedOptionError(f"'{name}' must be true or false. Got {value!r}.")
    return RunOptions(
        measure=measure,
        method=method,
        ci_method=ci_method,
        zero_cell=_check_zero_cell(zero_cell),
        by=by_cols,
        subgroup=subgroup,
        question=question,
        baseline_risk=baseline_risk,
        strict=strict,
        figures=figures,
    )


# --------------------------------------------------------------------------- the file


@dataclass(frozen=True)
class ConfigFile:
    """A loaded config file.

    Attributes
    ----------
    path : Path
    paths : dict
        ``studies``, ``bib``, ... -> Path (resolved against the file's folder), as set.
    options : dict
        Run options as set (unchecked; see :func:`check_options`).
    read_options : dict
        Keywords for :func:`evidence.ingest.read_studies` (``columns``, ``na_values``,
        ``sheet``), as set.
    """

    path: Path
    paths: dict[str, Path]
    options: dict[str, Any]
    read_options: dict[str, Any]

    def record(self) -> dict[str, Any]:
        """What ``manifest.json`` keeps of the file: every setting, paths as written."""
        return {
            "paths": {k: str(v) for k, v in self.paths.items()},
            "options": dict(self.options),
            "read_options": dict(self.read_options),
        }


def load_config(path: str | os.PathLike) -> ConfigFile:
    """Read a config file (see the module docstring for the format).

    Raises
    ------
    ValidationError
        Unreadable file, invalid TOML, unknown keys or wrong types, naming the key.
    """
    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"The config file '{p}' does not exist or is not a file.")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValidationError(f"The config file '{p}' is not UTF-8 text ({exc.reason}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"The config file '{p}' is not valid TOML: {exc}.") from None
    known = PATH_KEYS + OPTION_KEYS + _TABLES
    unknown = [k for k in data if k not in known]
    if unknown:
        raise ValidationError(
            f"Config file '{p}': unknown key {unknown[0]!r}. Known keys: {', '.join(known)}."
        )
    base = p.parent
    paths: dict[str, Path] = {}
    for key in PATH_KEYS:
        if key in data:
            value = data[key]
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(
                    f"Config file '{p}': '{key}' must be a file or folder name. Got {value!r}."
                )
            paths[key] = Path(os.path.normpath(base / value))
    options = {k: data[k] for k in OPTION_KEYS if k in data}
    read_options: dict[str, Any] = {}
    if "input" in data:
        table = data["input"]
        if not isinstance(table, dict):
            raise ValidationError(f"Config file '{p}': [input] must be a table.")
        bad = [k for k in table if k not in _INPUT_KEYS]
        if bad:
            raise ValidationError(
                f"Config file '{p}': unknown key {bad[0]!r} in [input]. "
                f"Known: {', '.join(_INPUT_KEYS)}."
            )
        if "sheet" in table and not isinstance(table["sheet"], str | int):
            raise ValidationError(f"Config file '{p}': [input] sheet must be a sheet name.")
        if "na_values" in table and not (
            isinstance(table["na_values"], list)
            and all(isinstance(v, str) for v in table["na_values"])
        ):
            raise ValidationError(
                f"Config file '{p}': [input] na_values must be a list of strings."
            )
        read_options.update(table)
    if "columns" in data:
        table = data["columns"]
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise ValidationError(
                f"Config file '{p}': [columns] maps your column names to "
                'evigap column names, e.g. "x.nrt" = "events_int".'
            )
        read_options["columns"] = dict(table)
    if "sheet" in data or "defaults" in data:
        # the same tables evidence.readers.sheet_options() reads, checked there

        try:
            extra = sheet_options({k: data[k] for k in ("sheet", "defaults") if k in data})
        except EvidenceError as exc:
            raise ValidationError(f"Config file '{p}': {exc}") from None
        read_options.update(extra)
    able = _read_keywords()
    refused = [k for k in read_options if k not in able]
    if refused:
        where = "[columns]" if refused[0] == "columns" else f"[input] {refused[0]}"
        raise UnsupportedOptionError(
            f"Config file '{p}': {where} is not supported by this version yet"
            + (f" (supported: {', '.join(able)})." if able else ".")
        )
    return ConfigFile(path=p, paths=paths, options=options, read_options=read_options)
