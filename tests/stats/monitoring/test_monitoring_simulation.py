"""Monte Carlo run lengths of the charts as applied (their ``*_path`` functions) against the ARLs.

Over a long in-control (or out-of-control) sequence a chart that restarts after each signal
is a renewal process with mean inter-signal time = the zero-state ARL, so the number of
signals in N observations is close to N / ARL; its standard deviation is about
sqrt(N sd(RL)^2 / ARL^3) <= sqrt(N / ARL) for these geometric-like run lengths.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from validation.stats import (
    bernoulli_cusum_design,
    bernoulli_cusum_path,
    bernoulli_ewma_design,
    bernoulli_ewma_path,
    normal_cusum_arl,
    normal_cusum_design,
    normal_cusum_path,
    normal_ewma_arl,
    normal_ewma_design,
    normal_ewma_path,
)

pytestmark = pytest.mark.slow


def _check_rate(n_signals: int, n_obs: int, arl: float) -> None:
    expected = n_obs / arl
    assert abs(n_signals - expected) <= 4.5 * math.sqrt(expected) + 1, (n_signals, expected)


@pytest.mark.parametrize(("p0", "p1"), [(0.1, 0.2), (0.25, 0.15)])
def test_bernoulli_cusum_signal_rate_matches_its_arl(p0: float, p1: float) -> None:
    d = bernoulli_cusum_design(p0, p1, arl0=200)
    rng = np.random.default_rng(11)
    for p, arl in ((p0, d.arl0), (p1, d.arl1)):
        n = int(400 * arl) + 20_000
        path = bernoulli_cusum_path((rng.random(n) < p).astype(np.int8), d)
        _check_rate(len(path.signals), n, arl)


def test_bernoulli_ewma_signal_rate_matches_its_arl() -> None:
    d = bernoulli_ewma_design(0.15, lam=0.1, arl0=200, p1=0.3, resolution=500)
    rng = np.random.default_rng(12)
    assert d.arl1 is not None
    for p, arl in ((0.15, d.arl0), (0.3, d.arl1)):
        n = int(300 * arl) + 20_000
        path = bernoulli_ewma_path((rng.random(n) < p).astype(np.int8), d)
        _check_rate(len(path.signals), n, arl)


def test_normal_charts_signal_rates_match_their_arls() -> None:
    rng = np.random.default_rng(13)
    cd = normal_cusum_design(k=0.5, arl0=200, shift=1.0)
    ed = normal_ewma_design(lam=0.2, arl0=200, shift=1.0)
    for mu in (0.0, 1.0):
        z = rng.normal(mu, 1.0, 300_000)
        _check_rate(
            len(normal_cusum_path(z, cd).signals), z.size, normal_cusum_arl(mu, k=0.5, h=cd.limit)
        )
        assert ed.c is not None
        _check_rate(
            len(normal_ewma_path(z, ed).signals), z.size, normal_ewma_arl(mu, lam=0.2, c=ed.c)
        )


def test_decrease_chart_run_lengths_from_a_fresh_start() -> None:
    """Zero-state run lengths (each from a fresh chart), mean against the ARL within 4 SE."""
    d = bernoulli_cusum_design(0.3, 0.15, arl0=150)
    rng = np.random.default_rng(14)
    lengths = []
    for _ in range(1500):
        t = 0
        state = None
        while True:
            block = (rng.random(200) < 0.3).astype(np.int8)
            path = bernoulli_cusum_path(block, d, state=state)
            if path.signals:
                lengths.append(t + path.signals[0] + 1)
                break
            t += 200
            state = path.state
    arr = np.asarray(lengths, dtype=float)
    se = arr.std(ddof=1) / math.sqrt(arr.size)
    assert abs(arr.mean() - d.arl0) <= 4 * se, (arr.mean(), d.arl0, se)
