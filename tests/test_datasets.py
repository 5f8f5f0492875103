"""Bundled datasets: index, loading, paths."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evidence.datasets import bundled_bib_path, bundled_path, list_datasets, load_dataset
from evidence.errors import InvalidParameterError
from evidence.schema import COLUMN_NAMES

DATA = Path(__file__).resolve().parent.parent / "data"


def test_list_datasets_columns_and_required_names():
    listing = list_datasets()
    assert list(listing.columns) == ["name", "description", "n_rows", "source"]
    assert {"exosomes", "exosome_regulatory", "exosome_claims"} <= set(listing["name"])
    assert listing["name"].is_unique
    assert listing["description"].str.len().min() > 10
    assert listing["source"].str.len().min() > 10
    index = pd.read_csv(DATA / "datasets.csv", dtype=str)
    for name, file in zip(index["name"], index["file"], strict=True):
        n = listing.loc[listing["name"] == name, "n_rows"].item()
        if (DATA / file).is_file():
            assert n == len(pd.read_csv(DATA / file))
        else:
            assert pd.isna(n)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(InvalidParameterError) as info:
        load_dataset("exosome")
    message = str(info.value)
    assert "The 'name' argument of load_dataset() must be one of" in message
    assert "'exosomes'" in message and "Got 'exosome'." in message


def test_bundled_path_points_into_data_and_rejects_unknown_files():
    assert bundled_path("datasets.csv") == DATA / "datasets.csv"
    with pytest.raises(InvalidParameterError, match="Got 'no_such_file.csv'"):
        bundled_path("no_such_file.csv")
    bib_path = bundled_bib_path()
    assert bib_path == DATA.parent / "references.bib" and bib_path.is_file()


def test_bundled_bib_parses_and_covers_every_cited_key():
    from evidence.references import read_bib

    bib = read_bib(bundled_bib_path())
    assert bib.errors.empty, bib.errors.to_dict("records")
    cited = set(pd.read_csv(DATA / "exosome_studies.csv", dtype=str)["citation_key"].dropna())
    assert cited and cited <= set(bib)


def test_plain_datasets_load_as_their_csv():
    listing = list_datasets()
    index = pd.read_csv(DATA / "datasets.csv", dtype=str)
    present = [
        (n, f)
        for n, f in zip(index["name"], index["file"], strict=True)
        if n != "exosomes" and (DATA / f).is_file()
    ]
    assert present, "data/datasets.csv lists no plain dataset whose file exists"
    for name, file in present:
        frame = load_dataset(name)
        pd.testing.assert_frame_equal(frame, pd.read_csv(DATA / file))
        assert len(frame) == listing.loc[listing["name"] == name, "n_rows"].item()


def test_exosomes_load_validated_without_rejections():
    from evidence.ingest import read_studies

    result = read_studies(bundled_path("exosome_studies.csv"), bib=bundled_bib_path())
    assert result.n_rejected == 0, result.summary()
    studies = load_dataset("exosomes")
    assert tuple(studies.columns[: len(COLUMN_NAMES)]) == COLUMN_NAMES
    assert len(studies) == result.n_in
    assert set(studies["stream"].dropna()) <= {"in_vitro", "animal", "human"}
