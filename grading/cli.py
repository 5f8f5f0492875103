"""The ``evigap`` command line: ``run``, ``validate``, ``template`` and ``--version``.

Exit codes: 0 done; 1 nothing usable (``run``: every row rejected, with the summary;
``run --strict``: any row rejected; ``validate``: any row rejected); 2 unusable input or usage
error, including an option this version does not support (one line on stderr, never a
traceback); 3 an unexpected internal error (one line; set ``EVIGAP_DEBUG=1`` to see the
traceback); 130 interrupted (Ctrl-C or SIGTERM; the previous results stay as they were).

Everything printed is passed through :func:`evidence.export.terminal_text`, so a cell holding
terminal escape sequences cannot act on the terminal.  Warnings from the libraries (numpy,
pandas, matplotlib) and from evigap are collected and printed once, briefly, by origin.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pandas as pd

import evidence
from evidence.dictionary import data_dictionary, template_frame
from evidence.errors import EvidenceError
from evidence.export import terminal_text, write_csv
from evidence.ingest import read_studies
from grading.config import OPTION_KEYS, PATH_KEYS, check_options, load_config
from grading.outputs import check_out_dir
from grading.pipeline import RejectedRowsError, TextProgress, bundled_inputs, run_review
from grading.rob import rob_problems

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
    # importlib.metadata costs ~10-30 ms: loaded only when the version is asked for
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("evigap")
    except PackageNotFoundError:
        return str(getattr(evidence, "__version__", "0+unknown"))


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line message (argparse's default is close already)."""

    def error(self, message: str) -> NoReturn:
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
    sub = parser.add_subparsers(
        dest="command", metavar="{run,validate,template}", parser_class=_Parser
    )

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
    run.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help=f"output folder, replaced as a whole when the run is complete "
        f"(default: ./{DEFAULT_OUT_DIR})",
    )
    run.add_argument(
        "--config",
        metavar="TOML",
        help="config file with inputs and run options (see docs/cli.md); options "
        "given on the command line win",
    )
    run.add_argument("--overrides", metavar="CSV", help="reviewer overrides of domain ratings")
    run.add_argument(
        "--measure",
        metavar="M",
        help="effect measure for rows computed from arm data (e.g. RR, OR, RD, MD, SMD, ROM)",
    )
    run.add_argument(
        "--method",
        metavar="M",
        help="pooling method / tau2 estimator (e.g. REML, DL, FE); MH or PETO pool binary "
        "bodies from their 2x2 counts",
    )
    run.add_argument(
        "--ci-method",
        metavar="M",
        dest="ci_method",
        help="confidence intervals of pooled estimates (e.g. z, hksj)",
    )
    run.add_argument(
        "--zero-cell",
        metavar="K=V,...",
        dest="zero_cell",
        help="zero-cell handling: add=0.5,to=only0,drop00=false (metafor's names)",
    )
    run.add_argument(
        "--by",
        metavar="COLS",
        help="extra grouping columns, comma-separated: bodies are split by them",
    )
    run.add_argument(
        "--subgroup",
        metavar="COL",
        help="subgroup analysis of every body by COL (subgroups.csv, subgroup_tests.csv)",
    )
    run.add_argument(
        "--question",
        metavar="Q",
        help="the review question: human (default) or within (each stream for its own question)",
    )
    run.add_argument(
        "--baseline-risk",
        metavar="P",
        dest="baseline_risk",
        help="control-group risk (0-1) for absolute effects",
    )
    run.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="fail (exit 1, nothing written) when any row is rejected",
    )
    run.add_argument(
        "--no-figures",
        action="store_true",
        default=None,
        help="skip figures (the report then has tables only)",
    )
    run.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar, no warnings, no summary"
    )

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
    tpl.add_argument(
        "--out",
        metavar="PATH",
        default="study_sheet.csv",
        help="where to write the sheet (default: ./study_sheet.csv)",
    )
    tpl.add_argument("--force", action="store_true", help="overwrite existing files")
    return parser


def _one_line(exc: BaseException) -> str:

    text = " ".join(terminal_text(exc).split())
    return text or type(exc).__name__


def _say(stream, text: str) -> None:
    """Write data-bearing text to a terminal stream, escape sequences removed."""

    stream.write(terminal_text(text))


class _WarningLog:
    """Collects warnings during a command and prints each distinct one once, briefly."""

    _ORIGINS = (
        "matplotlib",
        "numpy",
        "pandas",
        "scipy",
        "statsmodels",
        "openpyxl",
        "pyarrow",
        "evidence",
        "grading",
    )

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.reported = False

    @classmethod
    def origin(cls, filename: str | None, category: type) -> str:
        parts = Path(str(filename or "")).parts
        for name in cls._ORIGINS:
            if name in parts:
                return "evigap" if name in ("evidence", "grading") else name
        module = getattr(category, "__module__", "")
        if module.startswith(("evidence", "grading")):
            return "evigap"
        return module.split(".")[0] if module and module != "builtins" else "python"

    def __call__(self, message, category, filename, lineno, file=None, line=None) -> None:
        key = (self.origin(filename, category), category.__name__, " ".join(str(message).split()))
        self.counts[key] += 1

    def record_log(self, origin: str, text: str) -> None:
        """A library's ``logging`` warning (matplotlib logs some of its own)."""
        self.counts[(origin, "log", " ".join(text.split()))] += 1

    def report(self, stream, limit: int = 8) -> None:
        if not self.counts or self.reported:
            return
        self.reported = True
        total = sum(self.counts.values())
        origins = ", ".join(sorted({o for o, _, _ in self.counts}))
        _say(
            stream,
            f"evigap: {total} warning{'s' if total != 1 else ''} during the run "
            f"(from {origins}):\n",
        )
        for (origin, category, text), n in sorted(self.counts.items())[:limit]:
            times = f" (x{n})" if n > 1 else ""
            _say(stream, f"  [{origin}] {category}: {text}{times}\n")
        if len(self.counts) > limit:
            stream.write(f"  ... and {len(self.counts) - limit} more distinct warnings\n")


class _LogToWarnings:
    """A ``logging`` handler feeding library log warnings into the :class:`_WarningLog`."""

    def __init__(self, log: _WarningLog) -> None:

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    log.record_log(record.name.split(".")[0], record.getMessage())
                except Exception:  # noqa: BLE001 - logging must never fail the run
                    pass

        self.handler = Handler(level=logging.WARNING)
        self.loggers = [logging.getLogger(n) for n in ("matplotlib", "PIL", "fontTools")]

    def __enter__(self) -> _LogToWarnings:
        self.saved = [(lg.propagate, list(lg.handlers)) for lg in self.loggers]
        for lg in self.loggers:
            lg.handlers = [self.handler]
            lg.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        for lg, (propagate, handlers) in zip(self.loggers, self.saved, strict=True):
            lg.handlers = handlers
            lg.propagate = propagate


def _run_settings(args: argparse.Namespace) -> tuple[dict, dict, dict, Path | None]:
    """(input paths, options, read options, config path) from the config file and the
    command line (the command line wins)."""

    paths: dict = {}
    options: dict = {}
    read_options: dict = {}
    config_path = None
    if args.config:
        config = load_config(args.config)
        config_path = config.path
        paths = {k: str(v) for k, v in config.paths.items()}
        options = dict(config.options)
        read_options = dict(config.read_options)
    for key in PATH_KEYS:
        value = getattr(args, key)
        if value is not None:
            paths[key] = value
    for key in OPTION_KEYS:
        if key == "figures":  # the command line has --no-figures, below
            continue
        value = getattr(args, key)
        if value is not None:
            options[key] = value
    if args.no_figures:
        options["figures"] = False
    return paths, options, read_options, config_path


def _cmd_run(args: argparse.Namespace) -> int:

    paths, options, read_options, config_path = _run_settings(args)
    given = any(paths.get(k) for k in ("studies", "bib", "regulatory", "claims"))
    if paths.get("studies") is None and given:
        raise _UsageError(
            "--bib/--regulatory/--claims need --studies (or give none of them "
            "to run on the bundled exosome data)"
        )
    if paths.get("studies") is None:
        paths.update({k: str(v) for k, v in bundled_inputs().items()})
    out = paths.get("out", DEFAULT_OUT_DIR)
    opts = check_options(**options)  # refused up front, before any work
    check_out_dir(
        out,
        [paths.get(k) for k in ("studies", "bib", "regulatory", "claims", "scheme", "overrides")]
        + [config_path],
    )
    progress = TextProgress(sys.stderr, enabled=False if args.quiet else None)
    try:
        result = run_review(
            paths["studies"],
            bib=paths.get("bib"),
            regulatory=paths.get("regulatory"),
            claims=paths.get("claims"),
            scheme=paths.get("scheme"),
            out_dir=out,
            figures=opts.figures,
            overrides=paths.get("overrides"),
            progress=progress,
            measure=opts.measure,
            method=opts.method,
            ci_method=opts.ci_method,
            zero_cell=opts.zero_cell or None,
            by=list(opts.by) or None,
            subgroup=opts.subgroup,
            question=opts.question,
            baseline_risk=opts.baseline_risk,
            strict=opts.strict,
            read_options=read_options or None,
            config=config_path,
        )
    except RejectedRowsError as exc:
        _say(sys.stderr, f"evigap: {_one_line(exc)}\n")
        return EXIT_REJECTED
    nothing_usable = len(result.evidence_table) == 0
    if not args.quiet:
        sys.stderr.flush()
        args.warning_log.report(sys.stderr)  # warnings first, the summary last
        sys.stderr.flush()
        _say(sys.stdout, result.summary() + "\n")
        if nothing_usable:
            _say(
                sys.stdout,
                "Nothing usable: no row was accepted (see rejected_rows.csv, or "
                "run 'evigap validate' on the sheet).\n",
            )
    return EXIT_REJECTED if nothing_usable else EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:

    ingest = read_studies(args.csv, bib=args.bib, checks=(rob_problems,))
    rejected = ingest.rejected
    n_rej = int(rejected["row"].nunique()) if len(rejected) else 0
    _say(
        sys.stdout,
        f"{args.csv}: {ingest.n_in} rows in, {len(ingest.studies)} accepted, {n_rej} rejected.\n",
    )
    if n_rej:
        with pd.option_context(
            "display.max_rows",
            None,
            "display.max_columns",
            None,
            "display.width",
            200,
            "display.max_colwidth",
            80,
        ):
            shown = rejected.astype("string").fillna("").map(terminal_text)
            print()
            print(shown.to_string(index=False))
        if args.rejected:
            write_csv(rejected, args.rejected)
            print(f"\nRejected rows written to {args.rejected}")
        return EXIT_REJECTED
    if args.rejected:
        write_csv(rejected, args.rejected)
    return EXIT_OK


def _cmd_template(args: argparse.Namespace) -> int:

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


def _on_sigterm_raise_interrupt():
    """SIGTERM ends the command like Ctrl-C (clean-up runs); returns the previous handler."""

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def _restore_sigterm(previous) -> None:

    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


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

    log = _WarningLog()
    args.warning_log = log
    quiet = getattr(args, "quiet", False)
    previous = _on_sigterm_raise_interrupt()
    try:
        with warnings.catch_warnings(), _LogToWarnings(log):
            warnings.simplefilter("always")
            warnings.showwarning = log
            code = _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        sys.stderr.write("\nevigap: interrupted; the previous results (if any) are unchanged\n")
        return EXIT_INTERRUPTED
    except (EvidenceError, _UsageError) as exc:
        _say(sys.stderr, f"evigap: error: {_one_line(exc)}\n")
        return EXIT_INPUT
    except OSError as exc:
        where = f" '{exc.filename}'" if getattr(exc, "filename", None) else ""
        _say(sys.stderr, f"evigap: error: cannot use{where}: {exc.strerror or _one_line(exc)}\n")
        return EXIT_INPUT
    except Exception as exc:  # noqa: BLE001 - the CLI promises no tracebacks
        if os.environ.get("EVIGAP_DEBUG"):
            raise
        _say(
            sys.stderr,
            f"evigap: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(a bug; please report it; set EVIGAP_DEBUG=1 for the traceback)\n",
        )
        return EXIT_INTERNAL
    finally:
        _restore_sigterm(previous)
    if not quiet:
        log.report(sys.stderr)
    return code


if __name__ == "__main__":  # python -m grading.cli
    sys.exit(main())
