"""Summaries of per-case segmentation metrics: counts of excluded cases and clustered CIs.

Twin: each bootstrap replicate recomputed by an explicit loop over the same
resampling weights (``bootstrap_weights``), then ``bootstrap_interval``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validation.errors import UndefinedMetricError
from validation.stats import (
    EmptyMaskPolicy,
    bootstrap_interval,
    bootstrap_weights,
    segmentation_metrics,
    summarize_segmentation,
)


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    dice = rng.uniform(0.5, 0.95, 24)
    excluded = np.zeros(24, bool)
    excluded[[3, 10]] = True
    dice[excluded] = np.nan
    return pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(24)],
            "patient_id": [f"p{i // 3}" for i in range(24)],
            "status": np.where(excluded, "both_empty", "both_present"),
            "excluded": excluded,
            "dice": dice,
        }
    )


def test_mean_counts_and_clustered_ci_match_twin() -> None:
    pc = _table()
    s = summarize_segmentation(pc, clusters="patient_id", metrics=["dice"], n_resamples=300, rng=4)
    e = s.estimates["dice"]
    v = pc["dice"].to_numpy()
    ok = ~pc["excluded"].to_numpy()
    assert e.estimate == pytest.approx(v[ok].mean())
    assert (s.n_valid["dice"], s.n_excluded["dice"], e.n) == (22, 2, 22)
    assert s.status_counts == {"both_present": 22, "both_empty": 2}
    assert e.method == "bootstrap_percentile_cluster" and e.extra["n_clusters"] == 8
    reps = []
    for w in np.vstack(list(bootstrap_weights(pc["patient_id"].tolist(), n_resamples=300, rng=4))):
        tot = cnt = 0.0
        for i in range(len(pc)):
            for _ in range(int(w[i])):
                if ok[i]:
                    tot += v[i]
                    cnt += 1
        reps.append(tot / cnt)
    lo, hi = bootstrap_interval(e.estimate, reps, method="percentile")
    assert (e.ci_low, e.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    frame = s.to_frame()
    assert frame.loc[0, "n_excluded"] == 2
    assert s.to_dict()["n_valid"] == {"dice": 22}


def test_silent_nan_is_rejected_and_all_excluded_is_undefined() -> None:
    pc = _table()
    pc.loc[5, "dice"] = np.nan  # not flagged excluded
    with pytest.raises(
        ValueError, match=r"per_case\['dice'\] has a missing or non-finite value at row 5"
    ):
        summarize_segmentation(pc, metrics=["dice"], n_resamples=10)
    pc = _table()
    pc["excluded"] = True
    pc["dice"] = np.nan
    with pytest.raises(UndefinedMetricError, match="no valid case"):
        summarize_segmentation(pc, metrics=["dice"], n_resamples=10)
    with pytest.raises(ValueError, match="clusters column 'site'"):
        summarize_segmentation(_table(), clusters="site", metrics=["dice"])


def test_end_to_end_from_masks_uses_attrs() -> None:
    rng = np.random.default_rng(1)
    preds, refs = [], []
    for i in range(12):
        r = np.zeros((16, 16), bool)
        if i % 4:
            r[4:10, 4:10] = True
        p = np.roll(r, int(rng.integers(0, 3)), axis=0)
        preds.append(p)
        refs.append(r)
    pol = EmptyMaskPolicy(both_empty="exclude", reference_empty="worst", prediction_empty="worst")
    pc = segmentation_metrics(preds, refs, spacing=(0.8, 0.8), empty_policy=pol, tolerance_mm=1.0)
    s = summarize_segmentation(pc, n_resamples=200, rng=0)
    assert set(s.estimates) == {"dice", "iou", "hausdorff", "hd95", "assd", "masd", "nsd"}
    assert s.n_excluded["hd95"] == 3 and s.n_valid["hd95"] == 9
    assert s.extra["tolerance_mm"] == 1.0 and s.extra["empty_policy"]["both_empty"] == "exclude"
