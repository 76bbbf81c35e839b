"""Benchmark: OR analysis with jackknife covariance, closed-form vs naive jackknife.

radval computes the leave-one-case-out AUCs in closed form from DeLong placement
values (one sort per reader and modality). The peer is the naive jackknife that
MRMCaov's ``jackknife()`` and RJafroc's pseudovalue code perform: delete each case,
recompute every reader's AUC. R is not installed here, so the naive method runs in
Python (each AUC by ``scipy.stats.rankdata``, O(n log n)); at the full size it would
take far too long, so it is timed at smaller sizes and extrapolated as n^2 log n
(the script says which numbers are extrapolated).

Run: ``.venv/bin/python benchmarks/bench_mrmc.py``
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from validation.stats.mrmc import core, mrmc_analysis
from validation.stats.mrmc.fom import GroupedScores, auc_arrays, placements

M, R, C = 2, 20, 10_000


def make(c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.r_[np.zeros(c // 2, np.int8), np.ones(c - c // 2, np.int8)]
    case = rng.normal(size=c)
    scores = (1.2 * truth + case)[None, None, :] + rng.normal(size=(M, R, c))
    return np.round(scores, 2), truth  # rounding gives ties, as ratings do


def naive_jackknife(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    m_, r_, c_ = scores.shape
    out = np.empty((m_, r_, c_))
    for k in range(c_):
        keep = np.ones(c_, bool)
        keep[k] = False
        t = truth[keep]
        n1, n0 = int(t.sum()), int((1 - t).sum())
        for m in range(m_):
            for r in range(r_):
                ranks = rankdata(scores[m, r, keep])
                out[m, r, k] = (ranks[t == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    return out


def tidy(scores: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    m_, r_, c_ = scores.shape
    return pd.DataFrame(
        {
            "reader": np.tile(np.repeat(np.arange(r_), c_), m_).astype(str),
            "modality": np.repeat(np.arange(m_), r_ * c_).astype(str),
            "case": np.tile(np.arange(c_), m_ * r_).astype(str),
            "truth": np.tile(truth, m_ * r_),
            "score": scores.reshape(-1),
        }
    )


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    scores, truth = make(C)
    g = GroupedScores(scores, np.ones(scores.shape, bool), truth)
    frame = tidy(scores, truth)

    def fast_core() -> None:
        fom, jack = auc_arrays(g)
        core.or_tests(fom, core.jackknife_cov(jack), design="fully_crossed", level=0.95)

    t_core = best(fast_core)
    t_full = best(lambda: mrmc_analysis(frame), repeat=2)
    t_delong = best(lambda: core.delong_cov(*placements(scores, truth)))
    t_dbm = best(lambda: mrmc_analysis(frame, method="dbm"), repeat=2)

    # naive jackknife at small sizes; check it agrees; extrapolate to C
    naive = []
    for c in (250, 500, 1000):
        s, t = make(c, seed=1)
        t_n = best(lambda s=s, t=t: naive_jackknife(s, t), repeat=1)
        naive.append((c, t_n))
    s, t = make(250, seed=2)
    _, jack = auc_arrays(GroupedScores(s, np.ones(s.shape, bool), t))
    assert np.allclose(jack, naive_jackknife(s, t), atol=1e-12), "closed form != naive"
    c_ref, t_ref = naive[-1]
    factor = (C**2 * math.log(C)) / (c_ref**2 * math.log(c_ref))
    t_naive_full = t_ref * factor

    print(f"OR analysis, jackknife covariance: {M} modalities x {R} readers x {C:,} cases")
    print()
    print(f"{'what':58s} {'seconds':>10s} {'ratio':>10s}")
    print(f"{'radval closed-form jackknife + OR (arrays)':58s} {t_core:10.3f} {'1':>10s}")
    print(
        f"{'radval mrmc_analysis from a tidy DataFrame (400k rows)':58s} {t_full:10.3f} "
        f"{t_full / t_core:10.1f}"
    )
    print(f"{'radval DBM from a tidy DataFrame':58s} {t_dbm:10.3f} {t_dbm / t_core:10.1f}")
    print(
        f"{'radval DeLong covariance (placements + S10/S01)':58s} {t_delong:10.3f} "
        f"{t_delong / t_core:10.1f}"
    )
    for c, t_n in naive:
        print(f"{f'naive jackknife, measured at {c:,} cases':58s} {t_n:10.3f} {'':>10s}")
    print(
        f"{f'naive jackknife at {C:,} cases (EXTRAPOLATED n^2 log n)':58s} "
        f"{t_naive_full:10.1f} {t_naive_full / t_core:10.0f}"
    )


if __name__ == "__main__":
    main()
