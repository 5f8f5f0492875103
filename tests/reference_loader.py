"""Load the R-generated reference fixtures in ``tests/reference/`` (R is never needed at test time).

Usage from any test module::

    from reference_loader import load_fixture, as_array

    fx = load_fixture("escalc")  # reads tests/reference/escalc_fixtures.json
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"

__all__ = ["REFERENCE_DIR", "load_fixture", "as_array"]


@cache
def _load(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def load_fixture(name: str) -> dict:
    """Return the parsed JSON fixture ``tests/reference/<name>_fixtures.json``.

    ``name`` may also be a file name in ``tests/reference/`` (``"pool_fixtures.json"``).
    A fresh dict is returned on every call, so callers may modify it.
    """
    fname = name if name.endswith(".json") else f"{name}_fixtures.json"
    path = REFERENCE_DIR / fname
    if not path.is_file():
        raise FileNotFoundError(
            f"Reference fixture {path} not found; regenerate it with the R script in "
            f"{REFERENCE_DIR} (see tests/reference/README.md)."
        )
    return json.loads(_load(str(path)))


def as_array(values) -> np.ndarray:
    """A JSON list of numbers with ``null`` for R's NA, as a float array with NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)
