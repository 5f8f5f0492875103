"""The ``evigap`` command line: ``run``, ``validate``, ``template`` and ``--version``.

Exit codes: 0 success; 1 ``validate`` found rejected rows; 2 unusable input or usage error (one
line on stderr, never a traceback); 3 an unexpected internal error (one line; set
``EVIGAP_DEBUG=1`` to see the traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "build_parser", "version_string", "DEFAULT_OUT_DIR"]

#: Where ``evigap run`` writes when ``--out`` is not given.
DEFAULT_OUT_DIR = "evigap-results"

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


def version_string() -> str:
    """The installed evigap version (package metadata; checkout fallback)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("evigap")
    except PackageNotFoundError:
        import evidence

        return str(getattr(evidence, "__version__", "0+unknown"))


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line message (argparse's default is close already)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"evigap: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``evigap`` command."""
    parser = _Parser(
        prog="evigap",
        description="Grade a systematic review's cell-culture, animal and human evidence side "
        "by side and show the translational gap.",
    )
    parser.add_argument("--version", action="version", version=f"evigap {version_string()}")
    sub = parser.add_subparsers(dest="command", metavar="{run,validate,template}",
                                parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="the whole review: tables, figures, report.html, manifest.json",
        description="Run the whole review. Without arguments it runs on the bundled exosome "
        f"review and writes to ./{DEFAULT_OUT_DIR}/.",
    )
    run.add_argument("--studies", metavar="CSV", help="study sheet (default: bundled exosome data)")
    run.add_argument("--bib", metavar="BIB", help="BibTeX/RIS file with the sheet's citation keys")
    run.add_argument("--regulatory", metavar="CSV", help="regulatory status table")
    run.add_argument("--claims", metavar="CSV", help="marketing claims to audit")
    run.add_argument("--scheme", metavar="TOML", help="grading scheme (default: built-in)")
    run.add_argument("--out", metavar="DIR", default=DEFAULT_OUT_DIR,
                     help=f"output folder (default: ./{DEFAULT_OUT_DIR})")
    run.add_argument("--no-figures", action="store_true",
                     help="skip figures (the report then has tables only)")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no progress bar, no warnings, no summary")

    val = sub.add_parser(
        "validate",
        help="check a study sheet: counts and the rejected rows",
        description="Validate a study sheet. Exit code 1 when any row is rejected.",
    )
    val.add_argument("csv", metavar="CSV", help="study sheet")
    val.add_argument("--bib", metavar="BIB", help="BibTeX/RIS file with the sheet's citation keys")
    val.add_argument("--rejected", metavar="PATH", help="also write the rejected rows as CSV")
    val.add_argument("-q", "--quiet", action="store_true", help="no warnings")

    tpl = sub.add_parser(
        "template",
        help="write an empty study sheet and its data dictionary",
        description="Write an empty study sheet (every schema column) and, beside it, the data "
        "dictionary as Markdown (<name>_dictionary.md).",
    )
    tpl.add_argument("--out", metavar="PATH", default="study_sheet.csv",
                     help="where to write the sheet (default: ./study_sheet.csv)")
    tpl.add_argument("--force", action="store_true", help="overwrite existing files")
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class _WarningLog:
    """Collects warnings during a command and prints each distinct one once, briefly."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.reported = False

    def __call__(self, message, category, filename, lineno, file=None, line=None) -> None:
        self.counts[(category.__name__, " ".join(str(message).split()))] += 1

    def report(self, stream, limit: int = 8) -> None:
        if not self.counts or self.reported:
            return
        self.reported = True
        total = sum(self.counts.values())
        stream.write(f"evigap: {total} warning(s):\n")
        for (category, text), n in sorted(self.counts.items())[:limit]:
            times = f" (x{n})" if n > 1 else ""
            stream.write(f"  {category}: {text}{times}\n")
        if len(self.counts) > limit:
            stream.write(f"  ... and {len(self.counts) - limit} more distinct warnings\n")


def _cmd_run(args: argparse.Namespace) -> int:
    from grading.pipeline import TextProgress, bundled_inputs, run_review

    given = any(getattr(args, k) for k in ("studies", "bib", "regulatory", "claims"))
    if args.studies is None and given:
        raise _UsageError("--bib/--regulatory/--claims need --studies (or give none of them "
                          "to run on the bundled exosome data)")
    if args.studies is None:
        inputs = {k: str(v) for k, v in bundled_inputs().items()}
    else:
        inputs = {"studies": args.studies, "bib": args.bib, "regulatory": args.regulatory,
                  "claims": args.claims}
    progress = TextProgress(sys.stderr, enabled=False if args.quiet else None)
    result = run_review(
        inputs["studies"],
        bib=inputs["bib"],
        regulatory=inputs["regulatory"],
        claims=inputs["claims"],
        scheme=args.scheme,
        out_dir=args.out,
        figures=not args.no_figures,
        progress=progress,
    )
    if not args.quiet:
        sys.stderr.flush()
        args.warning_log.report(sys.stderr)  # warnings first, the summary last
        sys.stderr.flush()
        print(result.summary())
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from evidence.export import write_csv
    from evidence.ingest import read_studies
    from grading.rob import rob_problems

    ingest = read_studies(args.csv, bib=args.bib, checks=(rob_problems,))
    rejected = ingest.rejected
    n_rej = int(rejected["row"].nunique()) if len(rejected) else 0
    print(f"{args.csv}: {ingest.n_in} rows in, {len(ingest.studies)} accepted, "
          f"{n_rej} rejected.")
    if n_rej:
        import pandas as pd

        with pd.option_context("display.max_rows", None, "display.max_columns", None,
                               "display.width", 200, "display.max_colwidth", 80):
            print()
            print(rejected.to_string(index=False))
        if args.rejected:
            write_csv(rejected, args.rejected)
            print(f"\nRejected rows written to {args.rejected}")
        return EXIT_REJECTED
    if args.rejected:
        write_csv(rejected, args.rejected)
    return EXIT_OK


def _cmd_template(args: argparse.Namespace) -> int:
    from evidence.dictionary import data_dictionary, template_frame
    from evidence.export import write_csv

    sheet = Path(args.out)
    if sheet.suffix.lower() != ".csv":
        raise _UsageError(f"--out must name a .csv file. Got '{sheet}'.")
    dictionary = sheet.with_name(f"{sheet.stem}_dictionary.md")
    for path in (sheet, dictionary):
        if path.exists() and not args.force:
            raise _UsageError(f"'{path}' already exists; use --force to overwrite it.")
    if not sheet.parent.exists():
        raise _UsageError(f"The folder '{sheet.parent}' does not exist.")
    write_csv(template_frame(), sheet)
    dictionary.write_text(data_dictionary(), encoding="utf-8", newline="\n")
    print(f"Wrote {sheet} (empty study sheet) and {dictionary} (data dictionary).")
    return EXIT_OK


class _UsageError(Exception):
    """A command-line usage problem found after parsing."""


_COMMANDS = {"run": _cmd_run, "validate": _cmd_validate, "template": _cmd_template}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``evigap`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_INPUT

    os.environ.setdefault("MPLBACKEND", "Agg")
    from evidence.errors import EvidenceError

    log = _WarningLog()
    args.warning_log = log
    quiet = getattr(args, "quiet", False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = log
            code = _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        sys.stderr.write("\nevigap: interrupted\n")
        return EXIT_INTERRUPTED
    except (EvidenceError, _UsageError) as exc:
        sys.stderr.write(f"evigap: error: {_one_line(exc)}\n")
        return EXIT_INPUT
    except OSError as exc:
        where = f" '{exc.filename}'" if getattr(exc, "filename", None) else ""
        sys.stderr.write(f"evigap: error: cannot use{where}: {exc.strerror or _one_line(exc)}\n")
        return EXIT_INPUT
    except Exception as exc:  # noqa: BLE001 - the CLI promises no tracebacks
        if os.environ.get("EVIGAP_DEBUG"):
            raise
        sys.stderr.write(
            f"evigap: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(a bug; please report it; set EVIGAP_DEBUG=1 for the traceback)\n"
        )
        return EXIT_INTERNAL
    if not quiet:
        log.report(sys.stderr)
    return code


if __name__ == "__main__":  # python -m grading.cli
    sys.exit(main())
