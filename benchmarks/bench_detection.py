"""Benchmark: detection FROC bootstrap and segmentation metrics against their naive peers.

Run: ``.venv/bin/python benchmarks/bench_detection.py [--quick]``

1. FROC with 2000 case-bootstrap resamples on 10,000 images and 50,000 marks
   (radval: one sort + weighted cumulative sums per block of resamples) against the
   naive peer: per resample, rebuild the resampled FP/TP score lists and call MONAI's
   ``compute_froc_curve_data`` + ``compute_froc_score`` (timed on a few resamples and
   extrapolated to 2000 -- printed as such).
2. Segmentation metrics on 100 volumes of 128^3 (Dice, IoU, HD, HD95, ASSD, MASD,
   NSD) against calling MONAI's ``compute_*`` function once per metric and volume
   (timed on a few volumes, extrapolated to 100).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

from validation.stats import (
    CAMELYON16_FP_RATES,
    EmptyMaskPolicy,
    MatchingRule,
    bootstrap_weights,
    froc_analysis,
    match_detections,
    segmentation_metrics,
)


def _detection_data(n_images: int, n_marks: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    cases = np.array([f"img{i:05d}" for i in range(n_images)])
    abnormal = rng.uniform(size=n_images) < 0.5
    n_les = np.where(abnormal, rng.integers(1, 3, n_images), 0)
    les_case = np.repeat(np.arange(n_images), n_les)
    les_id = (
        np.concatenate([np.arange(1, k + 1) for k in n_les if k]) if n_les.sum() else np.array([])
    )
    lx = rng.uniform(50, 950, les_case.size)
    ly = rng.uniform(50, 950, les_case.size)
    truth = pd.DataFrame(
        {
            "case_id": cases[les_case],
            "lesion_id": les_id,
            "x": lx,
            "y": ly,
            "radius": rng.uniform(5, 15, les_case.size),
        }
    )
    # ~70% of lesions get a nearby mark, the rest of the marks are random
    hit = rng.uniform(size=les_case.size) < 0.7
    n_hit = int(hit.sum())
    n_rand = n_marks - n_hit
    mcase = np.concatenate([les_case[hit], rng.integers(0, n_images, n_rand)])
    mx = np.concatenate([lx[hit] + rng.normal(0, 2, n_hit), rng.uniform(0, 1000, n_rand)])
    my = np.concatenate([ly[hit] + rng.normal(0, 2, n_hit), rng.uniform(0, 1000, n_rand)])
    score = np.concatenate([rng.beta(4, 2, n_hit), rng.beta(2, 4, n_rand)])
    marks = pd.DataFrame({"case_id": cases[mcase], "x": mx, "y": my, "score": score})
    return marks, truth, list(cases)


def bench_froc(n_images: int, n_marks: int, n_resamples: int, peer_resamples: int) -> list[tuple]:
    marks, truth, cases = _detection_data(n_images, n_marks)
    t0 = time.perf_counter()
    match = match_detections(marks, truth, cases=cases, rule=MatchingRule("center_distance"))
    t_match = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = froc_analysis(match, threshold=0.5, n_resamples=n_resamples, rng=1)
    t_boot = time.perf_counter() - t0

    from monai.metrics import compute_froc_curve_data, compute_froc_score

    real = ~match.lesion_ignore
    fp = match.counted_fp
    les_score = np.where(np.isfinite(match.lesion_score[real]), match.lesion_score[real], 0.0)
    les_case = match.lesion_case[real]
    fp_score, fp_case = match.mark_score[fp], match.mark_case[fp]
    by_case_les = pd.Series(les_score).groupby(les_case).apply(np.asarray).to_dict()
    by_case_fp = pd.Series(fp_score).groupby(fp_case).apply(np.asarray).to_dict()
    empty = np.empty(0)
    t0 = time.perf_counter()
    for w in next(bootstrap_weights(len(cases), n_resamples=peer_resamples, rng=2)):
        tp_l, fp_l = [], []
        for k in np.flatnonzero(w):
            for _ in range(int(w[k])):
                tp_l.append(by_case_les.get(k, empty))
                fp_l.append(by_case_fp.get(k, empty))
        tp = np.concatenate(tp_l)
        fpa = np.concatenate(fp_l)
        fps, sens = compute_froc_curve_data(fpa, tp, num_targets=tp.size, num_images=len(cases))
        compute_froc_score(fps, sens, CAMELYON16_FP_RATES)
    t_peer = (time.perf_counter() - t0) / peer_resamples * n_resamples
    return [
        (f"match {n_marks} marks / {n_images} images", t_match, None),
        (
            f"FROC + CPM + CAMELYON16 + AFROC/wAFROC + band, {n_resamples} case-bootstrap resamples",
            t_boot,
            None,
        ),
        ("radval total (match + bootstrap)", t_match + t_boot, t_peer),
        (
            f"peer: MONAI compute_froc_* per resample (CAMELYON16 score only), {peer_resamples} timed, x{n_resamples // peer_resamples} extrapolated",
            t_peer,
            None,
        ),
        (
            f"  (CPM {res.cpm.estimate:.4f} [{res.cpm.ci_low:.4f}, {res.cpm.ci_high:.4f}])",
            float("nan"),
            None,
        ),
    ]


def _volumes(n: int, size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    a, b, c = np.ogrid[:size, :size, :size]
    preds, refs = [], []
    for _ in range(n):
        ctr = rng.uniform(0.3 * size, 0.7 * size, 3)
        r = rng.uniform(0.08 * size, 0.25 * size)
        ref = (a - ctr[0]) ** 2 + (b - ctr[1]) ** 2 + ((c - ctr[2]) * 1.2) ** 2 <= r * r
        c2 = ctr + rng.normal(0, 2, 3)
        r2 = r * rng.uniform(0.85, 1.15)
        pred = (a - c2[0]) ** 2 + (b - c2[1]) ** 2 + (c - c2[2]) ** 2 <= r2 * r2
        preds.append(pred)
        refs.append(ref)
    return preds, refs


def bench_segmentation(n: int, size: int, peer_n: int) -> list[tuple]:
    preds, refs = _volumes(n, size)
    spacing = (0.8, 0.8, 2.0)
    pol = EmptyMaskPolicy(both_empty="best", reference_empty="worst", prediction_empty="worst")
    # warm-up: import MONAI/torch and touch the code paths before timing
    segmentation_metrics(preds[:1], refs[:1], spacing=spacing, empty_policy=pol, tolerance_mm=2.0)
    rows = []
    for jobs in (1, 2):
        t0 = time.perf_counter()
        segmentation_metrics(
            preds, refs, spacing=spacing, empty_policy=pol, tolerance_mm=2.0, n_jobs=jobs
        )
        rows.append((jobs, time.perf_counter() - t0))

    import torch
    from monai.metrics import (
        compute_average_surface_distance,
        compute_dice,
        compute_hausdorff_distance,
        compute_iou,
        compute_surface_dice,
    )

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p, r in zip(preds[:peer_n], refs[:peer_n], strict=True):
            pt = torch.as_tensor(p[None, None].astype(np.float32))
            rt = torch.as_tensor(r[None, None].astype(np.float32))
            kw = {"include_background": True}
            compute_dice(pt, rt, **kw)
            compute_iou(pt, rt, **kw)
            compute_hausdorff_distance(pt, rt, spacing=spacing, **kw)
            compute_hausdorff_distance(pt, rt, spacing=spacing, percentile=95, **kw)
            compute_average_surface_distance(pt, rt, spacing=spacing, symmetric=True, **kw)
            compute_average_surface_distance(pt, rt, spacing=spacing, **kw)  # MASD needs both
            compute_average_surface_distance(rt, pt, spacing=spacing, **kw)  # directed means
            compute_surface_dice(pt, rt, class_thresholds=[2.0], spacing=spacing, **kw)
    t_peer = (time.perf_counter() - t0) / peer_n * n
    return [
        (f"segmentation_metrics, {n} volumes {size}^3, 7 metrics, n_jobs=1", rows[0][1], t_peer),
        (f"segmentation_metrics, {n} volumes {size}^3, 7 metrics, n_jobs=2", rows[1][1], t_peer),
        (
            f"peer: MONAI compute_* per metric and volume, {peer_n} timed, x{n // peer_n} extrapolated",
            t_peer,
            None,
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    args = ap.parse_args()
    if args.quick:
        froc = bench_froc(1000, 5000, 200, 2)
        seg = bench_segmentation(10, 64, 2)
    else:
        froc = bench_froc(10_000, 50_000, 2000, 5)
        seg = bench_segmentation(100, 128, 5)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cores {os.cpu_count()}")
    print(f"{'task':<100} {'seconds':>9} {'peer/radval':>12}")
    for name, t, peer in froc + seg:
        ratio = f"{peer / t:>11.1f}x" if peer is not None else ""
        ts = f"{t:9.2f}" if np.isfinite(t) else " " * 9
        print(f"{name:<100} {ts} {ratio:>12}")


if __name__ == "__main__":
    main()
