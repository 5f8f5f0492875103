"""The boundary between ``evidence`` and ``grading``, and the import rules of both packages.

Read from the source (AST), so a violation is named by file and line:

- ``evidence`` never imports ``grading``;
- ``grading`` imports ``evidence``'s public modules and ``evidence.internal`` (the internal API
  for grading, ``docs/architecture.md``), never an underscore module of ``evidence``;
- an underscore module (``evidence._validate``, ``grading.plots._style``) is imported only
  inside its own package;
- no module imports another module's underscore name (``from x import _name``) or reads one
  from an imported module (``x._name``);
- function-local imports only for the heavy or optional dependencies in ``LOCAL_OK``, each
  with a comment saying why (the import-time budget: ``tests/test_import_cost.py``).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("evidence", "grading")
FILES = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))

#: Top-level packages that may be imported inside a function, and why.
LOCAL_OK = {
    "matplotlib": "~0.4 s to import; only needed when a figure is drawn",
    "PIL": "comes with matplotlib; only needed when a figure is drawn",
    "scipy": "scipy.special ~0.2 s, scipy.stats over 1 s; loaded on first use",
    "statsmodels": "~1.5 s to import; only needed when a model is fitted",
    "pyarrow": "optional dependency (the parquet extra)",
    "openpyxl": "optional dependency (the excel extra), ~0.1 s to import",
    "bibtexparser": "~10 ms to import; only needed when a .bib file is read",
    "importlib": "importlib.metadata ~10-30 ms; only needed for the version string",
}
#: ``module._name`` reads that are documented API of their (non-evigap) module.
ATTRIBUTE_OK = {("os", "_exit")}  # the documented way to leave a forked child


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _package(path: Path) -> str:
    name = _module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _is_module(name: str) -> bool:
    if name.split(".")[0] in PACKAGES:
        rel = Path(*name.split("."))
        return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _imports(tree: ast.Module, path: Path) -> Iterator[tuple[ast.AST, str, list[str], bool]]:
    """(node, absolute module, imported names, inside a function) for every import."""

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.AST, str, list[str], bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield child, alias.name, [], in_function
            elif isinstance(child, ast.ImportFrom):
                module = child.module or ""
                if child.level:
                    base = _package(path).split(".")
                    base = base[: len(base) - (child.level - 1)]
                    module = ".".join([*base, module] if module else base)
                yield child, module, [a.name for a in child.names], in_function
            else:
                inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                yield from walk(child, inner)

    yield from walk(tree, False)


def _has_comment(lines: list[str], node: ast.AST) -> bool:
    """A comment on the import's line or above it (one comment may head a block of imports)."""
    i = node.lineno - 1
    if "#" in lines[i]:
        return True
    i -= 1
    while i >= 0:
        text = lines[i].strip()
        if text.startswith("#"):
            return True
        if not text.startswith(("import ", "from ")):
            return False
        i -= 1
    return False


def violations(path: Path, source: str | None = None) -> list[str]:
    """The rule violations of the module at ``path`` (its text, or ``source`` if given)."""
    if source is None:
        source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    here = _module_name(path)
    package = _package(path)
    where = path.relative_to(ROOT).as_posix()
    found: list[str] = []
    module_names: dict[str, str] = {}  # local name -> module it is bound to

    for node, module, names, in_function in _imports(tree, path):
        line = f"{where}:{node.lineno}"
        top = module.split(".")[0]
        targets = [module] if not names else [f"{module}.{n}" for n in names if n != "*"]
        # evidence never imports grading
        if here.split(".")[0] == "evidence" and top == "grading":
            found.append(f"{line}: evidence imports grading ({module})")
        # underscore modules only inside their own package (this covers grading -> evidence._x)
        for target in [module, *([f"{module}.{n}" for n in names] if names else [])]:
            parts = target.split(".")
            for i, part in enumerate(parts):
                if _is_private(part):
                    owner = ".".join(parts[:i])
                    is_module = i < len(parts) - 1 or _is_module(target)
                    if is_module and not (package == owner or package.startswith(owner + ".")):
                        found.append(
                            f"{line}: imports the private module {'.'.join(parts[: i + 1])} "
                            f"from outside its package {owner}"
                        )
                    break
        # no underscore names from another module
        for name in names:
            if _is_private(name) and not _is_module(f"{module}.{name}"):
                found.append(f"{line}: imports the private name {name} from {module}")
        # function-local imports only for heavy or optional dependencies, with a comment
        if in_function:
            if top not in LOCAL_OK:
                found.append(f"{line}: function-local import of {module} (import it at the top)")
            elif not _has_comment(lines, node):
                found.append(f"{line}: function-local import of {module} without a comment")
        # names bound to modules, for the attribute check
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    module_names[alias.asname] = alias.name
                else:
                    module_names[alias.name.split(".")[0]] = alias.name.split(".")[0]
        else:
            for alias, target in zip(node.names, targets, strict=False):
                if _is_module(target):
                    module_names[alias.asname or alias.name] = target

    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _is_private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in module_names
        ):
            module = module_names[node.value.id]
            if (module, node.attr) in ATTRIBUTE_OK:
                continue
            found.append(f"{where}:{node.lineno}: reads the private name {module}.{node.attr}")
        if (  # getattr(module, "_name", ...)
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in module_names
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
        ):
            module = module_names[node.args[0].id]
            found.append(
                f"{where}:{node.lineno}: reads the private name {module}.{node.args[1].value}"
            )
    return list(dict.fromkeys(found))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_module_keeps_the_import_rules(path: Path) -> None:
    assert violations(path) == []


def test_grading_uses_evidence_internal() -> None:
    """evidence.internal is what grading's shared helpers come from (and it is importable)."""
    uses = [p for p in FILES if "evidence.internal" in p.read_text(encoding="utf-8")]
    assert any(p.parts[-2] == "grading" or "grading" in p.parts for p in uses)
    import evidence.internal as internal

    for name in internal.__all__:
        assert hasattr(internal, name), name


def _check(source: str, relpath: str) -> list[str]:
    return violations(ROOT / relpath, source)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from grading.rob import assess_rob\n", "evidence imports grading"),
        ("from evidence.pooling import _fit\n", "private name _fit"),
        ("from evidence import pooling\nx = pooling._fit\n", "reads the private name"),
        ("import evidence.pooling as p\nx = getattr(p, '_fit')\n", "evidence.pooling._fit"),
        ("def f():\n    import numpy\n", "function-local import of numpy"),
        ("def f():\n    import scipy.special\n", "without a comment"),
    ],
)
def test_rules_catch_violations(source: str, expected: str) -> None:
    found = _check(source, "evidence/_boundary_probe.py")
    assert any(expected in v for v in found), found


def test_grading_may_not_import_an_evidence_private_module() -> None:
    found = _check("from evidence._validate import check_frame\n", "grading/_boundary_probe.py")
    assert any("private module evidence._validate" in v for v in found), found
    assert _check("from evidence.internal import check_frame\n", "grading/_boundary_probe.py") == []
    ok = "def f():\n    # heavy\n    import matplotlib.pyplot as plt\n    return plt\n"
    assert _check(ok, "grading/_boundary_probe.py") == []
