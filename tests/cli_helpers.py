"""Run ``evigap``'s ``main()`` in process, as the tests of the command line do."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from grading.cli import main


def run_main(*args: str, cwd: Path) -> tuple[int, str, str]:
    """``evigap ARGS`` in folder ``cwd``: the exit code, standard output and standard error."""
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = exc.code
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()
