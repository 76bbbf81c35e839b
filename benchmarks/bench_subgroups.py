"""Benchmark: subgroup_table at scale vs a naive per-resample fairlearn MetricFrame loop.

Workload (issue 5): 100,000 cases from ~87,000 patients (15% with two images),
4 attributes (sex with missing values, age bands from numeric age, site,
manufacturer), all 6 two-way intersections, 5 metrics (sensitivity, specificity,
PPV, NPV, AUC), 2000 patient-clustered bootstrap resamples: every cell's CI and
every disparity (group vs rest) from the same resamples.

Peer: the obvious implementation with fairlearn: for each resample, a
``MetricFrame`` per attribute with the five scikit-learn metrics weighted by the
resample's case counts (``sample_params``), for the groups only (no complements,
no tests). It is timed on a few resamples and extrapolated to 2000.

Run: ``.venv/bin/python benchmarks/bench_subgroups.py [--resamples 2000] [--peer-resamples 3]``
"""

from __future__ import annotations

import argparse
import itertools
import resource
import time

import numpy as np
import pandas as pd


def make_data(
    n_cases: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    per = np.where(rng.uniform(size=n_cases) < 0.15, 2, 1)
    per = per[: np.searchsorted(np.cumsum(per), n_cases) + 1]
    per[-1] -= per.sum() - n_cases
    per = per[per > 0]
    n_pat = per.size
    pid = np.repeat(np.arange(n_pat), per)
    y = np.repeat(rng.uniform(size=n_pat) < 0.3, per).astype(int)
    sex = np.repeat(
        rng.choice(np.array(["F", "M", None], dtype=object), n_pat, p=[0.49, 0.49, 0.02]), per
    )
    age = np.repeat(np.clip(rng.normal(58, 15, n_pat), 18, 99).round(), per)
    site = np.repeat(rng.choice([f"Site {c}" for c in "ABCDE"], n_pat), per)
    man = np.repeat(
        rng.choice(["Kestrel", "Corvid", "Borealis", "Other"], n_pat, p=[0.4, 0.3, 0.2, 0.1]), per
    )
    signal = np.where(man == "Borealis", 1.0, 1.8)
    s = 1 / (
        1
        + np.exp(
            -(
                y * signal
                - 1.0
                + np.repeat(rng.normal(0, 0.4, n_pat), per)
                + rng.normal(0, 1, pid.size)
            )
        )
    )
    groups = pd.DataFrame({"sex": sex, "age": age, "site": site, "manufacturer": man})
    return y, s, groups, pid


AGE_BINS = [18, 40, 50, 60, 70, 80, float("inf")]
METRICS = ("sensitivity", "specificity", "ppv", "npv", "auc")
THRESHOLD = 0.5


def run_radval(y, s, groups, pid, n_resamples: int):
    from validation.stats import subgroup_table

    attrs = ["sex", "age", "site", "manufacturer"]
    inter = list(itertools.combinations(attrs, 2))
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = subgroup_table(
        y,
        s,
        groups,
        metrics=METRICS,
        threshold=THRESHOLD,
        intersections=inter,
        age_bins=AGE_BINS,
        clusters=pid,
        n_resamples=n_resamples,
        rng=2026,
        prespecified=["sex", "age_band", "site", "manufacturer"],
    )
    return time.perf_counter() - t0, time.process_time() - c0, res


def run_peer(y, s, groups, pid, n_resamples: int) -> float:
    """Seconds per resample of the naive fairlearn loop (groups only)."""
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    from validation.stats import bootstrap_weights
    from validation.stats.subgroups.groups import make_partitions, prepare_attributes

    attrs = prepare_attributes(groups, len(y), AGE_BINS, "age")
    parts = make_partitions(attrs, list(itertools.combinations(list(attrs), 2)), "age")
    pred = (s >= THRESHOLD).astype(int)

    def sens(yt, sc, sample_weight):
        return recall_score(yt, sc >= THRESHOLD, sample_weight=sample_weight, zero_division=np.nan)

    def spec(yt, sc, sample_weight):
        return recall_score(
            1 - yt, sc < THRESHOLD, sample_weight=sample_weight, zero_division=np.nan
        )

    def ppv(yt, sc, sample_weight):
        return precision_score(
            yt, sc >= THRESHOLD, sample_weight=sample_weight, zero_division=np.nan
        )

    def npv(yt, sc, sample_weight):
        return precision_score(
            1 - yt, sc < THRESHOLD, sample_weight=sample_weight, zero_division=np.nan
        )

    def auc(yt, sc, sample_weight):
        if len(np.unique(yt[sample_weight > 0])) < 2:
            return np.nan
        return roc_auc_score(yt, sc, sample_weight=sample_weight)

    funcs = {"sensitivity": sens, "specificity": spec, "ppv": ppv, "npv": npv, "auc": auc}
    del pred
    weights = bootstrap_weights(pid, n_resamples=n_resamples, rng=1, chunk_size=1)
    t0 = time.perf_counter()
    for w in weights:
        sw = w[0].astype(float)
        keep = sw > 0
        for p in parts:
            frame = MetricFrame(
                metrics=funcs,
                y_true=y[keep],
                y_pred=s[keep],
                sensitive_features=pd.Series(p.labels[keep], name=p.name),
                sample_params={k: {"sample_weight": sw[keep]} for k in funcs},
            )
            assert len(frame.by_group) == len(p.order)
    return (time.perf_counter() - t0) / n_resamples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--peer-resamples", type=int, default=3)
    args = ap.parse_args()
    y, s, groups, pid = make_data(args.cases)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    secs, cpu, res = run_radval(y, s, groups, pid, args.resamples)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n_cells = len(res.table)
    n_groups = res.table[["attribute", "group"]].drop_duplicates().shape[0] - 1
    per = run_peer(y, s, groups, pid, args.peer_resamples)
    peer_total = per * args.resamples
    print(
        f"cases {len(y):,}  patients {pid.max() + 1:,}  groups {n_groups} (4 attributes + 6 "
        f"two-way intersections)  metrics {len(METRICS)}  resamples {args.resamples}"
    )
    print(
        f"table rows {n_cells}  disparity rows {len(res.disparity)}  "
        f"heterogeneity rows {len(res.heterogeneity)}"
    )
    print()
    print(f"{'implementation':58s} {'wall s':>9s} {'ratio':>8s}")
    print(f"{'radval subgroup_table (cells + disparities + tests)':58s} {secs:9.1f} {1.0:8.1f}")
    print(
        f"{'naive fairlearn MetricFrame loop, groups only (extrap.)':58s} {peer_total:9.1f} "
        f"{peer_total / secs:8.1f}"
    )
    print(
        f"  radval CPU time (all threads): {cpu:.1f} s; peak RSS of the process after it: "
        f"{max(rss0, rss1) / 1024:.0f} MiB"
    )
    print(f"  peer measured on {args.peer_resamples} resample(s): {per:.2f} s per resample")
    print(
        f"  load average while running: {' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}"
    )
    print(f"target: under 60 s wall -> {'met' if secs < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
