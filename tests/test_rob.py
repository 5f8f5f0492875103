"""Tests of grading.rob: tool templates, overall rules, parsing, overrides, robvis CSV."""

from __future__ import annotations

import pandas as pd
import pytest

from evidence.errors import InvalidParameterError, ValidationError
from grading.rob import (
    GENERIC,
    IN_VITRO,
    OHAT,
    ROB2,
    ROBINS_I,
    SYRCLE,
    assess_rob,
    judgement_class,
    overall_judgement,
    parse_rob_domains,
    read_robvis,
    write_robvis,
)


def test_templates_have_the_published_domain_counts():
    assert len(ROB2.domains) == 5
    assert len(ROBINS_I.domains) == 7
    assert len(SYRCLE.domains) == 10
    assert len(OHAT.domains) == 11
    assert ROB2.judgements[:3] == ("low", "some_concerns", "high")
    assert set(ROBINS_I.judgements) == {"low", "moderate", "serious", "critical", "no_information"}
    for t in (ROB2, ROBINS_I, SYRCLE, OHAT, IN_VITRO, GENERIC):
        assert t.citation and t.overall_rule


@pytest.mark.parametrize(
    ("domains", "expected"),
    [
        ({f"D{i}": "low" for i in range(1, 6)}, "low"),
        ({"D1": "low", "D2": "some_concerns", "D3": "low"}, "some_concerns"),
        ({"D1": "some_concerns", "D2": "some_concerns", "D3": "some_concerns"}, "some_concerns"),
        ({"D1": "low", "D2": "high", "D3": "some_concerns"}, "high"),
    ],
)
def test_rob2_overall_rule(domains, expected):
    assert overall_judgement("rob2", domains) == expected


def test_rob2_notes_multiple_some_concerns_as_reviewer_judgement():
    assert "reviewer" in ROB2.overall_rule


@pytest.mark.parametrize(
    ("domains", "expected"),
    [
        ({"D1": "low", "D2": "low"}, "low"),
        ({"D1": "low", "D2": "moderate"}, "moderate"),
        ({"D1": "moderate", "D2": "serious", "D3": "low"}, "serious"),
        ({"D1": "critical", "D2": "serious"}, "critical"),
        ({"D1": "low", "D2": "no_information"}, "no_information"),
        ({"D1": "serious", "D2": "no_information"}, "serious"),
    ],
)
def test_robins_i_overall_is_the_worst(domains, expected):
    assert overall_judgement(ROBINS_I, domains) == expected


def test_syrcle_yes_no_unclear_map_to_low_high_unclear():
    d = parse_rob_domains("D1=yes; D2=no; D3=unclear", "syrcle")
    assert d == {"D1": "low", "D2": "high", "D3": "unclear"}
    assert overall_judgement(SYRCLE, d) == "high"
    assert overall_judgement(SYRCLE, {"D1": "yes", "D4": "unclear"}) == "unclear"
    assert overall_judgement(SYRCLE, {f"D{i}": "yes" for i in range(1, 11)}) == "low"


def test_ohat_symbols_and_key_criteria():
    d = parse_rob_domains("D1=++; D4=+; D8=+; D9=++; D2=+; D3=-; D5=+", "ohat")
    assert d["D1"] == "definitely_low" and d["D3"] == "probably_high"
    assert overall_judgement(OHAT, d) == "probably_low"
    assert overall_judgement(OHAT, {**d, "D9": "definitely_high"}) == "probably_high"
    assert overall_judgement(OHAT, {"D1": "probably_low", "D8": "not_reported"}) == "unclear"


def test_in_vitro_template_klimisch_like():
    assert overall_judgement(IN_VITRO, {"D1": "fulfilled", "D2": "fulfilled"}) == "low"
    assert overall_judgement(IN_VITRO, {"D1": "fulfilled", "D2": "not_fulfilled"}) == "high"
    assert overall_judgement(IN_VITRO, {"D1": "partially_fulfilled"}) == "unclear"


def test_generic_accepts_any_domain_and_empty_is_no_information():
    assert overall_judgement(GENERIC, {"D12": "low", "D3": "serious"}) == "serious"
    assert overall_judgement(ROB2, {}) == "no_information"
    assert overall_judgement(SYRCLE, {}) == "unclear"


def test_parse_errors_name_the_problem():
    with pytest.raises(InvalidParameterError, match="'D6' is not a Cochrane RoB 2 domain"):
        parse_rob_domains("D6=low", "rob2")
    with pytest.raises(InvalidParameterError, match="'maybe' is not valid"):
        parse_rob_domains("D1=maybe", "rob2")
    with pytest.raises(InvalidParameterError, match="must look like"):
        parse_rob_domains("D1 low", "rob2")
    with pytest.raises(InvalidParameterError, match="'tool' argument"):
        parse_rob_domains("D1=low", "rob3")
    assert parse_rob_domains("D1=Some concerns, D2: High", "rob2") == {
        "D1": "some_concerns",
        "D2": "high",
    }
    assert parse_rob_domains(None, "rob2") == {}


def test_judgement_class():
    assert [
        judgement_class(j)
        for j in ("low", "probably_low", "moderate", "serious", None, "some concerns")
    ] == ["low", "low", "unclear", "high", "unclear", "unclear"]
    with pytest.raises(InvalidParameterError):
        judgement_class("great")


def _sheet():
    return pd.DataFrame(
        {
            "study_id": ["A", "B", "C", "D"],
            "outcome": ["death", "death", "infarct", "death"],
            "stream": ["human", "human", "animal", "human"],
            "rob_tool": ["rob2", "rob2", None, None],
            "rob_domains": [
                "D1=low; D2=low; D3=low; D4=low; D5=low",
                "D1=high",
                "D1=yes; D2=no",
                None,
            ],
            "rob_overall": [None, "some_concerns", None, None],
        }
    )


def test_assess_rob_rule_sheet_and_default_tool():
    out = assess_rob(_sheet())
    assert list(out["overall"][:3]) == ["low", "some_concerns", "high"]
    assert pd.isna(out.loc[3, "overall"])
    assert list(out["overall_class"]) == ["low", "unclear", "high", "unclear"]
    assert out.loc[2, "rob_tool"] == "syrcle"  # animal row without a tool
    assert "rule gives high" in out.loc[1, "overall_basis"]
    assert out.loc[3, "overall_basis"] == "no risk-of-bias assessment recorded"
    assert out.loc[0, "D5"] == "low"


def test_assess_rob_per_outcome_override_needs_reason():
    ov = [
        {"study_id": "A", "outcome": "death", "overall": "high", "reason": "unblinded", "by": "JS"}
    ]
    out = assess_rob(_sheet(), overrides=ov)
    assert out.loc[0, "overall"] == "high" and out.loc[0, "override_by"] == "JS"
    assert out.loc[0, "overall_basis"] == "override: unblinded"
    with pytest.raises(InvalidParameterError, match="no 'reason'"):
        assess_rob(_sheet(), overrides=[{"study_id": "A", "overall": "high", "reason": ""}])


def test_assess_rob_bad_domain_names_row():
    bad = _sheet()
    bad.loc[1, "rob_domains"] = "D9=low"
    with pytest.raises(InvalidParameterError, match="Row 1 .*'B'.*rob_domains"):
        assess_rob(bad)


def test_assess_rob_unknown_tool_names_row_and_column():
    bad = _sheet()
    bad.loc[2, "rob_tool"] = "3e0"
    with pytest.raises(
        InvalidParameterError, match=r"Row 2 \(study 'C'\), column 'rob_tool': .*Got '3e0'"
    ):
        assess_rob(bad)


def test_robvis_round_trip(tmp_path):
    frame = pd.DataFrame(
        {
            "study_id": ["Lightner 2023", "Zarrabi 2023"],
            "D1": ["low", "some_concerns"],
            "D2": ["low", "high"],
            "D3": ["low", "low"],
            "D4": ["low", None],
            "D5": ["low", "low"],
            "overall": ["low", "high"],
            "weight": [33.3, 66.7],
        }
    )
    p = write_robvis(frame, tmp_path / "rob.csv", tool="rob2")
    text = p.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "Study,D1,D2,D3,D4,D5,Overall,Weight"
    assert "Some concerns" in text and "No information" in text
    back = read_robvis(p, tool="rob2")
    assert list(back["D1"]) == ["low", "some_concerns"]
    assert list(back["D4"]) == ["low", "no_information"]
    assert list(back["overall"]) == ["low", "high"]
    assert list(back["weight"]) == [33.3, 66.7]


def test_read_robvis_errors(tmp_path):
    with pytest.raises(ValidationError, match="not found"):
        read_robvis(tmp_path / "missing.csv")
    p = tmp_path / "bad.csv"
    p.write_text("Name,D1\nA,Low\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="'Study' and 'Overall'"):
        read_robvis(p)
    p.write_text("Study,D1,Overall\nA,Sort of,Low\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="row 0, column 'D1'"):
        read_robvis(p, tool="rob2")


def test_rob_problems_lists_unjudgeable_rows():
    from grading.rob import rob_problems

    sheet = pd.concat([_sheet()] * 2, ignore_index=True)
    sheet.loc[1, "rob_domains"] = "D9=low"
    sheet.loc[[2, 6], "rob_tool"] = "cochrane"
    sheet.loc[7, "rob_domains"] = "D1 low"
    found = rob_problems(sheet)
    assert list(found.columns) == ["row", "column", "value", "reason"]
    got = sorted(found.itertuples(index=False, name=None))
    assert [g[:3] for g in got] == [
        (1, "rob_domains", "D9=low"),
        (2, "rob_tool", "cochrane"),
        (6, "rob_tool", "cochrane"),
        (7, "rob_domains", "D1 low"),
    ]
    assert got[1][3] == (
        "unknown rob_tool 'cochrane'; expected one of generic, in_vitro, ohat, "
        "rob2, robins_i, syrcle."
    )
    assert got[0][3] == (
        "Domain 'D9' is not a Cochrane RoB 2 domain. Allowed: ['D1', 'D2', 'D3', 'D4', 'D5']."
    )
    assert got[3][3] == "risk-of-bias entry 'D1 low' must look like 'D1=low'."
    assert len(rob_problems(_sheet())) == 0
    with pytest.raises(InvalidParameterError, match=r"rob_problems\(\).*DataFrame"):
        rob_problems([1, 2])
