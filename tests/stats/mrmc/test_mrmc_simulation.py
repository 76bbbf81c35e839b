"""Roe-Metz reader simulation: determinism, structure, the aided shift; and a slow
check that the OR RRRC test holds its size on simulated null studies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validation.data.reader_simulation import simulate_reader_study
from validation.data.readings import validate_readings
from validation.stats.mrmc import mrmc_analysis, reader_foms


def _inputs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)]
    ai = 1.5 * truth + rng.normal(size=n)
    return truth, ai


def test_deterministic_under_seed_and_tidy():
    truth, ai = _inputs()
    a = simulate_reader_study(truth, ai, n_readers=4, rng=7)
    b = simulate_reader_study(truth, ai, n_readers=4, rng=np.random.default_rng(7))
    pd.testing.assert_frame_equal(a, b)
    c = simulate_reader_study(truth, ai, n_readers=4, rng=8)
    assert not a["score"].equals(c["score"])
    assert list(a.columns) == ["reader", "modality", "case", "truth", "score"]
    assert len(a) == 4 * 2 * 60
    validate_readings(a, design="fully_crossed")


def test_full_weight_aided_readers_read_like_the_ai():
    truth, ai = _inputs()
    sim = simulate_reader_study(truth, ai, n_readers=3, rng=1, aided_weight=1.0)
    foms = reader_foms(sim)
    aided = foms.loc[foms.modality == "aided", "fom"].to_numpy()
    ai_auc = np.mean([(p > q) + 0.5 * (p == q) for p in ai[truth == 1] for q in ai[truth == 0]])
    np.testing.assert_allclose(aided, ai_auc, atol=1e-12)


def test_series_index_gives_case_ids_and_ratings_are_ordinal():
    truth, ai = _inputs(20)
    s = pd.Series(truth, index=[f"case{i}" for i in range(20)])
    sim = simulate_reader_study(s, ai, n_readers=2, rng=3, n_ratings=5)
    assert set(sim["case"]) == set(s.index)
    assert set(sim["score"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_bad_inputs():
    truth, ai = _inputs(10)
    with pytest.raises(ValueError, match="same length"):
        simulate_reader_study(truth, ai[:5], rng=0)
    with pytest.raises(ValueError, match="aided_weight"):
        simulate_reader_study(truth, ai, rng=0, aided_weight=1.5)
    with pytest.raises(ValueError, match="truth must contain only 0 and 1"):
        simulate_reader_study(truth + 1, ai, rng=0)


@pytest.mark.slow
def test_or_rrrc_size_on_null_roe_metz_studies():
    """Null: aided_weight = 0 makes both modalities exchangeable. Rejection rate of the
    5% OR RRRC test over 400 studies must lie within binomial error of 5% (3 sd)."""
    rng = np.random.default_rng(2024)
    n_sims, rejections = 400, 0
    for _ in range(n_sims):
        truth, ai = _inputs(60, int(rng.integers(1 << 31)))
        sim = simulate_reader_study(truth, ai, n_readers=5, rng=rng, aided_weight=0.0)
        p = mrmc_analysis(sim).tests["RRRC"].p_value
        rejections += p < 0.05
    rate = rejections / n_sims
    sd = np.sqrt(0.05 * 0.95 / n_sims)
    assert abs(rate - 0.05) < 3 * sd + 0.01, rate
