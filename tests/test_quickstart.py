"""CI, the README Quickstart and the pre-commit hooks run the same checks.

The developers' guide: the README's Quickstart holds exactly two commands; the second installs
the test extras and runs the checks (ruff lint, ruff format check, mypy) and then the whole test
suite, and ``.ci/run`` runs that second command verbatim.  The pre-commit hooks call the same
tools from the same venv, and the tools are pinned in the ``test`` extras.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "README Quickstart has no ```bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def _ci_commands() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _steps(command: str) -> list[str]:
    return [step.strip() for step in command.split("&&")]


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


def test_quickstart_holds_two_commands():
    commands = _quickstart_commands()
    assert len(commands) == 2
    assert commands[0].endswith(".venv/bin/evigap run")


def test_ci_runs_the_second_quickstart_command_verbatim():
    second = _quickstart_commands()[1]
    ci = _ci_commands()
    assert ci[-1] == second  # the last thing CI does
    assert sum(line == second for line in ci) == 1


def test_checks_run_before_the_tests():
    steps = _steps(_quickstart_commands()[1])
    assert steps[:2] == ["python3 -m venv .venv", '.venv/bin/pip install -q -e ".[test]"']
    assert steps[2:] == [
        ".venv/bin/ruff check .",
        ".venv/bin/ruff format --check .",
        ".venv/bin/mypy",
        ".venv/bin/python -m pytest -q",
    ]


def test_check_tools_are_pinned_in_the_test_extras():
    extras = _pyproject()["project"]["optional-dependencies"]["test"]
    pins = {
        name: spec
        for name, spec in (re.match(r"([A-Za-z0-9_.-]+)(.*)", e).groups() for e in extras)
    }
    assert re.fullmatch(r"==\d+\.\d+\.\d+", pins["ruff"])
    assert re.fullmatch(r"==\d+\.\d+\.\d+", pins["mypy"])


def test_mypy_checks_both_packages_and_ignores_only_untyped_third_party_imports():
    mypy = _pyproject()["tool"]["mypy"]
    assert mypy["files"] == ["evidence", "grading"]  # what a bare `mypy` checks
    assert mypy["python_version"] == "3.11"
    assert mypy["warn_unused_ignores"] is True
    assert mypy["warn_redundant_casts"] is True
    assert "ignore_missing_imports" not in mypy  # never globally
    for override in mypy["overrides"]:
        if override.get("ignore_missing_imports"):
            roots = {m.split(".")[0] for m in override["module"]}
            # evigap's own packages and the libraries that ship types are always checked
            assert not roots & {"evidence", "grading", "numpy", "matplotlib"}


def _pre_commit_hooks() -> list[dict[str, str]]:
    """The hooks of .pre-commit-config.yaml (a flat key: value reading; no YAML library)."""
    hooks: list[dict[str, str]] = []
    for line in (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\s*(- )?(\w+): (.*)$", line)
        if not m or line.lstrip().startswith("#"):
            continue
        key, value = m.group(2), m.group(3).strip()
        if key == "id":
            hooks.append({})
        if hooks:
            hooks[-1][key] = value
    return hooks


def test_pre_commit_runs_the_ci_checks_locally():
    text = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    assert re.findall(r"repo: (\S+)", text) == ["local"]  # no network
    hooks = _pre_commit_hooks()
    assert {h["language"] for h in hooks} == {"system"}
    entries = [h["entry"] for h in hooks]
    assert entries == [".venv/bin/ruff check", ".venv/bin/ruff format --check", ".venv/bin/mypy"]
    ci_steps = _steps(_quickstart_commands()[1])
    for entry in entries:  # the hook is the CI step (ruff: on the files given instead of '.')
        assert entry in ci_steps or f"{entry} ." in ci_steps
    mypy_hook = next(h for h in hooks if h["entry"] == ".venv/bin/mypy")
    assert mypy_hook["pass_filenames"] == "false"  # the whole of evidence/ and grading/
