"""Subgroup confidence intervals (issue 13).

* A proportion at 0 or 1 under the default patient bootstrap gave "1.000 (95% CI
  1.000-1.000)": every resample is 1. Such a cell now gets the cluster-adjusted Wilson
  interval (Wilson at the effective sample size n / deff; Kish 1965, Korn & Graubard 1998,
  Dean & Pagano 2015), with the worst-case design effect sum(m_i^2) / n where the
  proportion gives no handle on the within-patient correlation.
* ``subgroups.ci`` may name a method per metric (``{sensitivity: wilson, auc: delong}``);
  one method (``{method: wilson}``) applies to the metrics it is valid for and no longer
  fails because AUC is also listed.
* The report says when a subgroup table's overall row and an endpoint use different intervals.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from validation.stats import proportion_ci, proportion_ci_clustered
from validation.stats.registry import get_metric
from validation.stats.subgroups import subgroup_table

Z = 1.959963984540054


def wilson(p: float, n: float) -> tuple[float, float]:
    """Textbook Wilson score interval at a (possibly fractional) sample size."""
    c = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    h = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n * n))
    return max(0.0, c - h), min(1.0, c + h)


def test_clustered_wilson_without_repeats_is_wilson():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, 57)
    a = proportion_ci_clustered(x, np.ones(57))
    b = proportion_ci(int(x.sum()), 57, method="wilson")
    assert (a.ci_low, a.ci_high) == pytest.approx((b.ci_low, b.ci_high), abs=1e-15)
    assert a.extra["design_effect"] == 1.0 and a.extra["design_effect_source"] == "no_repeats"


def test_clustered_wilson_at_one_uses_the_worst_case_design_effect():
    # 88/88 from 44 patients with 2 images each: n_eff = 44
    est = proportion_ci_clustered([2] * 44, [2] * 44)
    assert est.estimate == 1.0 and est.ci_high == 1.0
    assert est.ci_low == pytest.approx(44 / (44 + Z**2), abs=1e-14)
    assert est.extra["design_effect_source"] == "worst_case" and est.extra["n_effective"] == 44
    # unequal sizes: deff = sum m^2 / n
    m = np.array([1, 1, 3, 5])
    est = proportion_ci_clustered(np.zeros(4), m)
    n_eff = m.sum() ** 2 / (m**2).sum()
    assert est.ci_low == 0.0
    assert est.ci_high == pytest.approx(wilson(0.0, n_eff)[1], abs=1e-14)


def test_clustered_wilson_inside_estimates_the_design_effect():
    x = np.array([2, 2, 0, 1, 0, 2, 1, 2])
    m = np.array([2, 2, 2, 2, 1, 2, 2, 3])
    n, k = m.sum(), len(m)
    p = x.sum() / n
    v_c = k / (k - 1) * ((x - p * m) ** 2).sum() / n**2
    deff = max(1.0, v_c / (p * (1 - p) / n))
    est = proportion_ci_clustered(x, m)
    assert est.extra["design_effect"] == pytest.approx(deff, rel=1e-14)
    assert (est.ci_low, est.ci_high) == pytest.approx(wilson(p, n / deff), abs=1e-14)
    assert est.se == pytest.approx(math.sqrt(v_c if deff > 1 else p * (1 - p) / n), rel=1e-12)


def specificity_study():
    """Specificity 88/88 in one site: 44 patients with 2 negative images each."""
    rng = np.random.default_rng(2)
    n_pat = 120
    pid = np.repeat(np.arange(n_pat), 2)
    y = np.repeat(rng.integers(0, 2, n_pat), 2)
    site = np.repeat(np.where(np.arange(n_pat) < 60, "A", "B"), 2)
    score = np.where(y == 1, rng.uniform(0.3, 1, 2 * n_pat), rng.uniform(0, 0.7, 2 * n_pat))
    neg_a = (site == "A") & (y == 0)
    score[neg_a] = rng.uniform(0, 0.45, neg_a.sum())  # every negative at site A called negative
    return y, score, pd.DataFrame({"site": site}), pid, int(neg_a.sum())


def test_default_patient_bootstrap_gives_no_point_interval_at_one():
    y, score, groups, pid, n_neg_a = specificity_study()
    res = subgroup_table(
        y,
        score,
        groups,
        metrics=("specificity", "sensitivity", "auc"),
        threshold=0.5,
        clusters=pid,
        n_resamples=300,
        rng=1,
        min_pos=5,
        min_neg=5,
    )
    row = res.table.query("attribute == 'site' and group == 'A' and metric == 'specificity'").iloc[
        0
    ]
    assert row.estimate == 1.0 and row.n_neg == n_neg_a
    assert row.method == "wilson_cluster"
    assert row.ci_high == 1.0
    assert row.ci_low == pytest.approx(wilson(1.0, n_neg_a / 2)[0], abs=1e-12)  # 2 images/patient
    assert row.ci_low < 0.95
    assert row.reason.startswith(f"estimate 1.000 ({n_neg_a}/{n_neg_a}): every bootstrap resample")
    # cells inside (0, 1) keep the patient bootstrap
    other = res.table.query("attribute == 'site' and group == 'B' and metric == 'specificity'")
    assert other.iloc[0].method == "cluster_bootstrap_percentile"
    # the registry's bootstrap compute behaves the same way
    m = (groups.site == "A").to_numpy()
    est = get_metric("specificity").compute(
        y[m],
        (score[m] >= 0.5).astype(int),
        method="bootstrap",
        clusters=pid[m],
        rng=0,
        n_resamples=50,
    )
    assert est.method == "wilson_cluster" and est.ci_low == pytest.approx(row.ci_low, abs=1e-15)
    assert est.extra["requested"] == "bootstrap"


def test_one_method_applies_to_the_metrics_it_is_valid_for():
    y, score, groups, pid, _ = specificity_study()
    res = subgroup_table(
        y,
        score,
        groups,
        metrics=("sensitivity", "specificity", "auc"),
        threshold=0.5,
        ci_method="wilson",
        n_resamples=100,
        rng=1,
        min_pos=5,
        min_neg=5,
        disparity=False,
    )
    assert res.settings["ci_methods"] == {
        "sensitivity": "wilson",
        "specificity": "wilson",
        "auc": "delong",
    }
    with_cl = subgroup_table(
        y,
        score,
        groups,
        metrics=("sensitivity", "auc"),
        threshold=0.5,
        ci_method={"sensitivity": "wilson_cluster", "auc": "delong"},
        clusters=pid,
        n_resamples=100,
        rng=1,
        min_pos=5,
        min_neg=5,
        disparity=False,
    )
    assert with_cl.settings["ci_methods"] == {"sensitivity": "wilson_cluster", "auc": "delong"}
    with pytest.raises(
        ValueError,
        match=r"^ci_method 'delong' is not valid for metric "
        r"'sensitivity'",
    ):
        subgroup_table(
            y,
            score,
            groups,
            metrics=("sensitivity", "auc"),
            threshold=0.5,
            ci_method={"sensitivity": "delong"},
            disparity=False,
        )
    with pytest.raises(
        ValueError,
        match=r"^ci_method 'jeffreys' is not valid for any of the "
        r"metrics \('auc',\)",
    ):
        subgroup_table(y, score, groups, metrics=("auc",), ci_method="jeffreys", disparity=False)


BASE = """\
version: 1
study:
  id: s1
  title: T
  version: "1.0"
  intended_use: triage
  population: adults
test_set:
  manifest: ../data/test/manifest.csv
model:
  scores: ../scores/candidate.parquet
  threshold: 0.5
endpoints:
  - id: sens
    role: primary
    metric: sensitivity
    accept: {bound: ci_low, op: ">=", value: 0.7}
subgroups:
  metrics: [sensitivity, specificity, auc]
  attributes: [{column: site}]
  ci: CI
seed: 1
"""


def check(ci: str) -> tuple[object, list[str]]:
    from validation.protocol.load import check_text

    proto, problems = check_text(BASE.replace("CI", ci))
    return proto, [p.format("p.yaml") for p in problems]


def test_protocol_subgroup_ci_per_metric_and_table_wide():
    from validation.study.analyses import subgroup_ci_methods

    proto, problems = check("{method: wilson}")
    assert problems == []
    assert subgroup_ci_methods(proto.subgroups) == "wilson"  # type: ignore[attr-defined]
    proto, problems = check("{sensitivity: wilson, auc: delong, confidence_level: 0.9}")
    assert problems == []
    sg = proto.subgroups  # type: ignore[attr-defined]
    assert sg.ci.methods == {"sensitivity": "wilson", "auc": "delong"}
    assert sg.ci.confidence_level == 0.9
    assert subgroup_ci_methods(sg) == {"sensitivity": "wilson", "auc": "delong"}
    proto, problems = check("{method: clopper_pearson, auc: delong_logit}")
    assert problems == []
    assert subgroup_ci_methods(proto.subgroups) == {  # type: ignore[attr-defined]
        "sensitivity": "clopper_pearson",
        "specificity": "clopper_pearson",
        "auc": "delong_logit",
    }
    _, problems = check("{auc: wilson, ppv: wilson}")
    assert problems == [
        "p.yaml:21: subgroups.ci.auc: CI method 'wilson' is not valid for metric 'auc'; expected "
        "one of ['delong', 'delong_logit', 'bootstrap']",
        "p.yaml:21: subgroups.ci.ppv: CI method given for 'ppv', which is not in subgroups.metrics "
        "['sensitivity', 'specificity', 'auc']",
    ]
    _, problems = check("{method: delong_logit_x}")
    assert len(problems) == 1 and problems[0].startswith(
        "p.yaml:21: subgroups.ci.method: CI method 'delong_logit_x' is not valid for any subgroup metric"
    )


def test_report_explains_when_overall_row_and_endpoint_intervals_differ():
    from validation.report._subgroups import subgroups_section as _subgroups

    doc = {
        "endpoints": [
            {
                "id": "spec_primary",
                "role": "primary",
                "metric": "specificity",
                "estimate": 0.95,
                "ci_low": 0.91,
                "ci_high": 0.97,
                "confidence_level": 0.95,
                "method": "wilson",
            }
        ],
        "subgroups": {
            "rows": [
                {
                    "attribute": "overall",
                    "group": "all",
                    "metric": "specificity",
                    "n": 200,
                    "n_pos": 0,
                    "n_neg": 200,
                    "estimate": 0.95,
                    "ci_low": 0.92,
                    "ci_high": 0.975,
                    "confidence_level": 0.95,
                    "method": "cluster_bootstrap_percentile",
                    "status": "ok",
                },
            ],
            "settings": {"confidence_level": 0.95},
        },
    }
    view = _subgroups(doc)
    assert view is not None
    (note,) = view["plots"][0]["notes"]
    assert note.startswith("The overall row uses the cluster_bootstrap_percentile interval")
    assert "endpoint spec_primary (primary)" in note and "wilson interval" in note
    doc["endpoints"][0]["method"] = "cluster_bootstrap_percentile"
    assert _subgroups(doc)["plots"][0]["notes"] == []  # type: ignore[index]
