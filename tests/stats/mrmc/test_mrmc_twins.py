"""Fast MRMC code against slow, obviously-correct twins on random inputs (hypothesis).

Twins: AUC by counting pairs; the jackknife by deleting each case and recomputing;
DeLong covariance from explicit kernel matrices; the unbiased covariance from the
U-statistic moments (shared diseased / non-diseased / both / neither); OR components
by explicit loops over reader-modality pairs; DBM mean squares by statsmodels' ANOVA;
bootstrap AUCs by materialising resampled cases.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from validation.errors import UndefinedMetricError
from validation.stats.mrmc import core, mrmc_analysis
from validation.stats.mrmc.fom import GroupedScores, auc_arrays, placements, weighted_auc

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pair_auc(x, truth):
    pos = x[truth == 1]
    neg = x[truth == 0]
    return np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])


@st.composite
def studies(draw, max_m=3, max_r=4, max_c=12):
    m = draw(st.integers(1, max_m))
    r = draw(st.integers(1, max_r))
    k0 = draw(st.integers(2, max_c // 2))
    k1 = draw(st.integers(2, max_c // 2))
    levels = draw(st.integers(2, 6))  # few levels -> many ties
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    truth = np.r_[np.zeros(k0, np.int8), np.ones(k1, np.int8)]
    rng.shuffle(truth)
    scores = rng.integers(0, levels, size=(m, r, k0 + k1)).astype(float) + truth
    return scores, truth


def naive_jackknife(scores, truth):
    m_, r_, c_ = scores.shape
    out = np.empty((m_, r_, c_))
    for k in range(c_):
        keep = np.arange(c_) != k
        for m in range(m_):
            for r in range(r_):
                out[m, r, k] = pair_auc(scores[m, r, keep], truth[keep])
    return out


@SETTINGS
@given(studies())
def test_closed_form_jackknife_equals_deleting_cases(study):
    scores, truth = study
    fom, jack = auc_arrays(GroupedScores(scores, np.ones(scores.shape, bool), truth))
    for m, r in itertools.product(range(scores.shape[0]), range(scores.shape[1])):
        assert fom[m, r] == pytest.approx(pair_auc(scores[m, r], truth), abs=1e-12)
    np.testing.assert_allclose(jack, naive_jackknife(scores, truth), atol=1e-12)


def kernel(x, truth):
    pos = x[truth == 1]
    neg = x[truth == 0]
    return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])


@SETTINGS
@given(studies())
def test_delong_covariance_equals_explicit_kernels(study):
    scores, truth = study
    m_, r_, _ = scores.shape
    v10, v01 = placements(scores, truth)
    fast = core.delong_cov(v10, v01).reshape(m_ * r_, m_ * r_)
    ks = [kernel(scores[m, r], truth) for m in range(m_) for r in range(r_)]
    k1, k0 = ks[0].shape
    for a, b in itertools.product(range(len(ks)), repeat=2):
        ra, rb = ks[a].mean(axis=1), ks[b].mean(axis=1)
        ca, cb = ks[a].mean(axis=0), ks[b].mean(axis=0)
        s10 = np.sum((ra - ra.mean()) * (rb - rb.mean())) / (k1 - 1)
        s01 = np.sum((ca - ca.mean()) * (cb - cb.mean())) / (k0 - 1)
        assert fast[a, b] == pytest.approx(s10 / k1 + s01 / k0, abs=1e-12)


@SETTINGS
@given(studies())
def test_unbiased_covariance_equals_u_statistic_moments(study):
    """cov = (M1 + (K0-1) M2 + (K1-1) M3 - (K0+K1-1) M4) / (K0 K1), with M1..M4 the mean
    kernel products over pairs sharing both cases, only the diseased one, only the
    non-diseased one, and neither (derived independently of MRMCaov's delta form)."""
    scores, truth = study
    m_, r_, _ = scores.shape
    fast = core.unbiased_cov(scores, np.ones(scores.shape, bool), truth)
    fast = fast.reshape(m_ * r_, m_ * r_)
    ks = [kernel(scores[m, r], truth) for m in range(m_) for r in range(r_)]
    k1, k0 = ks[0].shape
    for a, b in itertools.product(range(len(ks)), repeat=2):
        sa, sb = ks[a], ks[b]
        prod = sa[:, :, None, None] * sb[None, None, :, :]  # (i, j, i', j')
        same_i = np.eye(k1, dtype=bool)[:, None, :, None]
        same_j = np.eye(k0, dtype=bool)[None, :, None, :]
        masks = {
            "both": same_i & same_j,
            "pos": same_i & ~same_j,
            "neg": ~same_i & same_j,
            "none": ~same_i & ~same_j,
        }
        sums, counts = {}, {}
        for key, mk in masks.items():
            full = np.broadcast_to(mk, prod.shape)
            sums[key] = float(prod[full].sum())
            counts[key] = int(full.sum())
        mom = {k: sums[k] / counts[k] for k in sums}
        expected = (
            mom["both"]
            + (k0 - 1) * mom["pos"]
            + (k1 - 1) * mom["neg"]
            - (k0 + k1 - 1) * mom["none"]
        ) / (k0 * k1)
        assert fast[a, b] == pytest.approx(expected, abs=1e-12)


@SETTINGS
@given(studies(max_m=3, max_r=4, max_c=16))
def test_or_components_equal_explicit_loops(study):
    scores, truth = study
    m_, r_, _ = scores.shape
    if m_ < 2 or r_ < 2:
        return
    fom, jack = auc_arrays(GroupedScores(scores, np.ones(scores.shape, bool), truth))
    cov = core.jackknife_cov(jack)
    got = core.or_components(fom, cov, "fully_crossed")
    c_ = jack.shape[-1]
    cv = {}
    buckets: dict[str, list[float]] = {"var": [], "cov1": [], "cov2": [], "cov3": []}
    for (m, r), (m2, r2) in itertools.product(itertools.product(range(m_), range(r_)), repeat=2):
        x = jack[m, r] - jack[m, r].mean()
        y = jack[m2, r2] - jack[m2, r2].mean()
        v = (c_ - 1) / c_ * float(np.sum(x * y))
        key = (
            "var" if (m == m2 and r == r2) else "cov1" if r == r2 else "cov2" if m == m2 else "cov3"
        )
        buckets[key].append(v)
    cv = {k: float(np.mean(v)) for k, v in buckets.items()}
    assert got["var_error"] == pytest.approx(cv["var"], abs=1e-13)
    for k in ("cov1", "cov2", "cov3"):
        assert got[k] == pytest.approx(cv[k], abs=1e-13)
    # mean squares from statsmodels' two-way ANOVA without replication
    import statsmodels.api as sm
    from statsmodels.formula.api import ols

    df = pd.DataFrame(
        {
            "t": np.repeat(np.arange(m_), r_).astype(str),
            "r": np.tile(np.arange(r_), m_).astype(str),
            "y": fom.reshape(-1),
        }
    )
    table = sm.stats.anova_lm(ols("y ~ C(t) + C(r)", data=df).fit())
    assert got["ms_t"] == pytest.approx(table.loc["C(t)", "mean_sq"], abs=1e-12)
    assert got["ms_r"] == pytest.approx(table.loc["C(r)", "mean_sq"], abs=1e-12)
    assert got["ms_tr"] == pytest.approx(table.loc["Residual", "mean_sq"], abs=1e-12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(studies(max_m=3, max_r=3, max_c=10))
def test_dbm_mean_squares_equal_statsmodels(study):
    scores, truth = study
    m_, r_, c_ = scores.shape
    if m_ < 2 or r_ < 2:
        return
    fom, jack = auc_arrays(GroupedScores(scores, np.ones(scores.shape, bool), truth))
    y = core.pseudovalues(fom, jack)
    np.testing.assert_allclose(y.mean(axis=2), fom, atol=1e-12)
    ms = core.dbm_mean_squares(y)
    import statsmodels.api as sm
    from statsmodels.formula.api import ols

    idx = np.array(list(itertools.product(range(m_), range(r_), range(c_))))
    df = pd.DataFrame(
        {
            "t": idx[:, 0].astype(str),
            "r": idx[:, 1].astype(str),
            "c": idx[:, 2].astype(str),
            "y": y.reshape(-1),
        }
    )
    table = sm.stats.anova_lm(ols("y ~ (C(t) + C(r) + C(c))**2", data=df).fit())
    pairs = {
        "ms_t": "C(t)",
        "ms_r": "C(r)",
        "ms_c": "C(c)",
        "ms_tr": "C(t):C(r)",
        "ms_tc": "C(t):C(c)",
        "ms_rc": "C(r):C(c)",
        "ms_trc": "Residual",
    }
    for ours, theirs in pairs.items():
        assert ms[ours] == pytest.approx(table.loc[theirs, "mean_sq"], rel=1e-7, abs=1e-12)


@SETTINGS
@given(studies(max_m=3, max_r=4, max_c=14))
def test_dbm_rrrc_equals_or_jackknife_rrrc(study):
    """Hillis et al. (2005): the equivalence holds on any data, not only Van Dyke."""
    scores, truth = study
    m_, r_, _ = scores.shape
    if m_ < 2 or r_ < 2:
        return
    fom, jack = auc_arrays(GroupedScores(scores, np.ones(scores.shape, bool), truth))
    a = core.dbm_tests(fom, jack, level=0.95)["tests"]["RRRC"]
    b = core.or_tests(fom, core.jackknife_cov(jack), design="fully_crossed", level=0.95)["tests"][
        "RRRC"
    ]
    # Readers that agree exactly make MS(T:R) zero up to rounding: both routes take it as
    # zero (ddf infinite), or both call the test not estimable when its denominator is zero.
    assert a["estimable"] == b["estimable"], (a["reason"], b["reason"])
    if not b["estimable"]:
        assert a["statistic"] is None and b["statistic"] is None and b["p_value"] is None
        return
    assert a["statistic"] == pytest.approx(b["statistic"], rel=1e-8, abs=1e-10)
    assert a["df_den"] == pytest.approx(b["df_den"], rel=1e-8)
    assert a["df_den"] < 1e8 or a["df_den"] == math.inf
    for ca, cb in zip(a["comparisons"], b["comparisons"], strict=True):
        assert ca["ci_low"] == pytest.approx(cb["ci_low"], abs=1e-10)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(3, 15))
def test_weighted_auc_equals_materialised_resample(seed, n):
    rng = np.random.default_rng(seed)
    truth = np.r_[np.zeros(n, np.int8), np.ones(n, np.int8)]
    x = rng.integers(0, 4, size=2 * n).astype(float) + truth
    w = rng.integers(0, 3, size=(5, 2 * n)).astype(float)
    w[:, 0] += 1  # keep both classes present
    w[:, -1] += 1
    fast = weighted_auc(x, truth, w)
    for b in range(5):
        idx = np.repeat(np.arange(2 * n), w[b].astype(int))
        assert fast[b] == pytest.approx(pair_auc(x[idx], truth[idx]), abs=1e-12)


def tidy(scores, truth):
    m_, r_, c_ = scores.shape
    rows = [
        (f"r{r}", f"m{m}", f"c{k}", int(truth[k]), scores[m, r, k])
        for m in range(m_)
        for r in range(r_)
        for k in range(c_)
    ]
    return pd.DataFrame(rows, columns=["reader", "modality", "case", "truth", "score"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(studies(max_m=2, max_r=3, max_c=12), st.integers(0, 4))
def test_sensitivity_jackknife_equals_deleting_cases(study, threshold):
    scores, truth = study
    m_, r_, c_ = scores.shape
    if m_ < 2 or r_ < 2:
        return
    pos = np.flatnonzero(truth == 1)
    sens = (scores[..., pos] >= threshold).mean(axis=-1)
    jack = np.empty((m_, r_, len(pos)))
    for i, k in enumerate(pos):
        keep = pos[pos != k]
        jack[:, :, i] = (scores[..., keep] >= threshold).mean(axis=-1)
    if (jack == jack[..., :1]).all():  # no case-to-case variation (e.g. every sensitivity 1)
        with pytest.raises(UndefinedMetricError, match="no case-to-case variation"):
            mrmc_analysis(tidy(scores, truth), fom="sensitivity", threshold=threshold)
        return
    res = mrmc_analysis(tidy(scores, truth), fom="sensitivity", threshold=threshold)
    expected = core.or_components(sens, core.jackknife_cov(jack), "fully_crossed")
    np.testing.assert_allclose(res.fom["fom"].to_numpy(), sens.reshape(-1), atol=1e-15)
    assert res.n_cases == len(pos)
    for k in ("var_error", "cov1", "cov2", "cov3"):
        assert res.variance_components[k] == pytest.approx(expected[k], abs=1e-13)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(studies(max_m=2, max_r=3, max_c=12), st.integers(0, 2**32 - 1))
def test_unbiased_covariance_with_missing_readings_equals_pairwise_loop(study, seed):
    """Partially paired data: the vectorised estimator against a plain loop over each
    pair of reader-modality groups and the cases they share (MRMCaov's unbalanced form)."""
    scores, truth = study
    rng = np.random.default_rng(seed)
    present = rng.random(scores.shape) > 0.25
    pos_idx, neg_idx = np.flatnonzero(truth == 1), np.flatnonzero(truth == 0)
    for m, r in itertools.product(range(scores.shape[0]), range(scores.shape[1])):
        present[m, r, pos_idx[:2]] = True  # every group keeps 2 of each class
        present[m, r, neg_idx[:2]] = True
    fast = core.unbiased_cov(scores, present, truth).reshape(scores.shape[0] * scores.shape[1], -1)
    groups = list(itertools.product(range(scores.shape[0]), range(scores.shape[1])))

    def group(g):
        m, r = g
        p = [k for k in pos_idx if present[m, r, k]]
        n = [k for k in neg_idx if present[m, r, k]]
        s = {
            (i, j): float(scores[m, r, i] > scores[m, r, j])
            + 0.5 * float(scores[m, r, i] == scores[m, r, j])
            for i in p
            for j in n
        }
        return p, n, s

    for a, b in itertools.product(range(len(groups)), repeat=2):
        pa, na, sa = group(groups[a])
        pb, nb, sb = group(groups[b])
        sp = [i for i in pa if i in pb]
        sn = [j for j in na if j in nb]
        nxny = len(pa) * len(na) * len(pb) * len(nb)
        delta = nxny / (
            nxny - len(pa) * len(sn) * len(pb) - len(na) * len(sp) * len(nb) + len(sp) * len(sn)
        )
        total_a, total_b = sum(sa.values()), sum(sb.values())
        rows = sum(sum(sa[i, j] for j in na) * sum(sb[i, j] for j in nb) for i in sp)
        cols = sum(sum(sa[i, j] for i in pa) * sum(sb[i, j] for i in pb) for j in sn)
        both = sum(sa[i, j] * sb[i, j] for i in sp for j in sn)
        expected = ((1 - delta) * total_a * total_b + delta * (rows + cols - both)) / nxny
        assert fast[a, b] == pytest.approx(expected, abs=1e-12)
