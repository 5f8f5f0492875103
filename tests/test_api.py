"""The public API is what docs/api.md documents: the ``__all__`` lists and the document agree."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
PACKAGES = ("evidence", "grading", "grading.plots")


def documented() -> dict[str, list[str]]:
    """``## <package>`` section -> the names of its ``- `name`: ...`` lines, in order."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in API_DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## (\S+)\s*$", line)
        if heading:
            current = heading.group(1)
            sections[current] = []
            continue
        entry = re.match(r"^- `([A-Za-z_][A-Za-z0-9_]*)`: \S", line)
        if entry and current is not None:
            sections[current].append(entry.group(1))
    return sections


def test_api_doc_has_a_section_per_package() -> None:
    assert list(documented()) == list(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_exactly_the_documented_api(package: str) -> None:
    names = documented()[package]
    assert len(names) == len(set(names)), f"a name is documented twice in {package}"
    exported = importlib.import_module(package).__all__
    assert len(exported) == len(set(exported)), f"a name is exported twice by {package}"
    assert sorted(exported) == sorted(names)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_documented_name_imports(package: str) -> None:
    module = importlib.import_module(package)
    for name in documented()[package]:
        assert getattr(module, name) is not None, name
        exec(f"from {package} import {name}", {})  # noqa: S102  (the import users write)


def test_the_api_names_what_users_are_told_to_use() -> None:
    import evidence
    import grading

    assert "rob_problems" in grading.__all__ and "EvigapWarning" in evidence.__all__
    assert not {"cli_main", "build_manifest", "read_manifest", "write_manifest"} & set(
        grading.__all__
    )
    assert issubclass(evidence.StatisticalWarning, evidence.EvigapWarning)
    assert issubclass(evidence.ConvergenceWarning, evidence.EvigapWarning)


def test_api_doc_is_linked_from_readme_and_architecture() -> None:
    root = API_DOC.parents[1]
    assert "docs/api.md" in (root / "README.md").read_text(encoding="utf-8")
    assert "api.md" in (root / "docs" / "architecture.md").read_text(encoding="utf-8")
