"""Calibration: bins vs scikit-learn, Brier vs scikit-learn, intercept/slope vs a
hand-written Newton MLE and a direct statsmodels GLM, ECE bootstrap vs a twin."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from statsmodels.nonparametric.smoothers_lowess import lowess

from validation.stats import bootstrap_interval, bootstrap_weights
from validation.stats.calibration import (
    calibration_bins,
    calibration_intercept_slope,
    calibration_summary,
    expected_calibration_error,
)


@st.composite
def probs(draw):
    n = draw(st.integers(2, 60))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    p = draw(
        st.lists(
            st.sampled_from([0.0, 0.05, 0.1, 0.3, 0.5, 0.51, 0.7, 0.9, 1.0]) | st.floats(0, 1),
            min_size=n,
            max_size=n,
        )
    )
    return np.array(y), np.array(p)


@settings(max_examples=60, deadline=None)
@given(probs(), st.integers(1, 12), st.sampled_from(["uniform", "quantile"]))
def test_bins_match_scikit_learn_and_ece_is_their_weighted_gap(d, k, strategy):
    y, p = d
    bins = calibration_bins(y, p, n_bins=k, strategy=strategy)
    true, pred = calibration_curve(y, p, n_bins=k, strategy=strategy)
    np.testing.assert_allclose(bins["observed"], true, rtol=0, atol=1e-12)
    np.testing.assert_allclose(bins["mean_predicted"], pred, rtol=0, atol=1e-12)
    assert bins["n"].sum() == len(y)
    # twin: ECE by explicit loop over bins
    # edges exactly as scikit-learn computes them (percentiles of linspace(0, 1) * 100)
    edges = (
        np.percentile(p, np.linspace(0, 1, k + 1) * 100)
        if strategy == "quantile"
        else np.linspace(0, 1, k + 1)
    )
    ids = np.searchsorted(edges[1:-1], p)
    ece = sum(
        abs(p[ids == b].mean() - y[ids == b].mean()) * (ids == b).sum() / len(y)
        for b in range(k)
        if (ids == b).any()
    )
    assert expected_calibration_error(y, p, n_bins=k, strategy=strategy) == pytest.approx(
        ece, abs=1e-12
    )


def newton_logistic(x, y, offset):
    """Hand-written Newton-Raphson MLE of logit P(y=1) = x @ beta + offset."""
    beta = np.zeros(x.shape[1])
    for _ in range(100):
        mu = 1 / (1 + np.exp(-(x @ beta + offset)))
        grad = x.T @ (y - mu)
        hess = x.T @ (x * (mu * (1 - mu))[:, None])
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.max(np.abs(step)) < 1e-13:
            break
    mu = 1 / (1 + np.exp(-(x @ beta + offset)))
    cov = np.linalg.inv(x.T @ (x * (mu * (1 - mu))[:, None]))
    return beta, np.sqrt(np.diag(cov))


def test_intercept_and_slope_equal_newton_mle_and_statsmodels_glm():
    # toy example: overconfident predictions
    p = np.array([0.02, 0.1, 0.15, 0.3, 0.45, 0.5, 0.55, 0.7, 0.8, 0.9, 0.95, 0.98, 0.6, 0.35])
    y = np.array([0, 0, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0])
    a, b = calibration_intercept_slope(y, p, confidence_level=0.95)
    lp = np.log(p / (1 - p))
    (a0, b1), (_, se_b) = newton_logistic(
        np.column_stack([np.ones_like(lp), lp]), y, np.zeros_like(lp)
    )
    (ic,), (se_ic,) = newton_logistic(np.ones((len(p), 1)), y, lp)
    assert b.estimate == pytest.approx(b1, abs=1e-9)
    assert b.se == pytest.approx(se_b, abs=1e-8)
    assert a.estimate == pytest.approx(ic, abs=1e-9)
    assert a.se == pytest.approx(se_ic, abs=1e-8)
    z = 1.959963984540054
    assert (a.ci_low, a.ci_high) == pytest.approx((ic - z * se_ic, ic + z * se_ic), abs=1e-8)
    glm = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit(tol=1e-13, maxiter=200)
    assert (b.estimate, b.ci_low, b.ci_high) == pytest.approx(
        (glm.params[1], *glm.conf_int(0.05)[1]), abs=1e-9
    )
    assert a.method == "logistic_offset_wald" and b.method == "logistic_wald"


def test_well_calibrated_model_has_slope_one_and_intercept_zero():
    rng = np.random.default_rng(4)
    p = rng.uniform(0.02, 0.98, 20000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    a, b = calibration_intercept_slope(y, p)
    assert a.ci_low < 0 < a.ci_high and b.ci_low < 1 < b.ci_high


def test_summary_matches_its_parts_and_twins():
    rng = np.random.default_rng(5)
    n = 400
    pid = np.repeat(np.arange(200), 2)
    p = rng.uniform(size=n) ** 1.5
    y = (rng.uniform(size=n) < p).astype(int)
    res = calibration_summary(
        y, p, n_bins=8, strategy="uniform", rng=9, n_resamples=300, clusters=pid
    )
    assert res.brier.estimate == pytest.approx(brier_score_loss(y, p), abs=1e-15)
    assert res.ece.estimate == pytest.approx(
        expected_calibration_error(y, p, n_bins=8, strategy="uniform")
    )
    boot_rng, _ = np.random.default_rng(9).spawn(2)
    w = np.vstack(list(bootstrap_weights(pid, n_resamples=300, rng=boot_rng))).astype(float)
    ids = np.searchsorted(np.linspace(0, 1, 9)[1:-1], p)
    reps = []
    for row in w:
        gaps = [abs((row[ids == b] * (p - y)[ids == b]).sum()) for b in range(8)]
        reps.append(sum(gaps) / row.sum())
    assert (res.ece.ci_low, res.ece.ci_high) == pytest.approx(
        bootstrap_interval(res.ece.estimate, np.array(reps)), abs=1e-12
    )
    brier_reps = (w @ (p - y) ** 2) / w.sum(1)
    assert (res.brier.ci_low, res.brier.ci_high) == pytest.approx(
        bootstrap_interval(res.brier.estimate, brier_reps), abs=1e-12
    )
    assert res.ece.method == "cluster_bootstrap_percentile"
    grid = np.linspace(p.min(), p.max(), 101)
    np.testing.assert_allclose(res.smoothed["predicted"], grid)
    np.testing.assert_allclose(
        res.smoothed["observed"],
        np.clip(lowess(y, p, frac=2 / 3, it=0, xvals=grid), 0, 1),
        atol=1e-12,
    )
    a, b = calibration_intercept_slope(y, p)
    assert res.intercept == a and res.slope == b
    out = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert out["brier"] == res.brier.estimate and len(out["bins"]) == len(res.bins)
    assert set(out["bins"][0]) >= {"mean_predicted", "observed", "n"}


def test_by_group_rows_and_guardrails():
    rng = np.random.default_rng(6)
    n = 600
    p = rng.uniform(size=n)
    y = (rng.uniform(size=n) < p).astype(int)
    sex = rng.choice(["F", "M"], n).astype(object)
    sex[:12] = None
    res = calibration_summary(y, p, groups=pd.DataFrame({"sex": sex}), n_resamples=100, rng=1)
    t = res.by_group
    assert set(t.group) == {"F", "M", "unknown"}
    unk = t[t.group == "unknown"]
    assert (unk.status == "not_estimable").all() and unk.reason.iloc[0].startswith(
        "n=12 < min_n=20"
    )
    f = t[(t.group == "F") & (t.measure == "brier")].iloc[0]
    m = sex == "F"
    assert f.estimate == pytest.approx(brier_score_loss(y[m], p[m]))
    assert json.dumps(res.to_dict(), allow_nan=False)


def test_one_class_leaves_intercept_and_slope_undefined_with_a_note():
    p = np.linspace(0.1, 0.9, 30)
    res = calibration_summary(np.ones(30, int), p, n_resamples=50, rng=0)
    assert res.intercept is None and res.slope is None
    assert res.notes == (
        "calibration intercept and slope are undefined: y_true has 30 positives "
        "of 30 cases; both classes are needed",
    )


def test_bad_input_messages():
    with pytest.raises(
        ValueError, match=r"^y_prob must be probabilities in \[0, 1\], found 1.2 at index 1$"
    ):
        calibration_summary([0, 1], [0.2, 1.2])
    with pytest.raises(
        ValueError, match=r"^strategy must be one of \('quantile', 'uniform'\), got 'kmeans'$"
    ):
        calibration_bins([0, 1], [0.2, 0.4], strategy="kmeans")
    with pytest.raises(ValueError, match=r"^n_bins must be a positive integer, got 0$"):
        calibration_bins([0, 1], [0.2, 0.4], n_bins=0)
    with pytest.raises(
        ValueError, match=r"^inputs must have the same length, got y_true=2, y_prob=3$"
    ):
        calibration_bins([0, 1], [0.2, 0.4, 0.5])
