"""data_dictionary / template_frame are generated from evidence.schema."""

from __future__ import annotations

from pathlib import Path

from evidence.dictionary import data_dictionary, schema_dtypes, template_frame
from evidence.ingest import read_studies
from evidence.schema import COLUMN_NAMES, COLUMNS

SCHEMA_MD = Path(__file__).resolve().parent.parent / "data" / "SCHEMA.md"


def test_shipped_schema_md_equals_generated_text():
    # regenerate with: python -c "from evidence.dictionary import data_dictionary as d;
    #   open('data/SCHEMA.md', 'w', encoding='utf-8').write(d())"
    assert SCHEMA_MD.read_text(encoding="utf-8") == data_dictionary()


def test_dictionary_lists_every_column_with_type_and_requirement():
    text = data_dictionary()
    for column in COLUMNS:
        required = "yes" if column.required else "no"
        assert f"| `{column.name}` | {column.dtype} | {required} |" in text
    assert "| `model` | category | yes | `cell_culture`, `mouse`," in text
    assert "## identity" in text and "## data" in text
    assert text.index("## identity") < text.index("## question") < text.index("## data")
    assert "| `mouse` | animal |" in text


def test_template_frame_has_every_column_typed_and_no_rows():
    frame = template_frame()
    assert frame.shape == (0, len(COLUMNS))
    assert tuple(frame.columns) == COLUMN_NAMES
    for name, dtype in schema_dtypes().items():
        assert frame[name].dtype == dtype
    assert list(frame["stream"].cat.categories) == ["in_vitro", "animal", "human"]


def test_template_is_a_valid_empty_sheet():
    result = read_studies(template_frame())
    assert (result.n_in, result.n_accepted) == (0, 0)
    assert tuple(result.studies.columns) == COLUMN_NAMES


def test_row_rules_come_from_one_table():
    """data/SCHEMA.md lists exactly evidence.rules.RULES, in order; every numeric cell a rule
    shows is a numeric schema column, and the columns it is compared with too."""
    from evidence.rules import RULES, SHOWN_BY_RULES
    from evidence.schema import COLUMNS

    text = data_dictionary()
    listed = text.split("## Row rules\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert listed == [f"{i}. {rule.text}" for i, rule in enumerate(RULES, start=1)]
    numeric = {c.name for c in COLUMNS if c.dtype in ("int", "float")}
    for column, (partners, predicates) in SHOWN_BY_RULES.items():
        assert column in numeric and set(partners) <= numeric and predicates
    assert sum(rule.check is not None for rule in RULES) == 11
