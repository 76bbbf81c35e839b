"""The metric registry: declarations, lookups, exact messages, and compute = case-level functions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from validation.errors import UndefinedMetricError
from validation.stats import (
    accuracy,
    bootstrap_interval,
    bootstrap_weights,
    npv,
    ppv,
    registry,
    roc_auc,
    sensitivity,
    specificity,
    subgroup_table,
)
from validation.stats.registry import (
    MetricSpec,
    UnknownMetricError,
    get_metric,
    list_metrics,
    register_metric,
)

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 150)
S = Y + RNG.normal(0, 1, 150)
P = (S > 0.5).astype(int)


def test_builtins_are_declared():
    assert {"sensitivity", "specificity", "ppv", "npv", "accuracy", "auc"} <= set(list_metrics())
    assert list(list_metrics()) == sorted(list_metrics())
    sens = get_metric("sensitivity")
    assert (sens.kind, sens.direction, sens.default_ci_method) == (
        "threshold",
        "higher_is_better",
        "wilson",
    )
    assert "clopper_pearson" in sens.ci_methods and "bootstrap" in sens.ci_methods
    auc = get_metric("auc")
    assert (auc.kind, auc.default_ci_method, auc.ci_methods) == (
        "score",
        "delong",
        ("delong", "delong_logit", "bootstrap"),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        sens.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "func"),
    [
        ("sensitivity", sensitivity),
        ("specificity", specificity),
        ("ppv", ppv),
        ("npv", npv),
        ("accuracy", accuracy),
    ],
)
@pytest.mark.parametrize("method", ["wilson", "clopper_pearson", "jeffreys"])
def test_threshold_metrics_compute_the_case_level_function(name, func, method):
    got = get_metric(name).compute(Y, P, method=method, confidence_level=0.9)
    assert got == func(Y, P, method=method, confidence_level=0.9)


@pytest.mark.parametrize("method", ["delong", "delong_logit"])
def test_auc_computes_roc_auc(method):
    assert get_metric("auc").compute(Y, S, method=method, confidence_level=0.95) == roc_auc(
        Y, S, method=method
    )


def test_proportion_bootstrap_resamples_patients_like_a_brute_force_twin():
    pid = np.repeat(np.arange(75), 2)
    est = get_metric("sensitivity").compute(
        Y, P, method="bootstrap", clusters=pid, rng=4, n_resamples=400
    )
    w = np.vstack(list(bootstrap_weights(pid, n_resamples=400, rng=4))).astype(float)
    reps = (w @ ((Y == 1) & (P == 1))) / (w @ (Y == 1))
    point = ((Y == 1) & (P == 1)).sum() / (Y == 1).sum()
    assert est.estimate == point
    assert (est.ci_low, est.ci_high) == bootstrap_interval(point, reps, method="percentile")
    assert est.method == "cluster_bootstrap_percentile" and est.extra["n_clusters"] == 75


def test_wilson_with_clusters_says_clusters_were_not_used():
    est = get_metric("specificity").compute(Y, P, method="wilson", clusters=np.arange(150))
    assert (
        est.extra["cluster_note"]
        == "wilson interval treats cases as independent; clusters not used"
    )


def test_undefined_metric_raises():
    with pytest.raises(UndefinedMetricError):
        get_metric("sensitivity").compute(
            np.zeros(5, int), np.ones(5, int), method="bootstrap", n_resamples=10
        )


def test_unknown_metric_message_lists_known_names():
    with pytest.raises(UnknownMetricError) as e:
        get_metric("dice")
    assert str(e.value) == "unknown metric 'dice'; known metrics: " + ", ".join(list_metrics())
    assert isinstance(e.value, KeyError) and isinstance(e.value, ValueError)


def test_metricspec_validates_its_declaration():
    sens = get_metric("sensitivity")
    with pytest.raises(
        ValueError, match=r"^MetricSpec.kind must be 'threshold' or 'score', got 'prob'$"
    ):
        MetricSpec("x", "prob", "higher_is_better", ("wilson",), "wilson", sens.compute, "")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"default_ci_method 'exact' is not one of ci_methods \('wilson',\)"
    ):
        MetricSpec("x", "threshold", "higher_is_better", ("wilson",), "exact", sens.compute, "")
    with pytest.raises(ValueError, match="counts_ratio cells must be among"):
        MetricSpec(
            "x",
            "threshold",
            "higher_is_better",
            ("wilson",),
            "wilson",
            sens.compute,
            "",
            counts_ratio=(("tp",), ("pos",)),
        )
    with pytest.raises(
        ValueError, match=r"^metric 'auc' is already registered; pass replace=True to replace it$"
    ):
        register_metric(get_metric("auc"))
    with pytest.raises(TypeError, match="register_metric expects a MetricSpec, got dict"):
        register_metric({"name": "x"})  # type: ignore[arg-type]


def _fpr_compute(
    y_true,
    y_pred,
    *,
    method="wilson",
    confidence_level=0.95,
    clusters=None,
    rng=None,
    n_resamples=2000,
):
    from validation.stats import proportion_ci

    y, p = np.asarray(y_true), np.asarray(y_pred)
    neg = y == 0
    if not neg.any():
        raise UndefinedMetricError("fpr is undefined: no negatives")
    return proportion_ci(
        int((p[neg] == 1).sum()), int(neg.sum()), method=method, confidence_level=confidence_level
    )


def _fpr_weighted(y, p, w):
    return (w @ ((y == 0) & (p == 1))) / (w @ (y == 0))


def test_extension_metrics_flow_through_subgroup_table(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register_metric(
        MetricSpec(
            "fpr",
            "threshold",
            "lower_is_better",
            ("wilson",),
            "wilson",
            _fpr_compute,
            "false positive rate",
            weighted=_fpr_weighted,
        )
    )
    register_metric(
        MetricSpec(
            "fpr_plain",
            "threshold",
            "lower_is_better",
            ("wilson",),
            "wilson",
            _fpr_compute,
            "false positive rate without a weighted form",
        )
    )
    assert "fpr" in list_metrics()
    site = np.where(np.arange(150) < 70, "A", "B")
    res = subgroup_table(
        Y,
        S,
        pd.DataFrame({"site": site}),
        metrics=("fpr", "fpr_plain"),
        threshold=0.5,
        n_resamples=100,
        rng=2,
    )
    t = res.table.set_index(["group", "metric"])
    m = site == "A"
    assert t.loc[("A", "fpr"), "estimate"] == _fpr_compute(Y[m], P[m]).estimate
    d = res.disparity.set_index(["group", "metric"])
    expect = (
        _fpr_weighted(Y[m], P[m], np.ones((1, m.sum())))[0]
        - _fpr_weighted(Y[~m], P[~m], np.ones((1, (~m).sum())))[0]
    )
    assert d.loc[("A", "fpr"), "difference"] == pytest.approx(expect, abs=1e-14)
    assert d.loc[("A", "fpr"), "weaker"] == bool(expect > 0)  # lower is better
    assert d.loc[("A", "fpr_plain"), "status"] == "not_estimable"
    assert (
        d.loc[("A", "fpr_plain"), "reason"]
        == "metric 'fpr_plain' has no weighted form for the bootstrap"
    )
    h = res.heterogeneity.set_index("metric")
    assert h.loc["fpr", "reason"] == "no heterogeneity test is defined for metric 'fpr'"
