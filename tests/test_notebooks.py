"""The notebooks run top to bottom (nbclient, kernel python3, working dir notebooks/) and are
stored without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = (
    "01_quickstart.ipynb",
    "02_your_own_review.ipynb",
    "03_grading_scheme.ipynb",
    "04_validation.ipynb",
)


def test_all_notebooks_present():
    found = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))
    assert found == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_stored_without_outputs(name):
    book = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for cell in code:
        assert cell.outputs == [], f"{name}: a code cell has stored outputs"
        assert cell.execution_count is None, f"{name}: a code cell has an execution count"
    assert book.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, monkeypatch):
    from nbclient import NotebookClient

    # the kernel imports evigap from this checkout
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    book = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    client = NotebookClient(
        book,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [
        o
        for c in book.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    executed = [c for c in book.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in executed)
