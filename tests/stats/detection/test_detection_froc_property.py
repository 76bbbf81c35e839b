"""Property test: the vectorised case bootstrap equals explicit resample expansion on
random tiny data sets with tied scores, unmarked lesions and images without lesions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.errors import UndefinedMetricError
from validation.stats import (
    CAMELYON16_FP_RATES,
    CPM_FP_RATES,
    DetectionMatch,
    MatchingRule,
    bootstrap_interval,
    bootstrap_weights,
    froc_analysis,
    froc_curve,
)

RULE = MatchingRule("center_in_box")


@st.composite
def matches(draw: st.DrawFn) -> DetectionMatch:
    n_cases = draw(st.integers(2, 7))
    score = st.sampled_from([-np.inf, 1.0, 2.0, 3.0])
    les_case, les_score, mark_case, mark_score, status, mark_lesion = [], [], [], [], [], []
    for k in range(n_cases):
        for _ in range(draw(st.integers(0, 2))):
            s = draw(score)
            if np.isfinite(s):
                mark_case.append(k)
                mark_score.append(s)
                status.append("tp")
                mark_lesion.append(len(les_case))
            les_case.append(k)
            les_score.append(s)
        for _ in range(draw(st.integers(0, 3))):
            mark_case.append(k)
            mark_score.append(draw(st.sampled_from([1.0, 2.0, 3.0])))
            status.append(draw(st.sampled_from(["fp", "fp", "double", "ignored"])))
            mark_lesion.append(-1)
    n_l = len(les_case)
    return DetectionMatch(
        rule=MatchingRule(
            "center_in_box", double_detections=draw(st.sampled_from(["fp", "ignore"]))
        ),
        cases=[f"c{k}" for k in range(n_cases)],
        mark_case=np.array(mark_case, dtype=np.intp),
        mark_score=np.array(mark_score, dtype=float),
        mark_status=np.array(status, dtype="<U7"),
        mark_lesion=np.array(mark_lesion, dtype=np.intp),
        lesion_case=np.array(les_case, dtype=np.intp),
        lesion_id=np.array([str(i) for i in range(n_l)]),
        lesion_weight=np.ones(n_l),
        lesion_ignore=np.zeros(n_l, dtype=bool),
        lesion_score=np.array(les_score, dtype=float),
    )


def _expanded(m: DetectionMatch, w: np.ndarray, thr: float) -> dict[str, float]:
    """Metrics of the data set with case k repeated w[k] times (lesion metrics
    are left out when the resample has no lesion: undefined)."""
    les, fps, n_img = [], [], int(w.sum())
    fp = m.counted_fp
    for k, cnt in enumerate(w):
        les += m.lesion_score[m.lesion_case == k].tolist() * int(cnt)
        fps += m.mark_score[(m.mark_case == k) & fp].tolist() * int(cnt)
    out = {"fppi": float(np.sum(np.array(fps) >= thr)) / n_img}
    if les:
        c = froc_curve(np.array(les), np.array(fps), n_images=n_img)
        out.update(
            sens=float(np.mean(np.array(les) >= thr)),
            cpm=c.score(CPM_FP_RATES),
            cam=c.score(CAMELYON16_FP_RATES),
        )
    return out


@settings(max_examples=40, deadline=None)
@given(matches(), st.sampled_from([1.0, 2.0, 2.5]), st.integers(0, 10_000))
def test_bootstrap_equals_expansion(m: DetectionMatch, thr: float, seed: int) -> None:
    if m.lesion_case.size == 0:
        with pytest.raises(UndefinedMetricError):
            froc_analysis(m, threshold=thr, n_resamples=20, rng=seed)
        return
    reps: dict[str, list[float]] = {"sens": [], "fppi": [], "cpm": [], "cam": []}
    for w in np.vstack(list(bootstrap_weights(len(m.cases), n_resamples=20, rng=seed))):
        for k, v in _expanded(m, w, thr).items():
            reps[k].append(v)
    if len(reps["sens"]) < 2:
        with pytest.raises(UndefinedMetricError):
            froc_analysis(m, threshold=thr, n_resamples=20, rng=seed)
        return
    res = froc_analysis(m, threshold=thr, n_resamples=20, rng=seed)
    point = _expanded(m, np.ones(len(m.cases)), thr)
    for key, e in (
        ("sens", res.sensitivity),
        ("fppi", res.fp_per_image),
        ("cpm", res.cpm),
        ("cam", res.camelyon16),
    ):
        assert e.estimate == pytest.approx(point[key], abs=1e-12), key
        lo, hi = bootstrap_interval(point[key], reps[key], method="percentile")
        assert (e.ci_low, e.ci_high) == pytest.approx((lo, hi), abs=1e-12), key
        assert e.extra["n_undefined_resamples"] == 20 - len(reps[key])
