"""FROC curve, CPM / CAMELYON16 scores and the case bootstrap.

Reference: MONAI 1.6 ``tests/metrics/test_compute_froc.py`` — FP probs [0.8, 0.6],
TP probs [1, 1, 0, 0, 0.8, 0.8, 0] (0 = lesion missed), 4 targets, 2 images ->
0.9583333 at FP rates (0.25, 0.5, 1, 2, 4, 8) and 0.75 at (0.25,).
Twin: every bootstrap replicate recomputed by expanding the resampled cases.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.errors import UndefinedMetricError
from validation.stats import (
    CAMELYON16_FP_RATES,
    CPM_FP_RATES,
    MatchingRule,
    bootstrap_interval,
    bootstrap_weights,
    evaluate_detection,
    froc_analysis,
    froc_curve,
    froc_figure_of_merit,
    match_detections,
)


def test_monai_froc_reference_values() -> None:
    tp = np.array([1, 1, 0, 0, 0.8, 0.8, 0])
    curve = froc_curve(np.where(tp == 0, -np.inf, tp), [0.8, 0.6], n_images=2, n_lesions=4)
    assert curve.score(CAMELYON16_FP_RATES) == pytest.approx(0.9583333, abs=5e-8)
    assert curve.score((0.25,)) == pytest.approx(0.75, abs=1e-12)
    assert CPM_FP_RATES == (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def test_same_as_monai_functions_on_random_curves() -> None:
    from monai.metrics import compute_froc_curve_data, compute_froc_score

    rng = np.random.default_rng(3)
    for _ in range(20):
        tp = np.round(rng.uniform(0.05, 1, 30), 2) * (rng.uniform(size=30) < 0.7)
        fp = np.round(rng.uniform(0.01, 1, 50), 2)
        n_img = 10
        # MONAI skips the lowest threshold; with 0 as the lowest score (missed lesions)
        # and all FP scores > 0, both curves agree.
        fps, sens = compute_froc_curve_data(fp, tp, num_targets=30, num_images=n_img)
        ours = froc_curve(np.where(tp == 0, -np.inf, tp), fp, n_images=n_img)
        for rates in (CPM_FP_RATES, CAMELYON16_FP_RATES, (0.3, 1.7, 5.0)):
            assert ours.score(rates) == pytest.approx(
                compute_froc_score(fps, sens, rates), abs=1e-12
            )
            # and MONAI's interpolation applied to our curve
            assert ours.score(rates) == pytest.approx(
                compute_froc_score(ours.fp_per_image[::-1], ours.sensitivity[::-1], rates),
                abs=1e-12,
            )


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=12),
    st.lists(st.integers(1, 4), max_size=12),
    st.lists(st.floats(0, 6), min_size=1, max_size=5),
)
def test_sensitivity_at_equals_np_interp(
    les: list[int], fps: list[int], rates: list[float]
) -> None:
    ls = np.where(np.array(les) == 0, -np.inf, np.array(les, dtype=float))
    c = froc_curve(ls, np.array(fps, dtype=float), n_images=3)
    np.testing.assert_allclose(
        c.sensitivity_at(rates), np.interp(rates, c.fp_per_image, c.sensitivity), atol=1e-12
    )
    # thresholds: one point per distinct score, monotone
    assert np.all(np.diff(c.fp_per_image) >= 0) and np.all(np.diff(c.sensitivity) >= 0)
    assert c.fp_per_image[0] == 0 and c.sensitivity[0] == 0


# ------------------------------------------------------------------ analysis


def _dataset(seed: int, n_cases: int = 30) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    cases = [f"c{i}" for i in range(n_cases)]
    truth_rows, mark_rows = [], []
    for i, c in enumerate(cases):
        n_les = int(rng.integers(0, 3)) if i % 3 else 0
        for j in range(n_les):
            x, y = 40.0 * j, 0.0
            truth_rows.append((c, j + 1, x, y, 5.0, float(rng.integers(1, 3))))
            for _ in range(int(rng.integers(0, 3))):  # 0-2 marks near the lesion
                mark_rows.append(
                    (c, x + rng.normal(0, 3), y + rng.normal(0, 3), float(rng.integers(1, 6)))
                )
        for _ in range(int(rng.integers(0, 3))):
            mark_rows.append((c, 200 + rng.uniform(0, 50), 200.0, float(rng.integers(1, 6))))
    truth = pd.DataFrame(truth_rows, columns=["case_id", "lesion_id", "x", "y", "radius", "weight"])
    marks = pd.DataFrame(mark_rows, columns=["case_id", "x", "y", "score"])
    return marks, truth, cases


def _replicate(match, w: np.ndarray, thr: float) -> dict[str, float]:
    """Metrics of one resample by literally duplicating cases ``w[k]`` times."""
    real = ~match.lesion_ignore
    fp = match.counted_fp
    les, fps, n_img = [], [], 0
    tp_thr = fp_thr = 0
    for k, cnt in enumerate(w):
        for _ in range(int(cnt)):
            n_img += 1
            s = match.lesion_score[(match.lesion_case == k) & real]
            les.extend(s.tolist())
            f = match.mark_score[(match.mark_case == k) & fp]
            fps.extend(f.tolist())
            tp_thr += int((s >= thr).sum())
            fp_thr += int((f >= thr).sum())
    c = froc_curve(np.array(les), np.array(fps), n_images=n_img)
    return {
        "sens": tp_thr / len(les),
        "fppi": fp_thr / n_img,
        "cpm": c.score(CPM_FP_RATES),
        "cam": c.score(CAMELYON16_FP_RATES),
    }


def test_bootstrap_matches_expanded_resamples_twin() -> None:
    marks, truth, cases = _dataset(1)
    match = match_detections(marks, truth, cases=cases, rule=MatchingRule("center_distance"))
    res = froc_analysis(match, threshold=3.0, n_resamples=60, rng=11)
    reps = {"sens": [], "fppi": [], "cpm": [], "cam": []}
    for w in np.vstack(list(bootstrap_weights(len(cases), n_resamples=60, rng=11))):
        for k, v in _replicate(match, w, 3.0).items():
            reps[k].append(v)
    c = res.curve
    point = {
        "sens": res.sensitivity,
        "fppi": res.fp_per_image,
        "cpm": res.cpm,
        "cam": res.camelyon16,
    }
    assert point["cpm"].estimate == pytest.approx(c.score(CPM_FP_RATES))
    for k, e in point.items():
        lo, hi = bootstrap_interval(e.estimate, reps[k], method="percentile")
        assert (e.ci_low, e.ci_high) == pytest.approx((lo, hi), abs=1e-12), k
        assert e.se == pytest.approx(np.std(reps[k], ddof=1), abs=1e-12)


def test_wafroc_of_detection_equals_reader_study_fom_and_its_bootstrap() -> None:
    marks, truth, cases = _dataset(2)
    match = match_detections(marks, truth, cases=cases, rule=MatchingRule("center_distance"))
    res = froc_analysis(match, threshold=3.0, n_resamples=40, rng=5)

    def tidy(m, case_ids, w_row):
        """Expanded tidy FROC data: copy j of case k becomes case 'k_j'."""
        t_rows, m_rows = [], []
        real = ~m.lesion_ignore
        for k, cnt in enumerate(w_row):
            for j in range(int(cnt)):
                cid = f"{k}_{j}"
                idx = np.flatnonzero((m.lesion_case == k) & real)
                if idx.size == 0:
                    t_rows.append((cid, 0, 0, np.nan))
                for n, li in enumerate(idx, start=1):
                    t_rows.append((cid, 1, n, m.lesion_weight[li]))
                    if np.isfinite(m.lesion_score[li]):
                        m_rows.append(("r", "AI", cid, 1, m.lesion_score[li], n))
                for s in m.mark_score[(m.mark_case == k) & m.counted_fp]:
                    m_rows.append(("r", "AI", cid, int(idx.size > 0), s, 0))
        return (
            pd.DataFrame(
                m_rows, columns=["reader", "modality", "case", "truth", "score", "lesion"]
            ),
            pd.DataFrame(t_rows, columns=["case", "truth", "lesion", "weight"]),
        )

    mk, tk = tidy(match, cases, np.ones(len(cases)))
    for name in ("wafroc", "afroc"):
        expected = froc_figure_of_merit(mk, tk, fom=name)["fom"].iloc[0]
        assert getattr(res, name).estimate == pytest.approx(expected, abs=1e-12)
    reps = []
    for w in np.vstack(list(bootstrap_weights(len(cases), n_resamples=40, rng=5))):
        mk, tk = tidy(match, cases, w)
        reps.append(froc_figure_of_merit(mk, tk, fom="wafroc")["fom"].iloc[0])
    lo, hi = bootstrap_interval(res.wafroc.estimate, reps, method="percentile")
    assert (res.wafroc.ci_low, res.wafroc.ci_high) == pytest.approx((lo, hi), abs=1e-12)


def test_cluster_bootstrap_and_result_dict() -> None:
    marks, truth, cases = _dataset(3)
    clusters = [f"p{i // 2}" for i in range(len(cases))]
    res = evaluate_detection(
        marks,
        truth,
        cases=cases,
        rule=MatchingRule("center_distance"),
        threshold=2.0,
        clusters=clusters,
        n_resamples=200,
        rng=0,
    )
    assert res.sensitivity.method == "bootstrap_percentile_cluster"
    assert res.counts["n_clusters"] == 15 and res.counts["n_images"] == 30
    assert res.sensitivity.ci_low <= res.sensitivity.estimate <= res.sensitivity.ci_high
    assert np.all(res.band.ci_low <= res.band.sensitivity + 1e-12)
    assert np.all(res.band.sensitivity <= res.band.ci_high + 1e-12)
    d = res.to_dict()
    assert d["rule"]["criterion"] == "center_distance"
    assert d["curve"]["thresholds"][0] == "inf"
    assert set(d) >= {
        "sensitivity",
        "fp_per_image",
        "cpm",
        "camelyon16",
        "afroc",
        "wafroc",
        "band",
        "counts",
    }
    with pytest.raises(ValueError, match="one label per case"):
        froc_analysis(
            match_detections(marks, truth, cases=cases, rule=MatchingRule("center_distance")),
            threshold=2.0,
            clusters=clusters[:-1],
        )


def test_locked_threshold_counts_and_double_policy() -> None:
    truth = pd.DataFrame(
        {"case_id": ["a", "b"], "lesion_id": [1, 1], "x": [0, 0], "y": [0, 0], "radius": [2, 2]}
    )
    marks = pd.DataFrame(
        {
            "case_id": ["a", "a", "b", "c"],
            "x": [0, 1, 9, 0],
            "y": [0, 0, 9, 0],
            "score": [0.9, 0.8, 0.7, 0.3],
        }
    )
    cases = ["a", "b", "c", "d"]
    r = evaluate_detection(
        marks,
        truth,
        cases=cases,
        rule=MatchingRule("center_distance"),
        threshold=0.5,
        n_resamples=50,
        rng=0,
    )
    assert (r.sensitivity.estimate, r.sensitivity.successes, r.sensitivity.n) == (0.5, 1, 2)
    assert r.fp_per_image.estimate == 0.5  # double (0.8) + FP (0.7) over 4 images
    r2 = evaluate_detection(
        marks,
        truth,
        cases=cases,
        rule=MatchingRule("center_distance", double_detections="ignore"),
        threshold=0.5,
        n_resamples=50,
        rng=0,
    )
    assert r2.fp_per_image.estimate == 0.25


def test_undefined_cases() -> None:
    marks = pd.DataFrame({"case_id": ["a"], "x": [0.0], "y": [0.0], "score": [0.5]})
    empty_truth = pd.DataFrame({"case_id": [], "lesion_id": [], "x": [], "y": [], "radius": []})
    m = match_detections(marks, empty_truth, cases=["a"], rule=MatchingRule("center_distance"))
    with pytest.raises(UndefinedMetricError, match="expected at least one lesion"):
        froc_analysis(m, threshold=0.5)
    truth = pd.DataFrame(
        {"case_id": ["a"], "lesion_id": [1], "x": [0.0], "y": [0.0], "radius": [1.0]}
    )
    m = match_detections(marks, truth, cases=["a", "b"], rule=MatchingRule("center_distance"))
    m_all_abnormal = match_detections(
        marks, truth, cases=["a"], rule=MatchingRule("center_distance")
    )
    r = froc_analysis(m_all_abnormal, threshold=0.5, n_resamples=20, rng=0)
    assert (
        r.wafroc is None and r.afroc is None and any("wafroc not estimable" in n for n in r.notes)
    )
    r = froc_analysis(m, threshold=0.5, n_resamples=200, rng=0)
    # resamples drawing only the normal image have no lesion: dropped and counted
    assert r.counts["n_undefined_resamples"] > 0
    assert r.sensitivity.extra["n_undefined_resamples"] == r.counts["n_undefined_resamples"]
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        froc_analysis(m, threshold=float("nan"))
