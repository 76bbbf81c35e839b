"""The bootstrap engine: weight matrices, one-sort weighted AUC, percentile/BCa intervals.

Twins: weighted_auc against expanding the weights into repeated rows and counting
pairs; the interval rules against boot::boot.ci's definitions written out by hand
(Davison & Hinkley 1997, eq. 5.18-5.21; boot's norm.inter)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from validation.errors import UndefinedMetricError
from validation.stats import (
    bootstrap_interval,
    bootstrap_weights,
    jackknife_acceleration,
    roc_auc,
    weighted_auc,
)


def pairwise_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 25).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 1), min_size=n, max_size=n),
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
            st.lists(st.lists(st.integers(0, 4), min_size=n, max_size=n), min_size=1, max_size=4),
        )
    )
)
def test_weighted_auc_equals_expanded_rows(data: tuple) -> None:
    y, s, w = (np.asarray(v) for v in data)
    s = s.astype(float)
    if y.min() == y.max():
        with pytest.raises(UndefinedMetricError):
            roc_auc(y, s)
        return
    got = weighted_auc(y, s, w)
    for row, value in zip(w, got, strict=True):
        yy, ss = np.repeat(y, row), np.repeat(s, row)
        if yy.size == 0 or yy.min() == yy.max():
            assert math.isnan(value)
        else:
            assert value == pytest.approx(pairwise_auc(yy, ss), abs=1e-12)
    # Float weights give the same answer as integer ones.
    np.testing.assert_allclose(weighted_auc(y, s, w.astype(float)), got, atol=1e-12)


def test_weighted_auc_large_counts_use_exact_fallback() -> None:
    y = np.array([0, 1, 0, 1])
    s = np.array([0.1, 0.2, 0.3, 0.4])
    w = np.array([[2**20, 2**20, 1, 3]])
    yy, ss = np.repeat(y, [4, 4, 1, 3]), np.repeat(s, [4, 4, 1, 3])
    scaled = weighted_auc(y, s, w)
    # Same proportions as counts (4, 4, 1, 3) scaled: compute exactly by hand.
    num = 2**20 * 2**20 * 1 + 3 * (2**20 + 1)
    den = (2**20 + 3) * (2**20 + 1)
    assert scaled[0] == pytest.approx(num / den, rel=1e-15)
    assert weighted_auc(y, s, [4, 4, 1, 3]) == pytest.approx(pairwise_auc(yy, ss), abs=1e-15)


def test_weights_case_strata_and_clusters() -> None:
    y = np.array([0] * 7 + [1] * 3)
    w = np.vstack(list(bootstrap_weights(10, strata=y, n_resamples=500, rng=1, chunk_size=64)))
    assert w.shape == (500, 10) and w.dtype == np.int32
    assert (w[:, :7].sum(1) == 7).all() and (w[:, 7:].sum(1) == 3).all()
    # Each case is drawn with probability 1/n_stratum per draw: mean count 1.
    assert abs(w.mean() - 1.0) < 0.05
    # Clusters: all cases of a patient share the count; patients drawn I times.
    cl = np.array(["a", "a", "b", "c", "c", "c", "d"])
    wc = np.vstack(list(bootstrap_weights(cl, n_resamples=300, rng=2)))
    assert (wc[:, 0] == wc[:, 1]).all() and (wc[:, 3] == wc[:, 4]).all()
    units = wc[:, [0, 2, 3, 6]]
    assert (units.sum(1) == 4).all()
    # Stratified clusters: strata constant within clusters.
    st_ = np.array([0, 0, 0, 1, 1, 1, 1])
    ws = np.vstack(list(bootstrap_weights(cl, strata=st_, n_resamples=50, rng=3)))
    assert (ws[:, [0, 2]].sum(1) == 2).all() and (ws[:, [3, 6]].sum(1) == 2).all()


def test_weights_do_not_depend_on_chunk_size() -> None:
    y = np.r_[np.zeros(40, int), np.ones(9, int)]
    a = np.vstack(list(bootstrap_weights(49, strata=y, n_resamples=37, rng=5, chunk_size=4)))
    b = np.vstack(list(bootstrap_weights(49, strata=y, n_resamples=37, rng=5, chunk_size=100)))
    np.testing.assert_array_equal(a, b)
    big = np.arange(5000) // 2
    c = np.vstack(list(bootstrap_weights(big, n_resamples=9, rng=6, chunk_size=2)))
    d = np.vstack(list(bootstrap_weights(big, n_resamples=9, rng=6)))
    np.testing.assert_array_equal(c, d)


def test_weights_multinomial_distribution() -> None:
    """Counts of one unit are Binomial(k, 1/k): check mean and variance."""
    w = np.vstack(list(bootstrap_weights(6000, n_resamples=60, rng=7)))
    assert abs(w.mean() - 1.0) < 0.01
    assert abs(w.var() - (1 - 1 / 6000)) < 0.02


def boot_norm_inter(t: np.ndarray, alpha: float) -> float:
    """boot:::norm.inter for one level, written from its definition."""
    t = np.sort(t)
    r = t.size
    rk = (r + 1) * alpha
    k = int(math.floor(rk))
    if k == rk and 1 <= k <= r:
        return float(t[k - 1])
    if k == 0:
        return float(t[0])
    if k >= r:
        return float(t[-1])
    z, z1, z2 = norm.ppf(alpha), norm.ppf(k / (r + 1)), norm.ppf((k + 1) / (r + 1))
    return float(t[k - 1] + (z - z1) / (z2 - z1) * (t[k] - t[k - 1]))


@pytest.mark.parametrize("r", [19, 99, 200, 999, 2000])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_percentile_and_bca_follow_boot_ci(r: int, level: float) -> None:
    rng = np.random.default_rng(r)
    t = rng.gamma(3.0, size=r)
    t0 = 2.7
    a_lo, a_hi = (1 - level) / 2, (1 + level) / 2
    lo, hi = bootstrap_interval(t0, t, method="percentile", confidence_level=level)
    assert lo == pytest.approx(boot_norm_inter(t, a_lo), abs=1e-12)
    assert hi == pytest.approx(boot_norm_inter(t, a_hi), abs=1e-12)
    jack = t0 + rng.normal(scale=0.1, size=30)
    acc = jackknife_acceleration(t0, jack)
    infl = 29 * (t0 - jack)
    assert acc == pytest.approx((infl**3).sum() / (6 * (infl**2).sum() ** 1.5), rel=1e-12)
    z0 = norm.ppf((t < t0).mean())
    adj = [norm.cdf(z0 + (z0 + z) / (1 - acc * (z0 + z))) for z in norm.ppf([a_lo, a_hi])]
    blo, bhi = bootstrap_interval(t0, t, method="bca", confidence_level=level, jackknife=jack)
    assert blo == pytest.approx(boot_norm_inter(t, adj[0]), abs=1e-12)
    assert bhi == pytest.approx(boot_norm_inter(t, adj[1]), abs=1e-12)
    same = bootstrap_interval(t0, t, method="bca", confidence_level=level, acceleration=acc)
    assert same == (blo, bhi)


def test_interval_edge_cases() -> None:
    assert bootstrap_interval(1.0, [1.0, 1.0, 1.0], method="bca") == (1.0, 1.0)
    with pytest.raises(UndefinedMetricError, match="BCa interval undefined"):
        bootstrap_interval(5.0, [1.0, 2.0, 3.0], method="bca")
    with pytest.raises(ValueError, match="replicates must be finite, found 1 non-finite of 3"):
        bootstrap_interval(1.0, [1.0, math.nan, 2.0])
    with pytest.raises(ValueError, match="method must be one of"):
        bootstrap_interval(1.0, [1.0, 2.0], method="basic")
    assert jackknife_acceleration(1.0, [1.0, 1.0, 1.0]) == 0.0
    # Stratified influence: factor n_s - 1 per stratum.
    jack = np.array([0.5, 0.7, 0.6, 0.9, 0.4])
    strata = np.array([0, 0, 1, 1, 1])
    infl = np.array([1, 1, 2, 2, 2]) * (0.65 - jack)
    expect = (infl**3).sum() / (6 * (infl**2).sum() ** 1.5)
    assert jackknife_acceleration(0.65, jack, strata=strata) == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: next(bootstrap_weights(0, n_resamples=3)),
            "the number of cases must be at least 1",
        ),
        (
            lambda: next(bootstrap_weights(5, n_resamples=0)),
            "n_resamples must be a positive integer",
        ),
        (
            lambda: next(bootstrap_weights(3, n_resamples=2, chunk_size=0)),
            "chunk_size must be a positive integer, got 0",
        ),
        (
            lambda: next(bootstrap_weights([1, 1, 2], strata=[0, 1, 1], n_resamples=2)),
            "strata must be constant within each cluster, found a cluster with cases in 2 strata "
            "(its first case is at index 0)",
        ),
        (
            lambda: next(bootstrap_weights(3, strata=[0, 1], n_resamples=2)),
            "inputs must have the same length, got cases=3, strata=2",
        ),
        (lambda: weighted_auc([0, 1], [0.1, 0.2], [[1, -1]]), "weights must be non-negative"),
        (
            lambda: weighted_auc([0, 1], [0.1, 0.2], [1, 1, 1]),
            "weights must have shape (n,) or (rows, n) with n = 2, got shape (3,)",
        ),
        (
            lambda: jackknife_acceleration(1.0, [1.0]),
            "jackknife must be 1-D with at least 2 values",
        ),
    ],
)
def test_engine_error_messages(call, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value).startswith(message)


def test_roc_auc_bootstrap_properties() -> None:
    rng = np.random.default_rng(11)
    y = np.repeat([0, 1], [70, 30])
    s = rng.normal(size=100) + y
    a = roc_auc(y, s, method="bootstrap", rng=3, n_resamples=500)
    b = roc_auc(y, s, method="bootstrap", rng=3, n_resamples=500)
    assert a == b and a.method == "bootstrap_bca"
    assert a.ci_low < a.estimate < a.ci_high
    dl = roc_auc(y, s)
    assert abs((a.se or 0) - (dl.se or 0)) < 0.25 * (dl.se or 1)
    # Perfect separation: every stratified resample is separated -> degenerate interval.
    sep = roc_auc(y, y + 0.1 * rng.random(100), method="bootstrap", rng=1, n_resamples=200)
    assert (sep.ci_low, sep.estimate, sep.ci_high) == (1.0, 1.0, 1.0)
    # Cluster bootstrap: tiny data with undefined resamples, counted not hidden.
    cl = np.array([0, 0, 1, 1, 2, 3])
    yy = np.array([0, 1, 0, 0, 1, 1])
    ss = np.array([0.2, 0.5, 0.1, 0.4, 0.3, 0.9])
    e = roc_auc(yy, ss, clusters=cl, method="bootstrap", bootstrap_ci="percentile", rng=2)
    assert e.extra["n_undefined_resamples"] > 0 and e.method == "cluster_bootstrap_percentile"
    assert e.extra["n_clusters"] == 4
