"""The run's figures: drawn from the graded tables, rendered to PNG, per indication in
forked worker processes when that pays off.

:func:`draw_figures` is what :func:`grading.pipeline.run_review` calls.  Each figure is rendered
the same way wherever it is drawn (one DPI, :data:`grading.plots.saving.DETERMINISTIC_RC`), so the
PNGs do not depend on the number of workers.  A worker receives the run's tables once, as the
argument of the pool's initializer (inherited through ``fork``, not pickled); nothing is
shared through a module-level variable of the parent process.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evidence.errors import EvidenceError
from evidence.measures import RATIO_MEASURES
from evidence.schema import indication_key
from grading import plots
from grading.plots.saving import DETERMINISTIC_RC
from grading.pooled import body_forests
from grading.report import figure_png
from grading.rob import assess_rob, get_tool

__all__ = ["draw_figures", "FIGURE_DPI", "FOREST_PAGE_ROWS"]

#: Resolution of every PNG the run writes and embeds in the report.
FIGURE_DPI = 130

#: Forests longer than this many rows are drawn in pages of this many rows.
FOREST_PAGE_ROWS = 50

#: ``(title, file name, png)`` of one drawn figure.
Drawn = tuple[str, str, bytes]


@dataclass(frozen=True)
class _FigureState:
    """What the per-indication figures are drawn from (one run)."""

    table: pd.DataFrame
    grades: pd.DataFrame
    indications: tuple[str, ...]
    keys: pd.Series
    pool_options: dict[str, Any]
    # the run's extra grouping (--by: one forest per value) and subgroup column
    # (--subgroup: subgroup forests with the test for subgroup differences)
    by: tuple[str, ...]
    subgroup: str | None


def _render_pages(title: str, func, *args, **kwargs) -> tuple[list[bytes], str | None]:
    """Draw a figure that may come in pages (a list of Axes) and render each to PNG."""
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    import matplotlib.pyplot as plt

    try:
        drawn = func(*args, **kwargs)
    except EvidenceError as exc:
        plt.close("all")
        return [], f"{title} not drawn: {' '.join(str(exc).split())}"
    out = []
    for ax in drawn:
        try:
            out.append(figure_png(ax.figure, dpi=FIGURE_DPI))
        finally:
            plt.close(ax.figure)
    return out, None


def _render(title: str, func, args: tuple, kwargs: dict) -> tuple[bytes | None, str | None]:
    """Draw one figure and render it to PNG; (None, note) when the data cannot be drawn."""
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    import matplotlib.pyplot as plt

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # warnings while drawing become the figure's note
        try:
            drawn = func(*args, **kwargs)
        except EvidenceError as exc:
            plt.close("all")
            return None, f"{title} not drawn: {' '.join(str(exc).split())}"
        fig = getattr(drawn, "figure", drawn)
        try:
            png = figure_png(fig, dpi=FIGURE_DPI)
        finally:
            plt.close(fig)
    said = list(dict.fromkeys(" ".join(str(w.message).split()) for w in caught))
    note = f"{title} drawn with a warning: {'; '.join(said)}" if said else None
    return png, note


def _translational_scale(rows: pd.DataFrame) -> str | None:
    """The common scale with more estimable records (``"SMD"`` or ``"log_ratio"``), or None."""
    ok = pd.to_numeric(rows["yi"], errors="coerce").notna()
    measure = rows["measure"].astype("string")
    n_ratio = int((ok & measure.isin(RATIO_MEASURES)).sum())
    n_smd = int((ok & (measure == "SMD")).sum())
    if n_ratio == 0 and n_smd == 0:
        return None
    return "log_ratio" if n_ratio > n_smd else "SMD"


def _rob_frames(evidence_table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """robvis-layout frames (``Study``, domains, ``Overall``), one per risk-of-bias tool used."""
    if len(evidence_table) == 0 or not (
        evidence_table.get("rob_domains", pd.Series(dtype=object)).notna().any()
        or evidence_table.get("rob_overall", pd.Series(dtype=object)).notna().any()
    ):
        return {}
    assessed = assess_rob(evidence_table)
    frames: dict[str, pd.DataFrame] = {}
    for tool_name, part in assessed.groupby("rob_tool", sort=True):
        part = part[part["overall"].notna()].drop_duplicates("study_id")
        if len(part) == 0:
            continue
        tool = get_tool(tool_name)
        domains = [d for d in getattr(tool, "domain_ids", ()) if d in part.columns]
        frame = pd.DataFrame({"Study": part["study_id"].astype(str).to_numpy()})
        for d in domains:
            frame[d] = part[d].fillna("no_information").to_numpy()
        frame["Overall"] = part["overall"].to_numpy()
        label = getattr(tool, "label", str(tool_name))
        frames[f"{label}|{tool_name}"] = frame
    return frames


def _indication_figures(state: _FigureState, index: int) -> tuple[list[Drawn], list[str]]:
    """Figures of the ``index``-th indication: [(title, file name, png)], notes."""
    # matplotlib is heavy (~0.4 s): imported only when a figure is drawn
    import matplotlib

    indication = state.indications[index]
    table = state.table
    rows = table[(state.keys == indication).fillna(False).to_numpy()]
    options = state.pool_options
    slug = _slug(indication, index)
    made: list[Drawn] = []
    notes: list[str] = []

    def add(title: str, filename: str, func, *args, **kwargs) -> None:
        png, note = _render(f"{title} for {indication}", func, args, kwargs)
        if png is not None:
            made.append((title, filename, png))
        if note:
            notes.append(note)

    with matplotlib.rc_context(DETERMINISTIC_RC):
        # records without a usable effect are listed in the figure, so draw it regardless
        add(
            "Translational forest",
            f"translational_forest_{slug}.png",
            plots.translational_forest,
            table,
            indication=indication,
            grades=state.grades,
            scale=_translational_scale(rows) or "SMD",
            method=options["method"],  # MH / Peto: streams of 2x2 tables as graded
            level=options["level"],
        )
        # one forest per graded body (indication x outcome x stream): the rows grade() pooled
        # (estimate_rows) and the body's rows it could not pool, listed as not estimable; the
        # diamond is the grade's and pooled.csv's estimate (one body, one estimate)
        grades = state.grades
        bodies = body_forests(table, grades[(grades["indication"] == indication).to_numpy()])
        if not bodies:
            notes.append(f"Forest plot for {indication} not drawn: no estimable primary record")
        for k, (g, data) in enumerate(bodies):
            outcome, measure, stream = str(g["outcome"]), str(g["measure"]), str(g["stream"])
            asked = state.subgroup
            sub = asked if asked in data.columns else None
            if state.by and "indication" in data.columns:
                # --by split the indication: the forest's title names the split
                data = data.assign(indication=indication)
            name = f"forest_{slug}_{k + 1:02d}_{_slug(outcome, None)[:30]}_{stream}"
            what = f"{outcome}, {measure}, {stream}"
            pages, note = _render_pages(
                f"Forest plot ({what}) for {indication}",
                plots.forest_pages,
                data,
                measure=measure,
                subgroup=sub,
                cluster="study_id",
                rows_per_page=FOREST_PAGE_ROWS,
                **options,
            )
            if note:
                notes.append(note)
            for p, png in enumerate(pages):
                part = f", page {p + 1} of {len(pages)}" if len(pages) > 1 else ""
                made.append(
                    (
                        f"Forest plot ({what}{part})",
                        f"{name}_p{p + 1}.png" if len(pages) > 1 else f"{name}.png",
                        png,
                    )
                )
    return made, notes


#: The run's figure inputs in a figure worker process, set there by :func:`_figure_worker_init`
#: (never in the process that runs the review).
_WORKER_STATE: list[_FigureState] = []


def _figure_worker_init(state: _FigureState) -> None:
    """Start a figure worker: keep ``state`` for its tasks, default SIGTERM (not the CLI's
    handler), Ctrl-C left to the parent, and on Linux killed when the parent dies (a
    SIGKILLed run leaves no orphan worker holding its pipes)."""
    _WORKER_STATE[:] = [state]
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() == 1:  # the parent died before prctl
            os._exit(1)


def _worker_indication_figures(index: int) -> tuple[list[Drawn], list[str]]:
    """:func:`_indication_figures` in a worker, on the state its initializer received."""
    return _indication_figures(_WORKER_STATE[0], index)


def _fork_pool(jobs: int, state: _FigureState) -> ProcessPoolExecutor | None:
    """A fork-based process pool whose workers start with ``state``, or None when serial
    drawing is better or forking unavailable."""
    n_tasks = len(state.indications)
    if jobs <= 1 or n_tasks < 4 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        return ProcessPoolExecutor(
            max_workers=min(jobs, n_tasks),
            mp_context=multiprocessing.get_context("fork"),
            initializer=_figure_worker_init,
            initargs=(state,),
        )
    except (OSError, ValueError):
        return None


def draw_figures(
    run: dict[str, Any],
    figures_dir: Path | None,
    tick: Callable[[str], None],
    jobs: int,
) -> tuple[dict[str, bytes], dict[str, dict[str, bytes]], list[Path], list[str]]:
    """Draw the review-level and per-indication figures; save PNGs when ``figures_dir``.

    Per-indication figures are drawn in ``jobs`` forked worker processes when that pays off;
    each figure is rendered the same way wherever it is drawn, so the PNGs do not depend on
    ``jobs``.  A figure that cannot be drawn from the data (an :class:`EvidenceError` from the
    plotting function) is skipped with a note instead of failing the run.

    Parameters
    ----------
    run : dict
        The run's ``grades``, ``evidence_table``, ``indications`` (in report order),
        ``regulatory``, ``scheme``, ``gap``, ``by`` and ``subgroup``.
    figures_dir : Path or None
        Folder the PNGs are written to (None: rendered in memory only).
    tick : callable
        ``tick(step)``, called as each step starts ("figures: gap map and risk of bias", then
        "figures: <indication>" once per indication).
    jobs : int
        Worker processes for the per-indication figures (1: all in this process).

    Returns
    -------
    general : dict
        Review-level figures, title -> PNG bytes.
    per_indication : dict
        Indication -> (title -> PNG bytes).
    written : list of Path
        PNG files written.
    notes : list of str
        Figures not drawn, or drawn with a warning, and why.
    """
    # matplotlib is heavy (~0.4 s): imported only when figures are drawn
    import matplotlib

    scheme = run["scheme"]
    table: pd.DataFrame = run["evidence_table"]
    indications: list[str] = run["indications"]
    state = _FigureState(
        table=table,
        grades=run["grades"],
        indications=tuple(indications),
        keys=indication_key(table) if len(table) else pd.Series(dtype="string"),
        pool_options={
            "method": getattr(scheme, "pool_method", "REML"),
            "ci_method": getattr(scheme, "ci_method", "z"),
            "level": getattr(scheme, "level", 0.95),
        },
        by=tuple(run.get("by") or ()),
        subgroup=run.get("subgroup"),
    )
    general: dict[str, bytes] = {}
    per_indication: dict[str, dict[str, bytes]] = {}
    written: list[Path] = []
    notes: list[str] = []

    def keep(title: str, filename: str, png: bytes, indication: str | None) -> None:
        if indication is None:
            general[title] = png
        else:
            per_indication.setdefault(indication, {})[title] = png
        if figures_dir is not None:
            path = figures_dir / filename
            path.write_bytes(png)
            written.append(path)

    results: dict[int, tuple[list[Drawn], list[str]]] = {}
    # heavy, imported here (not at module top) so that the workers fork with them loaded
    # instead of each importing them again (~0.5 s per worker for pyplot)
    import matplotlib.pyplot  # noqa: F401
    import scipy.special  # noqa: F401

    pool = _fork_pool(jobs, state)
    try:
        futures = {}
        if pool is not None:
            futures = {
                pool.submit(_worker_indication_figures, i): i for i in range(len(indications))
            }
        tick("figures: gap map and risk of bias")
        note: str | None
        with matplotlib.rc_context(DETERMINISTIC_RC):
            if len(run["grades"]) == 0:
                png, note = None, "Evidence gap map not drawn: no graded body of evidence"
            else:
                png, note = _render(
                    "Evidence gap map",
                    plots.gap_map,
                    (table,),
                    {"grades": run["grades"], "regulatory": run["regulatory"]},
                )
            if png is not None:
                keep("Evidence gap map", "gap_map.png", png, None)
            if note:
                notes.append(note)
            # the translational ladder (the gap summary drawn per indication)
            png, note = _render(
                "Translational ladder",
                plots.translational_ladder,
                (table,),
                {"grades": run["grades"], "gap": run.get("gap"), "regulatory": run["regulatory"]},
            )
            if png is not None:
                keep("Translational ladder", "translational_ladder.png", png, None)
            elif note:  # not drawn: the note says why
                notes.append(note)
            rob = _rob_frames(table)
            if not rob:
                notes.append(
                    "Risk-of-bias figure not drawn: no record has rob_tool, "
                    "rob_domains or rob_overall"
                )
            for key, frame in rob.items():
                label, tool_name = key.split("|", 1)
                title = f"Risk of bias ({label})"
                png, note = _render(title, plots.rob_summary, (frame,), {})
                if png is not None:
                    keep(title, f"risk_of_bias_{_slug(tool_name, None)}.png", png, None)
                if note:
                    notes.append(note)
        if pool is not None:
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                tick(f"figures: {indications[i]}")
        else:
            for i, indication in enumerate(indications):
                tick(f"figures: {indication}")
                results[i] = _indication_figures(state, i)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    for i, indication in enumerate(indications):  # assemble in order: deterministic
        made, more = results[i]
        for title, filename, png in made:
            keep(title, filename, png, indication)
        notes.extend(more)
    return general, per_indication, written, notes


def _slug(text: str, index: int | None) -> str:
    """A file-name-safe ASCII form of ``text``, numbered when ``index`` is given."""
    safe = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in text.lower())
    while "__" in safe:
        safe = safe.replace("__", "_")
    safe = safe.strip("_")[:40] or "x"
    return safe if index is None else f"{index + 1:02d}_{safe}"
