"""Main-job benchmark: ``evigap run`` on the bundled exosome review, figures included.

Goal: <= 10 s wall time for the whole command (interpreter start, imports, tables, figures,
report, manifest).  The command is run in fresh subprocesses (median of ``--repeat``); then
one in-process run reports the time spent in each step (from the progress callback).

Run: ``python3 benchmarks/bench_main_job.py [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 10.0


def command_seconds(out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    code = "import sys; from grading.cli import main; sys.exit(main())"  # = the console script
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", "--out", str(out), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"evigap run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds


def step_times(out: Path) -> list[tuple[str, float]]:
    """Seconds per step of one in-process run (the step names of the progress callback)."""
    import warnings

    from grading.pipeline import bundled_inputs, run_review

    marks: list[tuple[str, float]] = []

    def progress(step: str, done: int, total: int) -> None:
        marks.append((step, time.perf_counter()))

    inputs = bundled_inputs()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_review(
            inputs["studies"],
            bib=inputs["bib"],
            regulatory=inputs["regulatory"],
            claims=inputs["claims"],
            out_dir=out,
            progress=progress,
        )
    end = time.perf_counter()
    marks.append(("end", end))
    steps = [(marks[i][0], marks[i + 1][1] - marks[i][1]) for i in range(len(marks) - 1)]
    steps.insert(0, ("(before first step)", marks[0][1] - start))
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        times = [command_seconds(Path(tmp) / f"run{i}") for i in range(args.repeat)]
        n_files = sum(1 for p in (Path(tmp) / "run0").rglob("*") if p.is_file())
        median = statistics.median(times)
        print(
            f"evigap run (bundled data, figures, report): median {median:.2f} s over "
            f"{args.repeat} runs (min {min(times):.2f}, max {max(times):.2f}); "
            f"{n_files} files written"
        )
        print(f"goal <= {GOAL_SECONDS:.0f} s: {'OK' if median <= GOAL_SECONDS else 'MISSED'}")
        sys.path.insert(0, str(ROOT))
        import matplotlib

        matplotlib.use("Agg")
        import evidence  # noqa: F401  (import time not counted below)
        import grading  # noqa: F401

        steps = step_times(Path(tmp) / "inproc")
        print("\nIn-process step times (imports done):")
        merged: dict[str, float] = {}
        for name, seconds in steps:
            key = "figures" if name.startswith("figures") else name
            merged[key] = merged.get(key, 0.0) + seconds
        for name, seconds in merged.items():
            print(f"  {name:<34} {seconds:6.2f} s")
        print(f"  {'total':<34} {sum(merged.values()):6.2f} s")
    return 0 if median <= GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
