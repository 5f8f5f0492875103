"""Scale benchmark: a generated 1,000,000-row study sheet, end to end.

The pipeline (:func:`grading.pipeline.run_review` without figures or report: validate, effect
sizes, pool per indication x outcome x stream, grade, evidence profile, gap, write the CSVs) is
timed against the floor of pandas merely reading and writing the same CSV.

Goals: pipeline time <= 3x the pandas read+write floor; peak memory (RSS growth over the
interpreter after imports) <= 4x the CSV size.  Each side runs in its own fresh subprocess and
reports its wall time (imports excluded) and its peak RSS.

Memory is read from ``/proc/self/status``: ``VmRSS`` after the imports, then the high-water mark
``VmHWM`` is reset (``/proc/self/clear_refs``) and read at the end, and for the pipeline at every
step, so each step reports its own peak.  ``resource.getrusage(...).ru_maxrss`` is not used on
Linux: it survives ``exec`` and so reports the parent's peak when that was larger.

Run: ``python3 benchmarks/bench_million_rows.py [--rows 1000000] [--keep DIR] [--csv CSV]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIME_GOAL = 3.0
MEMORY_GOAL = 4.0

# outcome -> (outcome_kind, data_type, measure)
OUTCOMES = {
    "mortality": ("benefit", "counts", "RR"),
    "serious adverse events": ("harm", "counts", "OR"),
    "function score": ("benefit", "continuous", "SMD"),
    "lesion size": ("benefit", "continuous", "MD"),
    "time to recovery": ("benefit", "estimate", "HR"),
}
MODELS = {
    "in_vitro": ("cell_culture",),
    "animal": ("mouse", "rat"),
    "human": ("phase_1", "phase_2", "cohort"),
}


def generate(n: int, seed: int = 20260101):
    """A valid study sheet of ``n`` rows over 40 indications x 5 outcomes x 3 streams."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    outcomes = np.array(list(OUTCOMES))
    o = rng.integers(0, len(outcomes), n)
    kind = np.array([OUTCOMES[x][0] for x in outcomes])[o]
    dtype = np.array([OUTCOMES[x][1] for x in outcomes])[o]
    measure = np.array([OUTCOMES[x][2] for x in outcomes])[o]
    stream = np.array(["in_vitro", "animal", "human"])[rng.choice(3, n, p=[0.3, 0.5, 0.2])]
    model = np.empty(n, dtype=object)
    for s, ms in MODELS.items():
        idx = np.flatnonzero(stream == s)
        model[idx] = np.array(ms, dtype=object)[rng.integers(0, len(ms), idx.size)]
    n_int = rng.integers(5, 200, n).astype(float)
    n_ctrl = rng.integers(5, 200, n).astype(float)
    p_ctrl = rng.uniform(0.05, 0.6, n)
    p_int = np.clip(p_ctrl * rng.lognormal(-0.2, 0.4, n), 0.01, 0.95)
    counts = dtype == "counts"
    cont = dtype == "continuous"
    est = dtype == "estimate"
    nan = np.full(n, np.nan)
    hr = np.exp(rng.normal(-0.2, 0.3, n))
    se_log = rng.uniform(0.1, 0.5, n)
    frame = pd.DataFrame(
        {
            "study_id": [f"S{i:07d}" for i in range(n)],
            "citation_key": [f"gen{i % 5000:04d}" for i in range(n)],
            "year": rng.integers(2005, 2026, n),
            "indication": np.char.add("Indication ", rng.integers(1, 41, n).astype(str)),
            "intervention": "EV therapy",
            "comparator": "vehicle",
            "outcome": outcomes[o],
            "outcome_kind": kind,
            "outcome_direction": np.where(
                np.isin(outcomes[o], ["function score"]), "higher_is_better", "higher_is_worse"
            ),
            "stream": stream,
            "model": model,
            "randomised": rng.random(n) < 0.6,
            "blinded": rng.random(n) < 0.4,
            "controlled": True,
            "data_type": dtype,
            "measure": measure,
            "events_int": np.where(counts, np.round(p_int * n_int), nan),
            "n_int": n_int,
            "events_ctrl": np.where(counts, np.round(p_ctrl * n_ctrl), nan),
            "n_ctrl": n_ctrl,
            "mean_int": np.where(cont, np.round(rng.normal(48, 10, n), 2), nan),
            "sd_int": np.where(cont, np.round(rng.uniform(5, 15, n), 2), nan),
            "mean_ctrl": np.where(cont, np.round(rng.normal(52, 10, n), 2), nan),
            "sd_ctrl": np.where(cont, np.round(rng.uniform(5, 15, n), 2), nan),
            "estimate": np.where(est, np.round(hr, 3), nan),
            "ci_low": np.where(est, np.round(hr * np.exp(-1.96 * se_log), 3), nan),
            "ci_high": np.where(est, np.round(hr * np.exp(1.96 * se_log), 3), nan),
            "rob_tool": np.where(
                stream == "human", "rob2", np.where(stream == "animal", "syrcle", "in_vitro")
            ),
            "rob_overall": np.where(
                stream == "human",
                np.array(["low", "some_concerns", "high"])[rng.integers(0, 3, n)],
                np.array(["low", "unclear", "high"])[rng.integers(0, 3, n)],
            ),
        }
    )
    return frame


def _status_bytes(field: str) -> int | None:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in bytes; None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's RSS high-water mark (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _rss_bytes() -> int:
    current = _status_bytes("VmRSS")
    return current if current is not None else _peak_rss_bytes()


def _peak_rss_bytes() -> int:
    peak = _status_bytes("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux, fallback


def worker(kind: str, csv: str, out: str) -> None:
    """Run one side in this (fresh) process and print a JSON line with the measurements."""
    import pandas as pd

    if kind == "pipeline":
        import evidence  # noqa: F401
        import grading  # noqa: F401
        from grading.certainty import grade  # noqa: F401  (import cost outside the timing)
        from grading.pipeline import run_review
    import gc

    gc.collect()
    base = _rss_bytes()
    _reset_peak()
    start = time.perf_counter()
    if kind == "pandas":
        frame = pd.read_csv(csv)
        frame.to_csv(Path(out) / "copy.csv", index=False)
        extra = {"rows": len(frame)}
    else:
        import warnings

        marks: list[tuple[str, float, int]] = []  # (step started, time, peak of the step before)

        def progress(step: str, done: int, total: int) -> None:
            marks.append((step, time.perf_counter(), _peak_rss_bytes()))
            _reset_peak()

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_review(csv, out_dir=out, figures=False, report=False, progress=progress)
        marks.append(("end", time.perf_counter(), _peak_rss_bytes()))
        extra = {
            "rows_in": result.manifest["counts"]["rows_in"],
            "accepted": len(result.evidence_table),
            "graded_rows": len(result.grades),
            "pooled_groups": len(result.pooled),
            "steps": [
                (marks[i][0], marks[i + 1][1] - marks[i][1], marks[i + 1][2])
                for i in range(len(marks) - 1)
            ],
        }
    seconds = time.perf_counter() - start
    peak = max([_peak_rss_bytes()] + [m[2] for m in extra.get("steps", [])])
    print(
        json.dumps(
            {"kind": kind, "seconds": seconds, "rss_after_imports": base, "peak_rss": peak, **extra}
        )
    )


def _run_worker(kind: str, csv: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", kind, str(csv), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help="keep the CSV and outputs in DIR")
    parser.add_argument(
        "--csv", metavar="CSV", help="use this study sheet instead of generating one"
    )
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "CSV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        if args.csv:
            csv = Path(args.csv)
            size = csv.stat().st_size
            print(f"using {csv}, {size / 1e6:.1f} MB CSV")
        else:
            csv = base / "million.csv"
            t0 = time.perf_counter()
            generate(args.rows).to_csv(csv, index=False)
            size = csv.stat().st_size
            print(
                f"generated {args.rows:,} rows, {size / 1e6:.1f} MB CSV "
                f"in {time.perf_counter() - t0:.1f} s"
            )
        (base / "pandas").mkdir(exist_ok=True)
        (base / "evigap").mkdir(exist_ok=True)
        floor = _run_worker("pandas", csv, base / "pandas")
        run = _run_worker("pipeline", csv, base / "evigap")

    ratio = run["seconds"] / floor["seconds"]
    growth = run["peak_rss"] - run["rss_after_imports"]
    mem_ratio = growth / size
    floor_growth = floor["peak_rss"] - floor["rss_after_imports"]
    print(
        f"pandas read_csv + to_csv floor: {floor['seconds']:.2f} s, "
        f"peak RSS {floor['peak_rss'] / 1e6:.0f} MB (growth {floor_growth / 1e6:.0f} MB = "
        f"{floor_growth / size:.2f}x CSV)"
    )
    print(
        f"evigap pipeline (no figures):   {run['seconds']:.2f} s, "
        f"peak RSS {run['peak_rss'] / 1e6:.0f} MB "
        f"({run['rss_after_imports'] / 1e6:.0f} MB after imports)"
    )
    print(
        f"  rows in {run['rows_in']:,}, accepted {run['accepted']:,}, "
        f"graded rows {run['graded_rows']}, pooled groups {run['pooled_groups']}"
    )
    for step, seconds, peak in run["steps"]:
        over = (peak - run["rss_after_imports"]) / 1e6
        print(f"    {step:<32} {seconds:7.2f} s   peak {over:6.0f} MB over the RSS after imports")
    print(
        f"time ratio {ratio:.2f}x (goal <= {TIME_GOAL}x) {'OK' if ratio <= TIME_GOAL else 'MISSED'}"
    )
    print(
        f"memory growth {growth / 1e6:.0f} MB = {mem_ratio:.2f}x CSV size "
        f"(goal <= {MEMORY_GOAL}x) {'OK' if mem_ratio <= MEMORY_GOAL else 'MISSED'}"
    )
    return 0 if ratio <= TIME_GOAL and mem_ratio <= MEMORY_GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
