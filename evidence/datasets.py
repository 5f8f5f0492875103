"""The bundled datasets and reference list.

Installed from a wheel, the files live in the package (``evidence/_data``: the
build maps the top-level ``data/`` folder and ``references.bib`` there).  In a
source checkout they are read from ``data/`` and ``references.bib`` at the
repository root.  ``data/datasets.csv`` (columns ``name, file, description,
source``) is the index.
"""

from __future__ import annotations

import warnings
from importlib.resources import files
from pathlib import Path

import pandas as pd

from evidence.errors import EvigapWarning, InvalidParameterError
from evidence.ingest import read_studies

__all__ = ["bundled_bib_path", "bundled_path", "list_datasets", "load_dataset"]

_INDEX = "datasets.csv"
#: Datasets that follow the study-sheet schema and are validated on loading.
_STUDY_SHEETS = frozenset({"exosomes"})
_CHECKOUT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    packaged = files("evidence") / "_data"
    if packaged.is_dir():
        return Path(str(packaged))
    return _CHECKOUT / "data"


def bundled_path(filename: str) -> Path:
    """The path of a bundled data file, e.g. ``bundled_path("bcg.csv")``.

    Raises
    ------
    InvalidParameterError
        When no bundled file has that name (the message lists those that exist).
    """
    path = _data_dir() / str(filename)
    # only a plain file name of data/ ("../x" or an absolute path would escape it)
    if not isinstance(filename, str) or Path(filename).name != filename or not path.is_file():
        available = sorted(p.name for p in _data_dir().glob("*") if p.is_file())
        raise InvalidParameterError(
            f"The 'filename' argument of bundled_path() must name a bundled data file "
            f"{available}. Got {filename!r}."
        )
    return path


def bundled_bib_path() -> Path:
    """The path of the bundled ``references.bib``."""
    packaged = _data_dir() / "references.bib"
    if packaged.is_file():
        return packaged
    return _CHECKOUT / "references.bib"


def _index() -> pd.DataFrame:
    index = pd.read_csv(_data_dir() / _INDEX, dtype=str, keep_default_na=False)
    return index.apply(lambda col: col.str.strip())


def list_datasets() -> pd.DataFrame:
    """The bundled datasets.

    Returns
    -------
    pandas.DataFrame
        One row per dataset: ``name`` (pass to :func:`load_dataset`),
        ``description``, ``n_rows`` (data rows in the file; missing when the file
        is not there) and ``source`` (where the data come from).
    """
    index = _index()
    n_rows = []
    for file in index["file"]:
        path = _data_dir() / file
        n_rows.append(len(pd.read_csv(path, dtype=str)) if path.is_file() else pd.NA)
    return pd.DataFrame(
        {
            "name": index["name"],
            "description": index["description"],
            "n_rows": pd.array(n_rows, dtype="Int64"),
            "source": index["source"],
        }
    )


def load_dataset(name: str) -> pd.DataFrame:
    """Load a bundled dataset by name (see :func:`list_datasets`).

    ``"exosomes"`` is a study sheet: it is read with
    :func:`~evidence.ingest.read_studies` against the bundled ``references.bib``
    and the accepted, typed rows are returned (a warning names any rejected
    row).  Every other dataset is returned as read by ``pandas.read_csv``.

    Returns
    -------
    pandas.DataFrame
        ``"exosomes"``: the columns of :data:`evidence.schema.COLUMNS` (see
        ``data/SCHEMA.md``).  ``"exosome_regulatory"``: ``indication, jurisdiction, status,
        date, detail, citation_key, where_read``.  ``"exosome_claims"``: ``claim_id,
        indication, claim, claimant, n_businesses, n_businesses_exosome, products_counted,
        citation_key, where_read`` (``n_businesses`` counts every business the source counts for
        the claim, ``products_counted`` says which products; ``n_businesses_exosome`` is the
        exosome/EV-specific count where the source prints one).  The public
        meta-analysis datasets keep their published columns (e.g. ``"bcg"``: ``trial,
        author, year, tpos, tneg, cpos, cneg, ablat, alloc``; described in
        ``data/README.md``).

    Raises
    ------
    InvalidParameterError
        When ``name`` is not a bundled dataset (the message lists the names).
    """
    index = _index()
    names = index["name"].tolist()
    if name not in names:
        raise InvalidParameterError(
            f"The 'name' argument of load_dataset() must be one of {names}. Got {name!r}."
        )
    file = index.loc[index["name"] == name, "file"].iloc[0]
    path = bundled_path(file)
    if name in _STUDY_SHEETS:
        result = read_studies(path, bib=bundled_bib_path())
        if result.n_rejected:
            warnings.warn(
                f"load_dataset({name!r}): {result.n_rejected} of {result.n_in} rows were "
                "rejected; read_studies(bundled_path(...)).rejected lists the reasons.",
                EvigapWarning,
                stacklevel=2,
            )
        return result.studies
    return pd.read_csv(path)
