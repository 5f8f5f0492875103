"""Benchmark: evidence.pool_groups (vectorised over groups) vs a Python loop of statsmodels.

Run from the repository root::

    python3 benchmarks/bench_pool_groups.py            # 10,000 groups x 20 studies
    python3 benchmarks/bench_pool_groups.py --groups 1000 --repeat 3

What each side computes (per group):

* ``pool_groups(method="REML", ci_method="hksj")``: REML tau2 solved to full precision, pooled
  estimate, Knapp-Hartung se/t-test/CI, Q, I2, H2, the Q-profile CI for tau2 (two more root
  solves) and the prediction interval.
* ``pool_groups(method="PM", ci_method="hksj")``: the same with Paule-Mandel tau2.
* statsmodels ``combine_effects(y, v, method_re="iterated")``: Paule-Mandel tau2 (statsmodels'
  "iterated" is the PM / DerSimonian-Kacker iteration, atol 1e-5), FE and RE estimates, Q, I2.
  No tau2 CI and no prediction interval; ``.conf_int(use_t=True)`` adds the Knapp-Hartung
  ("wls") interval, timed separately. PM vs "iterated" + conf_int is the like-for-like pair.

* PyMARE (if installed; ``pip install pymare``, not an evigap dependency):
  ``VarianceBasedLikelihoodEstimator(method="REML").fit(y, v)`` on the 2-D arrays (one call for
  all groups) and ``summary().get_fe_stats()`` (Knapp-Hartung by default); no tau2 CI, no PI.
* One vectorised DerSimonian-Laird pass over the same data (``_tau2.tau2_dl`` on all groups
  in one call): the unit in which the full REML + KH + PI + tau2 CI fit is expressed ("DL
  passes"), as issue 14 defines it. A DL pass is a few array operations whose fresh 1.6 MB
  temporaries cost more in page faults than in arithmetic, so its time depends on what the
  allocator holds. Both calls are therefore timed in two regimes, the same for both (glibc
  only; elsewhere they are timed as they come):

  - *cold*: ``malloc_trim(0)`` before every call returns the free heap to the system, so the
    call faults its working memory in, as the first call in a program does (a DL pass then
    takes ~3 ms here, the figure issue 14 quotes);
  - *warm*: ``mallopt`` keeps freed memory in the heap (trim and mmap thresholds raised), so
    after a warm-up call nothing page-faults: pure arithmetic (a DL pass ~0.5 ms).

  In the last regime the script also times what any fit pays besides tau2 and its CI,
  ``pool_groups(method="FE", ci_method="z")``, and the REML fit's ``scipy.special`` p-values.
* 100,000 groups x 20 studies in a fresh subprocess: time and peak memory of the call
  (``tracemalloc`` peak, which counts numpy's buffers, and the growth of the process's
  maximum resident set size).

The script also checks that pool_groups equals a per-group ``pool()`` call on a sample of
groups (max abs and relative difference), reports how far statsmodels' PM tau2 is from ours,
and ends with the goals of issue 14 item 7, each with the value measured in this run.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd


def make_data(n_groups: int, k: int, seed: int = 20261123) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, 0.5, n_groups)
    tau2 = rng.choice([0.0, 0.02, 0.1, 0.3], n_groups)
    v = rng.uniform(0.01, 0.3, (n_groups, k))
    y = mu[:, None] + rng.normal(size=(n_groups, k)) * np.sqrt(v + tau2[:, None])
    return pd.DataFrame(
        {"group": np.repeat(np.arange(n_groups), k), "yi": y.ravel(), "vi": v.ravel()}
    )


class Timing(NamedTuple):
    """Best-of times of one measurement: wall clock and the process's CPU time."""

    wall: float
    cpu: float


def best_of(fn, repeat: int, before=None) -> tuple[Timing, object]:
    """Best wall time and best CPU time (each the minimum over ``repeat`` calls); ``before``
    (untimed) runs before each call."""
    wall = cpu = np.inf
    out = None
    for _ in range(repeat):
        if before is not None:
            before()
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - w0)
    return Timing(wall, cpu), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sample", type=int, default=200, help="groups checked against pool()")
    parser.add_argument(
        "--big", type=int, default=100_000, help="groups of the large run in a subprocess (0: skip)"
    )
    parser.add_argument("--_big-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._big_child:
        big_child(args._big_child, args.k, args.repeat)
        return

    import scipy
    import statsmodels
    from statsmodels.stats.meta_analysis import combine_effects

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
    import evidence
    from evidence import pool, pool_groups

    data = make_data(args.groups, args.k)
    y = data["yi"].to_numpy().reshape(args.groups, args.k)
    v = data["vi"].to_numpy().reshape(args.groups, args.k)
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pandas {pd.__version__}, statsmodels {statsmodels.__version__}, "
        f"evigap {evidence.__version__}"
    )
    print(f"{args.groups} groups x {args.k} studies = {len(data)} rows")
    print(f"load average before the run: {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")

    warnings.simplefilter("ignore")  # e.g. "local maximum below tau2 = 0" notes
    pool_groups(data.head(args.k * 10), "group")  # import scipy.stats etc. outside the timing
    t_reml, out_reml = best_of(
        lambda: pool_groups(data, "group", method="REML", ci_method="hksj"), args.repeat
    )
    t_pm, out_pm = best_of(
        lambda: pool_groups(data, "group", method="PM", ci_method="hksj"), args.repeat
    )

    # The statsmodels loop is timed in 10 chunks of groups; the machine may be shared, so the
    # ratio uses the fastest chunk scaled to all groups (a best-of estimate, like ours).
    def sm_loop(with_ci: bool) -> tuple[Timing, Timing, np.ndarray]:
        tau2 = np.empty(args.groups)
        chunks = np.array_split(np.arange(args.groups), 10)
        walls, cpus = [], []
        for chunk in chunks:
            w0, c0 = time.perf_counter(), time.process_time()
            for g in chunk:
                res = combine_effects(y[g], v[g], method_re="iterated")
                if with_ci:
                    res.conf_int(use_t=True)
                tau2[g] = res.tau2
            cpus.append((time.process_time() - c0) / len(chunk))
            walls.append((time.perf_counter() - w0) / len(chunk))
        sizes = [len(c) for c in chunks]
        total = Timing(float(np.dot(walls, sizes)), float(np.dot(cpus, sizes)))
        return total, Timing(min(walls) * args.groups, min(cpus) * args.groups), tau2

    t_sm_total, t_sm, sm_tau2 = sm_loop(False)
    t_sm_ci_total, t_sm_ci, _ = sm_loop(True)

    rng = np.random.default_rng(1)
    sample = rng.choice(args.groups, min(args.sample, args.groups), replace=False)
    cols = [
        "estimate",
        "se",
        "p_value",
        "ci_low",
        "ci_high",
        "tau2",
        "tau2_ci_low",
        "tau2_ci_high",
        "i2",
        "h2",
        "q",
        "pi_low",
        "pi_high",
    ]
    max_diff = max_rel = 0.0
    t0 = time.process_time()
    for g in sample:
        one = pool(y[g], v[g], method="REML", ci_method="hksj")
        row = out_reml.iloc[g]
        for c in cols:
            a, b = float(row[c]), float(getattr(one, c))
            if np.isnan(a) and np.isnan(b):
                continue
            max_diff = max(max_diff, abs(a - b))
            max_rel = max(max_rel, abs(a - b) / max(abs(b), 1e-300) if a != b else 0.0)
    t_pool_one = (time.process_time() - t0) / len(sample)  # CPU time

    tau2_gap = np.max(np.abs(out_pm["tau2"].to_numpy() - sm_tau2))

    from evidence import _tau2

    seg = _tau2.Segments.from_sorted(
        data["yi"].to_numpy(), data["vi"].to_numpy(), np.full(args.groups, args.k)
    )
    libc = glibc()
    units = dl_units(
        lambda: pool_groups(data, "group", method="REML", ci_method="hksj"),
        lambda: _tau2.tau2_dl(seg),
        max(args.repeat, 10),
        libc,
    )
    # What every fit pays besides tau2, its CI and Knapp-Hartung (input checks, grouping,
    # one weighted sum per group, p-values, the output frame), timed in the regime left by
    # dl_units (warm with glibc): pool_groups(method="FE", ci_method="z"); and the
    # scipy.special p-values of the REML fit (t for Knapp-Hartung, chi-square for Q) alone.
    from scipy import special

    t_fe, _ = best_of(
        lambda: pool_groups(data, "group", method="FE", ci_method="z"), max(args.repeat, 10)
    )
    df_k = out_reml["q_df"].to_numpy(dtype=float)
    stat_k, q_k = out_reml["stat"].to_numpy(), out_reml["q"].to_numpy()
    t_pvalues, _ = best_of(
        lambda: (special.stdtr(df_k, -np.abs(stat_k)), special.chdtrc(df_k, q_k)),
        max(args.repeat, 10),
    )

    t_pymare = None
    try:
        from pymare.estimators import VarianceBasedLikelihoodEstimator

        def pymare_fit():
            est = VarianceBasedLikelihoodEstimator(method="REML").fit(
                y=y.T, v=v.T, X=np.ones((args.k, 1))
            )
            return est.summary().get_fe_stats()

        pymare_fit()  # warm-up (imports)
        t_pymare, _ = best_of(pymare_fit, args.repeat)
        import pymare

        pymare_version = pymare.__version__
    except ImportError:
        pymare_version = None
    rows = [
        (f"pool_groups REML + HKSJ + tau2 CI + PI (best of {args.repeat})", t_reml),
        (f"pool_groups PM + HKSJ + tau2 CI + PI (best of {args.repeat})", t_pm),
        ("statsmodels loop combine_effects('iterated') (best chunk)", t_sm),
        ("statsmodels loop combine_effects('iterated') (whole loop)", t_sm_total),
        ("statsmodels loop 'iterated' + conf_int(use_t=True) (best chunk)", t_sm_ci),
        ("statsmodels loop 'iterated' + conf_int(use_t=True) (whole loop)", t_sm_ci_total),
    ]
    for regime, (t_fit, t_pass) in units.items():
        rows.append((f"{regime}: pool_groups REML + HKSJ + tau2 CI + PI", t_fit))
        rows.append((f"{regime}: one vectorised DerSimonian-Laird pass", t_pass))
    if t_pymare is not None:
        rows.append(
            (
                f"PyMARE {pymare_version} REML one call + get_fe_stats (best of {args.repeat})",
                t_pymare,
            )
        )
    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  {'wall':>9}     {'CPU':>9}")
    for name, t in rows:
        print(
            f"{name:<{width}}  {1e3 * t.wall:9.1f} ms  {1e3 * t.cpu:9.1f} ms  "
            f"({1e6 * t.wall / args.groups:7.2f} us/group wall)"
        )

    def ratio(a: Timing, b: Timing) -> str:
        return f"{a.wall / b.wall:6.1f}x wall, {a.cpu / b.cpu:6.1f}x CPU"

    print()
    print(
        f"speed-up REML pool_groups vs statsmodels 'iterated' loop, best chunk: "
        f"{ratio(t_sm, t_reml)} (whole loop: {ratio(t_sm_total, t_reml)})"
    )
    print(
        f"speed-up PM pool_groups vs statsmodels 'iterated' + conf_int loop (like for like), "
        f"best chunk: {ratio(t_sm_ci, t_pm)} (whole loop: {ratio(t_sm_ci_total, t_pm)})"
    )
    if t_pymare is not None:
        print(f"speed-up REML pool_groups vs PyMARE one-call REML fit: {ratio(t_pymare, t_reml)}")
    else:
        print("PyMARE not installed: no comparison (pip install pymare)")
    if libc is None:
        print("not glibc: the cold and warm regimes could not be set; both timed as they come")
    for regime, (t_fit, t_pass) in units.items():
        print(
            f"REML pool_groups in single DL passes, {regime}: "
            f"{t_fit.wall / t_pass.wall:.1f} wall, {t_fit.cpu / t_pass.cpu:.1f} CPU"
        )
    last = list(units)[-1]  # the regime the floor was timed in
    t_unit = units[last][1]
    print(
        f"{last}: pool_groups FE + z (no tau2, no CI for it) {1e3 * t_fe.cpu:.1f} ms CPU = "
        f"{t_fe.cpu / t_unit.cpu:.1f} DL passes; the REML fit's t and chi-square p-values "
        f"alone {1e3 * t_pvalues.cpu:.1f} ms = {t_pvalues.cpu / t_unit.cpu:.1f} passes"
    )
    print(
        f"per-group pool() in a Python loop: {1e3 * t_pool_one:.2f} ms/group "
        f"CPU ({t_pool_one * args.groups / t_reml.cpu:.0f}x slower than pool_groups)"
    )
    print(
        f"max |pool_groups - pool| over {len(sample)} sampled groups, {len(cols)} fields: "
        f"{max_diff:.3g} (relative {max_rel:.3g})"
    )
    print(f"max |tau2 PM (evigap) - tau2 'iterated' (statsmodels, atol 1e-5)|: {tau2_gap:.3g}")
    big = None
    if args.big:
        import subprocess

        print()
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--_big-child",
                str(args.big),
                "--k",
                str(args.k),
                "--repeat",
                str(min(args.repeat, 3)),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        lines = done.stdout.strip().splitlines()
        print("\n".join(lines[:-1]))
        big = json.loads(lines[-1])
    print(f"\nload average after the run: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(
        "\ngoals of issue 14 item 7 (this run; wall-clock ratios mix in other processes' load, "
        "CPU-time ratios are the process's own work):"
    )
    checks = [("wall", lambda t: t.wall), ("CPU", lambda t: t.cpu)]
    for clock, get in checks:
        r_sm = min(get(t_sm), get(t_sm_total)) / get(t_reml)
        print(
            f"  >= 50x the statsmodels loop ({clock}):  {r_sm:6.1f}x (best chunk; whole loop "
            f"{get(t_sm_total) / get(t_reml):.1f}x): {verdict(r_sm >= 50)}"
        )
    for clock, get in checks:
        if t_pymare is None:
            print("  >= 2x PyMARE's one-call fit:  not measured (PyMARE not installed)")
            break
        r_pm = get(t_pymare) / get(t_reml)
        print(f"  >= 2x PyMARE's one-call fit ({clock}):  {r_pm:6.1f}x: {verdict(r_pm >= 2)}")
    for regime, (t_fit, t_pass) in units.items():
        for clock, get in checks:
            n_dl = get(t_fit) / get(t_pass)
            print(
                f"  <= 15 single DL passes, {regime} ({clock}):  {n_dl:6.1f} "
                f"(a pass {1e3 * get(t_pass):.2f} ms): {verdict(n_dl <= 15)}"
            )
    if big is not None:
        for clock in ("wall", "cpu"):
            sec = big["seconds"] if clock == "wall" else big["cpu_seconds"]
            print(
                f"  {big['groups']:,} x {big['k']} under 1 s ({clock.replace('cpu', 'CPU')}): "
                f"{sec:6.3f} s: {verdict(sec < 1)}"
            )
        print(
            f"  ... peak memory under 300 MB: {big['peak_mb']:.0f} MB (tracemalloc), max RSS "
            f"growth {big['rss_mb']:.0f} MB: {verdict(max(big['peak_mb'], big['rss_mb']) < 300)}"
        )
    print(
        f"  equal to per-group pool(): max relative difference {max_rel:.2g} over "
        f"{len(sample)} groups x {len(cols)} fields: {verdict(max_rel <= 1e-10)} (tests: 1e-10)"
    )


def glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (``malloc_trim`` and ``mallopt``), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def dl_units(fit, dl_pass, repeat: int, libc) -> dict[str, tuple[Timing, Timing]]:
    """Best-of-``repeat`` times of ``fit`` and ``dl_pass``, cold then warm (see the module
    docstring); {"as they come": ...} without glibc. The warm settings stay for the rest of
    the process, so this runs after the other measurements."""
    if libc is None:
        return {"as they come": (best_of(fit, repeat)[0], best_of(dl_pass, repeat)[0])}

    def trim() -> None:
        libc.malloc_trim(0)

    out = {"cold": (best_of(fit, repeat, trim)[0], best_of(dl_pass, repeat, trim)[0])}
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameter numbers
    libc.mallopt(m_mmap_threshold, 32 << 20)  # heap, not mmap, for blocks up to 32 MiB
    libc.mallopt(m_trim_threshold, 1 << 30)  # and keep freed heap memory
    fit()  # warm-up: fault the memory in once
    dl_pass()
    out["warm"] = (best_of(fit, repeat)[0], best_of(dl_pass, repeat)[0])
    return out


def big_child(n_groups: int, k: int, repeat: int) -> None:
    """The large run, alone in a fresh process: time and peak memory of one pool_groups call."""
    import resource
    import tracemalloc

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from evidence import pool_groups

    warnings.simplefilter("ignore")
    data = make_data(n_groups, k)
    pool_groups(data.head(k * 10), "group")  # imports outside the measurement
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t, _ = best_of(lambda: pool_groups(data, "group", method="REML", ci_method="hksj"), repeat)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    pool_groups(data, "group", method="REML", ci_method="hksj")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"{n_groups} groups x {k} studies: pool_groups REML + HKSJ + tau2 CI + PI "
        f"{t.wall:.3f} s wall, {t.cpu:.3f} s CPU (best of {repeat}); "
        f"peak memory of the call {peak / 2**20:.0f} MB "
        f"(tracemalloc), max RSS grew by {(rss1 - rss0) / 1024:.0f} MB "
        f"(input table {data.memory_usage(deep=True).sum() / 2**20:.0f} MB)"
    )
    summary = {"groups": n_groups, "k": k, "seconds": t.wall, "cpu_seconds": t.cpu}
    summary["peak_mb"] = peak / 2**20
    print(json.dumps(summary | {"rss_mb": (rss1 - rss0) / 1024}))


if __name__ == "__main__":
    main()
