"""Import-time benchmark: ``import evidence, grading`` versus ``import pandas`` alone.

Goal: evigap's import costs at most 1.3x pandas' (matplotlib, statsmodels and most of scipy are
imported lazily, inside the functions that need them).  Each measurement is a fresh
interpreter (``python -c``), repeated; the median wall time is reported.  ``-X importtime``
then tells which heavy packages an ``import evidence, grading`` pulls in and which evigap module
imports them at top level.

Run: ``python3 benchmarks/bench_import.py [--repeat 15]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("matplotlib", "scipy", "statsmodels", "bibtexparser", "rispy", "pyarrow", "openpyxl")
GOAL = 1.3


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "0"}


def wall_time(code: str, repeat: int) -> list[float]:
    """Wall seconds of ``python -c code`` (fresh interpreter), ``repeat`` times."""
    times = []
    subprocess.run([sys.executable, "-c", code], env=_env(), check=True)  # warm caches, pyc
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=_env(), check=True)
        times.append(time.perf_counter() - start)
    return times


def import_tree(code: str) -> list[tuple[int, int, str]]:
    """``-X importtime`` rows as (depth, cumulative microseconds, module)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        try:
            cumulative = int(parts[1])
        except ValueError:
            continue  # header
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((depth, cumulative, name.strip()))
    return rows


def _parent(rows: list[tuple[int, int, str]], i: int) -> int | None:
    """Index of the module that imported row ``i`` (the next row one level up)."""
    depth = rows[i][0]
    for j in range(i + 1, len(rows)):
        if rows[j][0] < depth:
            return j
    return None


def heavy_importers(rows: list[tuple[int, int, str]]) -> dict[str, tuple[str, float]]:
    """Heavy packages pulled in: {package: (entry points with their importers, total ms)}.

    ``-X importtime`` prints a module after the modules it imports (one level deeper), so a
    module's importer is the next row of smaller depth.  An entry point is a module of the
    package imported by a module outside it (e.g. ``evidence.bias -> scipy.stats``).
    """
    found: dict[str, list[tuple[str, str, int]]] = {}
    for i, (_, cumulative, name) in enumerate(rows):
        top = name.split(".")[0]
        if top not in HEAVY:
            continue
        j = _parent(rows, i)
        importer = rows[j][2] if j is not None else "<main>"
        if importer.split(".")[0] == top:
            continue
        # the first evigap module up the chain is the one to make lazy
        k, ours = j, importer
        while k is not None and rows[k][2].split(".")[0] not in ("evidence", "grading"):
            k = _parent(rows, k)
        if k is not None:
            ours = rows[k][2]
        found.setdefault(top, []).append(
            (name, f"{ours} (via {importer})" if ours != importer else ours, cumulative)
        )
    out: dict[str, tuple[str, float]] = {}
    for pkg, entries in found.items():
        by_importer: dict[str, list[str]] = {}
        for name, who, _ in entries:
            by_importer.setdefault(who, []).append(name)
        text = "; ".join(
            f"{', '.join(names[:2])}{f' (+{len(names) - 2} more)' if len(names) > 2 else ''}"
            f" imported at top level by {who}"
            for who, names in by_importer.items()
        )
        out[pkg] = (text, sum(us for _, _, us in entries) / 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)

    baseline = wall_time("pass", args.repeat)
    pandas_t = wall_time("import pandas", args.repeat)
    evigap_t = wall_time("import evidence, grading", args.repeat)
    b, p, e = (statistics.median(t) for t in (baseline, pandas_t, evigap_t))
    ratio = e / p
    ratio_net = (e - b) / (p - b)
    print(f"python -c pass:                  median {b * 1000:7.1f} ms")
    print(f"python -c 'import pandas':       median {p * 1000:7.1f} ms")
    print(f"python -c 'import evidence, grading': median {e * 1000:7.1f} ms")
    print(
        f"ratio (wall, incl. interpreter start): {ratio:.2f}x   goal <= {GOAL}x  "
        f"{'OK' if ratio <= GOAL else 'MISSED'}"
    )
    print(f"ratio (import only, start-up subtracted): {ratio_net:.2f}x")

    rows = import_tree("import evidence, grading")
    heavy = heavy_importers(rows)
    print("\nHeavy packages imported by 'import evidence, grading':")
    if not heavy:
        print("  none")
    for pkg, (parent, ms) in sorted(heavy.items()):
        print(f"  {pkg:<13} {ms:7.1f} ms: {parent}")
    ours = sorted(
        ((us / 1000, n) for _, us, n in rows if n.split(".")[0] in ("evidence", "grading")),
        reverse=True,
    )[:8]
    print("\nSlowest evigap modules (cumulative ms, includes what they import):")
    for ms, name in ours:
        print(f"  {name:<32} {ms:7.1f}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
