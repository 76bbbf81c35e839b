"""Coverage simulations (slow): 95% intervals cover the truth at their nominal rate.

For each (n, p) we draw binomial samples, compute the interval (cached per
distinct count) and compare the simulated coverage with (a) the exact coverage
sum_x P(X = x) 1[p in CI(x)], within binomial simulation error, and (b) the
nominal 0.95: Clopper-Pearson must not under-cover beyond simulation error,
Wilson's coverage oscillates around nominal (Brown, Cai & DasGupta 2001) and must
stay within 1.5 points of it plus simulation error. Paired-difference intervals
(Tango, Newcombe) are checked the same way on simulated paired tables.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from scipy import stats as sps

from validation.stats.hypothesis import paired_proportion_difference
from validation.stats.proportions import proportion_ci

pytestmark = pytest.mark.slow

LEVEL = 0.95
REPS = 4000
SETTINGS = [(20, 0.5), (50, 0.2), (100, 0.9), (200, 0.05), (500, 0.7)]


def _sim_se(cov: float, reps: int) -> float:
    return math.sqrt(max(cov * (1 - cov), 1e-4) / reps)


@pytest.mark.parametrize("method", ["wilson", "clopper_pearson"])
@pytest.mark.parametrize(("n", "p"), SETTINGS)
def test_single_proportion_coverage(method: str, n: int, p: float) -> None:
    rng = np.random.default_rng(20240611 + n)
    xs = rng.binomial(n, p, size=REPS)

    @cache
    def covers(x: int) -> bool:
        est = proportion_ci(x, n, method=method, confidence_level=LEVEL)
        return est.ci_low <= p <= est.ci_high

    simulated = float(np.mean([covers(int(x)) for x in xs]))
    pmf = sps.binom.pmf(np.arange(n + 1), n, p)
    # counts with P(X = x) < 1e-13 cannot move the exact coverage visibly
    exact = float(sum(pmf[x] for x in range(n + 1) if pmf[x] >= 1e-13 and covers(x)))
    se = _sim_se(exact, REPS)
    assert abs(simulated - exact) <= 4 * se, (simulated, exact)
    if method == "clopper_pearson":
        assert exact >= LEVEL - 1e-12  # guaranteed conservative
        assert simulated >= LEVEL - 3 * se
    else:
        assert abs(simulated - LEVEL) <= 0.015 + 3 * se, simulated


@pytest.mark.parametrize("method", ["tango", "newcombe"])
@pytest.mark.parametrize(
    ("n", "probs"),
    [
        (60, (0.55, 0.10, 0.05, 0.30)),  # p11, p10, p01, p00
        (150, (0.70, 0.06, 0.09, 0.15)),
    ],
)
def test_paired_difference_coverage(method: str, n: int, probs: tuple[float, ...]) -> None:
    reps = 1500
    rng = np.random.default_rng(7 + n)
    tables = rng.multinomial(n, probs, size=reps)
    truth = probs[1] - probs[2]

    @cache
    def covers(n11: int, n10: int, n01: int, n00: int) -> bool:
        a = np.repeat([1, 1, 0, 0], [n11, n10, n01, n00])
        b = np.repeat([1, 0, 1, 0], [n11, n10, n01, n00])
        c = paired_proportion_difference(a, b, method=method, confidence_level=LEVEL)
        return c.ci_low <= truth <= c.ci_high

    coverage = float(np.mean([covers(*map(int, t)) for t in tables]))
    se = _sim_se(LEVEL, reps)
    assert abs(coverage - LEVEL) <= 0.015 + 3 * se, coverage
