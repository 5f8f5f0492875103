"""The data dictionary of the study sheet, generated from :mod:`evidence.schema`.

``data/SCHEMA.md`` is the output of :func:`data_dictionary` (a test keeps the
shipped file equal to the generated text), and ``evigap template`` writes
:func:`template_frame`.
"""

from __future__ import annotations

import pandas as pd

from evidence.rules import DATA_TYPE_REQUIREMENTS, RULES
from evidence.schema import COLUMNS, MODEL_STREAM, Column

__all__ = ["data_dictionary", "template_frame", "schema_dtypes", "DATA_TYPE_REQUIREMENTS"]


def _pandas_dtype(column: Column):
    if column.dtype == "string":
        return pd.StringDtype()
    if column.dtype == "int":
        return pd.Int64Dtype()
    if column.dtype == "float":
        return pd.Float64Dtype()
    if column.dtype == "bool":
        return pd.BooleanDtype()
    if column.dtype == "category":
        return pd.CategoricalDtype(categories=list(column.vocabulary or ()), ordered=False)
    raise ValueError(f"unknown schema dtype {column.dtype!r} for column {column.name!r}")


def schema_dtypes() -> dict[str, object]:
    """The pandas dtype of every schema column, in schema order.

    Returns
    -------
    dict
        ``name -> dtype``: ``string`` columns use ``pd.StringDtype()``, ``int``
        ``Int64``, ``float`` ``Float64``, ``bool`` ``boolean`` and ``category``
        a ``CategoricalDtype`` whose categories are the column's vocabulary.
    """
    return {c.name: _pandas_dtype(c) for c in COLUMNS}


def template_frame() -> pd.DataFrame:
    """An empty study sheet: 0 rows, every schema column in schema order, typed.

    Returns
    -------
    pandas.DataFrame
        One column per entry of :data:`evidence.schema.COLUMNS` with the dtype
        given by :func:`schema_dtypes`.
    """
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in schema_dtypes().items()})


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _allowed(column: Column) -> str:
    if column.vocabulary:
        return ", ".join(f"`{v}`" for v in column.vocabulary)
    if column.dtype == "bool":
        return "true/false, yes/no, 1/0"
    return ""


def data_dictionary() -> str:
    """The study-sheet data dictionary as Markdown (the text of ``data/SCHEMA.md``).

    Columns are listed group by group in schema order, each with its type,
    whether it is required, its allowed values and its description, followed
    by the row rules that :func:`evidence.ingest.read_studies` enforces.

    Returns
    -------
    str
        Markdown text ending with a newline.
    """
    lines = [
        "# Study sheet: data dictionary",
        "",
        "Generated from `evidence/schema.py` by `evidence.dictionary.data_dictionary()`; "
        "do not edit by hand.",
        "One row per study x outcome x comparison. Start from `evigap template` and validate "
        "with `evigap validate` or `evidence.read_studies()`.",
        "",
    ]
    groups: dict[str, list[Column]] = {}
    for column in COLUMNS:
        groups.setdefault(column.group, []).append(column)
    for group, columns in groups.items():
        lines += [
            f"## {group}",
            "",
            "| column | type | required | allowed values | description |",
            "|---|---|---|---|---|",
        ]
        for c in columns:
            required = "yes" if c.required else "no"
            lines.append(
                f"| `{c.name}` | {c.dtype} | {required} | {_cell(_allowed(c))} "
                f"| {_cell(c.description)} |"
            )
        lines.append("")
    lines += ["## Model and stream", "", "| model | stream(s) |", "|---|---|"]
    for model, streams in MODEL_STREAM.items():
        lines.append(f"| `{model}` | {', '.join(streams)} |")
    lines += ["", "## Row rules", ""]
    lines += [f"{i}. {rule.text}" for i, rule in enumerate(RULES, start=1)]
    lines += [
        "",
        "A row that breaks a rule is not lost: it is listed in `IngestResult.rejected` with its "
        "0-based position (`row`), the column, the value and the reason.",
        "",
    ]
    return "\n".join(lines)
