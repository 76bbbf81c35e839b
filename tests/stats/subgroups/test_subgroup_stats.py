"""Disparity measures against fairlearn, heterogeneity tests against hand-computed
likelihood ratios / DeLong chi-squares, and a truly weaker group being flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import chi2

from validation.stats import roc_auc, subgroup_table
from validation.stats.subgroups.cells import Engine
from validation.stats.subgroups.disparity import fairness_from_counts
from validation.stats.subgroups.heterogeneity import lr_binomial


def _xlogy(x, y):
    return np.where(x > 0, x * np.log(np.where(x > 0, x, 1) / np.where(y > 0, y, 1)), 0.0)


def g_statistic(x, n):
    """Closed-form LR of group-specific vs common binomial proportion (saturated MLEs)."""
    x, n = np.asarray(x, float), np.asarray(n, float)
    full = np.sum(_xlogy(x, n) + _xlogy(n - x, n))
    X, N = x.sum(), n.sum()
    red = _xlogy(X, N) + _xlogy(N - X, N)
    return 2 * (full - red)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 30)), min_size=2, max_size=6))
def test_statsmodels_lr_equals_closed_form(cells):
    x = np.array([min(a, b) for a, b in cells])
    n = np.array([b for _, b in cells])
    stat, df = lr_binomial(x, n)
    assert df == len(cells) - 1
    assert stat == pytest.approx(g_statistic(x, n), abs=1e-6)


def _data(seed, n=1500):
    rng = np.random.default_rng(seed)
    grp = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    y = rng.integers(0, 2, n)
    shift = np.select([grp == "a", grp == "b"], [1.2, 0.9], 0.6)
    s = y * shift + rng.normal(0, 1, n)
    return y, s, grp


def test_sensitivity_specificity_lr_equals_the_truth_by_subgroup_logistic_model():
    y, s, grp = _data(1)
    pred = (s >= 0.5).astype(int)
    res = subgroup_table(
        y,
        s,
        pd.DataFrame({"g": grp}),
        metrics=("sensitivity", "specificity"),
        threshold=0.5,
        disparity=False,
    )
    het = res.heterogeneity.set_index("metric")
    # case-level logistic model of the call on truth x subgroup (statsmodels Logit)
    d = pd.get_dummies(grp, drop_first=True).astype(float).to_numpy()
    t = y[:, None].astype(float)
    full = np.column_stack([t, 1 - t, t * d, (1 - t) * d])
    llf = sm.Logit(pred, full).fit(disp=0).llf
    no_sens = sm.Logit(pred, np.column_stack([t, 1 - t, (1 - t) * d])).fit(disp=0).llf
    no_spec = sm.Logit(pred, np.column_stack([t, 1 - t, t * d])).fit(disp=0).llf
    # the same interaction model in the usual parameterisation spans the same space
    usual = np.column_stack([np.ones_like(t), t, d, t * d])
    assert sm.Logit(pred, usual).fit(disp=0).llf == pytest.approx(llf, abs=1e-8)
    assert het.loc["sensitivity", "statistic"] == pytest.approx(2 * (llf - no_sens), abs=1e-7)
    assert het.loc["specificity", "statistic"] == pytest.approx(2 * (llf - no_spec), abs=1e-7)
    assert het.loc["sensitivity", "df"] == 2
    assert het.loc["sensitivity", "p_value"] == pytest.approx(
        chi2.sf(2 * (llf - no_sens), 2), rel=1e-6
    )
    assert het.loc["sensitivity", "method"] == "likelihood_ratio_logistic"


def test_auc_heterogeneity_is_the_delong_chi_square():
    y, s, grp = _data(2)
    res = subgroup_table(y, s, pd.DataFrame({"g": grp}), metrics=("auc",), disparity=False)
    row = res.heterogeneity.iloc[0]
    est = [roc_auc(y[grp == g], s[grp == g]) for g in ("a", "b", "c")]
    a = np.array([e.estimate for e in est])
    w = 1 / np.array([e.se for e in est]) ** 2
    q = np.sum(w * (a - np.sum(w * a) / np.sum(w)) ** 2)
    assert row["statistic"] == pytest.approx(q, rel=1e-12)
    assert row["p_value"] == pytest.approx(chi2.sf(q, 2), rel=1e-10)
    assert row["method"] == "delong_chi_square"


@st.composite
def labelled(draw):
    n = draw(st.integers(6, 60))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    p = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    g = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return np.array(y), np.array(p), np.unique(g, return_inverse=True)[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(labelled())
def test_fairness_measures_from_counts_reproduce_fairlearn(d):
    y, p, code = d
    k = int(code.max()) + 1
    ok = all(((code == g) & (y == 1)).any() and ((code == g) & (y == 0)).any() for g in range(k))
    if not ok or k < 2:
        return
    counts, _, _ = Engine(y, p, None, [code]).process(np.ones((1, len(y))))
    c = counts[:, 1 : 1 + k, :]
    sf = code.astype(str)
    assert fairness_from_counts("equalized_odds_difference", c)[0] == pytest.approx(
        equalized_odds_difference(y, p, sensitive_features=sf), abs=1e-12
    )
    assert fairness_from_counts("demographic_parity_difference", c)[0] == pytest.approx(
        demographic_parity_difference(y, p, sensitive_features=sf), abs=1e-12
    )


def test_fairness_table_uses_fairlearn_on_the_estimable_groups():
    y, s, grp = _data(3)
    grp = grp.astype(object)
    grp[:15] = "tiny"
    y[:15] = 1
    res = subgroup_table(y, s, pd.DataFrame({"g": grp}), threshold=0.5, n_resamples=200, rng=1)
    f = res.fairness.set_index("measure")
    keep = grp != "tiny"
    pred = (s >= 0.5).astype(int)
    assert f.loc["equalized_odds_difference", "estimate"] == pytest.approx(
        equalized_odds_difference(y[keep], pred[keep], sensitive_features=grp[keep]), abs=1e-15
    )
    assert f.loc["demographic_parity_difference", "estimate"] == pytest.approx(
        demographic_parity_difference(y[keep], pred[keep], sensitive_features=grp[keep]), abs=1e-15
    )
    assert f.loc["equalized_odds_difference", "groups_excluded"] == "tiny"
    assert (f.ci_low <= f.ci_high).all() and f.n_groups.eq(3).all()


def synthetic_readers(seed, n_patients=1500, borealis_gap=True):
    """A multi-site set shaped like radval's synthetic test set: three detectors, a
    follow-up image for ~15% of patients, nodules harder to see on the Borealis CR."""
    rng = np.random.default_rng(seed)
    per = np.where(rng.uniform(size=n_patients) < 0.15, 2, 1)
    pid = np.repeat(np.arange(n_patients), per)
    pos = np.repeat(rng.uniform(size=n_patients) < 0.3, per).astype(int)
    man = np.repeat(
        rng.choice(
            ["Kestrel Medical", "Corvid Diagnostics", "Borealis Imaging"],
            n_patients,
            p=[0.45, 0.35, 0.2],
        ),
        per,
    )
    site = np.repeat(rng.choice(["Site A", "Site B", "Site C"], n_patients), per)
    sex = np.repeat(rng.choice(["F", "M"], n_patients), per)
    signal = np.where((man == "Borealis Imaging") & borealis_gap, 0.8, 2.0)
    patient_effect = np.repeat(rng.normal(0, 0.5, n_patients), per)
    s = pos * signal + patient_effect + rng.normal(0, 1, pid.size)
    groups = pd.DataFrame({"manufacturer": man, "site": site, "sex": sex})
    return pos, s, groups, pid


def test_truly_weaker_manufacturer_is_flagged_and_nothing_else():
    y, s, groups, pid = synthetic_readers(7)
    res = subgroup_table(
        y,
        s,
        groups,
        metrics=("sensitivity", "specificity", "auc"),
        threshold=1.0,
        clusters=pid,
        prespecified=["manufacturer"],
        n_resamples=400,
        rng=3,
    )
    d = res.disparity
    flagged = d[d.flagged]
    assert set(zip(flagged.attribute, flagged.group, flagged.metric, strict=True)) >= {
        ("manufacturer", "Borealis Imaging", "sensitivity"),
        ("manufacturer", "Borealis Imaging", "auc"),
    }
    assert set(flagged.group) == {"Borealis Imaging"}
    h = res.heterogeneity.set_index(["attribute", "metric"])
    assert h.loc[("manufacturer", "auc"), "significant"]
    assert h.loc[("manufacturer", "sensitivity"), "significant"]
    row = d[(d.group == "Borealis Imaging") & (d.metric == "auc")].iloc[0]
    assert row.difference_ci_high < 0 and row.ratio_ci_high < 1
