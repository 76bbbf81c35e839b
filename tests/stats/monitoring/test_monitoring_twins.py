"""Slow, obviously-correct twins of the monitoring statistics, and their exact properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.errors import UndefinedMetricError
from validation.stats import (
    bernoulli_cusum_arl,
    bernoulli_cusum_design,
    bernoulli_cusum_path,
    bernoulli_ewma_arl,
    bernoulli_ewma_design,
    bernoulli_ewma_path,
    category_shift,
    ks_drift,
    normal_cusum_design,
    normal_cusum_path,
    normal_ewma_design,
    normal_ewma_path,
    population_stability_index,
    positive_rate_shift,
    psi_bins,
    wasserstein_drift,
    window_performance,
)


def _arl_by_propagation(step, start, p: float, horizon: int = 400_000, tol: float = 1e-12) -> float:
    """ARL = sum_t P(RL > t), by pushing the state distribution forward one step at a time.

    ``step(state, x)`` returns the next state, or ``None`` for a signal. No linear algebra.
    """
    dist = {start: 1.0}
    arl = 1.0  # P(RL > 0)
    for _ in range(horizon):
        new: dict = {}
        for s, mass in dist.items():
            for x, px in ((1, p), (0, 1.0 - p)):
                nxt = step(s, x)
                if nxt is not None and px > 0:
                    new[nxt] = new.get(nxt, 0.0) + mass * px
        alive = sum(new.values())
        arl += alive
        dist = new
        if alive < tol:
            return arl
    raise AssertionError("did not converge")


@pytest.mark.parametrize(
    ("p0", "p1", "arl0"), [(0.1, 0.2, 200), (0.2, 0.35, 100), (0.3, 0.15, 150)]
)
def test_bernoulli_cusum_arl_equals_run_length_distribution_twin(
    p0: float, p1: float, arl0: float
) -> None:
    d = bernoulli_cusum_design(p0, p1, arl0=arl0, resolution=30)
    up, down = d.resolution - d.k_num, -d.k_num

    def step(s: int, x: int):
        if d.direction == "decrease":
            x = 1 - x
        nxt = max(0, s + (up if x else down))
        return None if nxt > d.h_num else nxt

    for p in (p0, p1):
        twin = _arl_by_propagation(step, 0, p)
        assert bernoulli_cusum_arl(
            p, k_num=d.k_num, h_num=d.h_num, resolution=d.resolution, direction=d.direction
        ) == pytest.approx(twin, rel=1e-8)
    assert d.arl0 == pytest.approx(_arl_by_propagation(step, 0, p0), rel=1e-8)
    assert d.arl1 == pytest.approx(_arl_by_propagation(step, 0, p1), rel=1e-8)


@pytest.mark.parametrize(
    ("p0", "lam", "arl0", "res"), [(0.1, 0.1, 200, 200), (0.25, 0.2, 100, 100)]
)
def test_bernoulli_ewma_arl_equals_run_length_distribution_twin(
    p0: float, lam: float, arl0: float, res: int
) -> None:
    d = bernoulli_ewma_design(p0, lam=lam, arl0=arl0, resolution=res)

    def step(s, x: int):
        z = (1 - lam) * d.z0 + lam * x if s == "start" else (1 - lam) * s / res + lam * x
        j = math.floor(z * res + 0.5)
        return None if j > d.ucl_num else j

    for p in (p0, min(0.99, 2 * p0)):
        assert d.arl(p) == pytest.approx(_arl_by_propagation(step, "start", p), rel=1e-8)


@pytest.mark.parametrize(
    ("p0", "p1", "arl0"), [(0.05, 0.1, 500), (0.1, 0.2, 1000), (0.3, 0.2, 300), (0.02, 0.06, 2000)]
)
def test_cusum_limit_is_the_smallest_that_reaches_the_declared_arl0(
    p0: float, p1: float, arl0: float
) -> None:
    d = bernoulli_cusum_design(p0, p1, arl0=arl0)
    assert d.arl0 >= arl0
    below = bernoulli_cusum_arl(
        p0, k_num=d.k_num, h_num=d.h_num - 1, resolution=d.resolution, direction=d.direction
    )
    assert below < arl0
    assert d.arl1 < d.arl0 / 3
    assert abs(d.k - d.k_optimal) <= 0.5 / d.resolution
    assert d.k == d.k_num / d.resolution and d.h == d.h_num / d.resolution


@pytest.mark.parametrize(
    ("p0", "lam", "arl0"), [(0.1, 0.05, 500), (0.2, 0.1, 1000), (0.3, 0.02, 200)]
)
def test_ewma_limit_is_the_smallest_that_reaches_the_declared_arl0(
    p0: float, lam: float, arl0: float
) -> None:
    d = bernoulli_ewma_design(p0, lam=lam, arl0=arl0, p1=p0 + 0.1)
    assert d.arl0 >= arl0
    assert (
        bernoulli_ewma_arl(p0, lam=lam, ucl_num=d.ucl_num - 1, resolution=d.resolution, z0=d.z0)
        < arl0
    )
    assert d.arl1 is not None and d.arl1 < d.arl0


def test_ewma_design_refuses_an_unreachable_arl0_with_a_message() -> None:
    with pytest.raises(
        ValueError, match=r"no EWMA limit below 1 reaches ARL0 = 1e\+06 with lam = 1.0"
    ):
        bernoulli_ewma_design(0.3, lam=1.0, arl0=1e6)


def test_design_input_errors_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match=r"p0 must be a rate in \(0, 1\), got 1.5"):
        bernoulli_cusum_design(1.5, 0.2, arl0=100)
    with pytest.raises(ValueError, match="p1 must differ from p0"):
        bernoulli_cusum_design(0.2, 0.2, arl0=100)
    with pytest.raises(
        ValueError, match=r"arl0 must be a finite in-control average run length > 1, got nan"
    ):
        bernoulli_cusum_design(0.1, 0.2, arl0=float("nan"))
    with pytest.raises(ValueError, match=r"p1 = 0.1 is not an increase from p0 = 0.2"):
        bernoulli_ewma_design(0.2, lam=0.1, arl0=100, p1=0.1, direction="increase")


@given(st.lists(st.integers(0, 1), min_size=1, max_size=300), st.integers(1, 299))
@settings(max_examples=60, deadline=None)
def test_paths_resumed_in_batches_equal_the_whole_path(xs: list[int], cut: int) -> None:
    cut = min(cut, len(xs))
    cd = bernoulli_cusum_design(0.1, 0.3, arl0=50, resolution=40)
    ed = bernoulli_ewma_design(0.1, lam=0.2, arl0=50, resolution=100)
    for path_fn, design in ((bernoulli_cusum_path, cd), (bernoulli_ewma_path, ed)):
        whole = path_fn(xs, design)
        first = path_fn(xs[:cut], design)
        second = path_fn(xs[cut:], design, state=first.state)
        assert first.values + second.values == whole.values
        assert first.signals + tuple(cut + i for i in second.signals) == whole.signals
        assert second.state == whole.state


def test_cusum_path_by_hand() -> None:
    d = bernoulli_cusum_design(0.1, 0.3, arl0=20, resolution=10)
    # k_num and h_num fixed by the design: recompute the path with plain arithmetic
    s, values, signals = 0, [], []
    xs = [1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1]
    for t, x in enumerate(xs):
        s = max(0, s + (10 * x - d.k_num))
        values.append(s / 10)
        if s > d.h_num:
            signals.append(t)
            s = 0
    path = bernoulli_cusum_path(xs, d)
    assert path.values == tuple(values) and path.signals == tuple(signals)
    assert signals, "the hand example must signal at least once"


def test_decrease_chart_watches_the_complement() -> None:
    up = bernoulli_cusum_design(0.2, 0.4, arl0=100, resolution=50)
    down = bernoulli_cusum_design(0.8, 0.6, arl0=100, resolution=50)
    assert (down.k_num, down.h_num) == (up.k_num, up.h_num)
    assert (down.arl0, down.arl1) == pytest.approx((up.arl0, up.arl1), rel=1e-12)
    xs = np.random.default_rng(1).integers(0, 2, 200)
    assert bernoulli_cusum_path(xs, down).values == bernoulli_cusum_path(1 - xs, up).values


def test_normal_paths_by_hand() -> None:
    cd = normal_cusum_design(k=0.5, arl0=100)
    ed = normal_ewma_design(lam=0.2, arl0=100)
    z = [0.3, 1.5, 2.0, -1.0, 3.0, 2.5]
    c, vals = 0.0, []
    for zi in z:
        c = max(0.0, c + zi - 0.5)
        vals.append(c)
        if c > cd.limit:
            c = 0.0
    assert normal_cusum_path(z, cd).values == pytest.approx(vals)
    e, vals = 0.0, []
    for zi in z:
        e = max(0.0, 0.8 * e + 0.2 * zi)
        vals.append(e)
        if e > ed.limit:
            e = 0.0
    assert normal_ewma_path(z, ed).values == pytest.approx(vals)


# --------------------------------------------------------------------------- drift twins


def _psi_twin(ref, win, edges, eps):
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        r = sum(1 for v in ref if lo <= v < hi) / len(ref)
        a = sum(1 for v in win if lo <= v < hi) / len(win)
        r = eps if r == 0 else r
        a = eps if a == 0 else a
        total += (a - r) * math.log(a / r)
    return total


@given(
    st.lists(st.floats(0, 1), min_size=5, max_size=60),
    st.lists(st.floats(0, 1), min_size=1, max_size=60),
    st.integers(2, 8),
)
@settings(max_examples=80, deadline=None)
def test_psi_equals_a_loop_twin(ref: list[float], win: list[float], n_bins: int) -> None:
    edges = psi_bins(ref, n_bins=n_bins)
    got = population_stability_index(ref, win, n_bins=n_bins)
    assert got.edges == tuple(edges)
    assert got.psi == pytest.approx(_psi_twin(ref, win, list(edges), 1e-4), abs=1e-12)
    assert sum(got.reference_share) == pytest.approx(1.0)
    assert got.psi >= 0


def test_psi_epsilon_is_applied_to_empty_bins_only_and_reported() -> None:
    r = population_stability_index([0.1, 0.2, 0.6, 0.7], [0.65, 0.7, 0.8, 0.9], edges=[0.5])
    assert r.floored == (0,)
    assert r.window_share == (0.0, 1.0)
    expected = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + (1.0 - 0.5) * math.log(1.0 / 0.5)
    assert r.psi == pytest.approx(expected)


def test_ks_and_wasserstein_twins() -> None:
    rng = np.random.default_rng(3)
    ref, win = rng.normal(size=80), rng.normal(0.5, 1, size=50)
    grid = np.sort(np.concatenate([ref, win]))
    f = np.searchsorted(np.sort(ref), grid, side="right") / ref.size
    g = np.searchsorted(np.sort(win), grid, side="right") / win.size
    res = ks_drift(ref, win)
    assert res.statistic == pytest.approx(np.max(np.abs(f - g)))
    assert 0 < res.p_value < 1 and res.extra == {
        "n_reference": 80,
        "n_window": 50,
        "scipy_method": "auto",
    }
    # W1 = integral |F - G| over the pooled grid
    w1 = float(np.sum(np.abs(f - g)[:-1] * np.diff(grid)))
    assert wasserstein_drift(ref, win) == pytest.approx(w1)


def test_positive_rate_shift_is_prop_test_without_correction() -> None:
    # R: prop.test(c(30, 20), c(100, 100), correct = FALSE): X-squared = 2.6667, p-value = 0.1025
    r = positive_rate_shift(30, 100, 20, 100)
    assert r.statistic**2 == pytest.approx(2.666667, rel=1e-6)
    assert r.p_value == pytest.approx(0.1024704348597, rel=1e-9)
    assert (
        r.window.estimate == 0.3
        and r.reference.estimate == 0.2
        and r.difference == pytest.approx(0.1)
    )
    assert r.window.method == "wilson"


def test_category_shift_chi_square_by_hand_and_new_categories_by_name() -> None:
    r = category_shift({"GE": 60, "Siemens": 40}, {"GE": 30, "Siemens": 10, "Canon": 20})
    table = np.array([[0, 60, 40], [20, 30, 10]], dtype=float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    chi2 = float(((table - expected) ** 2 / expected).sum())
    assert r.categories == ("Canon", "GE", "Siemens")
    assert r.statistic == pytest.approx(chi2) and r.df == 2
    assert r.new == ("Canon",) and r.gone == ()
    assert r.min_expected == pytest.approx(expected.min())
    one = category_shift(["GE"] * 5, ["GE"] * 3)
    assert one.statistic is None and one.p_value is None and one.total_variation == 0.0
    with pytest.raises(
        UndefinedMetricError, match="the category mix is undefined: window is empty"
    ):
        category_shift(["GE"], [])


def test_window_performance_records_undefined_metrics_as_reasons() -> None:
    out = window_performance([0, 0, 0], [0.1, 0.7, 0.2], threshold=0.5)
    assert (
        out["sensitivity"]
        == "not estimable: sensitivity is undefined: y_true has no positive cases (1)"
    )
    assert out["specificity"].estimate == pytest.approx(2 / 3)  # type: ignore[union-attr]
    assert isinstance(out["auc"], str) and out["auc"].startswith("not estimable")
