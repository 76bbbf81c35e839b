"""ROC statistics against slow, obviously-correct twins on random inputs (hypothesis),
including ties and tiny samples, plus exact error messages for bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from validation.errors import UndefinedMetricError
from validation.stats import (
    auc_test,
    compare_auc,
    compare_auc_unpaired,
    midrank_placements,
    partial_auc,
    roc_auc,
    roc_curve,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
    youden,
)
from validation.stats.roc._delong import (
    case_jackknife,
    case_placements,
    cluster_design,
    cluster_jackknife,
    obuchowski_covariance,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def labelled_scores(draw: st.DrawFn, min_each: int = 1, max_n: int = 30) -> tuple:
    n = draw(st.integers(2 * min_each, max_n))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    y[:min_each] = [0] * min_each
    y[min_each : 2 * min_each] = [1] * min_each
    tied = draw(st.booleans())
    if tied:
        s = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    else:
        s = draw(
            st.lists(
                st.floats(-5, 5, allow_nan=False, allow_subnormal=False), min_size=n, max_size=n
            )
        )
    perm = draw(st.permutations(list(range(n))))
    return np.asarray(y)[perm], np.asarray(s, dtype=float)[perm]


def psi(a: float, b: float) -> float:
    return 1.0 if a > b else 0.5 if a == b else 0.0


def pairwise_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    return sum(psi(a, b) for a in pos for b in neg) / (pos.size * neg.size)


def brute_placements(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos, neg = s[y == 1], s[y == 0]
    v10 = np.array([np.mean([psi(a, b) for b in neg]) for a in pos])
    v01 = np.array([np.mean([psi(a, b) for a in pos]) for b in neg])
    return v10, v01


@SETTINGS
@given(labelled_scores())
def test_auc_and_placements_match_pairwise_count(data: tuple) -> None:
    y, s = data
    p = midrank_placements(y, s)
    v10, v01 = brute_placements(y, s)
    ref = pairwise_auc(y, s)
    assert p.auc == pytest.approx(ref, abs=1e-12)
    np.testing.assert_allclose(p.v10, v10, atol=1e-12)
    np.testing.assert_allclose(p.v01, v01, atol=1e-12)
    assert roc_auc_score(y, s) == pytest.approx(ref, abs=1e-12)


@SETTINGS
@given(labelled_scores(min_each=2))
def test_delong_variance_matches_definition(data: tuple) -> None:
    y, s = data
    v10, v01 = brute_placements(y, s)
    var = np.var(v10, ddof=1) / v10.size + np.var(v01, ddof=1) / v01.size
    est = roc_auc(y, s)
    assert est.estimate == pytest.approx(pairwise_auc(y, s), abs=1e-12)
    assert est.extra["variance"] == pytest.approx(var, abs=1e-12)
    z = 1.959963984540054
    assert est.ci_low == pytest.approx(max(0.0, est.estimate - z * math.sqrt(var)), abs=1e-9)
    assert est.ci_high == pytest.approx(min(1.0, est.estimate + z * math.sqrt(var)), abs=1e-9)
    # Obuchowski with one case per cluster is DeLong (tests/reference/README.md).
    single = roc_auc(y, s, clusters=np.arange(y.size))
    assert single.extra["variance"] == pytest.approx(var, abs=1e-12)


@SETTINGS
@given(labelled_scores(min_each=2))
def test_case_jackknife_matches_brute_force(data: tuple) -> None:
    y, s = data
    jack, strata = case_jackknife(case_placements(y.astype(np.int8), s))
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    brute = [pairwise_auc(np.delete(y, i), np.delete(s, i)) for i in np.concatenate((pos, neg))]
    np.testing.assert_allclose(jack, brute, atol=1e-12)
    assert strata.tolist() == [1] * pos.size + [0] * neg.size


@st.composite
def clustered(draw: st.DrawFn) -> tuple:
    y, s = draw(labelled_scores(min_each=3, max_n=24))
    k = draw(st.integers(3, y.size))
    cl = np.asarray(draw(st.lists(st.integers(0, k - 1), min_size=y.size, max_size=y.size)))
    return y, s, cl


@SETTINGS
@given(clustered())
def test_cluster_jackknife_matches_brute_force(data: tuple) -> None:
    y, s, cl = data
    y8 = y.astype(np.int8)
    design = cluster_design(cl, y8)
    p = case_placements(y8, s)
    brute = []
    for c in np.unique(cl):
        keep = cl != c
        yk = y[keep]
        brute.append(pairwise_auc(yk, s[keep]) if 0 < yk.sum() < yk.size else math.nan)
    if any(math.isnan(b) for b in brute):
        with pytest.raises(UndefinedMetricError, match="cluster jackknife"):
            cluster_jackknife(y8, s, p, design)
    else:
        np.testing.assert_allclose(cluster_jackknife(y8, s, p, design), brute, atol=1e-12)


def obuchowski_brute(y: np.ndarray, sa: np.ndarray, sb: np.ndarray, cl: np.ndarray) -> float:
    """Obuchowski (1997) eq. for cov(AUC_a, AUC_b), written with explicit loops."""
    ids = list(np.unique(cl))
    big_m, big_n = int((y == 1).sum()), int((y == 0).sum())

    def parts(s: np.ndarray) -> tuple[list[float], list[float], float]:
        th = pairwise_auc(y, s)
        v10c, v01c = [], []
        for c in ids:
            pc, nc = s[(cl == c) & (y == 1)], s[(cl == c) & (y == 0)]
            v10c.append(sum(np.mean([psi(a, b) for b in s[y == 0]]) for a in pc) - pc.size * th)
            v01c.append(sum(np.mean([psi(a, b) for a in s[y == 1]]) for b in nc) - nc.size * th)
        return v10c, v01c, th

    ea, fa, _ = parts(sa)
    eb, fb, _ = parts(sb)
    i10 = sum(1 for c in ids if ((cl == c) & (y == 1)).any())
    i01 = sum(1 for c in ids if ((cl == c) & (y == 0)).any())
    k = len(ids)
    s10 = i10 / ((i10 - 1) * big_m) * sum(x * z for x, z in zip(ea, eb, strict=True))
    s01 = i01 / ((i01 - 1) * big_n) * sum(x * z for x, z in zip(fa, fb, strict=True))
    s11 = k / (k - 1) * sum(ea[i] * fb[i] + eb[i] * fa[i] for i in range(k))
    return s10 / big_m + s01 / big_n + s11 / (big_m * big_n)


@settings(max_examples=25, deadline=None)
@given(clustered(), st.integers(0, 2**32 - 1))
def test_obuchowski_covariance_matches_loops(data: tuple, seed: int) -> None:
    y, s, cl = data
    y8 = y.astype(np.int8)
    design = cluster_design(cl, y8)
    if np.count_nonzero(design.m_c) < 2 or np.count_nonzero(design.n_c) < 2:
        with pytest.raises(UndefinedMetricError, match="at least 2 clusters"):
            roc_auc(y, s, clusters=cl)
        return
    s2 = s + np.random.default_rng(seed).normal(size=s.size)
    pa, pb = case_placements(y8, s), case_placements(y8, s2)
    ref = obuchowski_brute(y, s, s2, cl)
    assert obuchowski_covariance(pa, pb, design) == pytest.approx(ref, abs=1e-12)
    c = compare_auc(y, s, s2, clusters=cl)
    assert c.extra["covariance"] == pytest.approx(ref, abs=1e-12)


@SETTINGS
@given(labelled_scores())
def test_roc_curve_matches_thresholding(data: tuple) -> None:
    y, s = data
    c = roc_curve(y, s)
    assert c.thresholds[0] == math.inf and c.fpr[0] == 0 and c.tpr[0] == 0
    assert c.fpr[-1] == 1 and c.tpr[-1] == 1
    for t, fpr, tpr in zip(c.thresholds, c.fpr, c.tpr, strict=True):
        called = s >= t
        assert tpr == pytest.approx(called[y == 1].mean(), abs=1e-12)
        assert fpr == pytest.approx(called[y == 0].mean(), abs=1e-12)
    assert np.trapezoid(c.tpr, c.fpr) == pytest.approx(pairwise_auc(y, s), abs=1e-12)
    best = youden(y, s)
    j = c.tpr - c.fpr
    assert best.youden_index == pytest.approx(j.max(), abs=1e-12)
    assert best.threshold == c.thresholds[np.flatnonzero(j == j.max())[0]]


def numeric_partial(y: np.ndarray, s: np.ndarray, lo: float, hi: float, focus: str) -> float:
    """Fine-grid integral of the piecewise-linear ROC curve (np.interp)."""
    c = roc_curve(y, s)
    grid = np.linspace(lo, hi, 200001)
    if focus == "specificity":
        x, yv = c.specificity[::-1], c.sensitivity[::-1]
    else:
        x, yv = c.sensitivity, c.specificity
    # Vertical segments (repeated x) have no area; np.interp picks one side there.
    return float(np.trapezoid(np.interp(grid, x, yv), grid))


@SETTINGS
@given(labelled_scores(), st.floats(0.0, 0.9), st.floats(0.05, 1.0), st.booleans())
def test_partial_auc_additivity_and_integral(data: tuple, a: float, w: float, sens: bool) -> None:
    y, s = data
    lo, hi = a, min(1.0, a + w)
    if hi <= lo:
        return
    focus = "sensitivity" if sens else "specificity"
    full = partial_auc(y, s, **{focus: (0.0, 1.0)})
    assert full == pytest.approx(pairwise_auc(y, s), abs=1e-12)
    left = partial_auc(y, s, **{focus: (0.0, lo)}) if lo > 0 else 0.0
    mid = partial_auc(y, s, **{focus: (hi, lo)})
    right = partial_auc(y, s, **{focus: (hi, 1.0)}) if hi < 1 else 0.0
    assert left + mid + right == pytest.approx(full, abs=1e-12)
    assert mid == pytest.approx(numeric_partial(y, s, lo, hi, focus), abs=1e-4)


def pROC_rule(y: np.ndarray, s: np.ndarray, x: float, fixed: str) -> float:
    """pROC coords(input=...) written out with explicit loops over the curve points."""
    c = roc_curve(y, s)
    sp, se = list(c.specificity[::-1]), list(c.sensitivity[::-1])  # increasing threshold
    if fixed == "specificity":
        hits = [i for i, v in enumerate(sp) if v == x]
        if hits:
            return se[hits[0]]
        nxt = next(i for i, v in enumerate(sp) if v > x)
        prop = (x - sp[nxt - 1]) / (sp[nxt] - sp[nxt - 1])
        return se[nxt - 1] - prop * (se[nxt - 1] - se[nxt])
    hits = [i for i, v in enumerate(se) if v == x]
    if hits:
        return sp[hits[-1]]
    nxt = next(i for i, v in enumerate(se) if v < x)
    prop = (x - se[nxt]) / (se[nxt - 1] - se[nxt])
    return sp[nxt] + prop * (sp[nxt - 1] - sp[nxt])


@SETTINGS
@given(labelled_scores(), st.sampled_from([0.0, 0.25, 0.5, 0.8, 0.9, 1.0, 0.333]))
def test_operating_points_match_pROC_rule(data: tuple, x: float) -> None:
    y, s = data
    e = sensitivity_at_specificity(y, s, x, n_resamples=20, rng=1)
    assert e.estimate == pytest.approx(pROC_rule(y, s, x, "specificity"), abs=1e-12)
    assert e.ci_low <= e.ci_high
    f = specificity_at_sensitivity(y, s, x, n_resamples=20, rng=1)
    assert f.estimate == pytest.approx(pROC_rule(y, s, x, "sensitivity"), abs=1e-12)
    if e.extra["threshold"] is not None:
        called = s >= e.extra["threshold"]
        assert 1 - called[y == 0].mean() == pytest.approx(x, abs=1e-12)
        assert called[y == 1].mean() == pytest.approx(e.estimate, abs=1e-12)


@SETTINGS
@given(labelled_scores(min_each=2), st.integers(0, 2**32 - 1))
def test_compare_auc_antisymmetry_and_margin(data: tuple, seed: int) -> None:
    y, s = data
    s2 = s + np.random.default_rng(seed).normal(size=s.size)
    ab, ba = compare_auc(y, s, s2), compare_auc(y, s2, s)
    assert ab.difference == pytest.approx(-ba.difference, abs=1e-12)
    assert ab.p_value == pytest.approx(ba.p_value, abs=1e-12)
    assert ab.difference == pytest.approx(pairwise_auc(y, s) - pairwise_auc(y, s2), abs=1e-12)
    same = compare_auc(y, s, s)
    assert same.difference == 0 and same.p_value == 1 and same.statistic == 0
    if (ab.se or 0) > 0:
        ni = compare_auc(y, s, s2, alternative="greater", margin=0.05)
        assert ni.statistic == pytest.approx((ab.difference + 0.05) / ab.se, rel=1e-12)
        assert ni.p_value == pytest.approx(0.5 * math.erfc(ni.statistic / math.sqrt(2)), abs=1e-12)
        le = compare_auc(y, s, s2, alternative="less", margin=0.05)
        assert le.statistic == pytest.approx((ab.difference - 0.05) / ab.se, rel=1e-12)


@SETTINGS
@given(labelled_scores(min_each=2), labelled_scores(min_each=2))
def test_unpaired_matches_formula(a: tuple, b: tuple) -> None:
    (ya, sa), (yb, sb) = a, b
    va, vb = roc_auc(ya, sa).extra["variance"], roc_auc(yb, sb).extra["variance"]
    c = compare_auc_unpaired(ya, sa, yb, sb)
    if va + vb > 0:
        df = (va + vb) ** 2 / (va**2 / (ya.size - 1) + vb**2 / (yb.size - 1))
        assert c.df == pytest.approx(df, rel=1e-12)
        assert c.statistic == pytest.approx(c.difference / math.sqrt(va + vb), rel=1e-12)


def test_auc_test_goal_directions() -> None:
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 60)
    s = rng.normal(size=120) + 1.2 * y
    est = roc_auc(y, s)
    g = auc_test(y, s, null_value=est.estimate)
    assert g.statistic == 0 and g.p_value == 0.5
    hi = auc_test(y, s, null_value=0.6)
    lo = auc_test(y, s, null_value=0.6, alternative="less")
    assert hi.p_value + lo.p_value == pytest.approx(1.0, abs=1e-12)
    two = auc_test(y, s, null_value=0.6, alternative="two-sided")
    assert two.p_value == pytest.approx(2 * min(hi.p_value, lo.p_value), abs=1e-12)
    lg = auc_test(y, s, null_value=0.6, method="delong_logit")
    a, se = est.estimate, est.se or 1.0
    z = (math.log(a / (1 - a)) - math.log(0.6 / 0.4)) * a * (1 - a) / se
    assert lg.method == "delong_logit_z"
    assert lg.statistic == pytest.approx(z, rel=1e-12)
    assert lg.p_value == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-9)


def test_logit_interval_inside_unit_interval() -> None:
    y = np.repeat([0, 1], 8)
    s = np.r_[np.arange(8), np.arange(8) + 3.5]
    est = roc_auc(y, s, method="delong_logit")
    assert 0 < est.ci_low < est.estimate < est.ci_high < 1
    assert est.method == "delong_logit"


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (
            lambda: roc_auc([1, 1], [0.1, 0.2]),
            UndefinedMetricError,
            "AUC is undefined: y_true has no negative cases (all 2 are 1)",
        ),
        (
            lambda: roc_auc([0, 0, 0], [0.1, 0.2, 0.3]),
            UndefinedMetricError,
            "AUC is undefined: y_true has no positive cases (all 3 are 0)",
        ),
        (
            lambda: roc_auc([0, 2, 1], [0.1, 0.2, 0.3]),
            ValueError,
            "y_true must contain only 0 and 1, found 2 at index 1",
        ),
        (
            lambda: roc_auc([0, 1], [math.nan, 0.2]),
            ValueError,
            "y_score must be finite, found nan at index 0",
        ),
        (
            lambda: roc_auc([0, 1, 1], [0.1, 0.2]),
            ValueError,
            "inputs must have the same length, got y_true=3, y_score=2",
        ),
        (
            lambda: roc_auc([0, 1], [0.1, 0.2], method="foo"),
            ValueError,
            "method must be one of ('delong', 'delong_logit', 'bootstrap'), got 'foo'",
        ),
        (
            lambda: roc_auc([0, 1], [0.1, 0.2], confidence_level=1.5),
            ValueError,
            "confidence_level must be in (0, 1), got 1.5",
        ),
        (
            lambda: roc_auc([0, 1, 0], [0.1, 0.2, 0.3]),
            UndefinedMetricError,
            "DeLong variance is undefined with fewer than 2 positive or 2 negative cases, "
            "got 1 positive and 2 negative",
        ),
        (
            lambda: roc_auc([0, 0, 1, 1], [1, 2, 3, 4], method="delong_logit"),
            UndefinedMetricError,
            "the logit DeLong interval is undefined at AUC = 1.0; use method='delong'",
        ),
        (
            lambda: roc_auc([0, 1], [0.1, 0.2], method="bootstrap", bootstrap_ci="bc"),
            ValueError,
            "bootstrap_ci must be one of ('bca', 'percentile'), got 'bc'",
        ),
        (
            lambda: compare_auc([0, 0, 1, 1], [1, 2, 3, 4], [1, 3, 2, 4], margin=0.1),
            ValueError,
            "margin must be 0 with alternative='two-sided'; use alternative='greater' "
            "(non-inferiority/superiority) or 'less', got margin=0.1",
        ),
        (
            lambda: compare_auc([0, 0, 1, 1], [1, 2, 3, 4], [1, 3, 2], alternative="greater"),
            ValueError,
            "inputs must have the same length, got y_true=4, y_score_b=3",
        ),
        (
            lambda: compare_auc([0, 0, 1, 1], [1, 2, 3, 4], [1, 3, 2, 4], alternative="more"),
            ValueError,
            "alternative must be one of ('two-sided', 'less', 'greater'), got 'more'",
        ),
        (
            lambda: compare_auc(
                [0, 0, 1, 1], [1, 2, 3, 4], [1, 3, 2, 4], margin=-0.1, alternative="greater"
            ),
            ValueError,
            "margin must be a finite number >= 0, got -0.1",
        ),
        (
            lambda: partial_auc([0, 1], [1, 2]),
            ValueError,
            "give exactly one of specificity=(lo, hi) or sensitivity=(lo, hi)",
        ),
        (
            lambda: partial_auc([0, 1], [1, 2], specificity=(0.8, 0.8)),
            ValueError,
            "specificity range must satisfy 0 <= lo < hi <= 1, got (0.8, 0.8)",
        ),
        (
            lambda: partial_auc([0, 0, 1, 1], [4, 3, 2, 1], specificity=(0.8, 1), correct=True),
            UndefinedMetricError,
            "the McClish correction is undefined for a partial ROC curve",
        ),
        (
            lambda: sensitivity_at_specificity([0, 1], [1, 2], 1.2),
            ValueError,
            "specificity must be in [0, 1], got 1.2",
        ),
        (
            lambda: auc_test([0, 0, 1, 1], [1, 2, 3, 4], null_value=1.0),
            ValueError,
            "null_value must be in (0, 1), got 1.0",
        ),
        (
            lambda: roc_auc([0, 0, 1, 1], [1, 2, 3, 4], clusters=[1, 1, 2]),
            ValueError,
            "inputs must have the same length, got y_true=4, clusters=3",
        ),
        (
            lambda: roc_auc([0, 0, 1, 1], [1, 2, 3, 4], clusters=[1, 1, 2, 2]),
            UndefinedMetricError,
            "the clustered (Obuchowski) variance needs at least 2 clusters with positive cases "
            "and 2 with negative cases, got 1 and 1",
        ),
    ],
)
def test_error_messages(call, exc, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc) as info:
        call()
    assert str(info.value).startswith(message)


@SETTINGS
@given(
    labelled_scores(),
    st.data(),
    st.sampled_from(["specificity", "sensitivity"]),
    st.floats(0.0, 0.7),
    st.booleans(),
)
def test_weighted_curves_match_expanded_rows(
    data: tuple, draw: st.DataObject, focus: str, lo: float, correct: bool
) -> None:
    """The bootstrap path (count-weighted curve points per resample) equals recomputing
    the curve on the resampled data set: partial areas and operating points."""
    from validation.stats.roc.points import (
        _groups,
        _mcclish,
        _partial_rows,
        _points,
        _se_at_sp,
        _sp_at_se,
    )

    y, s = data
    w = np.asarray(draw.draw(st.lists(st.integers(0, 3), min_size=y.size, max_size=y.size)))
    yy, ss = np.repeat(y, w), np.repeat(s, w)
    if yy.size == 0 or yy.min() == yy.max():
        return
    uniq, inv, _, _ = _groups(y.astype(np.int8), s)
    pw = np.bincount(inv, weights=w * (y == 1), minlength=uniq.size)
    nw = np.bincount(inv, weights=w * (y == 0), minlength=uniq.size)
    sp, se = _points(pw, nw)
    hi = lo + 0.3
    area = _partial_rows(sp, se, focus, lo, hi)
    if correct:
        area = _mcclish(area, lo, hi)
        try:
            ref = partial_auc(yy, ss, correct=True, **{focus: (lo, hi)})
        except UndefinedMetricError:
            assert np.isnan(area[0])
            return
    else:
        ref = partial_auc(yy, ss, **{focus: (lo, hi)})
    assert area[0] == pytest.approx(ref, abs=1e-12)
    for x in (0.5, 0.8, 0.9):
        assert _se_at_sp(sp, se, x)[0] == pytest.approx(
            pROC_rule(yy, ss, x, "specificity"), abs=1e-12
        )
        assert _sp_at_se(sp, se, x)[0] == pytest.approx(
            pROC_rule(yy, ss, x, "sensitivity"), abs=1e-12
        )
