"""Power and sample size (Hillis, Obuchowski & Berbaum 2011).

Checked against a Monte-Carlo simulation of the OR model itself: reader-averaged FOMs
drawn with the stated variance components (error covariances scaled by
C_pilot / C), analysed with the OR RRRC F test; the rejection rate must match the
computed power.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from validation.data.readings import load_readings
from validation.stats.mrmc import mrmc_analysis, mrmc_power, mrmc_sample_size

DATA = Path(__file__).resolve().parents[2] / "data" / "reader_studies"
VC = {
    "var_r": 1.5e-3,
    "var_tr": 2e-4,
    "var_error": 8e-4,
    "cov1": 3.5e-4,
    "cov2": 3.4e-4,
    "cov3": 2.4e-4,
}


def simulated_power(vc, *, effect, n_readers, n_cases, pilot, rng, n_sims=20000):
    r_ = n_readers
    scale = pilot / n_cases
    g = 2 * r_
    sig = np.empty((g, g))
    for a in range(g):
        for b in range(g):
            ma, ra = divmod(a, r_)
            mb, rb = divmod(b, r_)
            sig[a, b] = (
                vc["var_error"]
                if a == b
                else vc["cov1"]
                if ra == rb
                else vc["cov2"]
                if ma == mb
                else vc["cov3"]
            ) * scale
    eps = (rng.standard_normal((n_sims, g)) @ np.linalg.cholesky(sig).T).reshape(n_sims, 2, r_)
    theta = (
        np.array([effect, 0.0])[None, :, None]
        + rng.normal(0, np.sqrt(vc["var_r"]), (n_sims, 1, r_))
        + rng.normal(0, np.sqrt(vc["var_tr"]), (n_sims, 2, r_))
        + eps
    )
    mm = theta.mean(2)
    grand = theta.mean((1, 2))
    ms_t = r_ * ((mm - grand[:, None]) ** 2).sum(1)
    resid = theta - mm[:, :, None] - theta.mean(1)[:, None, :] + grand[:, None, None]
    ms_tr = (resid**2).sum((1, 2)) / (r_ - 1)
    den = ms_tr + r_ * max((vc["cov2"] - vc["cov3"]) * scale, 0)
    ddf = den**2 / (ms_tr**2 / (r_ - 1))
    return float((stats.f.sf(ms_t / den, 1, ddf) < 0.05).mean())


@pytest.mark.parametrize(
    ("readers", "cases", "effect"), [(5, 114, 0.05), (8, 60, 0.06), (4, 300, 0.04)]
)
def test_power_matches_monte_carlo_of_the_or_model(readers, cases, effect):
    p = mrmc_power(VC, effect=effect, n_readers=readers, n_cases=cases, pilot_n_cases=114)
    sim = simulated_power(
        VC,
        effect=effect,
        n_readers=readers,
        n_cases=cases,
        pilot=114,
        rng=np.random.default_rng(readers),
    )
    assert p.power == pytest.approx(sim, abs=0.025)


def test_power_at_zero_effect_is_alpha():
    p = mrmc_power(VC, effect=0.0, n_readers=5, n_cases=100, pilot_n_cases=114)
    assert p.power == pytest.approx(0.05)
    p90 = mrmc_power(
        VC, effect=0.0, n_readers=5, n_cases=100, pilot_n_cases=114, confidence_level=0.9
    )
    assert p90.power == pytest.approx(0.10)


def test_power_increases_with_readers_cases_and_effect():
    base = mrmc_power(VC, effect=0.05, n_readers=5, n_cases=100, pilot_n_cases=114).power
    assert mrmc_power(VC, effect=0.05, n_readers=8, n_cases=100, pilot_n_cases=114).power > base
    assert mrmc_power(VC, effect=0.05, n_readers=5, n_cases=200, pilot_n_cases=114).power > base
    assert mrmc_power(VC, effect=0.07, n_readers=5, n_cases=100, pilot_n_cases=114).power > base


def test_power_from_a_pilot_result():
    pilot = mrmc_analysis(load_readings(DATA / "van_dyke.csv"))
    a = mrmc_power(pilot, effect=0.05, n_readers=6, n_cases=150)
    b = mrmc_power(
        pilot.variance_components, effect=0.05, n_readers=6, n_cases=150, pilot_n_cases=114
    )
    assert a == b
    assert a.to_dict()["n_cases"] == 150


def test_sample_size_is_the_fewest_cases():
    table = mrmc_sample_size(VC, effect=0.05, power=0.8, n_readers=[3, 5, 10], pilot_n_cases=114)
    assert list(table["n_readers"]) == [3, 5, 10]
    for row in table.itertuples():
        if not row.achievable:
            top = mrmc_power(
                VC, effect=0.05, n_readers=row.n_readers, n_cases=100_000, pilot_n_cases=114
            )
            assert top.power < 0.8
            continue
        n = int(row.n_cases)
        assert (
            mrmc_power(VC, effect=0.05, n_readers=row.n_readers, n_cases=n, pilot_n_cases=114).power
            >= 0.8
        )
        assert (
            mrmc_power(
                VC, effect=0.05, n_readers=row.n_readers, n_cases=n - 1, pilot_n_cases=114
            ).power
            < 0.8
        )
    assert table["achievable"].iloc[-1]
    # more readers never need more cases
    got = table.loc[table["achievable"], "n_cases"].astype(int).tolist()
    assert got == sorted(got, reverse=True)


def test_power_input_errors():
    with pytest.raises(ValueError, match="pilot_n_cases"):
        mrmc_power(VC, effect=0.05, n_readers=5, n_cases=100)
    with pytest.raises(ValueError, match="lacks"):
        mrmc_power({"var_tr": 1.0}, effect=0.05, n_readers=5, n_cases=100, pilot_n_cases=10)
    with pytest.raises(ValueError, match="power must be in"):
        mrmc_sample_size(VC, effect=0.05, power=1.5, pilot_n_cases=114)
