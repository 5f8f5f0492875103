"""read_bib / read_ris on real reference files."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence.errors import ValidationError
from evidence.references import Bibliography, Reference, read_bib, read_ris

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def exosome_bib() -> Bibliography:
    return read_bib(DATA / "exosome-refs.bib")


def test_real_bibtex_file_keys_and_identifiers(exosome_bib):
    assert len(exosome_bib) == 87
    assert exosome_bib.errors.empty
    ref = exosome_bib["turner2023safetyclaims"]
    assert isinstance(ref, Reference)
    assert ref.entry_type == "article"
    assert ref.doi == "10.2217/rme-2023-0118"
    assert ref.year == 2023
    assert ref.journal == "Regenerative Medicine"
    assert ref.authors[0] == "Turner, Leigh"
    assert len(ref.authors) == 6
    assert ref.title == (
        "Safety and Efficacy Claims Made by US Businesses Marketing Purported Stem Cell "
        "Treatments and Exosome Therapies"
    )
    assert exosome_bib["asadpour2023grayzone"].journal == "Stem Cell Research & Therapy"
    assert exosome_bib["asadpour2023grayzone"].doi == "10.1186/s13287-023-03335-2"


def test_corporate_author_and_nct_from_registry_entries(exosome_bib):
    fda = exosome_bib["fda2019exosomenotification"]
    assert fda.authors == ("U.S. Food and Drug Administration",)
    assert fda.doi is None and fda.url.startswith("https://www.fda.gov/")
    assert fda.has_identifier
    trial = exosome_bib["nct04493242"]
    assert trial.nct == "NCT04493242"
    assert trial.title == (
        "Extracellular Vesicle Infusion Treatment for COVID-19 Associated ARDS (EXIT COVID-19)"
    )
    assert trial.year is None  # the entry has no year field


def test_pmid_read_from_note(exosome_bib):
    assert exosome_bib["webb2018porcine"].pmid == "29650593"
    assert exosome_bib["webb2018porcine"].doi is None


def test_missing_year_stays_missing(exosome_bib):
    assert exosome_bib["tawanwongsri_skinnecrosis"].year is None
    assert exosome_bib["tawanwongsri_skinnecrosis"].doi == "10.1111/jocd.16206"


def test_to_frame_has_one_row_per_reference(exosome_bib):
    frame = exosome_bib.to_frame()
    assert len(frame) == 87
    assert list(frame.columns) == [
        "key",
        "entry_type",
        "title",
        "authors",
        "year",
        "journal",
        "doi",
        "pmid",
        "nct",
        "url",
        "has_identifier",
    ]
    assert frame["key"].is_unique
    assert frame.loc[frame["key"] == "nct04493242", "nct"].item() == "NCT04493242"


BROKEN = """% two good entries, a duplicate key and an unclosed field
@article{good1,
  author = {Doe, Jane and Roe, Richard},
  title = {A {Good} Title},
  year = {2020},
  doi = {https://doi.org/10.1000/xyz123}
}

@article{good1,
  title = {Same key again}
}

@article{broken,
  title = {unclosed
  year = 2020
}

@misc{trial,
  title = {A trial},
  eprint = {NCT01234567}
}
"""


def test_broken_entries_are_reported_with_line_numbers(tmp_path):
    path = tmp_path / "refs.bib"
    path.write_text(BROKEN, encoding="utf-8")
    bib = read_bib(path)
    assert sorted(bib) == ["good1", "trial"]
    assert bib["good1"].title == "A Good Title"
    assert bib["good1"].doi == "10.1000/xyz123"
    assert bib["good1"].authors == ("Doe, Jane", "Roe, Richard")
    assert bib["trial"].nct == "NCT01234567"
    errors = bib.errors
    assert list(errors.columns) == ["line", "key", "reason"]
    assert errors["line"].tolist() == [9, 13]
    assert errors["key"].tolist() == ["good1", "broken"]
    assert errors["reason"].iloc[0] == "duplicate key 'good1'; this later entry was ignored"
    assert errors["reason"].iloc[1].startswith("unparseable entry: ")


def test_missing_bib_file_raises(tmp_path):
    with pytest.raises(ValidationError, match=r"Bibliography file '.*none\.bib' does not exist"):
        read_bib(tmp_path / "none.bib")


def test_ris_import_of_a_zotero_style_export():
    bib = read_ris(DATA / "sample.ris")
    assert list(bib) == ["turner2023", "turner2023b", "webb2018porcine", "directbiologicsnd"]
    first = bib["turner2023"]
    assert first.doi == "10.2217/rme-2023-0118"
    assert first.journal == "Regenerative Medicine"
    assert first.authors[-1] == "Wang, Jia Chieng"
    assert first.entry_type == "article"
    # doi given as a URL is normalised
    assert bib["turner2023b"].doi == "10.1016/j.stemcr.2023.09.015"
    assert bib["webb2018porcine"].pmid == "29650593"
    assert bib["webb2018porcine"].journal == "Stroke"
    registry = bib["directbiologicsnd"]
    assert registry.nct == "NCT04493242"
    assert registry.entry_type == "misc"
    assert registry.year is None
    errors = bib.errors
    assert errors["line"].tolist() == [52, 54]
    assert errors["reason"].iloc[0].startswith("text outside a TY...ER record")
    assert errors["key"].iloc[1] == "webb2018porcine"
    assert "duplicate key 'webb2018porcine' (first on line 32)" in errors["reason"].iloc[1]


def test_ris_keys_are_deterministic():
    assert list(read_ris(DATA / "sample.ris")) == list(read_ris(DATA / "sample.ris"))


def test_entry_with_a_repeated_field_is_reported_not_guessed(tmp_path):
    path = tmp_path / "refs.bib"
    path.write_text(
        "% header\n@article{a,\n  title = {x},\n  title = {y}\n}\n\n@article{b, title = {ok}}\n",
        encoding="utf-8",
    )
    bib = read_bib(path)
    assert list(bib) == ["b"]
    assert bib.errors.to_dict("records") == [
        {"line": 2, "key": "a", "reason": "entry has a field more than once (title); entry ignored"}
    ]
