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
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=_env(),
                          capture_output=True, text=True, check=True)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:"):].split("|")
        try:
            cumulative = int(parts[1])
        except ValueError:
            continue  # header
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((depth, cumulative, name.strip()))
    return rows


def heavy_importers(rows: list[tuple[int, int, str]]) -> dict[str, tuple[str, float]]:
    """For each heavy package imported: (its import chain from the top, cumulative ms).

    ``-X importtime`` prints a module after the modules it imports (which are one level
    deeper), so a module's ancestors are the following rows of smaller depth.
    """
    found: dict[str, tuple[str, float]] = {}
    for i, (depth, _, name) in enumerate(rows):
        top = name.split(".")[0]
        if top not in HEAVY or top in found or "." in name:
            continue
        chain = [name]
        level = depth
        for d2, _, n2 in rows[i + 1:]:
            if d2 < level:
                chain.append(n2)
                level = d2
            if level == 0:
                break
        chain.reverse()
        entry = next(n for n in chain if n.split(".")[0] == top)  # e.g. scipy.special
        cost = max(us for _, us, n in rows if n == entry)
        found[top] = (" -> ".join(chain), cost / 1000)
    return found


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
    print(f"ratio (wall, incl. interpreter start): {ratio:.2f}x   goal <= {GOAL}x  "
          f"{'OK' if ratio <= GOAL else 'MISSED'}")
    print(f"ratio (import only, start-up subtracted): {ratio_net:.2f}x")

    rows = import_tree("import evidence, grading")
    heavy = heavy_importers(rows)
    print("\nHeavy packages imported by 'import evidence, grading':")
    if not heavy:
        print("  none")
    for pkg, (parent, ms) in sorted(heavy.items()):
        print(f"  {pkg:<13} {ms:7.1f} ms (entry module, cumulative), via {parent}")
    ours = sorted(((us / 1000, n) for _, us, n in rows
                   if n.split(".")[0] in ("evidence", "grading")), reverse=True)[:8]
    print("\nSlowest evigap modules (cumulative ms, includes what they import):")
    for ms, name in ours:
        print(f"  {name:<32} {ms:7.1f}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
