"""Benchmark radval's ROC/bootstrap statistics against their peers, side by side.

Run:  .venv/bin/python benchmarks/bench_stats.py [--n-large 1000000] [--n-boot 100000]
      [--scipy-resamples 100] [--repeats 3]

Prints one table with wall-clock times (best of ``--repeats``) and the ratios the
issue sets as targets:

- ``roc_auc`` with its DeLong CI at 10^6 cases vs one ``np.sort`` of the same scores
  (target <= 3x) and vs ``sklearn.metrics.roc_auc_score`` alone (target < 1x);
- paired ``compare_auc`` (DeLong) at 10^6 cases (target < 1 s);
- a 2000-resample patient-clustered bootstrap AUC CI (BCa) at 10^5 cases vs
  ``scipy.stats.bootstrap`` of the AUC (``roc_auc_score``, paired resampling of cases,
  percentile; scipy has no clustered resampling and its BCa needs 10^5 jackknife
  evaluations): scipy is timed at ``--scipy-resamples`` and scaled linearly to 2000
  (its cost is one statistic evaluation per resample), target >= 30x; peak traced
  memory of our bootstrap (tracemalloc) < 2 GB.

Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy
import sklearn
from scipy.stats import bootstrap as scipy_bootstrap
from sklearn.metrics import roc_auc_score

from validation.stats import compare_auc, roc_auc

CPU: dict[float, float] = {}  # wall seconds -> CPU seconds of the same best run


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall-clock time of ``repeats`` runs; its process CPU time goes to ``CPU``."""
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, used = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, cpu = wall, used
    CPU[best] = cpu
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-large", type=int, default=1_000_000)
    ap.add_argument("--n-boot", type=int, default=100_000)
    ap.add_argument("--scipy-resamples", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    rng = np.random.default_rng(20240611)
    n = args.n_large
    y = np.r_[np.zeros(n // 2, np.int8), np.ones(n - n // 2, np.int8)]
    latent = rng.normal(size=n) + y
    s1 = latent + rng.normal(scale=0.5, size=n)
    s2 = latent + rng.normal(scale=0.7, size=n)
    perm = rng.permutation(n)
    y, s1, s2 = y[perm], s1[perm], s2[perm]

    rows: list[tuple[str, float, str]] = []
    t_sort, _ = best_of(lambda: np.sort(s1), args.repeats)
    t_auc, est = best_of(lambda: roc_auc(y, s1), args.repeats)
    t_skl, skl = best_of(lambda: roc_auc_score(y, s1), args.repeats)
    assert abs(est.estimate - skl) < 1e-12
    t_cmp, cmp_ = best_of(lambda: compare_auc(y, s1, s2), args.repeats)
    rows += [
        (f"np.sort, {n:,} floats", t_sort, ""),
        (f"sklearn roc_auc_score, {n:,}", t_skl, ""),
        (
            f"roc_auc + DeLong CI, {n:,}",
            t_auc,
            f"{t_auc / t_sort:.2f}x np.sort (target <= 3); {t_auc / t_skl:.2f}x sklearn (target < 1)",
        ),
        (f"compare_auc paired DeLong, {n:,}", t_cmp, "target < 1 s"),
    ]

    nb = args.n_boot
    yb = rng.integers(0, 2, nb).astype(np.int8)
    patients = np.arange(nb) // 2  # two images per patient
    sb = rng.normal(scale=0.7, size=nb // 2 + 1)[patients] + rng.normal(size=nb) + yb
    tracemalloc.start()
    t_ours, boot = best_of(
        lambda: roc_auc(yb, sb, clusters=patients, method="bootstrap", n_resamples=2000, rng=1),
        1,
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t_ours_pct, _ = best_of(
        lambda: roc_auc(
            yb,
            sb,
            clusters=patients,
            method="bootstrap",
            bootstrap_ci="percentile",
            n_resamples=2000,
            rng=1,
        ),
        1,
    )
    t_ours_case, _ = best_of(
        lambda: roc_auc(
            yb, sb, method="bootstrap", bootstrap_ci="percentile", n_resamples=2000, rng=1
        ),
        1,
    )
    k = args.scipy_resamples
    t_sp, _ = best_of(
        lambda: scipy_bootstrap(
            (yb, sb),
            roc_auc_score,
            paired=True,
            vectorized=False,
            n_resamples=k,
            method="percentile",
            rng=np.random.default_rng(1),
        ),
        1,
    )
    t_sp2000 = t_sp * 2000 / k
    rows += [
        (f"scipy.stats.bootstrap AUC, {nb:,} cases, {k} resamples", t_sp, ""),
        (f"  scaled to 2000 resamples (x{2000 / k:g})", t_sp2000, ""),
        (
            f"roc_auc cluster bootstrap BCa, 2000 x {nb:,} ({nb // 2:,} patients)",
            t_ours,
            f"{t_sp2000 / t_ours:.1f}x faster than scipy (target >= 30); "
            f"peak traced memory {peak / 2**20:.0f} MiB (target < 2048)",
        ),
        ("  same, percentile", t_ours_pct, f"{t_sp2000 / t_ours_pct:.1f}x faster than scipy"),
        (
            f"roc_auc case bootstrap (stratified) percentile, 2000 x {nb:,}",
            t_ours_case,
            f"{t_sp2000 / t_ours_case:.1f}x faster than scipy",
        ),
    ]

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__},"
        f" scikit-learn {sklearn.__version__}, {platform.machine()}, best of {args.repeats}"
    )
    print(
        f"AUC {est.estimate:.6f} [{est.ci_low:.6f}, {est.ci_high:.6f}]; paired z "
        f"{cmp_.statistic:.4f}; cluster bootstrap AUC {boot.estimate:.4f} "
        f"[{boot.ci_low:.4f}, {boot.ci_high:.4f}]"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark'.ljust(width)}  {'wall s':>8}  {'CPU s':>8}  ratio (wall) / target")
    for name, secs, note in rows:
        cpu = CPU.get(secs, CPU.get(secs * k / 2000, float("nan")) * 2000 / k)
        print(f"{name.ljust(width)}  {secs:8.3f}  {cpu:8.3f}  {note}")
    c = {key: CPU[val] for key, val in (("sort", t_sort), ("auc", t_auc), ("skl", t_skl))}
    print(
        f"CPU-time ratios: roc_auc/np.sort {c['auc'] / c['sort']:.2f}, "
        f"roc_auc/sklearn {c['auc'] / c['skl']:.2f}, "
        f"scipy(2000, scaled)/ours cluster BCa {CPU[t_sp] * 2000 / k / CPU[t_ours]:.1f}"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
