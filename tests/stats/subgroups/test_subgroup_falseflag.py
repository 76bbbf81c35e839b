"""With no injected gap, subgroup flags stay at the declared level (slow simulation).

Data shaped like the synthetic test set: three groups, ~20% of patients with two
correlated images (clusters), prevalence 40%. Each simulation runs the full
``subgroup_table`` (patient bootstrap, Holm within the pre-specified family). The
family-wise rate of any significant disparity must stay at 5% within binomial
error; the unadjusted per-test rates of the disparity Wald tests and of the
heterogeneity tests must be near 5%.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from validation.stats import subgroup_table

SIMS = 250
LEVEL = 0.05


def _binomial_upper(p: float, n: int) -> float:
    return p + 3.0 * math.sqrt(p * (1 - p) / n)


@pytest.mark.slow
def test_false_flag_rate_without_a_gap_stays_at_the_declared_level():
    rng = np.random.default_rng(20261130)
    any_flag = 0
    disp_p: list[float] = []
    het_p: list[float] = []
    for i in range(SIMS):
        n_pat = 500
        per = np.where(rng.uniform(size=n_pat) < 0.2, 2, 1)
        pid = np.repeat(np.arange(n_pat), per)
        y = np.repeat(rng.uniform(size=n_pat) < 0.4, per).astype(int)
        grp = np.repeat(rng.choice(["a", "b", "c"], n_pat), per)
        s = 1.2 * y + np.repeat(rng.normal(0, 0.5, n_pat), per) + rng.normal(0, 1, pid.size)
        res = subgroup_table(
            y,
            s,
            pd.DataFrame({"g": grp}),
            metrics=("sensitivity", "specificity", "auc"),
            threshold=0.6,
            clusters=pid,
            n_resamples=300,
            rng=i,
            prespecified=["g"],
            multiplicity="holm",
            confidence_level=1 - LEVEL,
        )
        assert (res.disparity.status == "ok").all()
        any_flag += bool(res.disparity.significant.any())
        disp_p.extend(res.disparity.p_value)
        het_p.extend(res.heterogeneity.p_value)
    fwer = any_flag / SIMS
    print(
        f"fwer {fwer:.3f} per-test {(np.asarray(disp_p) < LEVEL).mean():.3f} het {(np.asarray(het_p) < LEVEL).mean():.3f}"
    )
    assert fwer <= _binomial_upper(LEVEL, SIMS), f"family-wise false-flag rate {fwer:.3f}"
    d = np.asarray(disp_p)
    h = np.asarray(het_p)
    assert 0.02 <= (d < LEVEL).mean() <= 0.09, f"per-test disparity rate {(d < LEVEL).mean():.3f}"
    assert (h < LEVEL).mean() <= _binomial_upper(LEVEL, h.size), (
        f"heterogeneity rate {(h < LEVEL).mean():.3f}"
    )
