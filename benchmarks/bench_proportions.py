"""Benchmark radval's proportion, McNemar and multiplicity functions against their peers.

Run:  .venv/bin/python benchmarks/bench_proportions.py [--n 1000000] [--calls 2000] [--repeats 3]

Side by side in one run (best of ``--repeats`` wall-clock seconds):

- ``sensitivity`` (Wilson CI) on ``--n`` cases vs ``sklearn.metrics.recall_score`` plus
  ``statsmodels.stats.proportion.proportion_confint(method="wilson")``;
- ``proportion_ci`` (Wilson, Clopper-Pearson) per call vs ``proportion_confint`` per call;
- ``mcnemar`` (exact) on ``--n`` pairs vs building the 2x2 table with numpy and calling
  ``statsmodels.stats.contingency_tables.mcnemar(exact=True)``;
- ``adjust_pvalues`` (Holm, 20 p-values) per call vs ``multipletests(method="holm")``
  (which runs ``gc.collect()`` on every Holm call).

Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy
import sklearn
import statsmodels
from sklearn.metrics import recall_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from validation.stats import adjust_pvalues, mcnemar, proportion_ci, sensitivity


def best(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(20240611)
    n, calls, rep = args.n, args.calls, args.repeats
    y = rng.integers(0, 2, n).astype(np.int8)
    pred = np.where(rng.random(n) < 0.85, y, 1 - y).astype(np.int8)
    pred_b = np.where(rng.random(n) < 0.80, y, 1 - y).astype(np.int8)
    xs = rng.integers(0, 201, calls)
    pvals = rng.random(20) ** 3

    def peer_sens() -> None:
        r = recall_score(y, pred)
        k = int(np.count_nonzero((y == 1) & (pred == 1)))
        proportion_confint(k, int(np.count_nonzero(y == 1)), alpha=0.05, method="wilson")
        assert r > 0

    def peer_mcnemar() -> None:
        a1, b1 = pred == 1, pred_b == 1
        n11 = int(np.count_nonzero(a1 & b1))
        n10 = int(np.count_nonzero(a1)) - n11
        n01 = int(np.count_nonzero(b1)) - n11
        sm_mcnemar([[n11, n10], [n01, n - n11 - n10 - n01]], exact=True)

    rows: list[tuple[str, float, float]] = []

    def pair(label: str, ours: Callable[[], Any], peer: Callable[[], Any], per: int = 1) -> None:
        t_ours, t_peer = best(ours, rep) / per, best(peer, rep) / per
        rows.append((label, t_ours, t_peer))

    pair(f"sensitivity + Wilson CI, {n:,} cases", lambda: sensitivity(y, pred), peer_sens)
    pair(
        "proportion_ci wilson, per call",
        lambda: [proportion_ci(int(x), 200, method="wilson") for x in xs],
        lambda: [proportion_confint(int(x), 200, method="wilson") for x in xs],
        per=calls,
    )
    pair(
        "proportion_ci clopper_pearson, per call",
        lambda: [proportion_ci(int(x), 200, method="clopper_pearson") for x in xs],
        lambda: [proportion_confint(int(x), 200, method="beta") for x in xs],
        per=calls,
    )
    pair(f"mcnemar exact, {n:,} pairs", lambda: mcnemar(pred, pred_b, method="exact"), peer_mcnemar)
    k = max(1, calls // 10)
    pair(
        "adjust_pvalues holm (m=20), per call",
        lambda: [adjust_pvalues(pvals, method="holm") for _ in range(k)],
        lambda: [multipletests(pvals, method="holm") for _ in range(k)],
        per=k,
    )
    pair(
        "adjust_pvalues fdr_bh (m=20), per call",
        lambda: [adjust_pvalues(pvals, method="fdr_bh") for _ in range(k)],
        lambda: [multipletests(pvals, method="fdr_bh") for _ in range(k)],
        per=k,
    )

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"statsmodels {statsmodels.__version__}, scikit-learn {sklearn.__version__}, "
        f"best of {rep}"
    )
    print(f"{'benchmark':<46}{'ours s':>12}{'peer s':>12}  ratio peer/ours")
    for label, t_ours, t_peer in rows:
        print(f"{label:<46}{t_ours:>12.6f}{t_peer:>12.6f}  {t_peer / t_ours:.2f}x")


if __name__ == "__main__":
    main()
