"""Simulated production streams with a known change point (slow): false alarms and detection delay.

The streams come from :mod:`validation.monitor.simulate` (the demo's score model), whose
exact in-control and post-change rates are known (:func:`~validation.monitor.simulate.true_rates`).
Charts are designed at the true in-control rate for the declared ARL0 and applied with the
functions ``radval monitor`` uses; their false-alarm rate and detection delay are compared
with the declared/computed run lengths:

* no change: signals per observation ~ 1 / ARL0, and the share of streams with a false alarm
  before the change point equals the exact run-length probability P(RL <= tau);
* a sensitivity drop (the new scanner): the delay of a chart restarted at the change equals
  the computed out-of-control ARL; the delay of the running chart is no longer;
* a scanner-mix shift: the new model is flagged by name in every post-change window and in
  none before; the chi-square mix test alarms at its level in control.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse

from validation.monitor.simulate import SITES_AFTER, SITES_BEFORE, simulate_cases, true_rates
from validation.stats import (
    CusumDesign,
    bernoulli_cusum_design,
    bernoulli_cusum_path,
    category_shift,
)

pytestmark = pytest.mark.slow
THR = 0.4


def _misses(n_positive: int, rng: np.random.Generator, sites: dict) -> np.ndarray:
    """Miss indicators of ``n_positive`` verified positive cases from the score model."""
    cases = simulate_cases(int(n_positive / 0.3 * 1.3) + 200, rng=rng, sites=sites)
    pos = cases[cases["label"] == 1]
    assert len(pos) >= n_positive
    return (pos["score"].to_numpy()[:n_positive] < THR).astype(np.int8)


def _p_alarm_by(d: CusumDesign, p: float, tau: int) -> float:
    """Exact P(RL <= tau) of the integer chart: push the state distribution tau steps."""
    n = d.h_num + 1
    up, down = d.resolution - d.k_num, -d.k_num
    rows, cols, vals = [], [], []
    for s in range(n):
        for step, prob in ((up, p), (down, 1 - p)):
            t = max(0, s + step)
            if t <= d.h_num:
                rows.append(t)
                cols.append(s)
                vals.append(prob)
    q = sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
    dist = np.zeros(n)
    dist[0] = 1.0
    for _ in range(tau):
        dist = q @ dist
    return 1.0 - float(dist.sum())


def test_in_control_false_alarm_rate_matches_the_declared_arl0() -> None:
    p0 = true_rates()["false_negative"]
    d = bernoulli_cusum_design(p0, p0 + 0.15, arl0=300)
    rng = np.random.default_rng(21)
    n_signals = n_obs = 0
    for _ in range(40):
        x = _misses(6000, rng, SITES_BEFORE)
        n_signals += len(bernoulli_cusum_path(x, d).signals)
        n_obs += x.size
    expected = n_obs / d.arl0
    assert abs(n_signals - expected) <= 4.5 * math.sqrt(expected), (n_signals, expected)


def test_sensitivity_drop_detection_delay_against_the_computed_arl() -> None:
    before, after = true_rates(SITES_BEFORE), true_rates(SITES_AFTER)
    p0, p_post = before["false_negative"], after["false_negative"]
    d = bernoulli_cusum_design(p0, 0.35, arl0=500)
    arl_post = d.arl(p_post)
    rng = np.random.default_rng(22)
    tau, n_streams = 150, 600
    false_alarm = 0
    delays, fresh = [], []
    for _ in range(n_streams):
        x = np.concatenate([_misses(tau, rng, SITES_BEFORE), _misses(400, rng, SITES_AFTER)])
        path = bernoulli_cusum_path(x, d, restart=False)
        if any(s < tau for s in path.signals):
            false_alarm += 1
        else:
            after_signals = [s for s in path.signals if s >= tau]
            assert after_signals, "the drop went undetected for 400 verified positives"
            delays.append(after_signals[0] - tau + 1)
        restarted = bernoulli_cusum_path(x[tau:], d)
        assert restarted.signals
        fresh.append(restarted.signals[0] + 1)
    # false alarms before the change: the exact run-length probability, within binomial error
    p_fa = _p_alarm_by(d, p0, tau)
    sd = math.sqrt(n_streams * p_fa * (1 - p_fa))
    assert abs(false_alarm - n_streams * p_fa) <= 4 * sd + 1, (false_alarm, n_streams * p_fa)
    # a fresh chart at the change detects after ARL(p_post) observations on average
    fresh_arr = np.asarray(fresh, dtype=float)
    se = fresh_arr.std(ddof=1) / math.sqrt(fresh_arr.size)
    assert abs(fresh_arr.mean() - arl_post) <= 4 * se, (fresh_arr.mean(), arl_post, se)
    # the running chart starts at or above 0, so it is no slower on average
    delay_arr = np.asarray(delays, dtype=float)
    assert delay_arr.mean() <= arl_post + 4 * delay_arr.std(ddof=1) / math.sqrt(delay_arr.size)
    assert arl_post < d.arl0 / 10


def test_scanner_mix_shift_is_flagged_by_name_and_the_mix_test_holds_its_level() -> None:
    rng = np.random.default_rng(23)
    reference = simulate_cases(1000, rng=rng)["manufacturer_model"].tolist()
    alpha, n_windows = 0.01, 1500
    in_control_alarms = 0
    for _ in range(n_windows):
        window = simulate_cases(200, rng=rng)["manufacturer_model"].tolist()
        res = category_shift(reference, window)
        assert res.new == ()
        in_control_alarms += res.p_value is not None and res.p_value < alpha
    sd = math.sqrt(n_windows * alpha * (1 - alpha))
    assert abs(in_control_alarms - n_windows * alpha) <= 4 * sd, in_control_alarms
    for _ in range(200):
        window = simulate_cases(200, rng=rng, sites=SITES_AFTER)["manufacturer_model"].tolist()
        res = category_shift(reference, window)
        assert res.new == ("OX-9 DR",)
        assert res.p_value is not None and res.p_value < 0.001
