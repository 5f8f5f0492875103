"""Tests of grading.scheme: defaults, sources, TOML round trip, validation."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest

from evidence.errors import InvalidParameterError
from grading.scheme import DEFAULT_SOURCES, LEVELS, Scheme, load_scheme


def test_defaults_match_the_cited_numbers():
    s = Scheme()
    assert (s.ois_events, s.ois_participants_total) == (300, 800)
    assert (s.large_effect_rr, s.very_large_effect_rr) == (2.0, 5.0)
    assert (s.egger_min_k, s.egger_alpha) == (10, 0.10)
    assert (s.imprecision_rr_benefit, s.imprecision_rr_harm) == (0.75, 1.25)
    assert (s.ci_ratio_rr, s.ci_ratio_or) == (3.0, 2.5)
    assert s.translational_animal == -2
    assert s.translational_in_vitro <= s.translational_animal
    assert s.start_randomised_human == "high" and s.start_non_randomised_human == "low"
    assert s.start_uncontrolled_human == "very low"
    # BIO 2011-2020 Fig 5b
    assert s.loa_from_phase["phase_1"] == 0.079
    assert s.loa_by_area["Neurology"]["phase_2"] == 0.123
    # the four BIO all-indication transition rates multiply to the phase-I LOA (0.0787)
    assert math.isclose(0.520 * 0.289 * 0.578 * 0.906, s.loa_from_phase["phase_1"], abs_tol=5e-4)


def test_every_setting_has_a_cited_source():
    s = Scheme()
    for f in fields(Scheme):
        if f.name == "sources":
            continue
        assert f.name in DEFAULT_SOURCES, f.name
        assert len(s.source(f.name)) > 10
    assert "GRADE 8" in s.source("translational_animal")
    assert "GRADE 6" in s.source("ois_events")
    assert "800" in s.source("ois_participants_total")
    assert "GRADE 18" in s.source("start_robins_i")
    assert "Sterne" in s.source("egger_min_k")


def test_sources_name_publications_not_notes():
    """Every source cites a publication (or says it is evigap's convention), never a note
    outside the package, a verification tag or a website summary."""
    for name, text in DEFAULT_SOURCES.items():
        for bad in ("[V", ".md", "bohrium", "PMC", "http"):
            assert bad not in text, (name, bad)
        assert any(
            w in text
            for w in ("GRADE", "Handbook", "Hooijmans", "Sterne", "Cohen", "OHAT", "BIO", "evigap")
        ), name


@pytest.mark.parametrize(
    "toml, match",
    [
        ("egger_min_k = 2", "'egger_min_k'.*at least 3"),
        ("egger_min_k = 0", "'egger_min_k'"),
        ("rob_very_serious_share = 0.4", "rob_very_serious_share"),
        ("robins_serious_step = 0", "ROBINS-I steps"),
        ("imprecision_smd_mid = -0.2", "'imprecision_smd_mid'"),
        ("start_robins_i = 'medium'", "'start_robins_i'"),
    ],
)
def test_invalid_values_are_refused_when_the_scheme_is_loaded(toml, match):
    with pytest.raises(InvalidParameterError, match=match):
        load_scheme(toml)


def test_toml_round_trip_is_exact():
    s = Scheme(translational_animal=-1, ois_events=250, indication_area={"knee": "Others"})
    again = load_scheme(s.to_toml())
    assert again == s
    assert again.indication_area == {"knee": "Others"}
    assert again.loa_by_area["Respiratory"]["phase_3"] == 0.616


def test_partial_toml_keeps_defaults_and_casts_ints_to_float():
    s = load_scheme("i2_moderate = 50\n")
    assert s.i2_moderate == 50.0 and isinstance(s.i2_moderate, float)
    assert s.i2_considerable == 75.0


def test_unknown_key_names_the_key():
    with pytest.raises(InvalidParameterError, match="'i2_modrate'"):
        load_scheme("i2_modrate = 50")
    with pytest.raises(InvalidParameterError, match="'bogus'"):
        load_scheme('[sources]\nbogus = "x"\n')


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('start_in_vitro = "medium"', "start_in_vitro"),
        ("translational_animal = -4", "translational_animal"),
        ("translational_animal = 1.5", "translational_animal"),
        ("egger_alpha = 1.5", "egger_alpha"),
        ("i2_moderate = 80", "i2_moderate"),
        ("use_prediction_interval = 1", "use_prediction_interval"),
        ('ois_events = "many"', "ois_events"),
        ("not toml ===", "could not be parsed"),
    ],
)
def test_bad_values_raise_naming_the_setting(text, match):
    with pytest.raises(InvalidParameterError, match=match):
        load_scheme(text)


def test_load_from_path_and_missing_path(tmp_path):
    p = tmp_path / "my.toml"
    p.write_text('start_in_vitro = "very low"\n', encoding="utf-8")
    assert load_scheme(p).start_in_vitro == "very low"
    assert load_scheme(str(p)).start_in_vitro == "very low"
    with pytest.raises(InvalidParameterError, match="missing file"):
        load_scheme(tmp_path / "nope.toml")


def test_scheme_is_frozen_and_replace_checks_names():
    s = Scheme()
    with pytest.raises(AttributeError):
        s.ois_events = 10  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.loa_from_phase["phase_1"] = 0.5  # type: ignore[index]
    assert s.replace(ois_events=10).ois_events == 10
    assert hash(s) == hash(Scheme()) and len({s, Scheme(), s.replace(ois_events=10)}) == 2
    with pytest.raises(InvalidParameterError, match="no setting 'nope'"):
        s.replace(nope=1)


def test_area_lookup_flags_assumptions():
    s = Scheme()
    assert s.area_for("Acute ischaemic stroke") == ("Neurology", True)
    assert s.area_for("COVID-19 ARDS") == ("Infectious disease", True)
    assert s.area_for("acne scars") == ("All indications", False)
    assert LEVELS == ("very low", "low", "moderate", "high")


# ---------------------------------------------------------------- declared once (issue 17)


def test_docs_table_is_the_declared_settings():
    """docs/grading.md shows settings_table() between its markers, unchanged."""
    from pathlib import Path

    from grading.scheme import settings_table

    text = (Path(__file__).parents[1] / "docs" / "grading.md").read_text(encoding="utf-8")
    start, end = "<!-- scheme-settings:start -->\n", "<!-- scheme-settings:end -->"
    shown = text[text.index(start) + len(start) : text.index(end)]
    assert shown == settings_table()


def test_every_field_is_declared_with_its_source_and_default():
    from dataclasses import fields

    from grading.scheme import DEFAULT_SOURCES, SETTINGS

    names = [f.name for f in fields(Scheme) if f.name != "sources"]
    assert list(SETTINGS) == names
    assert DEFAULT_SOURCES == {n: SETTINGS[n].source for n in names}
    s = Scheme()
    for name, spec in SETTINGS.items():
        assert spec.source.strip(), name
        assert getattr(s, name) == spec.default, name
    assert SETTINGS["egger_min_k"].default == 10 and SETTINGS["ois_events"].default == 300
    assert SETTINGS["i2_considerable"].allowed == "a number in [0, 100]"
    assert SETTINGS["imprecision_rr_harm"].allowed == "a number > 1"
    assert SETTINGS["heterogeneity_p"].allowed == "a number in (0, 1)"


_BAD = {
    "level": ["medium", 3],
    "step": [1, -4, -1.0, True],
    "flag": [1, "yes"],
    "choice": ["REMLX", 3],
    "integer": [0, 2.5, True, "ten"],
    "number": [-1e9, 1e9, "0.5", True, float("nan")],
    "probabilities": [{"phase_1": 1.5}, "x"],
    "probability_tables": [{"Oncology": {"phase_1": -0.1}}, {"Oncology": 0.5}],
    "text_table": [{"knee": 3}, "knee"],
}


def _bad_cases():
    from grading.scheme import SETTINGS

    for name, spec in SETTINGS.items():
        for value in _BAD[spec.kind]:
            if spec.kind == "number" and value == 1e9 and spec.high is None:
                continue  # no upper bound
            yield name, value


@pytest.mark.parametrize(("name", "value"), list(_bad_cases()))
def test_each_setting_refuses_a_value_outside_its_declaration(name, value):
    """Every setting is validated from its one declaration, in Scheme() and in load_scheme()."""
    with pytest.raises(InvalidParameterError, match=f"'{name}' setting of Scheme must be"):
        Scheme(**{name: value})
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        load_scheme({name: value})


def test_values_are_stored_in_their_declared_form():
    s = load_scheme('pool_method = "dl"\nci_method = "HKSJ"\nimprecision_smd_mid = 1\n')
    assert (s.pool_method, s.ci_method) == ("DL", "hksj")
    assert s.imprecision_smd_mid == 1.0 and isinstance(s.imprecision_smd_mid, float)
    with pytest.raises(InvalidParameterError, match="'pool_method'.*'FE', 'DL', 'REML'"):
        load_scheme('pool_method = "bayes"')
    with pytest.raises(InvalidParameterError, match="'dose_response_min_levels'.*at least 2"):
        load_scheme("dose_response_min_levels = 1")


def test_relations_between_settings_name_both():
    with pytest.raises(InvalidParameterError, match="'large_effect_rr', 'very_large_effect_rr'"):
        Scheme(large_effect_rr=6.0)
    with pytest.raises(InvalidParameterError, match="ois_extreme_fraction = 0.5"):
        Scheme(ois_extreme_fraction=0.5)
